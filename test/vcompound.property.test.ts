/**
 * Random __GFP_VFALLBACK traffic (V1, under the vcompound, always and stage-2 policies) and V5 wrapper
 * traffic, mixed with plain page allocations (orders 0..6), kmalloc objects and vmalloc areas, some in softirq,
 * on a small machine that fragments as it fills. After every step checkInvariants() holds (buddy and pcp
 * lists, every page free or allocated exactly once, virtual compound heads and tails consistent with their
 * mappings, the vmalloc space tiled); every live block keeps the bytes stamped at both of its ends (read
 * through its own address, virtual or not). At the end everything is freed and every page is free again.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 8); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE, PAGE_SIZE } from '../src/index.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 8);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 80);

type Op =
  | { k: 'pages'; order: number; vfallback: boolean; atomic: boolean; softirq: boolean }
  | { k: 'v5'; order: number }
  | { k: 'kmalloc'; size: number }
  | { k: 'vmalloc'; pages: number }
  | { k: 'free'; pick: number; softirq: boolean; byAddr: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('pages' as const), order: fc.integer({ min: 0, max: 6 }), vfallback: fc.boolean(), atomic: fc.boolean(), softirq: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('v5' as const), order: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('kmalloc' as const), size: fc.integer({ min: 8, max: 16384 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('vmalloc' as const), pages: fc.integer({ min: 1, max: 32 }) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat(), softirq: fc.boolean(), byAddr: fc.boolean() }) },
);

interface Live {
  kind: 'pages' | 'v5' | 'kmalloc' | 'vmalloc';
  addr: number;
  pfn: number;
  order: number;
  bytes: number;
  stamp: number;
}

type Policy = { fallback: 'vcompound' | 'always'; vfallbackInterrupt: 'stage1' | 'stage2' };

/** Virtual compounds the cases made, so that the test can tell it exercised them. */
let made = 0;

function run(policy: Policy, ops: Op[]): void {
  const m = Machine.boot({ mem: '48M', strict: true, seed: 5, policy });
  // Fragment the start: pin every fourth page the allocator hands out, so that order >= 2 is rare.
  const pinned: number[] = [];
  const spare: number[] = [];
  for (let i = 0; ; i++) {
    const p = m.allocPages(GFP.KERNEL | GFP.MEMALLOC | GFP.NOWARN | GFP.NORETRY, 0);
    if (p === NO_PAGE) break;
    (i % 4 === 0 ? pinned : spare).push(p);
  }
  for (const p of spare) m.freePages(p, 0);
  const free0 = m.freePagesTotal() + m.pcpPagesTotal();
  const live: Live[] = [];
  let stamp = 1;
  const stampBytes = (l: Live) => {
    m.write(l.addr, new Uint8Array([l.stamp & 0xff, 0x5a]));
    m.write(l.addr + l.bytes - 2, new Uint8Array([0xa5, l.stamp & 0xff]));
  };
  const checkBytes = (l: Live) => {
    expect([...m.read(l.addr, 2)]).toEqual([l.stamp & 0xff, 0x5a]);
    expect([...m.read(l.addr + l.bytes - 2, 2)]).toEqual([0xa5, l.stamp & 0xff]);
  };
  const release = (l: Live, softirq: boolean, byAddr: boolean) => {
    checkBytes(l);
    switch (l.kind) {
      case 'pages': {
        // Stage 1 does not free a virtual compound in interrupt context; the test frees in process context then.
        const virt = m.pageVcompound(l.pfn);
        const irq = softirq && (!virt || policy.vfallbackInterrupt === 'stage2');
        const free = () => (byAddr && l.addr ? m.freePagesAddr(l.addr, l.order) : m.freePages(l.pfn, l.order));
        if (irq) m.inSoftirq(free);
        else free();
        break;
      }
      case 'v5':
        return m.freeVcompound(l.addr);
      case 'kmalloc':
        return m.kfree(l.addr);
      case 'vmalloc':
        return m.vfree(l.addr);
    }
  };
  for (const o of ops) {
    let added: Live | undefined;
    switch (o.k) {
      case 'pages': {
        const gfp = (o.atomic ? GFP.ATOMIC : GFP.KERNEL) | GFP.COMP | GFP.NOWARN | (o.vfallback ? GFP.VFALLBACK : 0);
        const alloc = () => m.allocPages(gfp, o.order);
        const pfn = o.softirq && o.atomic ? m.inSoftirq(alloc) : alloc();
        if (pfn === NO_PAGE) break;
        if (m.pageVcompound(pfn)) {
          expect(o.vfallback && o.order > 0).toBe(true);
          expect(m.compoundOrder(pfn)).toBe(o.order);
          const addr = m.pageToAddr(pfn);
          for (let i = 0; i < 1 << o.order; i++) expect(m.compoundNthPage(pfn, i)).toBe(m.addrToPage(addr + i * PAGE_SIZE));
        } else if (policy.fallback === 'always' && o.vfallback && o.order > 0 && !(o.softirq && o.atomic && policy.vfallbackInterrupt === 'stage1')) {
          // CONFIG_VIRTUALIZE_ALWAYS went physical only because the virtual attempt failed.
          expect(m.vcompound.stats.failures).toBeGreaterThan(0);
        }
        added = { kind: 'pages', addr: m.pageToAddr(pfn), pfn, order: o.order, bytes: PAGE_SIZE << o.order, stamp: stamp++ };
        break;
      }
      case 'v5': {
        const addr = m.allocVcompound(GFP.KERNEL | GFP.NOWARN, o.order);
        if (addr) added = { kind: 'v5', addr, pfn: m.virtToHeadPage(addr), order: o.order, bytes: PAGE_SIZE << o.order, stamp: stamp++ };
        break;
      }
      case 'kmalloc': {
        const addr = m.kmalloc(o.size, GFP.KERNEL | GFP.NOWARN);
        if (addr) added = { kind: 'kmalloc', addr, pfn: NO_PAGE, order: 0, bytes: o.size, stamp: stamp++ };
        break;
      }
      case 'vmalloc': {
        const addr = m.vmallocGfp(o.pages * PAGE_SIZE, GFP.KERNEL | GFP.NOWARN);
        if (addr) added = { kind: 'vmalloc', addr, pfn: NO_PAGE, order: 0, bytes: o.pages * PAGE_SIZE, stamp: stamp++ };
        break;
      }
      case 'free': {
        if (!live.length) break;
        const [l] = live.splice(o.pick % live.length, 1);
        release(l, o.softirq, o.byAddr);
        break;
      }
    }
    if (added && added.addr) {
      stampBytes(added);
      live.push(added);
    } else if (added) {
      m.freePages(added.pfn, added.order); // highmem-less machine: never happens, but keep the books
    }
    m.checkInvariants();
  }
  made += m.vcompound.stats.allocs + m.vmallocLayer.vcompoundStats.virtual;
  for (const l of live) checkBytes(l);
  for (const l of live.splice(0)) release(l, false, false);
  m.vmallocLayer.runDeferred();
  expect(m.vmallocLayer.nrVcompounds).toBe(0);
  m.checkInvariants();
  m.purgeVmapAreaLazy();
  // Every page the traffic took is back (page tables and slab caches may keep a few).
  const free1 = m.freePagesTotal() + m.pcpPagesTotal();
  expect(free0 - free1).toBeLessThan(64);
  for (const p of pinned) m.freePages(p, 0);
  m.checkInvariants();
}

describe('random __GFP_VFALLBACK and alloc_vcompound traffic among page, slab and vmalloc traffic', () => {
  const policies: Policy[] = [
    { fallback: 'vcompound', vfallbackInterrupt: 'stage1' },
    { fallback: 'vcompound', vfallbackInterrupt: 'stage2' },
    { fallback: 'always', vfallbackInterrupt: 'stage1' },
  ];
  for (const [i, policy] of policies.entries()) {
    it(`${policy.fallback}/${policy.vfallbackInterrupt}: invariants after every step, bytes intact, everything freed`, () => {
      made = 0;
      fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: STEPS }), (ops) => run(policy, ops)), { numRuns: RUNS, seed: 11 + i });
      expect(made).toBeGreaterThan(0);
    });
  }
});
