/**
 * Runs the standard tools that read /proc files on the model's renderings: `jc --proc-*` (kellyjonbrazil/jc,
 * the Debian package is 1.22.5) and procps `free` (which only reads /proc/meminfo, so a private mount namespace
 * bind-mounts the model's meminfo over it; this needs root).
 *
 * A missing tool fails the test under CI (CI is set) and otherwise skips it with a warning, so that a
 * developer without the tools can still run the suite while CI cannot pass by silently skipping.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tool {
  /** The tool works here. */
  ok: boolean;
  /** Why not, when it does not. */
  why: string;
}

function probe(cmd: string, args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, out: '', err: String(r.error.message) };
  return { ok: r.status === 0, out: r.stdout, err: r.stderr };
}

/** jc answers on a tiny buddyinfo. */
export function probeJc(): Tool {
  const r = probe('jc', ['--proc-buddyinfo'], 'Node 0, zone      DMA      1      0      0      0      0      0      0      0      0      0      0 \n');
  return r.ok ? { ok: true, why: '' } : { ok: false, why: `jc --proc-buddyinfo did not run (${r.err.trim() || 'exit status non-zero'}); install it with: apt-get install -y jc` };
}

/** free exists and we may bind-mount over /proc/meminfo in a private mount namespace. */
export function probeFree(): Tool {
  const r = probe('unshare', ['-m', 'sh', '-c', 'mount --bind /proc/meminfo /proc/meminfo && free -k']);
  return r.ok ? { ok: true, why: '' } : {
    ok: false,
    why: `unshare -m + mount --bind + free -k did not run (${r.err.trim() || 'exit status non-zero'}); needs root, util-linux and procps (apt-get install -y procps)`,
  };
}

/**
 * Decide at collection time whether tests needing `tool` run: under CI they always run (and fail through
 * `need`), elsewhere they are skipped with a console warning.
 */
export function toolGate(name: string, tool: Tool): boolean {
  if (tool.ok || process.env.CI) return true;
  console.warn(`[tests] skipping the ${name} tests: ${tool.why}`);
  return false;
}

/** Fail clearly when a tool the test needs is missing (only reached under CI or when the tool works). */
export function need(name: string, tool: Tool): void {
  if (!tool.ok) throw new Error(`${name} is required when CI is set: ${tool.why}`);
}

/** `jc --<parser>` on `text` from stdin; the parsed JSON. */
export function jc(parser: string, text: string): unknown {
  const r = spawnSync('jc', [`--${parser}`], { input: text, encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`jc --${parser}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`jc --${parser} exited ${r.status}: ${r.stderr}`);
  if (r.stderr.trim()) throw new Error(`jc --${parser} warned: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export interface FreeRow {
  total: number;
  used: number;
  free: number;
  shared?: number;
  buffCache?: number;
  available?: number;
}

/** `free -k -l` with the given text as /proc/meminfo: its Mem:, Low:, High: and Swap: rows in kB. */
export function freeWithMeminfo(meminfo: string): Record<string, FreeRow> {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-meminfo-'));
  try {
    const file = join(dir, 'meminfo');
    writeFileSync(file, meminfo);
    const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${quoted} /proc/meminfo && free -k -l`], { encoding: 'utf8', timeout: 20_000 });
    if (r.error) throw new Error(`unshare/free: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`unshare/free exited ${r.status}: ${r.stderr}`);
    const rows: Record<string, FreeRow> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^(\w+):\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2].trim().split(/\s+/).map(Number);
      rows[m[1]] = { total: v[0], used: v[1], free: v[2], shared: v[3], buffCache: v[4], available: v[5] };
    }
    if (!rows.Mem) throw new Error(`free printed no Mem: line:\n${r.stdout}${r.stderr}`);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
