/**
 * Scenario `swap-over-network` (seed 004): a machine under heavy anonymous memory pressure whose only swap is
 * a file on NFS. Reclaim must write pages out, and every write needs memory (an rpc_task, a transmit skb, and
 * in softirq a receive buffer for the server's reply) exactly when none is free. Meanwhile ordinary sockets
 * receive traffic that their readers, stuck in reclaim, do not read. Run under each design (designs.ts of
 * this scenario below): no reserves (the kernel before 3.6), mainline pfmemalloc at several min_free_kbytes,
 * Zijlstra's mem_reserve sized by the translation of the transport's demand, and mempools only. Each run
 * reports whether writeback kept making progress or deadlocked (and at which step), pages swapped out,
 * reserve pages used against reserved, ordinary allocations refused the reserve, and pfmemalloc drops.
 *
 * Deadlock: no write completes for DEADLOCK_NS of model time while writes are waiting, or the OOM killer finds
 * nothing to kill (the workload's tasks are oom_score_adj -1000, as a database would be: the kernel would
 * panic "System is deadlocked on memory"). The run stops there.
 */
import type { MachineConfig, Policy } from '../config.js';
import { GFP } from '../gfp.js';
import { Machine } from '../machine.js';
import type { AnonMm } from '../mm/anon.js';
import { PAGE_SIZE } from '../mm/page.js';
import type { Task } from '../mm/sched.js';
import type { NfsSwapFile, NfsSwapOptions } from '../fs/nfs_swap.js';
import type { Sock } from '../net/sock.js';
import { Sock as SockClass } from '../net/sock.js';
import { Prng } from './prng.js';
import { resolveParams, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

const DEFAULT_STEPS = 3000;
/** Model time a step lets pass besides what the faults themselves take. */
const STEP_NS = 1_000_000;
/** No write completed for this long while writes wait: deadlocked. */
const DEADLOCK_NS = 20_000_000_000;
const TASKS = ['postgres', 'java', 'redis', 'mysqld'];
const FAULTS_PER_STEP = 8;

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
  return { slots: Number(params.slots), rttNs: 200_000, wireNsPerPage: 40_000, timeoNs: 1_000_000_000 };
}

/** Boot, set up the network swap and the traffic, and run one design. */
export function runSwapNet(cfg: MachineConfig, d: SwapNetDesign, steps: number, seed: number, params: Record<string, string>, progress?: (n: number) => void): SwapNetReport {
  const m = Machine.boot({ ...cfg, policy: { ...cfg.policy, ...d.policy }, minFreeKbytes: d.minFreeKbytes ?? cfg.minFreeKbytes, strict: false, thp: false });
  const rng = new Prng(seed);
  const opts = transportOptions(params);
  const net = m.net;
  // The workload: tasks that grow their heaps through twice the RAM, each with a socket it reads between faults.
  const ram = m.totalramPages;
  const regionPages = Math.ceil((2 * ram) / TASKS.length);
  const tasks: Array<{ task: Task; am: AnonMm; sock: Sock; next: number; stuck: boolean }> = [];
  for (let i = 0; i < TASKS.length; i++) {
    const task = m.sched.createTask(TASKS[i], i % m.cfg.nrCpus);
    m.setOomScoreAdj(task, -1000);
    tasks.push({ task, am: m.mmapAnon(regionPages, task), sock: new SockClass(`${TASKS[i]}:5432`), next: 0, stuck: false });
  }
  const nfs: NfsSwapFile = m.swapActivateNfs(opts, { design: d.transport === 'mempool' ? 'mempool' : d.transport });
  const reservedPages = sumMin(m);
  // Ordinary traffic: a packet every 200 us to one of the sockets, whoever is running.
  const trafficNs = 200_000;
  const traffic = (): void => {
    const t = tasks[rng.u32() % tasks.length];
    net.dev.receive(t.sock, 1448);
    sample();
    m.clock.addTimer(m.clock.ns + trafficNs, traffic);
  };
  let usedPeak = 0;
  const sample = (): void => {
    let free = 0;
    for (const z of m.zones) free += z.freePages;
    usedPeak = Math.max(usedPeak, reservedPages - free);
  };
  m.clock.addTimer(m.clock.ns + trafficNs, traffic);

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
  for (; step < steps; step++) {
    for (const t of tasks) {
      for (let k = 0; k < FAULTS_PER_STEP && t.next < regionPages; k++) {
        payload.fill((t.next + step) & 0xff);
        faults++;
        const ok = m.sched.runAs(t.task, () => m.anonWrite(t.am, t.next, payload));
        t.stuck = !ok;
        if (!ok) {
          faultsFailed++;
          break;
        }
        t.next++;
      }
      if (!t.stuck) net.socks.read(t.sock);
      if (t.next >= regionPages) t.next = 0;
    }
    m.tick(STEP_NS);
    sample();
    if (nfs.stats.completed !== lastCompleted) {
      lastCompleted = nfs.stats.completed;
      lastProgressNs = m.clock.ns;
      lastProgressStep = step;
    }
    const panicked = m.printk.lines.slice(dmesgSeen).some((l) => l.includes('System is deadlocked on memory'));
    dmesgSeen = m.printk.lines.length;
    const waiting = nfs.nrInflight + nfs.nrBacklog > 0 || tasks.some((t) => t.stuck);
    if (panicked || (waiting && m.clock.ns - lastProgressNs >= DEADLOCK_NS)) {
      deadlockStep = panicked ? step : lastProgressStep + 1;
      deadlockSecs = (panicked ? m.clock.ns : lastProgressNs) / 1e9;
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

/** The min watermarks of the zones: the reserve as the page allocator keeps it. */
function sumMin(m: Machine): number {
  let n = 0;
  for (const z of m.zones) if (z.managed) n += z.wmarkMin();
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
}

export const swapNetScenario: Scenario = {
  name: 'swap-over-network',
  description: 'anonymous memory pressure with swap on NFS: does writeback make progress or deadlock, under no reserves, pfmemalloc (several min_free_kbytes), mem_reserve and mempools?',
  machine: { mem: '64M', swap: '256M' },
  defaultSteps: DEFAULT_STEPS,
  params: {
    designs: { default: 'all', description: `comma-separated designs (${SWAP_NET_DESIGNS.map((d) => d.name).join(', ')}), or all` },
    slots: { default: '128', description: 'RPC slots of the NFS transport (calls in flight at once)' },
  },
  checkParams,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const params = resolveParams(swapNetScenario, opts.params);
    const steps = opts.steps ?? DEFAULT_STEPS;
    const designs = params.designs === 'all' ? SWAP_NET_DESIGNS : params.designs.split(',').map((n) => findDesign(n)!);
    const cfg: MachineConfig = opts.machineConfig ?? { mem: m.cfg.maxPfn * PAGE_SIZE, swap: '256M' };
    const reports: SwapNetReport[] = [];
    designs.forEach((d, i) => reports.push(runSwapNet(cfg, d, steps, opts.seed, params, (n) => opts.progress?.(i * steps + n, designs.length * steps))));
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
  void compare;
  return { scenario: 'swap-over-network', summary, tables: [table], metrics: { designs: reports } };
}

void GFP;
void PAGE_SIZE;
