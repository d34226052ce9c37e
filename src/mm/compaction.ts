/**
 * Memory compaction for one node (mm/compaction.c, with __alloc_pages_direct_compact, __isolate_free_page and
 * compaction_capture from mm/page_alloc.c, extfrag_for_order from mm/vmstat.c, compaction_ready from
 * mm/vmscan.c), following 6.18.
 *
 * Two scanners walk a zone pageblock by pageblock: the migrate scanner from the zone's start upward isolates
 * movable LRU pages, COMPACT_CLUSTER_MAX at a time; the free scanner from the zone's end downward takes free
 * buddy blocks off the free lists as targets (after a short search of the free lists themselves, as
 * fast_isolate_freepages does, and with fast_find_migrateblock choosing where the migrate scanner starts for
 * costly orders). Each isolated page is migrated (migrate.ts) into the lowest free target; the old page is
 * freed, and when the migrate scanner leaves an order-aligned block the CPU's pcp lists are drained so the
 * freed pages merge. Compaction ends when the scanners meet, or, for an allocation, as soon as a free block
 * of the order exists on a list the request may use; a direct compactor captures the block as it merges.
 * The zone's compaction state (deferral, cached scanner positions, the skip-flush flag) lives in per-zone
 * typed arrays here; the skip hints are PB_migrate_skip bits of the pageblock flags (buddy.ts). Lists of
 * isolated pages run through mem_map's next/prev, as the kernel's page->lru does.
 * Departures: single-threaded, so there is no lock contention, no need_resched, no fatal signals, and a
 * sync compactor over too_many_isolated() gives up (-EAGAIN) instead of waiting for reclaim to finish;
 * migration sources are order-0 LRU pages only (no non-LRU movable pages, hugetlb or large folios); no CMA
 * and no vm.defrag_mode; isolated free targets are split to order-0 pages when taken, as compaction_alloc
 * does for order-0 sources; kcompactd runs when the machine ticks it (kcompactdTick), not as a thread.
 */
import { GFP, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES } from '../gfp.js';
import type { ResolvedConfig } from '../config.js';
import { ALLOC_CMA, ALLOC_WMARK_MASK, ALLOC_WMARK_MIN, type Buddy } from './buddy.js';
import type { Clock } from './clock.js';
import { compoundOrder } from './compound.js';
import type { Migrate } from './migrate.js';
import {
  ALLOC_ORDER_SHIFT, MAX_PAGE_ORDER, NO_PAGE, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PG_HEAD, PG_LRU, PG_SWAPBACKED,
  PG_TAIL, PG_WRITEBACK, PGTY_BUDDY, PGTY_HOLE, PGTY_MASK, ZONE_MASK, type MemMap,
} from './page.js';
import type { CompactResult, PageAlloc } from './page_alloc.js';
import type { Writeback } from './page_writeback.js';
import type { Pcp } from './pcp.js';
import type { Sched } from './sched.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, type Lruvec } from './swap.js';
import { contigPageInfo, fragmentationIndex, type NodeStats, type VmEvents } from './vmstat.js';
import type { Zone } from './zone.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_MM_COMPACTION_BEGIN, EV_MM_COMPACTION_END, EV_MM_PAGE_ALLOC_EXTFRAG } from '../trace/events.js';

/** enum compact_priority: lower is harder. */
export const COMPACT_PRIO_SYNC_FULL = 0;
export const MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL;
export const COMPACT_PRIO_SYNC_LIGHT = 1;
export const MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT;
export const DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT;
export const COMPACT_PRIO_ASYNC = 2;
export const INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC;

/** enum migrate_mode. */
export const MIGRATE_ASYNC = 0;
export const MIGRATE_SYNC_LIGHT = 1;
export const MIGRATE_SYNC = 2;

/** enum compact_result, in the kernel's order (try_to_compact_pages keeps the largest over the zones). */
export const COMPACT_NOT_SUITABLE_ZONE = 0;
export const COMPACT_SKIPPED = 1;
export const COMPACT_DEFERRED = 2;
export const COMPACT_NO_SUITABLE_PAGE = 3;
export const COMPACT_CONTINUE = 4;
export const COMPACT_COMPLETE = 5;
export const COMPACT_PARTIAL_SKIPPED = 6;
export const COMPACT_CONTENDED = 7;
export const COMPACT_SUCCESS = 8;

/** COMPACT_CLUSTER_MAX (SWAP_CLUSTER_MAX): pages isolated per migration batch. */
export const COMPACT_CLUSTER_MAX = 32;
/** Compaction is skipped at most 1 << COMPACT_MAX_DEFER_SHIFT times after failures. */
export const COMPACT_MAX_DEFER_SHIFT = 6;
/** kcompactd checks the fragmentation score this often when idle. */
export const HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500;

// isolate_migrate_t.
const ISOLATE_ABORT = 0;
const ISOLATE_NONE = 1;
const ISOLATE_SUCCESS = 2;
/** -ENOMEM and -EAGAIN as migrate_pages() and isolate_migratepages_block() return them. */
const ENOMEM = -12;
const EAGAIN = -11;
/** cc->fast_start_pfn = ULONG_MAX: the fast search's start was already used. */
const FAST_START_USED = -1;

/** compact_gap(): free pages compaction wants beyond the watermark, for the targets and the new block. */
export function compactGap(order: number): number {
  return 2 << order;
}

/** extfrag_for_order(): the share (percent) of free memory not in blocks of at least `order` pages. */
export function extfragForOrder(zone: Zone, order: number): number {
  const { free, suitable } = contigPageInfo(zone.nrFree, order);
  if (free === 0) return 0;
  return Math.trunc(((free - suitable * 2 ** order) * 100) / free);
}

/** struct compact_control: one compaction run over one zone. */
class CompactControl {
  zone!: Zone;
  /** -1: compact the whole zone (vm.compact_memory, proactive compaction). */
  order = 0;
  searchOrder = 0;
  gfp = 0;
  migratetype = 0;
  allocFlags = 0;
  highestZoneidx = 0;
  mode = MIGRATE_ASYNC;
  directCompaction = false;
  proactiveCompaction = false;
  wholeZone = false;
  ignoreSkipHint = false;
  ignoreBlockSuitable = false;
  finishPageblock = false;
  contended = false;
  migratePfn = 0;
  freePfn = 0;
  fastStartPfn = 0;
  fastSearchFail = 0;
  nrMigratepages = 0;
  nrFreepages = 0;
  totalMigrateScanned = 0;
  totalFreeScanned = 0;
}

/** struct capture_control. */
interface CaptureControl {
  cc: CompactControl;
  page: number;
}

export interface CompactionDeps {
  cfg: ResolvedConfig;
  mm: MemMap;
  zones: Zone[];
  buddy: Buddy;
  pcp: Pcp;
  pa: PageAlloc;
  lru: Lruvec;
  migrate: Migrate;
  wb: Writeback;
  node: NodeStats;
  sched: Sched;
  clock: Clock;
  trace: TraceBuffer;
  events: VmEvents;
}

/** A zone's deferral state, for reports and tests. */
export interface CompactDeferState {
  considered: number;
  deferShift: number;
  orderFailed: number;
}

export class Compaction {
  /** vm.extfrag_threshold. */
  extfragThreshold: number;
  /** vm.compaction_proactiveness (set it through setProactiveness to trigger kcompactd as the sysctl does). */
  proactiveness: number;
  /** kswapd_is_running(): proactive compaction backs off while kswapd works (vmscan.ts sets this). */
  kswapdRunning: () => boolean = () => false;

  private readonly mm: MemMap;
  private readonly zones: Zone[];
  private readonly buddy: Buddy;
  private readonly pcp: Pcp;
  private readonly pa: PageAlloc;
  private readonly lru: Lruvec;
  private readonly migrate: Migrate;
  private readonly wb: Writeback;
  private readonly node: NodeStats;
  private readonly sched: Sched;
  private readonly clock: Clock;
  private readonly trace: TraceBuffer;
  private readonly events: VmEvents;
  private readonly pbOrder: number;
  private readonly pbPages: number;
  /** COMPACTION_HPAGE_ORDER: the order proactive compaction scores fragmentation against. */
  private readonly hpageOrder: number;
  private readonly nodePresent: number;

  // Per zone (struct zone's compaction fields).
  private readonly considered: Int32Array;
  private readonly deferShift: Int32Array;
  private readonly orderFailed: Int32Array;
  private readonly blockskipFlush: Uint8Array;
  /** compact_cached_migrate_pfn[ASYNC], [SYNC], by zone: 2 * idx + sync. */
  private readonly cachedMigratePfn: Int32Array;
  private readonly cachedFreePfn: Int32Array;
  private readonly initMigratePfn: Int32Array;
  private readonly initFreePfn: Int32Array;

  // pgdat's kcompactd fields.
  private kcompactdMaxOrder = 0;
  private kcompactdHighestZoneidx: number;
  private proactiveCompactTrigger = false;
  /** kcompactd was woken and has not run since. */
  private kcompactdWoken = false;
  /** When kcompactd last went to sleep, and for how long (model ns). */
  private kcompactdSleepStart = 0;
  private kcompactdTimeoutNs: number;

  // cc->freepages[order] and cc->migratepages: list heads in mem_map.
  private readonly freeHeads: number;
  private readonly migrateHead: number;
  private readonly cc = new CompactControl();
  private running = false;

  constructor(d: CompactionDeps) {
    this.mm = d.mm;
    this.zones = d.zones;
    this.buddy = d.buddy;
    this.pcp = d.pcp;
    this.pa = d.pa;
    this.lru = d.lru;
    this.migrate = d.migrate;
    this.wb = d.wb;
    this.node = d.node;
    this.sched = d.sched;
    this.clock = d.clock;
    this.trace = d.trace;
    this.events = d.events;
    this.extfragThreshold = d.cfg.extfragThreshold;
    this.proactiveness = d.cfg.compactionProactiveness;
    this.pbOrder = d.buddy.pageblockOrder;
    this.pbPages = 1 << this.pbOrder;
    this.hpageOrder = this.pbOrder;
    const nz = d.zones.length;
    this.nodePresent = d.zones.reduce((s, z) => s + z.present, 0);
    this.considered = new Int32Array(nz);
    this.deferShift = new Int32Array(nz);
    this.orderFailed = new Int32Array(nz);
    this.blockskipFlush = new Uint8Array(nz);
    this.cachedMigratePfn = new Int32Array(2 * nz);
    this.cachedFreePfn = new Int32Array(nz);
    this.initMigratePfn = new Int32Array(nz);
    this.initFreePfn = new Int32Array(nz);
    for (const z of d.zones) if (z.spanned) this.resetCachedPositions(z);
    this.kcompactdHighestZoneidx = nz - 1;
    this.kcompactdTimeoutNs = HPAGE_FRAG_CHECK_INTERVAL_MSEC * 1e6;
    this.freeHeads = d.mm.allocListHeads(NR_PAGE_ORDERS + 1);
    this.migrateHead = this.freeHeads + NR_PAGE_ORDERS;
  }

  // --- pageblocks ------------------------------------------------------------------------------------

  private pageblockStart(pfn: number): number {
    return pfn & ~(this.pbPages - 1);
  }

  private pageblockEnd(pfn: number): number {
    return (pfn + this.pbPages) & ~(this.pbPages - 1);
  }

  /** pageblock_pfn_to_page(): the range [start, end) lies in the zone with valid first and last pages. */
  private pageblockValid(start: number, end: number, zone: Zone): boolean {
    if (start < zone.startPfn || end > zone.endPfn || start >= end) return false;
    const f = this.mm.flags;
    return (f[start] & PGTY_MASK) !== PGTY_HOLE && (f[end - 1] & PGTY_MASK) !== PGTY_HOLE;
  }

  /** pageblock_skip_persistent(): a compound page of pageblock order or more covers the block. */
  private pageblockSkipPersistent(pfn: number): boolean {
    const mm = this.mm;
    if (!(mm.flags[pfn] & (PG_HEAD | PG_TAIL))) return false;
    const head = mm.head(pfn);
    return compoundOrder(mm, head) >= this.pbOrder;
  }

  /** isolation_suitable(). */
  private isolationSuitable(cc: CompactControl, pfn: number): boolean {
    return cc.ignoreSkipHint || !this.buddy.getPageblockSkip(pfn);
  }

  /** test_and_set_skip(): set the hint as the scanner claims the block; true if it was already set. */
  private testAndSetSkip(cc: CompactControl, pfn: number): boolean {
    if (cc.ignoreSkipHint) return false;
    const skip = this.buddy.getPageblockSkip(pfn);
    if (!skip) this.buddy.setPageblockSkip(pfn);
    return skip;
  }

  /** update_cached_migrate(): where async and sync compaction restart. */
  private updateCachedMigrate(cc: CompactControl, pfn: number): void {
    const z = cc.zone.idx;
    pfn = this.pageblockEnd(pfn);
    if (pfn > this.cachedMigratePfn[2 * z]) this.cachedMigratePfn[2 * z] = pfn;
    if (cc.mode !== MIGRATE_ASYNC && pfn > this.cachedMigratePfn[2 * z + 1]) this.cachedMigratePfn[2 * z + 1] = pfn;
  }

  /** update_pageblock_skip(): the free scanner found nothing worth isolating in the block. */
  private updatePageblockSkip(cc: CompactControl, pfn: number, cachePfn: number): void {
    this.buddy.setPageblockSkip(pfn);
    if (cachePfn < this.cachedFreePfn[cc.zone.idx]) this.cachedFreePfn[cc.zone.idx] = cachePfn;
  }

  /** reset_cached_positions(). */
  private resetCachedPositions(zone: Zone): void {
    const z = zone.idx;
    this.cachedMigratePfn[2 * z] = zone.startPfn;
    this.cachedMigratePfn[2 * z + 1] = zone.startPfn;
    this.cachedFreePfn[z] = this.pageblockStart(zone.endPfn - 1);
  }

  /**
   * __reset_isolation_pfn(): clear the hint of the block around pfn if a sample of its pages (every eighth)
   * finds an LRU page (a migration source) or a free page (a target).
   */
  private resetIsolationPfn(zone: Zone, pfn: number, checkSource: boolean, checkTarget: boolean): boolean {
    const mm = this.mm;
    if (pfn < zone.startPfn || pfn >= zone.endPfn || (mm.flags[pfn] & PGTY_MASK) === PGTY_HOLE) return false;
    if (this.pageblockSkipPersistent(pfn)) return false;
    if (checkSource && checkTarget && !this.buddy.getPageblockSkip(pfn)) return true;
    if (!checkSource && checkTarget && this.buddy.getPageblockMigratetype(pfn) !== MIGRATE_MOVABLE) return false;
    let page = Math.max(this.pageblockStart(pfn), zone.startPfn);
    if ((mm.flags[page] & PGTY_MASK) === PGTY_HOLE) page = pfn;
    const end = Math.min(this.pageblockEnd(page) - 1, zone.endPfn - 1);
    if ((mm.flags[end] & PGTY_MASK) === PGTY_HOLE) return false;
    do {
      const f = mm.flags[page];
      if ((checkSource && f & PG_LRU) || (checkTarget && (f & PGTY_MASK) === PGTY_BUDDY)) {
        this.buddy.clearPageblockSkip(page);
        return true;
      }
      page += 1 << PAGE_ALLOC_COSTLY_ORDER;
    } while (page <= end);
    return false;
  }

  /**
   * __reset_isolation_suitable(): after a full direct compaction (compact_blockskip_flush), walk the zone from
   * both ends clearing the hints of blocks worth scanning again, and restart the scanners at the outermost.
   */
  private resetIsolationSuitableZone(zone: Zone): void {
    const z = zone.idx;
    if (!this.blockskipFlush[z]) return;
    this.blockskipFlush[z] = 0;
    let migratePfn = zone.startPfn;
    let freePfn = zone.endPfn - 1;
    let resetMigrate = freePfn;
    let resetFree = migratePfn;
    let sourceSet = false;
    let freeSet = false;
    for (; migratePfn < freePfn; migratePfn += this.pbPages, freePfn -= this.pbPages) {
      if (this.resetIsolationPfn(zone, migratePfn, true, sourceSet) && migratePfn < resetMigrate) {
        sourceSet = true;
        resetMigrate = migratePfn;
        this.initMigratePfn[z] = resetMigrate;
        this.cachedMigratePfn[2 * z] = resetMigrate;
        this.cachedMigratePfn[2 * z + 1] = resetMigrate;
      }
      if (this.resetIsolationPfn(zone, freePfn, freeSet, true) && freePfn > resetFree) {
        freeSet = true;
        resetFree = freePfn;
        this.initFreePfn[z] = resetFree;
        this.cachedFreePfn[z] = resetFree;
      }
    }
    // Leave no distance if no suitable block was reset.
    if (resetMigrate >= resetFree) {
      this.cachedMigratePfn[2 * z] = migratePfn;
      this.cachedMigratePfn[2 * z + 1] = migratePfn;
      this.cachedFreePfn[z] = freePfn;
    }
  }

  /** reset_isolation_suitable(pgdat): kswapd going to sleep clears the hints a full compaction left. */
  resetIsolationSuitable(): void {
    for (const z of this.zones) if (z.populated() && this.blockskipFlush[z.idx]) this.resetIsolationSuitableZone(z);
  }

  // --- deferral ------------------------------------------------------------------------------------------

  /** defer_compaction(): after a failure, skip the next 1 << compact_defer_shift attempts at this order. */
  deferCompaction(zone: Zone, order: number): void {
    const z = zone.idx;
    this.considered[z] = 0;
    this.deferShift[z] = Math.min(this.deferShift[z] + 1, COMPACT_MAX_DEFER_SHIFT);
    if (order < this.orderFailed[z]) this.orderFailed[z] = order;
  }

  /** compaction_deferred(): true if this attempt should be skipped (and counts it). */
  compactionDeferred(zone: Zone, order: number): boolean {
    const z = zone.idx;
    const limit = 1 << this.deferShift[z];
    if (order < this.orderFailed[z]) return false;
    if (++this.considered[z] >= limit) {
      this.considered[z] = limit;
      return false;
    }
    return true;
  }

  /** compaction_defer_reset(): compaction of this order succeeded (or the allocation after it did). */
  compactionDeferReset(zone: Zone, order: number, allocSuccess: boolean): void {
    const z = zone.idx;
    if (allocSuccess) {
      this.considered[z] = 0;
      this.deferShift[z] = 0;
    }
    if (order >= this.orderFailed[z]) this.orderFailed[z] = order + 1;
  }

  /** compaction_restarting(): the deferral ran its full course and compaction is tried again. */
  compactionRestarting(zone: Zone, order: number): boolean {
    const z = zone.idx;
    if (order < this.orderFailed[z]) return false;
    return this.deferShift[z] === COMPACT_MAX_DEFER_SHIFT && this.considered[z] >= 1 << this.deferShift[z];
  }

  /** The zone's compact_considered, compact_defer_shift and compact_order_failed. */
  deferState(zone: Zone): CompactDeferState {
    const z = zone.idx;
    return { considered: this.considered[z], deferShift: this.deferShift[z], orderFailed: this.orderFailed[z] };
  }

  // --- suitability ---------------------------------------------------------------------------------------

  /**
   * __compaction_suitable(): order-0 free pages above the watermark plus the gap compaction needs for its
   * targets (plus low - min for costly orders), against `free` pages and the lowmem reserve.
   */
  private compactionSuitableWmark(zone: Zone, order: number, watermark: number, highest: number, free: number): boolean {
    watermark += compactGap(order);
    if (order > PAGE_ALLOC_COSTLY_ORDER) watermark += zone.wmarkLow() - zone.wmarkMin();
    return this.pa.zoneWatermarkOk(zone, 0, watermark, highest, ALLOC_CMA, free);
  }

  /**
   * compaction_suitable() with the result trace_mm_compaction_suitable reports: COMPACT_CONTINUE, COMPACT_SKIPPED
   * (too little free memory), or COMPACT_NOT_SUITABLE_ZONE (a costly order whose failure the fragmentation
   * index puts down to lack of memory, at or below vm.extfrag_threshold: reclaim instead).
   */
  compactionSuitableStatus(zone: Zone, order: number, watermark: number, highestZoneidx: number): number {
    if (!this.compactionSuitableWmark(zone, order, watermark, highestZoneidx, zone.freePages)) return COMPACT_SKIPPED;
    if (order > PAGE_ALLOC_COSTLY_ORDER) {
      const fragindex = fragmentationIndex(zone.nrFree, order);
      if (fragindex >= 0 && fragindex <= this.extfragThreshold) return COMPACT_NOT_SUITABLE_ZONE;
    }
    return COMPACT_CONTINUE;
  }

  /** compaction_suitable(zone, order, watermark, highest_zoneidx); the watermark defaults to the min mark. */
  compactionSuitable(zone: Zone, order: number, highestZoneidx: number, watermark = zone.wmarkMin()): boolean {
    return this.compactionSuitableStatus(zone, order, watermark, highestZoneidx) === COMPACT_CONTINUE;
  }

  /**
   * compaction_zonelist_suitable(): would some zone pass __compaction_suitable if reclaim freed a share of what
   * it can (reclaimable / order)? The slow path retries reclaim for compaction's sake only then.
   */
  compactionZonelistSuitable(order: number, highestZoneidx: number): boolean {
    for (let i = highestZoneidx; i >= 0; i--) {
      const zone = this.zones[i];
      if (!zone.managed) continue;
      const available = Math.trunc(this.pa.hooks.zoneReclaimablePages(zone) / order) + zone.freePages;
      if (this.compactionSuitableWmark(zone, order, zone.wmarkMin(), highestZoneidx, available)) return true;
    }
    return false;
  }

  /**
   * compaction_ready() (mm/vmscan.c): reclaim for a costly order can stop in this zone when the allocation
   * would already succeed, or compaction is suitable against the high watermark.
   */
  compactionReady(zone: Zone, order: number, highestZoneidx: number): boolean {
    if (this.pa.zoneWatermarkOk(zone, order, zone.wmarkMin(), highestZoneidx, 0, zone.freePages)) return true;
    return this.compactionSuitable(zone, order, highestZoneidx, zone.wmarkHigh());
  }

  /**
   * compaction_suit_allocation_order(): COMPACT_SUCCESS if the allocation would succeed already,
   * COMPACT_SKIPPED if compaction is unlikely to help, else COMPACT_CONTINUE.
   */
  private suitAllocationOrder(zone: Zone, order: number, highest: number, allocFlags: number, async: boolean): number {
    const watermark = zone.wmark(allocFlags & ALLOC_WMARK_MASK);
    if (this.pa.zoneWatermarkOk(zone, order, watermark, highest, allocFlags, zone.freePages)) return COMPACT_SUCCESS;
    // Costly async attempts (opportunistic THP) give up early without free memory outside CMA blocks.
    if (order > PAGE_ALLOC_COSTLY_ORDER && async && !(allocFlags & ALLOC_CMA)) {
      if (!this.pa.zoneWatermarkOk(zone, 0, watermark + compactGap(order), highest, 0, zone.freePages)) return COMPACT_SKIPPED;
    }
    if (!this.compactionSuitable(zone, order, highest, watermark)) return COMPACT_SKIPPED;
    return COMPACT_CONTINUE;
  }

  // --- the free scanner ------------------------------------------------------------------------------

  /**
   * __isolate_free_page(): take a free block off its list as a migration target, if the zone stays above
   * its min mark (a raised order-0 check); a block of half a pageblock or more makes its pageblock movable.
   */
  private isolateFreePage(pfn: number, order: number): number {
    const zone = this.zones[this.mm.zoneIdx(pfn)];
    const mt = this.buddy.getPageblockMigratetype(pfn);
    if (mt !== MIGRATE_ISOLATE) {
      const watermark = zone.watermark[0] + (1 << order);
      if (!this.pa.zoneWatermarkOk(zone, 0, watermark, 0, ALLOC_CMA, zone.freePages)) return 0;
    }
    this.buddy.delFromFreeList(pfn, zone, order, mt);
    this.buddy.accountFreepages(zone, -(1 << order), mt);
    if (order >= this.pbOrder - 1) {
      const end = pfn + (1 << order) - 1;
      for (let p = pfn; p < end; p += this.pbPages) {
        const pmt = this.buddy.getPageblockMigratetype(p);
        if (pmt < MIGRATE_PCPTYPES) this.buddy.moveFreepagesBlock(zone, p, pmt, MIGRATE_MOVABLE);
      }
    }
    return 1 << order;
  }

  /** Put an isolated free block on cc->freepages[order] (its order in page->private). */
  private addFreepage(cc: CompactControl, pfn: number, order: number): void {
    this.mm.listAddTail(pfn, this.freeHeads + order);
    this.mm.private_[pfn] = order;
    cc.nrFreepages += 1 << order;
  }

  /**
   * isolate_freepages_block(): isolate the free blocks of [*start, end), looking at every `stride`-th page,
   * until the targets cover the isolated sources. Returns pages isolated; cc's scan position in `pos[0]`.
   */
  private isolateFreepagesBlock(cc: CompactControl, pos: Int32Array, end: number, stride: number): number {
    const mm = this.mm;
    const flags = mm.flags;
    let blockpfn = pos[0];
    let nrScanned = 0;
    let total = 0;
    for (; blockpfn < end; blockpfn += stride) {
      nrScanned++;
      const f = flags[blockpfn];
      if (f & (PG_HEAD | PG_TAIL)) {
        // Skip a compound page at once.
        const order = f & PG_HEAD ? mm.private_[blockpfn + 1] : 0;
        if (blockpfn + (1 << order) <= end) {
          blockpfn += (1 << order) - 1;
          nrScanned += (1 << order) - 1;
        }
        continue;
      }
      if ((f & PGTY_MASK) !== PGTY_BUDDY) continue;
      const order = mm.private_[blockpfn];
      const isolated = this.isolateFreePage(blockpfn, order);
      if (!isolated) break;
      this.addFreepage(cc, blockpfn, order);
      nrScanned += isolated - 1;
      total += isolated;
      if (cc.nrMigratepages <= cc.nrFreepages) {
        blockpfn += isolated;
        break;
      }
      blockpfn += isolated - 1;
    }
    if (blockpfn > end) blockpfn = end;
    pos[0] = blockpfn;
    cc.totalFreeScanned += nrScanned;
    this.events.compactIsolated += total;
    return total;
  }

  /** suitable_migration_target(): not a free pageblock (worth keeping whole), and movable unless told otherwise. */
  private suitableMigrationTarget(cc: CompactControl, pfn: number): boolean {
    const mm = this.mm;
    if ((mm.flags[pfn] & PGTY_MASK) === PGTY_BUDDY && mm.private_[pfn] >= this.pbOrder) return false;
    if (cc.ignoreBlockSuitable) return true;
    return this.buddy.getPageblockMigratetype(pfn) === MIGRATE_MOVABLE;
  }

  /** freelist_scan_limit(). */
  private freelistScanLimit(cc: CompactControl): number {
    return (COMPACT_CLUSTER_MAX >> Math.min(31, cc.fastSearchFail)) + 1;
  }

  /** compact_scanners_met(): the free scanner reached the migrate scanner's pageblock. */
  private scannersMet(cc: CompactControl): boolean {
    return cc.freePfn >> this.pbOrder <= cc.migratePfn >> this.pbOrder;
  }

  /** move_freelist_head(): rotate the free list so `pfn` is first (later searches skip what was seen). */
  private moveFreelistHead(head: number, pfn: number): void {
    const mm = this.mm;
    if (pfn === head || mm.next[head] === pfn) return;
    const first = mm.next[head];
    const last = mm.prev[head];
    const before = mm.prev[pfn];
    mm.next[last] = first;
    mm.prev[first] = last;
    mm.next[before] = head;
    mm.prev[head] = before;
    mm.next[head] = pfn;
    mm.prev[pfn] = head;
  }

  /** move_freelist_tail(): rotate the free list so `pfn` is last. */
  private moveFreelistTail(head: number, pfn: number): void {
    const mm = this.mm;
    if (mm.prev[head] === pfn) return;
    const first = mm.next[head];
    const last = mm.prev[head];
    const after = mm.next[pfn];
    mm.next[head] = after;
    mm.prev[after] = head;
    mm.next[last] = first;
    mm.prev[first] = last;
    mm.next[pfn] = head;
    mm.prev[head] = pfn;
  }

  /** fast_isolate_around(): isolate the rest of the pageblock a fast search found (not for direct async). */
  private fastIsolateAround(cc: CompactControl, pfn: number): void {
    if (cc.nrFreepages >= cc.nrMigratepages) return;
    if (cc.directCompaction && cc.mode === MIGRATE_ASYNC) return;
    const start = Math.max(this.pageblockStart(pfn), cc.zone.startPfn);
    const end = Math.min(this.pageblockEnd(pfn), cc.zone.endPfn);
    if (!this.pageblockValid(start, end, cc.zone)) return;
    const pos = new Int32Array([start]);
    this.isolateFreepagesBlock(cc, pos, end, 1);
    if (pos[0] === end) this.buddy.setPageblockSkip(start);
  }

  /** next_search_order(): round-robin over the orders below cc->order. */
  private nextSearchOrder(cc: CompactControl, order: number): number {
    order--;
    if (order < 0) order = cc.order - 1;
    if (order === cc.searchOrder) {
      cc.searchOrder--;
      if (cc.searchOrder < 0) cc.searchOrder = cc.order - 1;
      return -1;
    }
    return order;
  }

  /**
   * fast_isolate_freepages(): search the movable free lists, from their tails, for a block in the top quarter
   * (or failing that the top half) of the range left between the scanners, and isolate it.
   */
  private fastIsolateFreepages(cc: CompactControl): void {
    if (cc.order <= 0) return; // a whole-zone compaction has no order to search for
    const mm = this.mm;
    const zone = cc.zone;
    let limit = Math.max(1, this.freelistScanLimit(cc) >> 1);
    let nrScanned = 0;
    let highest = 0;
    let page = NO_PAGE;
    let scanStart = false;
    // Starting the scan: search deeper, and settle for the highest block found.
    if (cc.freePfn >= this.initFreePfn[zone.idx]) {
      limit = this.pbPages >> 1;
      scanStart = true;
    }
    const distance = cc.freePfn - cc.migratePfn;
    let lowPfn = this.pageblockStart(cc.freePfn - (distance >> 2));
    const minPfn = this.pageblockStart(cc.freePfn - (distance >> 1));
    if (minPfn > lowPfn) lowPfn = minPfn;
    cc.searchOrder = Math.min(cc.order - 1, cc.searchOrder);
    for (let order = cc.searchOrder; page === NO_PAGE && order >= 0; order = this.nextSearchOrder(cc, order)) {
      if (!zone.nrFree[order]) continue;
      const head = zone.freeList(order, MIGRATE_MOVABLE);
      let orderScanned = 0;
      let highPfn = 0;
      let freepage = mm.prev[head];
      for (; freepage !== head; freepage = mm.prev[freepage]) {
        orderScanned++;
        nrScanned++;
        const pfn = freepage;
        if (pfn >= highest) highest = Math.max(this.pageblockStart(pfn), zone.startPfn);
        if (pfn >= lowPfn) {
          cc.fastSearchFail = 0;
          cc.searchOrder = order;
          page = freepage;
          break;
        }
        if (pfn >= minPfn && pfn > highPfn) {
          highPfn = pfn;
          limit >>= 1; // a candidate: shorten the scan
        }
        if (orderScanned >= limit) break;
      }
      if (page === NO_PAGE && highPfn) {
        page = highPfn;
        freepage = page;
      }
      this.moveFreelistHead(head, freepage);
      if (page !== NO_PAGE) {
        const isolated = this.isolateFreePage(page, order);
        if (isolated) {
          this.addFreepage(cc, page, order);
          nrScanned += isolated - 1;
          this.events.compactIsolated += isolated;
        } else {
          order = cc.searchOrder + 1; // next_search_order() then ends the search
          page = NO_PAGE;
        }
      }
      if (cc.nrFreepages >= cc.nrMigratepages) break;
      if (orderScanned >= limit) limit = Math.max(1, limit >> 1);
    }
    if (page === NO_PAGE) {
      cc.fastSearchFail++;
      if (scanStart) {
        // Use the highest pageblock seen above min; direct compaction, pessimistic, takes the min mark.
        if (highest >= minPfn) {
          page = highest;
          cc.freePfn = highest;
        } else if (cc.directCompaction) {
          const end = Math.min(this.pageblockEnd(minPfn), zone.endPfn);
          if (this.pageblockValid(minPfn, end, zone)) page = minPfn;
          cc.freePfn = minPfn;
        }
      }
    }
    if (highest && highest >= this.cachedFreePfn[zone.idx]) {
      highest -= this.pbPages;
      this.cachedFreePfn[zone.idx] = highest;
    }
    cc.totalFreeScanned += nrScanned;
    if (page === NO_PAGE) return;
    this.fastIsolateAround(cc, page);
  }

  /**
   * isolate_freepages(): after the fast search, scan pageblocks from cc->free_pfn down to the migrate scanner's
   * block for free pages until the targets cover the sources (async looks at every 32nd page at first).
   */
  private isolateFreepages(cc: CompactControl): void {
    const zone = cc.zone;
    this.fastIsolateFreepages(cc);
    if (cc.nrFreepages) return;
    const pos = new Int32Array([cc.freePfn]);
    let blockStart = this.pageblockStart(pos[0]);
    let blockEnd = Math.min(blockStart + this.pbPages, zone.endPfn);
    const lowPfn = this.pageblockEnd(cc.migratePfn);
    let stride = cc.mode === MIGRATE_ASYNC ? COMPACT_CLUSTER_MAX : 1;
    for (; blockStart >= lowPfn; blockEnd = blockStart, blockStart -= this.pbPages, pos[0] = blockStart) {
      if (!this.pageblockValid(blockStart, blockEnd, zone)) continue;
      if (!this.suitableMigrationTarget(cc, blockStart)) continue;
      if (!this.isolationSuitable(cc, blockStart)) continue;
      const nrIsolated = this.isolateFreepagesBlock(cc, pos, blockEnd, stride);
      if (pos[0] === blockEnd) this.updatePageblockSkip(cc, blockStart, blockStart - this.pbPages);
      if (cc.nrFreepages >= cc.nrMigratepages) {
        // Restart at the previous pageblock if this one is used up.
        if (pos[0] >= blockEnd) pos[0] = blockStart - this.pbPages;
        break;
      } else if (pos[0] < blockEnd) {
        break; // isolation failed early (watermark)
      }
      if (nrIsolated) {
        stride = 1;
        continue;
      }
      stride = Math.min(COMPACT_CLUSTER_MAX, stride << 1);
    }
    cc.freePfn = pos[0];
  }

  /**
   * compaction_alloc(): the migration target for an order-0 source: the first block of the smallest order
   * isolated, split buddy-style (the lower page is taken, the upper halves go back on the lists).
   */
  private compactionAlloc(cc: CompactControl): number {
    const mm = this.mm;
    let hasIsolated = false;
    for (;;) {
      let order = 0;
      while (order < NR_PAGE_ORDERS && mm.next[this.freeHeads + order] === this.freeHeads + order) order++;
      if (order === NR_PAGE_ORDERS) {
        if (hasIsolated) return NO_PAGE;
        this.isolateFreepages(cc);
        hasIsolated = true;
        continue;
      }
      const pfn = mm.next[this.freeHeads + order];
      mm.listDel(pfn);
      let size = 1 << order;
      while (order > 0) {
        order--;
        size >>= 1;
        mm.listAdd(pfn + size, this.freeHeads + order);
        mm.private_[pfn + size] = order;
      }
      mm.private_[pfn] = 0;
      cc.nrFreepages--;
      cc.nrMigratepages--;
      return pfn;
    }
  }

  /** compaction_free(): a target migration did not use goes back to the isolated list. */
  private compactionFree(cc: CompactControl, pfn: number): void {
    this.mm.listAdd(pfn, this.freeHeads);
    this.mm.private_[pfn] = 0;
    cc.nrFreepages++;
    cc.nrMigratepages++;
  }

  /**
   * release_free_list(): unused targets go back to the allocator (__free_pages of each isolated block).
   * Returns the highest pfn released, or 0.
   */
  private releaseFreeList(): number {
    const mm = this.mm;
    let highPfn = 0;
    for (let order = 0; order < NR_PAGE_ORDERS; order++) {
      const head = this.freeHeads + order;
      while (mm.next[head] !== head) {
        const pfn = mm.next[head];
        mm.listDel(pfn);
        // post_alloc_hook(): an allocated block of this order, so that the free path takes it.
        mm.refcount[pfn] = 1;
        mm.private_[pfn] = 0;
        mm.flags[pfn] = (mm.flags[pfn] & ZONE_MASK) | (order << ALLOC_ORDER_SHIFT);
        this.pa.freePages(pfn, order);
        if (pfn > highPfn) highPfn = pfn;
      }
    }
    return highPfn;
  }

  // --- the migrate scanner ---------------------------------------------------------------------------

  /** too_many_isolated(): more than half the LRU is isolated (an eighth with __GFP_FS). */
  private tooManyIsolated(cc: CompactControl): boolean {
    const lru = this.lru;
    let inactive = lru.size(LRU_INACTIVE_FILE) + lru.size(LRU_INACTIVE_ANON);
    let active = lru.size(LRU_ACTIVE_FILE) + lru.size(LRU_ACTIVE_ANON);
    const isolated = this.node.nrIsolatedFile + this.node.nrIsolatedAnon;
    if (cc.gfp & GFP.FS) {
      inactive >>= 3;
      active >>= 3;
    }
    return isolated > Math.trunc((inactive + active) / 2);
  }

  /** putback_movable_pages(): the isolated sources go back on the LRU. */
  private putbackMovablePages(cc: CompactControl): void {
    const mm = this.mm;
    const head = this.migrateHead;
    while (mm.next[head] !== head) {
      const pfn = mm.next[head];
      mm.listDel(pfn);
      this.lru.putback(pfn);
    }
    cc.nrMigratepages = 0;
  }

  /**
   * isolate_migratepages_block(): isolate the LRU pages of [low, end) within one pageblock, at most
   * COMPACT_CLUSTER_MAX unless the block is to be finished. Direct async compaction gives up on an
   * order-aligned block as soon as one of its pages cannot be isolated. Returns 0 or -EAGAIN.
   */
  private isolateMigratepagesBlock(cc: CompactControl, low: number, end: number): number {
    const mm = this.mm;
    const flags = mm.flags;
    const zone = cc.zone;
    let nrScanned = 0;
    let nrIsolated = 0;
    let validPage = -1;
    let skipUpdated = false;
    const asyncMigrate = cc.mode !== MIGRATE_SYNC; // ISOLATE_ASYNC_MIGRATE
    cc.migratePfn = low;
    if (this.tooManyIsolated(cc)) return EAGAIN; // the kernel's sync compactor would wait here
    const skipOnFailure = cc.directCompaction && cc.mode === MIGRATE_ASYNC;
    const orderPages = cc.order > 0 ? 1 << cc.order : 1;
    let nextSkipPfn = skipOnFailure ? (low + orderPages) & ~(orderPages - 1) : 0;
    let aborted = false;
    for (; low < end; low++) {
      if (skipOnFailure && low >= nextSkipPfn) {
        // The previous order-aligned block is isolated whole: migrate it now.
        if (nrIsolated) break;
        nextSkipPfn = (low + orderPages) & ~(orderPages - 1);
      }
      nrScanned++;
      // The skip hint is checked once per pageblock, at its first page.
      if (validPage < 0 && ((low & (this.pbPages - 1)) === 0 || low === zone.startPfn)) {
        if (!this.isolationSuitable(cc, low)) {
          low = end;
          aborted = true;
          break;
        }
        validPage = low;
      }
      const f = flags[low];
      let fail = false;
      if ((f & PGTY_MASK) === PGTY_BUDDY) {
        // Free: skip the whole block.
        const order = mm.private_[low];
        if (order > 0 && order <= MAX_PAGE_ORDER) {
          low += (1 << order) - 1;
          nrScanned += (1 << order) - 1;
        }
        continue;
      }
      if (f & (PG_HEAD | PG_TAIL)) {
        // Compound pages (THP, large kmalloc) are not compacted: skip at once.
        const order = f & PG_HEAD ? mm.private_[low + 1] : 0;
        low += (1 << order) - 1;
        nrScanned += (1 << order) - 1;
        fail = true;
      } else if (!(f & PG_LRU) || mm.refcount[low] <= 0) {
        fail = true; // slab, page tables, pcp pages, kernel allocations: not movable
      } else if (!(cc.gfp & GFP.FS) && (!(f & PG_SWAPBACKED) || mm.private_[low] !== 0)) {
        fail = true; // GFP_NOFS may migrate only pages without a mapping (anonymous, not in swap cache)
      } else if (asyncMigrate && f & PG_WRITEBACK) {
        fail = true; // would have to wait for the write
      } else {
        // Claim the pageblock for this compactor (test_and_set_skip), once per call.
        if (!skipUpdated && validPage >= 0) {
          skipUpdated = true;
          if (this.testAndSetSkip(cc, validPage) && !cc.finishPageblock) {
            low = end;
            aborted = true;
            break;
          }
        }
        this.lru.isolate(low);
        mm.listAdd(low, this.migrateHead);
        cc.nrMigratepages++;
        nrIsolated++;
        if (cc.nrMigratepages >= COMPACT_CLUSTER_MAX && !cc.finishPageblock && !cc.contended) {
          low++;
          break;
        }
        continue;
      }
      if (fail) {
        if (!skipOnFailure) continue;
        // The cc->order block cannot be freed whole: give back what it gave, go to the next one.
        if (nrIsolated) {
          this.putbackMovablePages(cc);
          nrIsolated = 0;
        }
        if (low < nextSkipPfn) {
          low = nextSkipPfn - 1;
          nextSkipPfn += orderPages;
        }
      }
    }
    if (!aborted && low > end) low = end;
    // Mark the block skipped once it is scanned to its end without isolating anything (or rescanned whole).
    if (low === end && (!nrIsolated || cc.finishPageblock)) {
      if (validPage >= 0 && !skipUpdated) this.buddy.setPageblockSkip(validPage);
      this.updateCachedMigrate(cc, low);
    }
    cc.totalMigrateScanned += nrScanned;
    this.events.compactIsolated += nrIsolated;
    cc.migratePfn = low;
    return 0;
  }

  /** suitable_migration_source(): direct async compaction scans only blocks of the request's own type. */
  private suitableMigrationSource(cc: CompactControl, pfn: number): boolean {
    if (this.pageblockSkipPersistent(pfn)) return false;
    if (cc.mode !== MIGRATE_ASYNC || !cc.directCompaction) return true;
    const blockMt = this.buddy.getPageblockMigratetype(pfn);
    if (cc.migratetype === MIGRATE_MOVABLE) return blockMt === MIGRATE_MOVABLE;
    return blockMt === cc.migratetype;
  }

  /** update_fast_start_pfn(). */
  private updateFastStartPfn(cc: CompactControl, pfn: number): void {
    if (cc.fastStartPfn === FAST_START_USED) return;
    if (!cc.fastStartPfn) cc.fastStartPfn = pfn;
    cc.fastStartPfn = Math.min(cc.fastStartPfn, pfn);
  }

  /** reinit_migrate_pfn(): after a failed fast search, scan linearly from the lowest block it found. */
  private reinitMigratePfn(cc: CompactControl): number {
    if (!cc.fastStartPfn || cc.fastStartPfn === FAST_START_USED) return cc.migratePfn;
    cc.migratePfn = cc.fastStartPfn;
    cc.fastStartPfn = FAST_START_USED;
    return cc.migratePfn;
  }

  /**
   * fast_find_migrateblock(): for costly movable (or kcompactd) requests starting a pageblock, pick a source
   * block in the lower part of the range that already has free pages of order 3 or more, from the free lists.
   */
  private fastFindMigrateblock(cc: CompactControl): number {
    const mm = this.mm;
    const zone = cc.zone;
    const limit = this.freelistScanLimit(cc);
    let nrScanned = 0;
    let pfn = cc.migratePfn;
    if (cc.ignoreSkipHint || cc.finishPageblock) return pfn;
    if (pfn !== zone.startPfn && pfn !== this.pageblockStart(pfn)) return pfn;
    if (cc.order <= PAGE_ALLOC_COSTLY_ORDER) return pfn;
    if (cc.directCompaction && cc.migratetype !== MIGRATE_MOVABLE) return pfn;
    // At the start pick any block in the first half of the range, later only in the first eighth.
    let distance = (cc.freePfn - cc.migratePfn) >> 1;
    if (cc.migratePfn !== zone.startPfn) distance >>= 2;
    const highPfn = this.pageblockStart(cc.migratePfn + distance);
    let found = false;
    for (let order = cc.order - 1; order >= PAGE_ALLOC_COSTLY_ORDER && !found && nrScanned < limit; order--) {
      if (!zone.nrFree[order]) continue;
      const head = zone.freeList(order, MIGRATE_MOVABLE);
      for (let fp = mm.next[head]; fp !== head; fp = mm.next[fp]) {
        if (nrScanned++ >= limit) {
          this.moveFreelistTail(head, fp);
          break;
        }
        if (fp < highPfn) {
          if (this.buddy.getPageblockSkip(fp)) continue;
          this.moveFreelistTail(head, fp);
          this.updateFastStartPfn(cc, fp);
          pfn = Math.max(this.pageblockStart(fp), zone.startPfn);
          cc.fastSearchFail = 0;
          found = true;
          break;
        }
      }
    }
    cc.totalMigrateScanned += nrScanned;
    if (!found) {
      cc.fastSearchFail++;
      pfn = this.reinitMigratePfn(cc);
    }
    return pfn;
  }

  /**
   * isolate_migratepages(): from the migrate scanner's position, find the first suitable pageblock below the
   * free scanner and isolate from it.
   */
  private isolateMigratepages(cc: CompactControl): number {
    const zone = cc.zone;
    let low = this.fastFindMigrateblock(cc);
    let blockStart = Math.max(this.pageblockStart(low), zone.startPfn);
    let fastFindBlock = low !== cc.migratePfn && !cc.fastSearchFail;
    let blockEnd = this.pageblockEnd(low);
    for (; blockEnd <= cc.freePfn; fastFindBlock = false, cc.migratePfn = low = blockEnd, blockStart = blockEnd, blockEnd += this.pbPages) {
      if (!this.pageblockValid(blockStart, blockEnd, zone)) continue;
      if (((low & (this.pbPages - 1)) === 0 || low === zone.startPfn) && !fastFindBlock && !this.isolationSuitable(cc, blockStart)) continue;
      if (!this.suitableMigrationSource(cc, blockStart)) {
        this.updateCachedMigrate(cc, blockEnd);
        continue;
      }
      if (this.isolateMigratepagesBlock(cc, low, blockEnd)) return ISOLATE_ABORT;
      break;
    }
    return cc.nrMigratepages ? ISOLATE_SUCCESS : ISOLATE_NONE;
  }

  /**
   * migrate_pages() with compaction_alloc/compaction_free: each isolated page, newest first, into a target.
   * Returns the pages that failed, or -ENOMEM when the targets ran out (the rest stay isolated).
   */
  private migratePages(cc: CompactControl): number {
    const mm = this.mm;
    const head = this.migrateHead;
    let nrFailed = 0;
    while (mm.next[head] !== head) {
      const from = mm.next[head];
      const to = this.compactionAlloc(cc);
      if (to === NO_PAGE) {
        this.events.pgmigrateFail++;
        return ENOMEM;
      }
      mm.listDel(from);
      // MIGRATE_SYNC waits for writeback; the lighter modes never isolated such pages.
      if (cc.mode === MIGRATE_SYNC && mm.flags[from] & PG_WRITEBACK) this.wb.waitOn(from);
      if (this.migrate.migrateFolio(from, to)) {
        this.pa.freePages(from, 0);
      } else {
        this.compactionFree(cc, to);
        this.lru.putback(from);
        nrFailed++;
      }
    }
    return nrFailed;
  }

  // --- compact_zone ------------------------------------------------------------------------------------

  /**
   * __compact_finished(): scanners met (complete, or partial when the run did not cover the zone); proactive
   * compaction until the zone's score falls to the low mark; otherwise, at a pageblock boundary, success as
   * soon as a free block of the order sits on a list the request may take.
   */
  private compactFinished(cc: CompactControl): number {
    const zone = cc.zone;
    if (this.scannersMet(cc)) {
      this.resetCachedPositions(zone);
      // kswapd clears the skip hints when it goes to sleep; only an allocation's compaction asks for it.
      if (cc.directCompaction) this.blockskipFlush[zone.idx] = 1;
      return cc.wholeZone ? COMPACT_COMPLETE : COMPACT_PARTIAL_SKIPPED;
    }
    let ret: number;
    if (cc.proactiveCompaction) {
      if (this.kswapdRunning()) return COMPACT_PARTIAL_SKIPPED;
      ret = this.fragmentationScoreZone(zone) > this.fragmentationScoreWmark(true) ? COMPACT_CONTINUE : COMPACT_SUCCESS;
    } else {
      if (cc.order === -1) return COMPACT_CONTINUE;
      // Always finish a pageblock, to make future fallbacks less likely.
      if (cc.migratePfn & (this.pbPages - 1)) return COMPACT_CONTINUE;
      const mt = cc.migratetype;
      for (let order = cc.order; order < NR_PAGE_ORDERS; order++) {
        if (zone.nrFreeList[order * MIGRATE_TYPES + mt]) return COMPACT_SUCCESS;
        // Job done too if the allocation could take the block from another type's list.
        if (this.buddy.findSuitableFallback(zone, order, mt, true) >= 0) return COMPACT_SUCCESS;
      }
      ret = COMPACT_NO_SUITABLE_PAGE;
    }
    if (cc.contended) ret = COMPACT_CONTENDED;
    return ret;
  }

  /** compact_finished(): "no suitable page" means carry on. */
  private compactFinishedOuter(cc: CompactControl): number {
    const ret = this.compactFinished(cc);
    return ret === COMPACT_NO_SUITABLE_PAGE ? COMPACT_CONTINUE : ret;
  }

  /** compact_zone(): one run of both scanners over cc->zone. */
  private compactZone(cc: CompactControl, capc: CaptureControl | null): number {
    const zone = cc.zone;
    const z = zone.idx;
    const mm = this.mm;
    const startPfn = zone.startPfn;
    const endPfn = zone.endPfn;
    const sync = cc.mode !== MIGRATE_ASYNC;
    cc.totalMigrateScanned = 0;
    cc.totalFreeScanned = 0;
    cc.nrMigratepages = 0;
    cc.nrFreepages = 0;
    cc.contended = false;
    cc.finishPageblock = false;
    cc.fastSearchFail = 0;
    cc.migratetype = this.pa.gfpMigratetype(cc.gfp);
    if (cc.order !== -1) {
      const ret = this.suitAllocationOrder(zone, cc.order, cc.highestZoneidx, cc.allocFlags, cc.mode === MIGRATE_ASYNC);
      if (ret !== COMPACT_CONTINUE) return ret;
    }
    // Clear the skip hints when compaction is retried after a full deferral.
    if (this.compactionRestarting(zone, cc.order)) this.resetIsolationSuitableZone(zone);
    cc.fastStartPfn = 0;
    if (cc.wholeZone) {
      cc.migratePfn = startPfn;
      cc.freePfn = this.pageblockStart(endPfn - 1);
    } else {
      cc.migratePfn = this.cachedMigratePfn[2 * z + (sync ? 1 : 0)];
      cc.freePfn = this.cachedFreePfn[z];
      if (cc.freePfn < startPfn || cc.freePfn >= endPfn) {
        cc.freePfn = this.pageblockStart(endPfn - 1);
        this.cachedFreePfn[z] = cc.freePfn;
      }
      if (cc.migratePfn < startPfn || cc.migratePfn >= endPfn) {
        cc.migratePfn = startPfn;
        this.cachedMigratePfn[2 * z] = startPfn;
        this.cachedMigratePfn[2 * z + 1] = startPfn;
      }
      if (cc.migratePfn <= this.initMigratePfn[z]) cc.wholeZone = true;
    }
    let lastMigratedPfn = 0;
    // Until a block with isolation candidates is found, keep the async and sync restart points together.
    let updateCached = !sync && this.cachedMigratePfn[2 * z] === this.cachedMigratePfn[2 * z + 1];
    if (this.trace.on.mm_compaction_begin) this.trace.record(EV_MM_COMPACTION_BEGIN, startPfn, cc.migratePfn, cc.freePfn, endPfn, sync ? 1 : 0);

    let ret: number;
    while ((ret = this.compactFinishedOuter(cc)) === COMPACT_CONTINUE) {
      const iterationStart = cc.migratePfn;
      // Rescanning the block migrated from last time: scan it whole this time.
      cc.finishPageblock = this.pageblockStart(lastMigratedPfn) === this.pageblockStart(iterationStart);
      let stop = false;
      let migrated = false;
      for (;;) {
        const isolated = this.isolateMigratepages(cc);
        if (isolated === ISOLATE_ABORT) {
          ret = COMPACT_CONTENDED;
          this.putbackMovablePages(cc);
          stop = true;
          break;
        }
        if (isolated === ISOLATE_NONE) {
          if (updateCached) this.cachedMigratePfn[2 * z + 1] = this.cachedMigratePfn[2 * z];
          break; // nothing to migrate, but the pages freed from the last block may still need a drain
        }
        updateCached = false;
        lastMigratedPfn = Math.max(startPfn, this.pageblockStart(cc.migratePfn - 1));
        const err = this.migratePages(cc);
        cc.nrMigratepages = 0;
        migrated = true;
        if (err) {
          this.putbackMovablePages(cc);
          if (err === ENOMEM && !this.scannersMet(cc)) {
            ret = COMPACT_CONTENDED;
            stop = true;
            break;
          }
          // A failure inside the pageblock: scan the rest of it (rescan) so that it gets marked skipped.
          if (cc.migratePfn & (this.pbPages - 1) && !cc.ignoreSkipHint && !cc.finishPageblock && cc.mode < MIGRATE_SYNC) {
            cc.finishPageblock = true;
            if (cc.order === this.hpageOrder) lastMigratedPfn = 0;
            continue;
          }
        }
        break;
      }
      if (stop) break;
      // Stop if a page has been captured.
      if (migrated && capc && capc.page !== NO_PAGE) {
        ret = COMPACT_SUCCESS;
        break;
      }
      // Left the order-aligned block migrated from: flush this CPU's freed pages so they merge.
      if (cc.order > 0 && lastMigratedPfn) {
        const currentBlockStart = cc.migratePfn & ~((1 << cc.order) - 1);
        if (lastMigratedPfn < currentBlockStart) {
          this.pcp.drainZone(zone, this.sched.current.cpu);
          lastMigratedPfn = 0;
        }
      }
    }
    // Give back the unused targets; the free scanner restarts no higher than the highest of them.
    if (cc.nrFreepages > 0) {
      let freePfn = this.releaseFreeList();
      cc.nrFreepages = 0;
      freePfn = this.pageblockStart(freePfn);
      if (freePfn > this.cachedFreePfn[z]) this.cachedFreePfn[z] = freePfn;
    }
    this.events.compactMigrateScanned += cc.totalMigrateScanned;
    this.events.compactFreeScanned += cc.totalFreeScanned;
    if (this.trace.on.mm_compaction_end) this.trace.record(EV_MM_COMPACTION_END, startPfn, cc.migratePfn, cc.freePfn, endPfn, sync ? 1 : 0, ret);
    if (mm.next[this.migrateHead] !== this.migrateHead) throw new Error('compaction: isolated pages left behind');
    return ret;
  }

  /** Run compact_zone with a fresh compact_control; compaction never nests. */
  private runCompactZone(setup: (cc: CompactControl) => void, capc: CaptureControl | null): number {
    if (this.running) throw new Error('compaction: compact_zone entered while already running');
    const cc = this.cc;
    Object.assign(cc, new CompactControl());
    setup(cc);
    if (capc) capc.cc = cc;
    this.running = true;
    try {
      return this.compactZone(cc, capc);
    } finally {
      this.running = false;
    }
  }

  // --- direct compaction ---------------------------------------------------------------------------------

  /**
   * compaction_capture(): a block freed up to exactly the requested order, on a list that does not pollute a
   * movable pageblock with a non-movable request, goes straight to the direct compactor.
   */
  private captureBlock(capc: CaptureControl, zone: Zone, pfn: number, order: number, mt: number): boolean {
    const cc = capc.cc;
    // task_capc(): only for the zone being compacted, and only one page.
    if (capc.page !== NO_PAGE || zone !== cc.zone || order !== cc.order) return false;
    if (mt === MIGRATE_ISOLATE) return false;
    if (order < this.pbOrder && mt === MIGRATE_MOVABLE && cc.migratetype !== MIGRATE_MOVABLE) return false;
    if (mt !== cc.migratetype && this.trace.on.mm_page_alloc_extfrag) {
      const changeOwnership = this.buddy.getPageblockMigratetype(pfn) === cc.migratetype ? 1 : 0;
      this.trace.record(EV_MM_PAGE_ALLOC_EXTFRAG, pfn, cc.order, order, this.pbOrder, cc.migratetype, mt, changeOwnership);
    }
    capc.page = pfn;
    return true;
  }

  /** compact_zone_order(): direct compaction of one zone, with capture of the page it frees. */
  private compactZoneOrder(zone: Zone, order: number, gfp: number, prio: number, allocFlags: number, highest: number): { result: number; page: number } {
    const capc: CaptureControl = { cc: this.cc, page: NO_PAGE };
    this.buddy.capture = (pfn, z, o, mt) => this.captureBlock(capc, z, pfn, o, mt);
    let ret: number;
    try {
      ret = this.runCompactZone((cc) => {
        cc.order = order;
        cc.searchOrder = order;
        cc.gfp = gfp;
        cc.zone = zone;
        cc.mode = prio === COMPACT_PRIO_ASYNC ? MIGRATE_ASYNC : MIGRATE_SYNC_LIGHT;
        cc.allocFlags = allocFlags;
        cc.highestZoneidx = highest;
        cc.directCompaction = true;
        cc.wholeZone = prio === MIN_COMPACT_PRIORITY;
        cc.ignoreSkipHint = prio === MIN_COMPACT_PRIORITY;
        cc.ignoreBlockSuitable = prio === MIN_COMPACT_PRIORITY;
      }, capc);
    } finally {
      this.buddy.capture = null;
    }
    if (capc.page !== NO_PAGE) ret = COMPACT_SUCCESS;
    return { result: ret, page: capc.page };
  }

  /**
   * try_to_compact_pages(): compact each zone the request may use, highest first, unless deferred (below the
   * highest priority); stop at the first success. Returns the largest compact_result and a captured block
   * (off the free lists, not yet prepared).
   */
  tryToCompactPages(gfp: number, order: number, allocFlags: number, highestZoneidx: number, prio: number): { result: number; page: number } {
    // GFP_NOIO cannot compact: migration may need IO (gfp_compaction_allowed).
    if (!(gfp & GFP.IO)) return { result: COMPACT_SKIPPED, page: NO_PAGE };
    let rc = COMPACT_SKIPPED;
    let page = NO_PAGE;
    for (let i = highestZoneidx; i >= 0; i--) {
      const zone = this.zones[i];
      if (!zone.managed) continue;
      if (prio > MIN_COMPACT_PRIORITY && this.compactionDeferred(zone, order)) {
        rc = Math.max(COMPACT_DEFERRED, rc);
        continue;
      }
      const status = this.compactZoneOrder(zone, order, gfp, prio, allocFlags, highestZoneidx);
      page = status.page;
      rc = Math.max(status.result, rc);
      if (status.result === COMPACT_SUCCESS) {
        // Likely to succeed, not certain: the caller resets fully once the allocation does.
        this.compactionDeferReset(zone, order, false);
        break;
      }
      // A sync run that covered the zone and failed: defer this zone for a while.
      if (prio !== COMPACT_PRIO_ASYNC && (status.result === COMPACT_COMPLETE || status.result === COMPACT_PARTIAL_SKIPPED)) {
        this.deferCompaction(zone, order);
      }
    }
    return { result: rc, page };
  }

  /**
   * __alloc_pages_direct_compact(): compact (as PF_MEMALLOC), then prepare the captured block or try the
   * free lists; counts compact_stall when compaction ran (or was deferred) and compact_success or
   * compact_fail by whether a page came of it. This is SlowpathHooks.directCompact.
   */
  directCompact(gfp: number, order: number, allocFlags: number, highestZoneidx: number, priority: number): { page: number; result: CompactResult } {
    if (!order) return { page: NO_PAGE, result: 'skipped' };
    const noreclaim = this.sched.memallocNoreclaimSave();
    let c: { result: number; page: number };
    try {
      c = this.tryToCompactPages(gfp, order, allocFlags, highestZoneidx, priority);
    } finally {
      this.sched.memallocNoreclaimRestore(noreclaim);
    }
    if (c.result === COMPACT_SKIPPED) return { page: NO_PAGE, result: 'skipped' };
    this.events.compactStall++;
    let page = c.page;
    if (page !== NO_PAGE) this.pa.prepNewPage(page, order, gfp, allocFlags);
    else page = this.pa.getPageFromFreelist(gfp, order, allocFlags, highestZoneidx, this.pa.gfpMigratetype(gfp));
    if (page !== NO_PAGE) {
      const zone = this.zones[this.mm.zoneIdx(page)];
      this.blockskipFlush[zone.idx] = 0;
      this.compactionDeferReset(zone, order, true);
      this.events.compactSuccess++;
      return { page, result: compactResultName(c.result) };
    }
    // Pages exist but not enough to satisfy the watermarks, most likely.
    this.events.compactFail++;
    return { page: NO_PAGE, result: compactResultName(c.result) };
  }

  // --- kcompactd and proactive compaction ------------------------------------------------------------

  /** fragmentation_score_zone(): external fragmentation (percent) at COMPACTION_HPAGE_ORDER. */
  fragmentationScoreZone(zone: Zone): number {
    return extfragForOrder(zone, this.hpageOrder);
  }

  /** fragmentation_score_zone_weighted(): scaled by the zone's share of the node, so small zones count little. */
  fragmentationScoreZoneWeighted(zone: Zone): number {
    return Math.trunc((zone.present * this.fragmentationScoreZone(zone)) / (this.nodePresent + 1));
  }

  /** fragmentation_score_node(). */
  fragmentationScoreNode(): number {
    let score = 0;
    for (const z of this.zones) if (z.populated()) score += this.fragmentationScoreZoneWeighted(z);
    return score;
  }

  /** fragmentation_score_wmark(): low = 100 - proactiveness (at least 5), high = low + 10 (at most 100). */
  fragmentationScoreWmark(low: boolean): number {
    const wmarkLow = Math.max(100 - this.proactiveness, 5);
    return low ? wmarkLow : Math.min(wmarkLow + 10, 100);
  }

  /** should_proactive_compact_node(). */
  shouldProactiveCompactNode(): boolean {
    if (!this.proactiveness || this.kswapdRunning()) return false;
    return this.fragmentationScoreNode() > this.fragmentationScoreWmark(false);
  }

  /** Writing vm.compaction_proactiveness: a non-zero value triggers a proactive run now. */
  setProactiveness(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 100) throw new Error(`compaction_proactiveness: expected a whole number from 0 to 100, got ${value}`);
    this.proactiveness = value;
    if (value && !this.proactiveCompactTrigger) {
      this.proactiveCompactTrigger = true;
      this.kcompactdWoken = true;
    }
  }

  /**
   * compact_node(): every populated zone, whole, ignoring skip hints: MIGRATE_SYNC for vm.compact_memory,
   * SYNC_LIGHT and only down to the low score mark when proactive.
   */
  private compactNodeInternal(proactive: boolean): void {
    for (const zone of this.zones) {
      if (!zone.populated()) continue;
      this.runCompactZone((cc) => {
        cc.order = -1;
        cc.searchOrder = -1;
        cc.zone = zone;
        cc.mode = proactive ? MIGRATE_SYNC_LIGHT : MIGRATE_SYNC;
        cc.allocFlags = ALLOC_CMA;
        cc.ignoreSkipHint = true;
        cc.wholeZone = true;
        cc.gfp = GFP.KERNEL;
        cc.proactiveCompaction = proactive;
      }, null);
      if (proactive) {
        this.events.compactDaemonMigrateScanned += this.cc.totalMigrateScanned;
        this.events.compactDaemonFreeScanned += this.cc.totalFreeScanned;
      }
    }
  }

  /** echo 1 > /proc/sys/vm/compact_memory: compact every zone of the node fully. */
  compactNode(): void {
    this.compactNodeInternal(false);
  }

  /** proactive_compact_node(): compact until each zone's score is down to the low mark. */
  proactiveCompact(): void {
    this.compactNodeInternal(true);
  }

  /** kcompactd_node_suitable(): some zone would have compaction run for the recorded order. */
  private kcompactdNodeSuitable(): boolean {
    const highest = this.kcompactdHighestZoneidx;
    for (let i = 0; i <= highest; i++) {
      const zone = this.zones[i];
      if (!zone.populated()) continue;
      if (this.suitAllocationOrder(zone, this.kcompactdMaxOrder, highest, ALLOC_WMARK_MIN, false) === COMPACT_CONTINUE) return true;
    }
    return false;
  }

  /**
   * wakeup_kcompactd(): record the order and zone limit to compact for (kswapd calls it when it goes to sleep,
   * and a non-blocking allocation on a balanced node); kcompactd wakes if some zone is suitable.
   */
  wakeupKcompactd(order: number, highestZoneidx: number): void {
    if (!order) return;
    if (this.kcompactdMaxOrder < order) this.kcompactdMaxOrder = order;
    if (this.kcompactdHighestZoneidx > highestZoneidx) this.kcompactdHighestZoneidx = highestZoneidx;
    if (!this.kcompactdNodeSuitable()) return;
    this.kcompactdWoken = true;
  }

  /** kcompactd_work_requested(). */
  private kcompactdWorkRequested(): boolean {
    return this.kcompactdMaxOrder > 0 || this.proactiveCompactTrigger;
  }

  /** Whether kcompactd has been woken and not run since. */
  get kcompactdPending(): boolean {
    return this.kcompactdWoken;
  }

  /**
   * kcompactd_do_work(): compact (SYNC_LIGHT, skip hints respected) each zone up to the recorded limit that is
   * not deferred, not already able to satisfy the order, and suitable; defer a zone whose run failed.
   * Returns false if no work was requested.
   */
  kcompactdRun(): boolean {
    if (this.kcompactdMaxOrder <= 0) return false;
    const order = this.kcompactdMaxOrder;
    const highest = this.kcompactdHighestZoneidx;
    this.events.compactDaemonWake++;
    for (let i = 0; i <= highest; i++) {
      const zone = this.zones[i];
      if (!zone.populated()) continue;
      if (this.compactionDeferred(zone, order)) continue;
      if (this.suitAllocationOrder(zone, order, i, ALLOC_WMARK_MIN, false) !== COMPACT_CONTINUE) continue;
      const status = this.runCompactZone((cc) => {
        cc.order = order;
        cc.searchOrder = order;
        cc.highestZoneidx = highest;
        cc.zone = zone;
        cc.mode = MIGRATE_SYNC_LIGHT;
        cc.gfp = GFP.KERNEL;
        cc.allocFlags = ALLOC_WMARK_MIN;
      }, null);
      if (status === COMPACT_SUCCESS) {
        this.compactionDeferReset(zone, order, false);
      } else if (status === COMPACT_PARTIAL_SKIPPED || status === COMPACT_COMPLETE) {
        // Pages stranded on the pcp lists could still merge; the deferral rate-limits this.
        for (let c = 0; c < zone.pcp.length; c++) this.pcp.drainZone(zone, c);
        this.deferCompaction(zone, order);
      }
      this.events.compactDaemonMigrateScanned += this.cc.totalMigrateScanned;
      this.events.compactDaemonFreeScanned += this.cc.totalFreeScanned;
    }
    // Done until woken again, unless a larger order or a tighter zone limit was asked for meanwhile.
    if (this.kcompactdMaxOrder <= order) this.kcompactdMaxOrder = 0;
    if (this.kcompactdHighestZoneidx >= highest) this.kcompactdHighestZoneidx = this.zones.length - 1;
    return true;
  }

  /**
   * One turn of the kcompactd thread's loop, for the machine's daemon tick: if woken, or its sleep of
   * HPAGE_FRAG_CHECK_INTERVAL_MSEC of model time ran out, do the requested work, or else compact proactively
   * while the node's fragmentation score is above the high mark (backing off 64 times longer when a run
   * did not lower it). Returns whether it ran.
   */
  kcompactdTick(): boolean {
    const timeout = this.proactiveness ? this.kcompactdTimeoutNs : Infinity;
    if (!this.kcompactdWoken && this.clock.ns - this.kcompactdSleepStart < timeout) return false;
    this.kcompactdWoken = false;
    const defaultTimeout = HPAGE_FRAG_CHECK_INTERVAL_MSEC * 1e6;
    if (this.kcompactdWorkRequested() && !this.proactiveCompactTrigger) {
      this.kcompactdRun();
      this.kcompactdTimeoutNs = defaultTimeout;
      this.kcompactdSleepStart = this.clock.ns;
      return true;
    }
    this.kcompactdTimeoutNs = defaultTimeout;
    if (this.shouldProactiveCompactNode()) {
      const prevScore = this.fragmentationScoreNode();
      this.proactiveCompact();
      const score = this.fragmentationScoreNode();
      if (score >= prevScore) this.kcompactdTimeoutNs = defaultTimeout * (1 << COMPACT_MAX_DEFER_SHIFT);
    }
    this.proactiveCompactTrigger = false;
    this.kcompactdSleepStart = this.clock.ns;
    return true;
  }

  // --- checks ----------------------------------------------------------------------------------------

  /** Nothing is left isolated between runs, and no capture is armed. */
  checkInvariants(errs: string[]): void {
    const mm = this.mm;
    if (this.running) errs.push('compaction: still running');
    if (this.buddy.capture !== null) errs.push('compaction: a capture is still armed');
    for (let i = 0; i <= NR_PAGE_ORDERS; i++) {
      const head = this.freeHeads + i;
      if (mm.next[head] !== head) errs.push(`compaction: ${i < NR_PAGE_ORDERS ? `isolated free pages of order ${i}` : 'isolated migrate pages'} left behind`);
    }
  }
}

/** The slow path's view of an enum compact_result (contention counts as a withdrawn, partial run). */
export function compactResultName(result: number): CompactResult {
  switch (result) {
    case COMPACT_SUCCESS:
      return 'success';
    case COMPACT_COMPLETE:
      return 'complete';
    case COMPACT_PARTIAL_SKIPPED:
    case COMPACT_CONTENDED:
      return 'partial_skipped';
    case COMPACT_DEFERRED:
      return 'deferred';
    case COMPACT_NOT_SUITABLE_ZONE:
      return 'not_suitable';
    default:
      return 'skipped';
  }
}
