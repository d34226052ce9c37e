/** Test helpers that use up a machine's memory. */
import { GFP, NO_PAGE, type Machine } from '../../src/index.js';

/** Order-0 pages with `gfp` until the allocator says no (by default: down to the min watermarks). */
export function exhaust(m: Machine, gfp = GFP.KERNEL | GFP.NOWARN): number[] {
  const held: number[] = [];
  for (let pfn = m.allocPages(gfp, 0); pfn !== NO_PAGE; pfn = m.allocPages(gfp, 0)) held.push(pfn);
  return held;
}

/** Take every free page (the reserves too), largest blocks first; the pages, as order-0 pfns. */
export function takeAll(m: Machine): number[] {
  const held: number[] = [];
  for (let o = 10; o >= 0; o--) {
    for (;;) {
      const p = m.allocPages(GFP.NOWAIT | GFP.MEMALLOC, o);
      if (p === NO_PAGE) break;
      if (o > 0) m.splitPage(p, o);
      for (let i = 0; i < 1 << o; i++) held.push(p + i);
    }
  }
  return held;
}
