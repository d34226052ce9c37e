/**
 * `mmlab capture` against this machine's kernel: short real captures (a second, or `ls -R /usr/share`), the
 * files they leave, and that the tracefs instance is gone afterwards in every path (normal, a failing command,
 * a command that cannot start, SIGINT). The CLI runs as a child process (bin/mmlab.js, so `npm run build`
 * first) because each capture names its instance after its pid and the SIGINT case signals it.
 *
 * Real captures need root and tracefs: without them the tests skip with a warning, except under CI (CI set),
 * where they fail, as test/helpers/jc.ts does for missing tools.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CAPTURE_PROC_FILES, DEFAULT_CAPTURE_EVENTS, findTracefs } from '../src/trace/capture.js';
import { mmlab as inProcess } from './helpers/cli.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'mmlab.js');
const work = mkdtempSync(join(tmpdir(), 'mmlab-capture-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
  err: string;
  pid: number;
}

/** Run bin/mmlab.js; `during` gets the child's pid while it runs (to signal it). */
function mmlab(args: string[], env: Record<string, string> = {}, during?: (pid: number) => Promise<void>, prefix: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = prefix.length > 0 ? prefix : [process.execPath];
    const child = spawn(cmd, [...pre, ...(prefix.length > 0 ? [process.execPath] : []), BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err, pid: child.pid! }));
    if (during) during(child.pid!).catch(reject);
  });
}

const isRoot = process.geteuid?.() === 0;
const tracefs = findTracefs(process.env.MMLAB_TRACEFS).root;
const why = !isRoot ? `not root (uid ${process.geteuid?.()})` : !tracefs ? 'tracefs is not mounted' : '';
const canCapture = why === '';
if (!canCapture && !process.env.CI) console.warn(`[capture.test] skipping the real captures: ${why}`);
const real = canCapture || process.env.CI ? it : it.skip;

function need(): string {
  if (!canCapture) throw new Error(`real captures are required when CI is set: ${why}`);
  return tracefs!;
}

/** The instance a capture by `pid` makes; it must be gone once the process has exited. */
function instanceOf(pid: number): string {
  return join(need(), 'instances', `mmlab-${pid}`);
}

function doc(dir: string): Record<string, any> {
  return JSON.parse(readFileSync(join(dir, 'capture.json'), 'utf8'));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('mmlab capture', () => {
  it('bad options are usage errors naming the option', async () => {
    const a = await mmlab(['capture', '--seconds', 'abc']);
    expect(a.code).toBe(2);
    expect(a.err).toBe("mmlab: --seconds: expected a positive number, got 'abc'\n");
    const b = await mmlab(['capture', '--events', 'kmem']);
    expect(b.code).toBe(2);
    expect(b.err).toBe("mmlab: --events: expected subsystem:event or subsystem:*, got 'kmem'\n");
    const c = await mmlab(['capture', '--buffer-kb', '100000']);
    expect(c.code).toBe(2);
    expect(c.err).toContain('--buffer-kb: expected at most 65536');
    const d = await mmlab(['capture', '--seconds', '1', '--', 'true']);
    expect(d.code).toBe(2);
    expect(d.err).toContain('--seconds: not with a command');
  });

  it('not root: a clear message and exit status 2', async () => {
    // As root, drop to nobody; otherwise we already are not root.
    const prefix = isRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    const r = await mmlab(['capture', '--seconds', '1', '--out', join(work, 'nobody')], {}, undefined, prefix);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mmlab capture: needs root to use tracefs \(running as uid \d+\)\n$/);
    expect(existsSync(join(work, 'nobody'))).toBe(false);
  });

  real('no tracefs: a clear message and exit status 2', async () => {
    need();
    const r = await mmlab(['capture', '--seconds', '1', '--out', join(work, 'none')], { MMLAB_TRACEFS: '/nonexistent' });
    expect(r.code).toBe(2);
    expect(r.err).toBe('mmlab capture: tracefs is not mounted at /nonexistent (mount -t tracefs nodev /sys/kernel/tracing)\n');
  });

  real('an event the kernel does not have is a usage error, and nothing is created', async () => {
    need();
    const dir = join(work, 'nope');
    const r = await mmlab(['capture', '--events', 'kmem:mm_page_alloc,kmem:no_such_event', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mmlab: --events: this kernel has no event 'kmem:no_such_event'/);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(instanceOf(r.pid))).toBe(false);
  });

  real('--seconds 1 writes the trace, formats, /proc snapshots, kernel and capture.json, and removes its instance', async () => {
    const root = need();
    const dir = join(work, 'second');
    const r = await mmlab(['capture', '--seconds', '1', '--buffer-kb', '1024', '--out', dir]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mmlab capture: \d+ events on \S+ for 1\.\d\d s\n/);
    expect(r.out).toContain(`wrote ${dir}/`);
    expect(existsSync(instanceOf(r.pid))).toBe(false);
    const d = doc(dir);
    // Every default event this kernel has is enabled and has its format file.
    expect(d.events.length + d.skippedEvents.length).toBe(DEFAULT_CAPTURE_EVENTS.length);
    for (const ev of d.events as string[]) {
      const [sub, name] = ev.split(':');
      expect(existsSync(join(root, 'events', sub, name))).toBe(true);
      expect(readFileSync(join(dir, 'formats', sub, name, 'format'), 'utf8')).toMatch(/^name: \w+\nID: \d+\n[\s\S]*\nprint fmt: /);
    }
    expect(d.kernel).toBe(readFileSync(join(dir, 'kernel'), 'utf8').trim());
    expect(d.instance).toBe(`mmlab-${r.pid}`);
    expect(d.bufferKbPerCpu).toBe(1024);
    expect(d.seconds).toBe(1);
    expect(d.durationSeconds).toBeGreaterThanOrEqual(1);
    expect(d.durationSeconds).toBeLessThan(3);
    expect(d.command).toBeNull();
    expect(d.interrupted).toBeNull();
    expect(d.error).toBeNull();
    for (const phase of ['start', 'end']) {
      for (const name of CAPTURE_PROC_FILES) expect(readFileSync(join(dir, 'proc', phase, name), 'utf8').length).toBeGreaterThan(0);
    }
    expect(readFileSync(join(dir, 'proc', 'end', 'buddyinfo'), 'utf8')).toMatch(/^Node 0, zone\s+\w+/);
    const text = gunzipSync(readFileSync(join(dir, 'trace.txt.gz'))).toString();
    expect(text.length).toBe(d.trace.bytes);
    expect(text.split('\n').length - 1).toBe(d.trace.lines);
    // Every event read is in the file: the kernel's count of events read equals the lines written, less the
    // `CPU:N [LOST M EVENTS]` lines trace_pipe adds where the ring overran (the reader fell behind under load).
    const lostLines = text.split('\n').filter((l) => /^CPU:\d+ \[LOST \d+ EVENTS\]$/.test(l)).length;
    expect(d.perCpu.reduce((a: number, c: { read: number }) => a + c.read, 0)).toBe(d.trace.lines - lostLines);
  });

  real('-- CMD: the trace covers the command, its exit status is reported, and mmlab exits 0', async () => {
    need();
    const dir = join(work, 'ls');
    const r = await mmlab(['capture', '--out', dir, '--', 'sh', '-c', 'ls -R /usr/share > /dev/null; exit 3']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('while `sh -c ls -R /usr/share > /dev/null; exit 3` ran (exited with status 3)');
    expect(existsSync(instanceOf(r.pid))).toBe(false);
    const d = doc(dir);
    expect(d.command).toEqual(['sh', '-c', 'ls -R /usr/share > /dev/null; exit 3']);
    expect(d.commandExit).toEqual({ code: 3, signal: null });
    expect(d.seconds).toBeNull();
    const lines = gunzipSync(readFileSync(join(dir, 'trace.txt.gz'))).toString().split('\n');
    const allocs = lines.filter((l) => l.includes(' mm_page_alloc: '));
    expect(allocs.length).toBeGreaterThan(100);
    expect(allocs[0]).toMatch(/^\s*\S.*-\d+\s+\[\d{3}\] \S+\s+\d+\.\d{6}: mm_page_alloc: page=\w+ pfn=0x[0-9a-f]+ order=\d+ migratetype=\d+ gfp_flags=\S+$/);
    expect(lines.some((l) => l.includes(' kmem_cache_alloc: '))).toBe(true);
  });

  real('subsystem:* takes every event of the subsystem', async () => {
    const root = need();
    const dir = join(work, 'star');
    const r = await mmlab(['capture', '--seconds', '0.2', '--events', 'vmalloc:*', '--out', dir]);
    expect(r.code).toBe(0);
    const want = readdirSync(join(root, 'events', 'vmalloc')).filter((e) => existsSync(join(root, 'events', 'vmalloc', e, 'format'))).sort();
    expect(doc(dir).events).toEqual(want.map((e) => `vmalloc:${e}`));
    expect(readdirSync(join(dir, 'formats', 'vmalloc')).sort()).toEqual(want);
    expect(existsSync(instanceOf(r.pid))).toBe(false);
  });

  real('a command that cannot start: exit status 1, the instance is removed', async () => {
    need();
    const dir = join(work, 'nocmd');
    const r = await mmlab(['capture', '--out', dir, '--', '/nonexistent/command']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('mmlab capture: could not start /nonexistent/command: ENOENT');
    expect(existsSync(instanceOf(r.pid))).toBe(false);
    expect(doc(dir).commandExit.error).toContain('ENOENT');
  });

  real('SIGINT during a capture: the capture so far is written, the instance removed, exit status 130', async () => {
    need();
    const dir = join(work, 'sigint');
    let seen = false;
    const r = await mmlab(['capture', '--seconds', '30', '--out', dir], {}, async (pid) => {
      // Wait until the capture is on (tracing_on set), then interrupt it.
      for (let i = 0; i < 200; i++) {
        const on = join(instanceOf(pid), 'tracing_on');
        if (existsSync(on) && readFileSync(on, 'utf8').trim() === '1') {
          seen = true;
          break;
        }
        await sleep(25);
      }
      await sleep(300);
      process.kill(pid, 'SIGINT');
    });
    expect(seen).toBe(true);
    expect(r.code).toBe(130);
    expect(r.out).toContain('interrupted by SIGINT');
    expect(existsSync(instanceOf(r.pid))).toBe(false);
    const d = doc(dir);
    expect(d.interrupted).toBe('SIGINT');
    expect(d.durationSeconds).toBeLessThan(10);
    expect(existsSync(join(dir, 'proc', 'end', 'meminfo'))).toBe(true);
    expect(gunzipSync(readFileSync(join(dir, 'trace.txt.gz'))).toString().split('\n').length - 1).toBe(d.trace.lines);
  });

  real('SIGINT to the capture also ends the command it runs', async () => {
    need();
    const dir = join(work, 'sigint-cmd');
    const r = await mmlab(['capture', '--out', dir, '--', 'sleep', '30'], {}, async (pid) => {
      for (let i = 0; i < 200 && !existsSync(instanceOf(pid)); i++) await sleep(25);
      await sleep(500);
      process.kill(pid, 'SIGINT');
    });
    expect(r.code).toBe(130);
    expect(existsSync(instanceOf(r.pid))).toBe(false);
    expect(doc(dir).commandExit).toEqual({ code: null, signal: 'SIGINT' });
  });

  real('a capture of 200,000 events and more replays under every --layer, deterministically, reporting unmatched frees', async () => {
    need();
    const dir = join(work, 'big');
    const r = await mmlab(['capture', '--out', dir, '--buffer-kb', '16384', '--', 'sh', '-c', 'ls -R /usr > /dev/null; ls -R /usr > /dev/null']);
    expect(r.code).toBe(0);
    const lines = gunzipSync(readFileSync(join(dir, 'trace.txt.gz'))).toString().split('\n');
    const events = lines.filter((l) => / (mm_page_|kmalloc|kfree|kmem_cache_)/.test(l));
    expect(events.length).toBeGreaterThanOrEqual(200_000);
    // The first 200,000 event lines (a real trace, cut where a replay of all of it would make the test slow).
    const cut = join(work, 'big.txt');
    writeFileSync(cut, events.slice(0, 200_000).join('\n') + '\n');
    const unmatched: Record<string, number> = {};
    for (const layer of ['pages', 'slab', 'all']) {
      const a = await inProcess('replay', cut, '--layer', layer, '--json');
      expect(a.code, a.err).toBe(0);
      const b = await inProcess('replay', cut, '--layer', layer, '--json');
      expect(b.out).toBe(a.out);
      const res = JSON.parse(a.out).runs[0].result;
      unmatched[layer] = res.unmatchedFrees;
      expect(JSON.parse(a.out).trace.parse.records).toBe(200_000);
    }
    // Frees of what was allocated before the capture: a live system always has some (one layer alone may
    // not, in a short capture), and `all` counts exactly the page layer's and the slab layer's.
    expect(unmatched.all).toBeGreaterThan(0);
    expect(unmatched.all).toBe(unmatched.pages + unmatched.slab);
  }, 120_000);
});

// setpriv is util-linux; the not-root case needs it only when the tests run as root.
if (isRoot && spawnSync('setpriv', ['--version']).error) console.warn('[capture.test] setpriv is missing: the not-root test will fail');
