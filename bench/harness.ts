/**
 * A small timing harness for hot loops of a few nanoseconds per operation.
 *
 * Each sample times one call of `run(iters)`, which performs many operations in its own loop and returns
 * how many it did, so the cost of the timer and of the call is spread over tens of milliseconds of work.
 * Every task is first calibrated (`iters` doubles until a call is long enough to time, which is also the JIT
 * warm-up) and warmed up further; then the samples are taken round-robin, one per task per round, so that a
 * change in the host's load (other processes on a shared machine) falls on all tasks alike and the ratios
 * between them stay meaningful. A task's figure is the median nanoseconds per operation over its samples,
 * with the quartiles as the spread.
 *
 * A task may have several like instances (machines booted alike, pools made alike): its samples then go
 * round-robin over them, and its median is over all of them. The same loop over the same state can run at
 * different speeds in objects that only differ in where the heap put them (see LAYOUTS in index.ts); spread
 * over instances, a figure is the typical placement's, not the one placement a single object drew.
 */

export interface Measurement {
  /** Median nanoseconds per operation over the samples. */
  nsPerOp: number;
  /** Operations per second at the median. */
  opsPerSec: number;
  /** Fastest sample, and the quartiles, in ns per operation. */
  minNs: number;
  p25Ns: number;
  p75Ns: number;
  /** Samples taken and operations in each (the last sample's count for variable-count workloads). */
  samples: number;
  opsPerSample: number;
  /** With several instances: each instance's median, in instance order. */
  instanceNs?: number[];
}

export interface Task {
  id: string;
  /** Perform about `iters` units of work on instance `instance` (0 .. instances - 1); return the number of operations done. */
  run: (iters: number, instance: number) => number;
  /** Like instances to spread the samples over (default 1). */
  instances?: number;
}

export interface MeasureOptions {
  /** Wall-clock budget per task, warm-up included, in ms. */
  budgetMs: number;
  /** Minimum number of samples per task, whatever the budget. */
  minSamples?: number;
  /** Called as each task is calibrated and as the sampling rounds go (for a progress line). */
  progress?: (what: string) => void;
}

const now = (): number => Number(process.hrtime.bigint());

/** A value the benchmarks fold their results into so that no loop can be optimised away. */
export let sink = 0;
export function consume(x: number): void {
  sink = (sink + x) | 0;
}

/** Samples per task the budget is cut into (each at least 10 ms). */
const SAMPLES_PER_BUDGET = 25;

export function measureAll(tasks: readonly Task[], opts: MeasureOptions): Map<string, Measurement> {
  const budgetNs = opts.budgetMs * 1e6;
  const instances = tasks.map((t) => t.instances ?? 1);
  const maxInstances = Math.max(1, ...instances);
  // At least two samples from every instance.
  const minRounds = Math.max(opts.minSamples ?? 7, 2 * maxInstances);
  const sampleNs = Math.max(10e6, budgetNs / SAMPLES_PER_BUDGET);
  const iters: number[] = [];
  const t0 = now();
  // Calibrate each task (on its first instance): double until one call takes >= 10 ms, then scale to one
  // sample's length.
  for (const t of tasks) {
    opts.progress?.(`calibrating ${t.id}`);
    let n = 1;
    let dt = 0;
    for (;;) {
      const a = now();
      t.run(n, 0);
      dt = now() - a;
      if (dt >= Math.min(10e6, sampleNs)) break;
      n *= 2;
    }
    iters.push(Math.max(1, Math.round((n * sampleNs) / Math.max(dt, 1))));
  }
  // Warm-up: every task again, round-robin, so that each has seen the code paths the others exercise
  // (a deoptimisation caused by a later task then happens here, not in the middle of the samples), and every
  // instance has run once.
  for (let r = 0; r < Math.max(3, maxInstances); r++) for (let i = 0; i < tasks.length; i++) tasks[i].run(iters[i], r % instances[i]);
  const perOp: number[][][] = tasks.map((_, i) => Array.from({ length: instances[i] }, () => []));
  const lastOps: number[] = tasks.map(() => 0);
  const endNs = t0 + budgetNs * tasks.length;
  for (let round = 0; round < 1000; round++) {
    if (round >= minRounds && now() >= endNs) break;
    if (round % 5 === 0) opts.progress?.(`sampling, round ${round + 1}`);
    for (let i = 0; i < tasks.length; i++) {
      const k = round % instances[i];
      const a = now();
      const ops = tasks[i].run(iters[i], k);
      const b = now();
      if (ops <= 0) throw new Error(`measure: ${tasks[i].id} did no operations`);
      perOp[i][k].push((b - a) / ops);
      lastOps[i] = ops;
    }
  }
  const out = new Map<string, Measurement>();
  tasks.forEach((t, i) => {
    const xs = perOp[i].flat().sort((a, b) => a - b);
    const med = quantile(xs, 0.5);
    out.set(t.id, {
      nsPerOp: med,
      opsPerSec: 1e9 / med,
      minNs: xs[0],
      p25Ns: quantile(xs, 0.25),
      p75Ns: quantile(xs, 0.75),
      samples: xs.length,
      opsPerSample: lastOps[i],
      ...(instances[i] > 1 ? { instanceNs: perOp[i].map(median) } : {}),
    });
  });
  return out;
}

/** Linear-interpolated quantile of a sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** mulberry32: a tiny seeded PRNG returning uint32 values (no Math.random anywhere in the benchmarks). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * `n` allocation sizes from `min` to `max`, log-uniform (as many from 8..16 as from 4096..8192, so small
 * requests dominate as they do in kmalloc traffic), from a seeded generator.
 */
export function logUniformSizes(rng: () => number, n: number, min: number, max: number): Int32Array {
  const out = new Int32Array(n);
  const lo = Math.log2(min);
  const span = Math.log2(max) - lo;
  for (let i = 0; i < n; i++) {
    const x = Math.floor(2 ** (lo + (span * rng()) / 4294967296));
    out[i] = Math.min(max, Math.max(min, x));
  }
  return out;
}
