/**
 * Socket buffers (net/core/skbuff.c __alloc_skb, kmalloc_reserve, __netdev_alloc_skb, kfree_skb,
 * skb_pfmemalloc; include/linux/skbuff.h SKB_TRUESIZE).
 *
 * An skb is a head (struct sk_buff) from skbuff_head_cache and a data area from kmalloc:
 * SKB_DATA_ALIGN(size) plus the shared info at its end. kmalloc_reserve() first asks without the reserves
 * (__GFP_NOMEMALLOC|__GFP_NOWARN); only a caller entitled to them (gfp_pfmemalloc_allowed) asks again with
 * its own gfp, and that skb is marked pfmemalloc. With a SOCK_MEMALLOC socket in the system
 * (sk_memalloc_socks), receive allocations add __GFP_MEMALLOC, so that a packet can be received when memory
 * is exhausted; whether it may be kept is decided at the socket (sock.ts).
 * Policy reserves: 'none' is the kernel before 3.6: one plain kmalloc with the caller's gfp, no marking.
 * 'mem_reserve' (Zijlstra): an allocation that needs the reserves must first charge the reserve the caller
 * names (`charge`), strictly: if the charge fails, so does the allocation; freeing the skb uncharges it.
 * Departures: no page-frag caches (netdev_alloc_skb/napi_alloc_skb carve small data areas out of frag pages;
 * here they come from kmalloc, and a receive buffer is pfmemalloc when its slab page is, as a frag is when
 * its page is), no small-head cache, clones or frags; a receive
 * data area may come from a driver's buffer pool instead (a mempool: dev.ts).
 */
import { GFP } from '../gfp.js';
import type { PageAlloc } from '../mm/page_alloc.js';
import type { SlabCommon } from '../mm/slab_common.js';
import type { KmemCache } from '../mm/slub.js';
import type { Policy } from '../config.js';

/** sizeof(struct sk_buff) on x86_64 (6.x), before the cache's cache-line alignment. */
export const SKB_STRUCT_SIZE = 232;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)). */
export const SKB_SHINFO_SIZE = 320;
/** NET_SKB_PAD: headroom a driver reserves in a receive buffer. */
export const NET_SKB_PAD = 64;
const SMP_CACHE_BYTES = 64;
/** A head as skbuff_head_cache lays it out (cache-line aligned): what a head charges to a reserve. */
export const SKB_HEAD_OBJECT = 256;

/** SKB_DATA_ALIGN(). */
export function skbDataAlign(n: number): number {
  return Math.ceil(n / SMP_CACHE_BYTES) * SMP_CACHE_BYTES;
}

/** SKB_HEAD_ALIGN(): the data area kmalloc is asked for. */
export function skbHeadAlign(size: number): number {
  return skbDataAlign(size) + SKB_SHINFO_SIZE;
}

/** A strict reserve an emergency allocation is charged to (mm/reserve.ts under policy mem_reserve). */
export interface SkbReserve {
  /** Charge `bytes` (a kmalloc size as allocated); false if that would pass the limit. */
  charge(bytes: number): boolean;
  uncharge(bytes: number): void;
}

/**
 * Zijlstra's emergency allocation (___kmalloc_reserve under mem_reserve): charge `reserve` strictly, then
 * allocate; a failed allocation gives the charge back. The object, 0 if the allocation failed, or -1 if the
 * charge would have passed the reserve's limit.
 */
export function chargedAlloc(reserve: SkbReserve, bytes: number, alloc: () => number): number {
  if (!reserve.charge(bytes)) return -1;
  const obj = alloc();
  if (!obj) reserve.uncharge(bytes);
  return obj;
}

/** A pool of objects (a mempool) that skb heads or data areas come from instead of the slab allocator. */
export interface ObjPool {
  /** An object of the pool's size, or 0. */
  alloc(gfp: number): number;
  free(addr: number): void;
  readonly size: number;
}

/** A driver's (or transport's) preallocated skbs: heads and data areas. */
export interface SkbPool {
  head: ObjPool;
  data: ObjPool;
}

export class SkBuff {
  /** The struct sk_buff object and the data area (kernel addresses). */
  head = 0;
  data = 0;
  /** Data area size as allocated (what ksize says), and SKB_TRUESIZE: what the socket is charged. */
  dataSize = 0;
  truesize = 0;
  len = 0;
  /** skb->pfmemalloc: the data came from the reserves. */
  pfmemalloc = false;
  /** The reserve charged for it (mem_reserve), and how much. */
  reserve: SkbReserve | undefined;
  charged = 0;
  /** The pool its head and data came from, if any. */
  pool: SkbPool | undefined;
  /** What the owner keeps with it (an RPC's identity, a stream's sequence number). */
  cookie = 0;
}

export interface SkbuffDeps {
  slab: SlabCommon;
  pa: PageAlloc;
  policy: Policy;
  headCache: KmemCache;
  /** sk_memalloc_socks(): how many SOCK_MEMALLOC sockets exist. */
  memallocSocks: () => number;
  /** page_is_pfmemalloc(virt_to_head_page(addr)). */
  isPfmemalloc: (addr: number) => boolean;
}

/** SKB_ALLOC_RX: the buffer receives a packet (it may then use the reserves once a memalloc socket exists). */
export const SKB_ALLOC_RX = 0x02;

export class Skbuff {
  private readonly d: SkbuffDeps;
  readonly stats = {
    /** skbs allocated, and those whose data came from the reserves (skb->pfmemalloc). */
    allocs: 0, pfmemallocAllocs: 0,
    /** Allocations that failed; of those, ones not entitled to the reserves while another was (refused). */
    failures: 0,
    /** mem_reserve: emergency allocations refused by their reserve's strict limit. */
    reserveLimitHits: 0,
    frees: 0,
  };
  /** skbs live now and the bytes of their data areas. */
  live = 0;
  liveBytes = 0;

  constructor(d: SkbuffDeps) {
    this.d = d;
  }

  /** skbuff_head_cache. */
  get headCache(): KmemCache {
    return this.d.headCache;
  }

  /**
   * __alloc_skb(size, gfp, flags): the head, then the data through kmalloc_reserve. `reserve` is the
   * mem_reserve an emergency data allocation is charged to (mem_reserve policy), `pool` a driver's buffer
   * pool that serves the data instead of kmalloc. Returns null when either part cannot be had.
   */
  allocSkb(size: number, gfp: number, flags = 0, reserve?: SkbReserve, pool?: SkbPool): SkBuff | null {
    const d = this.d;
    if (d.policy.reserves !== 'none' && flags & SKB_ALLOC_RX && d.memallocSocks()) gfp |= GFP.MEMALLOC;
    const skb = new SkBuff();
    // The head: from the pool, or skbuff_head_cache with the caller's gfp (charged under mem_reserve).
    skb.head = pool ? pool.head.alloc(gfp) : this.reserveAlloc(skb, SKB_HEAD_OBJECT, gfp, reserve, (g) => d.slab.kmemCacheAlloc(d.headCache, g & ~GFP.DMA, 'skb_alloc_head'), false);
    if (!skb.head) {
      this.stats.failures++;
      return null;
    }
    if (pool) {
      // A driver's own buffers (a mempool): no reserve marking, whoever the packet is for.
      skb.pool = pool;
      skb.dataSize = pool.data.size;
      skb.data = size <= pool.data.size ? pool.data.alloc(gfp) : 0;
    } else {
      skb.dataSize = d.slab.kmallocSizeRoundup(skbHeadAlign(size));
      skb.data = this.reserveAlloc(skb, skb.dataSize, gfp, reserve, (g) => d.slab.kmalloc(skb.dataSize, g, 'kmalloc_reserve'), true);
    }
    if (!skb.data) {
      this.freeHead(skb);
      this.stats.failures++;
      return null;
    }
    // A receive buffer comes from a page-frag cache in the kernel, whose pfmemalloc is its page's: an object
    // of a pfmemalloc slab (which the lockless fast path hands to anyone) marks the skb the same way.
    if (flags & SKB_ALLOC_RX && !pool && d.policy.reserves !== 'none' && d.isPfmemalloc(skb.data)) skb.pfmemalloc = true;
    skb.len = size;
    skb.truesize = skb.dataSize + skbDataAlign(SKB_STRUCT_SIZE); // SKB_TRUESIZE
    this.stats.allocs++;
    if (skb.pfmemalloc) this.stats.pfmemallocAllocs++;
    this.live++;
    this.liveBytes += skb.dataSize;
    return skb;
  }

  /**
   * kmalloc_reserve() for the data (`marks`: the skb becomes pfmemalloc), and the same rule for the head:
   * without the reserves first; then, if the caller may use them, from them. Under mem_reserve that second
   * attempt must first be charged to `reserve` (strictly). Before 3.6 (reserves=none): one plain attempt.
   */
  private reserveAlloc(skb: SkBuff, bytes: number, gfp: number, reserve: SkbReserve | undefined, alloc: (gfp: number) => number, marks: boolean): number {
    const d = this.d;
    if (d.policy.reserves === 'pfmemalloc' && !marks) return alloc(gfp); // __alloc_skb's head: the caller's gfp
    if (d.policy.reserves === 'none') return alloc(gfp);
    const obj = alloc(gfp | GFP.NOMEMALLOC | GFP.NOWARN);
    if (obj || !d.pa.gfpPfmemallocAllowed(gfp)) return obj;
    const charge = d.policy.reserves === 'mem_reserve' && reserve !== undefined;
    const emerg = charge ? chargedAlloc(reserve, bytes, () => alloc(gfp)) : alloc(gfp);
    if (emerg === -1) this.stats.reserveLimitHits++;
    if (emerg <= 0) return 0;
    if (charge) {
      skb.reserve = reserve;
      skb.charged += bytes;
    }
    if (marks) skb.pfmemalloc = true;
    return emerg;
  }

  private freeHead(skb: SkBuff): void {
    if (skb.pool) skb.pool.head.free(skb.head);
    else this.d.slab.kmemCacheFree(this.d.headCache, skb.head, 'kfree_skbmem');
    if (skb.reserve) skb.reserve.uncharge(skb.charged);
    skb.reserve = undefined;
    skb.charged = 0;
    skb.head = 0;
  }

  /** kfree_skb()/consume_skb(): data (back to its pool, or kfree; a reserve charge is returned), then head. */
  kfreeSkb(skb: SkBuff): void {
    if (!skb.head) throw new Error('kfree_skb: skb already freed');
    if (skb.pool) skb.pool.data.free(skb.data);
    else this.d.slab.kfree(skb.data, 'skb_free_head');
    this.freeHead(skb);
    this.live--;
    this.liveBytes -= skb.dataSize;
    skb.data = 0;
    this.stats.frees++;
  }
}
