/**
 * The `mixed` scenario: a machine's life in page allocations. Unmovable kernel allocations (some of them
 * permanent, like page tables and long-lived slabs), reclaimable slab pages, movable user pages (with some
 * large folios and THPs) and a stream of high-order requests from drivers and the network arrive one per
 * step with random lifetimes, so the long-lived unmovable pages end up scattered among the rest and memory
 * fragments as the run goes on. Without reclaim or compaction in the model yet, nothing repairs it.
 *
 * It reports, per order, how many requests failed although the zones they could use held enough free
 * pages above the min watermark: failures that fragmentation, not lack of memory, caused.
 */
import { GFP } from '../gfp.js';
import type { Machine } from '../machine.js';
import { NO_PAGE, NR_PAGE_ORDERS } from '../mm/page.js';
import { fragmentationIndex, formatIndex, unusableFreeIndex } from '../mm/vmstat.js';
import { MinHeap } from './heap.js';
import { Prng } from './prng.js';
import { timelineStride, type RunOptions, type Scenario, type ScenarioResult } from './scenario.js';

interface User {
  name: string;
  /** Share of arrivals. */
  weight: number;
  gfp: number;
  orders: readonly number[];
  orderWeights: readonly number[];
  /** Mean lifetime as a share of the run; Infinity for a share of permanent ones. */
  life: number;
  permanent: number;
  softirq?: boolean;
}

/** The users; their orders and flags are what such callers pass in the kernel. */
function users(thpOrder: number): User[] {
  return [
    { name: 'kernel (unmovable)', weight: 22, gfp: GFP.KERNEL, orders: [0, 1, 2, 3], orderWeights: [80, 12, 5, 3], life: 0.05, permanent: 0.06 },
    { name: 'slab (reclaimable)', weight: 14, gfp: GFP.KERNEL | GFP.RECLAIMABLE, orders: [0, 1], orderWeights: [85, 15], life: 0.04, permanent: 0.02 },
    { name: 'user (movable)', weight: 58, gfp: GFP.HIGHUSER_MOVABLE, orders: [0, 2, 4], orderWeights: [94, 4, 2], life: 0.02, permanent: 0 },
    { name: 'thp (movable)', weight: 0.6, gfp: GFP.TRANSHUGE_LIGHT | GFP.NORETRY, orders: [thpOrder], orderWeights: [1], life: 0.02, permanent: 0 },
    { name: 'driver (high order)', weight: 3.4, gfp: GFP.KERNEL | GFP.NORETRY | GFP.NOWARN | GFP.COMP, orders: [4, 5, 6], orderWeights: [60, 30, 10], life: 0.002, permanent: 0 },
    { name: 'net rx (atomic)', weight: 2, gfp: GFP.ATOMIC | GFP.NOWARN | GFP.COMP, orders: [1, 2, 3], orderWeights: [30, 30, 40], life: 0.001, permanent: 0, softirq: true },
  ];
}

export const mixedScenario: Scenario = {
  name: 'mixed',
  description: 'unmovable, reclaimable and movable allocations of several orders fragmenting memory over time; failures per order despite free memory',
  machine: { mem: '1G' },
  defaultSteps: 1_000_000,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const steps = opts.steps ?? 1_000_000;
    const rng = new Prng(opts.seed);
    const thpOrder = m.cfg.arch.pageblockOrder;
    const us = users(thpOrder);
    const weights = us.map((u) => u.weight);
    // Lifetimes scale with the machine so that the live set settles near 90% of memory.
    const managed = m.totalramPages;
    let permPagesPerStep = 0;
    let lifeWeighted = 0;
    for (const u of us) {
      let ep = 0;
      let wsum = 0;
      u.orders.forEach((o, i) => {
        ep += (1 << o) * u.orderWeights[i];
        wsum += u.orderWeights[i];
      });
      ep /= wsum;
      permPagesPerStep += (u.weight / 100) * ep * u.permanent;
      lifeWeighted += (u.weight / 100) * ep * u.life * (1 - u.permanent);
    }
    // Permanent pages should end near 12% of memory; the rest of the live set near 90%: more than fits, so that the
    // machine runs at its watermarks as a real one with a full page cache does.
    const permanentPages = permPagesPerStep * steps;
    const permScale = permanentPages > 0 ? Math.min(1, (0.12 * managed) / permanentPages) : 1;
    const lifeUnit = (0.9 * managed) / Math.max(1e-9, lifeWeighted);

    const cap = 1 << 16;
    let pfns = new Int32Array(cap);
    let orders = new Int8Array(cap);
    let userOf = new Int8Array(cap);
    const freeIds: number[] = [];
    let nextId = 0;
    const heap = new MinHeap(cap);

    const requests = new Float64Array(NR_PAGE_ORDERS);
    const failures = new Float64Array(NR_PAGE_ORDERS);
    const fragFailures = new Float64Array(NR_PAGE_ORDERS);
    const perUser = us.map(() => ({ requests: 0, failures: 0 }));
    const samples: Array<Array<string | number>> = [];
    const sampleEvery = Math.max(1, Math.floor(steps / 10));
    const top = m.zones.reduce((best, z) => (z.managed > best.managed ? z : best), m.zones[0]);
    let livePages = 0;

    for (let step = 1; step <= steps; step++) {
      if (opts.sample && step % timelineStride(steps) === 0) opts.sample(m, 'mixed');
      while (heap.peekKey() <= step) {
        const id = heap.pop();
        m.freePages(pfns[id], orders[id]);
        livePages -= 1 << orders[id];
        freeIds.push(id);
      }
      const ui = rng.pick(weights);
      const u = us[ui];
      const order = u.orders[rng.pick(u.orderWeights)];
      requests[order]++;
      perUser[ui].requests++;
      const pfn = u.softirq ? m.inSoftirq(() => m.allocPages(u.gfp, order)) : m.allocPages(u.gfp, order);
      if (pfn === NO_PAGE) {
        failures[order]++;
        perUser[ui].failures++;
        if (enoughFree(m, u.gfp, order)) fragFailures[order]++;
      } else {
        let id = freeIds.pop();
        if (id === undefined) {
          id = nextId++;
          if (id >= pfns.length) {
            pfns = grow(pfns);
            orders = grow(orders);
            userOf = grow(userOf);
          }
        }
        pfns[id] = pfn;
        orders[id] = order;
        userOf[id] = ui;
        livePages += 1 << order;
        const permanent = u.permanent > 0 && rng.float() < u.permanent * permScale;
        if (!permanent) heap.push(step + 1 + Math.floor(rng.exp(u.life * lifeUnit)), id);
      }
      if (step % sampleEvery === 0 || step === steps) {
        samples.push([
          step, livePages, m.freePagesTotal(), formatIndex(unusableFreeIndex(top.nrFree, 3)),
          formatIndex(unusableFreeIndex(top.nrFree, thpOrder)), formatIndex(fragmentationIndex(top.nrFree, 4)),
          sum(failures), sum(fragFailures),
        ]);
        opts.progress?.(step, steps);
      }
    }

    const orderRows: Array<Array<string | number>> = [];
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      if (!requests[o]) continue;
      orderRows.push([o, requests[o], failures[o], pct(failures[o], requests[o]), fragFailures[o]]);
    }
    const totalFail = sum(failures);
    const totalFrag = sum(fragFailures);
    return {
      scenario: 'mixed',
      summary: [
        `${steps} allocation requests on ${m.cfg.arch.arch} with ${(managed * 4) >> 10} MiB managed; ${livePages} pages live at the end.`,
        `${totalFail} requests failed; ${totalFrag} of them failed although the zones they could use had enough free pages above the min watermark (fragmentation).`,
        `Fallbacks to other migratetypes: ${m.stats.fallbackClaims} pageblocks claimed, ${m.stats.fallbackSteals} blocks stolen (${m.stats.fallbackFragmenting} fragmenting).`,
      ],
      tables: [
        { title: 'Requests by order', columns: ['order', 'requests', 'failed', 'failed %', 'failed with enough free'], rows: orderRows },
        { title: 'Requests by user', columns: ['user', 'requests', 'failed', 'failed %'], rows: us.map((u, i) => [u.name, perUser[i].requests, perUser[i].failures, pct(perUser[i].failures, perUser[i].requests)]) },
        { title: `Over time (zone ${top.name})`, columns: ['step', 'live pages', 'free pages', 'unusable o3', `unusable o${thpOrder}`, 'extfrag o4', 'failed', 'failed w/ free'], rows: samples },
      ],
      metrics: {
        steps,
        livePages,
        freePages: m.freePagesTotal(),
        requestsByOrder: Array.from(requests),
        failuresByOrder: Array.from(failures),
        fragmentationFailuresByOrder: Array.from(fragFailures),
        users: us.map((u, i) => ({ name: u.name, requests: perUser[i].requests, failures: perUser[i].failures })),
        fallbackClaims: m.stats.fallbackClaims,
        fallbackSteals: m.stats.fallbackSteals,
        fallbackFragmenting: m.stats.fallbackFragmenting,
        overTime: samples,
      },
    };
  },
};

/**
 * Would the request have passed the min watermark of some zone it may use, had the free pages been
 * contiguous? Then its failure was fragmentation's doing.
 */
function enoughFree(m: Machine, gfp: number, order: number): boolean {
  const highest = m.pa.gfpZone(gfp);
  for (let z = highest; z >= 0; z--) {
    const zone = m.zones[z];
    if (!zone.managed) continue;
    if (zone.freePages - ((1 << order) - 1) > zone.wmarkMin() + zone.lowmemReserve[highest]) return true;
  }
  return false;
}

function grow<T extends Int32Array | Int8Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}

function pct(a: number, b: number): string {
  return b ? ((100 * a) / b).toFixed(2) : '0.00';
}
