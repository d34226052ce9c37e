/**
 * Sockets as the receive path and the reserves see them (net/core/sock.c sk_set_memalloc,
 * sk_clear_memalloc, sock_queue_rcv_skb, __sk_receive_skb; net/core/filter.c sk_filter_trim_cap).
 *
 * A socket has a receive queue bounded by sk_rcvbuf (charged SKB_TRUESIZE per skb) and an allocation mask
 * (sk_allocation). sk_set_memalloc() marks it SOCK_MEMALLOC, adds __GFP_MEMALLOC to its allocations and counts
 * it in memalloc_socks_key, which lets every receive allocation in the system dip into the reserves. The price:
 * sk_filter_trim_cap() drops a pfmemalloc skb that arrives at any other socket (LINUX_MIB_PFMEMALLOCDROP), so
 * that reserve memory never waits in the queue of a reader that is not helping to free memory.
 * Departures: no protocol state (the model has no TCP: a packet is delivered or dropped), no sk_rmem
 * accounting by memory pressure (sk_mem_schedule); reading frees the skb at once.
 */
import { GFP } from '../gfp.js';
import type { Policy } from '../config.js';
import type { SkBuff, Skbuff } from './skbuff.js';

/** net.core.rmem_default. */
export const RMEM_DEFAULT = 212_992;

export class Sock {
  readonly name: string;
  /** sk_allocation: GFP_KERNEL for an ordinary socket; the NFS transport uses GFP_NOIO (xs_tcp_finish_connecting). */
  allocation: number;
  /** SOCK_MEMALLOC. */
  memalloc = false;
  rcvbuf: number;
  /** sk_rmem_alloc: truesize of the queued skbs. */
  rmemAlloc = 0;
  readonly queue: SkBuff[] = [];
  /** Delivered, dropped for rcvbuf (sk_drops), dropped as pfmemalloc. */
  delivered = 0;
  drops = 0;
  pfmemallocDrops = 0;
  /** Called when a packet has been queued (sk_data_ready). */
  dataReady: ((sk: Sock) => void) | undefined;

  constructor(name: string, allocation: number = GFP.KERNEL, rcvbuf = RMEM_DEFAULT) {
    this.name = name;
    this.allocation = allocation;
    this.rcvbuf = rcvbuf;
  }
}

export class Sockets {
  private readonly skb: Skbuff;
  private readonly policy: Policy;
  /** memalloc_socks_key: SOCK_MEMALLOC sockets in the system. */
  memallocSocks = 0;
  /** TcpExt counters. */
  readonly stats = { pfmemallocDrop: 0, rcvbufErrors: 0 };

  constructor(skb: Skbuff, policy: Policy) {
    this.skb = skb;
    this.policy = policy;
  }

  /** sk_set_memalloc(): the socket may use the reserves (swap over the network). Not before 3.6 (reserves=none). */
  skSetMemalloc(sk: Sock): void {
    if (this.policy.reserves === 'none' || sk.memalloc) return;
    sk.memalloc = true;
    sk.allocation |= GFP.MEMALLOC;
    this.memallocSocks++;
  }

  /** sk_clear_memalloc(). */
  skClearMemalloc(sk: Sock): void {
    if (!sk.memalloc) return;
    sk.memalloc = false;
    sk.allocation &= ~GFP.MEMALLOC;
    this.memallocSocks--;
  }

  /**
   * sock_queue_rcv_skb(): sk_filter_trim_cap() drops a pfmemalloc skb for a socket without SOCK_MEMALLOC;
   * a full receive buffer drops it too. Returns true if queued; a dropped skb is freed.
   */
  sockQueueRcvSkb(sk: Sock, skb: SkBuff): boolean {
    if (skb.pfmemalloc && !sk.memalloc && this.policy.reserves !== 'none') {
      this.stats.pfmemallocDrop++;
      sk.pfmemallocDrops++;
      this.skb.kfreeSkb(skb);
      return false;
    }
    if (sk.rmemAlloc + skb.truesize > sk.rcvbuf) {
      this.stats.rcvbufErrors++;
      sk.drops++;
      this.skb.kfreeSkb(skb);
      return false;
    }
    sk.queue.push(skb);
    sk.rmemAlloc += skb.truesize;
    sk.delivered++;
    sk.dataReady?.(sk);
    return true;
  }

  /** skb_recv_datagram(): the oldest queued skb, or null; the reader frees it (consume_skb). */
  skbRecv(sk: Sock): SkBuff | null {
    const skb = sk.queue.shift();
    if (!skb) return null;
    sk.rmemAlloc -= skb.truesize;
    return skb;
  }

  /** A reader drains up to `max` packets from the socket: each skb is consumed and freed. Returns how many. */
  read(sk: Sock, max = Infinity): number {
    let n = 0;
    for (let skb = n < max ? this.skbRecv(sk) : null; skb; skb = ++n < max ? this.skbRecv(sk) : null) this.skb.kfreeSkb(skb);
    return n;
  }

  /** The socket is closed: its queue is purged (skb_queue_purge) and SOCK_MEMALLOC cleared. */
  close(sk: Sock): void {
    this.read(sk);
    this.skClearMemalloc(sk);
  }
}
