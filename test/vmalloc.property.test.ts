/**
 * Random vmalloc traffic: vmalloc/vzalloc/__vmalloc (GFP_KERNEL and GFP_NOFS, sizes from a page to a few MiB,
 * some aligned), vfree (some from interrupt context, deferred), vmap/vunmap (with and without
 * VM_MAP_PUT_PAGES), vm_map_ram/vm_unmap_ram of 1..80 pages, vm_unmap_aliases and purges, on a small i386
 * machine (120 MiB of vmalloc space, so it fills up and fails) and on x86_64. After every step
 * checkInvariants() holds: the free KVA tree is consistent, free, busy and lazily freed ranges tile the
 * vmalloc space without overlap, every area's pages are mapped exactly once in the page tables (a recount
 * of every PTE agrees), page-table pages are PageTable pages. Every live mapping keeps the bytes stamped at
 * both of its ends. After freeing everything and purging, the free tree is one block again.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 12); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE, PAGE_SIZE } from '../src/index.js';
import { VM_MAP, VM_MAP_PUT_PAGES } from '../src/mm/vmalloc.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 12);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 60);

type Op =
  | { k: 'vmalloc'; pages: number; nofs: boolean; zero: boolean; alignShift: number }
  | { k: 'vmap'; pages: number; put: boolean }
  | { k: 'ram'; pages: number }
  | { k: 'free'; pick: number; irq: boolean }
  | { k: 'aliases' }
  | { k: 'purge' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('vmalloc' as const), pages: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 1200 })), nofs: fc.boolean(), zero: fc.boolean(), alignShift: fc.constantFrom(0, 0, 0, 14, 21) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('vmap' as const), pages: fc.integer({ min: 1, max: 40 }), put: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ram' as const), pages: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 80 })) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat(), irq: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'aliases' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'purge' as const }) },
);

interface Live {
  kind: 'vmalloc' | 'vmap' | 'vmap-put' | 'ram';
  addr: number;
  pages: number;
  /** Pages the test owns (vmap without PUT_PAGES, vm_map_ram): freed after the unmap. */
  own: number[];
  stamp: number;
}

function run(arch: 'x86_64' | 'i386', ops: Op[]): void {
  const m = Machine.boot({ arch, mem: arch === 'i386' ? '512M' : '1G', strict: true, seed: 3 });
  const v = m.vmallocLayer;
  const live: Live[] = [];
  let stamp = 1;
  const stampBytes = (l: Live) => {
    const end = l.addr + l.pages * PAGE_SIZE - 4;
    m.write(l.addr, new Uint8Array([l.stamp & 0xff, 1, 2, 3]));
    m.write(end, new Uint8Array([3, 2, 1, l.stamp & 0xff]));
  };
  const checkBytes = (l: Live) => {
    expect([...m.read(l.addr, 4)]).toEqual([l.stamp & 0xff, 1, 2, 3]);
    expect([...m.read(l.addr + l.pages * PAGE_SIZE - 4, 4)]).toEqual([3, 2, 1, l.stamp & 0xff]);
  };
  const takePages = (n: number): number[] | undefined => {
    const p: number[] = [];
    for (let i = 0; i < n; i++) {
      const pfn = m.allocPages(GFP.HIGHUSER | GFP.NOWARN, 0);
      if (pfn === NO_PAGE) {
        for (const q of p) m.freePages(q, 0);
        return undefined;
      }
      p.push(pfn);
    }
    return p;
  };
  const release = (l: Live, irq: boolean) => {
    checkBytes(l);
    if (l.kind === 'vmalloc' || l.kind === 'vmap-put') {
      if (irq) m.inIrq(() => m.vfree(l.addr));
      else m.vfree(l.addr);
    } else if (l.kind === 'vmap') m.vunmap(l.addr);
    else m.vmUnmapRam(l.addr, l.pages);
    for (const p of l.own) m.freePages(p, 0);
  };
  for (const o of ops) {
    switch (o.k) {
      case 'vmalloc': {
        const gfp = (o.nofs ? GFP.NOFS : GFP.KERNEL) | (o.zero ? GFP.ZERO : 0) | GFP.NOWARN;
        const addr = m.vmallocNodeRange(o.pages * PAGE_SIZE, { gfp, align: o.alignShift ? 2 ** o.alignShift : 1 });
        if (addr === 0) break;
        if (o.alignShift) expect(addr % 2 ** o.alignShift).toBe(0);
        if (o.zero) expect([...m.read(addr + (o.pages - 1) * PAGE_SIZE, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
        live.push({ kind: 'vmalloc', addr, pages: o.pages, own: [], stamp: stamp++ });
        break;
      }
      case 'vmap': {
        const p = takePages(o.pages);
        if (!p) break;
        const addr = m.vmap(p, VM_MAP | (o.put ? VM_MAP_PUT_PAGES : 0));
        if (addr === 0) {
          for (const q of p) m.freePages(q, 0);
          break;
        }
        live.push({ kind: o.put ? 'vmap-put' : 'vmap', addr, pages: o.pages, own: o.put ? [] : p, stamp: stamp++ });
        break;
      }
      case 'ram': {
        const p = takePages(o.pages);
        if (!p) break;
        const f = m.memallocNofsSave();
        const addr = m.vmMapRam(p);
        m.memallocNofsRestore(f);
        if (addr === 0) {
          for (const q of p) m.freePages(q, 0);
          break;
        }
        live.push({ kind: 'ram', addr, pages: o.pages, own: p, stamp: stamp++ });
        break;
      }
      case 'free': {
        if (!live.length) break;
        const [l] = live.splice(o.pick % live.length, 1);
        release(l, o.irq);
        break;
      }
      case 'aliases':
        m.vmUnmapAliases();
        break;
      case 'purge':
        m.purgeVmapAreaLazy();
        break;
    }
    const last = live.at(-1);
    if (last && last.stamp === stamp - 1 && o.k !== 'free') stampBytes(last);
    m.checkInvariants();
  }
  for (const l of live) checkBytes(l);
  for (const l of live.splice(0)) release(l, false);
  m.vmalloc(PAGE_SIZE) && v.runDeferred(); // any deferred frees run in process context
  for (const a of [...v.busy.values()]) if (a.vm) m.vfree(a.start);
  v.purgeFragmentedBlocks(); // what reclaim_and_purge_vmap_areas() does when the space runs out
  m.purgeVmapAreaLazy();
  m.checkInvariants();
  expect(v.busy.size).toBe(0);
  expect(v.tree.blocks()).toEqual([[v.start, v.end]]);
  expect(v.nrVmallocPages).toBe(0);
}

describe('random vmalloc, vmap and vm_map_ram traffic', () => {
  for (const arch of ['i386', 'x86_64'] as const) {
    it(`${arch}: invariants after every step, bytes intact, the space whole again at the end`, () => {
      fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: STEPS }), (ops) => run(arch, ops)), { numRuns: RUNS, seed: arch === 'i386' ? 1 : 2 });
    });
  }
});
