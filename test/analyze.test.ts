/**
 * `mmlab analyze`: its counts on real 6.18 captures equal independent counts of the same files (plain string
 * searches, as grep would make them), capture directories and gzip read the same, bad input is reported.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mmlab } from './helpers/cli.js';

const REAL = 'test/fixtures/real';
/** Event lines of `event` in a file (what `grep -c ' event: '` counts). */
function grep(file: string, needle: string, also?: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(needle) && (also === undefined || l.includes(also)));
}

describe('mmlab analyze', () => {
  it('page counts by order and migratetype equal the counts grep makes of a real capture', async () => {
    const file = `${REAL}/page-alloc.txt`;
    const r = await mmlab('analyze', file, '--json');
    expect(r.code).toBe(0);
    const a = JSON.parse(r.out);
    const allocs = grep(file, ' mm_page_alloc: ');
    expect(a.pages.allocs).toBe(allocs.length);
    expect(a.pages.frees).toBe(grep(file, ' mm_page_free: ').length + grep(file, ' mm_page_free_batched: ').length);
    for (let o = 0; o <= 10; o++) {
      expect(a.pages.byOrder[o].allocs, `order ${o}`).toBe(allocs.filter((l) => l.includes(` order=${o} `)).length);
    }
    // 6.x numbering: 0 Unmovable, 1 Movable, 2 Reclaimable.
    expect(a.pages.byMigratetype.Movable ?? 0).toBe(allocs.filter((l) => l.includes(' migratetype=1 ')).length);
    expect(a.pages.byMigratetype.Unmovable ?? 0).toBe(allocs.filter((l) => l.includes(' migratetype=0 ')).length);
    const gfpKernel = allocs.filter((l) => l.endsWith('gfp_flags=GFP_KERNEL')).length;
    expect(a.pages.byGfp.GFP_KERNEL ?? 0).toBe(gfpKernel);
  });

  it('slab counts, bytes and the top call site equal grep\'s counts', async () => {
    const file = `${REAL}/slab.txt`;
    const a = JSON.parse((await mmlab('analyze', file, '--json')).out);
    const allocs = [' kmalloc: ', ' kmem_cache_alloc: '].flatMap((n) => grep(file, n));
    expect(a.slab.allocs).toBe(allocs.length);
    expect(a.slab.frees).toBe(grep(file, ' kfree: ').length + grep(file, ' kmem_cache_free: ').length);
    const sum = (key: string) => allocs.reduce((s, l) => s + Number(new RegExp(` ${key}=(\\d+) `).exec(l)![1]), 0);
    expect(a.slab.bytesReq).toBe(sum('bytes_req'));
    expect(a.slab.bytesAlloc).toBe(sum('bytes_alloc'));
    const top = a.slab.bySite[0];
    expect(top.hits).toBe(allocs.filter((l) => l.includes(`call_site=${top.site}+`)).length);
    const named = a.slab.byCache.find((c: { site: string }) => c.site === 'filp');
    expect(named.hits).toBe(grep(file, ' kmem_cache_alloc: ', ' name=filp ').length);
  });

  it('reads a capture directory (gzip, formats, kernel) as it reads the plain file; text output has the tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-analyze-'));
    try {
      const text = readFileSync(`${REAL}/page-alloc.txt`);
      writeFileSync(join(dir, 'trace.txt.gz'), gzipSync(text));
      writeFileSync(join(dir, 'kernel'), '6.18.0\n');
      mkdirSync(join(dir, 'formats'));
      const fromDir = JSON.parse((await mmlab('analyze', dir, '--json')).out);
      const fromFile = JSON.parse((await mmlab('analyze', `${REAL}/page-alloc.txt`, '--json')).out);
      expect({ ...fromDir, trace: '' }).toEqual({ ...fromFile, trace: '' });
      const t = await mmlab('analyze', dir);
      expect(t.out).toMatch(/^Pages by order$/m);
      expect(t.out).toMatch(/^Page allocations by gfp$/m);
      expect(t.out).toMatch(/^slab: 0 allocations/m);
      expect(t.out).not.toMatch(/^Slab by call site/m); // no slab events, no empty table
      expect((await mmlab('analyze', `${REAL}/slab.txt`)).out).toMatch(/^Slab by call site \(top 20 by bytes allocated\)$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a malformed line stops with file, line and field (exit 1); --lenient counts it; a missing file is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-analyze-'));
    try {
      const bad = join(dir, 'bad.txt');
      writeFileSync(bad, '          ls-1 [000] .....   1.000000: mm_page_alloc: page=0000000012345678 pfn=0x1000 order=x migratetype=1 gfp_flags=GFP_KERNEL\n');
      const r = await mmlab('analyze', bad);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`mmlab analyze: ${bad}:1: mm_page_alloc: field 'order': expected a number, got 'x'\n`);
      const l = await mmlab('analyze', bad, '--lenient', '--json');
      expect(l.code).toBe(0);
      expect(JSON.parse(l.out).parse.malformed).toBe(1);
      const m = await mmlab('analyze', join(dir, 'nope.txt'));
      expect(m.code).toBe(2);
      expect(m.err).toMatch(/nope\.txt: no such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
