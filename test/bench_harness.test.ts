import { describe, expect, it } from 'vitest';
import { measureAll } from '../bench/harness.js';

/** Busy-wait about `ns` nanoseconds per operation (a loop a few instructions long, timed by the host clock). */
function spin(ns: number, ops: number): number {
  const end = Number(process.hrtime.bigint()) + ns * ops;
  while (Number(process.hrtime.bigint()) < end);
  return ops;
}

describe('bench harness: a figure over several instances', () => {
  it('samples every instance, reports each one\'s median, and the figure is the majority\'s', () => {
    const calls = [0, 0, 0];
    // Instance 1 is ten times slower per operation, as an unlucky placement would be.
    const perOp = [2000, 20000, 2000];
    const r = measureAll(
      [{ id: 't', instances: 3, run: (iters, k) => (calls[k]++, spin(perOp[k], iters)) }],
      { budgetMs: 30, minSamples: 3 },
    ).get('t')!;
    // Calibration on instance 0, warm-up on each, then at least two samples from every instance.
    expect(calls.every((c) => c >= 3)).toBe(true);
    expect(r.samples).toBeGreaterThanOrEqual(6);
    expect(r.instanceNs).toHaveLength(3);
    expect(r.instanceNs![1]).toBeGreaterThan(2 * r.instanceNs![0]);
    expect(r.nsPerOp).toBeLessThan(r.instanceNs![1] / 2);
  });

  it('a task of one instance has no per-instance figures', () => {
    const r = measureAll([{ id: 'one', run: (iters) => spin(1000, iters) }], { budgetMs: 20, minSamples: 3 }).get('one')!;
    expect(r.instanceNs).toBeUndefined();
    expect(r.samples).toBeGreaterThanOrEqual(3);
  });
});
