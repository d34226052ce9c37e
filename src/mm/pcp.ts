/**
 * Per-CPU page lists (mm/page_alloc.c: rmqueue_pcplist, __rmqueue_pcplist, nr_pcp_alloc, rmqueue_bulk,
 * free_frozen_pages/free_unref_page_commit, nr_pcp_high, nr_pcp_free, free_pcppages_bulk, drain_pages).
 *
 * Orders 0..3 (and the pageblock order with THP) are served from a per-CPU list per migratetype, refilled
 * from the buddy lists in batches and drained back when the CPU holds `high` pages. Allocation pops the
 * head (cache-hot), refills append in physical order at the tail, and drains take from the tail,
 * round-robin over the lists starting with the one just freed to, as the kernel does.
 * The 6.7+ scaling is modelled: alloc_factor doubles refills during allocation runs, free_count grows
 * drains during free runs, and high moves between high_min and high_max with ZONE_BELOW_HIGH.
 * Departures: the vmstat-refresh decay of pcp->high and ZONE_RECLAIM_ACTIVE (reclaim arrives later) are not
 * modelled; the PCPF_FREE_HIGH_BATCH refinement of high-order batch freeing is left out.
 */
import * as gfpH from '../gfp.js';
import * as pageH from './page.js';
import { listAddOn, type MemMap } from './page.js';
import { ALLOC_NOFRAGMENT, Buddy, FPI_NONE } from './buddy.js';
import * as zoneH from './zone.js';
import type { PerCpuPages, Zone } from './zone.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_MM_PAGE_PCPU_DRAIN } from '../trace/events.js';
import type { ModelStats, VmEvents } from './vmstat.js';

// The imported constants as module-level consts, which TurboFan folds into the code (see page_alloc.ts).
const { MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE } = gfpH;
const { NO_PAGE, PAGE_ALLOC_COSTLY_ORDER, PGTY_MASK, PGTY_PCP } = pageH;
const { NR_LOWORDER_PCP_LISTS, NR_PCP_LISTS, WMARK_HIGH } = zoneH;

/** CONFIG_PCP_BATCH_SCALE_MAX: refills and drains scale up to batch << 5. */
const PCP_BATCH_SCALE_MAX = 5;
/** pcp->flags: the previous free was of a high order. */
const PCPF_PREV_FREE_HIGH_ORDER = 1;

export class Pcp {
  private readonly mm: MemMap;
  /** mem_map's list links, held for free_unref_page_commit(). */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly buddy: Buddy;
  private readonly trace: TraceBuffer;
  private readonly stats: ModelStats;
  private readonly events: VmEvents;
  private readonly nrCpus: number;
  /** ZONE_MOVABLE's index: the free path checks the high mark as a movable allocation would. */
  private readonly movableIdx: number;

  constructor(mm: MemMap, buddy: Buddy, nrCpus: number, trace: TraceBuffer, stats: ModelStats, events: VmEvents) {
    this.mm = mm;
    this.next = mm.next;
    this.prev = mm.prev;
    this.buddy = buddy;
    this.trace = trace;
    this.stats = stats;
    this.events = events;
    this.nrCpus = nrCpus;
    this.movableIdx = buddy.zones.findIndex((z) => z.type === 'Movable');
  }

  /**
   * all_vm_events() with fold_vm_numa_events()'s effect: add every CPU's fast-path counts (PerCpuPages.nrAlloc,
   * pgfree) to the zone-wide counters and clear them. Machine calls this before anyone reads the counters.
   */
  foldVmEvents(): void {
    const { stats, events } = this;
    for (const zone of this.buddy.zones) {
      for (const pcp of zone.pcp) {
        const n = pcp.nrAlloc;
        stats.allocRequests[0] += n;
        events.pgalloc[zone.idx] += n;
        zone.vmNumaHit += n;
        pcp.nrAlloc = 0;
        events.pgfree += pcp.pgfree;
        pcp.pgfree = 0;
      }
    }
  }

  /** order_to_pindex(). */
  orderToPindex(mt: number, order: number): number {
    if (order > PAGE_ALLOC_COSTLY_ORDER) return NR_LOWORDER_PCP_LISTS + (mt === MIGRATE_MOVABLE ? 1 : 0);
    return MIGRATE_PCPTYPES * order + mt;
  }

  /** pindex_to_order(). */
  pindexToOrder(pindex: number): number {
    return pindex >= NR_LOWORDER_PCP_LISTS ? this.buddy.pageblockOrder : Math.floor(pindex / MIGRATE_PCPTYPES);
  }

  /** rmqueue_pcplist(): pop from this CPU's list, refilling it from the buddy lists when empty. */
  rmqueuePcplist(zone: Zone, cpu: number, order: number, mt: number, allocFlags: number): number {
    const pcp = zone.pcp[cpu];
    // On allocation, shrink the batch that the next frees will drain (nr_pcp_free).
    pcp.freeCount >>= 1;
    const list = pcp.lists + this.orderToPindex(mt, order);
    if (this.mm.next[list] === list) {
      const batch = this.nrPcpAlloc(pcp, zone, order);
      const got = this.rmqueueBulk(zone, order, batch, list, mt, allocFlags);
      pcp.count += got << order;
      if (this.mm.next[list] === list) return NO_PAGE;
    }
    return this.pop(pcp, list, order);
  }

  /** Take the list's head (cache-hot: the last page freed); PageAlloc's allocation fast path does the same. */
  private pop(pcp: PerCpuPages, list: number, order: number): number {
    const mm = this.mm;
    const pfn = mm.next[list];
    mm.listDel(pfn);
    mm.flags[pfn] &= ~PGTY_MASK;
    pcp.count -= 1 << order;
    return pfn;
  }

  /** nr_pcp_alloc(): how many blocks a refill takes. */
  private nrPcpAlloc(pcp: PerCpuPages, zone: Zone, order: number): number {
    const baseBatch = pcp.batch;
    const highMin = pcp.highMin;
    const highMax = pcp.highMax;
    let high = (pcp.high = Math.min(Math.max(pcp.high, highMin), highMax));
    if (high < baseBatch) return 1; // pcp disabled or boot pageset
    let batch = order ? baseBatch : baseBatch << pcp.allocFactor;
    // A larger high would have avoided this trip to the zone: raise it while above the high watermark.
    if (highMin !== highMax && !zone.belowHigh) high = pcp.high = Math.min(high + batch, highMax);
    if (!order) {
      const maxNrAlloc = Math.max(high - pcp.count - baseBatch, baseBatch);
      // Double the refill on each further order-0 refill without a free in between.
      if (batch <= maxNrAlloc && pcp.allocFactor < PCP_BATCH_SCALE_MAX) pcp.allocFactor++;
      batch = Math.min(batch, maxNrAlloc);
    }
    if (batch > 1) batch = Math.max(batch >> order, 2);
    return batch;
  }

  /** rmqueue_bulk(): move up to `count` blocks to the tail of the list (so in physical order). */
  private rmqueueBulk(zone: Zone, order: number, count: number, list: number, mt: number, allocFlags: number): number {
    const mm = this.mm;
    let i = 0;
    for (; i < count; i++) {
      const pfn = this.rmqueue(zone, order, mt, allocFlags);
      if (pfn === NO_PAGE) break;
      mm.listAddTail(pfn, list);
      mm.flags[pfn] = (mm.flags[pfn] & ~PGTY_MASK) | PGTY_PCP;
      mm.private_[pfn] = order;
    }
    this.stats.pcpRefills++;
    this.stats.pcpRefillPages += i << order;
    return i;
  }

  /** __rmqueue(): own type first, then claim a block of another type, then (unless NOFRAGMENT) steal one. */
  rmqueue(zone: Zone, order: number, mt: number, allocFlags: number): number {
    const b = this.buddy;
    let pfn = b.rmqueueSmallest(zone, order, mt);
    if (pfn !== NO_PAGE) return pfn;
    pfn = b.rmqueueClaim(zone, order, mt, allocFlags);
    if (pfn !== NO_PAGE) return pfn;
    if (allocFlags & ALLOC_NOFRAGMENT) return NO_PAGE;
    return b.rmqueueSteal(zone, order, mt);
  }

  /**
   * free_frozen_pages() for a pcp order: HIGHATOMIC pages go on the movable list (their block type takes
   * them back when drained), isolated ones straight to the buddy.
   */
  freeToPcp(zone: Zone, cpu: number, pfn: number, order: number): void {
    let mt = this.buddy.getPageblockMigratetype(pfn);
    if (mt > MIGRATE_RECLAIMABLE) {
      if (mt === MIGRATE_ISOLATE) {
        this.buddy.freeOnePage(pfn, zone, order, mt, FPI_NONE);
        return;
      }
      mt = MIGRATE_MOVABLE;
    }
    const mm = this.mm;
    mm.flags[pfn] = (mm.flags[pfn] & ~PGTY_MASK) | PGTY_PCP;
    mm.private_[pfn] = order;
    const pcp = zone.pcp[cpu];
    const pindex = this.orderToPindex(mt, order);
    this.freeUnrefPageCommit(pcp, pfn, pcp.lists + pindex, pindex, order);
  }

  /**
   * free_unref_page_commit(): push on the head of list `pindex` (order_to_pindex()), whose head is `list`,
   * and drain a batch when over high. The caller has marked the page as on a pcp list (PGTY_PCP, private =
   * order).
   */
  freeUnrefPageCommit(pcp: PerCpuPages, pfn: number, list: number, pindex: number, order: number): void {
    pcp.allocFactor >>= 1;
    listAddOn(this.next, this.prev, pfn, list);
    const count = (pcp.count += 1 << order);
    const batch = pcp.batch;
    // High-order pages on pcp lists fragment memory: drain harder during runs of high-order frees.
    let freeHigh = false;
    if (order && order <= PAGE_ALLOC_COSTLY_ORDER) freeHigh = this.freeHighOrder(pcp, batch);
    else if (pcp.flags & PCPF_PREV_FREE_HIGH_ORDER) pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER;
    if (pcp.freeCount < batch << PCP_BATCH_SCALE_MAX) pcp.freeCount += 1 << order;
    // Below high, above the zone's high mark and high within range: nr_pcp_high() would change nothing.
    const high = pcp.high;
    if (!freeHigh && count < high && !pcp.zone.belowHigh && high >= pcp.highMin && high <= pcp.highMax) return;
    this.freeHighCommit(pcp, pindex, batch, freeHigh);
  }

  /**
   * A free of order 1..PAGE_ALLOC_COSTLY_ORDER: whether it continues a run of high-order frees long enough to
   * drain harder (free_high), and the mark that the run goes on. Apart, so that the order-0 free stays small.
   */
  private freeHighOrder(pcp: PerCpuPages, batch: number): boolean {
    const freeHigh = pcp.freeCount >= batch && (pcp.flags & PCPF_PREV_FREE_HIGH_ORDER) !== 0;
    pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER;
    return freeHigh;
  }

  /** The rest of free_unref_page_commit(): nr_pcp_high(), and a drain when the list is over it. */
  private freeHighCommit(pcp: PerCpuPages, pindex: number, batch: number, freeHigh: boolean): void {
    const zone = pcp.zone;
    const high = this.nrPcpHigh(pcp, zone, batch, freeHigh);
    if (pcp.count >= high) {
      this.freePcppagesBulk(zone, this.nrPcpFree(pcp, batch, high, freeHigh), pcp, pindex);
      if (zone.belowHigh && this.zoneAboveHigh(zone)) zone.belowHigh = false;
    }
  }

  /** nr_pcp_high(): the high mark for this free, adjusting pcp->high to the free pattern. */
  private nrPcpHigh(pcp: PerCpuPages, zone: Zone, batch: number, freeHigh: boolean): number {
    const highMin = pcp.highMin;
    let high = (pcp.high = Math.min(Math.max(pcp.high, highMin), pcp.highMax));
    if (!high) return 0;
    if (freeHigh) {
      pcp.high = Math.max(high - (batch << PCP_BATCH_SCALE_MAX), highMin);
      return 0;
    }
    if (highMin === pcp.highMax) return high;
    if (zone.belowHigh) {
      const fc = Math.max(pcp.freeCount, batch);
      pcp.high = Math.max(high - fc, highMin);
      high = Math.max(pcp.count, highMin);
    } else if (pcp.count >= high) {
      const need = pcp.freeCount + batch;
      if (pcp.high < need) pcp.high = Math.min(Math.max(need, highMin), pcp.highMax);
    }
    return high;
  }

  /** nr_pcp_free(): drain at least a batch, more during runs of frees, leaving a batch behind. */
  private nrPcpFree(pcp: PerCpuPages, batch: number, high: number, freeHigh: boolean): number {
    if (freeHigh) return Math.min(pcp.count, batch << PCP_BATCH_SCALE_MAX);
    if (high < batch) return 1;
    const minNr = batch;
    const maxNr = high - batch;
    return Math.min(Math.max(pcp.freeCount, minNr), maxNr);
  }

  /**
   * free_pcppages_bulk(): return `count` pages to the buddy lists, starting with list `pindex` and going
   * round-robin, each list from its tail (the coldest page).
   */
  freePcppagesBulk(zone: Zone, count: number, pcp: PerCpuPages, pindex: number): void {
    const mm = this.mm;
    const b = this.buddy;
    count = Math.min(count, pcp.count);
    if (count <= 0) return;
    this.stats.pcpDrains++;
    pindex--;
    while (count > 0) {
      let list: number;
      do {
        if (++pindex > NR_PCP_LISTS - 1) pindex = 0;
        list = pcp.lists + pindex;
      } while (mm.next[list] === list);
      const order = this.pindexToOrder(pindex);
      const nr = 1 << order;
      do {
        const pfn = mm.prev[list];
        mm.listDel(pfn);
        mm.flags[pfn] &= ~PGTY_MASK;
        count -= nr;
        pcp.count -= nr;
        this.stats.pcpDrainPages += nr;
        const mt = b.getPageblockMigratetype(pfn);
        b.freeOnePage(pfn, zone, order, mt, FPI_NONE);
        if (this.trace.on.mm_page_pcpu_drain) {
          this.trace.record(EV_MM_PAGE_PCPU_DRAIN, pfn, order, mt);
        }
      } while (count > 0 && mm.next[list] !== list);
    }
  }

  /** drain_pages_zone() for one CPU. */
  drainZone(zone: Zone, cpu: number): void {
    const pcp = zone.pcp[cpu];
    if (pcp.count) this.freePcppagesBulk(zone, pcp.count, pcp, 0);
  }

  /** drain_all_pages(NULL): every CPU's lists in every zone. */
  drainAll(): void {
    this.stats.drainAll++;
    for (const z of this.buddy.zones) for (let c = 0; c < this.nrCpus; c++) this.drainZone(z, c);
  }

  /** Mark ZONE_BELOW_HIGH (get_page_from_freelist found the zone under its high mark). */
  setBelowHigh(zone: Zone): void {
    zone.belowHigh = true;
  }

  /** zone_watermark_ok(zone, 0, high_wmark, ZONE_MOVABLE, 0) as the free path checks it. */
  private zoneAboveHigh(zone: Zone): boolean {
    const free = zone.freePages - zone.nrFreeHighatomic;
    const reserve = zone.lowmemReserve[this.movableIdx];
    return free > zone.watermark[WMARK_HIGH] + zone.watermarkBoost + reserve;
  }
}

