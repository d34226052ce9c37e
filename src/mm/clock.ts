/**
 * The model clock: nanoseconds since boot, advanced only by the model (each allocator entry point costs a
 * fixed model time, and workloads advance it explicitly), never read from the wall clock, so that the same
 * seed gives the same timestamps. It stamps trace lines and dmesg.
 */
export class Clock {
  /** Nanoseconds since boot. */
  ns: number;

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
}
