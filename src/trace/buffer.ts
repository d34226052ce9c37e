/**
 * The trace ring buffer and the line envelope of ftrace's `trace` file (kernel/trace/trace_output.c
 * trace_print_context, trace_print_lat_fmt): `%16s-%-7d [%03d] %5s %12.6f: event: fields`.
 *
 * Events are enabled one by one, as in tracefs (events/kmem/<event>/enable); a disabled event costs one
 * property test on the hot path. An enabled one records its fields as numbers into a ring of typed arrays
 * (growing up to maxLines; the oldest records are overwritten, as in the kernel's ring), and the text is made
 * only when the trace is read (trace/events.ts has the formats). `%p` prints hashed, as the kernel does since
 * 4.15: stable for the boot (keyed by the machine's seed), so an allocation and its free print the same
 * value, but not the address. Only this low-level part lives here; parsing and replay sit above the machine.
 */
import type { Clock } from '../mm/clock.js';
import type { Sched } from '../mm/sched.js';
import { formatFields, TRACE_EVENTS, type TraceEvent } from './events.js';

export { TRACE_EVENTS, type TraceEvent } from './events.js';

/** Numeric fields per record. */
const NARGS = 7;

export class TraceBuffer {
  /** Per-event enable switches; `enable` changes them. */
  readonly on: Readonly<Record<TraceEvent, boolean>>;
  /**
   * Who derives fast-path flags from the switches, called after each change: the kernel patches its
   * tracepoints' static keys on enable, so that a disabled event costs its callers nothing.
   */
  private readonly toggled: Array<() => void> = [];
  /** The ring's size in records (buffer_size_kb, in lines); the oldest records are overwritten. */
  maxLines = 1_000_000;
  /** Records overwritten because the ring was full (entries-written minus entries-in-buffer). */
  overwritten = 0;
  private readonly clock: Clock;
  private readonly sched: Sched;
  private readonly hashKey: number;
  private readonly ptrDigits: number;
  // The ring: `count` records starting at `head`, in arrays of capacity `cap`.
  private cap = 0;
  private head = 0;
  private count = 0;
  private ev = new Uint8Array(0);
  private time = new Float64Array(0);
  private pid = new Int32Array(0);
  /** cpu (bits 0..9), irqs-off (10), hardirq (11), softirq (12), preempt depth (13..16). */
  private ctx = new Int32Array(0);
  private args = new Float64Array(0);
  private comm: string[] = [];
  private s0: string[] = [];
  private s1: string[] = [];
  private readonly scratch = new Float64Array(NARGS);

  constructor(clock: Clock, sched: Sched, seed: number, bitsPerLong: 32 | 64) {
    this.clock = clock;
    this.sched = sched;
    this.hashKey = mix32(seed ^ 0x6d6d6c62);
    this.ptrDigits = bitsPerLong / 4;
    this.on = Object.fromEntries(TRACE_EVENTS.map((e) => [e, false])) as Record<TraceEvent, boolean>;
  }

  enable(events: readonly string[] | 'all', on = true): void {
    const list = events === 'all' ? TRACE_EVENTS : events;
    // All names checked before any switch changes: a bad one changes nothing.
    const bad = list.find((e) => !(e in this.on));
    if (bad !== undefined) throw new Error(`trace: unknown event '${bad}' (expected one of ${TRACE_EVENTS.join(', ')})`);
    for (const e of list) (this.on as Record<TraceEvent, boolean>)[e as TraceEvent] = on;
    for (const fn of this.toggled) fn();
  }

  /** Run `fn` now and after every change of the enable switches (a static key's users re-patched). */
  onToggle(fn: () => void): void {
    this.toggled.push(fn);
    fn();
  }

  /** Record event `ev` (an EV_* of trace/events.ts) with its fields, the current task, CPU, context and time. */
  record(ev: number, a0: number, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, s0 = '', s1 = ''): void {
    let i: number;
    if (this.count < this.maxLines) {
      if (this.count === this.cap) this.grow();
      i = (this.head + this.count) % this.cap;
      this.count++;
    } else {
      i = this.head;
      this.head = (this.head + 1) % this.cap;
      this.overwritten++;
    }
    const s = this.sched;
    const t = s.current;
    this.ev[i] = ev;
    this.time[i] = this.clock.ns;
    this.pid[i] = t.pid;
    this.ctx[i] = t.cpu | (s.irqsDisabled ? 1 << 10 : 0) | (s.inHardirq() ? 1 << 11 : 0) | (s.inServingSoftirq() ? 1 << 12 : 0) |
      (Math.min(s.preemptCount & 0xff, 15) << 13);
    this.comm[i] = t.comm;
    const b = i * NARGS;
    const a = this.args;
    a[b] = a0;
    a[b + 1] = a1;
    a[b + 2] = a2;
    a[b + 3] = a3;
    a[b + 4] = a4;
    a[b + 5] = a5;
    a[b + 6] = a6;
    this.s0[i] = s0;
    this.s1[i] = s1;
  }

  /** The retained lines, oldest first, as the `trace` file prints them. */
  get lines(): string[] {
    const out: string[] = new Array(this.count);
    for (let k = 0; k < this.count; k++) out[k] = this.line((this.head + k) % this.cap);
    return out;
  }

  /** `%p` of a kernel pointer: hashed, zero-padded to the pointer width; NULL prints as zeros, unhashed. */
  ptr(value: number): string {
    if (value === 0) return '0'.repeat(this.ptrDigits);
    const lo = value % 0x100000000;
    const hi = Math.floor(value / 0x100000000);
    const h = mix32(lo ^ mix32(hi ^ this.hashKey)) >>> 0;
    return h.toString(16).padStart(this.ptrDigits, '0');
  }

  /** The `trace` file: the kernel's header, then the lines. */
  text(): string {
    const n = this.count;
    const header = [
      '# tracer: nop',
      '#',
      `# entries-in-buffer/entries-written: ${n}/${n + this.overwritten}   #P:${this.sched.nrCpus}`,
      '#',
      '#                                _-----=> irqs-off/BH-disabled',
      '#                               / _----=> need-resched',
      '#                              | / _---=> hardirq/softirq',
      '#                              || / _--=> preempt-depth',
      '#                              ||| / _-=> migrate-disable',
      '#                              |||| /     delay',
      '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
      '#              | |         |   |||||     |         |',
    ];
    return header.join('\n') + '\n' + (n ? this.lines.join('\n') + '\n' : '');
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.overwritten = 0;
  }

  private line(i: number): string {
    const comm = this.comm[i].length > 15 ? this.comm[i].slice(0, 15) : this.comm[i];
    const us = Math.floor(this.time[i] / 1000);
    const ts = `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
    const c = this.ctx[i];
    const hard = (c & (1 << 11)) !== 0;
    const soft = (c & (1 << 12)) !== 0;
    const depth = (c >>> 13) & 0xf;
    // irqs-off, need-resched, hardirq/softirq, preempt-depth, migrate-disable (trace_print_lat_fmt).
    const lat = `${c & (1 << 10) ? 'd' : '.'}.${hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.'}${depth ? depth.toString(16) : '.'}.`;
    for (let k = 0; k < NARGS; k++) this.scratch[k] = this.args[i * NARGS + k];
    const fields = formatFields(this.ev[i], this.scratch, this.s0[i], this.s1[i], (v) => this.ptr(v), this.ptrDigits === 16);
    return `${comm.padStart(16)}-${String(this.pid[i]).padEnd(7)} [${String(c & 0x3ff).padStart(3, '0')}] ${lat} ${ts.padStart(12)}: ${TRACE_EVENTS[this.ev[i]]}: ${fields}`;
  }

  /** Double the ring (up to maxLines), keeping the records in order. */
  private grow(): void {
    const cap = Math.max(1024, Math.min(this.maxLines, this.cap * 2));
    const order = Array.from({ length: this.count }, (_, k) => (this.head + k) % Math.max(1, this.cap));
    const ev = new Uint8Array(cap);
    const time = new Float64Array(cap);
    const pid = new Int32Array(cap);
    const ctx = new Int32Array(cap);
    const args = new Float64Array(cap * NARGS);
    const comm: string[] = new Array(cap);
    const s0: string[] = new Array(cap);
    const s1: string[] = new Array(cap);
    order.forEach((from, to) => {
      ev[to] = this.ev[from];
      time[to] = this.time[from];
      pid[to] = this.pid[from];
      ctx[to] = this.ctx[from];
      args.set(this.args.subarray(from * NARGS, from * NARGS + NARGS), to * NARGS);
      comm[to] = this.comm[from];
      s0[to] = this.s0[from];
      s1[to] = this.s1[from];
    });
    Object.assign(this, { ev, time, pid, ctx, args, comm, s0, s1, cap, head: 0 });
  }
}

/** A 32-bit avalanche mix (murmur3's finaliser): the model's stand-in for the kernel's siphash of %p. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}
