/**
 * Reverse mapping: from an LRU page to the one place that refers to it (mm/rmap.c, try_to_unmap and
 * remove_migration_ptes in spirit).
 *
 * Every user page belongs to one owner, an address space (page cache, filemap.ts) or a task's anonymous
 * memory (anon.ts). An owner keeps its pages in `slots`, indexed by page index: the page's pfn, or -1 for
 * none, or (anonymous memory only) a swap entry, -(slot + 2). mem_map's `mapping` holds the owner's id and
 * `index` the page's index, so from a pfn the model finds and rewrites the single reference: reclaim replaces
 * it with a swap entry or drops it, migration points it at the new page. That is the kernel's rmap walk with
 * one mapping per page (no sharing across processes, no fork).
 */
import type { MemMap } from './page.js';

/** No page at this index. */
export const SLOT_NONE = -1;

/** A swap entry as a slot value, and back. */
export function swapEntryToSlot(swapSlot: number): number {
  return -swapSlot - 2;
}
export function slotToSwapEntry(v: number): number {
  return -v - 2;
}

export interface RmapOwner {
  /** The id mem_map's `mapping` holds; 0 is never used (NULL mapping). */
  readonly id: number;
  /** Anonymous (swap-backed) or page cache. */
  readonly anon: boolean;
  /** Index to pfn, SLOT_NONE, or a swap entry (anonymous memory). */
  slots: Int32Array;
  /** Set when the owner is torn down (exit, unlink): late references to it are bugs. */
  dead: boolean;
}

export class Rmap {
  private readonly owners: Array<RmapOwner | undefined> = [undefined];
  private readonly freeIds: number[] = [];
  private readonly mm: MemMap;

  constructor(mm: MemMap) {
    this.mm = mm;
  }

  /** A fresh owner id. */
  allocId(): number {
    return this.freeIds.pop() ?? this.owners.push(undefined) - 1;
  }

  register(o: RmapOwner): void {
    this.owners[o.id] = o;
  }

  /** The owner is gone; its id may be reused. */
  unregister(o: RmapOwner): void {
    if (this.owners[o.id] !== o) return;
    this.owners[o.id] = undefined;
    this.freeIds.push(o.id);
  }

  ownerOf(pfn: number): RmapOwner | undefined {
    return this.owners[this.mm.mapping[pfn]];
  }

  owner(id: number): RmapOwner | undefined {
    return this.owners[id];
  }

  /** Live owners, for reports and invariant checks. */
  all(): RmapOwner[] {
    return this.owners.filter((o): o is RmapOwner => o !== undefined);
  }

  /** Point the reference to `oldPfn` at `newPfn` (remove_migration_ptes after a move). */
  replace(oldPfn: number, newPfn: number): void {
    const o = this.ownerOf(oldPfn);
    if (!o) throw new Error(`rmap: pfn ${oldPfn} has no owner`);
    o.slots[this.mm.index[oldPfn]] = newPfn;
  }

  /** Every owner's slots point at pages that point back at them; problems go into `errs`. */
  checkInvariants(errs: string[]): void {
    const mm = this.mm;
    for (const o of this.owners) {
      if (!o) continue;
      for (let i = 0; i < o.slots.length; i++) {
        const p = o.slots[i];
        if (p < 0) continue;
        if (mm.mapping[p] !== o.id || mm.index[p] !== i) errs.push(`rmap: owner ${o.id} index ${i} -> pfn ${p}, which says owner ${mm.mapping[p]} index ${mm.index[p]}`);
        if (mm.refcount[p] < 1) errs.push(`rmap: owner ${o.id} index ${i} -> free pfn ${p}`);
      }
    }
  }
}
