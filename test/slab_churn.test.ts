import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { Machine } from '../src/machine.js';
import { slabChurnScenario, type CacheReport } from '../src/workloads/slab_churn.js';
import { findScenario } from '../src/workloads/index.js';

const STEPS = 20_000;

function run(seed: number) {
  const m = Machine.boot({ ...slabChurnScenario.machine, seed });
  const r = slabChurnScenario.run(m, { seed, steps: STEPS });
  return { m, r };
}

/** /proc/slabinfo's rows by cache name. */
function slabinfo(text: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of text.split('\n').slice(2)) {
    if (!line) continue;
    const f = line.split(/\s+/);
    // name active num objsize objperslab pagesperslab : tunables 0 0 0 : slabdata active_slabs num_slabs 0
    out.set(f[0], [1, 2, 3, 4, 5, 13, 14].map((i) => Number(f[i])));
  }
  return out;
}

function meminfoKb(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new Error(`meminfo: no ${key}`);
  return Number(m[1]);
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe('slab-churn scenario', () => {
  const { m, r } = run(7);
  const caches = r.metrics.caches as CacheReport[];

  it('is registered, and not the default', () => {
    expect(findScenario('slab-churn')).toBe(slabChurnScenario);
  });

  it('is deterministic by seed', () => {
    const again = run(7).r;
    const other = run(8).r;
    expect(JSON.stringify(again)).toBe(JSON.stringify(r));
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(r));
  });

  it("leaves a consistent machine whose slabs hold exactly the workload's live objects", () => {
    expect(() => m.checkInvariants()).not.toThrow();
    expect(r.metrics.consistent).toBe(true);
    expect(r.metrics.mismatches).toEqual([]);
    expect(r.metrics.allocs as number).toBeGreaterThan(STEPS);
    expect(r.metrics.crossCpuFrees as number).toBeGreaterThan(0);
  });

  it("the caches table agrees with /proc/slabinfo of the same machine", () => {
    const info = slabinfo(m.proc('slabinfo'));
    const table = r.tables[0];
    const col = (name: string) => table.columns.indexOf(name);
    const rows = table.rows.filter((row) => row[0] !== 'large kmalloc (pages)');
    expect(rows.length).toBeGreaterThan(15);
    for (const name of ['dentry', 'inode_cache', 'buffer_head', 'filp', 'names_cache', 'kmalloc-64', 'kmalloc-cg-4k']) {
      expect(rows.map((row) => row[0]), name).toContain(name);
    }
    for (const row of rows) {
      const name = String(row[0]);
      const [active, num, size, perSlab, pagesPerSlab, activeSlabs, numSlabs] = info.get(name)!;
      expect([row[col('active objs')], row[col('total objs')], row[col('size')], row[col('obj/slab')], row[col('pages/slab')], row[col('slabs')]], name)
        .toEqual([active, num, size, perSlab, pagesPerSlab, numSlabs]);
      expect(activeSlabs).toBe(numSlabs);
    }
    // Every cache with slabs is in the table.
    for (const [name, v] of info) if (v[1] > 0) expect(rows.map((row) => row[0]), name).toContain(name);
  });

  it('slab memory agrees with /proc/meminfo and mem_map', () => {
    const mi = m.proc('meminfo');
    expect(r.metrics.sReclaimableKb).toBe(meminfoKb(mi, 'SReclaimable'));
    expect(r.metrics.sUnreclaimKb).toBe(meminfoKb(mi, 'SUnreclaim'));
    const cachePages = caches.reduce((s, c) => s + c.pages, 0);
    expect(cachePages).toBe(m.slub.counters.reclaimablePages + m.slub.counters.unreclaimablePages);
    const over = r.metrics.overTime as { columns: string[]; rows: number[][] };
    const last = over.rows[over.rows.length - 1];
    expect(last[0]).toBe(STEPS);
    expect(last[over.columns.indexOf('SReclaimable')]).toBe(meminfoKb(mi, 'SReclaimable'));
  });

  it('internal fragmentation is 1 - requested/allocated, between 0 and 1', () => {
    const f = r.metrics.internalFragmentation as number;
    expect(f).toBeGreaterThan(0);
    expect(f).toBeLessThan(1);
    for (const c of caches) {
      expect(c.internalFragmentation, c.name).toBeGreaterThanOrEqual(0);
      expect(c.internalFragmentation, c.name).toBeLessThan(1);
      expect(c.requestedBytes, c.name).toBeLessThanOrEqual(c.allocatedBytes);
      if (c.allocatedBytes) expect(c.internalFragmentation).toBeCloseTo(1 - c.requestedBytes / c.allocatedBytes, 12);
    }
    const byName = new Map(caches.map((c) => [c.name, c]));
    // A cache's objects waste only its alignment: dentry none, inode_cache 16 of 640 bytes.
    expect(byName.get('dentry')!.internalFragmentation).toBe(0);
    expect(byName.get('inode_cache')!.internalFragmentation).toBeCloseTo(16 / 640, 12);
    // kmalloc-1k serves 504..784-byte phdr tables and 704-byte skb heads: at least a fifth is lost.
    expect(byName.get('kmalloc-1k')!.internalFragmentation).toBeGreaterThan(0.2);
  });

  it('partial-slab waste is the free objects of partial slabs, and a share of slab memory', () => {
    for (const c of caches) {
      expect(c.partialFreeObjs, c.name).toBe(c.numObjs - c.activeObjs);
      expect(c.partialWasteBytes, c.name).toBe(c.partialFreeObjs * c.size);
      expect(c.partialWasteShare, c.name).toBeGreaterThanOrEqual(0);
      expect(c.partialWasteShare, c.name).toBeLessThanOrEqual(1);
      expect(c.liveObjs + c.cpuFreeObjs, c.name).toBe(c.activeObjs);
    }
    const shrink = r.metrics.shrink as { partialWasteBeforeBytes: number; partialWasteAfterBytes: number; evicted: { dentry: number } };
    expect(shrink.evicted.dentry).toBeGreaterThan(0);
    expect(shrink.partialWasteAfterBytes).toBeGreaterThan(shrink.partialWasteBeforeBytes);
  });

  it('runs from the command line: --json and --out (with proc/slabinfo and a kmem trace)', async () => {
    const out = new Sink();
    const err = new Sink();
    expect(await main(['run', 'slab-churn', '--steps', '5000', '--json'], out, err)).toBe(0);
    const doc = JSON.parse(out.text);
    expect(doc.scenario).toBe('slab-churn');
    expect(doc.metrics.steps).toBe(5000);

    const dir = mkdtempSync(join(tmpdir(), 'mmlab-slab-churn-'));
    const text = new Sink();
    expect(await main(['run', 'slab-churn', '--steps', '5000', '--mem', '128M', '--out', dir], text, err)).toBe(0);
    expect(text.text).toContain('Caches (largest first');
    expect(existsSync(join(dir, 'proc/slabinfo'))).toBe(true);
    const info = slabinfo(readFileSync(join(dir, 'proc/slabinfo'), 'utf8'));
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    const dentry = (result.metrics.caches as CacheReport[]).find((c) => c.name === 'dentry')!;
    expect(info.get('dentry')!.slice(0, 2)).toEqual([dentry.activeObjs, dentry.numObjs]);
    const trace = readFileSync(join(dir, 'trace.txt'), 'utf8');
    expect(trace).toMatch(/kmem_cache_alloc: call_site=__d_alloc\+0x2d\/0x230 ptr=[0-9a-f]{16} name=dentry bytes_req=192 bytes_alloc=192 gfp_flags=GFP_KERNEL/);
    expect(trace).toMatch(/\.\.s\.\. .*kmalloc: call_site=kmalloc_reserve\+0x87\/0x120 .*gfp_flags=GFP_ATOMIC\|__GFP_NOWARN\|__GFP_NOMEMALLOC/);
    expect(trace).toMatch(/\[001\] .*kmem_cache_free: call_site=__fput\+0x141\/0x2a0 ptr=[0-9a-f]{16} name=filp/);
  });
});
