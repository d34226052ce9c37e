/**
 * The receive path of a network device (net/core/skbuff.c __netdev_alloc_skb; net/core/dev.c
 * __netif_receive_skb, __netif_receive_skb_core).
 *
 * A packet arrives in softirq (NET_RX): the driver allocates a receive buffer with GFP_ATOMIC|__GFP_NOWARN
 * (SKB_ALLOC_RX, so with __GFP_MEMALLOC while a SOCK_MEMALLOC socket exists); if there is none, the packet is
 * lost (rx_dropped) and its sender will retransmit. __netif_receive_skb() processes a pfmemalloc skb under
 * memalloc_noreclaim (PF_MEMALLOC), since what it allocates on the way belongs to the reserve's work too,
 * and hands it to the socket, which keeps it or drops it (sock.ts).
 * The softirq runs in the context of ksoftirqd (a kernel thread without PF_MEMALLOC), as it does when the
 * CPUs are otherwise idle: in the model the tasks that let time pass are asleep in reclaim, and a packet
 * must not inherit their PF_MEMALLOC.
 * Departures: no NAPI budget or GRO; a driver either allocates each buffer as it needs it, or (rxPool) takes
 * it from a preallocated pool of buffers (a mempool), which knows nothing of sockets or reserves.
 */
import { GFP } from '../gfp.js';
import type { Sched, Task } from '../mm/sched.js';
import { PF_KTHREAD } from '../mm/sched.js';
import { NET_SKB_PAD, SKB_ALLOC_RX, type SkBuff, type Skbuff, type SkbPool, type SkbReserve } from './skbuff.js';
import type { Sock, Sockets } from './sock.js';

/** GFP_ATOMIC|__GFP_NOWARN: netdev_alloc_skb()'s mask. */
const GFP_NETDEV = GFP.ATOMIC | GFP.NOWARN;

export class NetDevice {
  readonly name: string;
  private readonly skb: Skbuff;
  private readonly socks: Sockets;
  private readonly sched: Sched;
  readonly ksoftirqd: Task;
  /** A pool of receive buffers the driver takes its buffers from (the mempools-only design), or none. */
  rxPool: SkbPool | undefined;
  /** The mem_reserve that emergency receive buffers are charged to (policy mem_reserve), or none. */
  rxReserve: SkbReserve | undefined;
  /** rx_packets, rx_dropped (no buffer). */
  readonly stats = { rxPackets: 0, rxDropped: 0, rxPfmemalloc: 0 };

  constructor(name: string, skb: Skbuff, socks: Sockets, sched: Sched) {
    this.name = name;
    this.skb = skb;
    this.socks = socks;
    this.sched = sched;
    this.ksoftirqd = sched.createTask('ksoftirqd/0', 0);
    this.ksoftirqd.flags |= PF_KTHREAD;
  }

  /**
   * A packet of `len` bytes for socket `sk` arrives: NET_RX softirq in ksoftirqd's context allocates its
   * buffer (__netdev_alloc_skb) and delivers it (__netif_receive_skb). Returns the skb if the socket kept
   * it, null if it was lost for want of memory or dropped at the socket.
   */
  receive(sk: Sock, len: number, cookie = 0): SkBuff | null {
    return this.sched.runAs(this.ksoftirqd, () => {
      this.sched.softirqEnter();
      try {
        const skb = this.skb.allocSkb(len + NET_SKB_PAD, GFP_NETDEV, SKB_ALLOC_RX, this.rxReserve, this.rxPool);
        if (!skb) {
          this.stats.rxDropped++;
          return null;
        }
        skb.cookie = cookie;
        this.stats.rxPackets++;
        if (skb.pfmemalloc) this.stats.rxPfmemalloc++;
        return this.netifReceiveSkb(skb, sk) ? skb : null;
      } finally {
        this.sched.softirqExit();
      }
    });
  }

  /** __netif_receive_skb(): a pfmemalloc skb is processed under PF_MEMALLOC while memalloc sockets exist. */
  private netifReceiveSkb(skb: SkBuff, sk: Sock): boolean {
    if (!(this.socks.memallocSocks && skb.pfmemalloc)) return this.socks.sockQueueRcvSkb(sk, skb);
    const flags = this.sched.memallocNoreclaimSave();
    try {
      return this.socks.sockQueueRcvSkb(sk, skb);
    } finally {
      this.sched.memallocNoreclaimRestore(flags);
    }
  }
}
