/**
 * The buddy free lists of every zone (mm/page_alloc.c: __add_to_free_list, __del_page_from_free_list,
 * expand, __free_one_page, __rmqueue_smallest, __rmqueue_claim, __rmqueue_steal, try_to_claim_block,
 * move_freepages_block, reserve/unreserve_highatomic_pageblock; include/linux/pageblock-flags.h).
 *
 * The kernel keeps all of this in page_alloc.c; mmlab splits the zone-lock-side list work (this file), the
 * per-CPU lists (pcp.ts) and the entry points and policy (page_alloc.ts) so each can be read alone.
 * The algorithms follow 6.18: fallback is split into claiming a whole pageblock (largest order first) and
 * stealing a single block (smallest order first); ALLOC_NOFRAGMENT restricts claiming to whole pageblocks
 * and forbids stealing. Pageblock migratetypes live in one byte per pageblock (bits 0..2: migratetype,
 * bit 3: the compaction skip hint). Page isolation and CMA are not modelled; MIGRATE_ISOLATE exists only
 * as a list so /proc/pagetypeinfo has its row.
 */
import { MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE } from '../gfp.js';
import { MemMap, MAX_PAGE_ORDER, NO_PAGE, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PG_LRU, PGTY_BUDDY, PGTY_MASK } from './page.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_MM_PAGE_ALLOC_EXTFRAG, EV_MM_PAGE_ALLOC_ZONE_LOCKED } from '../trace/events.js';
import type { ModelStats } from './vmstat.js';
import type { Zone } from './zone.js';

/** alloc_flags bits (mm/internal.h). */
export const ALLOC_WMARK_MIN = 0;
export const ALLOC_WMARK_LOW = 1;
export const ALLOC_WMARK_HIGH = 2;
export const ALLOC_WMARK_MASK = 3;
export const ALLOC_NO_WATERMARKS = 0x04;
export const ALLOC_OOM = 0x08;
export const ALLOC_NON_BLOCK = 0x10;
export const ALLOC_MIN_RESERVE = 0x20;
export const ALLOC_CPUSET = 0x40;
export const ALLOC_CMA = 0x80;
export const ALLOC_NOFRAGMENT = 0x100;
export const ALLOC_HIGHATOMIC = 0x200;
export const ALLOC_KSWAPD = 0x800;
export const ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM;

/** fallbacks[]: where each type looks when its own lists are empty. */
export const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

const PB_MIGRATETYPE_MASK = 0x7;

/** get_pfnblock_migratetype() over the bitmap itself, for a hot path that holds it (one load less than via Buddy). */
export function pageblockMigratetype(pageblockFlags: Uint8Array, pageblockOrder: number, pfn: number): number {
  return pageblockFlags[pfn >>> pageblockOrder] & PB_MIGRATETYPE_MASK;
}
/** vm.watermark_boost_factor default, in ten-thousandths of the high mark. */
const WATERMARK_BOOST_FACTOR = 15000;
export const PB_MIGRATE_SKIP = 0x8;

/** Free-one-page flags (fpi_t). */
export const FPI_NONE = 0;
export const FPI_TO_TAIL = 1 << 1;

export class Buddy {
  readonly mm: MemMap;
  readonly zones: Zone[];
  readonly pageblockOrder: number;
  /** One byte per pageblock: migratetype and skip bit. */
  readonly pageblockFlags: Uint8Array;
  /** page_group_by_mobility_disabled. */
  readonly mobilityDisabled: boolean;
  /** pcp_allowed_order() includes the pageblock order when THP is on. */
  readonly thp: boolean;
  private readonly trace: TraceBuffer;
  private readonly stats: ModelStats;
  /**
   * compaction_capture(): set while a task runs direct compaction (current->capture_control); a block that
   * merges up to the requested order is offered to it and, if taken, stays off the free lists.
   */
  capture: ((pfn: number, zone: Zone, order: number, mt: number) => boolean) | null = null;

  constructor(mm: MemMap, zones: Zone[], pageblockOrder: number, mobilityDisabled: boolean, thp: boolean, trace: TraceBuffer, stats: ModelStats) {
    this.mm = mm;
    this.zones = zones;
    this.pageblockOrder = pageblockOrder;
    this.pageblockFlags = new Uint8Array(Math.ceil(mm.nrPages / (1 << pageblockOrder)) + 1);
    this.pageblockFlags.fill(MIGRATE_MOVABLE); // memmap_init() marks every pageblock movable
    this.mobilityDisabled = mobilityDisabled;
    this.thp = thp;
    this.trace = trace;
    this.stats = stats;
  }

  // --- pageblocks ---------------------------------------------------------------------------------

  getPageblockMigratetype(pfn: number): number {
    return pageblockMigratetype(this.pageblockFlags, this.pageblockOrder, pfn);
  }

  setPageblockMigratetype(pfn: number, mt: number): void {
    const i = pfn >>> this.pageblockOrder;
    this.pageblockFlags[i] = (this.pageblockFlags[i] & ~PB_MIGRATETYPE_MASK) | mt;
  }

  /** get_pageblock_skip(): the compaction skip hint (PB_migrate_skip) of the pageblock around pfn. */
  getPageblockSkip(pfn: number): boolean {
    return (this.pageblockFlags[pfn >>> this.pageblockOrder] & PB_MIGRATE_SKIP) !== 0;
  }

  /** set_pageblock_skip(). */
  setPageblockSkip(pfn: number): void {
    this.pageblockFlags[pfn >>> this.pageblockOrder] |= PB_MIGRATE_SKIP;
  }

  /** clear_pageblock_skip(). */
  clearPageblockSkip(pfn: number): void {
    this.pageblockFlags[pfn >>> this.pageblockOrder] &= ~PB_MIGRATE_SKIP;
  }

  /** change_pageblock_range(): every pageblock of a block of `order` pages gets `mt`. */
  changePageblockRange(pfn: number, order: number, mt: number): void {
    const nr = order > this.pageblockOrder ? 1 << (order - this.pageblockOrder) : 1;
    for (let i = 0; i < nr; i++) this.setPageblockMigratetype(pfn + (i << this.pageblockOrder), mt);
  }

  pcpAllowedOrder(order: number): boolean {
    return order <= PAGE_ALLOC_COSTLY_ORDER || (this.thp && order === this.pageblockOrder);
  }

  // --- free lists ---------------------------------------------------------------------------------

  /** account_freepages(): NR_FREE_PAGES ignores isolated pages; highatomic ones are also counted apart. */
  accountFreepages(zone: Zone, nr: number, mt: number): void {
    if (mt === MIGRATE_ISOLATE) return;
    zone.freePages += nr;
    if (mt === MIGRATE_HIGHATOMIC) zone.nrFreeHighatomic += nr;
  }

  /** __add_to_free_list() + set_buddy_order(): the block's head becomes PageBuddy with its order. */
  addToFreeList(pfn: number, zone: Zone, order: number, mt: number, tail: boolean): void {
    const mm = this.mm;
    const head = zone.freeList(order, mt);
    if (tail) mm.listAddTail(pfn, head);
    else mm.listAdd(pfn, head);
    mm.flags[pfn] = (mm.flags[pfn] & ~PGTY_MASK) | PGTY_BUDDY;
    mm.private_[pfn] = order;
    zone.nrFree[order]++;
    zone.nrFreeList[order * MIGRATE_TYPES + mt]++;
  }

  /** __del_page_from_free_list(): the head stops being PageBuddy. */
  delFromFreeList(pfn: number, zone: Zone, order: number, mt: number): void {
    const mm = this.mm;
    mm.listDel(pfn);
    mm.flags[pfn] &= ~PGTY_MASK;
    mm.private_[pfn] = 0;
    zone.nrFree[order]--;
    zone.nrFreeList[order * MIGRATE_TYPES + mt]--;
  }

  /** move_to_free_list(): to the tail of another type's list, moving the accounting along. */
  moveToFreeList(pfn: number, zone: Zone, order: number, oldMt: number, newMt: number): void {
    const mm = this.mm;
    mm.listDel(pfn);
    mm.listAddTail(pfn, zone.freeList(order, newMt));
    zone.nrFreeList[order * MIGRATE_TYPES + oldMt]--;
    zone.nrFreeList[order * MIGRATE_TYPES + newMt]++;
    this.accountFreepages(zone, -(1 << order), oldMt);
    this.accountFreepages(zone, 1 << order, newMt);
  }

  /** page_is_buddy(): a free block head of exactly this order in the same zone. */
  isBuddy(pfn: number, order: number, zoneIdx: number): boolean {
    const mm = this.mm;
    if (pfn >= mm.nrPages) return false;
    const f = mm.flags[pfn];
    return (f & PGTY_MASK) === PGTY_BUDDY && mm.private_[pfn] === order && mm.zoneIdx(pfn) === zoneIdx;
  }

  /**
   * expand(): split a block of order `high` down to `low`, putting the upper halves on the `mt` lists;
   * returns the pages put back.
   */
  expand(zone: Zone, pfn: number, low: number, high: number, mt: number): number {
    let size = 1 << high;
    let added = 0;
    while (high > low) {
      high--;
      size >>= 1;
      this.addToFreeList(pfn + size, zone, high, mt, false);
      added += size;
    }
    return added;
  }

  /** page_del_and_expand(). */
  private delAndExpand(zone: Zone, pfn: number, low: number, high: number, mt: number): void {
    this.delFromFreeList(pfn, zone, high, mt);
    const nr = (1 << high) - this.expand(zone, pfn, low, high, mt);
    this.accountFreepages(zone, -nr, mt);
  }

  /**
   * __free_one_page(): merge with free buddies while they exist, up to MAX_PAGE_ORDER; at and above
   * pageblock order only with a mergeable type; a direct compactor waiting for this order may capture the
   * block on the way (compaction.ts). The block goes to the tail of its list when asked
   * (FPI_TO_TAIL) or when its next-larger buddy is free (buddy_merge_likely), else to the head.
   */
  freeOnePage(pfn: number, zone: Zone, order: number, mt: number, fpi: number): void {
    const zidx = zone.idx;
    this.accountFreepages(zone, 1 << order, mt);
    let buddyPfn = 0;
    while (order < MAX_PAGE_ORDER) {
      if (this.capture !== null && this.capture(pfn, zone, order, mt)) {
        this.accountFreepages(zone, -(1 << order), mt);
        return;
      }
      buddyPfn = pfn ^ (1 << order);
      if (!this.isBuddy(buddyPfn, order, zidx)) break;
      let buddyMt = mt;
      if (order >= this.pageblockOrder) {
        buddyMt = this.getPageblockMigratetype(buddyPfn);
        if (mt !== buddyMt && (mt >= MIGRATE_PCPTYPES || buddyMt >= MIGRATE_PCPTYPES)) break;
      }
      this.delFromFreeList(buddyPfn, zone, order, buddyMt);
      // Match the buddy's type so that expand() later puts the halves on the right lists.
      if (buddyMt !== mt) this.setPageblockMigratetype(buddyPfn, mt);
      pfn &= buddyPfn;
      order++;
    }
    let toTail: boolean;
    if (fpi & FPI_TO_TAIL) toTail = true;
    else if (order >= MAX_PAGE_ORDER - 1) toTail = false;
    else {
      const higher = buddyPfn & pfn;
      toTail = this.isBuddy(higher ^ (1 << (order + 1)), order + 1, zidx);
    }
    this.addToFreeList(pfn, zone, order, mt, toTail);
  }

  // --- taking blocks ------------------------------------------------------------------------------

  /** __rmqueue_smallest(): the first block on the smallest non-empty list of this type. */
  rmqueueSmallest(zone: Zone, order: number, mt: number): number {
    const mm = this.mm;
    for (let cur = order; cur < NR_PAGE_ORDERS; cur++) {
      const head = zone.freeList(cur, mt);
      const pfn = mm.next[head];
      if (pfn === head) continue;
      this.delAndExpand(zone, pfn, order, cur, mt);
      if (this.trace.on.mm_page_alloc_zone_locked) {
        const refill = this.pcpAllowedOrder(order) && mt < MIGRATE_PCPTYPES ? 1 : 0;
        this.trace.record(EV_MM_PAGE_ALLOC_ZONE_LOCKED, pfn, order, mt, refill);
      }
      return pfn;
    }
    return NO_PAGE;
  }

  /** should_try_claim_block(). */
  shouldTryClaimBlock(order: number, startMt: number): boolean {
    if (order >= this.pageblockOrder) return true;
    // Large blocks, and unmovable/reclaimable requests, take the whole pageblock to keep types apart.
    return order >= this.pageblockOrder >> 1 || startMt === MIGRATE_RECLAIMABLE || startMt === MIGRATE_UNMOVABLE || this.mobilityDisabled;
  }

  /**
   * find_suitable_fallback(): the first fallback type with a free block of this order; -1 if none; -2 when
   * claiming and the order is too small to claim a pageblock for this type.
   */
  findSuitableFallback(zone: Zone, order: number, mt: number, claimable: boolean): number {
    if (claimable && !this.shouldTryClaimBlock(order, mt)) return -2;
    if (zone.nrFree[order] === 0) return -1;
    const fb = FALLBACKS[mt];
    for (let i = 0; i < fb.length; i++) {
      if (zone.nrFreeList[order * MIGRATE_TYPES + fb[i]] !== 0) return fb[i];
    }
    return -1;
  }

  /**
   * __rmqueue_claim(): from the largest order down, claim a whole pageblock of another type when the
   * request would take most of it (try_to_claim_block), then serve the request from it.
   */
  rmqueueClaim(zone: Zone, order: number, startMt: number, allocFlags: number): number {
    const minOrder = order < this.pageblockOrder && allocFlags & ALLOC_NOFRAGMENT ? this.pageblockOrder : order;
    for (let cur = MAX_PAGE_ORDER; cur >= minOrder; cur--) {
      const fbMt = this.findSuitableFallback(zone, cur, startMt, true);
      if (fbMt === -1) continue;
      if (fbMt === -2) break; // smaller orders cannot claim either: leave them to __rmqueue_steal()
      const pfn = this.mm.next[zone.freeList(cur, fbMt)];
      const page = this.tryToClaimBlock(zone, pfn, cur, order, startMt, fbMt, allocFlags);
      if (page !== NO_PAGE) {
        this.stats.fallbackClaims++;
        this.traceExtfrag(page, order, cur, startMt, fbMt);
        return page;
      }
    }
    return NO_PAGE;
  }

  /** __rmqueue_steal(): from the smallest order up, take one block of another type without claiming. */
  rmqueueSteal(zone: Zone, order: number, startMt: number): number {
    for (let cur = order; cur < NR_PAGE_ORDERS; cur++) {
      const fbMt = this.findSuitableFallback(zone, cur, startMt, false);
      if (fbMt < 0) continue;
      const pfn = this.mm.next[zone.freeList(cur, fbMt)];
      this.delAndExpand(zone, pfn, order, cur, fbMt);
      this.stats.fallbackSteals++;
      this.traceExtfrag(pfn, order, cur, startMt, fbMt);
      return pfn;
    }
    return NO_PAGE;
  }

  /**
   * try_to_claim_block(): a block of a whole pageblock or more changes type outright; a smaller one
   * re-types its pageblock when free plus compatible pages fill at least half of it.
   */
  private tryToClaimBlock(zone: Zone, pfn: number, cur: number, order: number, startMt: number, blockMt: number, allocFlags: number): number {
    if (blockMt === MIGRATE_HIGHATOMIC) return NO_PAGE;
    if (cur >= this.pageblockOrder) {
      this.delFromFreeList(pfn, zone, cur, blockMt);
      this.accountFreepages(zone, -(1 << cur), blockMt);
      this.changePageblockRange(pfn, cur, startMt);
      const added = this.expand(zone, pfn, order, cur, startMt);
      this.accountFreepages(zone, added, startMt);
      return pfn;
    }
    // A fragmenting fallback: boost the watermarks so kswapd reclaims the mixed block back soon.
    if (this.boostWatermark(zone) && allocFlags & ALLOC_KSWAPD) zone.boostedWatermark = true;
    const census = this.prepMoveFreepagesBlock(zone, pfn);
    if (!census) return NO_PAGE;
    let alike: number;
    if (startMt === MIGRATE_MOVABLE) alike = census.movable;
    else if (blockMt === MIGRATE_MOVABLE) alike = (1 << this.pageblockOrder) - (census.free + census.movable);
    else alike = 0;
    if (census.free + alike >= 1 << (this.pageblockOrder - 1) || this.mobilityDisabled) {
      this.moveFreepages(zone, census.start, blockMt, startMt);
      this.setPageblockMigratetype(census.start, startMt);
      return this.rmqueueSmallest(zone, order, startMt);
    }
    return NO_PAGE;
  }

  /**
   * boost_watermark(): raise the marks by a pageblock, up to watermark_boost_factor (150%) of the high mark;
   * not for zones smaller than four pageblocks.
   */
  private boostWatermark(zone: Zone): boolean {
    const pbPages = 1 << this.pageblockOrder;
    if (pbPages * 4 > zone.managed) return false;
    const high = zone.watermark[2];
    let maxBoost = Math.floor(high / 10000) * WATERMARK_BOOST_FACTOR + Math.floor(((high % 10000) * WATERMARK_BOOST_FACTOR) / 10000);
    if (!maxBoost) return false;
    maxBoost = Math.max(pbPages, maxBoost);
    zone.watermarkBoost = Math.min(zone.watermarkBoost + pbPages, maxBoost);
    return true;
  }

  /**
   * prep_move_freepages_block(): the pageblock around pfn, if the zone spans all of it, with its free pages
   * and its movable pages (on the LRU) counted.
   */
  prepMoveFreepagesBlock(zone: Zone, pfn: number): { start: number; free: number; movable: number } | null {
    const mm = this.mm;
    const start = pfn & ~((1 << this.pageblockOrder) - 1);
    const end = start + (1 << this.pageblockOrder);
    if (start < zone.startPfn || end > zone.endPfn) return null;
    let free = 0;
    let movable = 0;
    for (let p = start; p < end; ) {
      const f = mm.flags[p];
      if ((f & PGTY_MASK) === PGTY_BUDDY) {
        const nr = 1 << mm.private_[p];
        free += nr;
        p += nr;
        continue;
      }
      if (f & PG_LRU) movable++;
      p++;
    }
    return { start, free, movable };
  }

  /** __move_freepages_block(): every free block inside the pageblock moves to the new type's lists. */
  private moveFreepages(zone: Zone, start: number, oldMt: number, newMt: number): number {
    const mm = this.mm;
    const end = start + (1 << this.pageblockOrder);
    let moved = 0;
    for (let p = start; p < end; ) {
      if ((mm.flags[p] & PGTY_MASK) !== PGTY_BUDDY) {
        p++;
        continue;
      }
      const order = mm.private_[p];
      this.moveToFreeList(p, zone, order, oldMt, newMt);
      p += 1 << order;
      moved += 1 << order;
    }
    return moved;
  }

  /** move_freepages_block(): -1 when the pageblock straddles the zone's edge. */
  moveFreepagesBlock(zone: Zone, pfn: number, oldMt: number, newMt: number): number {
    const census = this.prepMoveFreepagesBlock(zone, pfn);
    if (!census) return -1;
    const moved = this.moveFreepages(zone, census.start, oldMt, newMt);
    this.setPageblockMigratetype(census.start, newMt);
    return moved;
  }

  // --- the HIGHATOMIC reserve ---------------------------------------------------------------------

  /**
   * reserve_highatomic_pageblock(): after a successful high-order atomic allocation, set its pageblock
   * aside for later ones, up to about 1% of the zone (none if 1% is under a pageblock).
   */
  reserveHighatomicPageblock(pfn: number, order: number, zone: Zone): void {
    const pbPages = 1 << this.pageblockOrder;
    const onePercent = Math.floor(zone.managed / 100);
    if (onePercent < pbPages) return;
    const maxManaged = Math.ceil(onePercent / pbPages) * pbPages;
    if (zone.nrReservedHighatomic >= maxManaged) return;
    const mt = this.getPageblockMigratetype(pfn);
    if (mt >= MIGRATE_PCPTYPES) return; // only blocks that can merge with others
    if (order < this.pageblockOrder) {
      if (this.moveFreepagesBlock(zone, pfn, mt, MIGRATE_HIGHATOMIC) === -1) return;
      zone.nrReservedHighatomic += pbPages;
    } else {
      this.changePageblockRange(pfn, order, MIGRATE_HIGHATOMIC);
      zone.nrReservedHighatomic += 1 << order;
    }
    this.stats.highatomicReserved++;
  }

  /**
   * unreserve_highatomic_pageblock(): give one reserved pageblock back to `mt` before failing or OOM.
   * Unless `force`, a zone keeps one pageblock. Returns whether anything was released.
   */
  unreserveHighatomicPageblock(highestZoneidx: number, mt: number, force: boolean): boolean {
    const pbPages = 1 << this.pageblockOrder;
    for (let z = highestZoneidx; z >= 0; z--) {
      const zone = this.zones[z];
      if (!zone.managed) continue;
      if (!force && zone.nrReservedHighatomic <= pbPages) continue;
      for (let order = 0; order < NR_PAGE_ORDERS; order++) {
        const head = zone.freeList(order, MIGRATE_HIGHATOMIC);
        const pfn = this.mm.next[head];
        if (pfn === head || this.getPageblockMigratetype(pfn) !== MIGRATE_HIGHATOMIC) continue;
        const size = Math.min(Math.max(pbPages, 1 << order), zone.nrReservedHighatomic);
        zone.nrReservedHighatomic -= size;
        let ret: number;
        if (order < this.pageblockOrder) {
          ret = this.moveFreepagesBlock(zone, pfn, MIGRATE_HIGHATOMIC, mt);
        } else {
          this.moveToFreeList(pfn, zone, order, MIGRATE_HIGHATOMIC, mt);
          this.changePageblockRange(pfn, order, mt);
          ret = 1;
        }
        if (ret > 0) {
          this.stats.highatomicUnreserved++;
          return true;
        }
      }
    }
    return false;
  }

  // --- tracing helpers ----------------------------------------------------------------------------

  private traceExtfrag(pfn: number, allocOrder: number, fallbackOrder: number, allocMt: number, fallbackMt: number): void {
    const fragmenting = fallbackOrder < this.pageblockOrder ? 1 : 0;
    if (fragmenting) this.stats.fallbackFragmenting++;
    if (!this.trace.on.mm_page_alloc_extfrag) return;
    const changeOwnership = this.getPageblockMigratetype(pfn) === allocMt ? 1 : 0;
    this.trace.record(EV_MM_PAGE_ALLOC_EXTFRAG, pfn, allocOrder, fallbackOrder, this.pageblockOrder, allocMt, fallbackMt, changeOwnership);
  }
}
