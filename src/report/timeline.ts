/**
 * A timeline of a machine's allocator state, for reports and plots: at each sample, per order the free blocks
 * (all zones together), the unusable-free and fragmentation indices of the largest zone (vmstat.c's
 * formulas, in thousandths), and the running totals of failures by order, fallbacks (claims and steals),
 * reclaim (pages stolen) and compaction (stalls, successes). Samples are taken by whoever drives the
 * machine (a scenario's step, a replay's batch); the model time is recorded with each.
 */
import type { Machine } from '../machine.js';
import { NR_PAGE_ORDERS } from '../mm/page.js';
import { fragmentationIndex, unusableFreeIndex } from '../mm/vmstat.js';

export interface TimelineSample {
  /** Model time, ns, and a label (the design or phase being run). */
  ns: number;
  label: string;
  /** Free blocks per order, all zones. */
  nrFree: number[];
  /** Indices per order of the largest zone, in thousandths (extfrag: -1000 means "enough free blocks"). */
  unusable: number[];
  extfrag: number[];
  /** Running totals. */
  failures: number[];
  fallbacks: number;
  reclaimed: number;
  compactStalls: number;
  compactSuccess: number;
}

export class Timeline {
  readonly samples: TimelineSample[] = [];
  /** Keep at most this many samples: past it every other one is dropped and the stride doubles. */
  constructor(readonly maxSamples = 2000) {}
  private stride = 1;
  private calls = 0;

  /** Record the machine's state now (every `stride`-th call once the timeline has filled up). */
  sample(m: Machine, label = ''): void {
    if (this.calls++ % this.stride) return;
    const nrFree = new Array<number>(NR_PAGE_ORDERS).fill(0);
    let big = m.zones[0];
    for (const z of m.zones) {
      if (z.managed > big.managed) big = z;
      for (let o = 0; o < NR_PAGE_ORDERS; o++) nrFree[o] += z.nrFree[o];
    }
    const perOrder = big.nrFree;
    const unusable: number[] = [];
    const extfrag: number[] = [];
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      unusable.push(unusableFreeIndex(perOrder, o));
      extfrag.push(fragmentationIndex(perOrder, o));
    }
    const ev = m.events;
    this.samples.push({
      ns: m.clock.ns, label, nrFree, unusable, extfrag,
      failures: Array.from(m.stats.allocFailures),
      fallbacks: m.stats.fallbackClaims + m.stats.fallbackSteals,
      reclaimed: ev.pgstealKswapd + ev.pgstealDirect,
      compactStalls: ev.compactStall,
      compactSuccess: ev.compactSuccess,
    });
    if (this.samples.length >= this.maxSamples) {
      // Thin out: keep every other sample, sample half as often from now on.
      let j = 0;
      for (let i = 0; i < this.samples.length; i += 2) this.samples[j++] = this.samples[i];
      this.samples.length = j;
      this.stride *= 2;
    }
  }
}
