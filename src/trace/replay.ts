/**
 * Replays a parsed kernel trace (trace/parse.ts) on a booted Machine: the trace's page allocations
 * (mm_page_alloc / mm_page_free / mm_page_free_batched, mm/page_alloc.c) and slab allocations
 * (replay_slab.ts) are made again, with the trace's gfp and order, in the trace's task, CPU and interrupt
 * context, while the trace's timestamps drive the model clock so that kswapd, kcompactd and the lazy
 * purges run as time passes. Trace pages are keyed by pfn, trace objects by pointer (the parser's ptrKey,
 * else the text), and mapped to the model's own allocations: frees of what the trace never allocated
 * (allocated before the capture began) are counted as unmatched and not replayed; what is never freed is
 * counted at the end.
 *
 * Layers: `pages` replays page events only (the real kernel's slab pages included, as page allocations);
 * `slab` replays slab events only (the model's SLUB takes its own slab pages); `all` replays both, and then
 * must not replay the real kernel's slab pages a second time. The rule for `all`:
 *   1. a page allocation whose gfp has __GFP_NOWARN and __GFP_NORETRY, not __GFP_MOVABLE, and __GFP_COMP
 *      unless its order is 0, is taken for a slab page and skipped: allocate_slab() (mm/slub.c) adds
 *      NOWARN|NORETRY to its first try, and __GFP_COMP (recent kernels on every slab, the model only above
 *      order 0); slab caches never pass __GFP_MOVABLE, while the other users of that mask (large page-cache
 *      folios, readahead) are movable. A slab page taken at the minimum order after a failed first try
 *      (the caller's flags only) is not recognised and is replayed twice;
 *   2. a large kmalloc (bytes_alloc > KMALLOC_MAX_CACHE_SIZE) is served by the page allocator with
 *      __GFP_COMP and traced as mm_page_alloc right before its kmalloc on the same CPU: a non-movable
 *      __GFP_COMP allocation above order 0 is held back until the CPU's next record; if that is a large
 *      kmalloc of the same order the page event is skipped, otherwise it is replayed then (records of
 *      other CPUs in between go first: a reordering across CPUs only).
 * A skipped page's later free is skipped too. Both are counted (`skipped.slabPages`, `skipped.largeKmalloc`).
 *
 * Tasks: one model task per trace pid (pid 0: one per CPU), made current by a context switch when the record's
 * task changes; `h`/`s` in the irq-flags column run the call inside m.inIrq / m.inSoftirq on the record's CPU.
 *
 * Departures: one NUMA node; a free of a lower order than allocated (split_page, alloc_pages_exact) splits
 * the model's block and frees order-0 pages; the clock moves in steps of at least `tickNs` (1 ms) of trace
 * time, not at every record, so that the daemons are not run a million times a second; no Math.random and
 * no wall clock, so the same input gives the same result.
 */
import type { Machine } from '../machine.js';
import { GFP } from '../gfp.js';
import { NO_PAGE, NR_PAGE_ORDERS, PAGE_SIZE } from '../mm/page.js';
import type { Task } from '../mm/sched.js';
import { fragmentationIndex, unusableFreeIndex } from '../mm/vmstat.js';
import { KMALLOC_MAX_CACHE_SIZE } from '../mm/slab_common.js';
import type { Timeline, TimelineSample } from '../report/timeline.js';
import { copyRecord, type TraceRecord } from './parse_fields.js';
import { forEachRecord } from './parse.js';
import { SlabReplay, type SlabReplayCounts } from './replay_slab.js';

export type ReplayLayer = 'pages' | 'slab' | 'all';
export const REPLAY_LAYERS: readonly ReplayLayer[] = ['pages', 'slab', 'all'];

export interface ReplayOptions {
  layer: ReplayLayer;
  timeline?: Timeline;
  /** Called every `progressEvery` records (default 4096) and at the end with the records read so far. */
  onProgress?: (events: number) => void;
  progressEvery?: number;
  /** Records between timeline samples (default 1000). */
  sampleEvery?: number;
  /** The least trace time, ns, the model clock is moved by (default 1 ms). */
  tickNs?: number;
}

export interface ReplayResult {
  layer: ReplayLayer;
  /**
   * Records read, and by event name: replayed (the model was called), counted only (the layer's events that
   * need no call: trace failures, unmatched frees, skipped slab pages, kfree(NULL)), and ignored (another
   * layer's or an event the replay does not use: mm_page_pcpu_drain, vmalloc, ...).
   */
  records: number;
  replayed: Record<string, number>;
  countedOnly: Record<string, number>;
  ignored: Record<string, number>;
  skipped: { slabPages: number; largeKmalloc: number; freesOfSkipped: number };
  pages: {
    /** Replayed allocations and frees by order. */
    allocs: number[];
    frees: number[];
    /** Allocations that failed on the model, by order. */
    modelFailures: number[];
    /** mm_page_alloc with a NULL page in the trace: failures of the real kernel, by order. */
    traceFailures: number[];
    unmatchedFrees: number;
    /** Frees of pages whose allocation failed on the model. */
    freesOfFailed: number;
    /** A pfn allocated again while still live here (the trace lost its free). */
    lostFrees: number;
    /** Frees at a lower order than allocated (split pages), freed page by page. */
    splitFrees: number;
    /** Frees at a higher order than allocated, freed at the allocated order. */
    orderMismatch: number;
    neverFreed: number;
  };
  slab: SlabReplayCounts;
  /** Totals in one place, for tables. */
  unmatchedFrees: number;
  neverFreed: number;
  /** Model counters over the replay (deltas). */
  model: {
    allocFailures: number[];
    fallbacks: number;
    pgstealKswapd: number;
    pgstealDirect: number;
    pgscanKswapd: number;
    pgscanDirect: number;
    compactStall: number;
    compactSuccess: number;
    compactFail: number;
    compactMigrateScanned: number;
    compactFreeScanned: number;
    /** Model time at the end, ns (the trace's span, in tickNs steps). */
    ns: number;
    /** Free blocks per order at the end, and the fragmentation and unusable-free indices (thousandths) of the largest zone. */
    nrFree: number[];
    extfrag: number[];
    unusable: number[];
    /** Memory overhead at the end: page-table pages (vmalloc and user), and the pages slabs hold. */
    pageTablePages: number;
    slabPages: number;
  };
  timeline?: TimelineSample[];
}

/** A trace page's model page; pfn SKIPPED: not replayed (slab page in `all`), FAILED: failed on the model. */
interface PageObj {
  pfn: number;
  order: number;
  comp: boolean;
}
const SKIPPED = -2;
const FAILED = -3;

const SLAB_FIRST_TRY = GFP.NOWARN | GFP.NORETRY;

/**
 * The replay's event codes: a record's event is classified once (Replayer.code), and its counts are kept in
 * an array by code, not in objects keyed by name. Page events first, then slab events; any other event gets
 * a code from NR_CODES on, in order of first sight.
 */
const PAGE_ALLOC = 0;
const PAGE_FREE = 1;
const PAGE_FREE_BATCHED = 2;
const KMALLOC = 3;
const KMALLOC_NODE = 4;
const CACHE_ALLOC = 5;
const CACHE_ALLOC_NODE = 6;
const KFREE = 7;
const CACHE_FREE = 8;
const NR_CODES = 9;
const CODE_NAMES = [
  'mm_page_alloc', 'mm_page_free', 'mm_page_free_batched', 'kmalloc', 'kmalloc_node', 'kmem_cache_alloc',
  'kmem_cache_alloc_node', 'kfree', 'kmem_cache_free',
];
/** Where a code's counts are: counts[code * 3 + REPLAYED | COUNTED_ONLY | IGNORED]. */
const REPLAYED = 0;
const COUNTED_ONLY = 1;
const IGNORED = 2;

/** Rule 1 of `--layer all` (see the header): allocate_slab()'s first try. */
export function isSlabPage(gfp: number, order: number): boolean {
  return (gfp & SLAB_FIRST_TRY) === SLAB_FIRST_TRY && (gfp & GFP.MOVABLE) === 0 && ((gfp & GFP.COMP) !== 0 || order === 0);
}

function orderOfBytes(bytes: number): number {
  let o = 0;
  while (PAGE_SIZE << o < bytes) o++;
  return o;
}

/** Replays `records` on `m`. Deterministic: the result depends only on the machine's config and the records. */
export async function replayTrace(m: Machine, records: AsyncIterable<TraceRecord> | Iterable<TraceRecord>, opts: ReplayOptions): Promise<ReplayResult> {
  const r = new Replayer(m, opts);
  const every = opts.progressEvery ?? 4096;
  const progress = opts.onProgress;
  await forEachRecord(records, progress === undefined ? (rec) => r.step(rec) : (rec) => {
    r.step(rec);
    if (r.records % every === 0) progress(r.records);
  });
  progress?.(r.records);
  return r.finish();
}

/** Replays one record at a time (replayTrace's engine; usable directly for a synchronous loop). */
export class Replayer {
  records = 0;
  /** Per event code: replayed, counted only, ignored (see REPLAYED); the event names by code. */
  private readonly counts: number[] = new Array<number>(NR_CODES * 3).fill(0);
  private readonly names: string[] = CODE_NAMES.slice();
  private readonly otherCodes = new Map<string, number>();
  /** Set by page() and slab(): the record made a model call. */
  private called = false;
  private readonly pages = new Map<number, PageObj>();
  private readonly slab: SlabReplay;
  private readonly tasks = new Map<number, Task>();
  /** task()'s last key and task: consecutive records mostly come from one thread. */
  private lastTaskKey = NaN;
  private lastTask: Task | undefined = undefined; // initialised: every Replayer keeps one shape
  private readonly nrCpus: number;
  private readonly timeline: Timeline | undefined;
  /** The task current when the replay began, made current again at the end. */
  private readonly task0: Task;
  /** Per CPU: a page allocation held back by rule 2 (see the header), or undefined. */
  private readonly held: Array<TraceRecord | undefined>;
  private nrHeld = 0;
  private readonly doPages: boolean;
  private readonly doSlab: boolean;
  private readonly all: boolean;
  private readonly tickNs: number;
  private readonly sampleEvery: number;
  private t0 = -1;
  private ns0: number;
  private readonly p: ReplayResult['pages'];
  private readonly sk = { slabPages: 0, largeKmalloc: 0, freesOfSkipped: 0 };
  private readonly base: ReturnType<typeof counters>;

  constructor(private readonly m: Machine, private readonly opts: ReplayOptions) {
    this.doPages = opts.layer !== 'slab';
    this.doSlab = opts.layer !== 'pages';
    this.all = opts.layer === 'all';
    this.tickNs = opts.tickNs ?? 1_000_000;
    this.sampleEvery = opts.sampleEvery ?? 1000;
    this.slab = new SlabReplay(m);
    this.nrCpus = m.cfg.nrCpus;
    this.timeline = opts.timeline;
    this.held = new Array<TraceRecord | undefined>(m.cfg.nrCpus).fill(undefined);
    this.ns0 = m.clock.ns;
    this.task0 = m.sched.current;
    const z = (): number[] => new Array<number>(NR_PAGE_ORDERS).fill(0);
    this.p = {
      allocs: z(), frees: z(), modelFailures: z(), traceFailures: z(), unmatchedFrees: 0, freesOfFailed: 0,
      lostFrees: 0, splitFrees: 0, orderMismatch: 0, neverFreed: 0,
    };
    this.base = counters(m);
  }

  step(rec: TraceRecord): void {
    this.records++;
    const cpu = rec.cpu >= 0 ? rec.cpu % this.nrCpus : this.m.current.cpu;
    const code = this.code(rec.event);
    if (this.all) this.rule2(rec, code, cpu);
    else this.exec(rec, code, cpu);
    if (this.timeline !== undefined && this.records % this.sampleEvery === 0) this.timeline.sample(this.m, 'replay');
  }

  /** The event's code: one switch (event names are the parser's constants, compared by reference first). */
  private code(ev: string): number {
    switch (ev) {
      case 'kfree': return KFREE;
      case 'kmalloc': return KMALLOC;
      case 'kmem_cache_alloc': return CACHE_ALLOC;
      case 'kmem_cache_free': return CACHE_FREE;
      case 'mm_page_alloc': return PAGE_ALLOC;
      case 'mm_page_free': return PAGE_FREE;
      case 'mm_page_free_batched': return PAGE_FREE_BATCHED;
      case 'kmalloc_node': return KMALLOC_NODE;
      case 'kmem_cache_alloc_node': return CACHE_ALLOC_NODE;
      default: return this.otherCode(ev);
    }
  }

  private otherCode(ev: string): number {
    let c = this.otherCodes.get(ev);
    if (c === undefined) {
      c = this.names.push(ev) - 1;
      this.otherCodes.set(ev, c);
      this.counts.push(0, 0, 0);
    }
    return c;
  }

  /** `--layer all`'s rule 2: hold back what may be a large kmalloc's pages until the CPU's next record. */
  private rule2(rec: TraceRecord, code: number, cpu: number): void {
    if (this.nrHeld > 0) {
      const h = this.held[cpu];
      if (h !== undefined) {
        this.held[cpu] = undefined;
        this.nrHeld--;
        if ((code === KMALLOC || code === KMALLOC_NODE) && (rec.bytesAlloc ?? 0) > KMALLOC_MAX_CACHE_SIZE && rec.ptr != null &&
          orderOfBytes(rec.bytesAlloc ?? 0) === h.order) {
          this.pages.set(h.pfn!, { pfn: SKIPPED, order: h.order ?? 0, comp: true });
          this.sk.largeKmalloc++;
          this.counts[PAGE_ALLOC * 3 + COUNTED_ONLY]++;
        } else this.exec(h, PAGE_ALLOC, cpu);
      }
      if (this.nrHeld > 0 && (code === PAGE_FREE || code === PAGE_FREE_BATCHED)) {
        // Freed on another CPU before its owner's next record: replay the allocation first.
        for (let c = 0; c < this.held.length; c++) {
          const o = this.held[c];
          if (o !== undefined && o.pfn === rec.pfn) {
            this.held[c] = undefined;
            this.nrHeld--;
            this.exec(o, PAGE_ALLOC, c);
          }
        }
      }
    }
    if (code === PAGE_ALLOC && rec.failed !== true && (rec.order ?? 0) > 0) {
      const gfp = rec.gfp ?? 0;
      if ((gfp & GFP.COMP) !== 0 && (gfp & GFP.MOVABLE) === 0 && !isSlabPage(gfp, rec.order ?? 0)) {
        this.held[cpu] = copyRecord(rec); // the parser may reuse `rec` for its next line
        this.nrHeld++;
        return;
      }
    }
    this.exec(rec, code, cpu);
  }

  private exec(rec: TraceRecord, code: number, cpu: number): void {
    if (code <= PAGE_FREE_BATCHED ? !this.doPages : code >= NR_CODES || !this.doSlab) {
      this.counts[code * 3 + IGNORED]++;
      return;
    }
    // execPage() and execSlab() are the same few lines twice: each reads the envelope of its own 3 or 4
    // record shapes (one per event), which V8 keeps polymorphic; one copy for all 7 is megamorphic and slower.
    // Interrupts nest inside the record's task.
    if (code <= PAGE_FREE_BATCHED) this.execPage(rec, code, cpu);
    else this.execSlab(rec, code, cpu);
  }

  private execPage(rec: TraceRecord, code: number, cpu: number): void {
    this.enter(rec.ts, rec.pid, rec.comm, cpu);
    if (rec.inIrq === true) this.m.inIrq(() => this.page(rec, code), cpu);
    else if (rec.inSoftirq === true) this.m.inSoftirq(() => this.page(rec, code), cpu);
    else this.page(rec, code);
    this.counts[code * 3 + (this.called ? REPLAYED : COUNTED_ONLY)]++;
  }

  private execSlab(rec: TraceRecord, code: number, cpu: number): void {
    this.enter(rec.ts, rec.pid, rec.comm, cpu);
    if (rec.inIrq === true) this.m.inIrq(() => (this.called = this.slabEvent(rec, code)), cpu);
    else if (rec.inSoftirq === true) this.m.inSoftirq(() => (this.called = this.slabEvent(rec, code)), cpu);
    else this.called = this.slabEvent(rec, code);
    this.counts[code * 3 + (this.called ? REPLAYED : COUNTED_ONLY)]++;
  }

  /** The clock to the record's time, and its task made current (a context switch only when it changes). */
  private enter(ts: number, pid: number, comm: string, cpu: number): void {
    this.advanceClock(ts);
    this.called = false;
    if (pid >= 0) {
      const t = this.task(pid, comm, cpu);
      if (this.m.sched.current !== t) this.m.sched.switchTo(t);
    }
  }

  private slabEvent(rec: TraceRecord, code: number): boolean {
    switch (code) {
      case KMALLOC:
      case KMALLOC_NODE:
        return this.slab.kmalloc(rec);
      case CACHE_ALLOC:
      case CACHE_ALLOC_NODE:
        return this.slab.kmemCacheAlloc(rec);
      default:
        return this.slab.free(rec);
    }
  }

  private advanceClock(ts: number): void {
    if (ts < 0) return;
    if (this.t0 < 0) this.t0 = ts;
    const target = this.ns0 + (ts - this.t0);
    const now = this.m.clock.ns;
    if (target - now >= this.tickNs) this.m.tick(target - now);
  }

  /**
   * The model task of a trace thread: one per pid (exec changes the comm, not the task), and one idle task
   * per CPU for pid 0 (swapper/N). The model assigns its own pids: the trace's could collide with its own.
   */
  private task(pid: number, comm: string, cpu: number): Task {
    const key = pid === 0 ? -1 - cpu : pid;
    let t = key === this.lastTaskKey ? this.lastTask : this.tasks.get(key);
    if (t === undefined) {
      t = this.m.sched.createTask(comm, cpu);
      this.tasks.set(key, t);
    } else if (t.comm !== comm) t.comm = comm;
    this.lastTaskKey = key;
    this.lastTask = t;
    if (t.cpu !== cpu) this.m.sched.migrate(t, cpu); // tasks migrate
    return t;
  }

  private page(rec: TraceRecord, code: number): void {
    const m = this.m;
    const p = this.p;
    const tpfn = rec.pfn ?? -1;
    if (code === PAGE_ALLOC) {
      const order = rec.order ?? 0;
      if (rec.failed === true || tpfn < 0) {
        p.traceFailures[order]++;
        return;
      }
      const gfp = rec.gfp ?? 0;
      const old = this.pages.get(tpfn);
      if (old !== undefined) {
        p.lostFrees++;
        this.pages.delete(tpfn);
        if (old.pfn >= 0) m.freePages(old.pfn, old.order);
      }
      if (this.all && isSlabPage(gfp, order)) {
        this.sk.slabPages++;
        this.pages.set(tpfn, { pfn: SKIPPED, order, comp: true });
        return;
      }
      this.called = true;
      const pfn = m.allocPages(gfp, order);
      p.allocs[order]++;
      if (pfn === NO_PAGE) {
        p.modelFailures[order]++;
        this.pages.set(tpfn, { pfn: FAILED, order, comp: false });
        return;
      }
      this.pages.set(tpfn, { pfn, order, comp: (gfp & GFP.COMP) !== 0 });
      return;
    }
    const order = code === PAGE_FREE ? rec.order ?? 0 : 0;
    const o = this.pages.get(tpfn);
    if (o === undefined) {
      p.unmatchedFrees++;
      return;
    }
    this.pages.delete(tpfn);
    this.called = o.pfn >= 0;
    if (o.pfn === SKIPPED) {
      this.sk.freesOfSkipped++;
      return;
    }
    if (o.pfn === FAILED) {
      p.freesOfFailed++;
      return;
    }
    if (order < o.order && !o.comp) {
      // split_page(): the rest of the block is freed page by page later, under its own pfns.
      m.splitPage(o.pfn, o.order);
      for (let i = 1; i < 1 << o.order; i++) this.pages.set(tpfn + i, { pfn: o.pfn + i, order: 0, comp: false });
      for (let i = 1; i < 1 << order; i++) {
        this.pages.delete(tpfn + i);
        m.freePages(o.pfn + i, 0);
      }
      m.freePages(o.pfn, 0);
      p.splitFrees++;
      p.frees[0] += 1 << order;
      return;
    }
    if (order !== o.order) p.orderMismatch++;
    m.freePages(o.pfn, o.order);
    p.frees[o.order]++;
  }

  /** One column of the counts by event name: the events counted there, sorted by name. */
  private countsOf(col: number): Record<string, number> {
    const e: Array<[string, number]> = [];
    for (let c = 0; c < this.names.length; c++) if (this.counts[c * 3 + col] > 0) e.push([this.names[c], this.counts[c * 3 + col]]);
    return Object.fromEntries(e.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  finish(): ReplayResult {
    const m = this.m;
    for (let c = 0; c < this.held.length; c++) {
      const h = this.held[c];
      if (h !== undefined) this.exec(h, PAGE_ALLOC, c);
    }
    this.held.fill(undefined);
    this.nrHeld = 0;
    if (m.sched.current !== this.task0) m.sched.switchTo(this.task0);
    this.opts.timeline?.sample(m, 'replay');
    let live = 0;
    for (const o of this.pages.values()) if (o.pfn >= 0) live++;
    this.p.neverFreed = live;
    this.slab.finish();
    const now = counters(m);
    const d = (k: keyof ReturnType<typeof counters>): number => (now[k] as number) - (this.base[k] as number);
    let big = m.zones[0];
    const nrFree = new Array<number>(NR_PAGE_ORDERS).fill(0);
    for (const z of m.zones) {
      if (z.managed > big.managed) big = z;
      for (let o = 0; o < NR_PAGE_ORDERS; o++) nrFree[o] += z.nrFree[o];
    }
    const extfrag: number[] = [];
    const unusable: number[] = [];
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      extfrag.push(fragmentationIndex(big.nrFree, o));
      unusable.push(unusableFreeIndex(big.nrFree, o));
    }
    const sl = this.slab.c;
    return {
      layer: this.opts.layer,
      records: this.records,
      replayed: this.countsOf(REPLAYED),
      countedOnly: this.countsOf(COUNTED_ONLY),
      ignored: this.countsOf(IGNORED),
      skipped: { ...this.sk },
      pages: this.p,
      slab: { ...sl },
      unmatchedFrees: this.p.unmatchedFrees + sl.unmatchedFrees,
      neverFreed: this.p.neverFreed + sl.neverFreed,
      model: {
        allocFailures: now.allocFailures.map((v, i) => v - this.base.allocFailures[i]),
        fallbacks: d('fallbacks'),
        pgstealKswapd: d('pgstealKswapd'),
        pgstealDirect: d('pgstealDirect'),
        pgscanKswapd: d('pgscanKswapd'),
        pgscanDirect: d('pgscanDirect'),
        compactStall: d('compactStall'),
        compactSuccess: d('compactSuccess'),
        compactFail: d('compactFail'),
        compactMigrateScanned: d('compactMigrateScanned'),
        compactFreeScanned: d('compactFreeScanned'),
        ns: m.clock.ns - this.ns0,
        nrFree, extfrag, unusable,
        pageTablePages: m.nrPageTablePages,
        slabPages: m.slub.counters.reclaimablePages + m.slub.counters.unreclaimablePages + m.slab.largePages,
      },
      timeline: this.opts.timeline?.samples,
    };
  }
}

function counters(m: Machine) {
  const e = m.events;
  return {
    allocFailures: Array.from(m.stats.allocFailures),
    fallbacks: m.stats.fallbackClaims + m.stats.fallbackSteals,
    pgstealKswapd: e.pgstealKswapd, pgstealDirect: e.pgstealDirect, pgscanKswapd: e.pgscanKswapd, pgscanDirect: e.pgscanDirect,
    compactStall: e.compactStall, compactSuccess: e.compactSuccess, compactFail: e.compactFail,
    compactMigrateScanned: e.compactMigrateScanned, compactFreeScanned: e.compactFreeScanned,
  };
}


/**
 * The RAM a trace implies: the highest pfn (and its order) it touches, as bytes rounded up to a power of
 * two, at least `min` (256 MiB: a slab-only trace names no pfn, and its objects still need pages).
 */
export function impliedMemBytes(maxPfnEnd: number, min = 256 << 20): number {
  let bytes = min;
  while (bytes < maxPfnEnd * PAGE_SIZE) bytes *= 2;
  return bytes;
}

/** What a first pass over a trace gives: its records, the end (highest pfn + its block) of its page events, its highest CPU. */
export async function traceExtent(records: AsyncIterable<TraceRecord> | Iterable<TraceRecord>): Promise<{ records: number; pfnEnd: number; maxCpu: number }> {
  const x = { records: 0, pfnEnd: 0, maxCpu: 0 };
  await forEachRecord(records, (r) => {
    x.records++;
    if (r.cpu > x.maxCpu) x.maxCpu = r.cpu;
    if (r.pfn !== undefined && r.pfn >= 0 && r.event.startsWith('mm_page')) {
      const e = r.pfn + (1 << (r.order ?? 0));
      if (e > x.pfnEnd) x.pfnEnd = e;
    }
  });
  return x;
}

/** The end of the page events of `records`: a first pass for impliedMemBytes. */
export async function tracePfnEnd(records: AsyncIterable<TraceRecord> | Iterable<TraceRecord>): Promise<number> {
  return (await traceExtent(records)).pfnEnd;
}
