/**
 * Virtual compound pages (seed 001, V1 in the page allocator; seed 002, the V5 wrapper in the vmalloc layer):
 * a fragmented zone fails an order-3 GFP_KERNEL request, the same request with __GFP_VFALLBACK is served by a
 * PageVcompound head whose pages are found through the page tables; bytes go where the mapping says; freeing
 * returns every page and the vmalloc area; CONFIG_VIRTUALIZE_ALWAYS; stage 1 and stage 2 in interrupt context.
 */
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE, type MachineConfig } from '../src/index.js';
import { PAGE_SIZE, PG_HEAD, PG_TAIL } from '../src/mm/page.js';

type Fallback = 'none' | 'vcompound' | 'always';

/** A small machine whose free memory is all isolated order-0 pages: no order-1 block anywhere. */
function fragmented(fallback: Fallback, extra: Partial<MachineConfig> = {}): { m: Machine; held: number[] } {
  const m = Machine.boot({ mem: '64M', strict: false, policy: { fallback, ...extra.policy }, ...extra });
  const held: number[] = [];
  // Every page, the reserves included (so that none is left in a larger free block), then half back.
  for (;;) {
    const p = m.allocPages(GFP.KERNEL | GFP.MEMALLOC | GFP.NOWARN | GFP.NORETRY, 0);
    if (p === NO_PAGE) break;
    held.push(p);
  }
  // Give back every other page of each even pair: free pages never have a free buddy.
  held.sort((a, b) => a - b);
  const keep: number[] = [];
  for (const p of held) {
    if (p % 2 === 0) m.freePages(p, 0);
    else keep.push(p);
  }
  m.drainAllPages();
  return { m, held: keep };
}

function freePages(m: Machine): number {
  return m.freePagesTotal() + m.pcpPagesTotal();
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

describe('V1: __GFP_VFALLBACK in the page allocator', () => {
  it('an order-3 GFP_KERNEL request fails on a fragmented zone; with VFALLBACK it is a virtual compound page', () => {
    const { m } = fragmented('vcompound');
    expect(m.allocPages(GFP.KERNEL | GFP.COMP | GFP.NOWARN, 3)).toBe(NO_PAGE);
    const before = freePages(m);
    const head = m.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP, 3);
    expect(head).not.toBe(NO_PAGE);
    expect(m.pageVcompound(head)).toBe(true);
    expect(m.mm.flags[head] & PG_HEAD).toBeTruthy();
    expect(m.compoundOrder(head)).toBe(3);
    expect(m.vcompound.stats.allocs).toBe(1);
    expect(m.vcompound.stats.allocsByOrder[3]).toBe(1);
    const addr = m.pageToAddr(head);
    expect(m.isVmallocAddr(addr)).toBe(true);
    const pages = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const nth = m.compoundNthPage(head, i);
      expect(nth).toBe(m.addrToPage(addr + i * PAGE_SIZE));
      expect(m.virtToHeadPage(addr + i * PAGE_SIZE + 100)).toBe(head);
      expect(m.pageToAddr(nth)).toBe(addr + i * PAGE_SIZE);
      if (i > 0) expect(m.mm.flags[nth] & PG_TAIL).toBeTruthy();
      pages.add(nth);
    }
    // Eight distinct pages, not contiguous (no two buddies were free).
    expect(pages.size).toBe(8);
    expect([...pages].some((p, i, a) => i > 0 && p !== a[i - 1] + 1)).toBe(true);
    // The 8 pages, their pages array (a kmalloc object) and the mapping's page tables came from the free pages.
    expect(before - freePages(m)).toBeGreaterThanOrEqual(8);
    m.checkInvariants();

    // Bytes written through the virtual address are in those pages, in order.
    const data = pattern(8 * PAGE_SIZE);
    m.write(addr, data);
    for (let i = 0; i < 8; i++) {
      const direct = m.read(m.pageAddress(m.compoundNthPage(head, i)), PAGE_SIZE);
      expect(direct).toEqual(data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
    }
    expect(m.read(addr, 8 * PAGE_SIZE)).toEqual(data);

    // Freeing returns every page and the vmalloc area.
    const areas = m.vmallocLayer.busy.size;
    m.freePages(head, 3);
    expect(m.vcompound.stats.frees).toBe(1);
    expect(m.vmallocLayer.busy.size).toBe(areas - 1);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    for (const p of pages) expect(m.pa.pageIsFree(p)).toBe(true);
    m.purgeVmapAreaLazy();
    expect(freePages(m)).toBe(before - (before - freePages(m))); // settled
    m.checkInvariants();
    expect(m.dmesg()).not.toMatch(/BUG|WARNING/);
  });

  it('freeing by address (free_pages of the vmalloc address) frees the virtual compound', () => {
    const { m } = fragmented('vcompound');
    const addr = m.getFreePages(GFP.VFALLBACK_KERNEL | GFP.COMP, 2);
    expect(m.isVmallocAddr(addr)).toBe(true);
    const head = m.virtToHeadPage(addr);
    m.freePagesAddr(addr, 2);
    expect(m.pa.pageIsFree(head)).toBe(true);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    m.checkInvariants();
  });

  it('without the policy, VFALLBACK changes nothing: the request fails', () => {
    const { m } = fragmented('none');
    expect(m.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP | GFP.NOWARN, 3)).toBe(NO_PAGE);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
  });

  it('a physically satisfiable request stays physical under vcompound, but not under always', () => {
    const m = Machine.boot({ mem: '64M', policy: { fallback: 'vcompound' } });
    const p = m.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP, 3);
    expect(m.pageVcompound(p)).toBe(false);
    expect(m.isVmallocAddr(m.pageToAddr(p))).toBe(false);
    m.freePages(p, 3);
    const a = Machine.boot({ mem: '64M', policy: { fallback: 'always' } });
    for (const order of [1, 3, 5]) {
      const q = a.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP, order);
      expect(a.pageVcompound(q)).toBe(true);
      expect(a.compoundOrder(q)).toBe(order);
      a.freePages(q, order);
    }
    // Order 0 and requests without the flag are untouched by CONFIG_VIRTUALIZE_ALWAYS.
    const z = a.allocPages(GFP.VFALLBACK_KERNEL, 0);
    expect(a.pageVcompound(z)).toBe(false);
    a.freePages(z, 0);
    const k = a.allocPages(GFP.KERNEL | GFP.COMP, 3);
    expect(a.pageVcompound(k)).toBe(false);
    a.freePages(k, 3);
    a.checkInvariants();
  });

  it('a partial failure undoes everything: no pages, no area, no pages array left behind', () => {
    const { m } = fragmented('vcompound');
    // Take all but 3 free pages: an order-2 virtual compound needs 4.
    const grab: number[] = [];
    m.drainAllPages();
    while (freePages(m) > 3) {
      const p = m.allocPages(GFP.ATOMIC | GFP.HIGH | GFP.NOWARN | GFP.MEMALLOC, 0);
      if (p === NO_PAGE) break;
      grab.push(p);
    }
    const free = freePages(m);
    const areas = m.vmallocLayer.busy.size;
    const kmalloc = m.slub.counters.unreclaimablePages;
    expect(m.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP | GFP.NOWARN, 2)).toBe(NO_PAGE);
    expect(m.vcompound.stats.failures).toBeGreaterThan(0);
    expect(freePages(m)).toBe(free);
    expect(m.vmallocLayer.busy.size).toBe(areas);
    expect(m.slub.counters.unreclaimablePages).toBe(kmalloc);
    m.checkInvariants();
  });

  it('stage 1 refuses the fallback in interrupt context; stage 2 serves it and defers the free', () => {
    const s1 = fragmented('vcompound');
    const atomic = GFP.ATOMIC | GFP.VFALLBACK | GFP.COMP | GFP.NOWARN;
    expect(s1.m.inIrq(() => s1.m.allocPages(atomic, 2))).toBe(NO_PAGE);
    expect(s1.m.vcompound.stats.refusedInterrupt).toBe(1);
    // In process context the same atomic request reaches the last chance and is served.
    const p = s1.m.allocPages(atomic, 2);
    expect(s1.m.pageVcompound(p)).toBe(true);
    // A free in interrupt context is a bug in stage 1, and changes nothing.
    s1.m.inIrq(() => s1.m.freePages(p, 2));
    expect(s1.m.dmesg()).toMatch(/BUG_ON\(in_interrupt\(\)\)/);
    expect(s1.m.vcompound.stats.interruptFreeBugs).toBe(1);
    expect(s1.m.pageVcompound(p)).toBe(true);
    s1.m.checkInvariants();
    s1.m.freePages(p, 2);
    expect(s1.m.vmallocLayer.nrVcompounds).toBe(0);

    const s2 = fragmented('vcompound', { policy: { fallback: 'vcompound', vfallbackInterrupt: 'stage2' } });
    const q = s2.m.inSoftirq(() => s2.m.allocPages(atomic, 2));
    expect(s2.m.pageVcompound(q)).toBe(true);
    s2.m.inIrq(() => s2.m.freePages(q, 2));
    expect(s2.m.vcompound.stats.deferredFrees).toBe(1);
    expect(s2.m.pageVcompound(q)).toBe(true); // not yet
    s2.m.checkInvariants();
    s2.m.vmallocLayer.runDeferred(); // the work item, in process context
    expect(s2.m.pa.pageIsFree(q)).toBe(true);
    expect(s2.m.vmallocLayer.nrVcompounds).toBe(0);
    s2.m.checkInvariants();
    expect(s2.m.dmesg()).not.toMatch(/BUG/);
  });
});

describe('V5: alloc_vcompound()/free_vcompound() in the vmalloc layer', () => {
  it('is physical when it can be and virtual when it must, without the page allocator knowing', () => {
    const plain = Machine.boot({ mem: '64M' });
    const a = plain.allocVcompound(GFP.KERNEL, 3);
    expect(plain.isVmallocAddr(a)).toBe(false);
    expect(plain.compoundOrder(plain.virtToPage(a))).toBe(3);
    plain.freeVcompound(a);
    expect(plain.vmallocLayer.vcompoundStats.physical).toBe(1);

    const { m } = fragmented('none');
    const free = freePages(m);
    const v = m.allocVcompound(GFP.KERNEL, 3);
    expect(m.isVmallocAddr(v)).toBe(true);
    expect(m.vmallocLayer.vcompoundStats.virtual).toBe(1);
    const head = m.virtToHeadPage(v);
    expect(m.pageVcompound(head)).toBe(true);
    for (let i = 0; i < 8; i++) expect(m.compoundNthPage(head, i)).toBe(m.addrToPage(v + i * PAGE_SIZE));
    const data = pattern(8 * PAGE_SIZE);
    m.write(v, data);
    expect(m.read(v, data.length)).toEqual(data);
    m.checkInvariants();
    // The page allocator's own free does not know virtual compounds without V1: reported, nothing changes.
    m.freePages(head, 3);
    expect(m.dmesg()).toMatch(/free_vcompound\(\)/);
    expect(m.pageVcompound(head)).toBe(true);
    m.freeVcompound(v);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    m.purgeVmapAreaLazy();
    expect(freePages(m)).toBeLessThanOrEqual(free);
    expect(m.pa.pageIsFree(head)).toBe(true);
    m.checkInvariants();
  });

  it('V1 and V5 give the same kind of object: same order, same nth pages through the mapping', () => {
    const v1 = fragmented('vcompound');
    const v5 = fragmented('none');
    const h1 = v1.m.allocPages(GFP.VFALLBACK_KERNEL | GFP.COMP, 2);
    const a5 = v5.m.allocVcompound(GFP.KERNEL, 2);
    const h5 = v5.m.virtToHeadPage(a5);
    for (const [m, h] of [[v1.m, h1], [v5.m, h5]] as const) {
      expect(m.pageVcompound(h)).toBe(true);
      expect(m.compoundOrder(h)).toBe(2);
      const addr = m.pageToAddr(h);
      for (let i = 0; i < 4; i++) expect(m.compoundNthPage(h, i)).toBe(m.addrToPage(addr + i * PAGE_SIZE));
    }
  });

  it('free_vcompound of an address that is no virtual compound is reported', () => {
    const m = Machine.boot({ mem: '64M', strict: false });
    const v = m.vmalloc(3 * PAGE_SIZE);
    m.freeVcompound(v);
    expect(m.dmesg()).toMatch(/nonexistent virtual compound/);
    m.vfree(v);
    m.checkInvariants();
  });
});
