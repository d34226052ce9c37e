/**
 * Counters and fragmentation indices (mm/vmstat.c, include/linux/vm_event_item.h).
 *
 * `VmEvents` holds the kernel's vm_event counters the model increments (named as in /proc/vmstat), with the
 * per-zone ones (pgalloc_<zone>) as arrays by zone index; `ModelStats` holds what the kernel does not count
 * but a study of allocation policy needs (failures by order, pcp refills and drains, fallbacks, reserve use);
 * it goes into result.json, never into /proc/vmstat. Zone and node counters (nr_free_pages, ...) are read off
 * the zones themselves, which keep them exactly (the kernel's per-CPU counter drift is not modelled).
 */
import { NR_PAGE_ORDERS } from './page.js';

export class VmEvents {
  /** pgalloc_<zone>, by zone index: pages allocated. */
  readonly pgalloc: Float64Array;
  /** allocstall_<zone>: direct reclaim entries (counted against the highest allowed zone). */
  readonly allocstall: Float64Array;
  /** pgskip_<zone>: LRU pages reclaim passed over because their zone was above the request's. */
  readonly pgskip: Float64Array;
  pgfree = 0;
  // Paging IO, in KiB as /proc/vmstat counts pgpgin/pgpgout, and swap pages.
  pgpgin = 0;
  pgpgout = 0;
  pswpin = 0;
  pswpout = 0;
  pgfault = 0;
  pgmajfault = 0;
  // Reclaim (mm/vmscan.c).
  pgactivate = 0;
  pgdeactivate = 0;
  pgrefill = 0;
  pgstealKswapd = 0;
  pgstealDirect = 0;
  pgscanKswapd = 0;
  pgscanDirect = 0;
  /** throttle_direct_reclaim(): direct reclaimers made to wait for kswapd below half the min marks. */
  pgscanDirectThrottle = 0;
  pgscanAnon = 0;
  pgscanFile = 0;
  pgstealAnon = 0;
  pgstealFile = 0;
  slabsScanned = 0;
  kswapdLowWmarkHitQuickly = 0;
  kswapdHighWmarkHitQuickly = 0;
  pageoutrun = 0;
  pgrotated = 0;
  oomKill = 0;
  // Migration and compaction (mm/migrate.c, mm/compaction.c).
  pgmigrateSuccess = 0;
  pgmigrateFail = 0;
  compactMigrateScanned = 0;
  compactFreeScanned = 0;
  compactIsolated = 0;
  compactStall = 0;
  compactFail = 0;
  compactSuccess = 0;
  compactDaemonWake = 0;
  compactDaemonMigrateScanned = 0;
  compactDaemonFreeScanned = 0;

  constructor(nrZones: number) {
    this.pgalloc = new Float64Array(nrZones);
    this.allocstall = new Float64Array(nrZones);
    this.pgskip = new Float64Array(nrZones);
  }
}

/**
 * The node's page-state counters (enum node_stat_item) the reclaim layers keep; one node, exact (no
 * per-CPU drift). The LRU sizes live with the LRU lists (swap.ts).
 */
export class NodeStats {
  /** NR_FILE_PAGES: page cache pages (swap cache included, as the kernel counts it). */
  nrFilePages = 0;
  /** NR_ANON_MAPPED: anonymous pages mapped by a task. */
  nrAnonPages = 0;
  /** NR_SWAPCACHE. */
  nrSwapcached = 0;
  /** NR_FILE_DIRTY and NR_WRITEBACK. */
  nrDirty = 0;
  nrWriteback = 0;
  /** NR_ISOLATED_ANON / NR_ISOLATED_FILE: taken off the LRU by reclaim or compaction. */
  nrIsolatedAnon = 0;
  nrIsolatedFile = 0;
  /** NR_VMSCAN_WRITE, NR_VMSCAN_IMMEDIATE, NR_DIRTIED, NR_WRITTEN. */
  nrVmscanWrite = 0;
  nrVmscanImmediateReclaim = 0;
  nrDirtied = 0;
  nrWritten = 0;
}

export class ModelStats {
  /** Allocation requests, failures, and failures although the zones together had 2^order free pages. */
  readonly allocRequests = new Float64Array(NR_PAGE_ORDERS);
  readonly allocFailures = new Float64Array(NR_PAGE_ORDERS);
  /** rmqueue_bulk calls and the pages they moved to pcp lists. */
  pcpRefills = 0;
  pcpRefillPages = 0;
  /** free_pcppages_bulk calls and the pages they returned to the buddy lists. */
  pcpDrains = 0;
  pcpDrainPages = 0;
  /** Allocations served from another migratetype's list: whole pageblocks claimed, or blocks stolen. */
  fallbackClaims = 0;
  fallbackSteals = 0;
  /** Fallbacks that left a pageblock of mixed mobility (fragmenting=1 in mm_page_alloc_extfrag). */
  fallbackFragmenting = 0;
  /** Allocations and pages handed out under ALLOC_NO_WATERMARKS (marked pfmemalloc from 3.6). */
  pfmemallocAllocs = 0;
  pfmemallocPages = 0;
  /** Failed allocations not entitled to the reserves although their zones had 2^order pages free. */
  reserveRefused = 0;
  /** Allocations that went through the slow path. */
  slowpath = 0;
  /** Pageblocks moved into and out of the HIGHATOMIC reserve. */
  highatomicReserved = 0;
  highatomicUnreserved = 0;
  /** drain_all_pages() calls. */
  drainAll = 0;

  reset(): void {
    const fresh = new ModelStats();
    this.allocRequests.fill(0);
    this.allocFailures.fill(0);
    for (const k of Object.keys(fresh) as Array<keyof ModelStats>) {
      if (typeof fresh[k] === 'number') (this as Record<string, unknown>)[k] = fresh[k];
    }
  }
}

/**
 * The free-block census of a zone used by both indices (fill_contig_page_info): total free blocks, free
 * pages, and blocks usable for `order` (a block of order k >= order counts 2^(k - order) times).
 */
export function contigPageInfo(nrFree: Int32Array, order: number): { total: number; free: number; suitable: number } {
  let total = 0;
  let free = 0;
  let suitable = 0;
  for (let k = 0; k < NR_PAGE_ORDERS; k++) {
    const blocks = nrFree[k];
    total += blocks;
    free += blocks * 2 ** k;
    if (k >= order) suitable += blocks * 2 ** (k - order);
  }
  return { total, free, suitable };
}

/**
 * __fragmentation_index(): how much a failure at `order` would be due to fragmentation (toward 1000)
 * rather than lack of memory (toward 0); -1000 when a suitable block exists. In thousandths, integer as
 * the kernel computes it.
 */
export function fragmentationIndex(nrFree: Int32Array, order: number): number {
  const { total, free, suitable } = contigPageInfo(nrFree, order);
  if (total === 0) return 0;
  if (suitable > 0) return -1000;
  return 1000 - Math.trunc((1000 + Math.trunc((free * 1000) / 2 ** order)) / total);
}

/** unusable_free_index(): the share of free memory unusable for `order`, in thousandths. */
export function unusableFreeIndex(nrFree: Int32Array, order: number): number {
  const { free, suitable } = contigPageInfo(nrFree, order);
  if (free === 0) return 1000;
  return Math.trunc(((free - suitable * 2 ** order) * 1000) / free);
}

/** The kernel prints both indices as `%d.%03d` of the thousandths (vmstat.c extfrag_show_print). */
export function formatIndex(thousandths: number): string {
  const neg = thousandths < 0;
  const a = Math.abs(thousandths);
  return `${neg ? '-' : ''}${Math.trunc(a / 1000)}.${String(a % 1000).padStart(3, '0')}`;
}
