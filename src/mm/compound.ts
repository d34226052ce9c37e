/**
 * Compound pages (mm/page_alloc.c prep_compound_page, include/linux/page-flags.h PageHead/PageTail,
 * include/linux/mm.h compound_head/compound_order/compound_nr), physically contiguous or virtual.
 *
 * A block allocated with __GFP_COMP and order > 0 is one unit: the head page has PG_head, every tail page
 * has PG_tail and points at the head through the word the kernel's compound_head overlays (lru.next), and
 * the order lives in page[1] (the kernel's folio->_flags_1 low byte; here page[1].private). Only the head
 * carries the reference count.
 *
 * Lameter's virtual compound pages (seed 001) are the same format over 2^order order-0 pages that a vmap()
 * makes virtually contiguous: every page has PG_VCOMPOUND, and "page[1]" is not head + 1 but
 * compound_nth_page(head, 1), found through the page tables. Everything here goes through
 * compoundNthPage, as the patch made prep_compound_page, compound_order and the destructor do.
 */
import { MemMap, PG_HEAD, PG_TAIL, PG_VCOMPOUND } from './page.js';

/** PageVcompound(). */
export function pageVcompound(mm: MemMap, pfn: number): boolean {
  return (mm.flags[pfn] & PG_VCOMPOUND) !== 0;
}

/** compound_nth_page(): page + n for a real compound page, a page-table lookup for a virtual one. */
export function compoundNthPage(mm: MemMap, head: number, n: number): number {
  return mm.flags[head] & PG_VCOMPOUND ? mm.vcompoundNthPage(head, n) : head + n;
}

/** prep_compound_page(): mark head and tails, record the order in page[1]. */
export function prepCompoundPage(mm: MemMap, pfn: number, order: number): void {
  const n = 1 << order;
  mm.flags[pfn] |= PG_HEAD;
  const virt = (mm.flags[pfn] & PG_VCOMPOUND) !== 0;
  for (let i = 1; i < n; i++) {
    const p = virt ? mm.vcompoundNthPage(pfn, i) : pfn + i;
    mm.flags[p] |= PG_TAIL;
    mm.next[p] = pfn;
    mm.refcount[p] = 0;
  }
  mm.private_[virt ? mm.vcompoundNthPage(pfn, 1) : pfn + 1] = order;
}

/**
 * destroy_compound_page() as the patch reordered it: the tails first, then the head, whose PG_head says
 * how the others are found. Returns false (changing nothing) if a tail does not point at the head.
 */
export function destroyCompoundPage(mm: MemMap, head: number, order: number): boolean {
  const n = 1 << order;
  for (let i = 1; i < n; i++) {
    const p = compoundNthPage(mm, head, i);
    if (!(mm.flags[p] & PG_TAIL) || mm.next[p] !== head) return false;
  }
  const first = compoundNthPage(mm, head, 1);
  for (let i = 1; i < n; i++) mm.flags[compoundNthPage(mm, head, i)] &= ~PG_TAIL;
  mm.private_[first] = 0;
  mm.flags[head] &= ~PG_HEAD;
  return true;
}

/** compound_head(). */
export function compoundHead(mm: MemMap, pfn: number): number {
  return mm.head(pfn);
}

/** PageHead(). */
export function pageHead(mm: MemMap, pfn: number): boolean {
  return (mm.flags[pfn] & PG_HEAD) !== 0;
}

/** PageTail(). */
export function pageTail(mm: MemMap, pfn: number): boolean {
  return (mm.flags[pfn] & PG_TAIL) !== 0;
}

/** PageCompound(): head or tail. */
export function pageCompound(mm: MemMap, pfn: number): boolean {
  return pageHead(mm, pfn) || pageTail(mm, pfn);
}

/** compound_order(): 0 for a page that is not a compound head. */
export function compoundOrder(mm: MemMap, pfn: number): number {
  const f = mm.flags[pfn];
  if (!(f & PG_HEAD)) return 0;
  return mm.private_[f & PG_VCOMPOUND ? mm.vcompoundNthPage(pfn, 1) : pfn + 1];
}

/** compound_nr(). */
export function compoundNr(mm: MemMap, pfn: number): number {
  return 1 << compoundOrder(mm, pfn);
}
