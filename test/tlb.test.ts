import { describe, expect, it } from 'vitest';
import { GFP, Machine } from '../src/index.js';
import { Tlb } from '../src/mm/tlb.js';

describe('the TLB model', () => {
  it('evicts the least recently used 4K entry', () => {
    const t = new Tlb({ entries4k: 2, entriesLarge: 1 });
    t.fill4k(1, 100, 4);
    t.fill4k(2, 200, 4);
    expect(t.lookup4k(1)).toBe(100); // 1 is now the most recent
    t.fill4k(3, 300, 4);
    expect(t.lookup4k(2)).toBe(-1);
    expect([t.lookup4k(1), t.lookup4k(3)]).toEqual([100, 300]);
    expect([t.stats.hits, t.stats.misses, t.stats.walks, t.stats.walkLevels]).toEqual([3, 1, 3, 12]);
  });

  it('flushes a small range page by page and a range above the ceiling (33 pages) entirely', () => {
    const t = new Tlb();
    for (let v = 0; v < 40; v++) t.fill4k(v, v, 4);
    t.touchLarge(7, 3);
    t.flushKernelRange(0, 10);
    expect(t.size).toEqual([30, 1]);
    expect([t.stats.flushRange, t.stats.flushPages, t.stats.flushAll]).toEqual([1, 10, 0]);
    t.flushKernelRange(0, 34);
    expect(t.size).toEqual([0, 0]);
    expect(t.stats.flushAll).toBe(1);
  });

  it('a sequential read through vmalloc walks once per 4K page, through the direct map once per 2M page', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    const direct = m.pageAddress(m.allocPages(GFP.KERNEL, 8));
    const vm = m.vmalloc(1 << 20);
    const walks = (addr: number) => {
      const w = m.tlb.stats.walks;
      for (let off = 0; off < 1 << 20; off += 4096) m.read(addr + off, 4096);
      return m.tlb.stats.walks - w;
    };
    expect(walks(vm)).toBe(256);
    expect(walks(direct)).toBeLessThanOrEqual(2); // 1 MiB lies in at most two 2 MiB pages
    expect(walks(vm)).toBe(256); // 256 pages do not fit 64 entries: every pass misses again
  });
});
