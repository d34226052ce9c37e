/**
 * The kernel log (kernel/printk/printk.c) and the reports the model makes where the kernel would warn or BUG.
 * Lines carry the model clock as dmesg prints it (`[%5lu.%06lu] `). A report is a group of lines; in strict
 * mode a report of misuse throws a KernelReport after it is logged, so tests stop at the first misuse. The
 * model's state is left as it was before the rejected call in either mode.
 */
import type { Clock } from './clock.js';

export class KernelReport extends Error {
  readonly lines: string[];
  constructor(lines: string[]) {
    super(lines.join('\n'));
    this.name = 'KernelReport';
    this.lines = lines;
  }
}

export class Printk {
  readonly lines: string[] = [];
  /** Reports logged so far, by their first line's kind (e.g. 'Bad page state'). */
  readonly reportCounts = new Map<string, number>();
  /** Keep this many lines (the ring buffer, up to an eighth more between trims); older ones are dropped. */
  maxLines = 100_000;
  private readonly clock: Clock;
  strict: boolean;

  constructor(clock: Clock, strict: boolean) {
    this.clock = clock;
    this.strict = strict;
  }

  printk(text: string): void {
    const [s, us] = this.clock.secsUsecs();
    const stamp = `[${String(s).padStart(5)}.${String(us).padStart(6, '0')}] `;
    for (const line of text.split('\n')) this.lines.push(stamp + line);
    // The oldest lines go in chunks (splicing one line at a time off a full log would cost O(maxLines) per line).
    if (this.lines.length > this.maxLines + (this.maxLines >> 3)) this.lines.splice(0, this.lines.length - this.maxLines);
  }

  /** A warning (WARN, allocation failure): logged, never thrown. */
  warn(kind: string, lines: string[]): void {
    this.count(kind);
    this.printk(lines.join('\n'));
  }

  /** A report of misuse (BUG, bad page state): logged, and thrown in strict mode. */
  bug(kind: string, lines: string[]): void {
    this.count(kind);
    this.printk(lines.join('\n'));
    if (this.strict) throw new KernelReport(lines);
  }

  reports(kind: string): number {
    return this.reportCounts.get(kind) ?? 0;
  }

  text(): string {
    return this.lines.length ? this.lines.join('\n') + '\n' : '';
  }

  private count(kind: string): void {
    this.reportCounts.set(kind, (this.reportCounts.get(kind) ?? 0) + 1);
  }
}
