/**
 * `mmlab capture`: records the running kernel's allocator tracepoints (kmem, vmalloc) into a directory that a
 * replay can read: trace.txt.gz (the text of trace_pipe), each enabled event's `format` file, /proc snapshots
 * (buddyinfo, pagetypeinfo, zoneinfo, slabinfo, meminfo, vmstat) from before and after, `kernel`, and
 * capture.json (events, times, the command and its exit, lines and bytes, lost events per CPU).
 *
 * It works in its own tracefs instance (instances/mmlab-<pid>) so that it neither reads nor disturbs the
 * top-level buffer or another tracer, and it removes the instance on every exit it can see (normal, error,
 * SIGINT, SIGTERM, process exit). Where it departs from `trace-cmd record` / `perf record`: it reads the
 * kernel's formatted text from trace_pipe (merged across CPUs) instead of the binary per-CPU trace_pipe_raw,
 * so the kernel spends more time per event and the file is larger before gzip, but the file is exactly what
 * `cat trace_pipe` shows and needs no trace.dat decoder; it traces the whole system, not only the command
 * (like trace-cmd record without -F); and it keeps the /proc snapshots, which neither tool takes.
 *
 * trace_pipe is opened O_NONBLOCK and polled from this process rather than read by a blocking reader: a
 * blocking read is not woken when tracing is turned off, so it would have to be killed (losing what it had
 * read but not written), and a reader left behind by a crash keeps the instance busy forever. With a
 * non-blocking fd, "drained" is simply EAGAIN after tracing is off, and the kernel closes the fd if we die.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { read } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';

/** The events captured by default: the tracepoints the model emits (src/trace/events.ts) that a kernel has. */
export const DEFAULT_CAPTURE_EVENTS = [
  'kmem:mm_page_alloc',
  'kmem:mm_page_free',
  'kmem:mm_page_free_batched',
  'kmem:mm_page_alloc_zone_locked',
  'kmem:mm_page_pcpu_drain',
  'kmem:mm_page_alloc_extfrag',
  'kmem:kmalloc',
  'kmem:kfree',
  'kmem:kmem_cache_alloc',
  'kmem:kmem_cache_free',
  'vmalloc:alloc_vmap_area',
  'vmalloc:free_vmap_area_noflush',
  'vmalloc:purge_vmap_area_lazy',
];

/** The /proc files snapshotted at the start and at the end. */
export const CAPTURE_PROC_FILES = ['buddyinfo', 'pagetypeinfo', 'zoneinfo', 'slabinfo', 'meminfo', 'vmstat'];

export const DEFAULT_BUFFER_KB = 4096;
export const MAX_BUFFER_KB = 65536;
export const DEFAULT_SECONDS = 5;

const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
/** How long to sleep when trace_pipe is empty: short against a 4 MB per-CPU buffer filling. */
const POLL_MS = 10;
/** trace_pipe hands out at most a page of text per read; a larger buffer lets one read take what it can. */
const READ_BYTES = 1 << 16;

/** A bad option (exit status 2, as the CLI's other usage errors). */
export class CaptureUsageError extends Error {}

export interface CaptureOptions {
  /** How long to capture when there is no command. */
  seconds?: number;
  /** `subsystem:event` or `subsystem:*`; the default list when absent. */
  events?: string[];
  /** Output directory (created; must not exist or be empty). */
  out: string;
  /** Per-CPU ring buffer size of the instance, in KB. */
  bufferKb?: number;
  /** A command to run while capturing; the capture ends when it exits. */
  command?: string[];
  /** The tracefs mount to use instead of looking at the usual two (MMLAB_TRACEFS). */
  tracefs?: string;
}

export interface CpuStats {
  cpu: number;
  entries: number;
  overrun: number;
  commitOverrun: number;
  dropped: number;
  read: number;
}

/** `subsystem:event` / `subsystem:*` items of a comma list, checked for form only (the kernel decides the rest). */
export function parseEventList(text: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new CaptureUsageError(`--events: expected a comma list of subsystem:event, got '${text}'`);
  for (const item of items) {
    if (!/^[A-Za-z0-9_]+:(\*|[A-Za-z0-9_]+)$/.test(item)) throw new CaptureUsageError(`--events: expected subsystem:event or subsystem:*, got '${item}'`);
  }
  return [...new Set(items)];
}

/** The first tracefs mount that has an instances directory, or a message saying where none was found. */
export function findTracefs(override?: string): { root?: string; why?: string } {
  const paths = override !== undefined ? [override] : TRACEFS_PATHS;
  for (const p of paths) if (existsSync(join(p, 'instances'))) return { root: p };
  return { why: `tracefs is not mounted at ${paths.join(' or ')} (mount -t tracefs nodev /sys/kernel/tracing)` };
}

/** per_cpu/cpuN/stats of a tracefs instance. */
export function readCpuStats(instance: string): CpuStats[] {
  const dir = join(instance, 'per_cpu');
  const cpus = readdirSync(dir).filter((d) => /^cpu\d+$/.test(d)).map((d) => Number(d.slice(3))).sort((a, b) => a - b);
  return cpus.map((cpu) => {
    const text = readFileSync(join(dir, `cpu${cpu}`, 'stats'), 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { cpu, entries: field('entries'), overrun: field('overrun'), commitOverrun: field('commit overrun'), dropped: field('dropped events'), read: field('read events') };
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sleep synchronously (only in the process 'exit' handler, where nothing asynchronous runs any more). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Expand the requested events against the kernel's events/ directory into [subsystem, event] pairs. */
function resolveEvents(root: string, requested: string[] | undefined, warn: (s: string) => void): { events: Array<[string, string]>; skipped: string[] } {
  const eventsDir = join(root, 'events');
  const has = (sub: string, ev: string): boolean => existsSync(join(eventsDir, sub, ev, 'enable'));
  const events: Array<[string, string]> = [];
  const skipped: string[] = [];
  for (const item of requested ?? DEFAULT_CAPTURE_EVENTS) {
    const [sub, ev] = item.split(':');
    if (ev === '*') {
      if (!existsSync(join(eventsDir, sub, 'enable'))) throw new CaptureUsageError(`--events: this kernel has no event subsystem '${sub}' (see ${eventsDir})`);
      for (const e of readdirSync(join(eventsDir, sub)).sort()) if (has(sub, e)) events.push([sub, e]);
    } else if (has(sub, ev)) {
      events.push([sub, ev]);
    } else if (requested) {
      throw new CaptureUsageError(`--events: this kernel has no event '${item}' (see ${join(root, 'available_events')})`);
    } else {
      // The defaults name events some kernels lack (renamed or added since); capture what there is.
      warn(`mmlab capture: warning: this kernel has no event ${item}; skipping it`);
      skipped.push(item);
    }
  }
  const unique = new Map(events.map(([s, e]) => [`${s}:${e}`, [s, e] as [string, string]]));
  return { events: [...unique.values()], skipped };
}

function snapshotProc(dir: string, missing: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const name of CAPTURE_PROC_FILES) {
    try {
      writeFileSync(join(dir, name), readFileSync(join('/proc', name)));
    } catch (e) {
      // slabinfo and pagetypeinfo are root-only or absent on some configs; the replay can do without them.
      missing.push(`${join(dir, name)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
}

function defaultOutDir(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `capture-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}
export { defaultOutDir as defaultCaptureDir };

/**
 * Run a capture. Messages go to `err`, the summary to `out`. Returns the exit status: 0 when the capture was
 * written (whatever the command exited with, which the summary and capture.json give), 2 when it cannot
 * start (not root, no tracefs), 1 when tracefs fails during the capture, 128+signal when interrupted (the
 * capture up to then is still written). Throws CaptureUsageError for an event the kernel does not have or an
 * output directory that is in use.
 */
export async function capture(opts: CaptureOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const warn = (s: string): void => void err.write(s + '\n');
  const uid = process.geteuid?.() ?? 0;
  if (uid !== 0) {
    warn(`mmlab capture: needs root to use tracefs (running as uid ${uid})`);
    return 2;
  }
  const found = findTracefs(opts.tracefs);
  if (!found.root) {
    warn(`mmlab capture: ${found.why}`);
    return 2;
  }
  const root = found.root;
  const { events, skipped } = resolveEvents(root, opts.events, warn);
  if (events.length === 0) {
    warn('mmlab capture: none of the events exists in this kernel; nothing to capture');
    return 2;
  }
  const dir = opts.out;
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) throw new CaptureUsageError(`--out: '${dir}' exists and is not an empty directory`);
  mkdirSync(dir, { recursive: true });
  const bufferKb = opts.bufferKb ?? DEFAULT_BUFFER_KB;
  const seconds = opts.command ? undefined : (opts.seconds ?? DEFAULT_SECONDS);

  const session = new Session(root, `mmlab-${process.pid}`);
  const missing: string[] = [];
  let status = 0;
  let failure: string | undefined;
  let stats: CpuStats[] = [];
  let commandExit: { code: number | null; signal: string | null; error?: string } | undefined;
  let start = new Date();
  let end = start;
  try {
    snapshotProc(join(dir, 'proc', 'start'), missing);
    session.install();
    session.create();
    session.write('buffer_size_kb', `${bufferKb}\n`);
    for (const [sub, ev] of events) {
      session.write(join('events', sub, ev, 'enable'), '1\n');
      const fdir = join(dir, 'formats', sub, ev);
      mkdirSync(fdir, { recursive: true });
      // Not copyFileSync: tracefs files report size 0, and a size-driven copy writes an empty file.
      writeFileSync(join(fdir, 'format'), readFileSync(join(session.path, 'events', sub, ev, 'format')));
    }
    session.startReader(join(dir, 'trace.txt.gz'));
    session.write('tracing_on', '1\n');
    start = new Date();
    if (!session.interrupted) {
      if (opts.command) {
        commandExit = await session.runCommand(opts.command);
        // A command that never ran makes the capture a record of nothing in particular: say so in the status.
        if (commandExit.error?.startsWith('could not start')) failure = commandExit.error;
      }
      else {
        // setTimeout may fire a millisecond early against the wall clock: sleep again for what is left.
        const until = start.getTime() + seconds! * 1000;
        while (!session.interrupted && Date.now() < until) await session.sleep(until - Date.now());
      }
    }
    session.write('tracing_on', '0\n');
    end = new Date();
    await session.stopReader();
    stats = readCpuStats(session.path);
    snapshotProc(join(dir, 'proc', 'end'), missing);
  } catch (e) {
    failure ??= (e as Error).message;
  }
  const removed = await session.remove();
  if (removed) failure ??= removed;
  const interrupted = session.interrupted;
  session.uninstall();

  writeFileSync(join(dir, 'kernel'), release() + '\n');
  const lost = { overrun: sum(stats, 'overrun'), commitOverrun: sum(stats, 'commitOverrun'), dropped: sum(stats, 'dropped') };
  const doc = {
    kernel: release(),
    tracefs: root,
    instance: session.name,
    events: events.map(([s, e]) => `${s}:${e}`),
    skippedEvents: skipped,
    bufferKbPerCpu: bufferKb,
    start: start.toISOString(),
    end: end.toISOString(),
    durationSeconds: (end.getTime() - start.getTime()) / 1000,
    seconds: seconds ?? null,
    command: opts.command ?? null,
    commandExit: commandExit ?? null,
    interrupted: interrupted ?? null,
    trace: { file: 'trace.txt.gz', source: 'trace_pipe', lines: session.lines, bytes: session.bytes },
    lost,
    perCpu: stats,
    missingProcFiles: missing,
    error: failure ?? null,
  };
  writeFileSync(join(dir, 'capture.json'), JSON.stringify(doc, null, 2) + '\n');

  for (const m of missing) warn(`mmlab capture: warning: could not read ${m}`);
  if (failure) {
    warn(`mmlab capture: ${failure}`);
    status = 1;
  }
  const what = opts.command
    ? `while \`${opts.command.join(' ')}\` ran (${describeExit(commandExit)})`
    : `for ${doc.durationSeconds.toFixed(2)} s`;
  out.write(`mmlab capture: ${events.length} events on ${release()} ${what}${interrupted ? `, interrupted by ${interrupted}` : ''}\n`);
  out.write(`  trace.txt.gz: ${session.lines} lines, ${session.bytes} bytes of text, streamed from trace_pipe\n`);
  out.write(`  lost: ${lost.overrun} overrun, ${lost.dropped} dropped, ${lost.commitOverrun} commit overrun (buffer ${bufferKb} KB per CPU${lost.overrun + lost.dropped > 0 ? `; a larger --buffer-kb, up to ${MAX_BUFFER_KB}, loses fewer` : ''})\n`);
  out.write(`wrote ${dir}/\n`);
  if (interrupted) return 128 + (interrupted === 'SIGINT' ? 2 : 15);
  return status;
}

function sum(stats: CpuStats[], k: 'overrun' | 'commitOverrun' | 'dropped'): number {
  return stats.reduce((a, s) => a + s[k], 0);
}

function describeExit(x: { code: number | null; signal: string | null; error?: string } | undefined): string {
  if (!x) return 'not started';
  if (x.error) return x.error;
  if (x.signal) return `killed by ${x.signal}`;
  return `exited with status ${x.code}`;
}

/**
 * One tracefs instance and what runs against it: the trace_pipe poller, the command, the signal handlers.
 * Every step is undone by remove(), whatever state it is in, and by a synchronous fallback on process exit.
 */
class Session {
  readonly path: string;
  interrupted: 'SIGINT' | 'SIGTERM' | undefined;
  lines = 0;
  bytes = 0;
  private created = false;
  private removedOk = false;
  private fd: number | undefined;
  private readerDone: Promise<void> | undefined;
  private stopping = false;
  private child: ChildProcess | undefined;
  private wake: (() => void) | undefined;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    // The first signal ends the capture; later ones are ignored so the instance is still removed.
    if (this.interrupted) return;
    this.interrupted = sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
    this.wake?.();
  };
  private readonly onExit = (): void => this.removeSync();

  constructor(readonly root: string, readonly name: string) {
    this.path = join(root, 'instances', name);
  }

  install(): void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    process.on('exit', this.onExit);
  }

  uninstall(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
  }

  create(): void {
    try {
      mkdirSync(this.path);
    } catch (e) {
      throw new Error(`cannot create the tracefs instance ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    this.created = true;
  }

  write(file: string, text: string): void {
    try {
      writeFileSync(join(this.path, file), text);
    } catch (e) {
      throw new Error(`cannot write '${text.trim()}' to ${join(this.path, file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** Poll trace_pipe into `file` through gzip until stopReader() and the pipe is empty. */
  startReader(file: string): void {
    this.fd = openSync(join(this.path, 'trace_pipe'), constants.O_RDONLY | constants.O_NONBLOCK);
    const gz = createGzip({ level: 3 });
    const sink = createWriteStream(file);
    const finished = new Promise<void>((resolve, reject) => {
      sink.on('finish', resolve);
      sink.on('error', reject);
      gz.on('error', reject);
    });
    gz.pipe(sink);
    const fd = this.fd;
    const buf = Buffer.alloc(READ_BYTES);
    const readOnce = (): Promise<number> => new Promise((resolve, reject) => {
      read(fd, buf, 0, buf.length, null, (e, n) => {
        if (e && (e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK')) resolve(-1);
        else if (e) reject(e);
        else resolve(n);
      });
    });
    const loop = async (): Promise<void> => {
      try {
        for (;;) {
          const n = await readOnce();
          if (n > 0) {
            // Copy: buf is reused by the next read while gzip still holds this chunk.
            const chunk = Buffer.from(buf.subarray(0, n));
            this.bytes += n;
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.lines++;
            if (!gz.write(chunk)) await new Promise((r) => gz.once('drain', r));
            continue;
          }
          // Empty. Once tracing is off, empty means drained: nothing more can arrive.
          if (this.stopping) break;
          await sleep(POLL_MS);
        }
      } finally {
        closeSync(fd);
        this.fd = undefined;
        gz.end();
        await finished;
      }
    };
    this.readerDone = loop();
    // Surface a reader failure at stopReader(), not as an unhandled rejection.
    this.readerDone.catch(() => {});
  }

  /** Call after tracing_on=0: read what is left, close trace_pipe and finish the file. */
  async stopReader(): Promise<void> {
    this.stopping = true;
    await this.readerDone;
  }

  async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  runCommand(cmd: string[]): Promise<{ code: number | null; signal: string | null; error?: string }> {
    return new Promise((resolve) => {
      const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit' });
      this.child = child;
      child.on('error', (e: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error: `could not start ${cmd[0]}: ${e.code ?? e.message}` }));
      child.on('exit', (code, signal) => resolve({ code, signal }));
      // Interrupted: the command got the signal too; if it ignores it, stop waiting (remove() kills it).
      this.wake = () => void sleep(2000).then(() => resolve({ code: null, signal: null, error: 'still running when the capture was interrupted' }));
    });
  }

  /** Undo everything; a message when the instance could not be removed. */
  async remove(): Promise<string | undefined> {
    this.stopping = true;
    // A signal during setup can leave a command's child running: give it a moment, then kill it.
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      if (await Promise.race([gone.then(() => true), sleep(2000).then(() => false)]) === false) child.kill('SIGKILL');
    }
    // Tracing off first: the reader stops at the first empty read, which never comes while events flow.
    if (this.created) this.quiet();
    await this.readerDone?.catch(() => {});
    if (!this.created) return undefined;
    let last = '';
    for (let i = 0; i < 10; i++) {
      try {
        rmdirSync(this.path);
        this.removedOk = true;
        return undefined;
      } catch (e) {
        // EBUSY while a trace_pipe reader is still open; ours is closed, so only briefly.
        last = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        if (!existsSync(this.path)) {
          this.removedOk = true;
          return undefined;
        }
        await sleep(100);
      }
    }
    return `could not remove the tracefs instance ${this.path} (${last}); remove it with: rmdir ${this.path}`;
  }

  /** Tracing off and events disabled, ignoring errors (the instance may be half made). */
  private quiet(): void {
    for (const [f, v] of [['tracing_on', '0'], ['events/enable', '0']]) {
      try {
        writeFileSync(join(this.path, f), v + '\n');
      } catch {
        // Best effort: rmdir tears the instance down anyway.
      }
    }
  }

  /** The last resort on process exit (an uncaught error between install and remove). */
  private removeSync(): void {
    if (!this.created || this.removedOk) return;
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed.
      }
    }
    this.quiet();
    for (let i = 0; i < 10; i++) {
      try {
        rmdirSync(this.path);
        return;
      } catch {
        sleepSync(50);
      }
    }
  }
}
