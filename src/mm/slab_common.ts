/**
 * kmalloc (mm/slab_common.c, include/linux/slab.h): the kmalloc caches of every size class and type, and
 * kmalloc/kzalloc/kmalloc_array/kfree/ksize/krealloc/kmalloc_size_roundup on top of SLUB, with large
 * kmalloc (above KMALLOC_MAX_CACHE_SIZE, 8 KiB with 4 KiB pages) served as compound pages straight from the
 * page allocator and marked as such so that kfree() recognises them.
 * With SLAB_VFALLBACK (seed 000) a kmem_cache object may live in a virtual slab at a vmalloc address:
 * kfree(), kmem_cache_free() and ksize() find its slab through the page tables, as the series made
 * virt_to_head_page() do; any other address outside the direct map is still reported as before.
 * Departures: no random kmalloc caches (CONFIG_RANDOM_KMALLOC_CACHES off), no kmalloc node variants.
 */
import { GFP, formatGfpMode } from '../gfp.js';
import type { DirectMap, PhysMem } from './memory.js';
import { MemMap, NO_PAGE, PAGE_SIZE, PGTY_LARGE_KMALLOC, PGTY_MASK, PGTY_SLAB, MAX_PAGE_ORDER } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_KFREE, EV_KMALLOC } from '../trace/events.js';
import {
  KmemCache, SLAB_ACCOUNT, SLAB_CACHE_DMA, SLAB_KMALLOC, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER,
  SLAB_TYPESAFE_BY_RCU, Slub,
} from './slub.js';
import { fls } from './zone.js';
import { getOrder } from './page_alloc.js';

/** ZERO_SIZE_PTR: what kmalloc(0) returns; kfree() of it is a no-op. */
export const ZERO_SIZE_PTR = 16;
/** KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1: the largest kmalloc cache is 8 KiB. */
export const KMALLOC_MAX_CACHE_SIZE = 8192;
/** KMALLOC_MAX_SIZE: the largest block the page allocator can give (MAX_PAGE_ORDER). */
export const KMALLOC_MAX_SIZE = PAGE_SIZE << MAX_PAGE_ORDER;

/** enum kmalloc_cache_type. */
export const KMALLOC_NORMAL = 0;
export const KMALLOC_RECLAIM = 1;
export const KMALLOC_DMA = 2;
export const KMALLOC_CGROUP = 3;
const TYPE_PREFIX = ['kmalloc-', 'kmalloc-rcl-', 'dma-kmalloc-', 'kmalloc-cg-'];
const TYPE_FLAGS = [0, SLAB_RECLAIM_ACCOUNT, SLAB_CACHE_DMA, SLAB_ACCOUNT];

/** kmalloc_size_index[(size - 1) / 8] for sizes up to 192: index 1 is kmalloc-96, 2 is kmalloc-192. */
const SIZE_INDEX = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2];
/** The object size of kmalloc cache index i (kmalloc_info[]). */
const INDEX_SIZE = [0, 96, 192, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
/** GFP_SLAB_BUG_MASK: zone modifiers slab pages cannot honour. */
const GFP_SLAB_BUG_MASK = GFP.DMA32 | GFP.HIGHMEM;
/** Bits that take kmalloc off its fast path: another kmalloc type, or a mask to fix up (written as a literal there). */
export const NOT_NORMAL_OR_BUG = GFP.RECLAIMABLE | GFP.DMA | GFP.ACCOUNT | GFP_SLAB_BUG_MASK;
/** kmalloc_index() of every size up to 8 KiB, by (size - 1) >> 3: one load on the fast path. */
const SIZE_TO_INDEX = new Uint8Array(KMALLOC_MAX_CACHE_SIZE >> 3);
for (let i = 0; i < SIZE_TO_INDEX.length; i++) {
  const size = (i + 1) << 3;
  SIZE_TO_INDEX[i] = size <= 192 ? SIZE_INDEX[i] : fls(size - 1);
}

/** The default call site printed by the tracepoints when the caller names none (%pS of an unknown address). */
const UNKNOWN_CALLER = '0x0';

export interface SlabCommonDeps {
  mm: MemMap;
  pa: PageAlloc;
  slub: Slub;
  mem: PhysMem;
  directMap: DirectMap;
  printk: Printk;
  trace: TraceBuffer;
  bitsPerLong: 32 | 64;
}

export class SlabCommon {
  /** kmalloc_caches[type][index]. */
  readonly kmallocCaches: KmemCache[][];
  /** kmalloc_caches[KMALLOC_NORMAL]. */
  private readonly kmallocNormal: KmemCache[];
  /** SIZE_TO_INDEX, held by the instance so the fast path reads a field, not a module binding. */
  private readonly sizeToIndex = SIZE_TO_INDEX;
  /** Large kmalloc pages (the kernel counts them into NR_SLAB_UNRECLAIMABLE_B). */
  largePages = 0;
  private readonly mm: MemMap;
  private readonly pa: PageAlloc;
  private readonly slub: Slub;
  private readonly mem: PhysMem;
  private readonly directMap: DirectMap;
  private readonly printk: Printk;
  private readonly trace: TraceBuffer;
  private readonly sizeMax: bigint;
  private readonly pageOffset: number;
  private readonly directMapBytes: number;

  constructor(d: SlabCommonDeps) {
    this.mm = d.mm;
    this.pa = d.pa;
    this.slub = d.slub;
    this.mem = d.mem;
    this.directMap = d.directMap;
    this.printk = d.printk;
    this.trace = d.trace;
    this.sizeMax = (1n << BigInt(d.bitsPerLong)) - 1n;
    this.pageOffset = d.directMap.pageOffset;
    this.directMapBytes = d.directMap.maxLowPfn * PAGE_SIZE;
    // create_kmalloc_caches(): every type, every size class, in the kernel's index order.
    this.kmallocCaches = TYPE_PREFIX.map((prefix, type) => {
      const row: KmemCache[] = [];
      for (let i = 1; i < INDEX_SIZE.length; i++) {
        const size = INDEX_SIZE[i];
        const name = prefix + (size >= 1024 ? `${size >> 10}k` : String(size));
        const s = d.slub.kmemCacheCreate(name, size, { flags: SLAB_KMALLOC | TYPE_FLAGS[type] });
        if (!s) throw new Error(`boot: cannot create ${name}`);
        row[i] = s;
      }
      return row;
    });
    this.kmallocNormal = this.kmallocCaches[KMALLOC_NORMAL];
  }

  /** kmalloc_type(). */
  kmallocType(gfp: number): number {
    if ((gfp & (GFP.RECLAIMABLE | GFP.DMA | GFP.ACCOUNT)) === 0) return KMALLOC_NORMAL;
    if (gfp & GFP.DMA) return KMALLOC_DMA;
    if (gfp & GFP.RECLAIMABLE) return KMALLOC_RECLAIM;
    return KMALLOC_CGROUP;
  }

  /** kmalloc_index(): the size class of a small request. */
  kmallocIndex(size: number): number {
    return size <= 192 ? SIZE_INDEX[(size - 1) >> 3] : fls(size - 1);
  }

  /** kmalloc_slab(): the cache that serves `size` for this gfp. */
  kmallocSlab(size: number, gfp: number): KmemCache {
    return this.kmallocCaches[this.kmallocType(gfp)][this.kmallocIndex(size)];
  }

  /** kmalloc(): an object address, ZERO_SIZE_PTR for size 0, or 0 (NULL). */
  kmalloc(size: number, gfp: number, callSite?: string): number {
    // The common case in few bytes, so that V8 inlines it into callers and returns the address unboxed.
    // 8192 is KMALLOC_MAX_CACHE_SIZE; the mask is NOT_NORMAL_OR_BUG (RECLAIMABLE|DMA|ACCOUNT|DMA32|HIGHMEM).
    if (size > 0 && size <= 8192 && (gfp & 0x400017) === 0 && !this.trace.on.kmalloc) {
      return this.slub.slabAlloc(this.kmallocNormal[this.sizeToIndex[(size - 1) >> 3]], gfp);
    }
    return +this.kmallocSlow(size, gfp, callSite); // + keeps the result an unboxed double
  }

  /** kmalloc() with everything the common case does not need: flag fix-ups, size 0, large, tracing. */
  private kmallocSlow(size: number, gfp: number, callSite = UNKNOWN_CALLER): number {
    if (gfp & GFP_SLAB_BUG_MASK) gfp = this.kmallocFixFlags(gfp);
    if (size > KMALLOC_MAX_CACHE_SIZE) return this.kmallocLarge(size, gfp, callSite);
    if (size <= 0) return size === 0 ? ZERO_SIZE_PTR : 0;
    const s = this.kmallocCaches[this.kmallocType(gfp)][this.kmallocIndex(size)];
    const obj = this.slub.slabAlloc(s, gfp);
    if (this.trace.on.kmalloc) this.traceKmalloc(callSite, obj, size, s.size, gfp, s);
    return obj;
  }

  kzalloc(size: number, gfp: number, callSite?: string): number {
    return this.kmalloc(size, gfp | GFP.ZERO, callSite);
  }

  /** kmalloc_array(): NULL if n * size overflows size_t. */
  kmallocArray(n: number, size: number, gfp: number, callSite?: string): number {
    if (n < 0 || size < 0 || BigInt(n) * BigInt(size) > this.sizeMax) return 0;
    return this.kmalloc(n * size, gfp, callSite);
  }

  kcalloc(n: number, size: number, gfp: number, callSite?: string): number {
    return this.kmallocArray(n, size, gfp | GFP.ZERO, callSite);
  }

  /** kmem_cache_alloc(). */
  kmemCacheAlloc(s: KmemCache, gfp: number, callSite = UNKNOWN_CALLER): number {
    if (gfp & GFP_SLAB_BUG_MASK) gfp = this.kmallocFixFlags(gfp);
    const obj = this.slub.slabAlloc(s, gfp);
    if (this.trace.on.kmem_cache_alloc) this.slub.traceCacheAlloc(s, obj, gfp, callSite);
    return obj;
  }

  /**
   * kmem_cache_free(): the object must belong to `s` (cache_from_obj() warns when it does not, and frees to
   * the cache the object really belongs to).
   */
  kmemCacheFree(s: KmemCache, obj: number, callSite = UNKNOWN_CALLER): void {
    const real = this.objCache(obj, 'kmem_cache_free');
    if (!real) return;
    // cache_from_obj() (CONFIG_SLAB_FREELIST_HARDENED): warn, then free to the cache the object is from.
    if (real !== s) this.printk.bug('Wrong slab cache', [`cache_from_obj: Wrong slab cache. ${s.name} but object is from ${real.name}`]);
    if (this.trace.on.kmem_cache_free) this.slub.traceCacheFree(real, obj, callSite);
    this.slub.slabFree(real, obj);
  }

  /** kfree(): NULL and ZERO_SIZE_PTR are no-ops; a large kmalloc goes back to the page allocator. */
  kfree(obj: number, callSite?: string): void {
    const rel = obj - this.pageOffset;
    if (rel >= 0 && rel < this.directMapBytes && !this.trace.on.kfree) {
      const head = this.mm.head((rel / 4096) | 0);
      // (flags & PGTY_MASK) === PGTY_SLAB, as literals: this line runs on every kfree.
      if ((this.mm.flags[head] & 0xf0000) === 0x30000) return this.slub.slabFreeOn(this.slub.caches[this.mm.mapping[head] - 1]!, head, obj);
    }
    this.kfreeSlow(obj, callSite);
  }

  /** kfree() beyond a traced-off free of a slab object: tracing, NULL, large kmalloc, bad addresses. */
  private kfreeSlow(obj: number, callSite = UNKNOWN_CALLER): void {
    if (this.trace.on.kfree) this.traceKfree(obj, callSite);
    if (obj <= ZERO_SIZE_PTR) return;
    const rel = obj - this.pageOffset;
    if (rel < 0 || rel >= this.directMapBytes) return this.kfreeVirtual(obj);
    const head = this.mm.head((rel / PAGE_SIZE) | 0);
    if ((this.mm.flags[head] & PGTY_MASK) === PGTY_SLAB) this.slub.slabFreeOn(this.slub.caches[this.mm.mapping[head] - 1]!, head, obj);
    else this.freeLargeKmalloc(head, obj);
  }

  private traceKfree(obj: number, callSite: string): void {
    this.trace.record(EV_KFREE, obj, 0, 0, 0, 0, 0, 0, callSite);
  }

  /**
   * kfree() of an address outside the direct map: an object of a virtual slab (SLAB_VFALLBACK; the series'
   * virt_to_head_page() walks the page tables), else the bug it always was.
   */
  private kfreeVirtual(obj: number): void {
    const slab = this.slub.virtualSlabOf(obj);
    if (slab === NO_PAGE) return this.kfreeBad(obj);
    this.slub.slabFreeOn(this.slub.caches[this.mm.mapping[slab] - 1]!, slab, obj);
  }

  private kfreeBad(obj: number): void {
    this.printk.bug('kfree', [`kernel BUG at mm/slub.c: kfree: virt_to_folio(0x${obj.toString(16)}) is not a kernel direct-map address`]);
  }

  /** free_large_kmalloc(). */
  private freeLargeKmalloc(head: number, obj: number): void {
    const mm = this.mm;
    if ((mm.flags[head] & PGTY_MASK) !== PGTY_LARGE_KMALLOC || obj !== this.directMap.pageAddress(head)) {
      this.printk.bug('kfree', [
        `WARNING: CPU: 0 PID: 0 at mm/slub.c: free_large_kmalloc`,
        `object pointer: 0x${obj.toString(16)}`,
        'kfree of memory that kmalloc did not return',
      ]);
      return;
    }
    const order = this.slub.slabOrder(head);
    mm.flags[head] &= ~PGTY_MASK;
    this.largePages -= 1 << order;
    this.pa.freePages(head, order);
  }

  /** __kmalloc_large_node(): a compound page of get_order(size), straight from the page allocator. */
  private kmallocLarge(size: number, gfp: number, callSite: string): number {
    const order = getOrder(size);
    const pfn = this.pa.allocPages(gfp | GFP.COMP, order);
    let ptr = 0;
    if (pfn !== NO_PAGE) {
      ptr = this.directMap.pageAddress(pfn);
      this.mm.flags[pfn] = (this.mm.flags[pfn] & ~PGTY_MASK) | PGTY_LARGE_KMALLOC;
      this.largePages += 1 << order;
    }
    if (this.trace.on.kmalloc) {
      this.trace.record(EV_KMALLOC, ptr, size, PAGE_SIZE * 2 ** order, gfp, gfp & GFP.ACCOUNT ? 1 : 0, 0, 0, callSite);
    }
    return ptr;
  }

  /** kmalloc_fix_flags(): slab pages come from lowmem; say so and drop the modifiers. */
  private kmallocFixFlags(gfp: number): number {
    const fixed = gfp & ~GFP_SLAB_BUG_MASK;
    this.printk.warn('Unexpected gfp', [`Unexpected gfp: ${formatGfpMode(gfp & GFP_SLAB_BUG_MASK)}. Fixing up to gfp: ${formatGfpMode(fixed)}. Fix your code!`]);
    return fixed;
  }

  /** The cache of a slab object, or undefined (and a report) if the address is not in a slab. */
  private objCache(obj: number, what: string): KmemCache | undefined {
    const s = this.directMap.contains(obj) ? this.slub.cacheOfPage(this.directMap.virtToPfn(obj)) : this.slub.virtualSlabCache(obj);
    if (!s) this.printk.bug(what, [`kernel BUG at mm/slub.c: ${what}: 0x${obj.toString(16)} is not a slab object`]);
    return s;
  }

  /** ksize(): the usable size of an allocation (__ksize, slab_ksize). */
  ksize(obj: number): number {
    if (obj <= ZERO_SIZE_PTR) return 0;
    // Outside the direct map only a virtual slab's object has a size.
    const head = this.directMap.contains(obj) ? this.mm.head(this.directMap.virtToPfn(obj)) : this.slub.virtualSlabOf(obj);
    if (head === NO_PAGE) return 0;
    const type = this.mm.flags[head] & PGTY_MASK;
    if (type === PGTY_LARGE_KMALLOC) return PAGE_SIZE << this.slub.slabOrder(head);
    if (type !== PGTY_SLAB) return 0;
    const s = this.slub.caches[this.mm.mapping[head] - 1]!;
    // Debugging uses the padding after the object; a free pointer or tracking after it limits the rest.
    if (s.flags & (SLAB_RED_ZONE | SLAB_POISON)) return s.objectSize;
    if (s.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_STORE_USER)) return s.inuse;
    return s.size;
  }

  /** kmalloc_size_roundup(): what kmalloc really gives for `size`. */
  kmallocSizeRoundup(size: number): number {
    if (size <= 0) return 0;
    if (size <= KMALLOC_MAX_CACHE_SIZE) return this.kmallocSlab(size, GFP.KERNEL).objectSize;
    if (size > KMALLOC_MAX_SIZE) return size;
    const order = getOrder(size);
    return PAGE_SIZE << order;
  }

  /**
   * krealloc(): keep the object when it already has room (zeroing the tail with __GFP_ZERO), else allocate,
   * copy ksize() bytes and free the old one. Size 0 frees and returns ZERO_SIZE_PTR.
   */
  krealloc(obj: number, newSize: number, gfp: number, callSite?: string): number {
    if (newSize === 0) {
      this.kfree(obj, callSite);
      return ZERO_SIZE_PTR;
    }
    const ks = obj <= ZERO_SIZE_PTR ? 0 : this.ksize(obj);
    if (ks >= newSize) {
      if (gfp & GFP.ZERO) this.slub.fillBytes(obj + newSize, ks - newSize, 0);
      return obj;
    }
    const ret = this.kmalloc(newSize, gfp, callSite);
    if (ret && ks) {
      const bytes = new Uint8Array(ks);
      this.copyOut(obj, bytes);
      this.copyIn(ret, bytes);
      this.kfree(obj, callSite);
    }
    return ret;
  }

  // The object may be a virtual slab's (krealloc() of a SLAB_VFALLBACK cache's object): SLUB translates.
  private copyOut(addr: number, dst: Uint8Array): void {
    this.slub.forEachPage(addr, dst.length, (pfn, off, pos, n) => this.mem.readFrame(pfn, off, dst, pos, n));
  }

  private copyIn(addr: number, src: Uint8Array): void {
    this.slub.forEachPage(addr, src.length, (pfn, off, pos, n) => this.mem.writeFrame(pfn, off, src, pos, n));
  }

  private traceKmalloc(callSite: string, obj: number, req: number, alloc: number, gfp: number, s: KmemCache): void {
    const accounted = gfp & GFP.ACCOUNT || s.flags & SLAB_ACCOUNT ? 1 : 0;
    this.trace.record(EV_KMALLOC, obj, req, alloc, gfp, accounted, 0, 0, callSite);
  }
}
