/**
 * The LRU lists (mm/swap.c folio_add_lru, folio_mark_accessed, folio_activate; include/linux/mm_inline.h
 * lruvec_add_folio, lruvec_del_folio, folio_lru_list; mm/vmscan.c folio_isolate_lru, folio_putback_lru).
 *
 * One node, so one lruvec, as mainline has had since 4.8 (reclaim per node); the per-zone sizes are kept
 * beside it (lruvec->lru_zone_size) for zoneinfo and for reclaim that must skip zones above its limit. The
 * lists are intrusive, through mem_map's next/prev, which an LRU page never needs for anything else. A page
 * on a list has PG_LRU; isolation clears it and counts the page as isolated until it is put back.
 * Departures: no per-CPU folio batches (a page reaches its list at once); no multi-gen LRU; pages are never
 * unevictable (no mlock), so LRU_UNEVICTABLE stays empty.
 */
import type { NodeStats, VmEvents } from './vmstat.js';
import { MemMap, PG_ACTIVE, PG_LRU, PG_REFERENCED, PG_SWAPBACKED } from './page.js';

export const LRU_INACTIVE_ANON = 0;
export const LRU_ACTIVE_ANON = 1;
export const LRU_INACTIVE_FILE = 2;
export const LRU_ACTIVE_FILE = 3;
export const LRU_UNEVICTABLE = 4;
export const NR_LRU_LISTS = 5;
export const LRU_NAMES = ['inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable'] as const;

export class Lruvec {
  /** First of NR_LRU_LISTS list heads (mem_map sentinels). */
  readonly lists: number;
  /** lru_zone_size[zone][lru]: pages of each zone on each list. */
  readonly zoneSize: Int32Array;
  private readonly mm: MemMap;
  private readonly node: NodeStats;
  private readonly nrZones: number;
  private readonly events: VmEvents;

  constructor(mm: MemMap, nrZones: number, node: NodeStats, events: VmEvents) {
    this.events = events;
    this.mm = mm;
    this.nrZones = nrZones;
    this.lists = mm.allocListHeads(NR_LRU_LISTS);
    this.zoneSize = new Int32Array(nrZones * NR_LRU_LISTS);
    this.node = node;
  }

  /** folio_lru_list(): which list a page belongs on by its flags. */
  folioLruList(pfn: number): number {
    const f = this.mm.flags[pfn];
    return (f & PG_SWAPBACKED ? LRU_INACTIVE_ANON : LRU_INACTIVE_FILE) + (f & PG_ACTIVE ? 1 : 0);
  }

  /** Pages on `lru` in all zones up to and including `maxZone` (lruvec_lru_size). */
  size(lru: number, maxZone = this.nrZones - 1): number {
    let n = 0;
    for (let z = 0; z <= maxZone; z++) n += this.zoneSize[z * NR_LRU_LISTS + lru];
    return n;
  }

  zoneLruSize(zone: number, lru: number): number {
    return this.zoneSize[zone * NR_LRU_LISTS + lru];
  }

  /** lruvec_add_folio(): to the head of its list (the young end). */
  add(pfn: number): void {
    const lru = this.folioLruList(pfn);
    this.mm.flags[pfn] |= PG_LRU;
    this.mm.listAdd(pfn, this.lists + lru);
    this.zoneSize[this.mm.zoneIdx(pfn) * NR_LRU_LISTS + lru]++;
  }

  /** lruvec_add_folio_tail(): to the old end, where reclaim looks first (folio_rotate_reclaimable). */
  addTail(pfn: number): void {
    const lru = this.folioLruList(pfn);
    this.mm.flags[pfn] |= PG_LRU;
    this.mm.listAddTail(pfn, this.lists + lru);
    this.zoneSize[this.mm.zoneIdx(pfn) * NR_LRU_LISTS + lru]++;
  }

  /** lruvec_del_folio(): off its list; PG_LRU cleared. */
  del(pfn: number): void {
    const lru = this.folioLruList(pfn);
    this.mm.listDel(pfn);
    this.mm.flags[pfn] &= ~PG_LRU;
    this.zoneSize[this.mm.zoneIdx(pfn) * NR_LRU_LISTS + lru]--;
  }

  /** folio_isolate_lru(): take a page off the LRU for reclaim or migration; false if it is not on one. */
  isolate(pfn: number): boolean {
    if (!(this.mm.flags[pfn] & PG_LRU)) return false;
    this.del(pfn);
    if (this.mm.flags[pfn] & PG_SWAPBACKED) this.node.nrIsolatedAnon++;
    else this.node.nrIsolatedFile++;
    return true;
  }

  /** folio_putback_lru(): an isolated page goes back on its list. */
  putback(pfn: number): void {
    this.unisolated(pfn);
    this.add(pfn);
  }

  /** The isolated count drops when an isolated page is put back, freed, or replaced by migration. */
  unisolated(pfn: number): void {
    if (this.mm.flags[pfn] & PG_SWAPBACKED) this.node.nrIsolatedAnon--;
    else this.node.nrIsolatedFile--;
  }

  /**
   * folio_mark_accessed(): the first access sets PG_referenced; a second one on an inactive page activates
   * it (moves it to the active list) and clears the mark.
   */
  markAccessed(pfn: number): void {
    const f = this.mm.flags[pfn];
    if (f & PG_ACTIVE || !(f & PG_REFERENCED)) {
      this.mm.flags[pfn] |= PG_REFERENCED;
      return;
    }
    if (f & PG_LRU) {
      this.del(pfn);
      this.mm.flags[pfn] = (this.mm.flags[pfn] | PG_ACTIVE) & ~PG_REFERENCED;
      this.add(pfn);
      this.events.pgactivate++;
    }
  }

  /** Pages on the list from the old end, at most `max` (for reports and tests). */
  oldest(lru: number, max: number): number[] {
    const out: number[] = [];
    const head = this.lists + lru;
    for (let p = this.mm.prev[head]; p !== head && out.length < max; p = this.mm.prev[p]) out.push(p);
    return out;
  }

  /** Check lists against flags and counters; problems go into `errs`. */
  checkInvariants(errs: string[]): void {
    const mm = this.mm;
    const count = new Int32Array(this.zoneSize.length);
    for (let lru = 0; lru < NR_LRU_LISTS; lru++) {
      const head = this.lists + lru;
      let n = 0;
      for (let p = mm.next[head]; p !== head; p = mm.next[p]) {
        if (++n > mm.nrPages) {
          errs.push(`LRU ${LRU_NAMES[lru]} does not terminate`);
          break;
        }
        if (mm.prev[mm.next[p]] !== p) errs.push(`LRU ${LRU_NAMES[lru]}: broken links at pfn ${p}`);
        if (!(mm.flags[p] & PG_LRU)) errs.push(`LRU ${LRU_NAMES[lru]}: pfn ${p} without PG_lru`);
        if (this.folioLruList(p) !== lru) errs.push(`LRU ${LRU_NAMES[lru]}: pfn ${p} belongs on ${LRU_NAMES[this.folioLruList(p)]}`);
        if (mm.refcount[p] < 1) errs.push(`LRU ${LRU_NAMES[lru]}: pfn ${p} has refcount ${mm.refcount[p]}`);
        if (mm.mapping[p] === 0) errs.push(`LRU ${LRU_NAMES[lru]}: pfn ${p} has no owner`);
        count[mm.zoneIdx(p) * NR_LRU_LISTS + lru]++;
      }
    }
    for (let i = 0; i < count.length; i++) {
      if (count[i] !== this.zoneSize[i]) errs.push(`LRU ${LRU_NAMES[i % NR_LRU_LISTS]} zone ${Math.trunc(i / NR_LRU_LISTS)}: ${count[i]} pages listed, counter says ${this.zoneSize[i]}`);
    }
  }
}
