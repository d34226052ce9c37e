/**
 * The page allocator's entry points and policy (mm/page_alloc.c: __alloc_pages, prepare_alloc_pages,
 * get_page_from_freelist, zone_watermark_fast/__zone_watermark_ok, rmqueue/rmqueue_buddy, prep_new_page,
 * __alloc_pages_slowpath, gfp_to_alloc_flags, __gfp_pfmemalloc_flags, warn_alloc; __free_pages,
 * free_pages_prepare, __free_pages_ok, free_unref_folios; alloc_pages_exact, split_page, get_free_pages).
 *
 * The free lists are in buddy.ts and the per-CPU lists in pcp.ts. The slow path runs in the kernel's order
 * (wake kswapd, retry with the min mark and reserve flags, direct compaction for costly orders, direct
 * reclaim, drain the pcp lists and unreserve highatomic, retry decisions, OOM, NOFAIL); reclaim, compaction,
 * kswapd and the OOM killer enter through `hooks`, which by default find nothing to do.
 * Departures: one node, no cpusets or mempolicies, no CMA; where the kernel would loop for ever (a NOFAIL
 * request that nothing can satisfy) the model gives up after a bounded number of rounds and says so in dmesg.
 */
import * as gfpH from '../gfp.js';
import { formatGfp, formatGfpMode } from '../gfp.js';
import type { ResolvedConfig } from '../config.js';
import * as buddyH from './buddy.js';
import type { Buddy } from './buddy.js';
import { compoundOrder, prepCompoundPage } from './compound.js';
import type { DirectMap, PhysMem } from './memory.js';
import * as pageH from './page.js';
import type { MemMap } from './page.js';
import type { Pcp } from './pcp.js';
import type { Printk } from './printk.js';
import * as schedH from './sched.js';
import { reportMightSleep, type Sched } from './sched.js';
import { dumpPage, showFreeAreas, type ShowMemState } from './show_mem.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_MM_PAGE_ALLOC, EV_MM_PAGE_FREE, EV_MM_PAGE_FREE_BATCHED } from '../trace/events.js';
import type { ModelStats, VmEvents } from './vmstat.js';
import * as zoneH from './zone.js';
import type { PerCpuPages, Zone } from './zone.js';
import type { Clock } from './clock.js';

// The imported constants as module-level consts: TurboFan folds a module's own consts (and the fields of a
// constant object such as GFP) into the code, but reads an imported binding from its module cell, with a
// check for the temporal dead zone, at every use; on the fast paths that adds up.
const { GFP, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, MIGRATE_HIGHATOMIC, MIGRATE_RECLAIMABLE } = gfpH;
const {
  ALLOC_CPUSET, ALLOC_HIGHATOMIC, ALLOC_WMARK_HIGH, ALLOC_KSWAPD, ALLOC_MIN_RESERVE, ALLOC_NO_WATERMARKS, ALLOC_NOFRAGMENT,
  ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_RESERVES, ALLOC_WMARK_LOW, ALLOC_WMARK_MASK, ALLOC_WMARK_MIN, FPI_NONE, FPI_TO_TAIL,
  pageblockMigratetype,
} = buddyH;
const {
  ALLOC_ORDER_MASK, ALLOC_ORDER_SHIFT, MAX_PAGE_ORDER, NO_PAGE, PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE,
  PG_FLAGS_MASK, PG_HEAD, PG_PFMEMALLOC, PG_TAIL, PG_RESERVED, PG_VCOMPOUND, PGTY_BUDDY, PGTY_HOLE, PGTY_MASK, PGTY_PCP, ZONE_MASK, ZONE_SHIFT,
} = pageH;
const { PF_MEMALLOC, PF_MEMALLOC_NOFS, PF_MEMALLOC_NOIO, PF_MODEL_FS_LOCK, PF_MODEL_IO_PATH } = schedH;
const { WMARK_MIN } = zoneH;

/** The gfp bits the fast paths test. */
const __GFP_DIRECT_RECLAIM = GFP.DIRECT_RECLAIM;
const __GFP_KSWAPD_RECLAIM = GFP.KSWAPD_RECLAIM;
const __GFP_ZERO = GFP.ZERO;
/** The gfp bits gfpFast is indexed by: __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32, __GFP_MOVABLE, __GFP_RECLAIMABLE. */
const GFP_FAST_BITS = 0x1f;
/** nopage_rs: warn_alloc's ratelimit (DEFAULT_RATELIMIT_INTERVAL 5 * HZ, DEFAULT_RATELIMIT_BURST 10). */
const NOPAGE_RS_INTERVAL_NS = 5_000_000_000;
const NOPAGE_RS_BURST = 10;
/** Task flags that take an allocation off the fast path: memalloc scopes, and the lockdep checks of fs locks. */
const PF_FAST_EXCLUDED = PF_MEMALLOC_NOFS | PF_MEMALLOC_NOIO | PF_MODEL_FS_LOCK | PF_MODEL_IO_PATH;

/** Model time an allocator entry point costs (ns): what stamps consecutive trace lines apart. */
const ENTRY_COST_NS = 250;
/** MAX_RECLAIM_RETRIES. */
const MAX_RECLAIM_RETRIES = 16;
/** The model's bound on NOFAIL rounds with no progress anywhere (the kernel would loop for ever). */
const NOFAIL_MAX_ROUNDS = 64;
/** The model's bound on retries of a !__GFP_FS request the OOM killer may not help (the kernel: for ever). */
const OOM_NOFS_MAX_ROUNDS = 16;
/** fastExtras bits. */
const FAST_EXTRA_POISON = 1;
const FAST_EXTRA_TRACE_ALLOC = 2;
const FAST_EXTRA_TRACE_FREE = 4;
/** What the free fast path leaves to the general path. */
const FAST_EXTRA_FREE = FAST_EXTRA_POISON | FAST_EXTRA_TRACE_FREE;
/** What the allocation fast path hands to prepNewPageRest(). */
const FAST_EXTRA_ALLOC = FAST_EXTRA_POISON | FAST_EXTRA_TRACE_ALLOC;
/** Model-only FPI flag: free_unref_folios() freeing, which traces mm_page_free_batched, not mm_page_free. */
const FPI_MODEL_BATCHED = 1 << 8;
/** Flags that take an order-0 free off the fast path: compound, reserved, typed, or handed out with another order. */
const FAST_FREE_MASK = PG_HEAD | PG_TAIL | PG_RESERVED | PGTY_MASK | ALLOC_ORDER_MASK;
/** PAGE_POISON: the byte a freed page is filled with under page_poison=1. */
export const PAGE_POISON = 0xaa;

/** Results of a direct compaction attempt (enum compact_result, the values the slow path tests). */
export type CompactResult = 'skipped' | 'deferred' | 'complete' | 'partial_skipped' | 'success' | 'not_suitable';

/**
 * Where later layers plug into the slow path. The defaults model a machine with nothing to reclaim or
 * compact: every attempt makes no progress, which is what the kernel does when LRU lists are empty.
 */
export interface SlowpathHooks {
  /** wake_all_kswapds(). */
  wakeKswapd(order: number, gfp: number, highestZoneidx: number): void;
  /** try_to_free_pages(): pages reclaimed. */
  directReclaim(gfp: number, order: number, highestZoneidx: number): number;
  /**
   * __alloc_pages_direct_compact(): compact, then take the captured block or try the freelists once more,
   * counting compact_stall/success/fail; `page` is the allocation when it worked.
   */
  directCompact(gfp: number, order: number, allocFlags: number, highestZoneidx: number, priority: number): { page: number; result: CompactResult };
  /** zone_reclaimable_pages(). */
  zoneReclaimablePages(zone: Zone): number;
  /**
   * out_of_memory(): 'killed' when a victim was killed and its memory freed, 'no_fs' when the request has
   * no __GFP_FS (the kernel then reports progress without killing), 'none' when there was nobody to kill.
   */
  outOfMemory(gfp: number, order: number, highestZoneidx: number): OomResult;
  /** Run the daemons an allocation woke (kswapd, kcompactd) once it is done. */
  runDaemons(): void;
  /**
   * vcompound_alloc() (seed 001, V1): 2^order order-0 pages from the freelists with these flags, vmap()ed and
   * formatted as a virtual compound page; its head, or NO_PAGE. Installed when the fallback policy is on.
   */
  vcompoundAlloc(gfp: number, order: number, allocFlags: number, highest: number, mt: number): number;
  /** vcompound_free() of a virtual compound whose last reference has gone. */
  vcompoundFree(head: number): void;
  /** free_pages() of an address outside the direct map: true if it was a virtual compound (and freed). */
  freeVirtualAddr(addr: number, order: number): boolean;
  /** vmalloc_address(): the virtual address of a page of a virtual compound. */
  vcompoundAddress(pfn: number): number;
}

export type OomResult = 'killed' | 'no_fs' | 'none';

/** With nothing to reclaim, kswapd's balance_pgdat() ends at once and drops any watermark boost. */
function noKswapd(zones: Zone[]): SlowpathHooks['wakeKswapd'] {
  return (_order, _gfp, highest) => {
    for (let z = 0; z <= highest; z++) zones[z].watermarkBoost = 0;
  };
}

const NO_HOOKS: Omit<SlowpathHooks, 'wakeKswapd'> = {
  directReclaim() {
    return 0;
  },
  directCompact() {
    return { page: NO_PAGE, result: 'skipped' };
  },
  zoneReclaimablePages() {
    return 0;
  },
  outOfMemory(gfp) {
    return gfp & GFP.FS ? 'none' : 'no_fs';
  },
  runDaemons() {},
  vcompoundAlloc() {
    return NO_PAGE;
  },
  vcompoundFree() {},
  freeVirtualAddr() {
    return false;
  },
  vcompoundAddress() {
    return 0;
  },
};

export interface PageAllocDeps {
  cfg: ResolvedConfig;
  mm: MemMap;
  zones: Zone[];
  buddy: Buddy;
  pcp: Pcp;
  mem: PhysMem;
  directMap: DirectMap;
  sched: Sched;
  clock: Clock;
  printk: Printk;
  trace: TraceBuffer;
  events: VmEvents;
  stats: ModelStats;
}

export class PageAlloc {
  readonly mm: MemMap;
  readonly zones: Zone[];
  readonly buddy: Buddy;
  readonly pcp: Pcp;
  hooks: SlowpathHooks;
  /** The reclaim state show_mem prints in failure reports (set by the machine). */
  showMemState: (() => ShowMemState) | undefined;
  /** Locks lockdep has already reported a reclaim dependency for. */
  private readonly lockdepReported = new Set<string>();
  /** A daemon was woken (kswapd, kcompactd): run it when the allocation returns. */
  daemonsPending = false;
  private readonly mem: PhysMem;
  private readonly directMap: DirectMap;
  private readonly sched: Sched;
  private readonly clock: Clock;
  private readonly printk: Printk;
  private readonly trace: TraceBuffer;
  private readonly events: VmEvents;
  private readonly stats: ModelStats;
  private readonly pagePoison: boolean;
  private readonly mobilityDisabled: boolean;
  /** gfp_zone() for the four zone-modifier bits: highest zone index, or -1 for a bad combination. */
  private readonly gfpZoneTable: Int8Array;
  /** Per highest usable zone: the preferred zone (first populated at or below it, first_zones_zonelist). */
  private readonly preferredZoneIdx: Int8Array;
  /** Per highest usable zone: ALLOC_NOFRAGMENT when the preferred zone is ZONE_NORMAL with a DMA32 below. */
  private readonly nofragFlags: Int32Array;
  /**
   * The fast path's gfp_zone(), preferred zone and gfp_migratetype() in one lookup, by the five low gfp bits
   * (the zone modifiers, __GFP_MOVABLE among them, and __GFP_RECLAIMABLE): the preferred zone in bits 0..2,
   * the highest usable zone in bits 3..5 and the migratetype in bits 6..7; -1 for a bad zone combination.
   */
  private readonly gfpFast: Int16Array;
  private readonly nrCpus: number;
  /**
   * Every zone's per_cpu_pages in one flat array (zone * nrCpus + cpu): the fast paths reach a CPU's lists
   * in one load instead of through the zone and its pcp array, which shortens the chain of dependent loads
   * ahead of the list's head.
   */
  private readonly pcpOf: PerCpuPages[];
  /**
   * Beside pcpOf, by the same index: the first list head of each per_cpu_pages. A list's head is then a sum
   * (this_cpu_ptr() is address arithmetic in the kernel too) that does not wait for the pcp object's load.
   */
  private readonly pcpLists: Int32Array;
  // Objects the fast paths use, held here so that each is one load away (they are never replaced).
  private readonly traceOn: TraceBuffer['on'];
  /**
   * What makes the fast paths do more than the common case (FAST_EXTRA_*): page poisoning, or mm_page_alloc
   * or mm_page_free traced. Re-derived whenever tracing is switched (trace.onToggle), so that the fast paths
   * test one number, as the kernel's static keys leave one patched branch.
   */
  private fastExtras = 0;
  // mem_map arrays, held directly for the fast paths.
  private readonly flags: Uint32Array;
  private readonly refcount: Int32Array;
  private readonly mapping: Int32Array;
  private readonly priv: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly nrPages: number;
  /** zone->pageblock_flags, for the free path's get_pageblock_migratetype() without a call into buddy.ts. */
  private readonly pageblockFlags: Uint8Array;
  private readonly pageblockOrder: number;
  /** Pages taken under ALLOC_NO_WATERMARKS get PG_pfmemalloc (3.6 on; policy reserves != none). */
  private readonly markPfmemalloc: boolean;
  /** __GFP_VFALLBACK under CONFIG_VIRTUALIZE_ALWAYS (policy fallback=always): such requests of order > 0 go virtual. */
  private readonly forceVirtualGfp: number;

  constructor(d: PageAllocDeps) {
    this.mm = d.mm;
    this.zones = d.zones;
    this.hooks = { ...NO_HOOKS, wakeKswapd: noKswapd(d.zones) };
    this.buddy = d.buddy;
    this.pcp = d.pcp;
    this.mem = d.mem;
    this.directMap = d.directMap;
    this.sched = d.sched;
    this.clock = d.clock;
    this.printk = d.printk;
    this.trace = d.trace;
    this.events = d.events;
    this.stats = d.stats;
    this.pagePoison = d.cfg.pagePoison;
    this.mobilityDisabled = d.buddy.mobilityDisabled;
    this.gfpZoneTable = buildGfpZoneTable(d.zones.map((z) => z.type));
    const types = d.zones.map((z) => z.type);
    // alloc_flags_nofragment(): keep ZONE_NORMAL's pageblocks unmixed when ZONE_DMA32 exists below it.
    const nofragZone = types.includes('DMA32') ? types.indexOf('Normal') : -1;
    this.preferredZoneIdx = new Int8Array(d.zones.length);
    this.nofragFlags = new Int32Array(d.zones.length);
    for (let h = 0; h < d.zones.length; h++) {
      let z = h;
      while (z > 0 && !d.zones[z].managed) z--;
      this.preferredZoneIdx[h] = z;
      this.nofragFlags[h] = z === nofragZone ? ALLOC_NOFRAGMENT : 0;
    }
    this.gfpFast = new Int16Array(GFP_FAST_BITS + 1);
    for (let g = 0; g <= GFP_FAST_BITS; g++) {
      const h = this.gfpZone(g);
      this.gfpFast[g] = h < 0 ? -1 : this.preferredZoneIdx[h] | (h << 3) | (this.gfpMigratetype(g) << 6);
    }
    this.nrCpus = d.cfg.nrCpus;
    this.pcpOf = [];
    for (const z of d.zones) for (const pcp of z.pcp) this.pcpOf.push(pcp); // packed: no hole checks on the fast paths
    this.pcpLists = Int32Array.from(this.pcpOf, (pcp) => pcp.lists);
    this.traceOn = d.trace.on;
    d.trace.onToggle(() => {
      this.fastExtras = (this.pagePoison ? FAST_EXTRA_POISON : 0) | (this.traceOn.mm_page_alloc ? FAST_EXTRA_TRACE_ALLOC : 0) |
        (this.traceOn.mm_page_free ? FAST_EXTRA_TRACE_FREE : 0);
    });
    this.flags = d.mm.flags;
    this.refcount = d.mm.refcount;
    this.mapping = d.mm.mapping;
    this.priv = d.mm.private_;
    this.next = d.mm.next;
    this.prev = d.mm.prev;
    this.nrPages = d.mm.nrPages;
    this.pageblockFlags = d.buddy.pageblockFlags;
    this.pageblockOrder = d.buddy.pageblockOrder;
    this.forceVirtualGfp = d.cfg.policy.fallback === 'always' ? GFP.VFALLBACK : 0;
    this.markPfmemalloc = d.cfg.policy.reserves !== 'none';
  }

  /** gfp_zone(): the highest zone the request may use; -1 for a contradictory modifier combination. */
  gfpZone(gfp: number): number {
    return this.gfpZoneTable[gfp & 0xf];
  }

  /** gfp_migratetype(), with grouping by mobility possibly disabled. */
  gfpMigratetype(gfp: number): number {
    return this.mobilityDisabled ? MIGRATE_UNMOVABLE : (gfp & (GFP.RECLAIMABLE | GFP.MOVABLE)) >>> 3;
  }

  // --- allocation -----------------------------------------------------------------------------------

  /** __alloc_pages(): a block of 2^order pages, or NO_PAGE. */
  allocPages(gfp: number, order: number): number {
    // Order 0 first, through the fast path (CONFIG_VIRTUALIZE_ALWAYS virtualizes only order > 0).
    if (order === 0) {
      const pfn = this.allocPcpFast(gfp);
      if (pfn !== NO_PAGE) return pfn;
    }
    return this.allocPagesSlow(gfp, order);
  }

  /**
   * The common case without the general machinery, for order 0 (most page allocations; orders 1..3 take
   * the general path through the same per-CPU lists): no memalloc scope, nothing to report, and a non-empty
   * list on this CPU in the preferred zone above its low mark. It decides before it changes anything (but
   * the ZONE_BELOW_HIGH mark, which the general path sets the same way) and then does what the general path
   * does (rmqueue_pcplist without a refill, the accounting of rmqueue, prep_new_page), written out here so
   * that it compiles to one function without calls; otherwise it returns NO_PAGE.
   */
  private allocPcpFast(gfp: number): number {
    const s = this.sched;
    if (s.current.flags & PF_FAST_EXCLUDED || (gfp & __GFP_DIRECT_RECLAIM && (s.preemptCount !== 0 || s.irqsDisabled))) return NO_PAGE;
    const g = this.gfpFast[gfp & GFP_FAST_BITS];
    if (g < 0) return NO_PAGE; // gfp_zone(): a bad combination of zone modifiers
    const mt = g >> 6;
    const pi = (g & 7) * this.nrCpus + s.cpu;
    const list = this.pcpLists[pi] + mt; // order_to_pindex(mt, 0)
    const next = this.next;
    const pfn = next[list];
    if (pfn === list) return NO_PAGE; // (a zone without managed pages has nothing on its lists)
    const pcp = this.pcpOf[pi];
    const zone = pcp.zone;
    // zone_watermark_fast()'s order-0 test, against the high mark (ZONE_BELOW_HIGH) and the low mark.
    const free = zone.freePages;
    const usable = free - Math.min(free, zone.nrFreeHighatomic);
    const reserve = zone.lowmemReserve[(g >> 3) & 7];
    if (usable <= zone.wmarkHigh() + reserve && !zone.belowHigh) this.pcp.setBelowHigh(zone);
    if (usable <= zone.wmarkLow() + reserve) return NO_PAGE;
    this.clock.ns += ENTRY_COST_NS;
    // rmqueue_pcplist(): shrink the batch the next frees will drain, and take the list's head (cache-hot):
    // list_del() of the first entry, whose prev is the head.
    pcp.freeCount >>= 1;
    const n = next[pfn];
    next[list] = n;
    this.prev[n] = list;
    pcp.count--;
    // rmqueue(): vm events (this CPU's: the request, pgalloc), NUMA statistics, and the kswapd wake a boosted
    // watermark asked for (the request's ALLOC_KSWAPD is its __GFP_KSWAPD_RECLAIM, bit for bit).
    pcp.nrAlloc++;
    if (gfp & __GFP_KSWAPD_RECLAIM && zone.boostedWatermark) this.wakeKswapdBoosted(zone);
    // prep_new_page(): refcount 1, the pcp type and private cleared, the order (0) recorded; then the rest.
    this.refcount[pfn] = 1;
    this.priv[pfn] = 0;
    this.flags[pfn] &= ZONE_MASK;
    if (gfp & __GFP_ZERO || this.fastExtras & FAST_EXTRA_ALLOC) this.prepNewPageRest(pfn, gfp, mt);
    return pfn;
  }

  /** The rest of prep_new_page() on the fast path: poison check, zeroing, the trace (order 0: never compound). */
  private prepNewPageRest(pfn: number, gfp: number, mt: number): void {
    if (this.pagePoison) this.checkPoison(pfn, 0);
    if (gfp & __GFP_ZERO) this.mem.zero(pfn, 1);
    if (this.traceOn.mm_page_alloc) this.traceAlloc(pfn, 0, gfp, mt);
  }

  private allocPagesSlow(gfp: number, order: number): number {
    this.clock.ns += ENTRY_COST_NS;
    if (order > MAX_PAGE_ORDER || order < 0) {
      // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER): too large for the buddy allocator at all.
      if (!(gfp & GFP.NOWARN)) this.printk.warn('WARNING', [`WARNING: CPU: ${this.sched.current.cpu} PID: ${this.sched.current.pid} at mm/page_alloc.c:__alloc_pages_noprof: order ${order} > MAX_PAGE_ORDER (${MAX_PAGE_ORDER})`]);
      return NO_PAGE;
    }
    gfp = this.sched.currentGfpContext(gfp);
    if (gfp & GFP.DIRECT_RECLAIM && (this.sched.preemptCount !== 0 || this.sched.irqsDisabled)) this.mightSleep();
    if (this.sched.current.flags & (PF_MODEL_FS_LOCK | PF_MODEL_IO_PATH)) this.fsReclaimMightLock(gfp);
    const highest = this.gfpZoneTable[gfp & 0xf];
    if (highest < 0) {
      this.printk.bug('gfp_zone', [`kernel BUG at include/linux/gfp.h: gfp_zone(): bad zone modifier combination in gfp_flags=${formatGfp(gfp)}`]);
      return NO_PAGE;
    }
    const mt = this.mobilityDisabled ? MIGRATE_UNMOVABLE : (gfp & (GFP.RECLAIMABLE | GFP.MOVABLE)) >>> 3;
    this.stats.allocRequests[order]++;
    const allocFlags = ALLOC_WMARK_LOW | (gfp & GFP.KSWAPD_RECLAIM) | this.nofragFlags[highest];
    let pfn = NO_PAGE;
    // CONFIG_VIRTUALIZE_ALWAYS: a __GFP_VFALLBACK request of order > 0 is served virtually whatever is free
    // (the series' testing aid), unless the virtual path refuses (stage 1 in interrupt context).
    if (gfp & this.forceVirtualGfp && order > 0) pfn = this.hooks.vcompoundAlloc(gfp, order, allocFlags, highest, mt);
    if (pfn === NO_PAGE) pfn = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt);
    if (pfn === NO_PAGE) pfn = this.slowpath(gfp, order, highest, mt);
    if (pfn === NO_PAGE) {
      this.stats.allocFailures[order]++;
      if (!this.gfpPfmemallocAllowed(gfp) && this.freePagesUpTo(highest) >= 1 << order) this.stats.reserveRefused++;
    }
    if (this.trace.on.mm_page_alloc) this.traceAlloc(pfn, order, gfp, mt);
    if (this.daemonsPending) {
      this.daemonsPending = false;
      this.hooks.runDaemons();
    }
    return pfn;
  }

  /**
   * get_page_from_freelist(): walk the zonelist from the highest allowed zone down; the first zone whose
   * watermark allows it serves the request. ALLOC_NOFRAGMENT is dropped for a second pass.
   */
  getPageFromFreelist(gfp: number, order: number, allocFlags: number, highest: number, mt: number): number {
    const zones = this.zones;
    for (;;) {
      for (let z = highest; z >= 0; z--) {
        const zone = zones[z];
        if (!zone.managed) continue;
        // ZONE_BELOW_HIGH feeds the pcp high tuning (pcp.ts).
        if (!zone.belowHigh && !this.zoneWatermarkFast(zone, order, zone.watermark[2] + zone.watermarkBoost, highest, allocFlags)) {
          this.pcp.setBelowHigh(zone);
        }
        const mark = zone.watermark[allocFlags & ALLOC_WMARK_MASK] + zone.watermarkBoost;
        if (!this.zoneWatermarkFast(zone, order, mark, highest, allocFlags) && !(allocFlags & ALLOC_NO_WATERMARKS)) continue;
        const pfn = this.rmqueue(zone, order, allocFlags, mt);
        if (pfn !== NO_PAGE) {
          this.prepNewPage(pfn, order, gfp, allocFlags);
          if (allocFlags & ALLOC_HIGHATOMIC) this.buddy.reserveHighatomicPageblock(pfn, order, zone);
          return pfn;
        }
      }
      if (!(allocFlags & ALLOC_NOFRAGMENT)) return NO_PAGE;
      allocFlags &= ~ALLOC_NOFRAGMENT;
    }
  }

  /** zone_watermark_fast(): an order-0 shortcut before the full check. */
  private zoneWatermarkFast(z: Zone, order: number, mark: number, highest: number, allocFlags: number): boolean {
    const free = z.freePages;
    if (order === 0) {
      const reserved = allocFlags & ALLOC_RESERVES ? 0 : z.nrFreeHighatomic;
      const usable = free - Math.min(free, reserved);
      if (usable > mark + z.lowmemReserve[highest]) return true;
    }
    if (this.zoneWatermarkOk(z, order, mark, highest, allocFlags, free)) return true;
    // __GFP_HIGH order-0 requests ignore watermark boosting at the min mark.
    if (order === 0 && allocFlags & ALLOC_MIN_RESERVE && z.watermarkBoost && (allocFlags & ALLOC_WMARK_MASK) === ALLOC_WMARK_MIN) {
      return this.zoneWatermarkOk(z, 0, z.watermark[WMARK_MIN], highest, allocFlags, free);
    }
    return false;
  }

  /**
   * __zone_watermark_ok(): free pages, less what this request cannot use, must stay above the mark (lowered
   * for reserve-entitled requests) plus the lowmem reserve; a high order also needs a free block of at
   * least that order on a list the request may take from.
   */
  zoneWatermarkOk(z: Zone, order: number, mark: number, highest: number, allocFlags: number, free: number): boolean {
    let min = mark;
    free -= (1 << order) - 1;
    if (!(allocFlags & ALLOC_RESERVES)) free -= z.nrFreeHighatomic;
    if (allocFlags & ALLOC_RESERVES) {
      if (allocFlags & ALLOC_MIN_RESERVE) {
        min -= Math.trunc(min / 2);
        if (allocFlags & ALLOC_NON_BLOCK) min -= Math.trunc(min / 4);
      }
      if (allocFlags & ALLOC_OOM) min -= Math.trunc(min / 2);
    }
    if (free <= min + z.lowmemReserve[highest]) return false;
    if (order === 0) return true;
    const lists = z.nrFreeList;
    for (let o = order; o <= MAX_PAGE_ORDER; o++) {
      if (!z.nrFree[o]) continue;
      const base = o * 5;
      if (lists[base] || lists[base + 1] || lists[base + 2]) return true;
      if (allocFlags & (ALLOC_HIGHATOMIC | ALLOC_OOM) && lists[base + MIGRATE_HIGHATOMIC]) return true;
    }
    return false;
  }

  /** rmqueue(): pcp orders from this CPU's lists, others (and pcp misses) from the buddy lists. */
  private rmqueue(zone: Zone, order: number, allocFlags: number, mt: number): number {
    let pfn = NO_PAGE;
    if (this.buddy.pcpAllowedOrder(order)) pfn = this.pcp.rmqueuePcplist(zone, this.sched.current.cpu, order, mt, allocFlags);
    if (pfn === NO_PAGE) pfn = this.rmqueueBuddy(zone, order, allocFlags, mt);
    if (pfn !== NO_PAGE) this.accountAlloc(zone, order, allocFlags);
    return pfn;
  }

  /** The end of rmqueue(): vm events, NUMA statistics, and the kswapd wake a boosted watermark asked for. */
  private accountAlloc(zone: Zone, order: number, allocFlags: number): void {
    this.events.pgalloc[zone.idx] += 1 << order;
    zone.vmNumaHit++;
    if (allocFlags & ALLOC_KSWAPD && zone.boostedWatermark) this.wakeKswapdBoosted(zone);
  }

  /** ZONE_BOOSTED_WATERMARK was set by a fallback: clear it and wake kswapd. */
  private wakeKswapdBoosted(zone: Zone): void {
    zone.boostedWatermark = false;
    this.hooks.wakeKswapd(0, 0, zone.idx);
  }

  /** rmqueue_buddy(): HIGHATOMIC first when asked; HIGHATOMIC last for OOM and non-blocking callers. */
  private rmqueueBuddy(zone: Zone, order: number, allocFlags: number, mt: number): number {
    let pfn = NO_PAGE;
    if (allocFlags & ALLOC_HIGHATOMIC) pfn = this.buddy.rmqueueSmallest(zone, order, MIGRATE_HIGHATOMIC);
    if (pfn === NO_PAGE) {
      pfn = this.pcp.rmqueue(zone, order, mt, allocFlags);
      if (pfn === NO_PAGE && allocFlags & (ALLOC_OOM | ALLOC_NON_BLOCK)) pfn = this.buddy.rmqueueSmallest(zone, order, MIGRATE_HIGHATOMIC);
    }
    return pfn;
  }

  /** prep_new_page(): refcount 1, poison checked, zeroed if asked, compound if asked, pfmemalloc marked. */
  prepNewPage(pfn: number, order: number, gfp: number, allocFlags: number): void {
    const mm = this.mm;
    mm.refcount[pfn] = 1;
    mm.private_[pfn] = 0;
    mm.flags[pfn] = (mm.flags[pfn] & ZONE_MASK) | (order << ALLOC_ORDER_SHIFT);
    if (this.pagePoison) this.checkPoison(pfn, order);
    if (gfp & GFP.ZERO) this.mem.zero(pfn, 1 << order);
    if (order && gfp & GFP.COMP) prepCompoundPage(mm, pfn, order);
    if (allocFlags & ALLOC_NO_WATERMARKS) {
      // Before 3.6 (reserves=none) a page taken from the reserve was not marked: nothing downstream knew.
      if (this.markPfmemalloc) mm.flags[pfn] |= PG_PFMEMALLOC;
      this.stats.pfmemallocAllocs++;
      this.stats.pfmemallocPages += 1 << order;
    }
  }

  /** check_poison_mem(): a freed page must still hold PAGE_POISON when it is handed out again. */
  private checkPoison(pfn: number, order: number): void {
    for (let i = 0; i < 1 << order; i++) {
      if (!this.mem.frame(pfn + i)) continue;
      const off = this.mem.findNot(pfn + i, PAGE_POISON);
      if (off < 0) continue;
      this.printk.bug('pagealloc: memory corruption', [
        'pagealloc: memory corruption',
        `pagealloc: single bit error or write after free at pfn 0x${(pfn + i).toString(16)} offset 0x${off.toString(16)}`,
        ...dumpPage(this.mm, pfn + i, 'pagealloc: corrupted page details'),
      ]);
      this.mem.fill(pfn + i, 1, PAGE_POISON);
    }
  }

  /** gfp_to_alloc_flags(): the slow path's flags: min mark, __GFP_HIGH's reserve, non-blocking reserve. */
  gfpToAllocFlags(gfp: number, order: number): number {
    let f = ALLOC_WMARK_MIN | ALLOC_CPUSET;
    // __GFP_HIGH == ALLOC_MIN_RESERVE and __GFP_KSWAPD_RECLAIM == ALLOC_KSWAPD, bit for bit.
    f |= gfp & (GFP.HIGH | GFP.KSWAPD_RECLAIM);
    if (!(gfp & GFP.DIRECT_RECLAIM)) {
      if (!(gfp & GFP.NOMEMALLOC)) {
        f |= ALLOC_NON_BLOCK;
        if (order > 0 && f & ALLOC_MIN_RESERVE) f |= ALLOC_HIGHATOMIC;
      }
      if (f & ALLOC_MIN_RESERVE) f &= ~ALLOC_CPUSET;
    }
    return f;
  }

  /** Free pages of the zones a request up to zone `highest` may use (a failure with them there was refused the reserve). */
  private freePagesUpTo(highest: number): number {
    let n = 0;
    for (let z = highest; z >= 0; z--) n += this.zones[z].freePages;
    return n;
  }

  /** __gfp_pfmemalloc_flags(): who may ignore the watermarks. NOMEMALLOC wins over everything. */
  gfpPfmemallocFlags(gfp: number): number {
    if (gfp & GFP.NOMEMALLOC) return 0;
    if (gfp & GFP.MEMALLOC) return ALLOC_NO_WATERMARKS;
    const s = this.sched;
    // The softirq rule came with pfmemalloc (3.6); before, interrupt context never had the reserves.
    if (s.inServingSoftirq() && s.current.flags & PF_MEMALLOC && this.markPfmemalloc) return ALLOC_NO_WATERMARKS;
    if (!s.inInterrupt() && s.current.flags & PF_MEMALLOC) return ALLOC_NO_WATERMARKS;
    return 0;
  }

  /** gfp_pfmemalloc_allowed(). */
  gfpPfmemallocAllowed(gfp: number): boolean {
    return this.gfpPfmemallocFlags(gfp) !== 0;
  }

  /** __alloc_pages_slowpath(). */
  private slowpath(gfp: number, order: number, highest: number, mt: number): number {
    this.stats.slowpath++;
    const canDirectReclaim = (gfp & GFP.DIRECT_RECLAIM) !== 0;
    const canCompact = (gfp & GFP.IO) !== 0; // gfp_compaction_allowed()
    const nofail = (gfp & GFP.NOFAIL) !== 0;
    const costly = order > PAGE_ALLOC_COSTLY_ORDER;
    let allocFlags = this.gfpToAllocFlags(gfp, order);
    let noProgressLoops = 0;
    let drained = false;
    let compactPriority = 2; // INIT_COMPACT_PRIORITY (COMPACT_PRIO_ASYNC)
    let compactResult: CompactResult = 'skipped';
    let nofailRounds = 0;
    let oomRetries = 0;
    let page: number;

    if (allocFlags & ALLOC_KSWAPD) this.hooks.wakeKswapd(order, gfp, highest);
    page = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt);
    if (page !== NO_PAGE) return page;

    // Costly and unmovable high orders try compaction before reclaim: free pages may be there, scattered.
    if (canDirectReclaim && canCompact && (costly || (order > 0 && mt !== MIGRATE_MOVABLE)) && !this.gfpPfmemallocAllowed(gfp)) {
      const c = this.directCompact(gfp, order, allocFlags, highest, compactPriority);
      if (c.page !== NO_PAGE) return c.page;
      compactResult = c.result;
      if (costly && gfp & GFP.NORETRY) {
        if (compactResult === 'skipped' || compactResult === 'deferred') return this.nopage(gfp, order, allocFlags, highest, mt);
        compactPriority = 2;
      }
    }

    for (;;) {
      if (allocFlags & ALLOC_KSWAPD) this.hooks.wakeKswapd(order, gfp, highest);
      const reserveFlags = this.gfpPfmemallocFlags(gfp);
      if (reserveFlags) allocFlags = reserveFlags | (allocFlags & ALLOC_KSWAPD);
      page = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt);
      if (page !== NO_PAGE) return page;
      if (!canDirectReclaim) break;
      // Avoid recursing into reclaim from reclaim.
      if (this.sched.current.flags & PF_MEMALLOC) break;

      // __alloc_pages_direct_reclaim(): reclaim, retry; on failure unreserve highatomic, drain pcps, retry.
      this.events.allocstall[highest]++;
      const progress = this.hooks.directReclaim(gfp, order, highest);
      for (;;) {
        page = progress ? this.getPageFromFreelist(gfp, order, allocFlags, highest, mt) : NO_PAGE;
        if (page !== NO_PAGE || drained) break;
        this.buddy.unreserveHighatomicPageblock(highest, mt, false);
        this.pcp.drainAll();
        drained = true;
        page = this.getPageFromFreelist(gfp, order, allocFlags, highest, mt);
        break;
      }
      if (page !== NO_PAGE) return page;

      const c = this.directCompact(gfp, order, allocFlags, highest, compactPriority);
      if (c.page !== NO_PAGE) return c.page;
      compactResult = c.result;

      if (gfp & GFP.NORETRY) break;
      if (costly && (!canCompact || !(gfp & GFP.RETRY_MAYFAIL))) break;
      if (this.shouldReclaimRetry(order, highest, mt, allocFlags, progress > 0, ++noProgressLoops)) {
        if (progress > 0 && order <= PAGE_ALLOC_COSTLY_ORDER) noProgressLoops = 0;
        continue;
      }
      if (progress > 0 && canCompact && compactResult !== 'skipped' && compactPriority > 0) {
        compactPriority--; // should_compact_retry(): escalate priority
        continue;
      }
      // __alloc_pages_may_oom(): a last try at the high mark (someone else may have freed memory), then,
      // not for costly orders, RETRY_MAYFAIL or THISNODE, the OOM killer.
      page = this.getPageFromFreelist(gfp, order, ALLOC_WMARK_HIGH | ALLOC_CPUSET, highest, mt);
      if (page !== NO_PAGE) return page;
      if (order && gfp & GFP.VFALLBACK) {
        // V1's first fallback point, after the high-mark attempt. A costly order then fails at once (the OOM
        // killer will not help it), without the last chance below.
        page = this.hooks.vcompoundAlloc(gfp, order, allocFlags, highest, mt);
        if (page !== NO_PAGE) return page;
        if (costly) {
          this.warnAlloc(gfp, order);
          return NO_PAGE;
        }
      }
      if (!costly && !(gfp & (GFP.RETRY_MAYFAIL | GFP.THISNODE))) {
        const oom = this.hooks.outOfMemory(gfp, order, highest);
        if (oom === 'killed') {
          noProgressLoops = 0;
          continue;
        }
        // out_of_memory() claims progress without killing for !__GFP_FS ("does not compensate for IO-less
        // reclaim"): the kernel retries such a small request for ever; the model stops after a while.
        if (oom === 'no_fs' && !nofail) {
          if (++oomRetries < OOM_NOFS_MAX_ROUNDS) {
            noProgressLoops = 0;
            continue;
          }
          this.printk.warn('NOFS OOM', [`mmlab: order:${order}, mode:${formatGfpMode(gfp)} cannot invoke the OOM killer without __GFP_FS and makes no progress: the kernel would retry here for ever; failing it instead`]);
          break;
        }
      }
      if (!nofail) break;
      // NOFAIL: give access to the min-reserve and keep trying (the kernel loops until it succeeds).
      page = this.getPageFromFreelist(gfp, order, ALLOC_MIN_RESERVE | ALLOC_WMARK_MIN, highest, mt);
      if (page !== NO_PAGE) return page;
      if (++nofailRounds >= NOFAIL_MAX_ROUNDS) {
        this.printk.warn('NOFAIL', [`mmlab: __GFP_NOFAIL allocation order:${order}, mode:${formatGfpMode(gfp)} can make no progress: the kernel would loop here for ever; failing it instead`]);
        break;
      }
    }
    return this.nopage(gfp, order, allocFlags, highest, mt);
  }

  private directCompact(gfp: number, order: number, allocFlags: number, highest: number, priority: number): { page: number; result: CompactResult } {
    if (order === 0) return { page: NO_PAGE, result: 'skipped' };
    // The hook has already retried the freelists after compacting (compaction.ts counts the outcome).
    return this.hooks.directCompact(gfp, order, allocFlags, highest, priority);
  }

  /**
   * should_reclaim_retry(): keep going while some zone would pass the min mark if everything reclaimable
   * were freed, for at most MAX_RECLAIM_RETRIES rounds without progress; before giving up, release the
   * highatomic reserve.
   */
  private shouldReclaimRetry(order: number, highest: number, mt: number, allocFlags: number, progress: boolean, loops: number): boolean {
    if (loops <= MAX_RECLAIM_RETRIES || (progress && order <= PAGE_ALLOC_COSTLY_ORDER)) {
      for (let z = highest; z >= 0; z--) {
        const zone = this.zones[z];
        if (!zone.managed) continue;
        const available = this.hooks.zoneReclaimablePages(zone) + zone.freePages;
        // Only progress makes a retry worthwhile when nothing is reclaimable at all.
        if (this.zoneWatermarkOk(zone, order, zone.wmarkMin(), highest, allocFlags, available) && (progress || this.hooks.zoneReclaimablePages(zone) > 0)) return true;
      }
    }
    return this.buddy.unreserveHighatomicPageblock(highest, mt, true);
  }

  /** The end of the slow path; with __GFP_VFALLBACK, V1's "last chance before failing" (atomic requests too). */
  private nopage(gfp: number, order: number, allocFlags: number, highest: number, mt: number): number {
    if (order && gfp & GFP.VFALLBACK) {
      const page = this.hooks.vcompoundAlloc(gfp, order, allocFlags, highest, mt);
      if (page !== NO_PAGE) return page;
    }
    this.warnAlloc(gfp, order);
    return NO_PAGE;
  }

  /**
   * __ratelimit(&nopage_rs): at most DEFAULT_RATELIMIT_BURST (10) reports per DEFAULT_RATELIMIT_INTERVAL
   * (5 s); a new interval first says how many were suppressed.
   */
  private nopageRatelimit(): boolean {
    const rs = this.nopageRs;
    const now = this.clock.ns;
    if (now - rs.begin >= NOPAGE_RS_INTERVAL_NS) {
      if (rs.missed) this.printk.printk(`warn_alloc: ${rs.missed} callbacks suppressed`);
      rs.begin = now;
      rs.printed = 0;
      rs.missed = 0;
    }
    if (rs.printed < NOPAGE_RS_BURST) {
      rs.printed++;
      return true;
    }
    rs.missed++;
    return false;
  }
  private readonly nopageRs = { begin: 0, printed: 0, missed: 0 };

  /** warn_alloc() for a page allocation: the kernel's failure report, unless __GFP_NOWARN. */
  warnAlloc(gfp: number, order: number): void {
    this.warnAllocMsg(gfp, 'page allocation failure', `page allocation failure: order:${order}`);
  }

  /** warn_alloc(gfp, NULL, fmt, ...): `comm: <message>, mode:...`, the CPU line and the free areas. */
  warnAllocMsg(gfp: number, kind: string, message: string): void {
    if (gfp & GFP.NOWARN || !this.nopageRatelimit()) return;
    const t = this.sched.current;
    this.printk.warn(kind, [
      `${t.comm}: ${message}, mode:${formatGfpMode(gfp)}, nodemask=(null)`,
      `CPU: ${t.cpu} UID: 0 PID: ${t.pid} Comm: ${t.comm} Not tainted 6.18.0-mmlab #1`,
      ...showFreeAreas(this.zones, this.gfpZoneTable[gfp & 0xf], this.showMemState?.()),
    ]);
  }

  private traceAlloc(pfn: number, order: number, gfp: number, mt: number): void {
    this.trace.record(EV_MM_PAGE_ALLOC, pfn, order, mt, gfp);
  }

  /**
   * fs_reclaim_acquire() under lockdep (mm/page_alloc.c __need_reclaim, kernel/locking/lockdep.c): an
   * allocation that may enter direct reclaim with __GFP_FS, by a task holding a filesystem lock, closes the
   * cycle lock -> fs_reclaim -> (shrinker) -> lock; so does __GFP_IO on the block IO path (the model's
   * analogue for swap IO). Lockdep reports the dependency the first time it is seen, whether or not reclaim
   * runs this time. One report per lock.
   */
  private fsReclaimMightLock(gfp: number): void {
    const t = this.sched.current;
    if (!(gfp & GFP.DIRECT_RECLAIM) || t.flags & PF_MEMALLOC || !t.locks) return;
    const held = t.locks.find((l) => (l.io ? gfp & GFP.IO : gfp & GFP.FS) && !this.lockdepReported.has(l.name));
    if (!held) return;
    this.lockdepReported.add(held.name);
    const L = held.name;
    const viaReclaim = held.io
      ? ['submit_bio', 'swap_writepage', 'pageout', 'shrink_folio_list', 'shrink_node', 'do_try_to_free_pages']
      : ['super_cache_scan', 'do_shrink_slab', 'shrink_slab', 'shrink_node', 'do_try_to_free_pages'];
    this.printk.warn('possible circular locking dependency', [
      '',
      '======================================================',
      'WARNING: possible circular locking dependency detected',
      '6.18.0-mmlab #1 Not tainted',
      '------------------------------------------------------',
      `${t.comm}/${t.pid} is trying to acquire lock:`,
      `ffffffff82a5c5e0 (fs_reclaim){+.+.}-{0:0}, at: __fs_reclaim_acquire+0x0/0x30`,
      '',
      'but task is already holding lock:',
      `ffff888100a3e8b0 (${L}){++++}-{4:4}, at: ${held.io ? 'blk_mq_submit_bio' : 'inode_lock'}`,
      '',
      'which lock already depends on the new lock.',
      '',
      '',
      'the existing dependency chain (in reverse order) is:',
      '',
      `-> #1 (${L}){++++}-{4:4}:`,
      ...viaReclaim.map((f) => `       ${f}`),
      '',
      '-> #0 (fs_reclaim){+.+.}-{0:0}:',
      '       __fs_reclaim_acquire',
      '       prepare_alloc_pages',
      '       __alloc_pages_noprof',
      '',
      'other info that might help us debug this:',
      '',
      ' Possible unsafe locking scenario:',
      '',
      '       CPU0                    CPU1',
      '       ----                    ----',
      `  lock(${L});`,
      '                               lock(fs_reclaim);',
      `                               lock(${L});`,
      '  lock(fs_reclaim);',
      '',
      ' *** DEADLOCK ***',
      '',
      `${t.locks.length} lock${t.locks.length > 1 ? 's' : ''} held by ${t.comm}/${t.pid}:`,
      ...t.locks.map((l, i) => ` #${i}: ffff888100a3e8b0 (${l.name}){++++}-{4:4}`),
      '',
      `gfp_mask=${formatGfpMode(gfp)}: an allocation under this lock may recurse into the ${held.io ? 'block IO path through swap-out' : 'filesystem through reclaim'}; use ${held.io ? 'GFP_NOIO or memalloc_noio_save()' : 'GFP_NOFS or memalloc_nofs_save()'}`,
    ]);
  }

  /** __might_resched(): a blocking allocation from atomic context. */
  private mightSleep(): void {
    reportMightSleep(this.sched, this.printk, 'include/linux/sched/mm.h:321');
  }

  // --- freeing --------------------------------------------------------------------------------------

  /**
   * __free_pages(): drop the caller's reference; the last one frees the block. If someone else still holds
   * the first page of a non-compound block, the rest of the block is freed now and the first page later.
   */
  freePages(pfn: number, order: number): void {
    if (order !== 0 || !this.freePcpFast(pfn)) this.freePagesSlow(pfn, order);
  }

  /**
   * The common case, order 0 as on the allocation fast path: the last reference to a clean page from a pcp
   * pageblock type, nothing traced or poisoned. free_pages_prepare() and free_frozen_pages() in one place: the
   * page goes straight to its pcp state (PGTY_PCP, private = order 0), then free_unref_page_commit(); false,
   * and nothing changed, for anything else (orders 1..3 and HIGHATOMIC or isolated pageblocks included), which
   * takes the general path.
   *
   * Why apart from freePages(): TurboFan inlines a loop's calls, the most frequent first, within 920 bytes of
   * bytecode per optimized function, counting a candidate at 1.2x its bytecode plus what its own optimized
   * code inlined. With the general path in the same function, that code could include freePagesSlow() (after
   * boot's frees, say), and a loop of alloc+free pairs whose alloc_pages() TurboFan happened to take first
   * then had no budget left for the free: a call per free, some 5 ns more per pair, in about one process in
   * three. Apart, this path's own code inlines free_unref_page_commit() only: about 1.2 x (300 + 340) bytes,
   * which fits beside the loop's other calls (about 110 bytes) in either order.
   */
  private freePcpFast(pfn: number): boolean {
    const flags = this.flags;
    const f = flags[pfn];
    if ((pfn >>> 0) !== pfn || pfn >= this.nrPages || this.refcount[pfn] !== 1 || (f & FAST_FREE_MASK) !== 0 ||
        this.mapping[pfn] !== 0 || (this.fastExtras & FAST_EXTRA_FREE) !== 0) return false;
    const mt = pageblockMigratetype(this.pageblockFlags, this.pageblockOrder, pfn);
    if (mt > MIGRATE_RECLAIMABLE) return false;
    this.clock.ns += ENTRY_COST_NS;
    this.refcount[pfn] = 0;
    flags[pfn] = (f & ZONE_MASK) | PGTY_PCP;
    this.priv[pfn] = 0;
    const pi = ((f & ZONE_MASK) >>> ZONE_SHIFT) * this.nrCpus + this.sched.cpu;
    const pcp = this.pcpOf[pi];
    pcp.pgfree++; // this CPU's PGFREE
    this.pcp.freeUnrefPageCommit(pcp, pfn, this.pcpLists[pi] + mt, mt, 0); // order_to_pindex(mt, 0) is mt
    return true;
  }

  private freePagesSlow(pfn: number, order: number): void {
    this.clock.ns += ENTRY_COST_NS;
    if (!this.checkFree(pfn, order, 'free')) return;
    const mm = this.mm;
    const head = (mm.flags[pfn] & PG_HEAD) !== 0;
    if (--mm.refcount[pfn] === 0) {
      // V1's __free_pages(): a virtual compound is unmapped and freed page by page.
      if (mm.flags[pfn] & PG_VCOMPOUND) this.hooks.vcompoundFree(pfn);
      else this.freeFrozenPages(pfn, order, FPI_NONE);
    } else if (!head) {
      // Kernel: the first page stays with its other holder; the tail of the block goes back now.
      mm.flags[pfn] = (mm.flags[pfn] & ~ALLOC_ORDER_MASK);
      while (order-- > 0) {
        const p = pfn + (1 << order);
        mm.flags[p] = (mm.flags[p] & ~ALLOC_ORDER_MASK) | (order << ALLOC_ORDER_SHIFT);
        this.freeFrozenPages(p, order, FPI_NONE);
      }
    }
  }

  /**
   * What free_pages_prepare() and put_page_testzero() would trip over, checked before anything changes so
   * that a rejected free leaves the model as it was.
   */
  private checkFree(pfn: number, order: number, what: string): boolean {
    const mm = this.mm;
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= mm.nrPages || mm.pageType(pfn) === PGTY_HOLE) {
      this.printk.bug('Bad page', [`BUG: ${what} of invalid pfn ${pfn}: no struct page (pfn_valid() is false)`]);
      return false;
    }
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) {
      this.badPage(pfn, `${what} with order ${order}, expected 0..${MAX_PAGE_ORDER}`);
      return false;
    }
    if (mm.refcount[pfn] <= 0) {
      this.vmBugOnPage(pfn, 'page_ref_count(page) == 0');
      return false;
    }
    if (mm.refcount[pfn] > 1) return true; // only a reference is dropped
    const f = mm.flags[pfn];
    if (f & PG_HEAD) {
      if (compoundOrder(mm, pfn) !== order) {
        this.vmBugOnPage(pfn, 'compound && compound_order(page) != order');
        return false;
      }
    } else if (((f & ALLOC_ORDER_MASK) >>> ALLOC_ORDER_SHIFT) !== order) {
      // The kernel cannot see this for a non-compound block; the model records the allocation order.
      this.badPage(pfn, `freed with order ${order}, allocated with order ${(f & ALLOC_ORDER_MASK) >>> ALLOC_ORDER_SHIFT} (mmlab)`);
      return false;
    }
    if (f & PG_RESERVED) {
      this.badPage(pfn, 'PAGE_FLAGS_CHECK_AT_FREE flag(s) set');
      return false;
    }
    if ((f & PGTY_MASK) !== 0) {
      this.badPage(pfn, 'nonzero mapcount');
      return false;
    }
    if (mm.mapping[pfn] !== 0) {
      this.badPage(pfn, 'non-NULL mapping');
      return false;
    }
    return true;
  }

  /** free_frozen_pages(): pcp orders to this CPU's lists, others straight to the buddy lists. */
  private freeFrozenPages(pfn: number, order: number, fpi: number): void {
    if (!this.buddy.pcpAllowedOrder(order)) return this.freePagesOk(pfn, order, fpi);
    this.freePagesPrepare(pfn, order, fpi);
    this.events.pgfree += 1 << order;
    this.pcp.freeToPcp(this.zones[this.mm.zoneIdx(pfn)], this.sched.current.cpu, pfn, order);
  }

  /** __free_pages_ok(): bypass the pcp lists (alloc_pages_exact's tails go to the tail of the free lists). */
  private freePagesOk(pfn: number, order: number, fpi: number): void {
    this.freePagesPrepare(pfn, order, fpi);
    const zone = this.zones[this.mm.zoneIdx(pfn)];
    this.events.pgfree += 1 << order;
    this.buddy.freeOnePage(pfn, zone, order, this.buddy.getPageblockMigratetype(pfn), fpi);
  }

  /** free_pages_prepare(): trace, undo the compound state, clear the flags, poison. */
  private freePagesPrepare(pfn: number, order: number, fpi: number): void {
    const mm = this.mm;
    if (this.trace.on.mm_page_free && !(fpi & FPI_MODEL_BATCHED)) {
      this.trace.record(EV_MM_PAGE_FREE, pfn, order);
    }
    if (mm.flags[pfn] & PG_HEAD) {
      const n = 1 << order;
      for (let i = 1; i < n; i++) mm.flags[pfn + i] &= ~PG_TAIL;
      mm.private_[pfn + 1] = 0;
    }
    mm.flags[pfn] &= ZONE_MASK;
    mm.private_[pfn] = 0;
    if (this.pagePoison) this.mem.fill(pfn, 1 << order, PAGE_POISON);
  }

  /** release_pages()/free_unref_folios(): order-0 pages whose last reference goes, in one batch. */
  freePagesBatched(pfns: readonly number[]): void {
    for (const pfn of pfns) if (!this.checkFree(pfn, 0, 'free')) return;
    for (const pfn of pfns) {
      if (--this.mm.refcount[pfn] !== 0) continue;
      if (this.trace.on.mm_page_free_batched) {
        this.trace.record(EV_MM_PAGE_FREE_BATCHED, pfn);
      }
      this.freeFrozenPages(pfn, 0, FPI_MODEL_BATCHED); // traced as mm_page_free_batched instead
    }
  }

  /** get_page(): another reference. */
  getPage(pfn: number): void {
    if (this.mm.refcount[this.mm.head(pfn)] <= 0) {
      this.vmBugOnPage(pfn, 'page_ref_count(page) <= 0');
      return;
    }
    this.mm.refcount[this.mm.head(pfn)]++;
  }

  // --- addresses --------------------------------------------------------------------------------------

  /** __get_free_pages(): the block's direct-map address; highmem is not allowed here. */
  getFreePages(gfp: number, order: number): number {
    if (gfp & GFP.HIGHMEM) {
      this.printk.bug('get_free_pages', ['kernel BUG at mm/page_alloc.c: VM_BUG_ON((gfp_mask & __GFP_HIGHMEM) != 0)']);
      return 0;
    }
    const pfn = this.allocPages(gfp, order);
    return pfn === NO_PAGE ? 0 : this.pageToAddr(pfn);
  }

  /** page_to_addr() (seed 001): a virtual compound's vmalloc address, else page_address(). */
  pageToAddr(pfn: number): number {
    return this.mm.flags[pfn] & PG_VCOMPOUND ? this.hooks.vcompoundAddress(pfn) : this.directMap.pageAddress(pfn);
  }

  /** free_pages(addr, order): 0 is a no-op; anything outside the direct map is a bug. */
  freePagesAddr(addr: number, order: number): void {
    if (addr === 0) return;
    // V1: free_pages() of a vmalloc address is a virtual compound's vcompound_free().
    if (!this.directMap.contains(addr) && this.hooks.freeVirtualAddr(addr, order)) return;
    const pfn = this.addrToPfn(addr, 'free_pages');
    if (pfn !== NO_PAGE) this.freePages(pfn, order);
  }

  addrToPfn(addr: number, what: string): number {
    if (!this.directMap.contains(addr) || this.directMap.offsetInPage(addr) !== 0) {
      this.printk.bug('virt_addr_valid', [`kernel BUG at mm/page_alloc.c: ${what}: VM_BUG_ON(!virt_addr_valid((void *)0x${addr.toString(16)}))`]);
      return NO_PAGE;
    }
    return this.directMap.virtToPfn(addr);
  }

  /**
   * alloc_pages_exact(): allocate 2^get_order(size) pages without __GFP_COMP, split them, and give back at
   * once the pages past the size, one by one to the tail of the free lists (make_alloc_exact).
   */
  allocPagesExact(size: number, gfp: number): number {
    if (!Number.isInteger(size) || size <= 0) return 0;
    const order = getOrder(size);
    if (gfp & GFP.COMP) {
      // WARN_ON_ONCE(gfp_mask & __GFP_COMP): a compound page cannot be split.
      this.printk.warn('WARNING', ['WARNING: alloc_pages_exact: __GFP_COMP is not allowed and is cleared']);
      gfp &= ~GFP.COMP;
    }
    if (gfp & GFP.HIGHMEM) {
      this.printk.bug('get_free_pages', ['kernel BUG at mm/page_alloc.c: VM_BUG_ON((gfp_mask & __GFP_HIGHMEM) != 0)']);
      return 0;
    }
    const pfn = this.allocPages(gfp, order);
    if (pfn === NO_PAGE) return 0;
    const nr = Math.ceil(size / PAGE_SIZE);
    this.splitPage(pfn, order);
    for (let i = nr; i < 1 << order; i++) {
      this.mm.refcount[pfn + i] = 0;
      this.freePagesOk(pfn + i, 0, FPI_TO_TAIL);
    }
    return this.directMap.pageAddress(pfn);
  }

  /** free_pages_exact(): page by page. */
  freePagesExact(addr: number, size: number): void {
    const nr = Math.ceil(size / PAGE_SIZE);
    const pfn = this.addrToPfn(addr, 'free_pages_exact');
    if (pfn === NO_PAGE) return;
    for (let i = 0; i < nr; i++) this.freePages(pfn + i, 0);
  }

  /** split_page(): a non-compound 2^order block becomes 2^order order-0 pages, each with a reference. */
  splitPage(pfn: number, order: number): void {
    const mm = this.mm;
    if (mm.flags[pfn] & PG_HEAD) {
      this.vmBugOnPage(pfn, 'PageCompound(page)');
      return;
    }
    const pfm = mm.flags[pfn] & PG_PFMEMALLOC;
    for (let i = 0; i < 1 << order; i++) {
      mm.refcount[pfn + i] = 1;
      mm.flags[pfn + i] = (mm.flags[pfn + i] & (ZONE_MASK | PG_FLAGS_MASK)) | pfm;
    }
    mm.flags[pfn] &= ~ALLOC_ORDER_MASK;
  }

  // --- reports ----------------------------------------------------------------------------------------

  /** bad_page(). */
  badPage(pfn: number, reason: string): void {
    this.printk.bug('Bad page state', [
      `BUG: Bad page state in process ${this.sched.current.comm}  pfn:${pfn.toString(16).padStart(5, '0')}`,
      ...dumpPage(this.mm, pfn, reason),
    ]);
  }

  /** VM_BUG_ON_PAGE(cond, page). */
  vmBugOnPage(pfn: number, cond: string): void {
    this.printk.bug('VM_BUG_ON_PAGE', [...dumpPage(this.mm, pfn, `VM_BUG_ON_PAGE(${cond})`), `kernel BUG at mm/page_alloc.c!`]);
  }

  /** Is the page free now (on a buddy list, inside a free block, or on a pcp list)? */
  pageIsFree(pfn: number): boolean {
    const mm = this.mm;
    const t = mm.flags[pfn] & PGTY_MASK;
    if (t === PGTY_BUDDY || t === PGTY_PCP) return true;
    for (let o = 1; o <= MAX_PAGE_ORDER; o++) {
      const h = pfn & ~((1 << o) - 1);
      const ht = mm.flags[h] & PGTY_MASK;
      if ((ht === PGTY_BUDDY || ht === PGTY_PCP) && mm.private_[h] >= o) return true;
    }
    return false;
  }
}

/** get_order(): the smallest order whose block holds `size` bytes. */
export function getOrder(size: number): number {
  let order = 0;
  while (PAGE_SIZE * 2 ** order < size) order++; // 2 ** order: a shift would overflow past order 18
  return order;
}

/**
 * GFP_ZONE_TABLE: __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32 and __GFP_MOVABLE to the highest usable zone; a
 * missing zone type falls back to ZONE_NORMAL as in the kernel's OPT_ZONE_* macros.
 */
function buildGfpZoneTable(types: string[]): Int8Array {
  const idx = (t: string) => (types.includes(t) ? types.indexOf(t) : types.indexOf('Normal'));
  const table = new Int8Array(16).fill(-1);
  const DMA = 1, HIGHMEM = 2, DMA32 = 4, MOVABLE = 8;
  table[0] = idx('Normal');
  table[DMA] = idx('DMA');
  table[HIGHMEM] = idx('HighMem');
  table[DMA32] = idx('DMA32');
  table[MOVABLE] = idx('Normal');
  table[MOVABLE | DMA] = idx('DMA');
  table[MOVABLE | HIGHMEM] = idx('Movable');
  table[MOVABLE | DMA32] = idx('DMA32');
  return table;
}
