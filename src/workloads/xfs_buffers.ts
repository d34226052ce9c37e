/**
 * The `xfs-buffers` scenario: an XFS-like buffer cache of multi-page directory blocks (seeds/003, Dave Chinner:
 * "vmalloc space on 32 bit systems is extremely limited and it is easy to exhaust with XFS ... the moment you
 * increase the directory block size > block size, that all goes out the window").
 *
 * A kworker reads directory blocks of `dirblksize` bytes into buffers in GFP_NOFS context and maps each one
 * virtually contiguous, in one of three ways:
 * - `vmalloc`: __vmalloc(size, GFP_NOFS), kmem_alloc_large()'s fallback (always taken here), without the
 *   memalloc scope it wrapped around it: the data pages follow NOFS, the page tables only since 5.17
 *   (before, they are GFP_KERNEL: pgtableIgnoredScope);
 * - `vm_map_ram`: alloc_page(GFP_NOFS) per page, then vm_map_ram() inside memalloc_nofs_save(), retried
 *   after vm_unmap_aliases() as _xfs_buf_map_pages() does; freed with vm_unmap_ram() (xfs_buf_free);
 * - `vmap`: the same pages, vmap(VM_MAP) inside the same scope; freed with vunmap().
 * Each step reads one new block (map it, write the block's bytes as the I/O would, read them back and check
 * them), looks up two cached buffers (which gives them back their LRU references, xfs_buf_set_ref), and lets
 * the buffer shrinker (xfs_buftarg_isolate: rotate while b_lru_ref lasts, then free) trim the cache to a
 * target population that grows by GROWTH buffers per step. A run stops at `steps` or at the first buffer
 * that cannot be mapped: vmalloc space exhausted (the kernel's "vmap allocation ... failed" message) or out
 * of memory. `method=all` runs the three on fresh machines booted with the same config and the same seed.
 *
 * It reports per method: buffers live and peak, the failure, vmalloc space busy, lazily freed and free, the
 * free fragments and the largest (fragmentation), purges, vmap blocks, page-table pages, TLB walks per MiB
 * accessed, and the page-table allocations that ignored NOFS.
 *
 * Departures from XFS: buffers are never locked or held across steps; I/O is the write of the block's bytes;
 * an unmappable buffer ends the run (XFS fails the read with -ENOMEM); no readahead (no __GFP_NORETRY).
 */
import { parseSize } from '../config.js';
import { GFP } from '../gfp.js';
import { Machine } from '../machine.js';
import { NO_PAGE, PAGE_SIZE } from '../mm/page.js';
import { VM_ALLOC, VM_MAP } from '../mm/vmalloc.js';
import { Prng } from './prng.js';
import { resolveParams, timelineStride, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

export const XFS_METHODS = ['vmalloc', 'vm_map_ram', 'vmap'] as const;
export type XfsMethod = (typeof XFS_METHODS)[number];

/** XFS directory block sizes that need a multi-page buffer (mkfs.xfs -n size=, 4 KiB pages). */
const MIN_DIRBLKSIZE = 8192;
const MAX_DIRBLKSIZE = 65536;
const DEFAULT_STEPS = 5000;
/** The cache's target population grows by this many buffers per step (one read per step, the rest evicted). */
const GROWTH = 0.4;
/** Cached buffers looked up again per step; the pick is skewed so that some directories stay hot. */
const LOOKUPS_PER_STEP = 2;
const LOOKUP_SKEW = 3;
/** XFS_DIR_BTREE_REF: the LRU references a directory buffer gets on each read or lookup. */
const XFS_DIR_BTREE_REF = 2;
/** alloc_page() flags of xfs_buf_alloc_pages() for a buffer that is not readahead. */
const PAGE_GFP = GFP.NOFS | GFP.NOWARN;
/** _xfs_buf_map_pages(): vm_map_ram() tries three times, with vm_unmap_aliases() between. */
const MAP_TRIES = 3;
/** XFS_DIR3_DATA_MAGIC ('XDD3'), the first word of a v5 directory data block. */
const XFS_DIR3_DATA_MAGIC = 0x58444433;
const SAMPLES = 8;
/** %pS of the callers, for /proc/vmallocinfo. */
const VMALLOC_CALLER = 'kmem_alloc_large+0x6e/0x130 [xfs]';
const VMAP_CALLER = '_xfs_buf_map_pages+0x9b/0x150 [xfs]';

export interface XfsParams {
  dirblksize: number;
  method: XfsMethod | 'all';
}

type FailureKind = 'vmalloc space' | 'out of memory';

export interface XfsMethodReport {
  method: XfsMethod;
  stepsRun: number;
  /** The run went through all its steps. */
  completed: boolean;
  allocated: number;
  freed: number;
  live: number;
  peakLive: number;
  /** Map calls that returned 0 (vm_map_ram's retries included). */
  failedAttempts: number;
  failure: { step: number; kind: FailureKind; message: string } | null;
  liveBytes: number;
  vmalloc: {
    totalBytes: number;
    busyBytes: number;
    lazyBytes: number;
    freeBytes: number;
    freeFragments: number;
    largestFreeBytes: number;
    busyAreas: number;
    purges: number;
    kvaFailures: number;
    vmallocPages: number;
  };
  vmapBlocks: { now: number; allocated: number; freed: number; purged: number };
  pageTables: { now: number; allocated: number };
  tlb: { walks: number; walkLevels: number; bytesAccessed: number; walksPerMiB: number; flushAll: number; flushRange: number };
  pgtableIgnoredScope: number;
  /** The scenario's own count of its buffers against what the vmalloc layer holds. */
  consistent: boolean;
  mismatches: string[];
  overTime: Array<Array<string | number>>;
}

/** Parameter values, checked; throws naming the parameter and what was expected. */
export function parseXfsParams(p: Record<string, string>): XfsParams {
  const text = p.dirblksize ?? String(MAX_DIRBLKSIZE);
  let size = NaN;
  try {
    size = parseSize(text, 'dirblksize');
  } catch {
    // reported below with the range
  }
  if (!(size >= MIN_DIRBLKSIZE && size <= MAX_DIRBLKSIZE && (size & (size - 1)) === 0)) {
    throw new Error(`dirblksize: expected a power of two from ${MIN_DIRBLKSIZE} to ${MAX_DIRBLKSIZE} (an XFS directory block size larger than a page, e.g. 65536 or 64k), got '${text}'`);
  }
  const method = p.method ?? 'all';
  if (method !== 'all' && !(XFS_METHODS as readonly string[]).includes(method)) {
    throw new Error(`method: expected one of ${[...XFS_METHODS, 'all'].join(', ')}, got '${method}'`);
  }
  return { dirblksize: size, method: method as XfsParams['method'] };
}

export const xfsBuffersScenario: Scenario = {
  name: 'xfs-buffers',
  description: 'an XFS-like cache of multi-page directory buffers mapped by vmalloc, vm_map_ram or vmap in NOFS context; vmalloc space exhaustion (i386), fragmentation, page tables, TLB',
  machine: { mem: '1G' },
  defaultSteps: DEFAULT_STEPS,
  params: {
    dirblksize: { default: String(MAX_DIRBLKSIZE), description: `directory block size in bytes, a power of two from ${MIN_DIRBLKSIZE} to ${MAX_DIRBLKSIZE}` },
    method: { default: 'all', description: 'how buffers are mapped: vmalloc, vm_map_ram, vmap, or all (each on a fresh machine)' },
  },
  checkParams(p) {
    parseXfsParams(p);
  },
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const params = parseXfsParams(resolveParams(xfsBuffersScenario, opts.params));
    const steps = opts.steps ?? DEFAULT_STEPS;
    const methods: readonly XfsMethod[] = params.method === 'all' ? XFS_METHODS : [params.method];
    const cfg = opts.machineConfig;
    if (methods.length > 1 && !cfg) {
      throw new Error('xfs-buffers: method=all boots a fresh machine for each method and needs RunOptions.machineConfig (the config the machine was booted with)');
    }
    const total = steps * methods.length;
    const reports = methods.map((method, i) => {
      // Each method after the first gets a machine of its own, so that all start from the same boot.
      const mach = i === 0 ? m : Machine.boot(cfg);
      const progress = opts.progress ? (done: number) => opts.progress!(i * steps + done, total) : undefined;
      return runMethod(mach, method, params.dirblksize, steps, opts.seed, progress, opts.sample && ((mm) => opts.sample!(mm, method)));
    });
    return report(m, params, steps, reports);
  },
};

/** One method's run on machine `m`. */
export function runMethod(m: Machine, method: XfsMethod, size: number, steps: number, seed: number, progress?: (done: number) => void, observe?: (m: Machine) => void): XfsMethodReport {
  const rng = new Prng(seed);
  const nr = size / PAGE_SIZE;
  const v = m.vmallocLayer;
  const startTask = m.sched.current;
  // xfs-buf work runs on an unbound kworker.
  m.sched.switchTo(m.sched.createTask('kworker/u4:2', 0));

  // Buffers by id (ids of freed buffers are reused): address, pages, LRU references.
  const addr: number[] = [];
  const pfns: Int32Array[] = [];
  const lruRef: number[] = [];
  const freeIds: number[] = [];
  // The buffer LRU (list_lru: added once, rotated by the shrinker) as a queue of ids.
  let lru: number[] = [];
  let lruHead = 0;
  // Live ids in any order, for lookups.
  const live: number[] = [];
  const livePos: number[] = [];

  const pattern = new Uint8Array(size);
  const got = new Uint8Array(size);
  const words = new Uint32Array(pattern.buffer);
  const template = new Uint32Array(size / 4);
  for (let i = 0; i < template.length; i++) template[i] = rng.u32();
  const tlb0 = { ...m.tlb.stats };
  const pt0 = m.pgtable.allocated;
  const ignored0 = v.stats.pgtableIgnoredScope;
  const vb0 = { ...m.vmapBlocks.stats };
  const purges0 = v.stats.purges;
  const kvaFail0 = v.stats.failures;
  let allocated = 0;
  let freed = 0;
  let peak = 0;
  let failedAttempts = 0;
  let bytesAccessed = 0;
  let failure: XfsMethodReport['failure'] = null;
  let stepsRun = 0;
  const overTime: Array<Array<string | number>> = [];
  const sampleEvery = Math.max(1, Math.floor(steps / SAMPLES));

  const sample = (step: number) => {
    const s = space(m);
    overTime.push([method, step, live.length, mib(s.busyBytes), mib(s.lazyBytes), human(s.freeBytes), s.freeFragments, human(s.largestFreeBytes), m.pgtable.nrTables]);
  };

  /** Map a new buffer: its address, or 0 with `failure` set. */
  const mapBuffer = (id: number, step: number): number => {
    const kva0 = v.stats.failures;
    const log0 = m.printk.lines.length;
    if (method === 'vmalloc') {
      const a = m.vmallocGfp(size, GFP.NOFS, VMALLOC_CALLER);
      if (a === 0) {
        failedAttempts++;
        failure = failureOf(m, step, v.stats.failures > kva0, log0);
      }
      return a;
    }
    const pages = new Int32Array(nr);
    for (let i = 0; i < nr; i++) {
      const pfn = m.allocPages(PAGE_GFP, 0);
      if (pfn === NO_PAGE) {
        for (let j = 0; j < i; j++) m.freePages(pages[j], 0);
        failure = { step, kind: 'out of memory', message: `alloc_page(GFP_NOFS|__GFP_NOWARN) failed for page ${i} of ${nr}` };
        return 0;
      }
      pages[i] = pfn;
    }
    const list = Array.from(pages);
    const nofs = m.memallocNofsSave();
    let a = 0;
    for (let tries = 0; tries < MAP_TRIES && a === 0; tries++) {
      a = method === 'vm_map_ram' ? m.vmMapRam(list) : m.vmap(list, VM_MAP, VMAP_CALLER);
      if (a !== 0) break;
      failedAttempts++;
      if (method !== 'vm_map_ram') break; // only _xfs_buf_map_pages' vm_map_ram loop retries
      m.vmUnmapAliases();
    }
    m.memallocNofsRestore(nofs);
    if (a === 0) {
      for (let j = 0; j < nr; j++) m.freePages(pages[j], 0);
      failure = failureOf(m, step, v.stats.failures > kva0, log0);
      return 0;
    }
    pfns[id] = pages;
    return a;
  };

  const unmapBuffer = (id: number) => {
    if (method === 'vmalloc') {
      m.vfree(addr[id]);
    } else {
      if (method === 'vm_map_ram') m.vmUnmapRam(addr[id], nr);
      else m.vunmap(addr[id]);
      const pages = pfns[id];
      for (let j = 0; j < nr; j++) m.freePages(pages[j], 0);
    }
    addr[id] = 0;
    const pos = livePos[id];
    const last = live.pop()!;
    if (last !== id) {
      live[pos] = last;
      livePos[last] = pos;
    }
    freeIds.push(id);
    freed++;
  };

  /** xfs_buftarg_isolate() until one buffer is freed: a buffer with references left is rotated. */
  const shrinkOne = () => {
    for (;;) {
      if (lruHead > 4096 && lruHead * 2 > lru.length) {
        lru = lru.slice(lruHead);
        lruHead = 0;
      }
      const id = lru[lruHead++];
      if (lruRef[id] > 0) {
        lruRef[id]--;
        lru.push(id);
        continue;
      }
      unmapBuffer(id);
      return;
    }
  };

  for (let step = 1; step <= steps; step++) {
    if (observe && step % timelineStride(steps) === 0) observe(m);
    const id = freeIds.pop() ?? addr.length;
    const a = mapBuffer(id, step);
    if (a === 0) break;
    stepsRun = step;
    addr[id] = a;
    allocated++;
    // The block's bytes arrive (the read I/O), and the reader checks them: the block number makes them unique.
    fillBlock(words, template, step);
    m.write(a, pattern);
    m.readInto(a, got);
    if (Buffer.compare(got, pattern) !== 0) {
      let at = 0;
      while (got[at] === pattern[at]) at++;
      m.sched.switchTo(startTask);
      throw new Error(`xfs-buffers ${method}: block ${step} mapped at ${m.formatAddr(a)} reads back 0x${got[at].toString(16)} at byte ${at}, 0x${pattern[at].toString(16)} was written`);
    }
    bytesAccessed += 2 * size;
    lruRef[id] = XFS_DIR_BTREE_REF;
    lru.push(id);
    livePos[id] = live.length;
    live.push(id);
    // Cached directories read again: their buffers get their references back.
    for (let k = 0; k < LOOKUPS_PER_STEP; k++) {
      const hit = live[Math.floor(live.length * rng.float() ** LOOKUP_SKEW)];
      lruRef[hit] = XFS_DIR_BTREE_REF;
    }
    const target = Math.max(1, Math.ceil(step * GROWTH));
    while (live.length > target) shrinkOne();
    if (live.length > peak) peak = live.length;
    if (step % sampleEvery === 0 || step === steps) {
      sample(step);
      progress?.(step);
    }
  }
  if (failure && overTime[overTime.length - 1]?.[1] !== stepsRun) sample(stepsRun);
  m.sched.switchTo(startTask);

  // What the vmalloc layer holds must be what the cache holds.
  const mismatches: string[] = [];
  if (method === 'vm_map_ram') {
    if (m.vmapBlocks.mappedPages() !== live.length * nr) mismatches.push(`vm_map_ram maps ${m.vmapBlocks.mappedPages()} pages, the cache holds ${live.length * nr}`);
  } else {
    const flag = method === 'vmalloc' ? VM_ALLOC : VM_MAP;
    const caller = method === 'vmalloc' ? VMALLOC_CALLER : VMAP_CALLER;
    let areas = 0;
    for (const va of v.busy.values()) if (va.vm && va.vm.caller === caller && va.vm.flags & flag && va.vm.pfns.length === nr) areas++;
    if (areas !== live.length) mismatches.push(`${areas} ${method} areas of ${nr} pages busy, the cache holds ${live.length}`);
  }

  const s = space(m);
  const t = m.tlb.stats;
  const walks = t.walks - tlb0.walks;
  return {
    method,
    stepsRun,
    completed: failure === null,
    allocated,
    freed,
    live: live.length,
    peakLive: peak,
    failedAttempts,
    failure,
    liveBytes: live.length * size,
    vmalloc: { ...s, busyAreas: v.busy.size, purges: v.stats.purges - purges0, kvaFailures: v.stats.failures - kvaFail0, vmallocPages: v.nrVmallocPages },
    vmapBlocks: {
      now: m.vmapBlocks.nrBlocks,
      allocated: m.vmapBlocks.stats.blocksAllocated - vb0.blocksAllocated,
      freed: m.vmapBlocks.stats.blocksFreed - vb0.blocksFreed,
      purged: m.vmapBlocks.stats.blocksPurged - vb0.blocksPurged,
    },
    pageTables: { now: m.pgtable.nrTables, allocated: m.pgtable.allocated - pt0 },
    tlb: {
      walks,
      walkLevels: t.walkLevels - tlb0.walkLevels,
      bytesAccessed,
      walksPerMiB: bytesAccessed ? walks / (bytesAccessed / 2 ** 20) : 0,
      flushAll: t.flushAll - tlb0.flushAll,
      flushRange: t.flushRange - tlb0.flushRange,
    },
    pgtableIgnoredScope: v.stats.pgtableIgnoredScope - ignored0,
    consistent: mismatches.length === 0,
    mismatches,
    overTime,
  };
}

/** The vmalloc space as the KVA allocator sees it. */
function space(m: Machine) {
  const v = m.vmallocLayer;
  let busy = 0;
  for (const va of v.busy.values()) busy += va.end - va.start;
  return {
    totalBytes: v.end - v.start,
    busyBytes: busy,
    lazyBytes: v.lazyNr * PAGE_SIZE,
    freeBytes: v.tree.freeBytes,
    freeFragments: v.tree.nrBlocks,
    largestFreeBytes: v.tree.largest(),
  };
}

/**
 * Why a buffer could not be mapped: the KVA allocator failed (the kernel's message says so), or memory did
 * (vmalloc's own message, if it printed one). Only the lines logged since line `from` are searched.
 */
function failureOf(m: Machine, step: number, kva: boolean, from: number): NonNullable<XfsMethodReport['failure']> {
  const key = kva ? 'vmap allocation for size' : 'vmalloc error';
  const lines = m.printk.lines;
  let message = kva ? 'vmap allocation failed' : 'out of memory';
  // The ring buffer may have dropped old lines meanwhile: then the newest few are the attempt's.
  const first = lines.length >= from ? from : Math.max(0, lines.length - 64);
  for (let i = lines.length - 1; i >= first; i--) {
    const at = lines[i].indexOf(key);
    if (at >= 0) {
      message = lines[i].replace(/^\[[^\]]*\] /, '');
      break;
    }
  }
  return { step, kind: kva ? 'vmalloc space' : 'out of memory', message };
}

/**
 * A directory block's bytes: the run's random template, with each page stamped with the block number and its
 * index in the block, so that a stale page, a page of another buffer or a page out of order reads back wrong.
 */
function fillBlock(words: Uint32Array, template: Uint32Array, blkno: number): void {
  words.set(template);
  const perPage = PAGE_SIZE / 4;
  for (let i = 0, page = 0; i < words.length; i += perPage, page++) {
    words[i] = XFS_DIR3_DATA_MAGIC;
    words[i + 1] = blkno;
    words[i + 2] = page;
  }
}

function report(m: Machine, p: XfsParams, steps: number, reports: XfsMethodReport[]): ScenarioResult {
  const i386 = m.cfg.arch.bitsPerLong === 32;
  const spaceText = i386
    ? `${mib(m.vmallocLayer.end - m.vmallocLayer.start)} MiB of vmalloc space (vmalloc=${m.cfg.vmallocSize >> 20}M)`
    : `${(m.vmallocLayer.end - m.vmallocLayer.start) / 2 ** 40} TiB of vmalloc space`;
  const block = `${kib(p.dirblksize)} KiB`;
  const cols = ['', ...reports.map((r) => r.method)];
  const row = (label: string, f: (r: XfsMethodReport) => string | number): Array<string | number> => [label, ...reports.map(f)];
  const byMethod: Table = {
    title: `Buffer cache by method (${block} directory blocks, ${steps} steps)`,
    columns: cols,
    rows: [
      row('steps run', (r) => r.stepsRun),
      row('stopped by', (r) => (r.failure ? `${r.failure.kind} at step ${r.failure.step}` : '-')),
      row('buffers allocated', (r) => r.allocated),
      row('buffers freed', (r) => r.freed),
      row('buffers live at the end', (r) => r.live),
      row('peak live', (r) => r.peakLive),
      row('failed map calls', (r) => r.failedAttempts),
      row('buffer data mapped MiB', (r) => mib(r.liveBytes)),
      row('vmalloc busy MiB', (r) => mib(r.vmalloc.busyBytes)),
      row('lazily freed MiB', (r) => mib(r.vmalloc.lazyBytes)),
      row('vmalloc free', (r) => human(r.vmalloc.freeBytes)),
      row('free fragments', (r) => r.vmalloc.freeFragments),
      row('largest free fragment', (r) => human(r.vmalloc.largestFreeBytes)),
      row('lazy purges', (r) => r.vmalloc.purges),
      row('vmap blocks now/allocated', (r) => `${r.vmapBlocks.now}/${r.vmapBlocks.allocated}`),
      row('page-table pages now/allocated', (r) => `${r.pageTables.now}/${r.pageTables.allocated}`),
      row('TLB walks per MiB accessed', (r) => r.tlb.walksPerMiB.toFixed(1)),
      row('TLB full/range flushes', (r) => `${r.tlb.flushAll}/${r.tlb.flushRange}`),
      row('page tables ignoring NOFS', (r) => r.pgtableIgnoredScope),
    ],
  };
  const overTime: Table = {
    title: 'Over time',
    columns: ['method', 'step', 'live', 'busy MiB', 'lazy MiB', 'free', 'free fragments', 'largest free', 'page tables'],
    rows: reports.flatMap((r) => r.overTime),
  };

  const summary = [
    `${steps} steps on ${m.cfg.arch.arch} with ${(m.totalramPages * 4) >> 10} MiB, kernel ${m.cfg.kernel}, ${spaceText}: a kworker reads ${block} directory blocks into buffers ` +
      `mapped in GFP_NOFS context, writes and checks each block's bytes, looks up ${LOOKUPS_PER_STEP} cached buffers per step, and the buffer shrinker keeps ` +
      `the cache at ${GROWTH} buffers per step` +
      `${reports.length > 1 ? `; each method on a fresh machine of the same config and seed (dmesg and --out show the first, ${reports[0].method})` : ''}.`,
  ];
  for (const r of reports) {
    const used = r.vmalloc.busyBytes;
    const overhead = r.liveBytes ? `${((100 * (used - r.liveBytes)) / r.liveBytes).toFixed(0)}% more than the data mapped` : 'nothing mapped';
    const head = r.failure
      ? `${r.method}: stopped at step ${r.failure.step} with ${r.live} buffers live (${r.failure.kind}): ${r.failure.message}.`
      : `${r.method}: ran all ${r.stepsRun} steps; ${r.live} buffers live (peak ${r.peakLive}).`;
    summary.push(
      `${head} vmalloc space busy ${mib(used)} MiB (${overhead}), ${mib(r.vmalloc.lazyBytes)} MiB lazily freed, ${human(r.vmalloc.freeBytes)} free in ` +
        `${r.vmalloc.freeFragments} fragment${r.vmalloc.freeFragments === 1 ? '' : 's'}, the largest ${human(r.vmalloc.largestFreeBytes)}; ${r.pageTables.now} page-table pages; ` +
        `${r.tlb.walksPerMiB.toFixed(1)} TLB walks per MiB accessed.`,
    );
  }
  const ignoring = reports.filter((r) => r.pgtableIgnoredScope > 0);
  summary.push(
    ignoring.length
      ? `Kernel ${m.cfg.kernel}: ${ignoring.map((r) => `${r.method} allocated ${r.pgtableIgnoredScope} page-table pages`).join(', ')} with __GFP_FS for a GFP_NOFS caller ` +
        `(before 5.17 vmalloc's page tables ignore the caller's gfp; the scope vm_map_ram and vmap run in covers them).`
      : 'Every page-table page followed the NOFS context (vmalloc maps under the caller\'s scope since 5.17; vm_map_ram and vmap run inside memalloc_nofs_save).',
  );
  const bad = reports.filter((r) => !r.consistent);
  if (bad.length) summary.push(`INCONSISTENT: ${bad.flatMap((r) => r.mismatches.map((x) => `${r.method}: ${x}`)).join('; ')}`);

  return {
    scenario: 'xfs-buffers',
    summary,
    tables: [byMethod, overTime],
    metrics: {
      steps,
      dirblksize: p.dirblksize,
      method: p.method,
      arch: m.cfg.arch.arch,
      kernel: m.cfg.kernel,
      vmallocSpaceBytes: m.vmallocLayer.end - m.vmallocLayer.start,
      methods: Object.fromEntries(reports.map((r) => [r.method, r])),
    },
  };
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

/** A size for a person: the largest unit that keeps the number at least 1. */
function human(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let x = bytes;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${u === 0 || Number.isInteger(x) ? x : x.toFixed(1)} ${units[u]}`;
}

function kib(bytes: number): number {
  return Math.round(bytes / 1024);
}
