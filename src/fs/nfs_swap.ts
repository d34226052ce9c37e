/**
 * Swap over NFS (fs/nfs/file.c nfs_swap_activate, fs/nfs/direct.c nfs_swap_rw; net/sunrpc/xprt.c
 * xprt_reserve/xprt_release, the slot table and its backlog, xprt_transmit, retransmission on timeout;
 * net/sunrpc/xprtsock.c xs_swapper; net/sunrpc/sched.c rpc_malloc for RPC_TASK_SWAPPER).
 *
 * A swap file on NFS is SWP_FS_OPS: swap_writepage hands each page to nfs_swap_rw(), which builds one WRITE
 * RPC per page. That needs memory while memory is short, three times over: the RPC (rpc_task, from the
 * `rpc_tasks` cache) when reclaim starts the write; a transmit skb for the call (the page itself goes by
 * reference); and a receive buffer for the server's reply, allocated in softirq, without which the write
 * never completes, the page never becomes clean, and reclaim never frees it. A transport has `slots` RPC
 * slots (the slot table); calls beyond them wait in the backlog holding their rpc_task. A call whose
 * transmit skb cannot be had is retried after HZ>>4 (rpc_delay); a reply lost for want of a receive buffer
 * is recovered by retransmission after `timeoNs`, and the server replies again.
 * Where the memory comes from is the design under test:
 * - 'plain': ordinary allocations (reserves=none: GFP_NOIO from the reclaimer, which has PF_MEMALLOC;
 *   reserves=pfmemalloc: the socket is SOCK_MEMALLOC (xs_swapper) and swapper RPCs allocate with
 *   __GFP_MEMALLOC, as rpc_malloc does for RPC_TASK_SWAPPER);
 * - 'mem_reserve': Zijlstra's: as pfmemalloc, but every allocation that needs the reserves is first charged
 *   to a strict mem_reserve (RPCs, transmit skbs, receive skbs: `reserves`), and fails when it is spent;
 * - 'mempool': preallocated pools for the RPCs and the transmit skbs, and a pool of receive buffers in the
 *   driver (NetDevice.rxPool), with no reserves otherwise (reserves=none).
 * The server is ideal: it answers every call `rttNs` after the call has crossed the wire (`wireNsPerPage`
 * per page, one call after another).
 * Departures: no TCP (no windows, no ACK-only packets: the reply is the acknowledgement), no NFS page cache
 * or COMMIT (swap writes are stable), one transport; the mainline client also keeps small mempools for
 * rpc_tasks and buffers, which the 'plain' design leaves out so that it shows the reserves alone.
 */
import { GFP } from '../gfp.js';
import type { Clock } from '../mm/clock.js';
import type { PageAlloc } from '../mm/page_alloc.js';
import { PF_KTHREAD, type Sched, type Task } from '../mm/sched.js';
import type { SwapRw } from '../mm/swapfile.js';
import type { NetDevice } from '../net/dev.js';
import { chargedAlloc, type ObjPool, type SkBuff, type Skbuff, type SkbPool, type SkbReserve } from '../net/skbuff.js';
import { Sock, type Sockets } from '../net/sock.js';
import type { Policy } from '../config.js';

/** The WRITE call's headers (RPC, NFS, TCP/IP) in the transmit skb's linear data; the page is a frag. */
export const NFS_WRITE_CALL_HDR = 256;
/** The WRITE reply as it arrives: one packet. */
export const NFS_WRITE_REPLY_LEN = 1500;
/** A congested writer's wait (io_schedule_timeout(5 * HZ), as mempool_alloc), and how many the model allows. */
const CONGESTION_WAIT_NS = 5_000_000_000;
const CONGESTION_MAX_ROUNDS = 12;
/** rpc_delay(task, HZ >> 4) after -ENOMEM from xprt_transmit. */
const RPC_NOMEM_DELAY_NS = 62_500_000;

export type SwapTransportDesign = 'plain' | 'mem_reserve' | 'mempool';

export interface NfsSwapOptions {
  slots: number;
  /**
   * Calls outstanding (in flight and in the backlog) at which the transport is congested: a further writer
   * waits, as mainline's swap writes wait for the NFS client's mempools and request slots.
   */
  maxOutstanding: number;
  rttNs: number;
  wireNsPerPage: number;
  timeoNs: number;
}

/** The strict reserves of the mem_reserve design, one per kind of allocation. */
export interface NfsSwapReserves {
  rpc: SkbReserve;
  tx: SkbReserve;
}

export interface NfsSwapDeps {
  policy: Policy;
  design: SwapTransportDesign;
  clock: Clock;
  sched: Sched;
  pa: PageAlloc;
  skb: Skbuff;
  socks: Sockets;
  dev: NetDevice;
  /** The rpc_tasks cache: kmem_cache_alloc/free. */
  rpcTask: ObjPool;
  /** mem_reserve design: the reserves charged. */
  reserves?: NfsSwapReserves;
  /** mempool design: pools for RPCs and transmit skbs. */
  rpcPool?: ObjPool;
  txPool?: SkbPool;
  opts: NfsSwapOptions;
}

/** One WRITE RPC: the page, its rpc_task, its transmit skb while unacknowledged. */
interface Rpc {
  xid: number;
  pfn: number;
  task: number;
  /** The rpc_task was charged to the reserve (mem_reserve). */
  charged: boolean;
  /** The rpc_task came from the pool (mempool). */
  pooled: boolean;
  tx: SkBuff | null;
  end: (pfn: number) => void;
}

export class NfsSwapFile implements SwapRw {
  readonly sock: Sock;
  private readonly d: NfsSwapDeps;
  /** rpciod: the workqueue that transmits calls out of the backlog (process context). */
  readonly rpciod: Task;
  private readonly backlog: Rpc[] = [];
  private readonly inflight = new Map<number, Rpc>();
  private nextXid = 1;
  private wireBusyUntil = 0;
  private kicking = false;
  private kickQueued = false;
  readonly stats = {
    /** Writes asked for; refused for want of an rpc_task (the page stays dirty); started. */
    writes: 0, refused: 0, started: 0,
    /** Waits of writers for a congested transport (maxOutstanding calls already). */
    congested: 0,
    /** Transmit skbs that could not be had (the call waits HZ>>4); calls sent; replies lost; retransmissions. */
    txFailures: 0, sent: 0, repliesLost: 0, retransmits: 0,
    /** Writes completed (the page is clean and can be freed); most calls in flight and in the backlog. */
    completed: 0, maxInflight: 0, maxBacklog: 0,
  };

  constructor(d: NfsSwapDeps) {
    this.d = d;
    this.sock = new Sock('nfs-swap', GFP.NOIO);
    // xs_swapper(): the transport's socket may use the reserves (a no-op before 3.6).
    if (d.design !== 'mempool') d.socks.skSetMemalloc(this.sock);
    this.sock.dataReady = (sk) => this.dataReady(sk);
    this.rpciod = d.sched.createTask('kworker/u4:1-rpciod', 0);
    this.rpciod.flags |= PF_KTHREAD;
  }

  /** Calls sent and not yet answered, and calls waiting for a slot. */
  get nrInflight(): number {
    return this.inflight.size;
  }
  get nrBacklog(): number {
    return this.backlog.length;
  }

  /** maxOutstanding calls are outstanding: a writer would wait. */
  congested(): boolean {
    return this.inflight.size + this.backlog.length >= this.d.opts.maxOutstanding;
  }

  /** swap_rw: one WRITE RPC for the page. False (the page stays dirty) if no rpc_task can be had now. */
  write(pfn: number, _slot: number, end: (pfn: number) => void): boolean {
    this.stats.writes++;
    // Congested: the writer sleeps until a call completes (the kernel's writers wait for the client's
    // mempool elements, or for request slots, for as long as it takes; the model gives up after a minute).
    const room = () => !this.congested();
    for (let round = 0; !room(); round++) {
      this.stats.congested++;
      // kswapd does not wait: in the model it runs on the stack of the task that woke it, and its wait would
      // stop that task as well; it skips the congested device instead, as reclaim did before 4.x.
      if (round === CONGESTION_MAX_ROUNDS || this.d.sched.current.flags & PF_KTHREAD) return false;
      this.d.clock.sleep(CONGESTION_WAIT_NS, room);
    }
    const rpc: Rpc = { xid: this.nextXid++, pfn, task: 0, charged: false, pooled: false, tx: null, end };
    if (!this.allocTask(rpc)) {
      this.stats.refused++;
      return false;
    }
    this.stats.started++;
    this.backlog.push(rpc);
    if (this.backlog.length > this.stats.maxBacklog) this.stats.maxBacklog = this.backlog.length;
    this.kick();
    return true;
  }

  /** The rpc_task: GFP_NOIO before 3.6; a swapper task's __GFP_MEMALLOC|GFP_NOWAIT after; charged or pooled by design. */
  private allocTask(rpc: Rpc): boolean {
    const d = this.d;
    const gfp = d.policy.reserves === 'none' ? GFP.NOIO : GFP.NOWAIT | GFP.MEMALLOC | GFP.NOWARN;
    if (d.design === 'mempool' && d.rpcPool) {
      rpc.task = d.rpcPool.alloc(GFP.NOIO);
      rpc.pooled = rpc.task !== 0;
      return rpc.pooled;
    }
    if (d.design === 'mem_reserve' && d.reserves) {
      rpc.task = d.rpcTask.alloc(gfp | GFP.NOMEMALLOC);
      if (rpc.task) return true;
      if (!d.pa.gfpPfmemallocAllowed(gfp)) return false;
      const task = chargedAlloc(d.reserves.rpc, d.rpcTask.size, () => d.rpcTask.alloc(gfp));
      rpc.charged = task > 0;
      rpc.task = rpc.charged ? task : 0;
      return rpc.charged;
    }
    rpc.task = d.rpcTask.alloc(gfp);
    return rpc.task !== 0;
  }

  private freeTask(rpc: Rpc): void {
    const d = this.d;
    if (rpc.pooled) d.rpcPool!.free(rpc.task);
    else d.rpcTask.free(rpc.task);
    if (rpc.charged) d.reserves!.rpc.uncharge(d.rpcTask.size);
    rpc.task = 0;
  }

  /** xprt_transmit() for the backlog while slots are free (xprt_reserve: a call waits for a slot). */
  private kick(): void {
    if (this.kicking) return; // the outer loop goes on with what a nested completion freed
    this.kicking = true;
    try {
      while (this.backlog.length && this.inflight.size < this.d.opts.slots) {
        const rpc = this.backlog[0];
        if (!this.transmit(rpc)) {
          // -ENOMEM: rpc_delay(HZ >> 4), then rpciod tries again.
          this.queueKick(this.d.clock.ns + RPC_NOMEM_DELAY_NS);
          break;
        }
        this.backlog.shift();
      }
    } finally {
      this.kicking = false;
    }
  }

  /** rpciod runs the backlog at `at` (process context, its own task). */
  private queueKick(at: number): void {
    if (this.kickQueued) return;
    this.kickQueued = true;
    this.d.clock.addTimer(at, () => {
      this.kickQueued = false;
      this.d.sched.runAs(this.rpciod, () => {
        // A swapper call's transmission continues the write that reclaim (PF_MEMALLOC) started: from 3.6 it
        // runs under memalloc_noreclaim too, so it takes the reserves instead of recursing into reclaim.
        const swapper = this.d.policy.reserves !== 'none' && this.d.design !== 'mempool';
        const flags = swapper ? this.d.sched.memallocNoreclaimSave() : 0;
        try {
          this.kick();
        } finally {
          if (swapper) this.d.sched.memallocNoreclaimRestore(flags);
        }
      });
    });
  }

  /** The call goes out: a transmit skb with the socket's sk_allocation, then the wire, then the server. */
  private transmit(rpc: Rpc): boolean {
    const d = this.d;
    const tx = d.skb.allocSkb(NFS_WRITE_CALL_HDR, this.sock.allocation, 0, d.reserves?.tx, d.design === 'mempool' ? d.txPool : undefined);
    if (!tx) {
      this.stats.txFailures++;
      return false;
    }
    rpc.tx = tx;
    this.inflight.set(rpc.xid, rpc);
    if (this.inflight.size > this.stats.maxInflight) this.stats.maxInflight = this.inflight.size;
    this.stats.sent++;
    const sent = Math.max(this.wireBusyUntil, d.clock.ns) + d.opts.wireNsPerPage;
    this.wireBusyUntil = sent;
    this.scheduleReply(rpc, sent + d.opts.rttNs);
    return true;
  }

  private scheduleReply(rpc: Rpc, at: number): void {
    this.d.clock.addTimer(at, () => this.replyArrives(rpc));
  }

  /** The server's reply reaches the NIC: it needs a receive buffer; lost, the call is retransmitted after timeo. */
  private replyArrives(rpc: Rpc): void {
    const d = this.d;
    if (!this.inflight.has(rpc.xid)) return;
    if (d.dev.receive(this.sock, NFS_WRITE_REPLY_LEN, rpc.xid)) return; // dataReady completed it
    this.stats.repliesLost++;
    this.stats.retransmits++;
    this.scheduleReply(rpc, d.clock.ns + d.opts.timeoNs + d.opts.rttNs);
  }

  /** xs_data_ready -> xprt_complete_rqst: the reply ends the write; the slot goes to the backlog. */
  private dataReady(sk: Sock): void {
    const d = this.d;
    for (let skb = d.socks.skbRecv(sk); skb; skb = d.socks.skbRecv(sk)) {
      const rpc = this.inflight.get(skb.cookie);
      d.skb.kfreeSkb(skb);
      if (!rpc) continue;
      this.inflight.delete(rpc.xid);
      d.skb.kfreeSkb(rpc.tx!);
      rpc.tx = null;
      this.freeTask(rpc);
      this.stats.completed++;
      rpc.end(rpc.pfn);
    }
    if (this.backlog.length) this.queueKick(d.clock.ns);
  }
}
