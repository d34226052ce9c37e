/**
 * SLUB (mm/slub.c, mm/slab_common.c create/destroy): object caches on slabs of pages from the page allocator.
 *
 * A slab is a page (a compound page for order > 0) whose head carries the slab's state in mem_map: page type
 * PGTY_SLAB, `mapping` the cache id + 1, `index` the first free object (its index + 1, 0 for NULL),
 * `private` the counters (bits 0..15 inuse, 16..30 objects, 31 frozen), and the page's list_head links the
 * slab into its node's partial list. A free object holds the address of the next free object at
 * s->offset, in the machine's real bytes, as in the kernel. Each CPU has a slab and a lockless freelist;
 * the node keeps partial slabs; full slabs are untracked unless the cache debugs (then they sit on a full
 * list). Object sizes, alignment, free pointer placement, red zones, tracking and the slab order follow
 * calculate_sizes() and calculate_order().
 * Departures: one node, no per-CPU partial lists (CONFIG_SLUB_CPU_PARTIAL off), no cache merging, no freelist
 * randomisation or hardening, no memcg charging (SLAB_ACCOUNT only selects the cache and prints accounted=).
 * As in mainline, the allocation fast path does not look at pfmemalloc: only a refill does (see slabAlloc).
 */
import { GFP, formatGfpMode } from '../gfp.js';
import type { DirectMap, PhysMem } from './memory.js';
import { MemMap, NO_PAGE, PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE, PG_PFMEMALLOC, PGTY_MASK, PGTY_SLAB } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE } from '../trace/events.js';
import type { Clock } from './clock.js';
import { fls } from './zone.js';
import { getOrder } from './page_alloc.js';

// Cache flags (include/linux/slab.h; the values before 6.9 renumbered them into an enum).
export const SLAB_CONSISTENCY_CHECKS = 0x00000100;
export const SLAB_RED_ZONE = 0x00000400;
export const SLAB_POISON = 0x00000800;
export const SLAB_KMALLOC = 0x00001000;
export const SLAB_HWCACHE_ALIGN = 0x00002000;
export const SLAB_CACHE_DMA = 0x00004000;
export const SLAB_STORE_USER = 0x00010000;
export const SLAB_RECLAIM_ACCOUNT = 0x00020000;
export const SLAB_PANIC = 0x00040000;
export const SLAB_TYPESAFE_BY_RCU = 0x00080000;
export const SLAB_ACCOUNT = 0x04000000;
/** Lameter's SLAB_VFALLBACK (seed 001): large slab orders that may be virtually mapped. Accepted now. */
export const SLAB_VFALLBACK = 0x40000000;
const SLAB_DEBUG_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
/** GFP_RECLAIM_MASK and GFP_CONSTRAINT_MASK (mm/internal.h): what new_slab() keeps of the caller's gfp. */
const GFP_RECLAIM_MASK = GFP.RECLAIM | GFP.HIGH | GFP.IO | GFP.FS | GFP.NOWARN | GFP.RETRY_MAYFAIL | GFP.NOFAIL |
  GFP.NORETRY | GFP.MEMALLOC | GFP.NOMEMALLOC;
const GFP_CONSTRAINT_MASK = GFP.HARDWALL | GFP.THISNODE;

// Debug byte patterns (include/linux/poison.h).
export const SLUB_RED_INACTIVE = 0xbb;
export const SLUB_RED_ACTIVE = 0xcc;
export const POISON_INUSE = 0x5a;
export const POISON_FREE = 0x6b;
export const POISON_END = 0xa5;

/** slub_max_order: PAGE_ALLOC_COSTLY_ORDER. */
const SLUB_MAX_ORDER = PAGE_ALLOC_COSTLY_ORDER;
const MAX_OBJS_PER_PAGE = 32767;
const MIN_PARTIAL = 5;
const MAX_PARTIAL = 10;
/** cache_line_size() on x86. */
const CACHE_LINE = 64;
/** sizeof(struct track): addr, stack handle, cpu, pid, when. */
const TRACK_SIZE = 32;

const INUSE_MASK = 0xffff;
const OBJECTS_SHIFT = 16;
const OBJECTS_MASK = 0x7fff;
const FROZEN = 1 << 31;

export interface KmemCacheOptions {
  align?: number;
  flags?: number;
  /** Called on each object when its slab is set up (the kernel's ctor). */
  ctor?: (addr: number) => void;
}

export class KmemCache {
  readonly id: number;
  readonly name: string;
  readonly objectSize: number;
  /** The stride between objects: object, red zones, free pointer, tracking, alignment. */
  readonly size: number;
  readonly align: number;
  /** Where in an object its free pointer lives. */
  readonly offset: number;
  /** Bytes up to the metadata (object plus right red zone). */
  readonly inuse: number;
  readonly redLeftPad: number;
  readonly flags: number;
  readonly ctor: ((addr: number) => void) | undefined;
  /** The preferred slab order and its objects (oo), and the minimum (min). */
  readonly order: number;
  readonly objects: number;
  readonly minOrder: number;
  readonly minObjects: number;
  /** Page allocator flags every slab of this cache adds (s->allocflags). */
  readonly allocflags: number;
  readonly minPartial: number;
  readonly debug: boolean;
  /** Per CPU: the lockless freelist (an object address, 0 for NULL) and the CPU slab (pfn or NO_PAGE). */
  readonly cpuFreelist: Float64Array;
  readonly cpuSlab: Int32Array;
  /** The node's partial list head and count; the full list (debug caches only). */
  readonly partial: number;
  readonly full: number;
  nrPartial = 0;
  nrSlabs = 0;
  totalObjects = 0;
  /** The kmem_cache and kmem_cache_node objects this cache's structs live in (0 for the boot caches). */
  structAddr = 0;
  nodeAddr = 0;
  /**
   * Statistics (CONFIG_SLUB_STATS names, camelCased) of the slow paths; the fast paths, like a kernel built
   * without CONFIG_SLUB_STATS, count nothing.
   */
  readonly stat = {
    allocSlowpath: 0, freeSlowpath: 0, allocSlab: 0, freeSlab: 0,
    allocFromPartial: 0, orderFallback: 0, deactivateFull: 0, deactivateEmpty: 0, pfmemallocMismatch: 0,
  };

  constructor(id: number, name: string, objectSize: number, opts: KmemCacheOptions, mm: MemMap, nrCpus: number, wordSize: number) {
    this.id = id;
    this.name = name;
    this.objectSize = objectSize;
    this.flags = opts.flags ?? 0;
    this.ctor = opts.ctor;
    this.debug = (this.flags & SLAB_DEBUG_FLAGS) !== 0;
    // calculate_alignment(): hardware-cache alignment halves the line while two objects still fit in it.
    let align = opts.align ?? 0;
    // kmalloc caches guarantee the largest power-of-two divisor of their size (create_boot_cache()).
    if (this.flags & SLAB_KMALLOC) align = Math.max(align, objectSize & -objectSize);
    if (this.flags & SLAB_HWCACHE_ALIGN) {
      let ralign = CACHE_LINE;
      while (objectSize <= ralign / 2) ralign /= 2;
      align = Math.max(align, ralign);
    }
    align = alignUp(Math.max(align, 8), wordSize);
    this.align = align;
    // calculate_sizes().
    let size = alignUp(objectSize, wordSize);
    if (this.flags & SLAB_RED_ZONE && size === objectSize) size += wordSize; // room for the right red zone
    this.inuse = size;
    const outside = (this.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON)) !== 0 || this.ctor !== undefined ||
      ((this.flags & SLAB_RED_ZONE) !== 0 && objectSize < wordSize);
    if (outside) {
      this.offset = size;
      size += wordSize;
    } else {
      // The middle of the object, so that a small overflow does not hit it.
      this.offset = Math.floor(objectSize / 2 / wordSize) * wordSize;
    }
    if (this.flags & SLAB_STORE_USER) size += 2 * TRACK_SIZE;
    let redLeftPad = 0;
    if (this.flags & SLAB_RED_ZONE) {
      size += wordSize;
      redLeftPad = alignUp(wordSize, align);
      size += redLeftPad;
    }
    this.redLeftPad = redLeftPad;
    size = alignUp(size, align);
    this.size = size;
    const order = calculateOrder(size, nrCpus);
    this.order = order;
    this.objects = orderObjects(order, size);
    this.minOrder = getOrder(size);
    this.minObjects = orderObjects(this.minOrder, size);
    let allocflags = order > 0 ? GFP.COMP : 0;
    if (this.flags & SLAB_CACHE_DMA) allocflags |= GFP.DMA;
    if (this.flags & SLAB_RECLAIM_ACCOUNT) allocflags |= GFP.RECLAIMABLE;
    this.allocflags = allocflags;
    // set_min_partial(s, ilog2(s->size) / 2), clamped to [MIN_PARTIAL, MAX_PARTIAL].
    this.minPartial = Math.min(MAX_PARTIAL, Math.max(MIN_PARTIAL, (fls(size) - 1) >> 1));
    this.cpuFreelist = new Float64Array(nrCpus);
    this.cpuSlab = new Int32Array(nrCpus).fill(NO_PAGE);
    this.partial = mm.allocListHeads(1);
    this.full = mm.allocListHeads(1);
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function orderObjects(order: number, size: number): number {
  return Math.floor((PAGE_SIZE << order) / size);
}

/**
 * calculate_order(): the smallest order from what min_objects (4 * (fls(nr_cpus) + 1)) needs up to
 * slub_max_order that wastes at most 1/16 of the slab, then 1/8, then 1/4.
 */
export function calculateOrder(size: number, nrCpus: number): number {
  let minObjects = 4 * (fls(nrCpus) + 1);
  const maxObjects = Math.max(orderObjects(SLUB_MAX_ORDER, size), 1);
  minObjects = Math.min(minObjects, maxObjects);
  const minOrder = getOrder(minObjects * size);
  if (orderObjects(minOrder, size) > MAX_OBJS_PER_PAGE) return getOrder(size * MAX_OBJS_PER_PAGE) - 1;
  for (let fraction = 16; fraction > 1; fraction /= 2) {
    let order = minOrder;
    for (; order <= SLUB_MAX_ORDER; order++) {
      const slabSize = PAGE_SIZE << order;
      if (slabSize % size <= slabSize / fraction) break;
    }
    if (order <= SLUB_MAX_ORDER) return order;
  }
  return getOrder(size);
}

export interface SlubDeps {
  mm: MemMap;
  pa: PageAlloc;
  mem: PhysMem;
  directMap: DirectMap;
  sched: Sched;
  printk: Printk;
  trace: TraceBuffer;
  clock: Clock;
  nrCpus: number;
  wordSize: 4 | 8;
  /** slub_debug= for every cache: a string of F (consistency), Z (red zone), P (poison), U (user tracking). */
  slubDebug: string;
  formatAddr: (addr: number) => string;
}

/** Slab memory per reclaimability, as NR_SLAB_RECLAIMABLE_B / NR_SLAB_UNRECLAIMABLE_B count it (pages). */
export class SlabCounters {
  reclaimablePages = 0;
  unreclaimablePages = 0;
}

export class Slub {
  readonly caches: Array<KmemCache | undefined> = [];
  readonly counters = new SlabCounters();
  private readonly mm: MemMap;
  private readonly pa: PageAlloc;
  private readonly mem: PhysMem;
  private readonly directMap: DirectMap;
  private readonly sched: Sched;
  private readonly printk: Printk;
  private readonly trace: TraceBuffer;
  private readonly clock: Clock;
  private readonly nrCpus: number;
  private readonly wordSize: 4 | 8;
  /** Pointers are 8 bytes (x86_64). */
  private readonly wide: boolean;
  private readonly pageOffset: number;
  private readonly debugFlags: number;
  private readonly formatAddr: (addr: number) => string;
  /** The caches that hold struct kmem_cache and struct kmem_cache_node. */
  readonly kmemCache: KmemCache;
  readonly kmemCacheNode: KmemCache;

  constructor(d: SlubDeps) {
    this.mm = d.mm;
    this.pa = d.pa;
    this.mem = d.mem;
    this.directMap = d.directMap;
    this.sched = d.sched;
    this.printk = d.printk;
    this.trace = d.trace;
    this.clock = d.clock;
    this.nrCpus = d.nrCpus;
    this.wordSize = d.wordSize;
    this.wide = d.wordSize === 8;
    this.pageOffset = d.directMap.pageOffset;
    this.formatAddr = d.formatAddr;
    this.debugFlags = parseSlubDebug(d.slubDebug);
    // kmem_cache_init(): the two caches that hold the others' structs bootstrap themselves (kmem_cache joins
    // the cache list first, so it prints last in slabinfo).
    this.kmemCache = this.register('kmem_cache', d.wordSize === 8 ? 256 : 128, { flags: SLAB_HWCACHE_ALIGN });
    this.kmemCacheNode = this.register('kmem_cache_node', d.wordSize === 8 ? 128 : 64, { flags: SLAB_HWCACHE_ALIGN });
  }

  private register(name: string, size: number, opts: KmemCacheOptions): KmemCache {
    const s = new KmemCache(this.caches.length, name, size, { ...opts, flags: (opts.flags ?? 0) | this.debugFlags }, this.mm, this.nrCpus, this.wordSize);
    this.caches.push(s);
    return s;
  }

  // --- cache lifecycle -------------------------------------------------------------------------------

  /** kmem_cache_create(): NULL (undefined) if its struct cannot be allocated. */
  kmemCacheCreate(name: string, size: number, opts: KmemCacheOptions = {}): KmemCache | undefined {
    if (!Number.isInteger(size) || size < 1 || size > (PAGE_SIZE << 10)) {
      this.printk.warn('kmem_cache_create', [`kmem_cache_create(${name}) failed with error -22`]);
      return undefined;
    }
    // The cache's struct kmem_cache, and its one struct kmem_cache_node (init_kmem_cache_nodes).
    const structAddr = this.slabAlloc(this.kmemCache, GFP.KERNEL | GFP.ZERO);
    if (!structAddr) return undefined;
    const nodeAddr = this.slabAlloc(this.kmemCacheNode, GFP.KERNEL | GFP.ZERO);
    if (!nodeAddr) {
      this.slabFree(this.kmemCache, structAddr);
      return undefined;
    }
    const s = this.register(name, size, opts);
    s.structAddr = structAddr;
    s.nodeAddr = nodeAddr;
    return s;
  }

  /**
   * kmem_cache_destroy(): flush the CPU slabs, free the empty slabs; if objects remain, report them as the
   * kernel does and keep the cache (it would leak it).
   */
  kmemCacheDestroy(s: KmemCache): boolean {
    this.flushAll(s);
    const remaining: number[] = [];
    for (const head of [s.partial, s.full]) {
      for (let slab = this.mm.next[head]; slab !== head; ) {
        const next = this.mm.next[slab];
        if (this.inuseOf(slab) === 0) {
          this.removeFromList(s, slab, head);
          this.discardSlab(s, slab);
        } else {
          remaining.push(slab);
        }
        slab = next;
      }
    }
    if (s.nrSlabs > 0) {
      const lines = [
        '=============================================================================',
        `BUG ${s.name} (Not tainted): Objects remaining on __kmem_cache_shutdown()`,
        '-----------------------------------------------------------------------------',
        '',
      ];
      for (const slab of remaining) {
        for (const obj of this.liveObjects(s, slab)) lines.push(`Object 0x${this.formatAddr(obj)} @offset=${obj - this.slabBase(slab)}`);
      }
      lines.push(`kmem_cache_destroy ${s.name}: Slab cache still has objects when called from mmlab+0x0/0x0`);
      this.printk.bug('Objects remaining', lines);
      return false;
    }
    this.caches[s.id] = undefined;
    if (s.nodeAddr) this.slabFree(this.kmemCacheNode, s.nodeAddr);
    if (s.structAddr) this.slabFree(this.kmemCache, s.structAddr);
    return true;
  }

  /** kmem_cache_shrink(): flush the CPU slabs and free every empty slab. Returns the pages freed. */
  kmemCacheShrink(s: KmemCache): number {
    let freed = this.flushAll(s);
    for (let slab = this.mm.next[s.partial]; slab !== s.partial; ) {
      const next = this.mm.next[slab];
      if (this.inuseOf(slab) === 0) {
        freed += 1 << this.slabOrder(slab);
        this.removeFromList(s, slab, s.partial);
        this.discardSlab(s, slab);
      }
      slab = next;
    }
    return freed;
  }

  /**
   * validate_slab_cache() (what writing /sys/kernel/slab/<cache>/validate does): flush the CPU slabs, then
   * check every object of every tracked slab, free ones against the inactive patterns and allocated ones
   * against the active red zones. Reports go to dmesg in the kernel's words. Returns the slabs checked.
   */
  kmemCacheValidate(s: KmemCache): number {
    this.flushAll(s);
    let slabs = 0;
    for (const head of [s.partial, s.full]) {
      for (let slab = this.mm.next[head]; slab !== head; slab = this.mm.next[slab]) {
        slabs++;
        const free = new Set<number>();
        for (let p = this.freelistAddr(slab), n = 0; p !== 0 && n <= this.objectsOf(slab); n++, p = this.getFreepointer(s, p)) free.add(p);
        for (let i = 0; i < this.objectsOf(slab); i++) {
          const obj = this.objectAddr(s, slab, i);
          this.checkObject(s, slab, obj, free.has(obj) ? SLUB_RED_INACTIVE : SLUB_RED_ACTIVE);
        }
      }
    }
    return slabs;
  }

  /** flush_all(): every CPU's slab goes back to the node. Returns the pages of slabs that were freed. */
  flushAll(s: KmemCache): number {
    let freed = 0;
    for (let cpu = 0; cpu < this.nrCpus; cpu++) {
      const slab = s.cpuSlab[cpu];
      if (slab === NO_PAGE) continue;
      const freelist = s.cpuFreelist[cpu];
      s.cpuSlab[cpu] = NO_PAGE;
      s.cpuFreelist[cpu] = 0;
      freed += this.deactivateSlab(s, slab, freelist);
    }
    return freed;
  }

  // --- allocation ---------------------------------------------------------------------------------

  /**
   * slab_alloc_node(): the CPU freelist if it has an object (the lockless fast path, which like mainline
   * does not check pfmemalloc), else ___slab_alloc().
   */
  slabAlloc(s: KmemCache, gfp: number): number {
    const cpu = this.sched.current.cpu;
    const obj = s.cpuFreelist[cpu];
    // 0x100 is __GFP_ZERO: on these few hot lines a literal saves the load an imported constant costs.
    if (obj !== 0 && (gfp & 0x100) === 0) {
      s.cpuFreelist[cpu] = this.mem.readLong(obj + s.offset - this.pageOffset, this.wide); // get_freepointer()
      return obj;
    }
    return +this.slabAllocGeneral(s, gfp, cpu); // + keeps the result an unboxed double
  }

  /** Everything slabAlloc()'s few lines leave out: refills, debug caches, __GFP_ZERO. */
  private slabAllocGeneral(s: KmemCache, gfp: number, cpu: number): number {
    let obj: number;
    if (s.debug) {
      obj = this.allocDebug(s, gfp);
    } else {
      obj = s.cpuFreelist[cpu];
      if (obj !== 0) {
        s.cpuFreelist[cpu] = this.readWord(obj + s.offset);
      } else {
        obj = this.slabAllocSlow(s, gfp, cpu);
      }
    }
    // slab_post_alloc_hook(): __GFP_ZERO clears the object.
    if (gfp & GFP.ZERO && obj !== 0) this.fillBytes(obj, s.objectSize, 0);
    return obj;
  }

  /** ___slab_alloc() without per-CPU partial lists. */
  private slabAllocSlow(s: KmemCache, gfp: number, cpu: number): number {
    s.stat.allocSlowpath++;
    let slab = s.cpuSlab[cpu];
    if (slab !== NO_PAGE) {
      if (!this.pfmemallocMatch(slab, gfp)) {
        s.stat.pfmemallocMismatch++;
        this.deactivateSlab(s, slab, s.cpuFreelist[cpu]);
        s.cpuSlab[cpu] = NO_PAGE;
        s.cpuFreelist[cpu] = 0;
      } else {
        // get_freelist(): objects freed to the slab by other CPUs while it was ours.
        const freelist = this.takeFreelist(slab);
        if (freelist !== 0) return this.loadFreelist(s, cpu, freelist);
        // A full CPU slab is dropped; it is found again when an object is freed to it.
        this.setFrozen(slab, false);
        s.cpuSlab[cpu] = NO_PAGE;
      }
    }
    // get_partial(): the first partial slab whose pfmemalloc state suits the caller.
    for (let p = this.mm.next[s.partial]; p !== s.partial; p = this.mm.next[p]) {
      if (!this.pfmemallocMatch(p, gfp)) continue;
      this.removeFromList(s, p, s.partial);
      s.stat.allocFromPartial++;
      const freelist = this.freezeSlab(p);
      s.cpuSlab[cpu] = p;
      return this.loadFreelist(s, cpu, freelist);
    }
    slab = this.newSlab(s, gfp);
    if (slab === NO_PAGE) {
      this.slabOutOfMemory(s, gfp);
      return 0;
    }
    const freelist = this.freezeSlab(slab);
    if (!this.pfmemallocMatch(slab, gfp)) {
      // A reserve slab for a caller without access to the reserves: one object, and the slab goes back.
      s.stat.pfmemallocMismatch++;
      this.deactivateSlab(s, slab, this.getFreepointer(s, freelist));
      return freelist;
    }
    s.cpuSlab[cpu] = slab;
    return this.loadFreelist(s, cpu, freelist);
  }

  private loadFreelist(s: KmemCache, cpu: number, freelist: number): number {
    s.cpuFreelist[cpu] = this.getFreepointer(s, freelist);
    return freelist;
  }

  /** pfmemalloc_match(): objects of a reserve slab go only to callers allowed the reserves. */
  pfmemallocMatch(slab: number, gfp: number): boolean {
    if (this.mm.flags[slab] & PG_PFMEMALLOC) return this.pa.gfpPfmemallocAllowed(gfp);
    return true;
  }

  /**
   * allocate_slab(): the cache's order with NORETRY|NOWARN (and no direct reclaim when that order is above
   * the minimum), then on failure the minimum order with the caller's flags (counted as ORDER_FALLBACK).
   */
  private newSlab(s: KmemCache, gfp: number): number {
    // new_slab() passes on only the reclaim and constraint bits; the cache adds its own zone and type.
    const flags = (gfp & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)) | s.allocflags;
    let allocGfp = (flags | GFP.NOWARN | GFP.NORETRY) & ~GFP.NOFAIL;
    if (allocGfp & GFP.DIRECT_RECLAIM && s.order > s.minOrder) allocGfp = (allocGfp | GFP.NOMEMALLOC) & ~GFP.RECLAIM;
    let order = s.order;
    let objects = s.objects;
    let pfn = this.pa.allocPages(allocGfp, order);
    if (pfn === NO_PAGE) {
      // Again at the minimum order with the caller's own flags (even when that is the same order: this
      // time reclaim and the warning are allowed).
      order = s.minOrder;
      objects = s.minObjects;
      pfn = this.pa.allocPages(flags, order);
      if (pfn === NO_PAGE) return NO_PAGE;
      s.stat.orderFallback++;
    }
    const mm = this.mm;
    mm.flags[pfn] = (mm.flags[pfn] & ~PGTY_MASK) | PGTY_SLAB;
    mm.mapping[pfn] = s.id + 1;
    mm.private_[pfn] = objects << OBJECTS_SHIFT;
    s.nrSlabs++;
    s.totalObjects += objects;
    s.stat.allocSlab++;
    if (s.flags & SLAB_RECLAIM_ACCOUNT) this.counters.reclaimablePages += 1 << order;
    else this.counters.unreclaimablePages += 1 << order;
    // Set up the objects and chain them through their free pointers, lowest address first.
    const base = this.slabBase(pfn);
    if (s.flags & SLAB_POISON) this.fillBytes(base, (PAGE_SIZE << order), POISON_INUSE);
    for (let i = 0; i < objects; i++) {
      const obj = base + s.redLeftPad + i * s.size;
      if (s.debug) this.initObject(s, obj, SLUB_RED_INACTIVE);
      if (s.flags & SLAB_STORE_USER) this.initTracking(s, obj);
      if (s.ctor) s.ctor(obj);
      this.setFreepointer(s, obj, i + 1 < objects ? obj + s.size : 0);
    }
    mm.index[pfn] = 1; // freelist: object 0
    return pfn;
  }

  /** freeze_slab(): take the slab's whole freelist for a CPU; all its objects count as in use. */
  private freezeSlab(slab: number): number {
    const freelist = this.takeFreelist(slab);
    this.setFrozen(slab, true);
    return freelist;
  }

  /** get_freelist(): the slab's freelist, emptied, with inuse = objects. */
  private takeFreelist(slab: number): number {
    const mm = this.mm;
    const idx = mm.index[slab];
    mm.index[slab] = 0;
    const c = mm.private_[slab];
    const objects = (c >>> OBJECTS_SHIFT) & OBJECTS_MASK;
    mm.private_[slab] = (c & FROZEN) | (objects << OBJECTS_SHIFT) | objects;
    return idx === 0 ? 0 : this.objectAddr(this.caches[this.mm.mapping[slab] - 1]!, slab, idx - 1);
  }

  /**
   * deactivate_slab(): the CPU's remaining free objects go back to the slab, which then goes on the partial
   * list, is freed if empty and the node has enough partial slabs, or is left untracked when full.
   */
  private deactivateSlab(s: KmemCache, slab: number, freelist: number): number {
    const hadRemote = this.mm.index[slab] !== 0;
    for (let obj = freelist; obj !== 0; ) {
      const next = this.getFreepointer(s, obj);
      this.pushFree(s, slab, obj);
      obj = next;
    }
    this.setFrozen(slab, false);
    const inuse = this.inuseOf(slab);
    if (inuse === 0 && s.nrPartial >= s.minPartial) {
      s.stat.deactivateEmpty++;
      const pages = 1 << this.slabOrder(slab);
      this.discardSlab(s, slab);
      return pages;
    }
    if (this.mm.index[slab] !== 0) {
      this.addPartial(s, slab, hadRemote);
    } else {
      s.stat.deactivateFull++;
      if (s.debug) this.mm.listAdd(slab, s.full);
    }
    return 0;
  }

  // --- freeing ------------------------------------------------------------------------------------

  /**
   * slab_free(): to the CPU freelist when the object's slab is this CPU's slab (the fast path), else to the
   * slab itself (__slab_free), which may put it on the partial list or free it.
   */
  slabFree(s: KmemCache, obj: number): void {
    this.slabFreeOn(s, this.objToSlab(obj), obj);
  }

  /** slab_free() when the caller already knows the object's slab (kfree() looked it up). */
  slabFreeOn(s: KmemCache, slab: number, obj: number): void {
    const cpu = this.sched.current.cpu;
    if (slab === s.cpuSlab[cpu] && !s.debug) {
      this.mem.writeLong(obj + s.offset - this.pageOffset, s.cpuFreelist[cpu], this.wide); // set_freepointer()
      s.cpuFreelist[cpu] = obj;
      return;
    }
    this.slabFreeGeneral(s, slab, obj);
  }

  private slabFreeGeneral(s: KmemCache, slab: number, obj: number): void {
    if (s.debug) this.freeDebug(s, slab, obj);
    else this.slabFreeSlow(s, slab, obj);
  }

  private slabFreeSlow(s: KmemCache, slab: number, obj: number): void {
    s.stat.freeSlowpath++;
    const mm = this.mm;
    const wasFull = mm.index[slab] === 0;
    const frozen = (mm.private_[slab] & FROZEN) !== 0;
    this.pushFree(s, slab, obj);
    if (frozen) return; // another CPU's slab: it finds the object when it refills
    if (this.inuseOf(slab) === 0 && s.nrPartial >= s.minPartial) {
      if (!wasFull) this.removeFromList(s, slab, s.partial);
      this.discardSlab(s, slab);
      return;
    }
    if (wasFull) this.addPartial(s, slab, true);
  }

  private pushFree(s: KmemCache, slab: number, obj: number): void {
    const mm = this.mm;
    const idx = mm.index[slab];
    this.setFreepointer(s, obj, idx === 0 ? 0 : this.objectAddr(s, slab, idx - 1));
    mm.index[slab] = this.objectIndex(s, slab, obj) + 1;
    mm.private_[slab]--;
  }

  private addPartial(s: KmemCache, slab: number, tail: boolean): void {
    if (tail) this.mm.listAddTail(slab, s.partial);
    else this.mm.listAdd(slab, s.partial);
    s.nrPartial++;
  }

  private removeFromList(s: KmemCache, slab: number, head: number): void {
    this.mm.listDel(slab);
    if (head === s.partial) s.nrPartial--;
  }

  /** discard_slab(): the slab's pages go back to the page allocator. */
  private discardSlab(s: KmemCache, slab: number): void {
    const mm = this.mm;
    const order = this.slabOrder(slab);
    const objects = (mm.private_[slab] >>> OBJECTS_SHIFT) & OBJECTS_MASK;
    s.nrSlabs--;
    s.totalObjects -= objects;
    s.stat.freeSlab++;
    if (s.flags & SLAB_RECLAIM_ACCOUNT) this.counters.reclaimablePages -= 1 << order;
    else this.counters.unreclaimablePages -= 1 << order;
    mm.flags[slab] &= ~(PGTY_MASK | PG_PFMEMALLOC);
    mm.mapping[slab] = 0;
    mm.index[slab] = 0;
    mm.private_[slab] = 0;
    this.pa.freePages(slab, order);
  }

  // --- debug (slub_debug) ------------------------------------------------------------------------

  /** alloc_single_from_partial()/_new_slab(): debug caches hand out one object at a time, no CPU slab. */
  private allocDebug(s: KmemCache, gfp: number): number {
    let slab: number;
    let obj: number;
    for (;;) {
      slab = this.mm.next[s.partial];
      while (slab !== s.partial && !this.pfmemallocMatch(slab, gfp)) slab = this.mm.next[slab];
      if (slab === s.partial) {
        slab = this.newSlab(s, gfp);
        if (slab === NO_PAGE) {
          this.slabOutOfMemory(s, gfp);
          return 0;
        }
        this.addPartial(s, slab, false);
      }
      obj = this.objectAddr(s, slab, this.mm.index[slab] - 1);
      if (this.checkObject(s, slab, obj, SLUB_RED_INACTIVE)) break;
      // alloc_debug_processing() failed: the slab is taken out of use and the request served elsewhere.
      this.printk.printk(`FIX ${s.name}: Marking all objects used`);
      const objects = this.objectsOf(slab);
      this.mm.private_[slab] = (objects << OBJECTS_SHIFT) | objects;
      this.mm.index[slab] = 0;
      this.removeFromList(s, slab, s.partial);
      this.mm.listAdd(slab, s.full);
    }
    const next = this.getFreepointer(s, obj);
    this.mm.index[slab] = next === 0 ? 0 : this.objectIndex(s, slab, next) + 1;
    this.mm.private_[slab]++;
    if (this.mm.index[slab] === 0) {
      this.removeFromList(s, slab, s.partial);
      this.mm.listAdd(slab, s.full);
    }
    this.initObject(s, obj, SLUB_RED_ACTIVE);
    if (s.flags & SLAB_STORE_USER) this.setTrack(s, obj, 0);
    return obj;
  }

  /** free_to_partial_list() with free_debug_processing()'s checks; a failed check frees nothing. */
  private freeDebug(s: KmemCache, slab: number, obj: number): void {
    if (!this.freeConsistencyChecks(s, slab, obj)) return;
    if (!this.checkObject(s, slab, obj, SLUB_RED_ACTIVE)) return;
    if (s.flags & SLAB_STORE_USER) this.setTrack(s, obj, 1);
    this.initObject(s, obj, SLUB_RED_INACTIVE);
    const wasFull = this.mm.index[slab] === 0;
    this.pushFree(s, slab, obj);
    if (this.inuseOf(slab) === 0 && s.nrPartial >= s.minPartial) {
      this.removeFromList(s, slab, wasFull ? s.full : s.partial);
      this.discardSlab(s, slab);
    } else if (wasFull) {
      this.mm.listDel(slab);
      this.addPartial(s, slab, true);
    }
  }

  /** free_consistency_checks(): the pointer must be an object of this slab that is not already free. */
  private freeConsistencyChecks(s: KmemCache, slab: number, obj: number): boolean {
    const rel = obj - this.slabBase(slab) - s.redLeftPad;
    if (rel < 0 || rel % s.size !== 0 || rel / s.size >= this.objectsOf(slab)) {
      this.slabErr(s, slab, `Invalid object pointer 0x${this.formatAddr(obj)}`);
      return false;
    }
    if (this.onFreelist(s, slab, obj)) {
      this.objectErr(s, slab, obj, 'Object already free');
      return false;
    }
    return true;
  }

  private onFreelist(s: KmemCache, slab: number, obj: number): boolean {
    const idx = this.mm.index[slab];
    let p = idx === 0 ? 0 : this.objectAddr(s, slab, idx - 1);
    for (let n = 0; p !== 0 && n <= this.objectsOf(slab); n++) {
      if (p === obj) return true;
      p = this.getFreepointer(s, p);
    }
    return false;
  }

  /** init_object(): red zones and (for free objects) the poison pattern. */
  private initObject(s: KmemCache, obj: number, val: number): void {
    if (s.flags & SLAB_RED_ZONE) {
      this.fillBytes(obj - s.redLeftPad, s.redLeftPad, val);
      this.fillBytes(obj + s.objectSize, s.inuse - s.objectSize, val);
    }
    if (s.flags & SLAB_POISON && val === SLUB_RED_INACTIVE && !s.ctor) {
      this.fillBytes(obj, s.objectSize - 1, POISON_FREE);
      this.fillBytes(obj + s.objectSize - 1, 1, POISON_END);
    }
  }

  /** check_object(): red zones intact; a free object's poison intact. */
  private checkObject(s: KmemCache, slab: number, obj: number, val: number): boolean {
    if (s.flags & SLAB_RED_ZONE) {
      if (!this.checkBytes(s, slab, obj, 'Left Redzone', obj - s.redLeftPad, val, s.redLeftPad)) return false;
      if (!this.checkBytes(s, slab, obj, 'Right Redzone', obj + s.objectSize, val, s.inuse - s.objectSize)) return false;
    }
    if (s.flags & SLAB_POISON && val === SLUB_RED_INACTIVE && !s.ctor) {
      if (!this.checkBytes(s, slab, obj, 'Poison', obj, POISON_FREE, s.objectSize - 1)) return false;
      if (!this.checkBytes(s, slab, obj, 'End Poison', obj + s.objectSize - 1, POISON_END, 1)) return false;
    }
    return true;
  }

  /** check_bytes_and_report(). */
  private checkBytes(s: KmemCache, slab: number, obj: number, what: string, start: number, value: number, len: number): boolean {
    for (let i = 0; i < len; i++) {
      const a = start + i;
      const pfn = this.directMap.virtToPfn(a);
      const off = this.directMap.offsetInPage(a);
      const f = this.mem.frame(pfn);
      const b = f ? f[off] : 0;
      if (b === value) continue;
      let end = a;
      while (end + 1 < start + len && this.byteAt(end + 1) !== value) end++;
      this.slabBugReport(s, `${what} overwritten`, [
        `0x${this.formatAddr(a)}-0x${this.formatAddr(end)} @offset=${a - this.slabBase(slab)}. First byte 0x${b.toString(16)} instead of 0x${value.toString(16)}`,
        ...this.trailer(s, slab, obj),
      ]);
      // restore_bytes(): repair the pattern so that one corruption is reported once.
      this.printk.printk(`FIX ${s.name}: Restoring ${what} 0x${this.formatAddr(a)}-0x${this.formatAddr(end)}=0x${value.toString(16)}`);
      this.fillBytes(a, end - a + 1, value);
      return false;
    }
    return true;
  }

  private byteAt(a: number): number {
    const f = this.mem.frame(this.directMap.virtToPfn(a));
    return f ? f[this.directMap.offsetInPage(a)] : 0;
  }

  /** Where an object's alloc (0) or free (1) struct track lives: after the object and its free pointer. */
  private trackAddr(s: KmemCache, obj: number, which: 0 | 1): number {
    return obj + s.inuse + (s.offset >= s.inuse ? this.wordSize : 0) + which * TRACK_SIZE;
  }

  /**
   * set_track(): struct track { addr @0, handle @8, cpu @12, pid @16, when @24 }. The model has no return
   * address, so addr holds 1 to say the record is set (print_track() skips a record whose addr is 0).
   */
  private setTrack(s: KmemCache, obj: number, which: 0 | 1): void {
    const base = this.trackAddr(s, obj, which);
    const t = this.sched.current;
    this.writeU32At(base, 1);
    this.writeU32At(base + 12, t.cpu);
    this.writeU32At(base + 16, t.pid);
    this.writeU32At(base + 24, Math.floor(this.clock.ns / 1e6) >>> 0);
  }

  /** init_tracking(): both records empty. */
  private initTracking(s: KmemCache, obj: number): void {
    this.fillBytes(this.trackAddr(s, obj, 0), 2 * TRACK_SIZE, 0);
  }

  private writeU32At(addr: number, value: number): void {
    this.mem.writeU32(addr - this.pageOffset, value);
  }

  private readU32At(addr: number): number {
    return this.mem.readU32(addr - this.pageOffset);
  }

  private objectErr(s: KmemCache, slab: number, obj: number, reason: string): void {
    this.slabBugReport(s, reason, this.trailer(s, slab, obj));
  }

  private slabErr(s: KmemCache, slab: number, reason: string): void {
    this.slabBugReport(s, reason, [`Slab 0x${this.formatAddr(this.slabBase(slab))} objects=${this.objectsOf(slab)} used=${this.inuseOf(slab)} fp=0x${this.formatAddr(this.freelistAddr(slab))}`]);
  }

  /** slab_bug(): the report banner, then the details. */
  private slabBugReport(s: KmemCache, reason: string, details: string[]): void {
    this.printk.bug(`slub: ${reason.replace(/ 0x[0-9a-f]+$/, '')}`, [
      '=============================================================================',
      `BUG ${s.name} (Not tainted): ${reason}`,
      '-----------------------------------------------------------------------------',
      '',
      ...details,
    ]);
  }

  /** print_trailer(), the parts the model has. */
  private trailer(s: KmemCache, slab: number, obj: number): string[] {
    const out = [
      `Slab 0x${this.formatAddr(this.slabBase(slab))} objects=${this.objectsOf(slab)} used=${this.inuseOf(slab)} fp=0x${this.formatAddr(this.freelistAddr(slab))}`,
      `Object 0x${this.formatAddr(obj)} @offset=${obj - this.slabBase(slab)} fp=0x${this.formatAddr(this.getFreepointer(s, obj))}`,
    ];
    if (s.flags & SLAB_STORE_USER) {
      // print_tracking(): each record that is set, before the slab and object lines.
      const now = Math.floor(this.clock.ns / 1e6);
      const tracks: string[] = [];
      (['Allocated', 'Freed'] as const).forEach((what, i) => {
        const base = this.trackAddr(s, obj, i as 0 | 1);
        if (this.readU32At(base) === 0) return;
        tracks.push(`${what} in mmlab+0x0/0x0 age=${now - this.readU32At(base + 24)} cpu=${this.readU32At(base + 12)} pid=${this.readU32At(base + 16)}`);
      });
      out.unshift(...tracks);
    }
    return out;
  }

  private slabOutOfMemory(s: KmemCache, gfp: number): void {
    if (gfp & GFP.NOWARN) return;
    this.printk.warn('SLUB: Unable to allocate memory', [
      `SLUB: Unable to allocate memory on node -1, gfp=${formatGfpMode(gfp)}`,
      `  cache: ${s.name}, object size: ${s.objectSize}, buffer size: ${s.size}, default order: ${s.order}, min order: ${s.minOrder}`,
      `  node 0: slabs: ${s.nrSlabs}, objs: ${s.totalObjects}, free: ${this.freeObjects(s)}`,
    ]);
  }

  // --- post-allocation ----------------------------------------------------------------------------

  // --- addresses and words -----------------------------------------------------------------------

  slabBase(slab: number): number {
    return this.directMap.pageAddress(slab);
  }

  objectAddr(s: KmemCache, slab: number, idx: number): number {
    return this.slabBase(slab) + s.redLeftPad + idx * s.size;
  }

  objectIndex(s: KmemCache, slab: number, obj: number): number {
    return Math.floor((obj - this.slabBase(slab) - s.redLeftPad) / s.size);
  }

  /** virt_to_slab() for an address known to be in a slab: the head pfn. */
  objToSlab(obj: number): number {
    return this.mm.head(this.directMap.virtToPfn(obj));
  }

  /** The cache of a slab page, or undefined if the page is not a slab. */
  cacheOfPage(pfn: number): KmemCache | undefined {
    const head = this.mm.head(pfn);
    if ((this.mm.flags[head] & PGTY_MASK) !== PGTY_SLAB) return undefined;
    return this.caches[this.mm.mapping[head] - 1];
  }

  slabOrder(slab: number): number {
    return this.mm.flags[slab] & 0x20 /* PG_HEAD */ ? this.mm.private_[slab + 1] : 0;
  }

  inuseOf(slab: number): number {
    return this.mm.private_[slab] & INUSE_MASK;
  }

  objectsOf(slab: number): number {
    return (this.mm.private_[slab] >>> OBJECTS_SHIFT) & OBJECTS_MASK;
  }

  private setFrozen(slab: number, frozen: boolean): void {
    if (frozen) this.mm.private_[slab] |= FROZEN;
    else this.mm.private_[slab] &= ~FROZEN;
  }

  private freelistAddr(slab: number): number {
    const idx = this.mm.index[slab];
    return idx === 0 ? 0 : this.objectAddr(this.caches[this.mm.mapping[slab] - 1]!, slab, idx - 1);
  }

  /** get_freepointer(): the word at obj + s->offset. */
  getFreepointer(s: KmemCache, obj: number): number {
    return this.readWord(obj + s.offset);
  }

  private setFreepointer(s: KmemCache, obj: number, next: number): void {
    this.writeWord(obj + s.offset, next);
  }

  /** A pointer-sized little-endian word at a direct-map address (two 32-bit halves on x86_64). */
  readWord(addr: number): number {
    return this.mem.readLong(addr - this.pageOffset, this.wide);
  }

  writeWord(addr: number, value: number): void {
    this.mem.writeLong(addr - this.pageOffset, value, this.wide);
  }

  /** Fill bytes at a direct-map address, across pages. */
  fillBytes(addr: number, len: number, byte: number): void {
    this.directMap.forEachPage(addr, len, (pfn, off, _pos, n) => this.mem.fillFrame(pfn, off, n, byte));
  }

  // --- views and checks -------------------------------------------------------------------------

  /** Free objects on the partial slabs (count_partial_free_approx): what slabinfo does not count active. */
  freeObjects(s: KmemCache): number {
    let n = 0;
    for (let p = this.mm.next[s.partial]; p !== s.partial; p = this.mm.next[p]) n += this.objectsOf(p) - this.inuseOf(p);
    return n;
  }

  /** The objects of a slab that are allocated (not on its freelist or a CPU freelist). */
  liveObjects(s: KmemCache, slab: number): number[] {
    const free = new Set<number>();
    for (let p = this.freelistAddr(slab), n = 0; p !== 0 && n <= this.objectsOf(slab); n++, p = this.getFreepointer(s, p)) free.add(p);
    for (let c = 0; c < this.nrCpus; c++) {
      if (s.cpuSlab[c] !== slab) continue;
      for (let p = s.cpuFreelist[c], n = 0; p !== 0 && n <= this.objectsOf(slab); n++, p = this.getFreepointer(s, p)) free.add(p);
    }
    const out: number[] = [];
    for (let i = 0; i < this.objectsOf(slab); i++) {
      const obj = this.objectAddr(s, slab, i);
      if (!free.has(obj)) out.push(obj);
    }
    return out;
  }

  /** Walk every cache's slabs and freelists; push what is wrong onto errs. */
  checkInvariants(errs: string[]): void {
    const mm = this.mm;
    const seen = new Map<number, number>();
    for (const s of this.caches) {
      if (!s) continue;
      let partial = 0;
      for (let p = mm.next[s.partial]; p !== s.partial; p = mm.next[p]) {
        partial++;
        this.checkSlab(s, p, false, errs);
        if (this.inuseOf(p) >= this.objectsOf(p) && !s.debug) errs.push(`${s.name}: full slab ${p} on the partial list`);
        seen.set(p, s.id);
      }
      if (partial !== s.nrPartial) errs.push(`${s.name}: nr_partial ${s.nrPartial}, list holds ${partial}`);
      for (let p = mm.next[s.full]; p !== s.full; p = mm.next[p]) {
        this.checkSlab(s, p, false, errs);
        seen.set(p, s.id);
      }
      for (let c = 0; c < this.nrCpus; c++) {
        const slab = s.cpuSlab[c];
        if (slab === NO_PAGE) {
          if (s.cpuFreelist[c] !== 0) errs.push(`${s.name} cpu${c}: a freelist without a slab`);
          continue;
        }
        this.checkSlab(s, slab, true, errs);
        seen.set(slab, s.id);
        for (let p = s.cpuFreelist[c], n = 0; p !== 0; p = this.getFreepointer(s, p)) {
          if (++n > this.objectsOf(slab) || this.objToSlab(p) !== slab) {
            errs.push(`${s.name} cpu${c}: CPU freelist leaves its slab or loops`);
            break;
          }
        }
      }
    }
    // Every slab page belongs to a live cache; slabs that are full and untracked are counted too.
    const bySlabs = new Map<number, number>();
    for (let pfn = 0; pfn < mm.nrPages; pfn++) {
      if ((mm.flags[pfn] & PGTY_MASK) !== PGTY_SLAB) continue;
      const s = this.caches[mm.mapping[pfn] - 1];
      if (!s) {
        errs.push(`slab page ${pfn} belongs to no cache (mapping ${mm.mapping[pfn]})`);
        continue;
      }
      bySlabs.set(s.id, (bySlabs.get(s.id) ?? 0) + 1);
      if (!seen.has(pfn)) this.checkSlab(s, pfn, false, errs);
    }
    for (const s of this.caches) if (s && (bySlabs.get(s.id) ?? 0) !== s.nrSlabs) errs.push(`${s.name}: nr_slabs ${s.nrSlabs}, mem_map holds ${bySlabs.get(s.id) ?? 0}`);
  }

  private checkSlab(s: KmemCache, slab: number, cpu: boolean, errs: string[]): void {
    const mm = this.mm;
    if ((mm.flags[slab] & PGTY_MASK) !== PGTY_SLAB || mm.mapping[slab] !== s.id + 1) {
      errs.push(`${s.name}: pfn ${slab} on its lists is not one of its slabs`);
      return;
    }
    const frozen = (mm.private_[slab] & FROZEN) !== 0;
    if (frozen !== cpu) errs.push(`${s.name}: slab ${slab} frozen=${frozen} but ${cpu ? 'is' : 'is not'} a CPU slab`);
    let free = 0;
    for (let p = this.freelistAddr(slab); p !== 0; p = this.getFreepointer(s, p)) {
      const rel = p - this.slabBase(slab) - s.redLeftPad;
      if (rel < 0 || rel % s.size !== 0 || rel / s.size >= this.objectsOf(slab)) {
        errs.push(`${s.name}: slab ${slab} freelist points outside its objects (0x${p.toString(16)})`);
        return;
      }
      if (++free > this.objectsOf(slab)) {
        errs.push(`${s.name}: slab ${slab} freelist loops`);
        return;
      }
    }
    if (free + this.inuseOf(slab) !== this.objectsOf(slab)) errs.push(`${s.name}: slab ${slab} has ${free} free + ${this.inuseOf(slab)} inuse != ${this.objectsOf(slab)} objects`);
  }

  /** The kmem_cache_alloc/free tracepoints (kmalloc's are emitted by slab_common.ts). */
  traceCacheAlloc(s: KmemCache, obj: number, gfp: number, callSite: string): void {
    const accounted = gfp & GFP.ACCOUNT || s.flags & SLAB_ACCOUNT ? 1 : 0;
    this.trace.record(EV_KMEM_CACHE_ALLOC, obj, s.objectSize, s.size, gfp, accounted, 0, 0, callSite, s.name);
  }

  traceCacheFree(s: KmemCache, obj: number, callSite: string): void {
    this.trace.record(EV_KMEM_CACHE_FREE, obj, 0, 0, 0, 0, 0, 0, callSite, s.name);
  }
}

/** slub_debug= letters to cache flags. */
export function parseSlubDebug(text: string): number {
  let f = 0;
  for (const ch of text) {
    switch (ch.toUpperCase()) {
      case 'F': f |= SLAB_CONSISTENCY_CHECKS; break;
      case 'Z': f |= SLAB_RED_ZONE; break;
      case 'P': f |= SLAB_POISON; break;
      case 'U': f |= SLAB_STORE_USER; break;
      case '-': break;
      default: throw new Error(`slub_debug: unknown option '${ch}' (expected letters from F, Z, P, U)`);
    }
  }
  return f;
}
