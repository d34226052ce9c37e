/**
 * /proc/slabinfo (src/proc/slabinfo.ts): lines that reproduce a real 6.18 file byte for byte when the model is
 * put in the same state, `jc --proc-slabinfo` parsing the model's file into the model's numbers, and procps
 * `slabtop -o` reading it in place of /proc/slabinfo (a private mount namespace bind-mounts the model's file
 * over it; this needs root, as test/proc.test.ts does for free).
 *
 * A missing tool fails the tool's tests under CI (CI is set) and otherwise skips them with a warning.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GFP, Machine } from '../src/index.js';
import type { MachineConfig } from '../src/config.js';
import {
  SLAB_CONSISTENCY_CHECKS, SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER,
  type KmemCache,
} from '../src/mm/slub.js';
import { jc, need, probeJc, toolGate, type Tool } from './helpers/jc.js';

const DEBUG = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY_CHECKS;

/** Lines of a real 6.18 /proc/slabinfo (2-CPU x86_64 guest, shared/samples/proc/slabinfo). */
const REAL_HEADER = [
  'slabinfo - version: 2.1',
  '# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>',
];
const REAL_EMPTY = `
dma-kmalloc-8k         0      0   8192    4    8 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-4k         0      0   4096    8    8 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-2k         0      0   2048   16    8 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-1k         0      0   1024   16    4 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-512        0      0    512   16    2 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-256        0      0    256   16    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-128        0      0    128   32    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-64         0      0     64   64    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-32         0      0     32  128    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-16         0      0     16  256    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-8          0      0      8  512    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-192        0      0    192   21    1 : tunables    0    0    0 : slabdata      0      0      0
dma-kmalloc-96         0      0     96   42    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-8k         0      0   8192    4    8 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-4k         0      0   4096    8    8 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-2k         0      0   2048   16    8 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-1k         0      0   1024   16    4 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-512        0      0    512   16    2 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-256        0      0    256   16    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-128        0      0    128   32    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-64         0      0     64   64    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-32         0      0     32  128    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-16         0      0     16  256    1 : tunables    0    0    0 : slabdata      0      0      0
kmalloc-rcl-8          0      0      8  512    1 : tunables    0    0    0 : slabdata      0      0      0
`.trim().split('\n');

const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n');
const line = (m: Machine, name: string): string | undefined => lines(m.proc('slabinfo')).find((l) => l.split(' ')[0] === name);

function boot(cfg: MachineConfig = {}): Machine {
  return Machine.boot({ mem: '64M', strict: true, nrCpus: 2, ...cfg });
}

describe('/proc/slabinfo lines as a real 6.18 kernel prints them', () => {
  it('the header, and every empty kmalloc cache of a fresh boot, byte for byte', () => {
    const m = boot();
    const text = m.proc('slabinfo');
    expect(lines(text).slice(0, 2)).toEqual(REAL_HEADER);
    expect(text.endsWith('\n')).toBe(true);
    for (const real of REAL_EMPTY) expect(line(m, real.split(' ')[0])).toBe(real);
  });

  it('caches in the state of the real file print the real lines', () => {
    const m = boot();
    // 42 reclaimable 150-byte kmallocs: two full slabs of kmalloc-rcl-192.
    for (let i = 0; i < 42; i++) m.kmalloc(150, GFP.KERNEL | GFP.RECLAIMABLE);
    expect(line(m, 'kmalloc-rcl-192')).toBe('kmalloc-rcl-192       42     42    192   21    1 : tunables    0    0    0 : slabdata      2      2      0');
    // Eight accounted 8 KiB kmallocs: two order-3 slabs of kmalloc-cg-8k.
    for (let i = 0; i < 8; i++) m.kmalloc(8192, GFP.KERNEL_ACCOUNT);
    expect(line(m, 'kmalloc-cg-8k')).toBe('kmalloc-cg-8k          8      8   8192    4    8 : tunables    0    0    0 : slabdata      2      2      0');
    // ext4_io_end: 704 objects in 11 slabs, 256 of them free on partial slabs (32 in each of 8).
    const io = m.kmemCacheCreate('ext4_io_end', 64)!;
    const objs = Array.from({ length: 704 }, () => m.kmemCacheAlloc(io, GFP.KERNEL));
    const cpuSlab = io.cpuSlab[0];
    const bySlab = new Map<number, number[]>();
    for (const o of objs) {
      const s = m.slub.objToSlab(o);
      if (s !== cpuSlab) bySlab.set(s, [...(bySlab.get(s) ?? []), o]);
    }
    for (const slabObjs of [...bySlab.values()].slice(0, 8)) for (const o of slabObjs.slice(0, 32)) m.kmemCacheFree(io, o);
    expect(line(m, 'ext4_io_end')).toBe('ext4_io_end          448    704     64   64    1 : tunables    0    0    0 : slabdata     11     11      0');
    // A name longer than the 17-character column pushes the numbers right, as %-17s does.
    m.kmemCacheCreate('request_sock_subflow_v6', 392);
    expect(line(m, 'request_sock_subflow_v6')).toBe('request_sock_subflow_v6      0      0    392   20    2 : tunables    0    0    0 : slabdata      0      0      0');
    // Caches print newest first.
    const names = lines(m.proc('slabinfo')).slice(2).map((l) => l.split(' ')[0]);
    expect(names.slice(0, 2)).toEqual(['request_sock_subflow_v6', 'ext4_io_end']);
    expect(names.slice(-2)).toEqual(['kmem_cache_node', 'kmem_cache']);
  });

  it('active_objs counts the CPU slabs\' free objects as active and only the partial slabs\' as free', () => {
    const m = boot();
    const c = m.kmemCacheCreate('counted', 256)!; // 16 per slab
    const objs = Array.from({ length: 40 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    // Three slabs: two full, the CPU slab with 8 free objects on its CPU freelist, all counted active.
    expect(line(m, 'counted')).toMatch(/^counted\s+48\s+48\s+256\s+16\s+1 :.* slabdata\s+3\s+3\s+0$/);
    for (const o of objs.slice(0, 5)) m.kmemCacheFree(c, o); // a full slab becomes partial: 5 inactive
    expect(line(m, 'counted')).toMatch(/^counted\s+43\s+48\s/);
    m.kmemCacheShrink(c); // the CPU slab goes to the node: its 8 free objects become inactive
    expect(line(m, 'counted')).toMatch(/^counted\s+35\s+48\s/);
  });
});

// --- the model's numbers through the standard tools -----------------------------------------------------------------

/**
 * A workload that leaves every kind of cache state: kmalloc of every class and type from two CPUs with part freed,
 * large kmallocs, caches like dentry and buffer_head, a debug cache, a shrunk cache, and an emptied one.
 */
function workload(m: Machine): { exact: Map<string, number> } {
  const sizes = [8, 24, 64, 96, 100, 192, 250, 500, 1000, 2000, 4000, 8000, 12000];
  const gfps = [GFP.KERNEL, GFP.KERNEL | GFP.RECLAIMABLE, GFP.KERNEL | GFP.DMA, GFP.KERNEL_ACCOUNT];
  const other = m.sched.createTask('kworker/1:1', 1);
  const init = m.current;
  const held: number[] = [];
  for (let i = 0; i < 1500; i++) {
    m.sched.switchTo(i % 5 === 0 ? other : init);
    const p = m.kmalloc(sizes[i % sizes.length], gfps[(i >> 2) % gfps.length]);
    if (!p) throw new Error(`workload: kmalloc ${i} failed`);
    held.push(p);
  }
  for (let i = held.length - 1; i >= 0; i--) {
    if (i % 3 === 0 || i % 7 === 0) {
      m.sched.switchTo(i % 2 ? other : init);
      m.kfree(held[i]);
    }
  }
  m.sched.switchTo(init);
  const dentry = m.kmemCacheCreate('dentry', 192, { flags: SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN })!;
  const d = Array.from({ length: 1000 }, () => m.kmemCacheAlloc(dentry, GFP.KERNEL));
  d.forEach((o, i) => i % 2 && m.kmemCacheFree(dentry, o));
  const bh = m.kmemCacheCreate('buffer_head', 104, { flags: SLAB_RECLAIM_ACCOUNT })!;
  for (let i = 0; i < 390; i++) m.kmemCacheAlloc(bh, GFP.KERNEL);
  // Caches whose active count is known exactly: no CPU slab holds free objects.
  const exact = new Map<string, number>();
  const dbg = m.kmemCacheCreate('si-debug', 72, { flags: DEBUG })!;
  const dbgObjs = Array.from({ length: 60 }, () => m.kmemCacheAlloc(dbg, GFP.KERNEL));
  dbgObjs.slice(0, 23).forEach((o) => m.kmemCacheFree(dbg, o));
  exact.set('si-debug', 37);
  const shrunk = m.kmemCacheCreate('si-shrunk', 100)!;
  const sh = Array.from({ length: 300 }, () => m.kmemCacheAlloc(shrunk, GFP.KERNEL));
  sh.forEach((o, i) => i % 4 === 0 && m.kmemCacheFree(shrunk, o));
  m.kmemCacheShrink(shrunk);
  exact.set('si-shrunk', 225);
  const empty = m.kmemCacheCreate('si-empty', 500)!;
  const e = Array.from({ length: 100 }, () => m.kmemCacheAlloc(empty, GFP.KERNEL));
  e.forEach((o) => m.kmemCacheFree(empty, o));
  m.kmemCacheShrink(empty);
  exact.set('si-empty', 0);
  return { exact };
}

interface JcSlab {
  name: string;
  active_objs: number;
  num_objs: number;
  obj_size: number;
  obj_per_slab: number;
  pages_per_slab: number;
  tunables: { limit: number; batch_count: number; shared_factor: number };
  slabdata: { active_slabs: number; num_slabs: number; shared_avail: number };
}

function modelRow(m: Machine, c: KmemCache): JcSlab {
  return {
    name: c.name,
    active_objs: c.totalObjects - m.slub.freeObjects(c),
    num_objs: c.totalObjects,
    obj_size: c.size,
    obj_per_slab: c.objects,
    pages_per_slab: 1 << c.order,
    tunables: { limit: 0, batch_count: 0, shared_factor: 0 },
    slabdata: { active_slabs: c.nrSlabs, num_slabs: c.nrSlabs, shared_avail: 0 },
  };
}

const SCENARIOS: Array<[string, MachineConfig]> = [
  ['x86_64', {}],
  ['i386', { arch: 'i386', mem: '96M', vmallocSize: '960M' }],
];

const JC = probeJc();
describe.runIf(toolGate('jc', JC))('jc --proc-slabinfo reads the model numbers', () => {
  for (const [label, cfg] of SCENARIOS) {
    it(`${label}: every cache after a workload`, () => {
      need('jc', JC);
      const m = boot(cfg);
      const { exact } = workload(m);
      m.checkInvariants();
      const out = jc('proc-slabinfo', m.proc('slabinfo')) as JcSlab[];
      const caches = m.kmemCaches().reverse();
      expect(out).toEqual(caches.map((c) => modelRow(m, c)));
      // Numbers that do not come from the renderer's own formula.
      for (const [name, active] of exact) expect(out.find((r) => r.name === name)!.active_objs, name).toBe(active);
      // num_objs and the slab counts against a recount of the slab pages in mem_map.
      const recount = new Map<string, { objs: number; slabs: number }>();
      for (let pfn = 0; pfn < m.mm.nrPages; pfn++) {
        const c = m.slub.cacheOfPage(pfn);
        if (!c || m.mm.head(pfn) !== pfn) continue;
        const n = recount.get(c.name) ?? { objs: 0, slabs: 0 };
        recount.set(c.name, { objs: n.objs + m.slub.objectsOf(pfn), slabs: n.slabs + 1 });
      }
      for (const r of out) {
        expect(r.active_objs).toBeLessThanOrEqual(r.num_objs);
        expect([r.name, r.num_objs, r.slabdata.num_slabs]).toEqual([r.name, recount.get(r.name)?.objs ?? 0, recount.get(r.name)?.slabs ?? 0]);
      }
      const dentry = out.find((r) => r.name === 'dentry')!;
      expect([dentry.obj_size, dentry.obj_per_slab, dentry.pages_per_slab]).toEqual([192, 21, 1]);
      expect(out.filter((r) => r.num_objs > 0).length).toBeGreaterThan(40);
    });
  }
});

// --- procps slabtop -----------------------------------------------------------------------------------------------

/** slabtop exists and we may bind-mount a file over /proc/slabinfo in a private mount namespace. */
function probeSlabtop(): Tool {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-slabinfo-'));
  try {
    const file = join(dir, 'slabinfo');
    writeFileSync(file, `${REAL_HEADER.join('\n')}\n${REAL_EMPTY[0]}\n`);
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind '${file}' /proc/slabinfo && slabtop -o`], { encoding: 'utf8', timeout: 20_000 });
    if (!r.error && r.status === 0 && r.stdout.includes('dma-kmalloc-8k')) return { ok: true, why: '' };
    return {
      ok: false,
      why: `unshare -m + mount --bind over /proc/slabinfo + slabtop -o did not run (${(r.error?.message ?? r.stderr ?? '').trim() || 'exit status non-zero'}); needs root, util-linux and procps (apt-get install -y procps)`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TopRow {
  objs: number;
  active: number;
  use: number;
  objSize: string;
  slabs: number;
  objPerSlab: number;
  cacheSizeK: number;
}

/** `slabtop -o -s c` with the given text as /proc/slabinfo: the summary lines and the rows by name. */
function slabtop(slabinfo: string): { summary: Record<string, string>; rows: Map<string, TopRow>; order: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'mmlab-slabinfo-'));
  try {
    const file = join(dir, 'slabinfo');
    writeFileSync(file, slabinfo);
    const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${quoted} /proc/slabinfo && slabtop -o -s c`], { encoding: 'utf8', timeout: 20_000 });
    if (r.error) throw new Error(`unshare/slabtop: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`unshare/slabtop exited ${r.status}: ${r.stderr}`);
    const summary: Record<string, string> = {};
    const rows = new Map<string, TopRow>();
    const order: string[] = [];
    for (const l of r.stdout.split('\n')) {
      const s = /^\s*(.+?)\s*:\s*(.+?)\s*$/.exec(l);
      if (s && /^(Active|Minimum)/.test(s[1])) {
        summary[s[1].replace(/\s+/g, ' ')] = s[2];
        continue;
      }
      const row = /^\s*(\d+)\s+(\d+)\s+(\d+)%\s+([\d.]+)K\s+(\d+)\s+(\d+)\s+(\d+)K\s+(\S+)\s*$/.exec(l);
      if (!row) continue;
      order.push(row[8]);
      rows.set(row[8], {
        objs: Number(row[1]), active: Number(row[2]), use: Number(row[3]), objSize: row[4], slabs: Number(row[5]),
        objPerSlab: Number(row[6]), cacheSizeK: Number(row[7]),
      });
    }
    if (!rows.size) throw new Error(`slabtop printed no cache rows:\n${r.stdout}${r.stderr}`);
    return { summary, rows, order };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** printf("%.2f", size / 1024.0) with glibc's rounding of exact ties to even (128 bytes is 0.12K). */
function kb2(size: number): string {
  const num = size * 25; // hundredths of a KiB, times 256
  let q = Math.floor(num / 256);
  const r = num % 256;
  if (r > 128 || (r === 128 && q % 2 === 1)) q++;
  return `${Math.floor(q / 100)}.${String(q % 100).padStart(2, '0')}`;
}

const SLABTOP = probeSlabtop();
describe.runIf(toolGate('slabtop', SLABTOP))('procps slabtop reads the model slabinfo', () => {
  for (const [label, cfg] of SCENARIOS) {
    it(`${label}: every cache row and the totals`, () => {
      need('unshare/slabtop', SLABTOP);
      const m = boot(cfg);
      workload(m);
      const top = slabtop(m.proc('slabinfo'));
      const caches = m.kmemCaches();
      expect(new Set(top.rows.keys())).toEqual(new Set(caches.map((c) => c.name)));
      let active = 0;
      let total = 0;
      let slabs = 0;
      let activeCaches = 0;
      for (const c of caches) {
        const row = modelRow(m, c);
        const pages = c.nrSlabs << c.order;
        expect([c.name, top.rows.get(c.name)]).toEqual([c.name, {
          objs: row.num_objs, active: row.active_objs, use: row.num_objs ? Math.floor((row.active_objs * 100) / row.num_objs) : 0,
          objSize: kb2(c.size), slabs: c.nrSlabs, objPerSlab: c.objects, cacheSizeK: pages * 4,
        }]);
        active += row.active_objs;
        total += row.num_objs;
        slabs += c.nrSlabs;
        if (row.active_objs > 0) activeCaches++;
      }
      expect(top.summary['Active / Total Objects (% used)']).toMatch(new RegExp(`^${active} / ${total} \\(`));
      expect(top.summary['Active / Total Slabs (% used)']).toMatch(new RegExp(`^${slabs} / ${slabs} \\(`));
      expect(top.summary['Active / Total Caches (% used)']).toMatch(new RegExp(`^${activeCaches} / ${caches.length} \\(`));
      // Sorted by cache size: the biggest cache first.
      const sizes = top.order.map((n) => top.rows.get(n)!.cacheSizeK);
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
      expect(sizes[0]).toBe(Math.max(...caches.map((c) => (c.nrSlabs << c.order) * 4)));
    });
  }
});
