/**
 * Scenario `swap-over-network` (seed 004): a machine under heavy anonymous memory pressure whose only swap is
 * a file on NFS (fs/nfs_swap.ts). Reclaim must write pages out, and every write needs memory (an rpc_task, a
 * transmit skb, and in softirq a receive buffer for the server's reply) exactly when none is free. Meanwhile
 * ordinary connections receive traffic that their readers, busy faulting, fall behind on. Run under each
 * design of SWAP_NET_DESIGNS: no reserves (the kernel before 3.6), mainline pfmemalloc at several
 * min_free_kbytes, Zijlstra's mem_reserve sized by the translation of the transport's demand, and mempools
 * only (sized for the swap path, or for every socket too). Each run reports whether writeback kept making
 * progress or deadlocked (and at which step), pages swapped out, reserve pages used against reserved,
 * ordinary allocations refused the reserve, pfmemalloc drops and lost replies.
 *
 * Deadlock: no write completes for DEADLOCK_NS of model time while writes are waiting, or the OOM killer finds
 * nothing to kill (the workload's tasks are oom_score_adj -1000, as a database would be: the kernel would
 * panic "System is deadlocked on memory"). The run stops there.
 * What decides the outcome is whether receive traffic held by slow readers reaches the atomic reserve
 * (`traffic` packets a second): at 3000 every design makes progress; from about 5000 the designs that let
 * that traffic keep reserve memory deadlock at the onset of pressure.
 */
import type { MachineConfig, Policy } from '../config.js';
import { GFP } from '../gfp.js';
import { Machine } from '../machine.js';
import type { AnonMm } from '../mm/anon.js';
import { PAGE_SIZE } from '../mm/page.js';
import { WMARK_MIN } from '../mm/zone.js';
import type { Task } from '../mm/sched.js';
import type { NfsSwapDeps, NfsSwapFile, NfsSwapOptions } from '../fs/nfs_swap.js';
import type { Mempool } from '../mm/mempool.js';
import type { MemReserve } from '../mm/reserve.js';
import type { KmemCache } from '../mm/slub.js';
import { SKB_HEAD_OBJECT, type ObjPool, type SkbReserve } from '../net/skbuff.js';
import type { Sock } from '../net/sock.js';
import { Sock as SockClass } from '../net/sock.js';
import { Prng } from './prng.js';
import { resolveParams, timelineStride, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

const DEFAULT_STEPS = 3000;
/** Model time a step lets pass besides what the faults themselves take. */
const STEP_NS = 1_000_000;
/** No write completed for this long while writes wait: deadlocked. */
const DEADLOCK_NS = 20_000_000_000;
const TASKS = ['postgres', 'java', 'redis', 'mysqld'];
const FAULTS_PER_STEP = 8;
/** Connections each application has open (their receive buffers together are larger than the reserve). */
const CONNECTIONS = 4;
/** Their receive buffers as TCP autotuning grows them (tcp_rmem: up to 6 MiB). */
const RCVBUF = 1 << 20;

/** Thrown by the watchdog to leave a machine that will never recover. */
class Deadlock extends Error {}

/** True for the watchdog's Deadlock; anything else is rethrown. */
function isDeadlock(e: unknown): true {
  if (!(e instanceof Deadlock)) throw e;
  return true;
}

export interface SwapNetDesign {
  name: string;
  description: string;
  policy: Partial<Policy>;
  minFreeKbytes?: number;
  transport: 'plain' | 'mem_reserve' | 'mempool';
  /** mempool: pools sized for the swap transport only, or for every socket's receive buffer too. */
  pools?: 'swap' | 'all';
}

export const SWAP_NET_DESIGNS: SwapNetDesign[] = [
  { name: 'none', description: 'no reserves (before 3.6): PF_MEMALLOC only', policy: { reserves: 'none' }, transport: 'plain' },
  { name: 'pfmemalloc-128', description: 'mainline pfmemalloc, min_free_kbytes=128', policy: { reserves: 'pfmemalloc' }, minFreeKbytes: 128, transport: 'plain' },
  { name: 'pfmemalloc', description: 'mainline pfmemalloc, min_free_kbytes as the kernel computes it', policy: { reserves: 'pfmemalloc' }, transport: 'plain' },
  { name: 'pfmemalloc-4096', description: 'mainline pfmemalloc, min_free_kbytes=4096', policy: { reserves: 'pfmemalloc' }, minFreeKbytes: 4096, transport: 'plain' },
  { name: 'mem_reserve', description: 'Zijlstra: strict mem_reserve limits sized by the translation, raising the watermarks', policy: { reserves: 'mem_reserve' }, transport: 'mem_reserve' },
  { name: 'mempool-swap', description: 'mempools only, sized for the swap transport', policy: { reserves: 'none' }, transport: 'mempool', pools: 'swap' },
  { name: 'mempool-all', description: 'mempools only, receive pool sized for every socket', policy: { reserves: 'none' }, transport: 'mempool', pools: 'all' },
];

export interface SwapNetReport {
  design: string;
  outcome: 'progress' | 'deadlock';
  deadlockStep: number | null;
  deadlockSecs: number | null;
  steps: number;
  secs: number;
  swappedOut: number;
  faults: number;
  faultsFailed: number;
  reservedPages: number;
  reserveUsedPeak: number;
  refusedReserve: number;
  pfmemallocDrops: number;
  repliesLost: number;
  txFailures: number;
  writesRefused: number;
  throttled: number;
}

function transportOptions(params: Record<string, string>): NfsSwapOptions {
  const slots = Number(params.slots);
  return { slots, maxOutstanding: 2 * slots, rttNs: 200_000, wireNsPerPage: 330_000, timeoNs: 1_000_000_000 };
}

/** Boot, set up the network swap and the traffic, and run one design. */
export function runSwapNet(cfg: MachineConfig, d: SwapNetDesign, steps: number, seed: number, params: Record<string, string>, progress?: (n: number) => void, observe?: (m: Machine) => void): SwapNetReport {
  const m = Machine.boot({ ...cfg, policy: { ...cfg.policy, ...d.policy }, minFreeKbytes: d.minFreeKbytes ?? cfg.minFreeKbytes, strict: false, thp: false });
  const rng = new Prng(seed);
  const opts = transportOptions(params);
  const trafficNs = Math.round(1e9 / Number(params.traffic));
  const net = m.net;
  // The workload: tasks that grow their heaps through twice the RAM, each with connections it reads between faults.
  const ram = m.totalramPages;
  const regionPages = Math.ceil((2 * ram) / TASKS.length);
  const tasks: Array<{ task: Task; am: AnonMm; socks: Sock[]; next: number; stuck: boolean }> = [];
  for (let i = 0; i < TASKS.length; i++) {
    const task = m.sched.createTask(TASKS[i], i % m.cfg.nrCpus);
    m.setOomScoreAdj(task, -1000);
    const socks = Array.from({ length: CONNECTIONS }, (_, c) => new SockClass(`${TASKS[i]}:${5432 + c}`, GFP.KERNEL, RCVBUF));
    tasks.push({ task, am: m.mmapAnon(regionPages, task), socks, next: 0, stuck: false });
  }
  // The page allocator's reserve is the min watermarks, and its use is how far free memory went below them.
  const acct: ReserveAccount = { reserved: () => sumMin(m), used: () => Math.max(0, sumMin(m) - m.freePagesTotal()) };
  const nfs: NfsSwapFile = m.swapActivateNfs(opts, (rpcTasks) => transportMemory(m, d, opts, rpcTasks, tasks.length * CONNECTIONS, acct));
  const reservedPages = acct.reserved();
  // Ordinary traffic: `traffic` packets a second, each to one of the connections, whoever is running.
  const traffic = (): void => {
    const t = tasks[rng.u32() % tasks.length];
    net.dev.receive(t.socks[rng.u32() % CONNECTIONS], 1448);
    sample();
    watchdog();
    m.clock.addTimer(m.clock.ns + trafficNs, traffic);
  };
  let usedPeak = 0;
  const sample = (): void => {
    usedPeak = Math.max(usedPeak, acct.used());
  };
  m.clock.addTimer(m.clock.ns + trafficNs, traffic);
  /**
   * The deadlock test, run from the traffic timer so that it also fires while every task is asleep inside
   * the allocator: no write completed for DEADLOCK_NS while writes were waiting. The run stops there (the
   * machine is abandoned mid-call; only its counters are read afterwards).
   */
  const watchdog = (): void => {
    if (nfs.stats.completed !== lastCompleted) {
      lastCompleted = nfs.stats.completed;
      lastProgressNs = m.clock.ns;
      lastProgressStep = step;
      return;
    }
    const waiting = nfs.nrInflight + nfs.nrBacklog > 0 || nfs.stats.refused + nfs.stats.congested > refusedSeen || tasks.some((t) => t.stuck);
    refusedSeen = nfs.stats.refused + nfs.stats.congested;
    if (waiting && m.clock.ns - lastProgressNs >= DEADLOCK_NS) throw new Deadlock();
  };
  let refusedSeen = 0;

  const payload = new Uint8Array(64);
  let faults = 0;
  let faultsFailed = 0;
  let lastCompleted = 0;
  let lastProgressNs = m.clock.ns;
  let lastProgressStep = 0;
  let deadlockStep: number | null = null;
  let deadlockSecs: number | null = null;
  let dmesgSeen = m.printk.lines.length;
  let step = 0;
  let deadlocked = false;
  for (; step < steps && !deadlocked; step++) {
    if (observe && step % timelineStride(steps) === 0) observe(m);
    for (const t of tasks) {
      if (deadlocked) break;
      for (let k = 0; k < FAULTS_PER_STEP && t.next < regionPages; k++) {
        payload.fill((t.next + step) & 0xff);
        faults++;
        let ok: boolean;
        try {
          ok = m.sched.runAs(t.task, () => m.anonWrite(t.am, t.next, payload));
        } catch (e) {
          deadlocked = isDeadlock(e);
          break;
        }
        t.stuck = !ok;
        if (!ok) {
          faultsFailed++;
          break;
        }
        t.next++;
      }
      // The application handles a packet per connection between its faults (none while they fail): fewer
      // than arrive, so data piles up in its receive queues, as it does for a server that cannot keep up.
      if (!t.stuck) for (const sk of t.socks) net.socks.read(sk, 1);
      if (t.next >= regionPages) t.next = 0;
    }
    if (!deadlocked) {
      try {
        m.tick(STEP_NS);
      } catch (e) {
        deadlocked = isDeadlock(e);
      }
    }
    if (deadlocked) {
      // Writeback stopped after the last step that completed a write.
      deadlockStep = lastProgressStep + 1;
      deadlockSecs = lastProgressNs / 1e9;
      step++;
      break;
    }
    sample();
    // The OOM killer found nobody to kill: the kernel panics, "System is deadlocked on memory".
    const panicked = m.printk.lines.slice(dmesgSeen).some((l) => l.includes('System is deadlocked on memory'));
    dmesgSeen = m.printk.lines.length;
    if (panicked) {
      deadlockStep = step;
      deadlockSecs = m.clock.ns / 1e9;
      step++;
      break;
    }
    if (step % 32 === 31) progress?.(step + 1);
  }
  progress?.(steps);
  return {
    design: d.name,
    outcome: deadlockStep === null ? 'progress' : 'deadlock',
    deadlockStep,
    deadlockSecs,
    steps: step,
    secs: m.clock.ns / 1e9,
    swappedOut: nfs.stats.completed,
    faults,
    faultsFailed,
    reservedPages,
    reserveUsedPeak: Math.max(0, usedPeak),
    refusedReserve: m.stats.reserveRefused,
    pfmemallocDrops: net.socks.stats.pfmemallocDrop,
    repliesLost: nfs.stats.repliesLost,
    txFailures: nfs.stats.txFailures,
    writesRefused: nfs.stats.refused,
    throttled: m.vmscan.stats.directThrottled,
  };
}

/** An skb head, the data area kmalloc gives a 1448-byte packet, and a WRITE call's header area. */
const SKB_HEAD = SKB_HEAD_OBJECT;
const RX_DATA = 2048;
const TX_DATA = 1024;
/** The reserve a design keeps, and what of it is in use now, in pages. */
interface ReserveAccount {
  reserved: () => number;
  used: () => number;
}

/**
 * Where the transport's memory comes from, by design. mem_reserve: three strict reserves under one node,
 * sized by the translation of what maxOutstanding calls and slots + 1 receive buffers (the replies, and one
 * packet for another socket on its way to be dropped) need; their pages raise the watermarks. mempool: pools
 * of that many elements for the RPCs and the transmit skbs, and a receive pool in the driver for the
 * replies ('swap') or also for every packet the ordinary sockets may hold ('all').
 */
function transportMemory(m: Machine, d: SwapNetDesign, opts: NfsSwapOptions, rpcTasks: KmemCache, sockets: number, acct: ReserveAccount): Partial<NfsSwapDeps> {
  const n = opts.maxOutstanding;
  const rxN = opts.slots + 1;
  if (d.transport === 'mem_reserve') {
    const node = m.memReserveInit('swap over NFS', m.memReserveRoot);
    const rpc = m.memReserveInit('rpc_tasks', node);
    const tx = m.memReserveInit('tx skbs', node);
    const rx = m.memReserveInit('rx skbs', node);
    if (!m.memReserveKmemCacheSet(rpc, rpcTasks, n) || !m.memReserveKmallocSet(tx, n * (SKB_HEAD + TX_DATA)) || !m.memReserveKmallocSet(rx, rxN * (SKB_HEAD + RX_DATA))) {
      throw new Error('swap-over-network: the mem_reserve reserves do not fit in this machine');
    }
    const kmallocRes = (res: MemReserve): SkbReserve => ({
      charge: (bytes) => m.memReserveKmallocCharge(res, bytes),
      uncharge: (bytes) => void m.memReserveKmallocCharge(res, -bytes),
    });
    m.net.dev.rxReserve = kmallocRes(rx);
    acct.reserved = () => sumMin(m);
    acct.used = () => Math.ceil((rpc.usage + tx.usage + rx.usage) / PAGE_SIZE);
    return {
      design: 'mem_reserve',
      reserves: {
        rpc: { charge: () => m.memReserveKmemCacheCharge(rpc, rpcTasks, 1), uncharge: () => void m.memReserveKmemCacheCharge(rpc, rpcTasks, -1) },
        tx: kmallocRes(tx),
      },
    };
  }
  if (d.transport === 'mempool') {
    const pools: Mempool[] = [];
    const bytes: number[] = [];
    const pool = (p: Mempool | null, size: number): ObjPool => {
      if (!p) throw new Error('swap-over-network: the mempools do not fit in this machine');
      pools.push(p);
      bytes.push(size);
      return { size, alloc: (gfp) => m.mempoolAlloc(p, gfp) ?? 0, free: (x) => m.mempoolFree(x, p) };
    };
    // Every packet an ordinary socket may hold: its rcvbuf over the truesize of one packet.
    const rxAll = rxN + (d.pools === 'all' ? sockets * Math.floor(RCVBUF / (RX_DATA + SKB_HEAD)) : 0);
    const head = m.net.skb.headCache;
    m.net.dev.rxPool = { head: pool(m.mempoolCreateSlabPool(rxAll, head), SKB_HEAD), data: pool(m.mempoolCreateKmallocPool(rxAll, RX_DATA), RX_DATA) };
    const deps: Partial<NfsSwapDeps> = {
      design: 'mempool',
      rpcPool: pool(m.mempoolCreateSlabPool(n, rpcTasks), rpcTasks.size),
      txPool: { head: pool(m.mempoolCreateSlabPool(n, head), SKB_HEAD), data: pool(m.mempoolCreateKmallocPool(n, TX_DATA), TX_DATA) },
    };
    // What the pools hold, and what has been taken out of them, in pages.
    const pages = (f: (p: Mempool) => number) => Math.ceil(pools.reduce((s, p, i) => s + f(p) * bytes[i], 0) / PAGE_SIZE);
    const reserved = pages((p) => p.minNr);
    acct.reserved = () => reserved;
    acct.used = () => pages((p) => p.minNr - p.currNr);
    return deps;
  }
  return { design: 'plain' };
}

/** The min watermarks of the zones: the reserve as the page allocator keeps it. */
function sumMin(m: Machine): number {
  let n = 0;
  for (const z of m.zones) if (z.managed) n += z.watermark[WMARK_MIN]; // without any boost
  return n;
}


function findDesign(name: string): SwapNetDesign | undefined {
  return SWAP_NET_DESIGNS.find((d) => d.name === name);
}

function checkParams(p: Record<string, string>): void {
  if (p.designs !== 'all') {
    for (const n of p.designs.split(',')) {
      if (!findDesign(n)) throw new Error(`designs: unknown design '${n}' (expected all or a comma-separated list of: ${SWAP_NET_DESIGNS.map((d) => d.name).join(', ')})`);
    }
  }
  if (!/^[1-9]\d*$/.test(p.slots) || Number(p.slots) > 4096) throw new Error(`slots: expected a whole number from 1 to 4096, got '${p.slots}'`);
  if (!/^[1-9]\d*$/.test(p.traffic) || Number(p.traffic) > 1_000_000) throw new Error(`traffic: expected packets per second, a whole number from 1 to 1000000, got '${p.traffic}'`);
}

export const swapNetScenario: Scenario = {
  name: 'swap-over-network',
  description: 'anonymous memory pressure with swap on NFS: does writeback make progress or deadlock, under no reserves, pfmemalloc (several min_free_kbytes), mem_reserve and mempools?',
  machine: { mem: '64M', swap: '256M', thp: false },
  defaultSteps: DEFAULT_STEPS,
  params: {
    designs: { default: 'all', description: `comma-separated designs (${SWAP_NET_DESIGNS.map((d) => d.name).join(', ')}), or all` },
    slots: { default: '128', description: 'RPC slots of the NFS transport (calls in flight at once)' },
    traffic: { default: '5700', description: 'packets per second arriving for the applications\' sockets' },
  },
  checkParams,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const params = resolveParams(swapNetScenario, opts.params);
    const steps = opts.steps ?? DEFAULT_STEPS;
    const designs = params.designs === 'all' ? SWAP_NET_DESIGNS : params.designs.split(',').map((n) => findDesign(n)!);
    const cfg: MachineConfig = opts.machineConfig ?? { mem: m.cfg.maxPfn * PAGE_SIZE, swap: '256M' };
    const reports: SwapNetReport[] = [];
    designs.forEach((d, i) => reports.push(runSwapNet(cfg, d, steps, opts.seed, params, (n) => opts.progress?.(i * steps + n, designs.length * steps), opts.sample && ((mm) => opts.sample!(mm, d.name)))));
    return report(reports, opts.compare === true);
  },
};

function report(reports: SwapNetReport[], compare: boolean): ScenarioResult {
  const table: Table = {
    title: 'swap over the network: writeback under each reserve design',
    columns: ['design', 'writeback', 'deadlock at step (s)', 'pages swapped out', 'faults failed', 'reserve pages used/reserved', 'refused reserve', 'pfmemalloc drops', 'replies lost', 'throttled'],
    rows: reports.map((r) => [
      r.design, r.outcome, r.deadlockStep === null ? '-' : `${r.deadlockStep} (${r.deadlockSecs!.toFixed(2)})`, r.swappedOut, r.faultsFailed,
      `${r.reserveUsedPeak}/${r.reservedPages}`, r.refusedReserve, r.pfmemallocDrops, r.repliesLost, r.throttled,
    ]),
  };
  const summary = reports.map((r) => `${r.design}: ${r.outcome === 'progress' ? `writeback made progress, ${r.swappedOut} pages swapped out in ${r.steps} steps` : `deadlocked at step ${r.deadlockStep} (${r.deadlockSecs!.toFixed(2)} s) after ${r.swappedOut} pages swapped out`}`);
  // --compare: the table alone.
  return { scenario: 'swap-over-network', summary: compare ? [] : summary, tables: [table], metrics: { designs: reports } };
}

