/**
 * The `fallback` scenario: the experiment the seeds (000-002) argue about. Under fragmentation, how often
 * does a large allocation need a virtual fallback, what does each design cost, and what still breaks?
 *
 * Every design (designs.ts) runs on a freshly booted machine of the same config and seed:
 * 1. Boot users: the sparsemem memmap of each 128 MiB section (2 MiB, order 9 on x86_64) and the zone wait
 *    tables (wait_table_hash_nr_entries * sizeof(wait_queue_head_t)), as the series converted them.
 * 2. Fragmentation: memory fills with anonymous memory (two processes, with their page tables) and page
 *    cache, while long-lived unmovable memory arrives among them: objects of an inode-like cache, order-0
 *    kernel pages and the page tables themselves. Then one process exits, the objects are thinned out and
 *    half the files are deleted, so that free memory lies in holes between pinned unmovable pages.
 * 3. The drive: each step, one request of order 1..6 (a size within that order, held a while), one receive
 *    buffer refill in softirq (e1000 style: a 9 KiB jumbo frame, order 2, GFP_ATOMIC), a fork or exit now and
 *    then (kernel stacks: THREAD_SIZE, order 2 on x86_64, 1 on i386), a NIC reconfiguring its descriptor
 *    rings (order 2..4, GFP_KERNEL) every so often, the file server reading, and, half way, a memory hot-add
 *    that needs a section's memmap. Every block is written when allocated and read before it is freed, through
 *    the model's TLB; kswapd, kcompactd and the flushers run between steps.
 * Reported per design and order: requests, served, served virtually; memory overhead (the kernel page-table
 * pages the mappings needed, and rounding: pages held beyond the bytes asked for); vmalloc space at its peak;
 * TLB walks per MiB accessed; interrupt-context refusals; and what failed, by user.
 *
 * Model readings: the designs differ only in how the users allocate (designs.ts); the machine, the seed and
 * the users' decisions are the same, so a difference in a row is the design's. Sizes of the users are
 * plausible, not measured on real hardware.
 */
import type { MachineConfig } from '../config.js';
import { GFP } from '../gfp.js';
import { Machine } from '../machine.js';
import type { AnonMm } from '../mm/anon.js';
import type { AddressSpace } from '../mm/filemap.js';
import { NO_PAGE, PAGE_SIZE } from '../mm/page.js';
import { getOrder } from '../mm/page_alloc.js';
import { allocBlock, DESIGNS, findDesign, freeBlock, type Block, type Design } from './designs.js';
import { Prng } from './prng.js';
import { resolveParams, timelineStride, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

const DEFAULT_STEPS = 3000;
const MAX_ORDER = 6;
/** Stream requests held at once, and how long each lives on average (steps). */
const STREAM_HELD = 48;
/** The e1000 receive ring: jumbo frames (9000 bytes + headroom: order 2). */
const RX_SIZE = 9018 + 256;
const RX_RING = 64;
const RX_GFP = GFP.ATOMIC;
/** NICs and their rings: descriptors x sizeof(struct e1000_buffer) (24 bytes on x86_64, 16 on i386). */
const NICS = 4;
const RING_RECONFIG_EVERY = 250;
const FORK_EVERY = 3;
const TASKS = 48;
const FILE_PAGES = 256;
/** The file set against RAM (larger: page cache fills memory and reclaim runs) and each process's memory. */
const FILE_SHARE = 1.4;
const ANON_SHARE = 0.2;
/** Random page-cache reads in the fill, per page of RAM; an inode object and a kernel page every so many. */
const FILL_READS = 1.5;
const INODE_EVERY = 2;
const KPAGE_EVERY = 8;
const READS_PER_STEP = 10;
const STEP_NS = 100_000;
/** sizeof(wait_queue_head_t) (a spinlock and a list head) and PAGES_PER_WAITQUEUE. */
const WAIT_QUEUE_HEAD = { 64: 24, 32: 12 } as const;
const PAGES_PER_WAITQUEUE = 256;
const SECTION_PAGES = 32768;

/** One (design, order) cell. */
interface OrderStat {
  tried: number;
  ok: number;
  virtual: number;
}

/** What one design did on one machine. */
export interface DesignReport {
  design: string;
  arch: string;
  byOrder: OrderStat[];
  users: Record<string, { tried: number; ok: number; virtual: number }>;
  /** Pages held beyond the bytes asked for, over all successful requests, and the pages asked for. */
  roundingPages: number;
  neededPages: number;
  /** Kernel page-table pages allocated during the run (vmalloc and vmap mappings). */
  pgtablePages: number;
  /** Peak vmalloc space busy (bytes, guard pages included) and its share of the vmalloc range. */
  vmallocPeak: number;
  vmallocShare: number;
  /** TLB walks per MiB of buffer accessed, and walk levels read per MiB. */
  tlbWalksPerMiB: number;
  walkLevelsPerMiB: number;
  refusedInterrupt: number;
  /** Fallbacks that were tried and failed (out of pages or vmalloc space). */
  fallbackFailures: number;
  dataErrors: number;
  freeAtEnd: number;
}

function checkParams(p: Record<string, string>): void {
  const names = DESIGNS.map((d) => d.name);
  for (const n of p.designs.split(',')) if (n !== 'all' && !findDesign(n)) throw new Error(`fallback: designs: unknown design '${n}' (expected all or a list of: ${names.join(', ')})`);
  if (!['yes', 'no'].includes(p.i386)) throw new Error(`fallback: i386 must be yes or no, got '${p.i386}'`);
}

export const fallbackScenario: Scenario = {
  name: 'fallback',
  description: 'fragment a machine, then drive the seeds\' large-allocation users under each design: no fallback, V1 vcompound, always, V5, kvmalloc, alloc_pages_exact, compaction alone and with each fallback',
  machine: { mem: '128M' },
  defaultSteps: DEFAULT_STEPS,
  params: {
    designs: { default: 'all', description: `comma-separated designs to run (${DESIGNS.map((d) => d.name).join(', ')}), or all` },
    i386: { default: 'yes', description: 'also run every design on an i386 machine of the same size (its 128 MiB vmalloc space)' },
  },
  checkParams,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const params = resolveParams(fallbackScenario, opts.params);
    const steps = opts.steps ?? DEFAULT_STEPS;
    const designs = params.designs === 'all' ? DESIGNS : params.designs.split(',').map((n) => findDesign(n)!);
    const cfg: MachineConfig = opts.machineConfig ?? { mem: '128M' };
    const arches: Array<'x86_64' | 'i386'> = [m.cfg.arch.arch];
    if (params.i386 === 'yes' && m.cfg.arch.arch !== 'i386') arches.push('i386');
    const total = designs.length * arches.length * steps;
    let done = 0;
    const reports: DesignReport[] = [];
    let first = true;
    for (const arch of arches) {
      for (const d of designs) {
        const policy = { ...cfg.policy, ...d.policy };
        const same = first && arch === m.cfg.arch.arch && Object.entries(d.policy).every(([k, v]) => m.cfg.policy[k as keyof typeof policy] === v);
        const mach = same ? m : Machine.boot({ ...cfg, arch, policy, strict: false });
        first = false;
        reports.push(runDesign(mach, d, steps, opts.seed, (n) => opts.progress?.(done + n, total), opts.sample && ((mm) => opts.sample!(mm, arches.length > 1 ? `${d.name} (${arch})` : d.name))));
        done += steps;
      }
    }
    return report(reports, steps, opts.compare === true);
  },
};

/** Run one design on one machine. */
export function runDesign(m: Machine, d: Design, steps: number, seed: number, progress?: (n: number) => void, observe?: (m: Machine) => void): DesignReport {
  const rng = new Prng(seed);
  const arch = m.cfg.arch.arch;
  const wide = m.cfg.arch.bitsPerLong === 64;
  const byOrder: OrderStat[] = Array.from({ length: 11 }, () => ({ tried: 0, ok: 0, virtual: 0 }));
  const users: DesignReport['users'] = {};
  const r = { roundingPages: 0, neededPages: 0, dataErrors: 0, accessed: 0 };
  const pgtableStart = m.pgtable.allocated;
  let vmallocPeak = 0;
  const buf = new Uint8Array(PAGE_SIZE << MAX_ORDER);

  /** Allocate for a user; count it; write a pattern through its address. */
  const get = (user: string, size: number, gfp: number, stack = false): Block | undefined => {
    const u = (users[user] ??= { tried: 0, ok: 0, virtual: 0 });
    const order = getOrder(size);
    byOrder[order].tried++;
    u.tried++;
    const b = allocBlock(m, d, size, gfp, stack);
    if (!b) return undefined;
    byOrder[order].ok++;
    u.ok++;
    if (b.virtual) {
      byOrder[order].virtual++;
      u.virtual++;
    }
    const needed = Math.ceil(size / PAGE_SIZE);
    r.neededPages += needed;
    r.roundingPages += b.pages - needed;
    const view = buf.subarray(0, size);
    view.fill((b.addr / PAGE_SIZE + size) & 0xff);
    m.write(b.addr, view);
    r.accessed += size;
    return b;
  };
  /** Read the block back (it must hold what was written), then free it. */
  const put = (b: Block, stack = false): void => {
    const view = buf.subarray(0, b.size);
    m.readInto(b.addr, view);
    r.accessed += b.size;
    const want = (b.addr / PAGE_SIZE + b.size) & 0xff;
    if (view[0] !== want || view[b.size - 1] !== want) r.dataErrors++;
    freeBlock(m, d, b, stack);
  };
  const sample = (): void => {
    let busy = 0;
    for (const va of m.vmallocLayer.busy.values()) busy += va.end - va.start;
    if (busy > vmallocPeak) vmallocPeak = busy;
  };

  // 1. Boot: sparsemem memmaps and zone wait tables, while memory is pristine.
  const bootBlocks: Block[] = [];
  if (wide) {
    const sections = Math.ceil(m.cfg.maxPfn / SECTION_PAGES);
    for (let s = 0; s < sections; s++) {
      const b = get('memmap', SECTION_PAGES * 64, GFP.KERNEL);
      if (b) bootBlocks.push(b);
    }
  }
  for (const z of m.zones) {
    if (!z.managed) continue;
    let entries = 4;
    while (entries < Math.min(4096, z.managed / PAGES_PER_WAITQUEUE)) entries *= 2;
    const b = get('wait_table', entries * WAIT_QUEUE_HEAD[m.cfg.arch.bitsPerLong], GFP.KERNEL);
    if (b) bootBlocks.push(b);
  }

  // 2. Fragmentation.
  const ram = m.totalramPages;
  const fs = m.mountFs('ext4', { readNs: 50_000, writeNs: 100_000 });
  const files: AddressSpace[] = [];
  const nrFiles = Math.max(2, Math.ceil((ram * FILE_SHARE) / FILE_PAGES));
  for (let i = 0; i < nrFiles; i++) files.push(m.createFile(fs));
  const procs: AnonMm[] = [];
  const anonPages = Math.floor(ram * ANON_SHARE);
  for (const comm of ['postgres', 'java']) procs.push(m.mmapAnon(anonPages, m.sched.createTask(comm, procs.length % m.cfg.nrCpus)));
  const inodes = m.kmemCacheCreate('inode_cache_like', 608, { flags: 0x00020000 /* SLAB_RECLAIM_ACCOUNT */ })!;
  const objs: number[] = [];
  const kpages: number[] = [];
  const stamp = new Uint8Array(8);
  // Anonymous memory first, page by page (its page tables are unmovable pages among it).
  for (let i = 0; i < anonPages; i++) {
    for (const p of procs) {
      m.sched.switchTo(p.task);
      stamp[0] = i & 0xff;
      m.anonWrite(p, i, stamp);
    }
    if (i % 256 === 0) m.tick(STEP_NS);
  }
  // Then the file server reads at random until memory is full and reclaim keeps it so, while inodes and
  // kernel pages arrive: with the free lists of their own type empty, they steal from movable pageblocks.
  const reads = Math.floor(ram * FILL_READS);
  for (let i = 0; i < reads; i++) {
    m.fileRead(files[rng.int(nrFiles)], rng.int(FILE_PAGES), stamp);
    if (i % INODE_EVERY === 0) {
      const o = m.kmemCacheAlloc(inodes, GFP.KERNEL | GFP.NOWARN);
      if (o) objs.push(o);
    }
    if (i % KPAGE_EVERY === 0) {
      const p = m.allocPages(GFP.KERNEL | GFP.NOWARN, 0);
      if (p !== NO_PAGE) kpages.push(p);
    }
    if (i % 256 === 0) m.tick(STEP_NS);
  }
  // Most objects and half the kernel pages go, and half the files are deleted: the memory they held comes
  // back in holes between what stays.
  for (let i = objs.length - 1; i >= 0; i--) {
    if (rng.float() < 0.75) {
      m.kmemCacheFree(inodes, objs[i]);
      objs[i] = objs[objs.length - 1];
      objs.pop();
    }
  }
  for (let i = kpages.length - 1; i >= 0; i--) {
    if (rng.float() < 0.5) {
      m.freePages(kpages[i], 0);
      kpages[i] = kpages[kpages.length - 1];
      kpages.pop();
    }
  }
  for (let i = 0; i < files.length; i += 2) m.unlinkFile(files[i]);
  const live = files.filter((_, i) => i % 2 === 1);
  m.tick(STEP_NS);

  // 3. The drive.
  const stream: Array<{ b: Block; until: number }> = [];
  const rx: Block[] = [];
  const stacks: Block[] = [];
  const ringSize = (nic: number, gen: number) => (256 << ((nic + gen) % 3)) * (wide ? 24 : 16) + 64;
  const rings: Array<Block | undefined> = [];
  const stackSize = wide ? 4 * PAGE_SIZE : 2 * PAGE_SIZE;
  for (let n = 0; n < NICS; n++) rings.push(get('e1000 ring', ringSize(n, 0), GFP.KERNEL));
  let gen = 0;
  const refusedBefore = m.vcompound.stats.refusedInterrupt;
  let refusedIrq = 0;
  for (let step = 0; step < steps; step++) {
    if (observe && step % timelineStride(steps) === 0) observe(m);
    // A stream request of order 1..6 with a size inside that order.
    const order = 1 + rng.int(MAX_ORDER);
    const size = (PAGE_SIZE << (order - 1)) + 1 + rng.int((PAGE_SIZE << (order - 1)) - 1);
    const until = step + 1 + Math.floor(rng.exp(STREAM_HELD));
    const b = get(`stream order ${order}`, size, GFP.KERNEL);
    if (b) stream.push({ b, until });
    if (stream.length > STREAM_HELD * 2) stream.sort((a, c) => a.until - c.until);
    for (let i = stream.length - 1; i >= 0; i--) {
      if (stream[i].until <= step) {
        put(stream[i].b);
        stream[i] = stream[stream.length - 1];
        stream.pop();
      }
    }
    // The NIC's receive refill, in softirq.
    const frame = m.inSoftirq(() => get('e1000 rx refill', RX_SIZE, RX_GFP));
    if (frame) {
      rx.push(frame);
      if (rx.length > RX_RING) put(rx.shift()!);
    } else if (d.serve === 'v5') {
      refusedIrq++; // the wrapper does not vmap in interrupt context: every failure there is a refusal
    }
    // fork() and exit().
    if (step % FORK_EVERY === 0) {
      const victim = rng.float();
      const s = get('kernel stack', stackSize, GFP.KERNEL_ACCOUNT, true);
      if (s) stacks.push(s);
      if (stacks.length > TASKS) put(stacks.splice(Math.floor(victim * stacks.length), 1)[0], true);
    }
    // A NIC reconfigures its rings (ethtool -G): free, then allocate the new size.
    if (step % RING_RECONFIG_EVERY === RING_RECONFIG_EVERY - 1) {
      const n = gen % NICS;
      gen++;
      const old = rings[n];
      if (old) put(old);
      rings[n] = get('e1000 ring', ringSize(n, gen), GFP.KERNEL);
    }
    // Memory hot-add half way: the new section's memmap.
    if (step === Math.floor(steps / 2) && wide) {
      const mm = get('hot-add memmap', SECTION_PAGES * 64, GFP.KERNEL);
      if (mm) bootBlocks.push(mm);
    }
    // The file server and the remaining process keep memory busy.
    for (let k = 0; k < READS_PER_STEP; k++) m.fileRead(live[rng.int(live.length)], rng.int(FILE_PAGES), stamp);
    const proc = procs[step & 1];
    m.sched.switchTo(proc.task);
    if (!proc.dead) m.anonRead(proc, rng.int(anonPages), stamp);
    m.tick(STEP_NS);
    if (step % 16 === 0) sample();
    if (step % 64 === 63) progress?.(step + 1);
  }
  sample();
  progress?.(steps);
  // Interrupt refusals: V1 counts its own; for the others the scenario counted what the design refused.
  const refusedInterrupt = d.serve === 'pages' ? m.vcompound.stats.refusedInterrupt - refusedBefore : d.serve === 'kvmalloc' ? m.util.stats.refusedGfp : refusedIrq;
  const fallbackFailures = d.serve === 'pages' ? m.vcompound.stats.failures : d.serve === 'v5' ? m.vmallocLayer.vcompoundStats.failed : d.serve === 'kvmalloc' ? m.util.stats.failed : 0;
  const mib = r.accessed / (1 << 20);
  const walks = m.tlb.stats;
  return {
    design: d.name,
    arch,
    byOrder,
    users,
    roundingPages: r.roundingPages,
    neededPages: r.neededPages,
    pgtablePages: m.pgtable.allocated - pgtableStart,
    vmallocPeak,
    vmallocShare: vmallocPeak / (m.vmallocLayer.end - m.vmallocLayer.start),
    tlbWalksPerMiB: walks.walks / mib,
    walkLevelsPerMiB: walks.walkLevels / mib,
    refusedInterrupt,
    fallbackFailures,
    dataErrors: r.dataErrors,
    freeAtEnd: m.freePagesTotal(),
  };
}

const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');

function report(reports: DesignReport[], steps: number, compare: boolean): ScenarioResult {
  const tables: Table[] = [];
  const arches = [...new Set(reports.map((r) => r.arch))];
  const main = reports.filter((r) => r.arch === arches[0]);
  const compareTable: Table = {
    title: `Designs side by side (${arches[0]}; stream orders 1..${MAX_ORDER}: served %, of which virtual %)`,
    columns: ['design', ...Array.from({ length: MAX_ORDER }, (_, i) => `order ${i + 1}`), 'rx refill', 'stacks', 'hot-add memmap', 'virtual', 'rounding', 'pgtable pages', 'vmalloc peak', ...(arches.length > 1 ? [`vmalloc peak ${arches[1]}`] : []), 'TLB walks/MiB', 'irq refusals'],
    rows: main.map((r) => {
      const other = reports.find((o) => o.arch !== r.arch && o.design === r.design);
      const served = r.byOrder.reduce((s, o) => s + o.ok, 0);
      const virt = r.byOrder.reduce((s, o) => s + o.virtual, 0);
      const u = (name: string) => (r.users[name] ? pct(r.users[name].ok, r.users[name].tried) : '-');
      return [
        r.design,
        ...Array.from({ length: MAX_ORDER }, (_, i) => {
          const s = r.users[`stream order ${i + 1}`];
          return s ? `${pct(s.ok, s.tried)}${s.virtual ? ` (${pct(s.virtual, s.ok)} v)` : ''}` : '-';
        }),
        u('e1000 rx refill'),
        u('kernel stack'),
        u('hot-add memmap'),
        pct(virt, served),
        pct(r.roundingPages, r.neededPages + r.roundingPages),
        r.pgtablePages,
        `${(r.vmallocPeak / (1 << 20)).toFixed(1)}M (${pct(r.vmallocShare, 1)})`,
        ...(arches.length > 1 ? [other ? `${(other.vmallocPeak / (1 << 20)).toFixed(1)}M (${pct(other.vmallocShare, 1)})` : '-'] : []),
        r.tlbWalksPerMiB.toFixed(2),
        r.refusedInterrupt,
      ];
    }),
  };
  tables.push(compareTable);
  if (!compare) {
    for (const arch of arches) {
      tables.push({
        title: `Per design and order (${arch}): requests, served, served virtually`,
        columns: ['design', 'order', 'tried', 'served', 'virtual', 'failed'],
        rows: reports.filter((r) => r.arch === arch).flatMap((r) => r.byOrder.flatMap((o, order) => (o.tried ? [[r.design, order, o.tried, o.ok, o.virtual, o.tried - o.ok]] : []))),
      });
    }
    tables.push({
      title: 'What still fails, by user',
      columns: ['design', 'arch', 'user', 'tried', 'failed', 'virtual'],
      rows: reports.flatMap((r) => Object.entries(r.users).filter(([, u]) => u.ok < u.tried).map(([name, u]) => [r.design, r.arch, name, u.tried, u.tried - u.ok, u.virtual])),
    });
  }
  const by = (n: string) => main.find((r) => r.design === n);
  const served = (r: DesignReport | undefined, from: number) => {
    if (!r) return '-';
    let ok = 0;
    let tried = 0;
    for (let o = from; o <= MAX_ORDER; o++) {
      const s = r.users[`stream order ${o}`];
      if (s) {
        ok += s.ok;
        tried += s.tried;
      }
    }
    return pct(ok, tried);
  };
  const summary = [
    `${steps} steps per design on a fragmented ${arches[0]} machine${arches.length > 1 ? ' (and i386 for the vmalloc space)' : ''}.`,
    `Stream orders 3..${MAX_ORDER} served: no fallback ${served(by('none'), 3)}, compaction alone ${served(by('compaction'), 3)}, V1 ${served(by('v1'), 3)}, V5 ${served(by('v5'), 3)}, kvmalloc ${served(by('kvmalloc'), 3)}.`,
    `Data errors (bytes not where they were written): ${reports.reduce((s, r) => s + r.dataErrors, 0)}.`,
  ];
  return {
    scenario: 'fallback',
    summary,
    tables,
    metrics: { steps, reports },
  };
}
