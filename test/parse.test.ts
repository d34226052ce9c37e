/**
 * The trace parser (src/trace/parse.ts) against every envelope and payload variant, real captures from a 6.18
 * kernel (counts checked against plain string searches of the same files), gzip input, errors, format files,
 * and the model's own trace text read back.
 */
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE } from '../src/index.js';
import { openTrace, parseTrace, TraceParseError, TraceParser, type ParseOptions, type TraceRecord } from '../src/trace/parse.js';

const REAL = fileURLToPath(new URL('./fixtures/real/', import.meta.url));
const TRACES = fileURLToPath(new URL('./fixtures/traces/', import.meta.url));

function one(line: string, opts?: ParseOptions): TraceRecord {
  const r = new TraceParser(opts).parseLine(line);
  expect(r).not.toBeNull();
  return r!;
}

async function all(input: AsyncIterable<string | Buffer>, opts?: ParseOptions) {
  const t = parseTrace(input, opts);
  const recs: TraceRecord[] = [];
  for await (const r of t) recs.push(r);
  return { recs, stats: t.stats };
}

const KERNEL = GFP.KERNEL;

describe('envelopes', () => {
  it('6.x ftrace: 5-character flags, right-aligned comm', () => {
    expect(one('         python3-3495    [000] d.s4.   204.711716: mm_page_free: page=00000000748958d1 pfn=0x12f7f6 order=1')).toMatchObject({
      event: 'mm_page_free', comm: 'python3', pid: 3495, cpu: 0, irqFlags: 'd.s4.', irqsOff: true, inIrq: false, inSoftirq: true,
      ts: 204_711_716_000, pfn: 0x12f7f6, order: 1,
    });
  });
  it('4-character flags (before 5.x), hardirq, and hard-in-soft', () => {
    expect(one('          <idle>-0     [001] d.h1  1234.000001: mm_page_free: page=ffffea0000040000 pfn=4096 order=0')).toMatchObject({
      comm: '<idle>', pid: 0, cpu: 1, irqFlags: 'd.h1', inIrq: true, inSoftirq: false, ts: 1234_000_001_000, pfn: 4096,
    });
    expect(one('  x-1 [000] d.H2. 1.5: mm_page_free: page=0 pfn=0x10 order=0')).toMatchObject({ inIrq: true, inSoftirq: true, ts: 1_500_000_000 });
  });
  it('no flags column (irq-info off), comm with spaces and dashes, <...> comm', () => {
    expect(one('  kworker/u4:2-ev ents-1-77 [003]  10.000002: mm_page_free: page=0 pfn=0x1 order=0')).toMatchObject({
      comm: 'kworker/u4:2-ev ents-1', pid: 77, cpu: 3, irqFlags: undefined, inIrq: undefined, ts: 10_000_002_000,
    });
    expect(one('           <...>-1234  [000] ....  5.000000: mm_page_free: page=0 pfn=0x1 order=0')).toMatchObject({ comm: '<...>', pid: 1234 });
  });
  it('record-tgid column', () => {
    expect(one('            node-6648    (   6640) [000] ...1. 23215.792853: mm_page_free: page=000000003440daf1 pfn=0x138750 order=0')).toMatchObject({
      comm: 'node', pid: 6648, tgid: 6640, cpu: 0, ts: 23215_792_853_000,
    });
    expect(one('            node-6648    (-------) [000] ...1. 1.0: mm_page_free: page=0 pfn=0x1 order=0').tgid).toBeUndefined();
  });
  it('perf script, with pid/tid and the aligned event column; page= ignored', () => {
    expect(one('            perf 11001 [001]   296.849757: kmem:mm_page_alloc: page=0x103dc5 pfn=0x103dc5 order=0 migratetype=0 gfp_flags=GFP_HIGHUSER|__GFP_ACCOUNT')).toMatchObject({
      event: 'mm_page_alloc', comm: 'perf', pid: 11001, cpu: 1, ts: 296_849_757_000, pfn: 0x103dc5, gfp: GFP.HIGHUSER | GFP.ACCOUNT, failed: undefined,
    });
    expect(one('     Web Content  4000/4012 [000]   1.000000001: kmem:mm_page_free:  page=0x10 pfn=0x10 order=2')).toMatchObject({
      event: 'mm_page_free', comm: 'Web Content', tgid: 4000, pid: 4012, ts: 1_000_000_001, order: 2,
    });
  });
  it('trace-cmd report, with its header lines skipped', async () => {
    const text = [
      'version = 6', 'cpus=2', 'CPU 1 is empty',
      '            bash-1234  [001]  1234.567890: kmalloc:              call_site=foo+0x1/0x2 ptr=0xffff888100aa0000 bytes_req=10 bytes_alloc=16 gfp_flags=GFP_KERNEL node=-1 accounted=false',
      '            bash-1234  [001] d..1. 1234.567891: kfree:                call_site=bar+0x3/0x4 ptr=0xffff888100aa0000',
    ].join('\n');
    const { recs, stats } = await all(Readable.from([text]));
    expect(recs).toHaveLength(2);
    expect(recs[0]).toMatchObject({ event: 'kmalloc', comm: 'bash', pid: 1234, cpu: 1, callSite: 'foo+0x1/0x2', ptr: '0xffff888100aa0000', bytesReq: 10, bytesAlloc: 16, gfp: KERNEL, node: -1, accounted: false });
    expect(recs[1]).toMatchObject({ event: 'kfree', irqFlags: 'd..1.', callSite: 'bar+0x3/0x4' });
    expect(stats).toMatchObject({ lines: 5, records: 2, skipped: 3, malformed: 0 });
  });
  it('payload without envelope, and options/fields raw form', () => {
    expect(one('mm_page_alloc: page=0xffffea0004000000 pfn=0x100000 order=0 migratetype=1 gfp_flags=0xcc0')).toMatchObject({
      event: 'mm_page_alloc', comm: '', pid: -1, cpu: -1, ts: -1, pfn: 0x100000, migratetype: 1, gfp: KERNEL,
    });
    // Captured with options/fields on this 6.18 kernel: struct order, "0xhex (dec)", node's dec is the signed one.
    expect(one('            bash-6768    [000] ..... 23248.437678: mm_page_alloc: pfn=0x124be4 (1199076) order=0x0 (0) gfp_flags=0x440dc0 (4459968) migratetype=0x0 (0)')).toMatchObject({
      pfn: 1199076, order: 0, gfp: 0x440dc0, migratetype: 0,
    });
    expect(one('            bash-6768    [000] ..... 23248.437327: kmem_cache_alloc: call_site=getname_flags.part.0+0x24/0x1f0 (-2123465228) ptr=0xffff888100ce3000 (-131387331039232) name=names_cache bytes_req=0x1000 (4096) bytes_alloc=0x1000 (4096) gfp_flags=0xcc0 (3264) node=0xffffffff (-1) accounted=(1)')).toMatchObject({
      callSite: 'getname_flags.part.0+0x24/0x1f0', ptr: '0xffff888100ce3000', name: 'names_cache', bytesReq: 4096, bytesAlloc: 4096, gfp: KERNEL, node: -1, accounted: true,
    });
    expect(one('  bash-1 [000] ..... 1.0: kfree: call_site=ida_alloc_range+0x39b/0x400 (-2111644197) ptr=0x0 (0)').ptr).toBeNull();
  });
});

describe('payload variants', () => {
  it('decimal pfn (before 5.14), failed allocation, (null) pointers', () => {
    expect(one('  a-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=3 migratetype=2 gfp_flags=GFP_KERNEL')).toMatchObject({ pfn: 4096, order: 3, failed: undefined });
    expect(one('  a-1 [000] .... 1.0: mm_page_alloc: page=(null) pfn=0 order=11 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN')).toMatchObject({ pfn: -1, failed: true, order: 11, gfp: KERNEL | GFP.NOWARN });
    expect(one('  a-1 [000] ..... 1.0: mm_page_alloc: page=0000000000000000 pfn=0x0 order=1 migratetype=0 gfp_flags=none')).toMatchObject({ failed: true, gfp: 0 });
    expect(one('  a-1 [000] .... 1.0: kfree: call_site=foo+0x0/0x10 ptr=(null)').ptr).toBeNull();
    expect(one('  a-1 [000] .... 1.0: kfree: call_site=foo+0x0/0x10 ptr=0000000000000000').ptr).toBeNull();
  });
  it('old slab lines: no name=, node=, accounted=; kmalloc_node; kmem_cache_alloc_node', () => {
    const r = one('  a-1 [000] .... 1.0: kmem_cache_alloc: call_site=ffffffff811e0c4d ptr=ffff88003a9b8000 bytes_req=256 bytes_alloc=256 gfp_flags=GFP_KERNEL|GFP_ZERO');
    expect(r).toMatchObject({ callSite: 'ffffffff811e0c4d', ptr: 'ffff88003a9b8000', bytesReq: 256, gfp: KERNEL | GFP.ZERO, name: undefined, node: undefined, accounted: undefined });
    expect(one('  a-1 [000] .... 1.0: kmalloc_node: call_site=__alloc_skb+0x4e/0x1a0 ptr=00000000deadbeef bytes_req=640 bytes_alloc=1024 gfp_flags=GFP_ATOMIC|__GFP_NOWARN node=0')).toMatchObject({
      event: 'kmalloc_node', bytesReq: 640, bytesAlloc: 1024, gfp: GFP.ATOMIC | GFP.NOWARN, node: 0,
    });
    expect(one('  a-1 [000] .... 1.0: kmem_cache_alloc_node: call_site=x+0x1/0x2 ptr=00000000deadbeef bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL node=1')).toMatchObject({ event: 'kmem_cache_alloc_node', node: 1 });
  });
  it('old GFP names (before 4.6), raw hex gfp, none', () => {
    expect(one('  a-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=0 migratetype=0 gfp_flags=GFP_KERNEL|GFP_NOWARN|GFP_COMP').gfp).toBe(KERNEL | GFP.NOWARN | GFP.COMP);
    expect(one('  a-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=0 migratetype=0 gfp_flags=0x400cc0').gfp).toBe(GFP.KERNEL_ACCOUNT);
    expect(one('  a-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=0 migratetype=0 gfp_flags=none').gfp).toBe(0);
  });
  it('migratetypes renumbered for kernels before 4.4', () => {
    const line = (mt: number) => `  a-1 [000] .... 1.0: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=0 migratetype=${mt} gfp_flags=GFP_KERNEL`;
    // 4.3: Unmovable 0, Reclaimable 1, Movable 2, Reserve 3 -> the model's Unmovable 0, Movable 1, Reclaimable 2, HighAtomic 3
    expect([0, 1, 2, 3].map((mt) => one(line(mt), { kernel: '4.3' }).migratetype)).toEqual([0, 2, 1, 3]);
    expect([0, 1, 2, 3].map((mt) => one(line(mt), { kernel: '6.18' }).migratetype)).toEqual([0, 1, 2, 3]);
  });
  it('extfrag, zone_locked, vmalloc, compaction and vmscan events', () => {
    expect(one('  http-3537    [001] d.s4.   205.985362: mm_page_alloc_extfrag: page=000000006fd4bba0 pfn=0x12e400 alloc_order=0 fallback_order=9 pageblock_order=9 alloc_migratetype=2 fallback_migratetype=0 fragmenting=0 change_ownership=1')).toMatchObject({
      pfn: 0x12e400, allocOrder: 0, fallbackOrder: 9, pageblockOrder: 9, allocMigratetype: 2, fallbackMigratetype: 0, fragmenting: 0, changeOwnership: 1,
    });
    expect(one('  a-1 [000] d..3. 1.0: mm_page_alloc_zone_locked: page=00000000748958d1 pfn=0x12f7f6 order=0 migratetype=2 percpu_refill=1')).toMatchObject({ percpuRefill: 1, migratetype: 2 });
    expect(one('  a-1 [000] ..... 1.0: alloc_vmap_area: va_start: 18446683600570023936 size=8192 align=4096 vstart=0xffffc90000000000 vend=0xffffe8ffffffffff failed=0')).toMatchObject({
      vaStart: 0xc90000000000, size: 8192, align: 4096, vstart: 0xc90000000000, vend: 0xe8ffffffffff, failed: false,
    });
    expect(one('  a-1 [000] ..... 1.0: free_vmap_area_noflush: va_start=0xffffc90000004000 nr_lazy=5 nr_lazy_max=16384')).toMatchObject({ vaStart: 0xc90000004000, nrLazy: 5, nrLazyMax: 16384 });
    expect(one('  a-1 [000] ..... 1.0: purge_vmap_area_lazy: start=0xffffc90000000000 end=0xffffc90000100000 num_purged=3')).toMatchObject({ start: 0xc90000000000, end: 0xc90000100000, numPurged: 3 });
    expect(one('  a-1 [000] ..... 1.0: mm_compaction_end: zone_start=0x1000 migrate_pfn=0x1200 free_pfn=0x3e00 zone_end=0x40000, mode=sync status=complete')).toMatchObject({
      zoneStart: 0x1000, migratePfn: 0x1200, freePfn: 0x3e00, zoneEnd: 0x40000, sync: true, status: 'complete',
    });
    expect(one('  a-1 [000] ..... 1.0: mm_vmscan_direct_reclaim_begin: order=2 gfp_flags=GFP_KERNEL|__GFP_COMP')).toMatchObject({ order: 2, gfp: KERNEL | GFP.COMP });
    expect(one('  a-1 [000] ..... 1.0: mm_vmscan_kswapd_wake: nid=0 order=3')).toMatchObject({ nid: 0, order: 3 });
    expect(one('  a-1 [000] ..... 1.0: mm_vmscan_direct_reclaim_end: nr_reclaimed=32').nrReclaimed).toBe(32);
  });
});

describe('errors', () => {
  const bad = [
    ['  a-1 [000] ..... 1.0: mm_page_alloc: page=0 pfn=0x10 order=x migratetype=0 gfp_flags=GFP_KERNEL', "trace.txt:2: mm_page_alloc: field 'order': expected a number, got 'x'"],
    ['  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=0x10', "trace.txt:2: mm_page_free: field 'order': missing"],
    ['  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=0xzz order=0', "trace.txt:2: mm_page_free: field 'pfn': expected a hex number, got '0xzz'"],
    ['  a-1 [000] ..... 1.0: kmalloc: call_site=x ptr=0 bytes_req=8 bytes_alloc=8 gfp_flags=GFP_BOGUS', "trace.txt:2: kmalloc: field 'gfp_flags': expected gfp flags, got 'GFP_BOGUS'"],
    ['  a-1 [000] ..... 1.0: kmalloc: call_site=x ptr=0 bytes_req=8 bytes_alloc=8 gfp_flags=none accounted=maybe', "trace.txt:2: kmalloc: field 'accounted': expected true or false, got 'maybe'"],
    ['  a-1 [000] ..... 1.0: mm_compaction_begin: zone_start=0x1 migrate_pfn=0x1 free_pfn=0x1 zone_end=0x2, mode=fast', "trace.txt:2: mm_compaction_begin: field 'mode': expected sync or async, got 'fast'"],
  ] as const;
  it.each(bad)('%s', (line, message) => {
    const p = new TraceParser({ file: 'trace.txt' });
    p.parseLine('# tracer: nop');
    let err: unknown;
    try {
      p.parseLine(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TraceParseError);
    expect((err as Error).message).toBe(message);
    expect(err).toMatchObject({ file: 'trace.txt', line: 2 });
  });
  it('lenient skips and counts, keeping the first messages', async () => {
    const text = ['# tracer: nop', '', ...bad.map(([l]) => l), '  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=0x10 order=0'].join('\n');
    const { recs, stats } = await all(Readable.from([text]), { file: 'trace.txt', lenient: true, maxMessages: 2 });
    expect(recs.map((r) => r.pfn)).toEqual([0x10]);
    expect(stats).toMatchObject({ lines: 9, records: 1, malformed: 6, skipped: 2, byEvent: { mm_page_free: 1 } });
    expect(stats.messages).toEqual([bad[0][1].replace(':2:', ':3:'), bad[1][1].replace(':2:', ':4:')]);
  });
  it('unknown events are counted, not fatal', async () => {
    const text = [
      '  a-1 [000] ..... 1.0: rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=4096B',
      '  a-1 [000] ..... 1.0: rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=8192B',
      '  a-1 [000] ..... 1.0: sched_switch: prev_comm=a',
      '  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=0x10 order=0',
    ].join('\n');
    const { recs, stats } = await all(Readable.from([text]));
    expect(recs).toHaveLength(1);
    expect(stats.unknown).toEqual({ rss_stat: 2, sched_switch: 1 });
  });
});

describe('real traces (6.18)', () => {
  const files = [
    [REAL + 'page-alloc.txt', ['mm_page_alloc', 'mm_page_free', 'mm_page_free_batched', 'mm_page_alloc_zone_locked', 'mm_page_pcpu_drain', 'mm_page_alloc_extfrag']],
    [REAL + 'page-alloc.pipe.txt', ['mm_page_alloc', 'mm_page_free', 'mm_page_free_batched', 'mm_page_alloc_zone_locked', 'mm_page_pcpu_drain']],
    [REAL + 'slab.txt', ['kmalloc', 'kfree', 'kmem_cache_alloc', 'kmem_cache_free']],
    [REAL + 'vmalloc.txt', ['alloc_vmap_area', 'free_vmap_area_noflush', 'purge_vmap_area_lazy']],
    [REAL + 'perf-script.txt', ['mm_page_alloc', 'mm_page_free']],
    [TRACES + 'tgid.txt', ['mm_page_alloc', 'mm_page_free', 'kmalloc', 'kfree', 'kmem_cache_alloc', 'kmem_cache_free', 'alloc_vmap_area', 'free_vmap_area_noflush']],
  ] as const;
  it.each(files)('%s parses with counts equal to a plain search', async (file, events) => {
    const text = readFileSync(file, 'utf8');
    const { recs, stats } = await all(openTrace(file), { file });
    expect(stats.malformed).toBe(0);
    expect(stats.unknown).toEqual({});
    for (const ev of events) {
      const n = text.split('\n').filter((l) => l.includes(` ${ev}: `) || l.includes(`:${ev}: `)).length;
      expect(n).toBeGreaterThan(0);
      expect(stats.byEvent[ev] ?? 0).toBe(n);
    }
    const comments = text.split('\n').filter((l) => l.startsWith('#')).length;
    expect(stats.skipped).toBe(comments);
    expect(recs.length).toBe(stats.records);
    expect(stats.records + stats.skipped).toBe(stats.lines);
    for (const r of recs) {
      expect(r.ts).toBeGreaterThan(0);
      if (r.event.startsWith('mm_page')) expect(r.pfn).toBeGreaterThan(0);
    }
  });
  it('pfns and gfp of a real line', async () => {
    const { recs } = await all(openTrace(REAL + 'page-alloc.pipe.txt'));
    expect(recs[0]).toMatchObject({ comm: 'xz', pid: 3933, pfn: 0x119586, order: 0, migratetype: 0, gfp: GFP.HIGHUSER | GFP.ACCOUNT, ts: 231_402_108_000 });
  });
  it('gzip input equals plain', async () => {
    const gz = await all(openTrace(TRACES + 'slab.txt.gz'));
    const plain = await all(openTrace(REAL + 'slab.txt'));
    expect(gz.recs).toEqual(plain.recs);
    expect(gz.stats).toEqual(plain.stats);
    expect(gz.recs.length).toBe(300);
  });
  it('lines split across chunks of any size', async () => {
    const buf = readFileSync(REAL + 'vmalloc.txt');
    const chunks: Buffer[] = [];
    for (let o = 0; o < buf.length; o += 37) chunks.push(buf.subarray(o, o + 37));
    expect((await all(Readable.from(chunks))).recs).toEqual((await all(Readable.from([buf]))).recs);
  });
});

describe('format files', () => {
  function formatsDir(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-formats-'));
    for (const [event, fmt] of Object.entries(files)) {
      mkdirSync(join(dir, 'kmem', event), { recursive: true });
      writeFileSync(join(dir, 'kmem', event, 'format'), `name: ${event}\nID: 1\nformat:\n\tfield:int order;\n\nprint fmt: "${fmt}", REC->pfn\n`);
    }
    return dir;
  }
  it('the real 6.18 formats read the real trace the same', async () => {
    const a = await all(openTrace(REAL + 'page-alloc.txt'), { formats: REAL + 'formats' });
    const b = await all(openTrace(REAL + 'page-alloc.txt'));
    expect(a.stats.malformed).toBe(0);
    expect(a.recs).toEqual(b.recs);
  });
  it('a %lx pfn without 0x reads as hex, a %lu one as decimal', () => {
    const line = '  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=100 order=0';
    expect(one(line).pfn).toBe(100);
    expect(one(line, { formats: formatsDir({ mm_page_free: 'page=%p pfn=%lx order=%d' }) }).pfn).toBe(0x100);
    expect(one(line, { formats: formatsDir({ mm_page_free: 'page=%p pfn=%lu order=%d' }) }).pfn).toBe(100);
  });
  it('an added field is required and kept in extra; a dropped one is no longer required', () => {
    const formats = formatsDir({ mm_page_free: 'pfn=0x%lx order=%d zone=%d' });
    expect(one('  a-1 [000] ..... 1.0: mm_page_free: pfn=0x10 order=1 zone=2', { formats })).toMatchObject({ pfn: 0x10, order: 1, extra: { zone: 2 } });
    const p = new TraceParser({ formats, file: 'f' });
    expect(() => p.parseLine('  a-1 [000] ..... 1.0: mm_page_free: pfn=0x10 zone=2')).toThrow("f:1: mm_page_free: field 'order': missing");
    const noOrder = formatsDir({ mm_page_free: 'page=%p pfn=0x%lx' });
    expect(one('  a-1 [000] ..... 1.0: mm_page_free: page=0 pfn=0x10', { formats: noOrder }).order).toBeUndefined();
  });
});

describe("the model's own trace", () => {
  it('reads back the pfns, orders and gfps that were allocated', async () => {
    const m = Machine.boot({ mem: '128M', strict: true, seed: 11 });
    m.trace.enable(['mm_page_alloc', 'mm_page_free', 'kmalloc', 'kfree']);
    const want: Array<[number, number, number]> = [];
    for (const [gfp, order] of [[GFP.KERNEL, 0], [GFP.HIGHUSER_MOVABLE, 0], [GFP.KERNEL | GFP.COMP, 3], [GFP.ATOMIC, 1], [GFP.KERNEL | GFP.ZERO | GFP.NOWARN, 2]] as const) {
      want.push([m.allocPages(gfp, order), order, gfp]);
    }
    for (const [pfn, order] of want) m.freePages(pfn, order);
    const obj = m.kmalloc(100, GFP.KERNEL, 'test_site+0x1/0x2');
    m.kfree(obj, 'test_site+0x3/0x4');
    const { recs, stats } = await all(Readable.from([m.trace.text()]));
    expect(stats.malformed).toBe(0);
    const allocs = recs.filter((r) => r.event === 'mm_page_alloc');
    const ok = allocs.filter((r) => !r.failed).map((r) => [r.pfn, r.order, r.gfp]);
    // The kmalloc after them may take a page for a new slab: compare the allocations made above.
    expect(ok.slice(0, want.length)).toEqual(want);
    expect(allocs.some((r) => r.failed)).toBe(false);
    expect(recs.filter((r) => r.event === 'mm_page_free').map((r) => [r.pfn, r.order])).toEqual(want.map(([p, o]) => [p, o]));
    const km = recs.find((r) => r.event === 'kmalloc')!;
    const kf = recs.find((r) => r.event === 'kfree')!;
    expect(km).toMatchObject({ callSite: 'test_site+0x1/0x2', bytesReq: 100, bytesAlloc: 128, gfp: GFP.KERNEL });
    expect(kf.ptr).toBe(km.ptr);
    expect(km.ptr).not.toBeNull();
  });
  it('reads back a failed allocation', async () => {
    const m = Machine.boot({ mem: '32M' });
    m.trace.enable(['mm_page_alloc']);
    let n = 0;
    while (m.allocPages(GFP.KERNEL | GFP.NOWARN, 6) !== NO_PAGE) n++;
    const { recs } = await all(Readable.from([m.trace.text()]));
    expect(recs.filter((r) => !r.failed)).toHaveLength(n);
    expect(recs.at(-1)).toMatchObject({ failed: true, pfn: -1, order: 6, gfp: GFP.KERNEL | GFP.NOWARN });
  });
});
