/**
 * Random mixes of ordinary and entitled allocations (pages and slab objects; entitled by PF_MEMALLOC in task
 * context, by __GFP_MEMALLOC, or by softirq serving a PF_MEMALLOC task) and frees, on a machine that starts
 * at its min watermarks, under mainline pfmemalloc and Zijlstra's mem_reserve. After every step:
 * checkInvariants() holds; no ordinary page allocation took a page from a zone at or below its min
 * watermark (+ lowmem_reserve); no ordinary slab allocation got an object from a pfmemalloc slab, except,
 * under mainline only, through the hole mm/slub.c admits ("we are losing the pfmemalloc information"): the
 * lockless per-CPU freelist of a reserve slab that an entitled caller on the same CPU loaded. Zijlstra's design
 * closes it, so there the rule has no exception.
 * MMLAB_PROPERTY_RUNS=N runs N cases per policy (default 6); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE } from '../src/index.js';
import { PG_PFMEMALLOC } from '../src/mm/page.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 6);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 150);

const ORDINARY = GFP.NOWAIT | GFP.NOMEMALLOC;

type Entitlement = 'none' | 'pf_memalloc' | 'gfp_memalloc' | 'softirq';
type Op =
  | { k: 'page'; who: Entitlement; cpu: number }
  | { k: 'obj'; who: Entitlement; cpu: number; size: number }
  | { k: 'free'; pick: number; cpu: number };

const who = fc.constantFrom<Entitlement>('none', 'none', 'none', 'pf_memalloc', 'gfp_memalloc', 'softirq');
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('page' as const), who, cpu: fc.integer({ min: 0, max: 1 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('obj' as const), who, cpu: fc.integer({ min: 0, max: 1 }), size: fc.constantFrom(64, 192, 512, 2048) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat(), cpu: fc.integer({ min: 0, max: 1 }) }) },
);

/** Run `fn` as `who` is entitled (or not), on the CPU of `task`. */
function as<T>(m: Machine, who: Entitlement, fn: (gfp: number) => T): T {
  // Non-blocking, so that the step is about who may take what is left, not about reclaim. An ordinary caller
  // adds __GFP_NOMEMALLOC, which also drops the non-blocking caller's quarter below min (ALLOC_NON_BLOCK).
  const base = GFP.NOWAIT;
  if (who === 'gfp_memalloc') return fn(base | GFP.MEMALLOC);
  if (who === 'none') return fn(ORDINARY);
  const flags = m.memallocNoreclaimSave();
  try {
    return who === 'softirq' ? m.inSoftirq(() => fn(base)) : fn(base);
  } finally {
    m.memallocNoreclaimRestore(flags);
  }
}

function runCase(reserves: 'pfmemalloc' | 'mem_reserve', ops: Op[]): void {
  const m = Machine.boot({ mem: '32M', strict: true, thp: false, policy: { reserves } });
  const tasks = [m.current, m.sched.createTask('worker', 1)];
  // Start at the min watermarks: ordinary allocations take everything they may.
  const held: Array<{ pfn: number; obj: number; size: number }> = [];
  for (let p = m.allocPages(ORDINARY, 0); p !== NO_PAGE; p = m.allocPages(ORDINARY, 0)) held.push({ pfn: p, obj: 0, size: 0 });
  for (const o of ops) {
    m.sched.switchTo(tasks[o.cpu]);
    if (o.k === 'free') {
      if (!held.length) continue;
      const [h] = held.splice(o.pick % held.length, 1);
      if (h.obj) m.kfree(h.obj);
      else m.freePages(h.pfn, 0);
    } else if (o.k === 'page') {
      const before = m.zones.map((z) => z.freePages);
      const pfn = as(m, o.who, (gfp) => m.allocPages(gfp, 0));
      if (pfn === NO_PAGE) continue;
      held.push({ pfn, obj: 0, size: 0 });
      if (o.who === 'none') {
        const z = m.mm.zoneIdx(pfn);
        const zone = m.zones[z];
        // zone_watermark_ok(): an unentitled order-0 request needs free > min (the reserve it may not touch).
        expect(before[z], `ordinary page from ${zone.name} at ${before[z]} free, min ${zone.wmarkMin()}`).toBeGreaterThan(zone.wmarkMin());
        expect(m.mm.flags[pfn] & PG_PFMEMALLOC).toBe(0);
      }
    } else {
      const cpu = m.current.cpu;
      const cache = m.slab.kmallocSlab(o.size, ORDINARY);
      const cpuSlab = cache.cpuSlab[cpu];
      const obj = as(m, o.who, (gfp) => m.kmalloc(o.size, gfp));
      if (!obj) continue;
      held.push({ pfn: NO_PAGE, obj, size: o.size });
      const slab = m.slub.objToSlab(obj);
      if (o.who === 'none' && m.mm.flags[slab] & PG_PFMEMALLOC) {
        // Only mainline's lockless hole may hand it out: the CPU slab this CPU already had.
        expect(reserves, `ordinary kmalloc-${o.size} got an object of pfmemalloc slab ${slab}`).toBe('pfmemalloc');
        expect(slab).toBe(cpuSlab);
      }
    }
    m.checkInvariants();
  }
  for (const h of held) {
    if (h.obj) m.kfree(h.obj);
    else m.freePages(h.pfn, 0);
  }
  m.checkInvariants();
}

describe('reserves: ordinary allocations never take what is reserved (property)', () => {
  for (const reserves of ['pfmemalloc', 'mem_reserve'] as const) {
    it(`under ${reserves}`, () => {
      fc.assert(fc.property(fc.array(op, { minLength: 20, maxLength: STEPS }), (ops) => runCase(reserves, ops)), { numRuns: RUNS, seed: 7 });
    });
  }
});
