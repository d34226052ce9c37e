/**
 * The model clock: nanoseconds since boot, advanced only by the model (each allocator entry point costs a
 * fixed model time, and workloads advance it explicitly), never read from the wall clock, so that the same
 * seed gives the same timestamps. It stamps trace lines and dmesg.
 *
 * It also keeps the machine's timers (kernel/time/timer.c add_timer, del_timer; the hrtimer queue): a
 * callback due at a model time, run in due order whenever the model lets time pass (`sleep`, or the
 * machine's tick). A sleeping task (`sleep`, as schedule_timeout/io_schedule_timeout) lets the timers up to
 * its deadline run, and wakes early once its condition holds (as a wake_up on its wait queue would).
 * Departures: timers run in the context of whoever lets time pass (the model has one thread), on its stack;
 * ties run in the order they were added.
 */
export type TimerFn = () => void;

/** How deep timer callbacks that sleep may nest. */
const MAX_TIMER_DEPTH = 8;

export class Clock {
  /** Nanoseconds since boot. */
  ns: number;
  // Pending timers, sorted by due time (then by insertion): few at a time, so a sorted array is enough.
  private dues: number[] = [];
  private fns: TimerFn[] = [];
  private ids: number[] = [];
  private nextId = 1;
  /**
   * What the other threads do while the caller sleeps (the machine's daemons: kswapd, kcompactd, writeback
   * completions). Called after each timer a sleeper lets run, and at its wake-up.
   */
  idle: (() => void) | undefined;
  /** Timer callbacks on the stack (a callback that sleeps lets later timers run inside it). */
  private depth = 0;

  constructor() {
    // A double field from the start (V8 fixes a field's representation at its first store, and a later 0
    // stays a double): ns passes 2^31 after some 8 million allocator calls, and the change from a small-int
    // field to a double one would deoptimize every hot path that advances the clock.
    this.ns = 0.5;
    this.ns = 0;
  }

  advance(ns: number): void {
    this.ns += ns;
  }

  /** Seconds and microseconds as the kernel prints them: `%5lu.%06lu`. */
  secsUsecs(): [number, number] {
    const us = Math.floor(this.ns / 1000);
    return [Math.floor(us / 1e6), us % 1e6];
  }

  /** add_timer(): run `fn` once the clock reaches `at`. Returns an id for delTimer. */
  addTimer(at: number, fn: TimerFn): number {
    let i = this.dues.length;
    while (i > 0 && this.dues[i - 1] > at) i--;
    const id = this.nextId++;
    this.dues.splice(i, 0, at);
    this.fns.splice(i, 0, fn);
    this.ids.splice(i, 0, id);
    return id;
  }

  /** del_timer(): true if the timer was still pending. */
  delTimer(id: number): boolean {
    const i = this.ids.indexOf(id);
    if (i < 0) return false;
    this.dues.splice(i, 1);
    this.fns.splice(i, 1);
    this.ids.splice(i, 1);
    return true;
  }

  /** Timers pending. */
  get nrTimers(): number {
    return this.dues.length;
  }

  /** When the next timer is due, or Infinity. */
  nextTimer(): number {
    return this.dues.length ? this.dues[0] : Infinity;
  }

  /**
   * Run every timer due by now, in due order (a timer may add more; those due by now run too). A callback
   * that sleeps (a kernel thread's work blocking in reclaim) lets the timers after it run meanwhile, as other
   * CPUs and softirqs would; each is taken off the queue before it runs, so none runs twice. Nesting stops at
   * MAX_TIMER_DEPTH, beyond which a sleeper just lets the time pass.
   */
  runTimers(): number {
    if (this.depth >= MAX_TIMER_DEPTH) return 0;
    this.depth++;
    let n = 0;
    try {
      while (this.dues.length && this.dues[0] <= this.ns) {
        const fn = this.fns[0];
        this.dues.shift();
        this.fns.shift();
        this.ids.shift();
        fn();
        n++;
      }
    } finally {
      this.depth--;
    }
    return n;
  }

  /**
   * Let up to `maxNs` pass, timer by timer, and stop as soon as `woken()` holds (checked before sleeping and
   * after each timer). Returns true if woken, false on timeout (the clock is then `maxNs` later).
   */
  sleep(maxNs: number, woken: () => boolean = () => false): boolean {
    const deadline = this.ns + maxNs;
    if (woken()) return true;
    while (this.depth < MAX_TIMER_DEPTH && this.dues.length && this.dues[0] <= deadline) {
      if (this.dues[0] > this.ns) this.ns = this.dues[0];
      this.runTimers();
      this.idle?.();
      if (woken()) return true;
    }
    if (deadline > this.ns) this.ns = deadline;
    this.idle?.();
    return woken();
  }
}
