/**
 * The model clock: nanoseconds since boot, advanced only by the model (each allocator entry point costs a
 * fixed model time, and workloads advance it explicitly), never read from the wall clock, so that the same
 * seed gives the same timestamps. It stamps trace lines and dmesg.
 *
 * It also keeps the machine's timers (kernel/time/timer.c add_timer, del_timer; the hrtimer queue): a
 * callback due at a model time, run in due order whenever the model lets time pass (`sleep`, or the
 * machine's tick). A sleeping task (`sleep`, as schedule_timeout/io_schedule_timeout) lets the timers up to
 * its deadline run, and wakes early once its condition holds (as a wake_up on its wait queue would).
 * Departures: timers run in the context of whoever lets time pass (the model has one thread); ties run in
 * the order they were added.
 */
export type TimerFn = () => void;

export class Clock {
  /** Nanoseconds since boot. */
  ns: number;
  // Pending timers, sorted by due time (then by insertion): few at a time, so a sorted array is enough.
  private dues: number[] = [];
  private fns: TimerFn[] = [];
  private ids: number[] = [];
  private nextId = 1;
  private running = false;

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

  /** Run every timer due by now, in due order (a timer may add more; those due by now run too). */
  runTimers(): number {
    if (this.running) return 0; // a timer that lets time pass does not run the queue again from inside
    this.running = true;
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
      this.running = false;
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
    while (!this.running && this.dues.length && this.dues[0] <= deadline) {
      if (this.dues[0] > this.ns) this.ns = this.dues[0];
      this.runTimers();
      if (woken()) return true;
    }
    if (deadline > this.ns) this.ns = deadline;
    return woken();
  }
}
