/**
 * The `pressure` scenario: a machine smaller than its working set, with high-order allocations arriving
 * throughout (seed 000: do the existing defragmentation methods make a virtual fallback unnecessary?).
 *
 * Three users share the machine:
 * - a file server reading and (one time in five) writing pages of a file set half as large again as RAM,
 *   with a skewed popularity, looking each file up through the dentry and inode caches of its superblock
 *   (and stat()ing a stream of names that are used once), so page cache, dirty pages, writeback and the
 *   superblock shrinker are all in play;
 * - two processes touching their anonymous memory (a fifth of RAM each) with a hot set, so reclaim must
 *   choose between page cache and swap;
 * - the network: each step receives one jumbo frame (an order-3 GFP_ATOMIC page in softirq, held in a ring of
 *   RX buffers) and refills one socket's page frag (order 3, GFP_KERNEL|__GFP_NORETRY, as
 *   skb_page_frag_refill() tries before falling back to order 0), which enters direct compaction.
 * kswapd, the flushers and kcompactd run between steps (model time advances 100 us per step).
 *
 * The run is made with grouping by mobility on and off (`grouping=both`, the default) on machines booted
 * from the same config and seed. Per interval it reports the share of order-3 requests served, the order-3
 * fragmentation index of the largest zone, and the reclaim and compaction activity; at the end, the
 * pageblocks that hold both movable (LRU) and unmovable pages, which is what grouping exists to prevent.
 */
import { GFP } from '../gfp.js';
import { SuperBlock } from '../fs/super.js';
import { Machine } from '../machine.js';
import type { AddressSpace } from '../mm/filemap.js';
import type { AnonMm } from '../mm/anon.js';
import { NO_PAGE, PAGE_SIZE, PG_LRU, PGTY_BUDDY, PGTY_HOLE, PGTY_MASK, PGTY_PCP, PG_RESERVED } from '../mm/page.js';
import { fragmentationIndex, formatIndex } from '../mm/vmstat.js';
import { Prng } from './prng.js';
import { resolveParams, timelineStride, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

const DEFAULT_STEPS = 20_000;
const INTERVALS = 10;
const STEP_NS = 100_000;
/** The jumbo frame order (9000-byte MTU: a 16 KiB buffer rounds to order 2; with headroom, order 3). */
const JUMBO_ORDER = 3;
const RX_RING = 256;
const RX_GFP = GFP.ATOMIC | GFP.NOWARN | GFP.COMP;
/** skb_page_frag_refill(): SKB_FRAG_PAGE_ORDER with __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY. */
const FRAG_GFP = GFP.KERNEL | GFP.COMP | GFP.NOWARN | GFP.NORETRY;
const FILE_PAGES = 512;
const READS_PER_STEP = 16;
const ANON_TOUCHES_PER_STEP = 16;
const STATS_PER_STEP = 2;

export interface PressureInterval {
  step: number;
  rxOk: number;
  rxTried: number;
  fragOk: number;
  fragTried: number;
  extfrag: number;
  pgscan: number;
  pgsteal: number;
  allocstall: number;
  compactStall: number;
  compactSuccess: number;
  pswpout: number;
  oomKills: number;
  freePages: number;
  pageCache: number;
}

export interface PressureReport {
  grouping: boolean;
  intervals: PressureInterval[];
  rxOk: number;
  rxTried: number;
  fragOk: number;
  fragTried: number;
  mixedPageblocks: number;
  pageblocks: number;
  counters: Record<string, number>;
  dataErrors: number;
}

function checkParams(p: Record<string, string>): void {
  if (!['both', 'on', 'off'].includes(p.grouping)) throw new Error(`pressure: grouping must be one of both, on, off, got '${p.grouping}'`);
  if (!/^\d+$/.test(p.order) || Number(p.order) < 1 || Number(p.order) > 10) throw new Error(`pressure: order must be a whole number from 1 to 10, got '${p.order}'`);
}

export const pressureScenario: Scenario = {
  name: 'pressure',
  description: 'file server + anonymous memory on a machine smaller than both, order-3 network buffers throughout; reclaim, compaction, grouping by mobility on and off',
  machine: { mem: '256M', swap: '256M' },
  defaultSteps: DEFAULT_STEPS,
  params: {
    grouping: { default: 'both', description: 'grouping by mobility: both (compare), on, off' },
    order: { default: String(JUMBO_ORDER), description: 'order of the network buffers (3: 9000-byte jumbo frames)' },
  },
  checkParams,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const params = resolveParams(pressureScenario, opts.params);
    const steps = opts.steps ?? DEFAULT_STEPS;
    const variants = params.grouping === 'both' ? [true, false] : [params.grouping === 'on'];
    const cfg = opts.machineConfig ?? {};
    const reports: PressureReport[] = [];
    let done = 0;
    for (const grouping of variants) {
      const same = (m.cfg.policy.mobilityGrouping === grouping) && reports.length === 0;
      const mach = same ? m : Machine.boot({ ...cfg, policy: { ...cfg.policy, mobilityGrouping: grouping } });
      reports.push(runOne(mach, steps, opts.seed, grouping, Number(params.order), (n) => opts.progress?.(done + n, steps * variants.length), opts.sample && ((mm) => opts.sample!(mm, `grouping ${grouping ? 'on' : 'off'}`))));
      done += steps;
    }
    return report(reports, steps, Number(params.order));
  },
};

/** One run on one machine. */
export function runOne(m: Machine, steps: number, seed: number, grouping: boolean, order = JUMBO_ORDER, progress?: (n: number) => void, observe?: (m: Machine) => void): PressureReport {
  const rng = new Prng(seed);
  const ramPages = m.totalramPages;
  const fs = m.mountFs('ext4', { readNs: 80_000, writeNs: 150_000 });
  const sb = new SuperBlock(m, fs);
  const nrFiles = Math.max(4, Math.ceil((ramPages * 1.5) / FILE_PAGES));
  const files: Array<{ as: AddressSpace; dentry: number; version: Uint8Array }> = [];
  for (let i = 0; i < nrFiles; i++) {
    const as = m.createFile(fs);
    const dentry = sb.iget();
    sb.setMapping(dentry, as);
    sb.dput(dentry);
    files.push({ as, dentry, version: new Uint8Array(FILE_PAGES) });
  }
  const procs: AnonMm[] = [];
  const anonPages = Math.floor(ramPages / 5);
  const anonVersion: Uint8Array[] = [];
  for (const comm of ['postgres', 'java']) {
    const t = m.sched.createTask(comm, procs.length % m.cfg.nrCpus);
    procs.push(m.mmapAnon(anonPages, t));
    anonVersion.push(new Uint8Array(anonPages));
  }
  const server = m.sched.createTask('nfsd', 0);
  const rx: number[] = [];
  const buf = new Uint8Array(PAGE_SIZE);
  const stamp = new Uint8Array(8);
  const intervals: PressureInterval[] = [];
  const per = Math.max(1, Math.floor(steps / INTERVALS));
  let cur = freshInterval(0);
  let last = snapshot(m);
  let dataErrors = 0;
  const total = { rxOk: 0, rxTried: 0, fragOk: 0, fragTried: 0 };

  /** The byte a page holds: its version, mixed with where it is, so that a misplaced page shows. */
  const pattern = (a: number, b: number, v: number) => (a * 31 + b * 7 + v) & 0xff;

  for (let step = 0; step < steps; step++) {
    if (observe && step % timelineStride(steps) === 0) observe(m);
    // The file server.
    m.sched.switchTo(server);
    for (let r = 0; r < READS_PER_STEP; r++) {
      const fi = Math.floor(nrFiles * rng.float() ** 3);
      const f = files[fi];
      if (!sb.cached(f.dentry)) {
        f.dentry = sb.iget();
        if (f.dentry) sb.setMapping(f.dentry, f.as);
      } else sb.dget(f.dentry);
      const pi = rng.int(FILE_PAGES);
      if (rng.float() < 0.2) {
        const v = (f.version[pi] + 1) & 0xff || 1;
        buf.fill(pattern(fi, pi, v));
        if (m.fileWrite(f.as, pi, buf)) f.version[pi] = v;
      } else if (m.fileRead(f.as, pi, stamp)) {
        const v = f.version[pi];
        if (stamp[0] !== (v ? pattern(fi, pi, v) : 0)) dataErrors++;
      }
      if (f.dentry) sb.dput(f.dentry);
    }
    for (let s = 0; s < STATS_PER_STEP; s++) {
      const id = sb.iget();
      if (id) sb.dput(id);
    }
    // The processes.
    for (let p = 0; p < procs.length; p++) {
      m.sched.switchTo(procs[p].task);
      if (procs[p].dead) continue;
      for (let k = 0; k < ANON_TOUCHES_PER_STEP; k++) {
        const hot = rng.float() < 0.8;
        const idx = hot ? rng.int(Math.floor(anonPages / 5)) : rng.int(anonPages);
        if (rng.float() < 0.5) {
          const v = (anonVersion[p][idx] + 1) & 0xff || 1;
          stamp.fill(pattern(p + 1000, idx, v));
          if (m.anonWrite(procs[p], idx, stamp)) anonVersion[p][idx] = v;
        } else if (m.anonRead(procs[p], idx, stamp)) {
          const v = anonVersion[p][idx];
          if (stamp[0] !== (v ? pattern(p + 1000, idx, v) : 0)) dataErrors++;
        }
        if (procs[p].dead) break;
      }
    }
    // The network: a jumbo frame in softirq, and a page frag refill in process context.
    const page = m.inSoftirq(() => m.allocPages(RX_GFP, order));
    cur.rxTried++;
    if (page !== NO_PAGE) {
      cur.rxOk++;
      rx.push(page);
      if (rx.length > RX_RING) m.freePages(rx.shift()!, order);
    }
    m.sched.switchTo(server);
    const frag = m.allocPages(FRAG_GFP, order);
    cur.fragTried++;
    if (frag !== NO_PAGE) {
      cur.fragOk++;
      m.freePages(frag, order);
    }
    m.sched.switchTo(m.sched.task(1)!);
    m.tick(STEP_NS);
    if ((step + 1) % per === 0 || step === steps - 1) {
      const now = snapshot(m);
      Object.assign(cur, diff(now, last), { step: step + 1, extfrag: fragmentationIndex(largestZone(m).nrFree, order), freePages: m.freePagesTotal(), pageCache: m.node.nrFilePages });
      total.rxOk += cur.rxOk;
      total.rxTried += cur.rxTried;
      total.fragOk += cur.fragOk;
      total.fragTried += cur.fragTried;
      intervals.push(cur);
      cur = freshInterval(step + 1);
      last = now;
      progress?.(step + 1);
    }
  }
  for (const p of rx) m.freePages(p, order);
  const { mixed, blocks } = mixedPageblocks(m);
  const e = m.events;
  return {
    grouping, intervals, ...total, mixedPageblocks: mixed, pageblocks: blocks, dataErrors,
    counters: {
      pgscan_kswapd: e.pgscanKswapd, pgscan_direct: e.pgscanDirect, pgsteal_kswapd: e.pgstealKswapd, pgsteal_direct: e.pgstealDirect,
      allocstall: e.allocstall.reduce((a, b) => a + b, 0), pswpout: e.pswpout, pswpin: e.pswpin, slabs_scanned: e.slabsScanned,
      compact_stall: e.compactStall, compact_success: e.compactSuccess, compact_fail: e.compactFail,
      compact_daemon_wake: e.compactDaemonWake, pgmigrate_success: e.pgmigrateSuccess, oom_kill: e.oomKill,
      kswapd_runs: m.vmscan.stats.kswapdRuns, nr_written: m.node.nrWritten, fallback_fragmenting: m.stats.fallbackFragmenting,
    },
  };
}

function freshInterval(step: number): PressureInterval {
  return { step, rxOk: 0, rxTried: 0, fragOk: 0, fragTried: 0, extfrag: 0, pgscan: 0, pgsteal: 0, allocstall: 0, compactStall: 0, compactSuccess: 0, pswpout: 0, oomKills: 0, freePages: 0, pageCache: 0 };
}

type Snap = Pick<PressureInterval, 'pgscan' | 'pgsteal' | 'allocstall' | 'compactStall' | 'compactSuccess' | 'pswpout' | 'oomKills'>;

function snapshot(m: Machine): Snap {
  const e = m.events;
  return {
    pgscan: e.pgscanKswapd + e.pgscanDirect,
    pgsteal: e.pgstealKswapd + e.pgstealDirect,
    allocstall: e.allocstall.reduce((a, b) => a + b, 0),
    compactStall: e.compactStall,
    compactSuccess: e.compactSuccess,
    pswpout: e.pswpout,
    oomKills: e.oomKill,
  };
}

function diff(a: Snap, b: Snap): Snap {
  const out = { ...a };
  for (const k of Object.keys(a) as Array<keyof Snap>) out[k] = a[k] - b[k];
  return out;
}

function largestZone(m: Machine) {
  return m.zones.reduce((a, z) => (z.managed > a.managed ? z : a));
}

/** Pageblocks holding both LRU (movable) pages and other allocated pages (slab, kernel, network buffers). */
export function mixedPageblocks(m: Machine): { mixed: number; blocks: number } {
  const mm = m.mm;
  const nr = 1 << m.cfg.arch.pageblockOrder;
  let mixed = 0;
  let blocks = 0;
  for (const z of m.zones) {
    for (let start = z.startPfn - (z.startPfn % nr); start < z.endPfn; start += nr) {
      let movable = 0;
      let other = 0;
      for (let p = Math.max(start, z.startPfn); p < Math.min(start + nr, z.endPfn); ) {
        const f = mm.flags[p];
        const t = f & PGTY_MASK;
        if (t === PGTY_BUDDY) {
          p += 1 << mm.private_[p];
          continue;
        }
        if (t !== PGTY_HOLE && t !== PGTY_PCP && !(f & PG_RESERVED) && mm.refcount[p] > 0) {
          if (f & PG_LRU) movable++;
          else other++;
        }
        p++;
      }
      if (movable + other) blocks++;
      if (movable && other) mixed++;
    }
  }
  return { mixed, blocks };
}

const pct = (ok: number, n: number) => (n ? `${((100 * ok) / n).toFixed(1)}%` : '-');

function report(reports: PressureReport[], steps: number, order: number): ScenarioResult {
  const tables: Table[] = [];
  for (const r of reports) {
    tables.push({
      title: `grouping by mobility ${r.grouping ? 'on' : 'off'}: per interval`,
      columns: ['step', `RX order-${order}`, `frag order-${order}`, `extfrag(${order})`, 'pgscan', 'pgsteal', 'allocstall', 'compact_stall', 'compact_success', 'pswpout', 'oom_kill', 'free', 'page cache'],
      rows: r.intervals.map((i) => [i.step, pct(i.rxOk, i.rxTried), pct(i.fragOk, i.fragTried), formatIndex(i.extfrag), i.pgscan, i.pgsteal, i.allocstall, i.compactStall, i.compactSuccess, i.pswpout, i.oomKills, i.freePages, i.pageCache]),
    });
  }
  const keys = Object.keys(reports[0].counters);
  tables.push({
    title: 'totals',
    columns: ['', ...reports.map((r) => `grouping ${r.grouping ? 'on' : 'off'}`)],
    rows: [
      [`RX order-${order} (GFP_ATOMIC) served`, ...reports.map((r) => pct(r.rxOk, r.rxTried))],
      [`frag order-${order} (GFP_KERNEL|NORETRY) served`, ...reports.map((r) => pct(r.fragOk, r.fragTried))],
      ['pageblocks mixing movable and unmovable', ...reports.map((r) => `${r.mixedPageblocks} of ${r.pageblocks}`)],
      ...keys.map((k) => [k, ...reports.map((r) => r.counters[k])]),
      ['data errors', ...reports.map((r) => r.dataErrors)],
    ],
  });
  const summary = reports.map((r) =>
    `Grouping ${r.grouping ? 'on' : 'off'}: ${pct(r.rxOk, r.rxTried)} of atomic order-${order} RX buffers and ${pct(r.fragOk, r.fragTried)} of ` +
    `order-${order} frag refills were served over ${steps} steps; ${r.mixedPageblocks} of ${r.pageblocks} pageblocks in use mix movable and ` +
    `unmovable pages; ${r.counters.compact_stall} direct compactions (${r.counters.compact_success} successful), ${r.counters.pgsteal_kswapd + r.counters.pgsteal_direct} pages reclaimed, ` +
    `${r.counters.pswpout} swapped out, ${r.counters.oom_kill} OOM kills.`);
  return { scenario: 'pressure', summary, tables, metrics: { steps, order, runs: reports } };
}
