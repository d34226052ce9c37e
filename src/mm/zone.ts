/**
 * struct zone and what sizes it (include/linux/mmzone.h; mm/page_alloc.c __setup_per_zone_wmarks,
 * setup_per_zone_lowmem_reserve, calculate_totalreserve_pages, zone_batchsize, zone_highsize;
 * mm/khugepaged.c set_recommended_min_free_kbytes; mm/vmstat.c calculate_normal_threshold).
 *
 * A zone owns its free areas: one list per order and migratetype (heads are mem_map sentinels), the block
 * count per list (for /proc/pagetypeinfo) and per order (free_area[].nr_free), and one per_cpu_pages per
 * CPU. The watermark arithmetic is the kernel's, integer for integer, so a zone booted from a real
 * /proc/zoneinfo gets the real kernel's min/low/high/promo and protection.
 * Departures: one node; pcp->high is not decayed by the vmstat tick (see pcp.ts).
 */
import type { ZoneType } from '../config.js';
import { MIGRATE_TYPES, MIGRATE_PCPTYPES } from '../gfp.js';
import { MemMap, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER } from './page.js';

export const WMARK_MIN = 0;
export const WMARK_LOW = 1;
export const WMARK_HIGH = 2;
export const WMARK_PROMO = 3;

/** Lists per CPU: one per migratetype for orders 0..3, then two for pageblock-order THPs (NR_PCP_THP). */
export const NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);
export const NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + 2;

/** SWAP_CLUSTER_MAX: the floor of a highmem or movable zone's min watermark. */
const SWAP_CLUSTER_MAX = 32;
/** MIN_PERCPU_PAGELIST_HIGH_FRACTION: pcp->high_max is managed / 8 split over the CPUs. */
const MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8;

export class PerCpuPages {
  /** Pages on all lists of this CPU (pcp->count counts pages, not blocks). */
  count = 0;
  high = 0;
  batch = 1;
  highMin = 0;
  highMax = 0;
  /** First of NR_PCP_LISTS list heads. */
  readonly lists: number;
  /** vm stats threshold (stat_threshold), printed in zoneinfo. */
  statThreshold = 0;
  /** alloc_factor: refills double (up to batch << CONFIG_PCP_BATCH_SCALE_MAX) during allocation runs. */
  allocFactor = 0;
  /** free_count: pages freed since the last allocation, sizing drains during free runs. */
  freeCount = 0;
  /** flags (PCPF_*). */
  flags = 0;
  /**
   * This CPU's share of its zone's vm events and NUMA counters (the kernel's per-CPU vm_event_states and
   * per_cpu_zonestats): the order-0 allocations the fast path served (each a request, a pgalloc and a
   * numa_hit), and the pages the fast path freed onto the lists (pgfree). Pcp.foldVmEvents() sums them into
   * VmEvents and ModelStats when those are read, as all_vm_events() sums the CPUs' counters; the fast paths
   * then count with one increment on an object they already hold.
   */
  nrAlloc = 0;
  pgfree = 0;
  /** The zone these lists belong to (the kernel reaches it from the caller; the model keeps it at hand). */
  readonly zone: Zone;
  constructor(zone: Zone, lists: number) {
    this.zone = zone;
    this.lists = lists;
  }
}

export class Zone {
  readonly idx: number;
  readonly type: ZoneType;
  readonly name: string;
  readonly startPfn: number;
  readonly spanned: number;
  readonly present: number;
  /** zone->managed_pages: pages the buddy allocator manages. */
  managed: number;
  /** Sentinel of list (order, mt) is freeBase + order * MIGRATE_TYPES + mt. */
  readonly freeBase: number;
  /** free_area[order].nr_free: blocks of that order on any list. */
  readonly nrFree = new Int32Array(NR_PAGE_ORDERS);
  /** Blocks per (order, mt) list. */
  readonly nrFreeList = new Int32Array(NR_PAGE_ORDERS * MIGRATE_TYPES);
  /** NR_FREE_PAGES: free pages on the buddy lists, not counting isolated ones. */
  freePages = 0;
  /** Free pages on the HIGHATOMIC lists (nr_free_highatomic) and pages reserved for it. */
  nrFreeHighatomic = 0;
  nrReservedHighatomic = 0;
  /** _watermark[WMARK_MIN..WMARK_PROMO]; set with setWatermarks. */
  readonly watermark: readonly number[] = [0, 0, 0, 0];
  private boost = 0;
  /**
   * low_wmark_pages() and high_wmark_pages() (_watermark + watermark_boost), kept current by setWatermarks and
   * the watermarkBoost setter, so that wmarkLow()/wmarkHigh() on the allocation fast path are one load each.
   */
  private lowMark = 0;
  private highMark = 0;
  /** ZONE_BOOSTED_WATERMARK: a fallback boosted the marks; the next allocation wakes kswapd. */
  boostedWatermark = false;
  /** lowmem_reserve[highest_zoneidx]: pages kept back from allocations that could use a higher zone. */
  lowmemReserve: number[];
  readonly pcp: PerCpuPages[];
  /** ZONE_BELOW_HIGH: free pages fell under the high watermark since the last check (pcp high tuning). */
  belowHigh = false;
  /** The zone-wide NUMA_HIT count (zone->vm_numa_event); the CPUs' shares are in PerCpuPages.nrAlloc. */
  vmNumaHit = 0;

  constructor(mm: MemMap, idx: number, type: ZoneType, startPfn: number, spanned: number, present: number,
    managed: number, nrZones: number, nrCpus: number) {
    this.idx = idx;
    this.type = type;
    this.name = type;
    // Int32 values (`| 0`), not the doubles the layout arithmetic may hand over (see MemMap's constructor).
    this.startPfn = startPfn | 0;
    this.spanned = spanned | 0;
    this.present = present | 0;
    this.managed = managed | 0;
    this.freeBase = mm.allocListHeads(NR_PAGE_ORDERS * MIGRATE_TYPES);
    this.lowmemReserve = Array.from({ length: nrZones }, () => 0); // packed: no hole checks on the fast path
    this.pcp = [];
    for (let c = 0; c < nrCpus; c++) this.pcp.push(new PerCpuPages(this, mm.allocListHeads(NR_PCP_LISTS)));
  }

  /** zone_numa_event_state(NUMA_HIT): allocation requests this zone served (vmstat numa_hit, numa_local). */
  get numaHit(): number {
    let n = this.vmNumaHit;
    for (const pcp of this.pcp) n += pcp.nrAlloc;
    return n;
  }

  get endPfn(): number {
    return this.startPfn + this.spanned;
  }

  populated(): boolean {
    return this.present > 0;
  }

  freeList(order: number, mt: number): number {
    return this.freeBase + order * MIGRATE_TYPES + mt;
  }

  wmarkMin(): number {
    return this.watermark[WMARK_MIN] + this.watermarkBoost;
  }
  wmarkLow(): number {
    return this.lowMark;
  }
  wmarkHigh(): number {
    return this.highMark;
  }

  /** watermark_boost: pages added to every mark after a fallback (boost_watermark), until kswapd resets it. */
  get watermarkBoost(): number {
    return this.boost;
  }
  set watermarkBoost(pages: number) {
    this.boost = pages;
    this.lowMark = this.watermark[WMARK_LOW] + pages;
    this.highMark = this.watermark[WMARK_HIGH] + pages;
  }

  /** The zone's _watermark[], as __setup_per_zone_wmarks() computes them. */
  setWatermarks(min: number, low: number, high: number, promo: number): void {
    const w = this.watermark as number[];
    w[WMARK_MIN] = min;
    w[WMARK_LOW] = low;
    w[WMARK_HIGH] = high;
    w[WMARK_PROMO] = promo;
    this.watermarkBoost = this.boost; // re-derives the low and high marks
  }
  /** wmark_pages(zone, i). */
  wmark(i: number): number {
    return this.watermark[i] + this.watermarkBoost;
  }

  /** Free pages in blocks of at least pageblock order (nr_free_pages_blocks, 6.18). */
  freePagesBlocks(pageblockOrder: number): number {
    let n = 0;
    for (let o = pageblockOrder; o < NR_PAGE_ORDERS; o++) n += this.nrFree[o] << o;
    return n;
  }
}

export function isHighmemOrMovable(type: ZoneType): boolean {
  return type === 'HighMem' || type === 'Movable';
}

/** mult_frac(x, n, d) without overflow: (x / d) * n + ((x % d) * n) / d, integer. */
function multFrac(x: number, n: number, d: number): number {
  return Math.floor(x / d) * n + Math.floor(((x % d) * n) / d);
}

/** int_sqrt(). */
export function intSqrt(x: number): number {
  let r = Math.floor(Math.sqrt(x));
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

/**
 * nr_free_buffer_pages(): pages above the high watermark in the zones GFP_USER may use (all but highmem and
 * movable).
 */
export function nrFreeBufferPages(zones: Zone[]): number {
  let sum = 0;
  for (const z of zones) {
    if (isHighmemOrMovable(z.type) || z.type === 'Device') continue;
    sum += Math.max(0, z.managed - z.watermark[WMARK_HIGH]);
  }
  return sum;
}

/** calculate_min_free_kbytes(): int_sqrt(lowmem_kbytes * 16) clamped to [128, 262144]. */
export function calculateMinFreeKbytes(zones: Zone[]): number {
  const lowmemKbytes = nrFreeBufferPages(zones) * 4;
  return Math.min(262144, Math.max(128, intSqrt(lowmemKbytes * 16)));
}

/**
 * set_recommended_min_free_kbytes() (khugepaged, when THP is enabled): room for two free pageblocks per zone
 * plus MIGRATE_PCPTYPES^2 pageblocks per zone for fallbacks, at most 5% of lowmem.
 */
export function recommendedMinFreeKbytes(zones: Zone[], pageblockOrder: number): number {
  let nrZones = 0;
  for (const z of zones) if (z.populated() && !isHighmemOrMovable(z.type) && z.type !== 'Device') nrZones++;
  const pageblockPages = 1 << pageblockOrder;
  let rec = pageblockPages * nrZones * 2;
  rec += pageblockPages * nrZones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES;
  rec = Math.min(rec, Math.floor(nrFreeBufferPages(zones) / 20));
  return rec * 4;
}

/** __setup_per_zone_wmarks(). */
export function setupPerZoneWmarks(zones: Zone[], minFreeKbytes: number, watermarkScaleFactor: number): void {
  const pagesMin = Math.floor(minFreeKbytes / 4);
  let lowmemPages = 0;
  for (const z of zones) if (!isHighmemOrMovable(z.type)) lowmemPages += z.managed;
  for (const z of zones) {
    let tmp = lowmemPages ? Math.floor((pagesMin * z.managed) / lowmemPages) : 0;
    // __GFP_HIGH and PF_MEMALLOC rarely need highmem or movable pages: cap their min small.
    const min = isHighmemOrMovable(z.type) ? Math.min(128, Math.max(SWAP_CLUSTER_MAX, Math.floor(z.managed / 1024))) : tmp;
    tmp = Math.max(tmp >> 2, multFrac(z.managed, watermarkScaleFactor, 10000));
    z.watermarkBoost = 0;
    z.setWatermarks(min, min + tmp, min + 2 * tmp, min + 3 * tmp);
  }
}

/** setup_per_zone_lowmem_reserve(): zone i keeps (managed pages of the zones above it up to j) / ratio[i]. */
export function setupPerZoneLowmemReserve(zones: Zone[], ratio: number[]): void {
  for (let i = 0; i < zones.length; i++) {
    const z = zones[i];
    const r = ratio[i] ?? 0;
    const clear = !r || !z.managed;
    let managed = 0;
    for (let j = 0; j < zones.length; j++) {
      if (j <= i) {
        z.lowmemReserve[j] = 0;
        continue;
      }
      managed += zones[j].managed;
      z.lowmemReserve[j] = clear ? 0 : Math.floor(managed / r);
    }
  }
}

/** calculate_totalreserve_pages(): per zone, the largest lowmem_reserve plus the high mark, capped at managed. */
export function calculateTotalreservePages(zones: Zone[]): number {
  let total = 0;
  for (let i = 0; i < zones.length; i++) {
    const z = zones[i];
    let max = 0;
    for (let j = i; j < zones.length; j++) max = Math.max(max, z.lowmemReserve[j]);
    max += z.watermark[WMARK_HIGH];
    total += Math.min(max, z.managed);
  }
  return total;
}

/** rounddown_pow_of_two(). */
function rounddownPow2(x: number): number {
  return x < 1 ? 0 : 2 ** Math.floor(Math.log2(x));
}

/** zone_batchsize(): about a quarter of a 1 MiB-per-GiB share, made 2^n - 1 to avoid cache aliasing. */
export function zoneBatchsize(managed: number): number {
  let batch = Math.min(managed >> 10, (1 << 20) / 4096);
  batch = Math.floor(batch / 4);
  if (batch < 1) batch = 1;
  return rounddownPow2(batch + (batch >> 1)) - 1;
}

/**
 * zone_highsize(): at boot the per-CPU high mark splits the low watermark (or managed / fraction for
 * high_max) over the node's CPUs, and is at least four batches.
 */
export function zoneHighsize(zone: Zone, batch: number, nrCpus: number, highFraction: number): number {
  const total = highFraction ? Math.floor(zone.managed / highFraction) : zone.watermark[WMARK_LOW];
  const high = Math.floor(total / nrCpus);
  return Math.max(high, batch << 2);
}

/** zone_set_pageset_high_and_batch() at boot. */
export function setupPagesets(zone: Zone, nrCpus: number): void {
  const batch = Math.max(1, zoneBatchsize(zone.managed));
  const highMin = zoneHighsize(zone, batch, nrCpus, 0);
  const highMax = zoneHighsize(zone, batch, nrCpus, MIN_PERCPU_PAGELIST_HIGH_FRACTION);
  const threshold = calculateNormalThreshold(zone.managed, nrCpus);
  for (const p of zone.pcp) {
    p.batch = batch;
    p.highMin = highMin;
    p.highMax = highMax;
    p.high = 0; // per_cpu_pages_init(): clamped into [high_min, high_max] on first use
    p.statThreshold = threshold;
  }
}

/** fls(): position of the most significant set bit, 1-based; fls(0) = 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** calculate_normal_threshold(): per-CPU vmstat drift allowed before folding into the zone counter. */
export function calculateNormalThreshold(managed: number, nrCpus: number): number {
  const mem = managed >> (27 - 12);
  return Math.min(125, 2 * fls(nrCpus) * (1 + fls(mem)));
}
