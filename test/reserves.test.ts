/**
 * Reserve-based allocation (issue 7): the pfmemalloc chain end to end (watermarks, marking, softirq, throttling),
 * the network's use of it (kmalloc_reserve, SOCK_MEMALLOC, PFMEMALLOCDROP), mem_reserve charges on the receive
 * path, and the swap-over-network scenario's verdicts. mem_reserve's tree and translation are in
 * reserve.test.ts, mempool_t in mempool.test.ts, pfmemalloc slabs in slub.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { GFP, Machine, type MachineConfig } from '../src/index.js';
import { NO_PAGE, PG_PFMEMALLOC } from '../src/mm/page.js';
import { Sock } from '../src/net/sock.js';
import { runSwapNet, SWAP_NET_DESIGNS, swapNetScenario } from '../src/workloads/swap_net.js';
import { resolveParams } from '../src/workloads/scenario.js';
import { exhaust } from './helpers/exhaust.js';

function boot(cfg: MachineConfig = {}): Machine {
  return Machine.boot({ mem: '64M', strict: true, thp: false, ...cfg });
}

/** The top populated zone, where GFP_KERNEL allocations stop. */
function top(m: Machine) {
  return m.zones.filter((z) => z.managed > 0).at(-1)!;
}

describe('the page allocator\'s reserve (min watermark)', () => {
  it('ordinary allocations stop at the min watermark; PF_MEMALLOC ones go below it and are marked pfmemalloc', () => {
    const m = boot();
    exhaust(m);
    const z = top(m);
    expect(z.freePages).toBeLessThanOrEqual(z.wmarkMin());
    expect(z.freePages).toBeGreaterThan(z.wmarkMin() / 2); // ordinary callers left the reserve alone
    const before = m.stats.reserveRefused;
    expect(m.allocPages(GFP.KERNEL | GFP.NOWARN, 0)).toBe(NO_PAGE);
    expect(m.stats.reserveRefused).toBe(before + 1);
    const flags = m.memallocNoreclaimSave();
    const got = exhaust(m, GFP.KERNEL | GFP.NOWARN);
    m.memallocNoreclaimRestore(flags);
    expect(got.length).toBeGreaterThan(0);
    expect(z.freePages).toBeLessThan(z.wmarkMin() / 4);
    expect(got.every((p) => (m.mm.flags[p] & PG_PFMEMALLOC) !== 0)).toBe(true);
    expect(m.stats.pfmemallocPages).toBeGreaterThanOrEqual(got.length);
    m.checkInvariants();
  });

  it('min_free_kbytes is the knob: raising it raises every lowmem zone\'s min, and ordinary callers stop earlier', () => {
    const m = boot();
    const before = m.zones.map((z) => z.wmarkMin());
    const got = exhaust(m).length;
    const m2 = boot();
    const oldMinPages = m2.minFreeKbytes / 4;
    m2.setMinFreeKbytes(m2.minFreeKbytes * 4);
    m2.zones.forEach((z, i) => { if (z.managed && z.type !== 'HighMem' && before[i] > 0) expect(z.wmarkMin()).toBeGreaterThan(before[i] * 3); });
    // Three times the old reserve more is kept back from ordinary callers (half of that, to leave room for
    // the pcp lists and the lowmem_reserve that differ between the two runs).
    expect(exhaust(m2).length).toBeLessThan(got - (3 * oldMinPages) / 2);
    expect(() => m2.setMinFreeKbytes(-1)).toThrow(/min_free_kbytes: expected a whole number of kB >= 0, got -1/);
  });

  it('__GFP_NOMEMALLOC beats __GFP_MEMALLOC and PF_MEMALLOC when a page is really asked for', () => {
    const m = boot();
    exhaust(m);
    expect(m.allocPages(GFP.KERNEL | GFP.MEMALLOC | GFP.NOMEMALLOC | GFP.NOWARN, 0)).toBe(NO_PAGE);
    const flags = m.memallocNoreclaimSave();
    expect(m.allocPages(GFP.KERNEL | GFP.NOMEMALLOC | GFP.NOWARN, 0)).toBe(NO_PAGE);
    m.memallocNoreclaimRestore(flags);
    const pfn = m.allocPages(GFP.KERNEL | GFP.MEMALLOC, 0);
    expect(pfn).not.toBe(NO_PAGE);
    expect(m.mm.flags[pfn] & PG_PFMEMALLOC).toBe(PG_PFMEMALLOC);
  });

  it('softirq serving a PF_MEMALLOC task reaches the reserves from 3.6; before (reserves=none) it does not', () => {
    for (const reserves of ['pfmemalloc', 'none'] as const) {
      const m = boot({ policy: { reserves } });
      exhaust(m, GFP.ATOMIC | GFP.NOWARN);
      const flags = m.memallocNoreclaimSave();
      const pfn = m.inSoftirq(() => m.allocPages(GFP.ATOMIC | GFP.NOWARN, 0));
      m.memallocNoreclaimRestore(flags);
      if (reserves === 'none') expect(pfn).toBe(NO_PAGE);
      else expect(pfn).not.toBe(NO_PAGE);
      // In hard-interrupt context the task's flag never counts.
      const f2 = m.memallocNoreclaimSave();
      expect(m.inIrq(() => m.allocPages(GFP.ATOMIC | GFP.NOWARN, 0))).toBe(NO_PAGE);
      m.memallocNoreclaimRestore(f2);
    }
  });

  it('reserves=none takes the reserve for PF_MEMALLOC but marks nothing', () => {
    const m = boot({ policy: { reserves: 'none' } });
    exhaust(m);
    const flags = m.memallocNoreclaimSave();
    const pfn = m.allocPages(GFP.KERNEL, 0);
    m.memallocNoreclaimRestore(flags);
    expect(pfn).not.toBe(NO_PAGE);
    expect(m.mm.flags[pfn] & PG_PFMEMALLOC).toBe(0);
    expect(m.stats.pfmemallocAllocs).toBe(1);
  });
});

describe('throttle_direct_reclaim', () => {
  /** Reclaimable anon pages with swap, then free memory taken below half the min marks by PF_MEMALLOC. */
  function drained(cfg: MachineConfig): Machine {
    // Writes to swap take 2 s, so kswapd cannot free the anon pages at once.
    const m = boot({ swap: '32M', swapCost: { writeNs: 2e9 }, ...cfg });
    const am = m.mmapAnon(2048);
    for (let i = 0; i < 2048; i++) expect(m.anonFault(am, i)).not.toBe(NO_PAGE);
    exhaust(m);
    const flags = m.memallocNoreclaimSave();
    exhaust(m);
    m.memallocNoreclaimRestore(flags);
    return m;
  }

  it('below half the min watermarks a user task waits for kswapd (pgscan_direct_throttle), kswapd is woken', () => {
    const m = drained({});
    // Draining it made kswapd give up on the node (its writes take 2 s): a hopeless node is not throttled.
    expect(m.vmscan.kswapdFailures).toBeGreaterThanOrEqual(16);
    expect(m.vmscan.allowDirectReclaim()).toBe(true);
    m.vmscan.kswapdFailures = 0; // as a successful direct reclaim resets it
    expect(m.vmscan.allowDirectReclaim()).toBe(false);
    expect(m.vmscan.kswapdPending).toBe(true);
    const t0 = m.clock.ns;
    m.tryToFreePages(GFP.KERNEL);
    expect(m.events.pgscanDirectThrottle).toBeGreaterThanOrEqual(1);
    expect(m.proc('vmstat')).toContain(`\npgscan_direct_throttle ${m.events.pgscanDirectThrottle}\n`);
    // kswapd ran meanwhile and restored the reserve, which woke the waiter.
    expect(m.vmscan.stats.kswapdRuns).toBeGreaterThan(0);
    expect(m.vmscan.allowDirectReclaim()).toBe(true);
    expect(m.clock.ns).toBeGreaterThanOrEqual(t0);
  });

  it('does not exist before 3.6 nor in the mem_reserve design', () => {
    for (const reserves of ['none', 'mem_reserve'] as const) {
      const m = drained({ policy: { reserves } });
      m.vmscan.kswapdFailures = 0;
      m.tryToFreePages(GFP.KERNEL);
      expect(m.events.pgscanDirectThrottle).toBe(0);
    }
  });
});

describe('the network on the reserves', () => {
  /** A machine below its min watermarks (ordinary allocations refused), with memory left under them. */
  function short(cfg: MachineConfig = {}): Machine {
    const m = boot(cfg);
    void m.net; // skbuff_head_cache exists before memory runs out, as it does from boot in the kernel
    exhaust(m, GFP.ATOMIC | GFP.NOWARN);
    return m;
  }

  it('without a SOCK_MEMALLOC socket a packet finds no buffer below the atomic reserve and is lost', () => {
    const m = short();
    const sk = new Sock('ssh');
    expect(m.netifReceive(sk, 1448)).toBeNull();
    expect(m.net.dev.stats.rxDropped).toBe(1);
  });

  it('with one, every receive may use the reserves: the swap socket keeps its pfmemalloc skb, another drops it (PFMEMALLOCDROP)', () => {
    const m = short();
    const swap = new Sock('nfs');
    const ssh = new Sock('ssh');
    m.skSetMemalloc(swap);
    expect(swap.allocation & GFP.MEMALLOC).toBe(GFP.MEMALLOC);
    const kept = m.netifReceive(swap, 1448);
    expect(kept).not.toBeNull();
    expect(kept!.pfmemalloc).toBe(true);
    expect(swap.queue).toHaveLength(1);
    const liveBefore = m.net.skb.live;
    expect(m.netifReceive(ssh, 1448)).toBeNull();
    expect(m.net.socks.stats.pfmemallocDrop).toBe(1);
    expect(ssh.pfmemallocDrops).toBe(1);
    expect(m.net.skb.live).toBe(liveBefore); // the dropped skb went straight back
    m.skClearMemalloc(swap);
    expect(m.net.socks.memallocSocks).toBe(0);
    m.checkInvariants();
  });

  it('kmalloc_reserve asks without the reserves first: with memory to spare nothing is pfmemalloc', () => {
    const m = boot();
    const swap = new Sock('nfs');
    m.skSetMemalloc(swap);
    const skb = m.netifReceive(swap, 1448)!;
    expect(skb.pfmemalloc).toBe(false);
    expect(skb.dataSize).toBe(2048); // 1448 + NET_SKB_PAD, aligned, plus skb_shared_info: kmalloc-2k
    const alloc = m.slab.kmallocSlab(2048, GFP.ATOMIC);
    expect(m.mm.flags[m.virtToPage(skb.data)] & PG_PFMEMALLOC).toBe(0);
    expect(alloc.name).toBe('kmalloc-2k');
  });

  it('before 3.6 sk_set_memalloc does not exist and nothing is dropped for being pfmemalloc', () => {
    const m = short({ policy: { reserves: 'none' } });
    const swap = new Sock('nfs');
    m.skSetMemalloc(swap);
    expect(swap.memalloc).toBe(false);
    expect(m.netifReceive(swap, 1448)).toBeNull();
  });

  it('mem_reserve: an emergency receive buffer is charged to its reserve, strictly, and uncharged when freed', () => {
    const m = boot({ policy: { reserves: 'mem_reserve' } });
    void m.net;
    const rx = m.memReserveInit('rx', m.memReserveRoot);
    expect(m.memReserveKmallocSet(rx, 2 * (256 + 2048))).toBe(true);
    m.net.dev.rxReserve = {
      charge: (b) => m.memReserveKmallocCharge(rx, b),
      uncharge: (b) => void m.memReserveKmallocCharge(rx, -b),
    };
    exhaust(m, GFP.ATOMIC | GFP.NOWARN);
    const swap = new Sock('nfs');
    m.skSetMemalloc(swap);
    const a = m.netifReceive(swap, 1448)!;
    expect(a.pfmemalloc).toBe(true);
    expect(rx.usage).toBeGreaterThanOrEqual(2048);
    // Receives go on until the next charge would pass the limit; nothing beyond it is taken.
    let kept = 1;
    while (m.netifReceive(swap, 1448)) kept++;
    expect(kept).toBeGreaterThanOrEqual(2);
    expect(rx.usage).toBeLessThanOrEqual(rx.limit);
    expect(m.net.skb.stats.reserveLimitHits).toBe(1);
    expect(m.net.dev.stats.rxDropped).toBe(1);
    m.net.socks.read(swap);
    expect(rx.usage).toBe(0);
    expect(m.netifReceive(swap, 1448)).not.toBeNull();
    m.checkInvariants();
  });
});

describe('scenario swap-over-network', () => {
  const params = resolveParams(swapNetScenario, {});
  const run = (name: string, steps = 700) => runSwapNet({ mem: '64M', swap: '256M' }, SWAP_NET_DESIGNS.find((d) => d.name === name)!, steps, 1, params);

  it('deadlocks without reserves: replies find no buffer, writeback stops, and the step is reported', () => {
    const r = run('none');
    expect(r.outcome).toBe('deadlock');
    expect(r.deadlockStep).toBeGreaterThan(0);
    expect(r.repliesLost).toBeGreaterThan(0);
    expect(r.swappedOut).toBeLessThan(5000);
  });

  it('makes progress under pfmemalloc at the default min_free_kbytes, under mem_reserve, and with mempools for every socket', () => {
    for (const name of ['pfmemalloc', 'mem_reserve', 'mempool-all']) {
      const r = run(name);
      expect([name, r.outcome]).toEqual([name, 'progress']);
      expect(r.swappedOut).toBeGreaterThan(10_000);
      expect(r.repliesLost).toBe(0);
    }
  });

  it('deadlocks with mempools sized for the swap path alone (the receive pool drains into other sockets)', () => {
    const r = run('mempool-swap');
    expect(r.outcome).toBe('deadlock');
    expect(r.pfmemallocDrops).toBe(0);
  });

  it('rejects bad parameters with the parameter named', () => {
    expect(() => resolveParams(swapNetScenario, { slots: '0' })).toThrow(/slots: expected a whole number from 1 to 4096, got '0'/);
    expect(() => resolveParams(swapNetScenario, { designs: 'pfmemalloc,bogus' })).toThrow(/designs: unknown design 'bogus'/);
    expect(() => resolveParams(swapNetScenario, { traffic: 'lots' })).toThrow(/traffic: expected packets per second/);
  });
});
