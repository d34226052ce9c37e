/**
 * Random traffic on the page allocator: allocations and frees of every order, migratetype and gfp, from
 * several CPUs, task and softirq context, with checkInvariants() after every step, the bytes of every live
 * allocation checked when it is freed, and the buddy lists back to their boot state at the end.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 20); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE } from '../src/index.js';
import type { MachineConfig } from '../src/config.js';
import { freeBlocks } from './helpers/census.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 20);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 120);

const GFPS = [
  GFP.KERNEL,
  GFP.KERNEL | GFP.RECLAIMABLE,
  GFP.HIGHUSER_MOVABLE,
  GFP.KERNEL | GFP.COMP,
  GFP.KERNEL | GFP.ZERO,
  GFP.USER | GFP.MOVABLE | GFP.DMA32,
  GFP.KERNEL | GFP.DMA,
  GFP.NOWAIT,
  GFP.ATOMIC,
  GFP.KERNEL | GFP.NORETRY,
  GFP.TRANSHUGE_LIGHT,
];

type Op =
  | { k: 'alloc'; order: number; gfp: number; cpu: number; softirq: boolean }
  | { k: 'free'; pick: number; cpu: number }
  | { k: 'exact'; pages: number }
  | { k: 'release'; n: number }
  | { k: 'getput'; pick: number }
  | { k: 'drain' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('alloc' as const), order: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 10 })), gfp: fc.constantFrom(...GFPS), cpu: fc.integer({ min: 0, max: 1 }), softirq: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat(), cpu: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exact' as const), pages: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('getput' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drain' as const) }) },
);

interface Live {
  pfn: number;
  order: number;
  compound: boolean;
  /** alloc_pages_exact allocations: address and size. */
  exact?: { addr: number; size: number };
  sig: number;
}


function signature(m: Machine, l: Live): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = (l.sig * 31 + i * 7) & 0xff;
  void m;
  return b;
}

/** Write a signature at the start and the end of each allocation that has a kernel address. */
function stamp(m: Machine, l: Live): void {
  const addr = m.pageAddress(l.pfn);
  if (!addr) return;
  const len = l.exact ? Math.ceil(l.exact.size / 4096) * 4096 : 4096 << l.order;
  m.write(addr, signature(m, l));
  m.write(addr + len - 16, signature(m, l));
}

function verify(m: Machine, l: Live): void {
  const addr = m.pageAddress(l.pfn);
  if (!addr) return;
  const len = l.exact ? Math.ceil(l.exact.size / 4096) * 4096 : 4096 << l.order;
  expect(m.read(addr, 16)).toEqual(signature(m, l));
  expect(m.read(addr + len - 16, 16)).toEqual(signature(m, l));
}

function run(cfg: MachineConfig, ops: Op[]): void {
  const m = Machine.boot({ ...cfg, strict: true });
  const boot = freeBlocks(m);
  const tasks = [m.current, m.sched.createTask('kworker/1:0', 1)];
  const live: Live[] = [];
  let sig = 1;
  for (const op of ops) {
    switch (op.k) {
      case 'alloc': {
        m.sched.switchTo(tasks[op.cpu]);
        const gfp = op.gfp | GFP.NOWARN;
        const pfn = op.softirq && !(gfp & GFP.DIRECT_RECLAIM) ? m.inSoftirq(() => m.allocPages(gfp, op.order)) : m.allocPages(gfp, op.order);
        if (pfn === NO_PAGE) break;
        const l = { pfn, order: op.order, compound: op.order > 0 && (gfp & GFP.COMP) !== 0, sig: sig++ };
        if (gfp & GFP.ZERO && m.pageAddress(pfn)) expect(m.read(m.pageAddress(pfn), 64).every((b) => b === 0)).toBe(true);
        stamp(m, l);
        live.push(l);
        break;
      }
      case 'free': {
        if (!live.length) break;
        m.sched.switchTo(tasks[op.cpu]);
        const [l] = live.splice(op.pick % live.length, 1);
        verify(m, l);
        if (l.exact) m.freePagesExact(l.exact.addr, l.exact.size);
        else m.freePages(l.pfn, l.order);
        break;
      }
      case 'exact': {
        const size = op.pages * 4096 - 123;
        const addr = m.allocPagesExact(size, GFP.KERNEL | GFP.NOWARN);
        if (!addr) break;
        const l = { pfn: m.virtToPage(addr), order: 0, compound: false, exact: { addr, size }, sig: sig++ };
        stamp(m, l);
        live.push(l);
        break;
      }
      case 'release': {
        const idx = live.map((l, i) => (l.order === 0 && !l.exact ? i : -1)).filter((i) => i >= 0).slice(0, op.n);
        const pfns = idx.map((i) => live[i].pfn);
        for (const i of idx.reverse()) live.splice(i, 1);
        m.releasePages(pfns);
        break;
      }
      case 'getput': {
        // A second reference: the put only drops it. A compound page stays whole; a non-compound block
        // keeps only its first page, the rest goes back at once (__free_pages).
        if (!live.length) break;
        const l = live[op.pick % live.length];
        if (l.exact) break;
        m.getPage(l.pfn);
        m.freePages(l.pfn, l.order);
        if (!l.compound && l.order > 0) {
          l.order = 0;
          stamp(m, l);
        }
        verify(m, l);
        break;
      }
      case 'drain':
        m.drainAllPages();
        break;
    }
    m.checkInvariants();
  }
  for (const l of live) {
    verify(m, l);
    if (l.exact) m.freePagesExact(l.exact.addr, l.exact.size);
    else m.freePages(l.pfn, l.order);
  }
  m.drainAllPages();
  // Highatomic pageblocks do not merge with others at pageblock order; give them back as the kernel does
  // before OOM, then the free lists hold exactly the blocks they held at boot.
  while (m.buddy.unreserveHighatomicPageblock(m.zones.length - 1, 1, true));
  m.checkInvariants();
  expect(freeBlocks(m)).toEqual(boot);
  expect(m.zones.map((z) => z.nrReservedHighatomic)).toEqual(m.zones.map(() => 0));
}

describe('page allocator under random traffic', () => {
  it('x86_64: invariants hold, bytes survive, everything merges back', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: STEPS }), (ops) => run({ mem: '64M', nrCpus: 2 }, ops)), { numRuns: RUNS });
  });

  it('i386 with highmem: the same', () => {
    // vmalloc=960M leaves 64M of lowmem, so a 96M machine has a HighMem zone and stays small.
    fc.assert(fc.property(fc.array(opArb, { maxLength: STEPS }), (ops) => run({ arch: 'i386', mem: '96M', vmallocSize: '960M', nrCpus: 2 }, ops)), { numRuns: Math.max(1, RUNS >> 1) });
  });

  it('a nearly full machine: many allocations fail, invariants still hold', () => {
    const heavy = fc.array(fc.record({ k: fc.constant('alloc' as const), order: fc.integer({ min: 0, max: 6 }), gfp: fc.constantFrom(...GFPS), cpu: fc.integer({ min: 0, max: 1 }), softirq: fc.boolean() }), { minLength: 20, maxLength: 60 });
    fc.assert(fc.property(heavy, fc.array(opArb, { maxLength: STEPS >> 1 }), (fill, ops) => {
      // 32M: a few hundred order-6 requests exhaust it.
      run({ mem: '32M', nrCpus: 2 }, [...fill.flatMap((f) => [f, f, f, f, f]), ...ops]);
    }), { numRuns: Math.max(1, RUNS >> 1) });
  });
});
