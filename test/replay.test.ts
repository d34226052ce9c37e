/**
 * trace/replay.ts and `mmlab replay`: the committed real captures replay under every --layer, count their
 * unmatched frees and are deterministic; the model's own trace replays on a fresh machine of the same config
 * to the same buddy state and counters; the CLI's JSON, compare table, capture directories and errors.
 */
import { cpSync, createReadStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/harness.js';
import { modelTrace, REPLAY_EVENTS } from '../bench/replay.js';
import { main } from '../src/cli/main.js';
import { GFP } from '../src/gfp.js';
import { Machine } from '../src/machine.js';
import { NO_PAGE } from '../src/mm/page.js';
import { Timeline } from '../src/report/timeline.js';
import { parseTrace } from '../src/trace/parse.js';
import { impliedMemBytes, isSlabPage, Replayer, replayTrace, tracePfnEnd, type ReplayLayer, type ReplayResult } from '../src/trace/replay.js';
import { TraceParser } from '../src/trace/parse.js';
import type { TraceRecord } from '../src/trace/parse_fields.js';

const FIX = new URL('./fixtures/', import.meta.url).pathname;
const REAL = ['real/page-alloc.txt', 'real/page-alloc.pipe.txt', 'real/perf-script.txt', 'real/slab.txt', 'real/vmalloc.txt', 'traces/slab.txt.gz', 'traces/tgid.txt'];
const LAYERS: ReplayLayer[] = ['pages', 'slab', 'all'];

async function replayFile(file: string, layer: ReplayLayer): Promise<ReplayResult> {
  const path = join(FIX, file);
  const mem = impliedMemBytes(await tracePfnEnd(parseTrace(createReadStream(path))));
  const m = Machine.boot({ mem, nrCpus: 2, strict: true });
  return replayTrace(m, parseTrace(createReadStream(path)), { layer, timeline: new Timeline(), sampleEvery: 50 });
}

describe('replay of the real captures', () => {
  for (const file of REAL) {
    for (const layer of LAYERS) {
      it(`${file} --layer ${layer}: completes, counts, and replays the same twice`, async () => {
        const a = await replayFile(file, layer);
        const b = await replayFile(file, layer);
        expect(b).toEqual(a);
        expect(a.records).toBeGreaterThan(0);
        const handled = (o: Record<string, number>): number => Object.values(o).reduce((x, y) => x + y, 0);
        expect(handled(a.replayed) + handled(a.countedOnly) + handled(a.ignored)).toBe(a.records);
        expect(a.timeline!.length).toBeGreaterThan(0);
      });
    }
  }

  it('reports the frees of what was allocated before the capture', async () => {
    const pages = await replayFile('real/page-alloc.txt', 'pages');
    // 128 of the 128 frees are of pfns this excerpt never allocated (see test/fixtures/real/README.md).
    expect(pages.pages.unmatchedFrees).toBe(91 + 37);
    expect(pages.pages.allocs.reduce((a, b) => a + b, 0)).toBe(81);
    expect(pages.neverFreed).toBe(81);
    const slab = await replayFile('real/slab.txt', 'slab');
    expect(slab.slab.unmatchedFrees).toBeGreaterThan(0);
    expect(slab.slab.kmalloc).toBe(31);
    expect(slab.slab.kmemCacheAlloc).toBe(151);
    // kfree(NULL) lines (ptr=0000000000000000) are counted, not replayed.
    expect(slab.slab.nullFrees).toBe(2);
    expect(slab.slab.unmatchedFrees + slab.slab.kfree + slab.slab.kmemCacheFree + slab.slab.nullFrees).toBe(80 + 38);
    expect(slab.ignored).toEqual({});
    expect(slab.slab.cachesCreated).toBeGreaterThan(0);
  });

  it('--layer all skips the slab pages of the real kernel and keeps the page cache', async () => {
    const all = await replayFile('real/page-alloc.txt', 'all');
    const pages = await replayFile('real/page-alloc.txt', 'pages');
    expect(all.skipped.slabPages).toBeGreaterThan(0);
    expect(all.pages.allocs.reduce((a, b) => a + b, 0) + all.skipped.slabPages).toBe(pages.pages.allocs.reduce((a, b) => a + b, 0));
    expect(isSlabPage(GFP.KERNEL | GFP.RECLAIMABLE | GFP.NOWARN | GFP.NORETRY | GFP.COMP, 0)).toBe(true);
    expect(isSlabPage(GFP.ATOMIC | GFP.NOWARN | GFP.NORETRY | GFP.COMP, 3)).toBe(true);
    expect(isSlabPage(GFP.HIGHUSER_MOVABLE | GFP.WRITE | GFP.NOWARN | GFP.NORETRY | GFP.COMP, 3)).toBe(false);
    expect(isSlabPage(GFP.KERNEL | GFP.NOWARN | GFP.NORETRY, 2)).toBe(false);
    expect(isSlabPage(GFP.KERNEL | GFP.COMP, 3)).toBe(false);
  });

  it('takes tasks, CPUs and interrupt context from the envelope', async () => {
    const text = [
      '  <idle>-0  [001] ..s1.  1.000000: kmalloc: call_site=a+0x1/0x2 ptr=00000000aaaaaaaa bytes_req=64 bytes_alloc=64 gfp_flags=GFP_ATOMIC',
      '  <idle>-0  [001] d.h1.  1.000001: mm_page_alloc: page=0000000011111111 pfn=0x100 order=0 migratetype=0 gfp_flags=GFP_ATOMIC',
      '  bash-42   [000] .....  1.000002: mm_page_alloc: page=0000000011111112 pfn=0x200 order=2 migratetype=0 gfp_flags=GFP_KERNEL',
      '  bash-42   [000] .....  1.010002: mm_page_free: page=0000000011111112 pfn=0x200 order=2',
      '  bash-42   [000] .....  1.010003: kfree: call_site=b+0x1/0x2 ptr=00000000aaaaaaaa',
    ].join('\n');
    const m = Machine.boot({ mem: '64M', nrCpus: 2, strict: true });
    const seen: string[] = [];
    const origIrq = m.inIrq.bind(m);
    m.inIrq = ((fn: () => unknown, cpu?: number) => origIrq(() => {
      seen.push(`irq ${m.current.comm} cpu${cpu}`);
      return fn();
    }, cpu)) as typeof m.inIrq;
    const r = await replayTrace(m, parseTrace(Readable.from([text])), { layer: 'all' });
    expect(seen).toEqual(['irq <idle> cpu1']);
    expect(m.sched.allTasks().map((t) => t.comm)).toEqual(expect.arrayContaining(['<idle>', 'bash']));
    expect(r.replayed).toEqual({ kfree: 1, kmalloc: 1, mm_page_alloc: 2, mm_page_free: 1 });
    expect(r.pages.frees[2]).toBe(1);
    expect(r.slab.kfree).toBe(1);
    expect(r.neverFreed).toBe(1);
    // 10 ms of trace time passed: the clock follows, in steps of at least 1 ms (the model's own costs add a little).
    expect(r.model.ns).toBeGreaterThanOrEqual(10_000_000);
    expect(r.model.ns).toBeLessThan(11_000_000);
  });

  it('counts the real kernel\'s failures and the model\'s, and splits pages freed page by page', async () => {
    const text = [
      'a-1 [000] ..... 1.0: mm_page_alloc: page=0000000000000000 pfn=0 order=4 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: kmalloc: call_site=x+0x1/0x2 ptr=0000000000000000 bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x1000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x2000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x3000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x4000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x5000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x6000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x7000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x8000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x9000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xa000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xb000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xc000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xd000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xe000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0xf000 order=10 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN',
      'a-1 [000] ..... 1.0: mm_page_free: page=00000000deadbeef pfn=0x3000 order=10',
      'a-1 [000] ..... 1.0: mm_page_alloc: page=00000000deadbeef pfn=0x40 order=2 migratetype=0 gfp_flags=GFP_KERNEL',
      'a-1 [000] ..... 1.0: mm_page_free: page=00000000deadbeef pfn=0x40 order=0',
      'a-1 [000] ..... 1.0: mm_page_free: page=00000000deadbeef pfn=0x41 order=0',
      'a-1 [000] ..... 1.0: mm_page_free: page=00000000deadbeef pfn=0x42 order=0',
      'a-1 [000] ..... 1.0: mm_page_free: page=00000000deadbeef pfn=0x43 order=0',
    ].join('\n');
    // 32 MiB of RAM: fewer free order-10 blocks than the trace takes.
    const m = Machine.boot({ mem: '32M', nrCpus: 1, strict: true });
    const r = await replayTrace(m, parseTrace(Readable.from([text])), { layer: 'pages' });
    expect(r.pages.traceFailures[4]).toBe(1);
    expect(r.slab.traceFailures).toBe(0); // pages layer: the kmalloc is ignored
    expect(r.ignored).toEqual({ kmalloc: 1 });
    expect(r.pages.modelFailures[10]).toBeGreaterThan(0);
    expect(r.model.allocFailures[10]).toBe(r.pages.modelFailures[10]);
    expect(r.pages.splitFrees).toBe(1);
    expect(r.pages.frees[0]).toBe(4);
    expect(r.pages.unmatchedFrees).toBe(0);
  });
});

/** A small deterministic workload on the model: page allocations, kmalloc (small and large), kfree. */
function workload(m: Machine): void {
  let x = 12345;
  const rnd = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const pages: Array<[number, number]> = [];
  const objs: number[] = [];
  const gfps = [GFP.KERNEL, GFP.HIGHUSER_MOVABLE, GFP.KERNEL | GFP.COMP, GFP.ATOMIC, GFP.KERNEL | GFP.RECLAIMABLE];
  for (let i = 0; i < 3000; i++) {
    const op = rnd(10);
    if (op < 3) {
      const order = rnd(4);
      const pfn = m.allocPages(gfps[rnd(gfps.length)] | GFP.NOWARN, order);
      if (pfn !== NO_PAGE) pages.push([pfn, order]);
    } else if (op < 4 && pages.length > 0) {
      const [pfn, order] = pages.splice(rnd(pages.length), 1)[0];
      m.freePages(pfn, order);
    } else if (op < 8) {
      const size = rnd(10) === 0 ? 9000 + rnd(20000) : 8 + rnd(2048);
      const obj = m.kmalloc(size, rnd(3) === 0 ? GFP.KERNEL | GFP.ACCOUNT : GFP.KERNEL, 'workload+0x1/0x2');
      if (obj !== 0) objs.push(obj);
    } else if (objs.length > 0) {
      m.kfree(objs.splice(rnd(objs.length), 1)[0], 'workload+0x3/0x4');
    }
    if (i % 500 === 499) m.tick(5_000_000);
  }
}

const CFG = { mem: '128M', nrCpus: 2, seed: 7, strict: true } as const;

function state(m: Machine): unknown {
  return {
    nrFree: m.zones.map((z) => Array.from(z.nrFree)),
    freePages: m.zones.map((z) => z.freePages),
    allocRequests: Array.from(m.stats.allocRequests),
    allocFailures: Array.from(m.stats.allocFailures),
  };
}

describe('a 200,000-event trace', () => {
  it('replays under every --layer, deterministically, on a strict machine', () => {
    const lines = modelTrace();
    expect(lines).toHaveLength(REPLAY_EVENTS);
    const run = (layer: ReplayLayer): ReplayResult => {
      const m = Machine.boot({ mem: '1G', nrCpus: 2, strict: true });
      const rp = new Replayer(m, { layer });
      const p = new TraceParser();
      for (const l of lines) {
        const r = p.parseLine(l);
        if (r !== null) rp.step(r);
      }
      return rp.finish();
    };
    for (const layer of LAYERS) {
      const a = run(layer);
      expect(a.records).toBe(REPLAY_EVENTS);
      expect(run(layer)).toEqual(a);
      // The trace starts when tracing was enabled: every free it holds is of an allocation it holds.
      expect(a.unmatchedFrees).toBe(0);
      expect(a.neverFreed).toBeGreaterThan(0);
      expect(a.pages.lostFrees + a.slab.lostFrees).toBe(0);
      expect(a.pages.modelFailures.every((n) => n === 0) && a.slab.modelFailures === 0).toBe(true);
    }
  }, 60_000);
});

describe('slab objects by ptrKey', () => {
  // SlabReplay keys objects by the parser's ptrKey in a hash table, and by the pointer's text when a record has
  // none (-1, or a record built by hand): both must pair allocations and frees alike, to the same model state.
  const variants = (recs: TraceRecord[]): Array<[string, TraceRecord[]]> => [
    ['ptrKey', recs],
    ['no ptrKey', recs.map((r) => {
      const c = { ...r };
      delete c.ptrKey;
      return c;
    })],
    ['ptrKey -1', recs.map((r) => (r.ptrKey === undefined ? r : { ...r, ptrKey: -1 }))],
  ];
  const run = (recs: TraceRecord[], layer: ReplayLayer, mem: number): { r: ReplayResult; slabinfo: string; meminfo: string } => {
    const m = Machine.boot({ mem, nrCpus: 2, strict: true });
    const rp = new Replayer(m, { layer });
    for (const rec of recs) rp.step(rec);
    return { r: rp.finish(), slabinfo: m.proc('slabinfo'), meminfo: m.proc('meminfo') };
  };

  for (const file of ['traces/slab.txt.gz', 'traces/tgid.txt', 'captures/ls.txt.gz', 'captures/net.txt.gz']) {
    it(`${file}: the same result and slab state with ptrKey, without it, and with -1`, async () => {
      const recs: TraceRecord[] = [];
      for await (const r of parseTrace(createReadStream(join(FIX, file)))) recs.push(r);
      expect(recs.some((r) => r.ptrKey !== undefined && r.ptrKey > 0)).toBe(true);
      const mem = impliedMemBytes(await tracePfnEnd(recs));
      for (const layer of ['slab', 'all'] as const) {
        const [[, keyed], ...others] = variants(recs);
        const a = run(keyed, layer, mem);
        for (const [name, v] of others) expect(run(v, layer, mem), `${layer}, ${name}`).toEqual(a);
      }
    });
  }

  it('grows its table past thousands of live objects and finds each again after deletions', () => {
    const rnd = mulberry32(5);
    // Direct-map addresses 64 bytes apart (their low bits alike) and hashed %p values, never NULL.
    const ptrs: string[] = [];
    for (let i = 1; i <= 12_000; i++) {
      ptrs.push(i % 2 === 0 ? 'ffff8880' + (0x1000000 + i * 64).toString(16).padStart(8, '0') : (Math.imul(i, 0x9e3779b1) >>> 0).toString(16).padStart(16, '0'));
    }
    const lines: string[] = [];
    const live = new Map<string, boolean>(); // pointer -> from the named cache
    const want = { kmalloc: 0, kmemCacheAlloc: 0, kfree: 0, kmemCacheFree: 0, lostFrees: 0, unmatchedFrees: 0 };
    const alloc = (p: string): void => {
      const cached = rnd() % 3 === 0;
      const old = live.get(p);
      if (old !== undefined) {
        want.lostFrees++;
        if (old) want.kmemCacheFree++;
        else want.kfree++;
      }
      live.set(p, cached);
      if (cached) {
        want.kmemCacheAlloc++;
        lines.push(`t-7 [000] ..... 2.0: kmem_cache_alloc: call_site=f+0x1/0x2 ptr=${p} name=test_cache bytes_req=96 bytes_alloc=96 gfp_flags=GFP_KERNEL node=-1 accounted=false`);
      } else {
        want.kmalloc++;
        lines.push(`t-7 [000] ..... 2.0: kmalloc: call_site=f+0x1/0x2 ptr=${p} bytes_req=40 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false`);
      }
    };
    const free = (p: string): void => {
      const old = live.get(p);
      if (old === undefined) want.unmatchedFrees++;
      else if (old) want.kmemCacheFree++;
      else want.kfree++;
      live.delete(p);
      lines.push(old === true ? `t-7 [000] ..... 2.0: kmem_cache_free: call_site=g+0x1/0x2 ptr=${p} name=test_cache` : `t-7 [000] ..... 2.0: kfree: call_site=g+0x1/0x2 ptr=${p}`);
    };
    for (let i = 0; i < 6000; i++) alloc(ptrs[i]);
    let peak = 0;
    for (let i = 0; i < 40_000; i++) {
      const r = rnd() % 100;
      if (r < 40) free(ptrs[rnd() % 6000]); // mostly live
      else if (r < 90) alloc(ptrs[rnd() % ptrs.length]); // sometimes one still live: a lost free
      else free(ptrs[6000 + (rnd() % 6000)]); // sometimes one never allocated: unmatched
      peak = Math.max(peak, live.size);
    }
    const p = new TraceParser();
    const recs = lines.map((l) => p.parseLine(l)!);
    const a = run(recs, 'slab', 256 << 20);
    expect(a.r.slab).toMatchObject({ ...want, modelFailures: 0, neverFreed: live.size });
    expect(a.r.slab.lostFrees).toBeGreaterThan(0);
    expect(a.r.slab.unmatchedFrees).toBeGreaterThan(0);
    expect(peak).toBeGreaterThan(6000);
    expect(live.size).toBeGreaterThan(3000);
    expect(run(variants(recs)[1][1], 'slab', 256 << 20)).toEqual(a);
  });
});

describe('round trip: the model\'s own trace', () => {
  async function roundTrip(layer: ReplayLayer): Promise<{ a: Machine; b: Machine; r: ReplayResult; text: string }> {
    const a = Machine.boot(CFG);
    a.trace.enable(['mm_page_alloc', 'mm_page_free', 'mm_page_free_batched', 'kmalloc', 'kfree', 'kmem_cache_alloc', 'kmem_cache_free']);
    workload(a);
    const text = a.trace.text();
    const b = Machine.boot(CFG);
    const r = await replayTrace(b, parseTrace(Readable.from([text])), { layer });
    return { a, b, r, text };
  }
  const count = (text: string, re: RegExp): number => text.split('\n').filter((l) => re.test(l)).length;

  it('--layer pages and --layer all end in the same buddy state, with the same requests by order', async () => {
    for (const layer of ['pages', 'all'] as const) {
      const { a, b, r, text } = await roundTrip(layer);
      // Same config, same sequence of allocPages calls with the same gfp, order and CPU: the same pfns, so the
      // same free lists per zone and order, the same requests and failures by order.
      expect(state(b)).toEqual(state(a));
      expect(r.unmatchedFrees).toBe(0);
      expect(r.pages.lostFrees + r.slab.lostFrees).toBe(0);
      expect(r.pages.modelFailures).toEqual(r.pages.traceFailures.map(() => 0));
      const nAlloc = count(text, / mm_page_alloc: /);
      if (layer === 'pages') {
        expect(r.pages.allocs.reduce((x, y) => x + y, 0)).toBe(nAlloc);
        expect(Array.from(b.stats.allocRequests)).toEqual(r.pages.allocs);
      } else {
        // Every model slab page was recognised by rule 1 or 2, and every kmalloc and kfree was replayed.
        expect(r.pages.allocs.reduce((x, y) => x + y, 0) + r.skipped.slabPages + r.skipped.largeKmalloc).toBe(nAlloc);
        expect(r.skipped.largeKmalloc).toBeGreaterThan(0);
        expect(r.slab.kmalloc).toBe(count(text, / kmalloc: /));
        expect(r.slab.kfree).toBe(count(text, / kfree: /));
        expect(r.slab.neverFreed).toBe(count(text, / kmalloc: /) - count(text, / kfree: /));
        expect(b.slab.largePages).toBe(a.slab.largePages);
        const slabs = (m: Machine): unknown => m.kmemCaches().map((s) => [s.name, s.nrSlabs]);
        expect(slabs(b)).toEqual(slabs(a));
      }
    }
  });

  it('--layer slab makes the same kmalloc and kfree calls', async () => {
    const { a, b, r, text } = await roundTrip('slab');
    expect(r.slab.kmalloc).toBe(count(text, / kmalloc: /));
    expect(r.slab.kfree).toBe(count(text, / kfree: /));
    expect(r.unmatchedFrees).toBe(0);
    expect(r.slab.modelFailures).toBe(0);
    expect(b.slab.largePages).toBe(a.slab.largePages);
    const objects = (m: Machine): unknown => m.kmemCaches().map((s) => [s.name, s.nrSlabs]);
    expect(objects(b)).toEqual(objects(a));
  });
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

async function mmlab(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}

describe('mmlab replay', () => {
  it('--json prints one document with the trace, machine and runs', async () => {
    const r = await mmlab('replay', join(FIX, 'real/page-alloc.txt'), '--json', '--layer', 'pages');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(Object.keys(doc)).toEqual(['trace', 'machine', 'layer', 'runs']);
    expect(doc.trace.parse.records).toBe(300);
    expect(doc.machine.mem).toBe(8 * 2 ** 30); // pfns up to 0x14xxxx: 5.2 GiB rounded up
    expect(doc.machine.nrCpus).toBe(2);
    expect(doc.runs).toHaveLength(1);
    expect(doc.runs[0].result.pages.unmatchedFrees).toBe(128);
    expect(Object.keys(doc.runs[0].result)).toEqual(expect.arrayContaining(['replayed', 'countedOnly', 'ignored', 'pages', 'slab', 'unmatchedFrees', 'neverFreed', 'model']));
  });

  it('prints a summary', async () => {
    const r = await mmlab('replay', join(FIX, 'real/slab.txt'), '--layer', 'slab', '--mem', '1G');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--layer slab, 1024M, 2 CPUs/);
    expect(r.out).toMatch(/^slab: kmalloc 31, kmem_cache_alloc 151 /m);
    expect(r.out).toMatch(/unmatched frees \d+/);
  });

  it('--compare prints one row per policy', async () => {
    const r = await mmlab('replay', join(FIX, 'real/page-alloc.txt'), '--compare', 'fallback=none,fallback=vcompound,fallback=always+compaction=false');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    const head = lines.findIndex((l) => l.startsWith('policy '));
    expect(lines.slice(head + 2).map((l) => l.split(/\s{2,}/)[0])).toEqual(['fallback=none', 'fallback=vcompound', 'fallback=always+compaction=false']);
    const json = JSON.parse((await mmlab('replay', join(FIX, 'real/page-alloc.txt'), '--compare', 'fallback=none,fallback=vcompound', '--json')).out);
    expect(json.runs.map((x: { policy: { fallback: string } }) => x.policy.fallback)).toEqual(['none', 'vcompound']);
    // The memory overhead column: the slab layer's pages appear once slab events are replayed.
    const slab = await mmlab('replay', join(FIX, 'real/slab.txt'), '--layer', 'slab', '--compare', 'fallback=none,fallback=vcompound');
    expect(slab.out).toMatch(/pgtable\/slab pages/);
    const slabJson = JSON.parse((await mmlab('replay', join(FIX, 'real/slab.txt'), '--layer', 'slab', '--json')).out);
    expect(slabJson.runs[0].result.model.slabPages).toBeGreaterThan(0);
    expect(slab.out).toMatch(new RegExp(`^fallback=none .* 0/${slabJson.runs[0].result.model.slabPages} `, 'm'));
  });

  it('reads a capture directory: trace.txt.gz, formats/ and kernel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-replay-'));
    writeFileSync(join(dir, 'trace.txt.gz'), gzipSync(readFileSync(join(FIX, 'real/slab.txt'))));
    cpSync(join(FIX, 'real/formats'), join(dir, 'formats'), { recursive: true });
    writeFileSync(join(dir, 'kernel'), '6.18.44-fc-v782\n');
    const r = await mmlab('replay', dir, '--json', '--out', join(dir, 'out'));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.trace).toMatchObject({ file: join(dir, 'trace.txt.gz'), kernel: '6.18.44-fc-v782', formats: join(dir, 'formats') });
    expect(doc.runs[0].result.slab.kmemCacheAlloc).toBe(151);
    const written = JSON.parse(readFileSync(join(dir, 'out', 'result.json'), 'utf8'));
    expect(written.runs[0].result.timeline.length).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'out', 'proc', 'buddyinfo'), 'utf8')).toMatch(/^Node 0, zone/m);
  });

  it('a malformed line: the parser\'s message and exit status 1; --lenient skips and counts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-replay-'));
    const file = join(dir, 'bad.txt');
    writeFileSync(file, [
      '  a-1 [000] ..... 1.000000: mm_page_alloc: page=0000000011111111 pfn=0x100 order=0 migratetype=0 gfp_flags=GFP_KERNEL',
      '  a-1 [000] ..... 1.000001: mm_page_alloc: page=0000000011111111 pfn=zz order=0 migratetype=0 gfp_flags=GFP_KERNEL',
    ].join('\n') + '\n');
    const r = await mmlab('replay', file);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`mmlab: ${file}:2: mm_page_alloc: field 'pfn': expected a number, got 'zz'\n`);
    expect(r.out).toBe('');
    const l = await mmlab('replay', file, '--lenient', '--json');
    expect(l.code).toBe(0);
    expect(JSON.parse(l.out).trace.parse.malformed).toBe(1);
  });

  it('usage errors exit 2', async () => {
    expect((await mmlab('replay', '/nonexistent/trace')).code).toBe(2);
    const bad = await mmlab('replay', join(FIX, 'real/slab.txt'), '--compare', 'fallback=bogus');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/fallback: expected one of none, vcompound, always, got 'bogus'/);
    expect((await mmlab('replay', join(FIX, 'real/slab.txt'), '--layer', 'both')).code).toBe(2);
    expect((await mmlab('replay', join(FIX, 'real/slab.txt'), '--mem', 'lots')).code).toBe(2);
  });
});
