/**
 * The free vmap-area tree: lowest fit, alignment and the adjusted search length, vstart/vend, the four
 * va_clip splits, merging on free, overlap detection, x86_64-sized addresses, and random alloc/free traffic
 * against a naive sorted-array reference with check() after every step.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 25); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FreeVmapTree } from '../src/mm/vmap_tree.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 25);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 150);

const PAGE = 4096;
const MiB = 1 << 20;
const VMALLOC_START = 0xc90000000000;
const TiB = 2 ** 40;

function snapshot(t: FreeVmapTree): unknown {
  return { blocks: t.blocks(), bytes: t.freeBytes, n: t.nrBlocks, largest: t.largest() };
}

function expectSound(t: FreeVmapTree): void {
  expect(t.check()).toEqual([]);
}

describe('FreeVmapTree: allocation', () => {
  it('starts as one free block', () => {
    const t = new FreeVmapTree(0x100000, 0x200000);
    expect(t.blocks()).toEqual([[0x100000, 0x200000]]);
    expect(t.freeBytes).toBe(MiB);
    expect(t.nrBlocks).toBe(1);
    expect(t.largest()).toBe(MiB);
    expect(t.isFree(0x100000)).toBe(true);
    expect(t.isFree(0x1fffff)).toBe(true);
    expect(t.isFree(0x200000)).toBe(false);
    expect(t.isFree(0xfffff)).toBe(false);
    expectSound(t);
  });

  it('takes the lowest fitting block, so a hole freed low down is reused first', () => {
    const t = new FreeVmapTree(0x100000, 0x900000);
    const a = t.alloc(4 * PAGE, PAGE, 0x100000, 0x900000);
    const b = t.alloc(4 * PAGE, PAGE, 0x100000, 0x900000);
    const c = t.alloc(4 * PAGE, PAGE, 0x100000, 0x900000);
    expect([a, b, c]).toEqual([0x100000, 0x104000, 0x108000]);
    t.free(b, b + 4 * PAGE);
    expect(t.nrBlocks).toBe(2);
    // Too big for the hole: goes above c.
    expect(t.alloc(5 * PAGE, PAGE, 0x100000, 0x900000)).toBe(0x10c000);
    // Fits the hole: LE split of the hole, then FL of what is left.
    expect(t.alloc(3 * PAGE, PAGE, 0x100000, 0x900000)).toBe(b);
    expect(t.alloc(PAGE, PAGE, 0x100000, 0x900000)).toBe(b + 3 * PAGE);
    expect(t.blocks()).toEqual([[0x111000, 0x900000]]);
    expectSound(t);
  });

  it('aligns to 16 KiB and to 2 MiB, splitting the block as va_clip does', () => {
    const base = 0x100000 + PAGE; // deliberately misaligned
    const t = new FreeVmapTree(base, base + 16 * MiB);
    const a = t.alloc(2 * PAGE, 16384, base, base + 16 * MiB);
    expect(a).toBe(0x104000);
    // NE split: a free sliver is left below the aligned start.
    expect(t.blocks()).toEqual([[base, 0x104000], [0x106000, base + 16 * MiB]]);
    const h = t.alloc(2 * MiB, 2 * MiB, base, base + 16 * MiB);
    expect(h).toBe(0x200000);
    expect(h % (2 * MiB)).toBe(0);
    expect(t.blocks()).toEqual([[base, 0x104000], [0x106000, 0x200000], [0x400000, base + 16 * MiB]]);
    // RE split: the aligned piece ends exactly at the block's end.
    const t2 = new FreeVmapTree(0x1000, 0x10000);
    expect(t2.alloc(16384, 16384, 0xa000, 0x100000)).toBe(0xc000);
    expect(t2.blocks()).toEqual([[0x1000, 0xc000]]);
    expectSound(t);
    expectSound(t2);
  });

  it('searches with size + align - 1 when align > PAGE_SIZE, so an exactly fitting small hole is skipped', () => {
    const t = new FreeVmapTree(0x100000, 0x200000);
    const a = t.alloc(4 * PAGE, PAGE, 0, Infinity);
    const hole = t.alloc(4 * PAGE, PAGE, 0, Infinity); // 0x104000: 16 KiB aligned
    t.alloc(4 * PAGE, PAGE, 0, Infinity);
    expect(a).toBe(0x100000);
    expect(hole).toBe(0x104000);
    t.free(hole, hole + 4 * PAGE);
    // The 16 KiB hole would fit, but the search length is 32 KiB - 1.
    expect(t.alloc(4 * PAGE, 16384, 0x100000, 0x200000)).toBe(0x10c000);
    // With PAGE_SIZE alignment the search length is the size, and the hole wins.
    expect(t.alloc(4 * PAGE, PAGE, 0x100000, 0x200000)).toBe(hole);
    expectSound(t);
  });

  it('keeps the area inside [vstart, vend)', () => {
    const t = new FreeVmapTree(0x100000, 0x900000);
    expect(t.alloc(4 * PAGE, PAGE, 0x300000, 0x400000)).toBe(0x300000);
    // vstart inside a block: the area starts at ALIGN(vstart).
    expect(t.alloc(4 * PAGE, 64 * 1024, 0x301000, 0x400000)).toBe(0x310000);
    // Fits nowhere below vend.
    const before = snapshot(t);
    expect(t.alloc(8 * PAGE, PAGE, 0x8ff000, 0xa00000)).toBe(-1);
    expect(t.alloc(2 * MiB, PAGE, 0x100000, 0x200000)).toBe(-1);
    expect(snapshot(t)).toEqual(before);
    expect(t.alloc(PAGE, PAGE, 0x8ff000, 0x900000)).toBe(0x8ff000);
    expectSound(t);
  });

  it('takes an exact [vstart, vend) window even with a large alignment (no length adjustment)', () => {
    const t = new FreeVmapTree(0x200000, 0x600000);
    // vend - vstart == size: the search length is size, not size + align - 1.
    expect(t.alloc(2 * MiB, 2 * MiB, 0x200000, 0x400000)).toBe(0x200000);
    expect(t.alloc(2 * MiB, 2 * MiB, 0x400000, 0x600000)).toBe(0x400000);
    expect(t.nrBlocks).toBe(0);
    expect(t.freeBytes).toBe(0);
    expect(t.largest()).toBe(0);
    expect(t.blocks()).toEqual([]);
    expect(t.alloc(PAGE, PAGE, 0, Infinity)).toBe(-1);
    expectSound(t);
    // The whole range in one exact fit.
    const u = new FreeVmapTree(0x1000, 0x9000);
    expect(u.alloc(0x8000, PAGE, 0x1000, 0x9000)).toBe(0x1000);
    expect(u.nrBlocks).toBe(0);
    expectSound(u);
  });

  it('changes nothing when an allocation fails', () => {
    const t = new FreeVmapTree(0x100000, 0x900000);
    for (let i = 0; i < 20; i++) t.alloc(4 * PAGE, PAGE, 0, Infinity);
    for (let i = 0; i < 20; i += 3) t.free(0x100000 + i * 4 * PAGE, 0x100000 + (i + 1) * 4 * PAGE);
    const before = snapshot(t);
    expect(t.alloc(16 * MiB, PAGE, 0, Infinity)).toBe(-1);
    expect(t.alloc(4 * PAGE, 8 * MiB, 0, Infinity)).toBe(-1);
    expect(t.alloc(5 * PAGE, PAGE, 0x100000, 0x105000)).toBe(-1); // exact window over a 4-page hole
    expect(snapshot(t)).toEqual(before);
    expectSound(t);
  });

  it('rejects a bad size or alignment', () => {
    const t = new FreeVmapTree(0x100000, 0x900000);
    expect(() => t.alloc(0, PAGE, 0, Infinity)).toThrow(RangeError);
    expect(() => t.alloc(100, PAGE, 0, Infinity)).toThrow(RangeError);
    expect(() => t.alloc(PAGE, 3 * PAGE, 0, Infinity)).toThrow(RangeError);
    expect(t.freeBytes).toBe(8 * MiB);
  });
});

describe('FreeVmapTree: free', () => {
  /** Three busy 4-page areas at 0x100000, 0x104000, 0x108000 with free space above. */
  function three(): FreeVmapTree {
    const t = new FreeVmapTree(0x100000, 0x200000);
    for (let i = 0; i < 3; i++) t.alloc(4 * PAGE, PAGE, 0, Infinity);
    return t;
  }

  it('merges with the left neighbour, the right neighbour, both, or neither', () => {
    const t = three();
    expect(t.blocks()).toEqual([[0x10c000, 0x200000]]);
    t.free(0x100000, 0x104000); // neither
    expect(t.blocks()).toEqual([[0x100000, 0x104000], [0x10c000, 0x200000]]);
    t.free(0x108000, 0x10c000); // right neighbour
    expect(t.blocks()).toEqual([[0x100000, 0x104000], [0x108000, 0x200000]]);
    t.free(0x104000, 0x108000); // both
    expect(t.blocks()).toEqual([[0x100000, 0x200000]]);
    expect(t.nrBlocks).toBe(1);
    expectSound(t);
    const u = three();
    u.alloc(0xf4000, PAGE, 0, Infinity); // the rest: nothing free
    u.free(0x100000, 0x104000);
    u.free(0x104000, 0x108000); // left neighbour
    expect(u.blocks()).toEqual([[0x100000, 0x108000]]);
    expect(u.freeBytes).toBe(0x8000);
    expectSound(u);
  });

  it('throws on a range that overlaps free space, and changes nothing', () => {
    const t = three();
    t.free(0x104000, 0x108000);
    const before = snapshot(t);
    expect(() => t.free(0x104000, 0x108000)).toThrow(/overlaps/); // double free
    expect(() => t.free(0x105000, 0x106000)).toThrow(/overlaps/); // inside
    expect(() => t.free(0x100000, 0x105000)).toThrow(/overlaps/); // straddles the start
    expect(() => t.free(0x107000, 0x109000)).toThrow(/overlaps/); // straddles the end
    expect(() => t.free(0x108000, 0x10d000)).toThrow(/overlaps/); // into the top block
    expect(() => t.free(0x100000, 0x300000)).toThrow(/overlaps/); // covers everything
    expect(() => t.free(0x100000, 0x100000)).toThrow(RangeError);
    expect(snapshot(t)).toEqual(before);
    expectSound(t);
  });

  it('stays balanced over many blocks', () => {
    const n = 4000;
    const t = new FreeVmapTree(0, n * 8 * PAGE);
    for (let i = 0; i < n; i++) expect(t.alloc(8 * PAGE, PAGE, 0, Infinity)).toBe(i * 8 * PAGE);
    for (let i = 0; i < n; i += 2) t.free(i * 8 * PAGE, i * 8 * PAGE + 8 * PAGE);
    expect(t.nrBlocks).toBe(n / 2);
    expectSound(t);
    for (let i = 1; i < n; i += 2) t.free(i * 8 * PAGE, i * 8 * PAGE + 8 * PAGE);
    expect(t.blocks()).toEqual([[0, n * 8 * PAGE]]);
    expectSound(t);
  });
});

describe('FreeVmapTree: x86_64 addresses', () => {
  it('handles VMALLOC_START .. +32 TiB with exact numbers', () => {
    const end = VMALLOC_START + 32 * TiB;
    expect(end).toBe(0xe90000000000);
    const t = new FreeVmapTree(VMALLOC_START, end);
    expect(t.freeBytes).toBe(32 * TiB);
    const a = t.alloc(5 * PAGE, PAGE, VMALLOC_START, end);
    expect(a).toBe(VMALLOC_START);
    const huge = t.alloc(4 * MiB, 2 * MiB, VMALLOC_START, end);
    expect(huge).toBe(VMALLOC_START + 2 * MiB);
    const g = t.alloc(2 ** 30, 2 ** 30, VMALLOC_START, end);
    expect(g).toBe(VMALLOC_START + 2 ** 30);
    // The very top of the range.
    const top = t.alloc(64 * PAGE, PAGE, end - 64 * PAGE, end);
    expect(top).toBe(end - 64 * PAGE);
    expect(t.freeBytes).toBe(32 * TiB - 5 * PAGE - 4 * MiB - 2 ** 30 - 64 * PAGE);
    expect(t.largest()).toBe(end - 64 * PAGE - (VMALLOC_START + 2 * 2 ** 30));
    expect(t.isFree(VMALLOC_START + 5 * PAGE)).toBe(true);
    expect(t.isFree(VMALLOC_START + 2 * MiB)).toBe(false);
    expectSound(t);
    t.free(huge, huge + 4 * MiB);
    t.free(a, a + 5 * PAGE);
    t.free(g, g + 2 ** 30);
    t.free(top, top + 64 * PAGE);
    expect(t.blocks()).toEqual([[VMALLOC_START, end]]);
    expectSound(t);
  });
});

/** The reference: a sorted array of free intervals, scanned lowest first with the same rules. */
class NaiveFree {
  iv: Array<[number, number]>;
  constructor(start: number, end: number) {
    this.iv = [[start, end]];
  }
  alloc(size: number, align: number, vstart: number, vend: number): number {
    const length = align > PAGE && vend - vstart !== size ? size + align - 1 : size;
    for (let i = 0; i < this.iv.length; i++) {
      const [s, e] = this.iv[i];
      if (e - s < length) continue;
      const nva = Math.ceil(Math.max(s, vstart) / align) * align;
      if (nva + size > e) continue;
      if (nva + size > vend) return -1;
      const parts: Array<[number, number]> = [];
      if (nva > s) parts.push([s, nva]);
      if (nva + size < e) parts.push([nva + size, e]);
      this.iv.splice(i, 1, ...parts);
      return nva;
    }
    return -1;
  }
  free(start: number, end: number): void {
    this.iv.push([start, end]);
    this.iv.sort((x, y) => x[0] - y[0]);
    const merged: Array<[number, number]> = [];
    for (const b of this.iv) {
      const last = merged[merged.length - 1];
      if (last && last[1] === b[0]) last[1] = b[1];
      else merged.push([b[0], b[1]]);
    }
    this.iv = merged;
  }
}

type Op =
  | { k: 'alloc'; pages: number; alignShift: number; window: number; lo: number; span: number }
  | { k: 'free'; pick: number }
  | { k: 'overlap'; pick: number; off: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('alloc' as const),
      pages: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 2048 })),
      alignShift: fc.oneof(fc.constant(12), fc.integer({ min: 12, max: 22 })),
      // 0: the whole range; 1: a sub-window; 2: an exact window of the request's size.
      window: fc.constantFrom(0, 0, 0, 1, 2),
      lo: fc.nat({ max: 0xffff }),
      span: fc.nat({ max: 0xffff }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('overlap' as const), pick: fc.nat(), off: fc.nat() }) },
);

describe('FreeVmapTree: random traffic against a naive reference', () => {
  it('matches the reference and passes check() after every step', () => {
    const BASE = VMALLOC_START + 5 * PAGE; // not aligned to anything above a page
    const SIZE = 64 * MiB;
    const END = BASE + SIZE;
    const pagesOfRange = SIZE / PAGE;
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: STEPS, size: 'max' }), (ops) => {
        const t = new FreeVmapTree(BASE, END);
        const ref = new NaiveFree(BASE, END);
        const live: Array<[number, number]> = [];
        for (const op of ops) {
          if (op.k === 'alloc') {
            const size = op.pages * PAGE;
            const align = 2 ** op.alignShift;
            let vstart = BASE;
            let vend = END;
            if (op.window === 1) {
              vstart = BASE + (op.lo % pagesOfRange) * PAGE;
              vend = vstart + (op.span % pagesOfRange) * PAGE + size;
            } else if (op.window === 2) {
              // Often on a live area's start, so exact windows over freed space come up too.
              vstart = live.length > 0 && op.lo % 2 === 0 ? live[op.span % live.length][0] : BASE + (op.lo % pagesOfRange) * PAGE;
              vend = vstart + size;
            }
            const want = ref.alloc(size, align, vstart, vend);
            const got = t.alloc(size, align, vstart, vend);
            expect(got).toBe(want);
            if (got !== -1) {
              expect(got % align).toBe(0);
              expect(got).toBeGreaterThanOrEqual(vstart);
              expect(got + size).toBeLessThanOrEqual(vend);
              live.push([got, got + size]);
            }
          } else if (op.k === 'free') {
            if (live.length === 0) continue;
            const [s, e] = live.splice(op.pick % live.length, 1)[0];
            t.free(s, e);
            ref.free(s, e);
          } else {
            const blocks = t.blocks();
            if (blocks.length === 0) continue;
            const [s, e] = blocks[op.pick % blocks.length];
            const at = s + (op.off % ((e - s) / PAGE)) * PAGE;
            const before = t.blocks();
            expect(() => t.free(at, at + PAGE)).toThrow(/overlaps/);
            expect(t.blocks()).toEqual(before);
          }
          expect(t.check()).toEqual([]);
          expect(t.blocks()).toEqual(ref.iv);
          expect(t.nrBlocks).toBe(ref.iv.length);
          expect(t.freeBytes).toBe(ref.iv.reduce((a, [s, e]) => a + e - s, 0));
          expect(t.largest()).toBe(ref.iv.reduce((a, [s, e]) => Math.max(a, e - s), 0));
        }
        // Everything back: one block again.
        for (const [s, e] of live) t.free(s, e);
        expect(t.blocks()).toEqual([[BASE, END]]);
        expect(t.check()).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});
