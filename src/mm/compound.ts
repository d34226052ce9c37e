/**
 * Compound pages (mm/page_alloc.c prep_compound_page, include/linux/page-flags.h PageHead/PageTail,
 * include/linux/mm.h compound_head/compound_order/compound_nr).
 *
 * A block allocated with __GFP_COMP and order > 0 is one unit: the head page has PG_head, every tail page
 * has PG_tail and points at the head through the word the kernel's compound_head overlays (lru.next), and
 * the order lives in page[1] (the kernel's folio->_flags_1 low byte; here page[1].private). Only the head
 * carries the reference count.
 */
import { MemMap, PG_HEAD, PG_TAIL } from './page.js';

/** prep_compound_page(): mark head and tails, record the order in page[1]. */
export function prepCompoundPage(mm: MemMap, pfn: number, order: number): void {
  const n = 1 << order;
  mm.flags[pfn] |= PG_HEAD;
  for (let i = 1; i < n; i++) {
    mm.flags[pfn + i] |= PG_TAIL;
    mm.next[pfn + i] = pfn;
    mm.refcount[pfn + i] = 0;
  }
  mm.private_[pfn + 1] = order;
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
  return mm.flags[pfn] & PG_HEAD ? mm.private_[pfn + 1] : 0;
}

/** compound_nr(). */
export function compoundNr(mm: MemMap, pfn: number): number {
  return 1 << compoundOrder(mm, pfn);
}

/** compound_nth_page() for a physically contiguous compound page: page + n. */
export function compoundNthPage(mm: MemMap, head: number, n: number): number {
  void mm;
  return head + n;
}
