/**
 * The trace ring buffer and the line envelope of ftrace's `trace` file (kernel/trace/trace_output.c
 * trace_print_context, trace_print_lat_fmt): `%16s-%-7d [%03d] %5s %12.6f: event: fields`.
 *
 * Events are enabled one by one, as in tracefs (events/kmem/<event>/enable); a disabled event costs one
 * property test on the hot path. `%p` is printed hashed, as the kernel does since 4.15: stable for the
 * boot (keyed by the machine's seed), so an allocation and its free print the same value, but not the
 * address. Only this low-level part lives here; the parser and replay in trace/ sit above the machine.
 */
import type { Clock } from '../mm/clock.js';
import type { Sched } from '../mm/sched.js';

/** Events the model emits, by tracefs name. */
export const TRACE_EVENTS = [
  'mm_page_alloc',
  'mm_page_free',
  'mm_page_free_batched',
  'mm_page_alloc_zone_locked',
  'mm_page_pcpu_drain',
  'mm_page_alloc_extfrag',
  'kmalloc',
  'kfree',
  'kmem_cache_alloc',
  'kmem_cache_free',
] as const;
export type TraceEvent = (typeof TRACE_EVENTS)[number];

export class TraceBuffer {
  /** Per-event enable switches. */
  readonly on: Record<TraceEvent, boolean>;
  readonly lines: string[] = [];
  /** The ring's size in lines (buffer_size_kb, in lines); the oldest lines are overwritten. */
  maxLines = 1_000_000;
  /** Lines dropped because the ring was full (the header's entries-written minus entries-in-buffer). */
  overwritten = 0;
  private readonly clock: Clock;
  private readonly sched: Sched;
  private readonly hashKey: number;
  private readonly ptrDigits: number;

  constructor(clock: Clock, sched: Sched, seed: number, bitsPerLong: 32 | 64) {
    this.clock = clock;
    this.sched = sched;
    this.hashKey = mix32(seed ^ 0x6d6d6c62);
    this.ptrDigits = bitsPerLong / 4;
    this.on = Object.fromEntries(TRACE_EVENTS.map((e) => [e, false])) as Record<TraceEvent, boolean>;
  }

  enable(events: readonly string[] | 'all', on = true): void {
    const list = events === 'all' ? TRACE_EVENTS : events;
    for (const e of list) {
      if (!(e in this.on)) throw new Error(`trace: unknown event '${e}' (expected one of ${TRACE_EVENTS.join(', ')})`);
      this.on[e as TraceEvent] = on;
    }
  }

  /** Append one event line with the current task, CPU, context flags and model time. */
  emit(event: string, fields: string): void {
    const t = this.sched.current;
    const comm = t.comm.length > 15 ? t.comm.slice(0, 15) : t.comm;
    const [s, us] = this.clock.secsUsecs();
    const ts = `${s}.${String(us).padStart(6, '0')}`;
    const line = `${comm.padStart(16)}-${String(t.pid).padEnd(7)} [${String(t.cpu).padStart(3, '0')}] ${this.latFlags()} ${ts.padStart(12)}: ${event}: ${fields}`;
    // Drop the oldest quarter at once when full: the ring's effect at amortised O(1) per line.
    if (this.lines.length >= this.maxLines) {
      const drop = Math.max(1, this.maxLines >> 2);
      this.lines.splice(0, drop);
      this.overwritten += drop;
    }
    this.lines.push(line);
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
    const n = this.lines.length;
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
    this.lines.length = 0;
    this.overwritten = 0;
  }

  /** irqs-off, need-resched, hardirq/softirq, preempt-depth, migrate-disable (trace_print_lat_fmt). */
  private latFlags(): string {
    const s = this.sched;
    const irq = s.irqsDisabled ? 'd' : '.';
    const hard = s.inHardirq();
    const soft = s.inServingSoftirq();
    const hs = hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
    const depth = s.preemptCount & 0xff;
    return `${irq}.${hs}${depth ? Math.min(depth, 15).toString(16) : '.'}.`;
  }
}

/** A 32-bit avalanche mix (murmur3's finaliser): the model's stand-in for the kernel's siphash of %p. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}
