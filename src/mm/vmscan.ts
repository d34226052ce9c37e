/**
 * Page reclaim (mm/vmscan.c: try_to_free_pages, do_try_to_free_pages, shrink_node, get_scan_count,
 * shrink_lruvec, shrink_active_list, shrink_inactive_list, isolate_lru_folios, shrink_folio_list,
 * folio_check_references, wakeup_kswapd, balance_pgdat, pgdat_balanced, kswapd_shrink_node,
 * reclaim_throttle, allow_direct_reclaim, throttle_direct_reclaim, zone_reclaimable_pages; mm/shrinker.c
 * do_shrink_slab).
 *
 * Reclaim scans the node's LRU lists from the old end, `size >> priority` pages per list and priority
 * (DEF_PRIORITY 12 down to 0), in SWAP_CLUSTER_MAX batches, until it has what it was asked for. A page
 * referenced since the last scan is kept (anonymous pages are activated, as a young PTE does); a clean page
 * cache page is dropped; an anonymous page gets a swap slot and is written out (only with __GFP_IO and
 * swap space left), and is freed by a later scan once the write is done; a dirty page cache page is
 * never written by direct reclaim: it is marked for reclaim, activated, and the flusher threads are woken to
 * write it (mainline since 3.2). kswapd writes a dirty file page itself only when it meets it a second time
 * and the node is flagged as full of unqueued dirty pages (PGDAT_DIRTY). Shrinkers are asked to scan
 * their share (`freeable >> priority` * 4 / seeks) of what they count; filesystem shrinkers refuse
 * (SHRINK_STOP) without __GFP_FS, as super_cache_scan does. Pages under writeback are skipped, and when a
 * pass meets nothing but those, the reclaimer is throttled until a write completes (at most HZ/10).
 *
 * kswapd runs when woken (below the low watermark) and reclaims until a zone meets its high watermark for
 * the order asked (plus any watermark boost); in the model it runs to completion on the waker's return, in
 * its own task context, and wakes kcompactd when it is done with a high-order request.
 * Under policy reserves=pfmemalloc a user task's direct reclaim first waits (throttle_direct_reclaim) while the
 * low zones hold no more than half their min marks, so that the reserve below is left to kswapd.
 * Departures: kswapd runs on the stack of the task that woke it, so it never sleeps: it yields from the
 * writeback throttle and leaves anon alone while a swap file's device is congested; one node; no memcg, no
 * MGLRU, no workingset refault detection; get_scan_count's cost-based balance is replaced by the static
 * swappiness split (anon : file = swappiness : 200 - swappiness); the flusher writes dirty page cache pages
 * in file order instead of by inode age.
 */
import { GFP } from '../gfp.js';
import { EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, EV_MM_VMSCAN_DIRECT_RECLAIM_END, EV_MM_VMSCAN_KSWAPD_WAKE } from '../trace/events.js';
import type { TraceBuffer } from '../trace/buffer.js';
import type { Anon } from './anon.js';
import type { Clock } from './clock.js';
import type { Filemap } from './filemap.js';
import {
  MemMap, PAGE_ALLOC_COSTLY_ORDER, PG_ACTIVE, PG_DIRTY, PG_RECLAIM, PG_REFERENCED, PG_SWAPBACKED, PG_WRITEBACK,
} from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Writeback } from './page_writeback.js';
import { PF_KSWAPD, PF_KTHREAD, PF_MEMALLOC, type Sched, type Task } from './sched.js';
import type { SwapInfo } from './swapfile.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, type Lruvec } from './swap.js';
import type { NodeStats, VmEvents } from './vmstat.js';
import type { Zone } from './zone.js';

export const DEF_PRIORITY = 12;
export const SWAP_CLUSTER_MAX = 32;
/** MAX_RECLAIM_RETRIES: kswapd gives up on a node after this many runs without progress. */
const MAX_RECLAIM_RETRIES = 16;
/** reclaim_throttle()'s longest wait for writeback: HZ/10. */
const THROTTLE_WRITEBACK_NS = 100_000_000;
/** How long the model lets a throttled direct reclaimer wait before it reclaims anyway (see throttleDirectReclaim). */
const THROTTLE_DIRECT_MAX_NS = 10_000_000_000;
/** throttle_direct_reclaim()'s timeout without __GFP_FS: HZ. */
const THROTTLE_DIRECT_NOFS_NS = 1_000_000_000;
/** The step in which a throttled task lets kswapd and the timers run. */
const THROTTLE_DIRECT_SLICE_NS = 10_000_000;
/** do_shrink_slab()'s batch (SHRINK_BATCH). */
const SHRINK_BATCH = 128;

/** What a shrinker's scan returns when it cannot make progress in this context. */
export const SHRINK_STOP = -1;
export const DEFAULT_SEEKS = 2;

/** struct shrink_control. */
export interface ShrinkControl {
  gfp: number;
  nrToScan: number;
  /** Objects scanned so far in this call (nr_scanned, which a shrinker may update). */
  nrScanned: number;
}

/** struct shrinker: count what could be freed, scan (free) some, or SHRINK_STOP. */
export interface Shrinker {
  readonly name: string;
  readonly seeks: number;
  count(sc: ShrinkControl): number;
  scan(sc: ShrinkControl): number;
  /** nr_deferred: work left over from calls that could not do it. */
  nrDeferred: number;
}

/** struct scan_control, with the counters shrink_folio_list reports (reclaim_stat). */
export class ScanControl {
  nrToReclaim = SWAP_CLUSTER_MAX;
  gfp = GFP.KERNEL;
  order = 0;
  priority = DEF_PRIORITY;
  reclaimIdx = 0;
  mayWritepage = true;
  maySwap = true;
  kswapd = false;
  nrScanned = 0;
  nrReclaimed = 0;
  compactionReady = false;
  // Per shrink_node pass (sc->nr).
  nrTaken = 0;
  nrUnqueuedDirty = 0;
  nrWriteback = 0;
}

export interface VmscanDeps {
  mm: MemMap;
  zones: Zone[];
  pa: PageAlloc;
  lru: Lruvec;
  wb: Writeback;
  filemap: Filemap;
  anon: Anon;
  swap: SwapInfo | undefined;
  node: NodeStats;
  events: VmEvents;
  sched: Sched;
  clock: Clock;
  trace: TraceBuffer;
  swappiness: number;
  /** Pages the slab allocator holds now (so that shrinker work counts as reclaimed pages). */
  slabPages: () => number;
  /** throttle_direct_reclaim() exists (3.6 on: policy reserves=pfmemalloc). */
  throttleDirect: boolean;
}

/** Compaction as reclaim sees it (compaction.ts): readiness, and kcompactd's wake-up. */
export interface ReclaimCompaction {
  compactionReady(zone: Zone, order: number, highestZoneidx: number): boolean;
  wakeupKcompactd(order: number, highestZoneidx: number): void;
  resetIsolationSuitable(): void;
}

export class Vmscan {
  private readonly d: VmscanDeps;
  readonly shrinkers: Shrinker[] = [];
  /** Set by the machine once compaction exists. */
  compaction: ReclaimCompaction | undefined;
  /** kswapd0 and the state of its wait: the order and zone it was woken for. */
  readonly kswapdTask: Task;
  kswapdOrder = 0;
  kswapdHighestZoneidx = -1;
  kswapdPending = false;
  private kswapdRunning = false;
  /** kswapd is reclaiming now (proactive compaction backs off meanwhile). */
  get kswapdIsRunning(): boolean {
    return this.kswapdRunning;
  }
  /** pgdat->kswapd_failures: runs in a row that reclaimed nothing. */
  kswapdFailures = 0;
  /** PGDAT_DIRTY: kswapd met only unqueued dirty pages at the tail of the file list. */
  private pgdatDirty = false;
  /** Model statistics: kswapd runs, direct reclaim calls, throttling waits. */
  readonly stats = {
    kswapdRuns: 0, directReclaims: 0, throttled: 0, throttledNs: 0, flusherWakeups: 0,
    /** throttle_direct_reclaim(): waits for kswapd below half the min marks, and their model time. */
    directThrottled: 0, directThrottledNs: 0,
  };

  constructor(d: VmscanDeps) {
    this.d = d;
    this.kswapdTask = d.sched.createTask('kswapd0', 0);
    this.kswapdTask.flags |= PF_MEMALLOC | PF_KSWAPD | PF_KTHREAD;
  }

  /** register_shrinker(). */
  registerShrinker(s: Omit<Shrinker, 'nrDeferred' | 'seeks'> & { seeks?: number }): Shrinker {
    const full: Shrinker = { seeks: DEFAULT_SEEKS, ...s, nrDeferred: 0 };
    this.shrinkers.push(full);
    return full;
  }

  unregisterShrinker(s: Shrinker): void {
    const i = this.shrinkers.indexOf(s);
    if (i >= 0) this.shrinkers.splice(i, 1);
  }

  // --- direct reclaim ---------------------------------------------------------------------------------

  /**
   * try_to_free_pages(): direct reclaim for an allocation of `order` that may use zones up to
   * `highestZoneidx`, with the caller's gfp (already narrowed by current_gfp_context). Returns the pages
   * reclaimed (at least 1 when it stopped because compaction can now go ahead).
   */
  tryToFreePages(gfp: number, order: number, highestZoneidx: number): number {
    const d = this.d;
    const sc = new ScanControl();
    sc.gfp = gfp;
    sc.order = order;
    sc.reclaimIdx = highestZoneidx;
    sc.maySwap = true;
    // throttle_direct_reclaim(): below half the min marks the reserve is kswapd's; wait for it to refill.
    if (d.throttleDirect && this.throttleDirectReclaim(gfp)) return 1;
    this.stats.directReclaims++;
    if (d.trace.on.mm_vmscan_direct_reclaim_begin) d.trace.record(EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, order, gfp);
    // __perform_reclaim(): reclaim runs with PF_MEMALLOC so that its own allocations do not recurse.
    const saved = d.sched.memallocNoreclaimSave();
    try {
      this.doTryToFreePages(sc);
    } finally {
      d.sched.memallocNoreclaimRestore(saved);
    }
    if (d.trace.on.mm_vmscan_direct_reclaim_end) d.trace.record(EV_MM_VMSCAN_DIRECT_RECLAIM_END, sc.nrReclaimed);
    if (sc.nrReclaimed) this.kswapdFailures = 0; // a hopeless node is worth waking kswapd for again
    return sc.nrReclaimed || (sc.compactionReady ? 1 : 0);
  }

  /**
   * allow_direct_reclaim(): the free pages of the zones up to ZONE_NORMAL that still have something to
   * reclaim are above half the sum of their min watermarks. If not, kswapd is woken (for ZONE_NORMAL at most).
   */
  allowDirectReclaim(): boolean {
    const d = this.d;
    if (this.kswapdFailures >= MAX_RECLAIM_RETRIES) return true;
    let reserve = 0;
    let free = 0;
    let normal = -1;
    for (const z of d.zones) {
      if (z.type !== 'DMA' && z.type !== 'DMA32' && z.type !== 'Normal') continue;
      normal = z.idx;
      if (!z.managed || !this.zoneReclaimablePages(z)) continue;
      reserve += z.wmarkMin();
      free += z.freePages;
    }
    if (!reserve) return true;
    const ok = free > reserve / 2;
    if (!ok) {
      if (this.kswapdHighestZoneidx < 0 || this.kswapdHighestZoneidx > normal) this.kswapdHighestZoneidx = normal;
      this.kswapdPending = true;
    }
    return ok;
  }

  /**
   * throttle_direct_reclaim(): a user task (not a kernel thread) waits on pfmemalloc_wait until
   * allow_direct_reclaim() holds: at most HZ without __GFP_FS, otherwise until it holds (killable). Returns
   * true only for a fatal signal, which the model has not. In the model the waiter lets kswapd run and the
   * timers fire, slice by slice; the kernel's unbounded wait is bounded (THROTTLE_DIRECT_MAX_NS), after
   * which the task reclaims anyway, so that a machine that will never recover is seen to stall, not to hang.
   */
  private throttleDirectReclaim(gfp: number): boolean {
    const d = this.d;
    if (d.sched.current.flags & PF_KTHREAD) return false;
    if (this.allowDirectReclaim()) return false;
    d.events.pgscanDirectThrottle++;
    this.stats.directThrottled++;
    const start = d.clock.ns;
    const limit = gfp & GFP.FS ? THROTTLE_DIRECT_MAX_NS : THROTTLE_DIRECT_NOFS_NS;
    const allow = () => this.allowDirectReclaim();
    for (;;) {
      this.kswapdRun(); // kswapd wakes the pfmemalloc waiters once it has restored the reserve
      if (allow()) break;
      const left = start + limit - d.clock.ns;
      if (left <= 0 || d.clock.sleep(Math.min(left, THROTTLE_DIRECT_SLICE_NS), allow)) break;
    }
    this.stats.directThrottledNs += d.clock.ns - start;
    return false;
  }

  /** do_try_to_free_pages(): lower the priority until enough is reclaimed or compaction can run. */
  private doTryToFreePages(sc: ScanControl): void {
    const d = this.d;
    for (sc.priority = DEF_PRIORITY; sc.priority >= 0; sc.priority--) {
      sc.nrScanned = 0;
      // shrink_zones(): for a costly order, stop when some zone could be compacted instead.
      if (sc.order > PAGE_ALLOC_COSTLY_ORDER && this.compaction) {
        for (let z = sc.reclaimIdx; z >= 0; z--) {
          const zone = d.zones[z];
          if (zone.managed && this.compaction.compactionReady(zone, sc.order, sc.reclaimIdx)) sc.compactionReady = true;
        }
        if (sc.compactionReady) break;
      }
      this.shrinkNode(sc);
      if (sc.nrReclaimed >= sc.nrToReclaim) break;
    }
  }

  // --- kswapd -----------------------------------------------------------------------------------------

  /**
   * wakeup_kswapd() for the node: record the order and zone asked for; a balanced node (and not boosted)
   * is left asleep, and for a non-blocking request kcompactd is woken instead.
   */
  wakeupKswapd(gfp: number, order: number, highestZoneidx: number): void {
    const d = this.d;
    let zid = highestZoneidx;
    while (zid > 0 && !d.zones[zid].managed) zid--;
    if (!d.zones[zid].managed) return;
    if (this.kswapdHighestZoneidx < highestZoneidx) this.kswapdHighestZoneidx = highestZoneidx;
    if (this.kswapdOrder < order) this.kswapdOrder = order;
    if (this.kswapdFailures >= MAX_RECLAIM_RETRIES || (this.pgdatBalanced(order, highestZoneidx) && !this.watermarkBoosted(highestZoneidx))) {
      if (!(gfp & GFP.DIRECT_RECLAIM)) this.compaction?.wakeupKcompactd(order, highestZoneidx);
      return;
    }
    if (d.trace.on.mm_vmscan_kswapd_wake) d.trace.record(EV_MM_VMSCAN_KSWAPD_WAKE, 0, zid, order);
    this.kswapdPending = true;
    d.pa.daemonsPending = true;
  }

  /**
   * kswapd(): one run of balance_pgdat() for what it was woken for, in kswapd's own context. The model runs
   * it when the allocation that woke it returns (or on the machine's daemon tick).
   */
  kswapdRun(): void {
    if (!this.kswapdPending || this.kswapdRunning) return;
    const d = this.d;
    const order = this.kswapdOrder;
    const highest = this.kswapdHighestZoneidx < 0 ? d.zones.length - 1 : this.kswapdHighestZoneidx;
    this.kswapdPending = false;
    this.kswapdOrder = 0;
    this.kswapdHighestZoneidx = -1;
    this.kswapdRunning = true;
    try {
      d.sched.runAs(this.kswapdTask, () => {
        const reclaimOrder = this.balancePgdat(order, highest);
        // kswapd_try_to_sleep(): balanced, so compaction may run for the order it was woken for.
        if (this.pgdatBalanced(reclaimOrder, highest)) {
          this.compaction?.resetIsolationSuitable();
          if (order > 0) this.compaction?.wakeupKcompactd(order, highest);
        }
      });
    } finally {
      this.kswapdRunning = false;
    }
  }

  /**
   * balance_pgdat(): reclaim until one zone up to `highest` meets its high watermark for `order` (boosted
   * marks first, without writing or swapping, as boosted reclaim must not cause IO). Returns the order it
   * balanced for (0 once it reclaimed the compaction gap for a high order).
   */
  private balancePgdat(order: number, highest: number): number {
    const d = this.d;
    this.stats.kswapdRuns++;
    d.events.pageoutrun++;
    let boost = 0;
    for (let z = 0; z <= highest; z++) boost += d.zones[z].watermarkBoost;
    const boosted = boost > 0;
    const sc = new ScanControl();
    sc.gfp = GFP.KERNEL;
    sc.order = order;
    sc.reclaimIdx = highest;
    sc.kswapd = true;
    let total = 0;
    let rounds = 0;
    for (sc.priority = DEF_PRIORITY; sc.priority >= 1 && rounds < 4 * DEF_PRIORITY * SWAP_CLUSTER_MAX; sc.priority--, rounds++) {
      if (!boost && this.pgdatBalanced(sc.order, highest)) break;
      // Boosted reclaim must not cause IO: no writing, no swapping while a boost is being reclaimed.
      sc.mayWritepage = sc.maySwap = boost === 0;
      // kswapd_shrink_node(): aim at the high marks of the eligible zones.
      sc.nrToReclaim = 0;
      for (let z = 0; z <= highest; z++) if (d.zones[z].managed) sc.nrToReclaim += Math.max(this.highWmark(d.zones[z]), SWAP_CLUSTER_MAX);
      sc.nrReclaimed = 0;
      sc.nrScanned = 0;
      this.shrinkNode(sc);
      total += sc.nrReclaimed;
      if (boost) {
        if (!sc.nrReclaimed) break; // a boost that reclaim cannot meet is given up
        boost = Math.max(0, boost - sc.nrReclaimed);
      }
      // Enough for compaction to work with: balance for order 0 from here on.
      if (sc.order && sc.nrReclaimed >= 2 << sc.order) sc.order = 0;
      // The priority rises only when the pass scanned its target or reclaimed nothing.
      if (sc.nrReclaimed && sc.nrScanned < sc.nrToReclaim) sc.priority++;
    }
    if (boosted) {
      for (let z = 0; z <= highest; z++) d.zones[z].watermarkBoost = 0;
      this.compaction?.wakeupKcompactd(d.pa.buddy.pageblockOrder, highest);
    }
    if (!total) this.kswapdFailures++;
    else this.kswapdFailures = 0;
    return sc.order;
  }

  /** pgdat_balanced(): some eligible zone meets its high watermark for the order. */
  pgdatBalanced(order: number, highest: number): boolean {
    let any = false;
    for (let z = 0; z <= highest; z++) {
      const zone = this.d.zones[z];
      if (!zone.managed) continue;
      any = true;
      if (this.d.pa.zoneWatermarkOk(zone, order, this.highWmark(zone), highest, 0, zone.freePages)) return true;
    }
    return !any;
  }

  /** high_wmark_pages(): the high mark plus any boost (Zone.wmarkHigh adds it). */
  private highWmark(zone: Zone): number {
    return zone.wmarkHigh();
  }

  private watermarkBoosted(highest: number): boolean {
    for (let z = 0; z <= highest; z++) if (this.d.zones[z].watermarkBoost) return true;
    return false;
  }

  // --- the node ---------------------------------------------------------------------------------------

  /** shrink_node(): the LRU lists, then the shrinkers; throttled when only writeback stands in the way. */
  private shrinkNode(sc: ScanControl): void {
    const d = this.d;
    d.wb.complete();
    const reclaimedBefore = sc.nrReclaimed;
    sc.nrTaken = sc.nrUnqueuedDirty = sc.nrWriteback = 0;
    this.shrinkLruvec(sc);
    sc.nrReclaimed += this.shrinkSlab(sc.gfp, sc.priority);
    if (sc.kswapd) {
      // PGDAT_DIRTY: the tail of the file list is all dirty pages nobody is writing yet.
      if (sc.nrUnqueuedDirty && sc.nrUnqueuedDirty === sc.nrTaken) this.pgdatDirty = true;
      else if (sc.nrReclaimed > reclaimedBefore) this.pgdatDirty = false;
    }
    // reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): everything isolated was under writeback.
    if (sc.nrReclaimed === reclaimedBefore && sc.nrWriteback && sc.nrWriteback === sc.nrTaken) this.throttleWriteback();
  }

  /** Wait (in model time) for the next write to complete, at most HZ/10, and collect completions. */
  private throttleWriteback(): void {
    const d = this.d;
    if (!d.wb.inFlight) return;
    // kswapd runs on the stack of the task that woke it (see kswapdRun): its sleep would stop that task too.
    // It yields instead: it ends this pass, and the writes it waits for complete while the task goes on.
    if (d.sched.current === this.kswapdTask) {
      this.stats.throttled++;
      d.wb.complete();
      return;
    }
    // Until the next timed write completes, or a write ended by its device (a timer) completes: the
    // timers due meanwhile run.
    const start = d.clock.ns;
    const until = Math.min(d.wb.nextCompletion(), start + THROTTLE_WRITEBACK_NS);
    const written = d.node.nrWritten;
    if (until > start) d.clock.sleep(until - start, () => d.node.nrWritten !== written);
    this.stats.throttledNs += d.clock.ns - start;
    this.stats.throttled++;
    d.wb.complete();
  }

  /** shrink_lruvec() with get_scan_count()'s targets, in SWAP_CLUSTER_MAX batches. */
  private shrinkLruvec(sc: ScanControl): void {
    const d = this.d;
    const lru = d.lru;
    const idx = sc.reclaimIdx;
    // kswapd leaves anon alone while the swap file's device is congested (it cannot wait for it: see
    // throttleWriteback), as reclaim skipped congested devices before 4.x (may_write_to_inode).
    const canAnon = sc.maySwap && d.swap !== undefined && d.swap.free > 0 && !(sc.kswapd && d.swap.rw?.congested());
    let anonPrio = d.swappiness;
    let filePrio = 200 - d.swappiness;
    const inactiveFile = lru.size(LRU_INACTIVE_FILE, idx);
    if (!canAnon) {
      anonPrio = 0;
      filePrio = 1;
    } else if (sc.priority === 0 && d.swappiness) {
      anonPrio = filePrio = 1; // SCAN_EQUAL: at the last priority everything is fair game
    } else if (inactiveFile >> sc.priority && !this.inactiveIsLow(LRU_INACTIVE_FILE, idx)) {
      anonPrio = 0; // cache_trim_mode: plenty of inactive page cache, leave anon alone
      filePrio = 1;
    }
    const denom = anonPrio + filePrio;
    const target = new Float64Array(4);
    for (const l of [LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE]) {
      const prio = l < LRU_INACTIVE_FILE ? anonPrio : filePrio;
      const size = lru.size(l, idx);
      let scan = size >> sc.priority;
      if (!scan && size && sc.priority < DEF_PRIORITY - 2) scan = Math.min(size, SWAP_CLUSTER_MAX); // small lists still age
      target[l] = prio ? Math.ceil((scan * prio) / denom) : 0;
    }
    // Active lists are aged only while their inactive list is low (sc->may_deactivate).
    if (!this.inactiveIsLow(LRU_INACTIVE_ANON, idx)) target[LRU_ACTIVE_ANON] = 0;
    if (!this.inactiveIsLow(LRU_INACTIVE_FILE, idx)) target[LRU_ACTIVE_FILE] = 0;
    while (target[LRU_INACTIVE_ANON] || target[LRU_ACTIVE_FILE] || target[LRU_INACTIVE_FILE] || target[LRU_ACTIVE_ANON]) {
      for (let l = 0; l < 4; l++) {
        if (!target[l]) continue;
        const n = Math.min(target[l], SWAP_CLUSTER_MAX);
        target[l] -= n;
        if (l === LRU_ACTIVE_ANON || l === LRU_ACTIVE_FILE) this.shrinkActiveList(n, l, sc);
        else sc.nrReclaimed += this.shrinkInactiveList(n, l, sc);
      }
      // Direct reclaim stops once it has its batch; kswapd goes on to its targets (proportional reclaim).
      if (!sc.kswapd && sc.nrReclaimed >= sc.nrToReclaim) break;
    }
    // Keep the anon lists aged even when anon was not scanned.
    if (canAnon && this.inactiveIsLow(LRU_INACTIVE_ANON, idx)) this.shrinkActiveList(SWAP_CLUSTER_MAX, LRU_ACTIVE_ANON, sc);
  }

  /** inactive_is_low(): inactive * int_sqrt(10 * GiB of the pair) < active. */
  private inactiveIsLow(inactiveLru: number, idx: number): boolean {
    const inactive = this.d.lru.size(inactiveLru, idx);
    const active = this.d.lru.size(inactiveLru + 1, idx);
    const gb = (inactive + active) >>> 18;
    const ratio = gb ? Math.floor(Math.sqrt(10 * gb)) : 1;
    return inactive * ratio < active;
  }

  /**
   * isolate_lru_folios(): up to `nr` pages from the old end of `lru`, skipping (and rotating) pages of zones
   * above the reclaim index.
   */
  private isolateLruFolios(nr: number, lruIdx: number, sc: ScanControl): number[] {
    const d = this.d;
    const mm = d.mm;
    const head = d.lru.lists + lruIdx;
    const taken: number[] = [];
    const skipped: number[] = [];
    let scanned = 0;
    const max = d.lru.size(lruIdx);
    for (let p = mm.prev[head]; p !== head && taken.length < nr && scanned < max; ) {
      const prev = mm.prev[p];
      scanned++;
      if (mm.zoneIdx(p) > sc.reclaimIdx) {
        skipped.push(p);
        d.events.pgskip[mm.zoneIdx(p)]++;
      } else {
        d.lru.isolate(p);
        taken.push(p);
      }
      p = prev;
    }
    // Skipped pages go back to the young end, as list_splice(&folios_skipped, src) puts them.
    for (const p of skipped) {
      d.lru.del(p);
      d.lru.add(p);
    }
    sc.nrScanned += taken.length;
    return taken;
  }

  /** shrink_active_list(): deactivate pages from the old end of an active list. */
  private shrinkActiveList(nr: number, lruIdx: number, sc: ScanControl): void {
    const d = this.d;
    const mm = d.mm;
    const taken = this.isolateLruFolios(nr, lruIdx, sc);
    d.events.pgrefill += taken.length;
    for (const p of taken) {
      // folio_referenced() tests and clears the young bit; only executable file pages stay active, and the
      // model has none, so every page goes to the inactive list.
      if (mm.flags[p] & PG_SWAPBACKED) mm.flags[p] &= ~PG_REFERENCED;
      d.lru.unisolated(p);
      mm.flags[p] &= ~PG_ACTIVE;
      d.lru.add(p);
      d.events.pgdeactivate++;
    }
  }

  /** shrink_inactive_list(): isolate, shrink_folio_list, put back; wake the flushers for dirty pages. */
  private shrinkInactiveList(nr: number, lruIdx: number, sc: ScanControl): number {
    const d = this.d;
    const taken = this.isolateLruFolios(nr, lruIdx, sc);
    if (!taken.length) return 0;
    const file = lruIdx === LRU_INACTIVE_FILE;
    if (sc.kswapd) d.events.pgscanKswapd += taken.length;
    else d.events.pgscanDirect += taken.length;
    if (file) d.events.pgscanFile += taken.length;
    else d.events.pgscanAnon += taken.length;
    sc.nrTaken += taken.length;
    const unqueuedBefore = sc.nrUnqueuedDirty;
    const reclaimed = this.shrinkFolioList(taken, sc);
    if (sc.kswapd) d.events.pgstealKswapd += reclaimed;
    else d.events.pgstealDirect += reclaimed;
    if (file) d.events.pgstealFile += reclaimed;
    else d.events.pgstealAnon += reclaimed;
    // Every page taken was dirty and not yet queued for writeback: the flushers are behind.
    const unqueued = sc.nrUnqueuedDirty - unqueuedBefore;
    if (unqueued && unqueued === taken.length) {
      this.stats.flusherWakeups++;
      d.filemap.flush(Math.max(unqueued, SWAP_CLUSTER_MAX));
    }
    return reclaimed;
  }

  /** shrink_folio_list(): decide each isolated page's fate; free the reclaimed ones in one batch. */
  private shrinkFolioList(pfns: number[], sc: ScanControl): number {
    const d = this.d;
    const mm = d.mm;
    const lru = d.lru;
    const freed: number[] = [];
    for (const p of pfns) {
      const anon = (mm.flags[p] & PG_SWAPBACKED) !== 0;
      let f = mm.flags[p];
      if (f & PG_WRITEBACK) {
        // Case 2 of shrink_folio_list: mark it for reclaim and let the write finish.
        mm.flags[p] |= PG_RECLAIM;
        sc.nrWriteback++;
        lru.putback(p);
        continue;
      }
      // folio_check_references().
      if (f & PG_REFERENCED) {
        mm.flags[p] &= ~PG_REFERENCED;
        if (anon) {
          this.activate(p);
          continue;
        }
        if (f & PG_DIRTY) {
          lru.putback(p); // FOLIOREF_RECLAIM_CLEAN: a referenced dirty page is kept
          continue;
        }
      }
      if (anon && !mm.private_[p]) {
        // add_to_swap() needs __GFP_IO (swap is block IO) and a free slot.
        if (!(sc.gfp & GFP.IO)) {
          lru.putback(p);
          continue;
        }
        if (!sc.maySwap || !d.anon.addToSwap(p)) {
          this.activate(p);
          continue;
        }
      }
      f = mm.flags[p];
      if (f & PG_DIRTY) {
        if (!anon) {
          sc.nrUnqueuedDirty++;
          // Only kswapd writes page cache, and only a page it has seen before on a node flagged dirty.
          if (!sc.kswapd || !(f & PG_RECLAIM) || !this.pgdatDirty) {
            d.node.nrVmscanImmediateReclaim++;
            mm.flags[p] |= PG_RECLAIM;
            this.activate(p);
            continue;
          }
        }
        // may_enter_fs(): a swap-cache page needs __GFP_IO, a file page __GFP_FS.
        const mayEnterFs = (sc.gfp & GFP.FS) !== 0 || (anon && (sc.gfp & GFP.IO) !== 0);
        if (!mayEnterFs || !sc.mayWritepage) {
          lru.putback(p);
          continue;
        }
        // pageout(): the write starts; the page is freed by a later scan once it is clean.
        if (anon && !d.anon.swapWritepage(p)) {
          lru.putback(p); // PAGE_KEEP: the swap file could not start the write now
          continue;
        }
        mm.flags[p] |= PG_RECLAIM;
        if (!anon) d.filemap.writepage(p);
        d.node.nrVmscanWrite++;
        lru.putback(p);
        continue;
      }
      // Clean: __remove_mapping() and free.
      lru.unisolated(p);
      if (anon) d.anon.unmapToSwap(p);
      else d.filemap.deletePage(p);
      freed.push(p);
    }
    if (freed.length) d.pa.freePagesBatched(freed);
    return freed.length;
  }

  private activate(p: number): void {
    const d = this.d;
    d.lru.unisolated(p);
    d.mm.flags[p] |= PG_ACTIVE;
    d.lru.add(p);
    d.events.pgactivate++;
  }

  /**
   * shrink_slab(): each shrinker scans its share of what it counts, in SHRINK_BATCH batches, carrying
   * unfinished work over in nr_deferred. Returns the slab pages that went back to the page allocator.
   */
  shrinkSlab(gfp: number, priority: number): number {
    const d = this.d;
    const before = d.slabPages();
    for (const s of this.shrinkers) {
      const sc: ShrinkControl = { gfp, nrToScan: 0, nrScanned: 0 };
      const freeable = s.count(sc);
      if (!freeable) continue;
      const delta = Math.floor(((freeable >> priority) * 4) / s.seeks);
      let total = Math.min(s.nrDeferred + delta, 2 * freeable);
      s.nrDeferred = 0;
      while (total >= SHRINK_BATCH || (total > 0 && total >= freeable)) {
        const n = Math.min(SHRINK_BATCH, total);
        sc.nrToScan = n;
        sc.nrScanned = n;
        const ret = s.scan(sc);
        if (ret === SHRINK_STOP) break;
        d.events.slabsScanned += sc.nrScanned;
        total -= sc.nrScanned;
      }
      s.nrDeferred = Math.max(0, total);
    }
    return Math.max(0, before - d.slabPages());
  }

  /** zone_reclaimable_pages(): file LRU pages, plus anon ones while there is swap to put them in. */
  zoneReclaimablePages(zone: Zone): number {
    const lru = this.d.lru;
    let n = lru.zoneLruSize(zone.idx, LRU_INACTIVE_FILE) + lru.zoneLruSize(zone.idx, LRU_ACTIVE_FILE);
    if (this.d.swap && this.d.swap.free > 0) n += lru.zoneLruSize(zone.idx, LRU_INACTIVE_ANON) + lru.zoneLruSize(zone.idx, LRU_ACTIVE_ANON);
    return n;
  }
}
