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
 *
 * SLAB_VFALLBACK (Lameter's V1 series, seed 000/001: "we drop all the restraints regarding page order and
 * allocate good large memory areas that fit lots of objects"; the dentry cache and buffer_heads were the
 * series' users). Under policy fallback 'vcompound' or 'always' such a cache takes a large slab order and
 * allocates its slabs with __GFP_VFALLBACK|__GFP_COMP, so the page allocator may hand it a virtual compound
 * page: a virtual slab, whose base and objects are vmalloc addresses. Every byte and word SLUB touches then
 * goes through addr_to_page() (the `vfallback` hook the Machine installs once the vmalloc layer exists: SLUB
 * sits below it); the direct map keeps its arithmetic fast path behind one range check. objToSlab() is the
 * series' virt_to_head_page(); discarding a virtual slab is __free_pages(), which unmaps it (vcompound.ts),
 * so in interrupt context it is the series' stage-1 BUG or its stage-2 deferred free. A small translation
 * cache of virtual slab pages stands in for the TLB (see virtPage). Under policy 'none' the flag changes
 * nothing, as the flag did not exist without the series.
 * Model reading of the order (the SLUB patch of the series is not at hand; its cover letter gives only the
 * intent quoted above): calculate_order() with slub_max_order lifted to VFALLBACK_MAX_ORDER (6: a slab of 64
 * pages, 256 KiB, whose vmap pages array still fits kmalloc-512) and min_objects raised to
 * VFALLBACK_MIN_OBJECTS (256, so that a CPU refills from the page allocator at most once per 256
 * allocations), the same waste fractions, never below the cache's ordinary order. The minimum order (the
 * fallback when the large order cannot be had at all, physically or virtually) stays get_order(size).
 */
import { GFP, formatGfpMode } from '../gfp.js';
import type { DirectMap, PhysMem } from './memory.js';
import { MemMap, NO_PAGE, PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE, PG_PFMEMALLOC, PG_VCOMPOUND, PGTY_MASK, PGTY_SLAB } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_KMEM_CACHE_ALLOC, EV_KMEM_CACHE_FREE } from '../trace/events.js';
import type { Clock } from './clock.js';
import { compoundOrder } from './compound.js';
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
/**
 * Lameter's SLAB_VFALLBACK (seed 000): large slab orders whose slabs may be virtually mapped (see the header).
 * Without policy fallback 'vcompound' or 'always' it is accepted and has no effect.
 */
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
/**
 * Entries of SLUB's translation cache for virtual slab addresses (a power of two): the model's stand-in for
 * the TLB, which SLUB sits below (see Slub.virtPage).
 */
const XLATE_ENTRIES = 256;
/** SLAB_VFALLBACK caches (model reading, see the header): the largest slab order, and the objects wanted. */
export const VFALLBACK_MAX_ORDER = 6;
export const VFALLBACK_MIN_OBJECTS = 256;
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
    /** SLAB_VFALLBACK: slabs the page allocator served virtually (virtual compound pages), and their frees. */
    allocVirtualSlab: 0, freeVirtualSlab: 0,
  };

  /**
   * `vfallback`: the policy allows virtual compound pages, so that SLAB_VFALLBACK takes effect (the flag
   * stays in `flags` either way).
   */
  constructor(id: number, name: string, objectSize: number, opts: KmemCacheOptions, mm: MemMap, nrCpus: number, wordSize: number, vfallback = false) {
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
    const virtual = vfallback && (this.flags & SLAB_VFALLBACK) !== 0;
    const order = virtual ? calculateVfallbackOrder(size, nrCpus) : calculateOrder(size, nrCpus);
    this.order = order;
    this.objects = orderObjects(order, size);
    this.minOrder = getOrder(size);
    this.minObjects = orderObjects(this.minOrder, size);
    let allocflags = order > 0 ? GFP.COMP : 0;
    // The series' allocate_slab(): a SLAB_VFALLBACK slab may be a virtual compound page.
    if (virtual) allocflags |= GFP.VFALLBACK | GFP.COMP;
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

/**
 * The order of a SLAB_VFALLBACK cache (model reading, see the header): calculate_order() with slub_max_order
 * lifted to VFALLBACK_MAX_ORDER and min_objects raised to VFALLBACK_MIN_OBJECTS, wasting at most 1/16 of
 * the slab, then 1/8, then 1/4; never below the ordinary order, and a cache whose objects need more than
 * VFALLBACK_MAX_ORDER keeps its ordinary order.
 */
export function calculateVfallbackOrder(size: number, nrCpus: number): number {
  const ordinary = calculateOrder(size, nrCpus);
  if (ordinary >= VFALLBACK_MAX_ORDER) return ordinary;
  const first = Math.min(VFALLBACK_MAX_ORDER, Math.max(ordinary, getOrder(VFALLBACK_MIN_OBJECTS * size)));
  for (let fraction = 16; fraction > 1; fraction /= 2) {
    for (let order = first; order <= VFALLBACK_MAX_ORDER && orderObjects(order, size) <= MAX_OBJS_PER_PAGE; order++) {
      const slabSize = PAGE_SIZE << order;
      if (slabSize % size <= slabSize / fraction) return order;
    }
  }
  return first;
}

/**
 * What SLUB needs from the layers above it for SLAB_VFALLBACK, installed by the Machine once the vmalloc
 * layer exists (include/linux/mm.h calls up into mm/vmalloc.c the same way).
 */
export interface SlubVfallback {
  /** The fallback policy makes virtual compound pages ('vcompound' or 'always'). */
  enabled: boolean;
  /** addr_to_page() (seed 001): the pfn mapped at a kernel address, vmalloc or direct map; NO_PAGE if none. */
  addrToPage(addr: number): number;
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
  /**
   * Zijlstra's design (policy mem_reserve): a CPU slab from the reserve sends every allocation to the slow
   * path (his `c->reserve`), where pfmemalloc_match() applies, closing mainline's lockless hole.
   */
  strictReserve?: boolean;
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
  private readonly strictReserve: boolean;
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
  /** Bytes of the direct map (lowmem): an address less PAGE_OFFSET below this is a physical address. */
  private readonly directMapBytes: number;
  private readonly debugFlags: number;
  /** SLAB_VFALLBACK's policy and addr_to_page(); until the Machine installs them, no slab is virtual. */
  vfallback: SlubVfallback = { enabled: false, addrToPage: () => NO_PAGE };
  /**
   * Translations of virtual slab pages, direct-mapped by virtual page number (vpn -> pfn; -1 is empty): a
   * page-table walk per free-pointer access would make a virtual slab cost far more than the TLB makes it
   * cost in the kernel. Filled only with pages of live virtual slabs and emptied whenever one is discarded
   * (nothing else unmaps a slab), so an entry is never stale.
   */
  private readonly xlateVpn = new Float64Array(XLATE_ENTRIES).fill(-1);
  private readonly xlatePfn = new Int32Array(XLATE_ENTRIES);
  private readonly formatAddr: (addr: number) => string;
  /** The caches that hold struct kmem_cache and struct kmem_cache_node. */
  readonly kmemCache: KmemCache;
  readonly kmemCacheNode: KmemCache;

  constructor(d: SlubDeps) {
    this.mm = d.mm;
    this.pa = d.pa;
    this.strictReserve = d.strictReserve === true;
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
    this.directMapBytes = d.directMap.maxLowPfn * PAGE_SIZE;
    this.formatAddr = d.formatAddr;
    this.debugFlags = parseSlubDebug(d.slubDebug);
    // kmem_cache_init(): the two caches that hold the others' structs bootstrap themselves (kmem_cache joins
    // the cache list first, so it prints last in slabinfo).
    this.kmemCache = this.register('kmem_cache', d.wordSize === 8 ? 256 : 128, { flags: SLAB_HWCACHE_ALIGN });
    this.kmemCacheNode = this.register('kmem_cache_node', d.wordSize === 8 ? 128 : 64, { flags: SLAB_HWCACHE_ALIGN });
  }

  private register(name: string, size: number, opts: KmemCacheOptions): KmemCache {
    const s = new KmemCache(this.caches.length, name, size, { ...opts, flags: (opts.flags ?? 0) | this.debugFlags }, this.mm, this.nrCpus, this.wordSize, this.vfallback.enabled);
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
    const cpu = this.sched.cpu; // smp_processor_id()
    const obj = s.cpuFreelist[cpu];
    if (obj !== 0 && !this.strictReserve) {
      // get_freepointer() of a direct-map object (a virtual slab's goes the general way).
      const phys = obj + s.offset - this.pageOffset;
      if (phys < this.directMapBytes) {
        s.cpuFreelist[cpu] = this.mem.readLong(phys, this.wide);
        // slab_post_alloc_hook()'s __GFP_ZERO (0x100: a literal saves a load here), here too since most
        // traced kmallocs are kzallocs; the direct map's bytes are cleared by physical address.
        if ((gfp & 0x100) !== 0) this.mem.zeroBytes(obj - this.pageOffset, s.objectSize);
        return obj;
      }
    }
    return +this.slabAllocGeneral(s, gfp, cpu); // + keeps the result an unboxed double
  }

  /** Everything slabAlloc()'s few lines leave out: refills, debug caches, __GFP_ZERO, virtual slabs. */
  private slabAllocGeneral(s: KmemCache, gfp: number, cpu: number): number {
    let obj: number;
    if (s.debug) {
      obj = this.allocDebug(s, gfp);
    } else {
      obj = s.cpuFreelist[cpu];
      if (obj !== 0 && !(this.strictReserve && !this.pfmemallocMatch(s.cpuSlab[cpu], gfp))) {
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
    if (mm.flags[pfn] & PG_VCOMPOUND) s.stat.allocVirtualSlab++;
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
    const cpu = this.sched.cpu;
    if (slab === s.cpuSlab[cpu] && !s.debug) {
      const phys = obj + s.offset - this.pageOffset;
      if (phys < this.directMapBytes) {
        this.mem.writeLong(phys, s.cpuFreelist[cpu], this.wide); // set_freepointer()
        s.cpuFreelist[cpu] = obj;
        return;
      }
    }
    this.slabFreeGeneral(s, slab, obj, cpu);
  }

  private slabFreeGeneral(s: KmemCache, slab: number, obj: number, cpu: number): void {
    if (s.debug) {
      this.freeDebug(s, slab, obj);
    } else if (slab === s.cpuSlab[cpu]) {
      // The fast path for an object of a virtual CPU slab: its free pointer through the page tables.
      this.writeWord(obj + s.offset, s.cpuFreelist[cpu]);
      s.cpuFreelist[cpu] = obj;
    } else {
      this.slabFreeSlow(s, slab, obj);
    }
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
    // A virtual slab goes back through the series' __free_pages(): unmapped, then page by page.
    if (mm.flags[slab] & PG_VCOMPOUND) {
      s.stat.freeVirtualSlab++;
      this.xlateVpn.fill(-1);
    }
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
      const b = this.byteAt(a);
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
    const phys = this.phys(a);
    const f = this.mem.frame(Math.floor(phys / PAGE_SIZE));
    return f ? f[phys % PAGE_SIZE] : 0;
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
    this.mem.writeU32(this.phys(addr), value);
  }

  private readU32At(addr: number): number {
    return this.mem.readU32(this.phys(addr));
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

  /** The slab's first byte: page_address(), or for a virtual slab the series' page_to_addr() (its vmalloc address). */
  slabBase(slab: number): number {
    return this.mm.flags[slab] & PG_VCOMPOUND ? this.pa.pageToAddr(slab) : this.directMap.pageAddress(slab);
  }

  objectAddr(s: KmemCache, slab: number, idx: number): number {
    return this.slabBase(slab) + s.redLeftPad + idx * s.size;
  }

  objectIndex(s: KmemCache, slab: number, obj: number): number {
    return Math.floor((obj - this.slabBase(slab) - s.redLeftPad) / s.size);
  }

  /**
   * virt_to_slab() for an address known to be in a slab: the head pfn. As the series made virt_to_head_page(),
   * a vmalloc address (a virtual slab's) is looked up in the page tables; NO_PAGE if nothing is mapped there.
   */
  objToSlab(obj: number): number {
    const phys = obj - this.pageOffset;
    if (phys >= 0 && phys < this.directMapBytes) return this.mm.head(Math.floor(phys / PAGE_SIZE));
    return this.virtToSlab(obj);
  }

  /** objToSlab() outside the direct map, kept apart so that the direct-map lines stay small. */
  private virtToSlab(obj: number): number {
    const pfn = this.virtPage(obj);
    return pfn === NO_PAGE ? NO_PAGE : this.mm.head(pfn);
  }

  /** addr_to_page() for an address outside the direct map, through the translation cache; NO_PAGE if unmapped. */
  private virtPage(addr: number): number {
    const vpn = Math.floor(addr / PAGE_SIZE);
    const i = vpn & (XLATE_ENTRIES - 1);
    if (this.xlateVpn[i] === vpn) return this.xlatePfn[i];
    const pfn = this.vfallback.addrToPage(vpn * PAGE_SIZE);
    if (pfn !== NO_PAGE && (this.mm.flags[this.mm.head(pfn)] & (PGTY_MASK | PG_VCOMPOUND)) === (PGTY_SLAB | PG_VCOMPOUND)) {
      this.xlateVpn[i] = vpn;
      this.xlatePfn[i] = pfn;
    }
    return pfn;
  }

  /**
   * The head of the virtual slab (SLAB_VFALLBACK) that `addr` lies in, or NO_PAGE: what kfree() and friends
   * ask of an address outside the direct map before they take it for a slab object.
   */
  virtualSlabOf(addr: number): number {
    const head = this.objToSlab(addr);
    if (head === NO_PAGE) return NO_PAGE;
    const f = this.mm.flags[head];
    return (f & PGTY_MASK) === PGTY_SLAB && f & PG_VCOMPOUND ? head : NO_PAGE;
  }

  /** The cache of the virtual slab that `addr` lies in, or undefined (see virtualSlabOf). */
  virtualSlabCache(addr: number): KmemCache | undefined {
    const head = this.virtualSlabOf(addr);
    return head === NO_PAGE ? undefined : this.caches[this.mm.mapping[head] - 1];
  }

  /** PageVcompound() of a slab: its pages are a virtual compound page (SLAB_VFALLBACK). */
  slabVirtual(slab: number): boolean {
    return (this.mm.flags[slab] & PG_VCOMPOUND) !== 0;
  }

  /** The cache of a slab page, or undefined if the page is not a slab. */
  cacheOfPage(pfn: number): KmemCache | undefined {
    const head = this.mm.head(pfn);
    if ((this.mm.flags[head] & PGTY_MASK) !== PGTY_SLAB) return undefined;
    return this.caches[this.mm.mapping[head] - 1];
  }

  slabOrder(slab: number): number {
    return compoundOrder(this.mm, slab);
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

  /**
   * The physical address behind a slab address: the direct map by arithmetic (one range check), a virtual
   * slab's vmalloc address through addr_to_page().
   */
  private phys(addr: number): number {
    const phys = addr - this.pageOffset;
    return phys >= 0 && phys < this.directMapBytes ? phys : this.virtPhys(addr);
  }

  /** The physical address behind a vmalloc address of a virtual slab (the page-table walk). */
  private virtPhys(addr: number): number {
    const pfn = this.virtPage(addr);
    if (pfn === NO_PAGE) {
      // The callers have checked that the address lies in a live slab: this is the model's own bug.
      throw new Error(`slub: no page mapped at 0x${this.formatAddr(addr)}`);
    }
    return pfn * PAGE_SIZE + (addr % PAGE_SIZE);
  }

  /** A pointer-sized little-endian word at a slab address (two 32-bit halves on x86_64). */
  readWord(addr: number): number {
    return this.mem.readLong(this.phys(addr), this.wide);
  }

  writeWord(addr: number, value: number): void {
    this.mem.writeLong(this.phys(addr), value, this.wide);
  }

  /** Fill bytes at a slab address, across pages. */
  fillBytes(addr: number, len: number, byte: number): void {
    this.forEachPage(addr, len, (pfn, off, _pos, n) => this.mem.fillFrame(pfn, off, n, byte));
  }

  /**
   * Walk [addr, addr + len) of a slab address page by page: fn(pfn, offset in the page, position in the range,
   * bytes). A virtual slab's pages are found one by one through the page tables.
   */
  forEachPage(addr: number, len: number, fn: (pfn: number, off: number, pos: number, n: number) => void): void {
    const phys = addr - this.pageOffset;
    if (phys >= 0 && phys + len <= this.directMapBytes) {
      this.directMap.forEachPage(addr, len, fn);
      return;
    }
    for (let pos = 0; pos < len; ) {
      const a = addr + pos;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - pos);
      fn(Math.floor(this.phys(a) / PAGE_SIZE), off, pos, n);
      pos += n;
    }
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
    const byVirtual = new Map<number, number>();
    for (let pfn = 0; pfn < mm.nrPages; pfn++) {
      if ((mm.flags[pfn] & PGTY_MASK) !== PGTY_SLAB) continue;
      const s = this.caches[mm.mapping[pfn] - 1];
      if (!s) {
        errs.push(`slab page ${pfn} belongs to no cache (mapping ${mm.mapping[pfn]})`);
        continue;
      }
      bySlabs.set(s.id, (bySlabs.get(s.id) ?? 0) + 1);
      if (mm.flags[pfn] & PG_VCOMPOUND) {
        byVirtual.set(s.id, (byVirtual.get(s.id) ?? 0) + 1);
        this.checkVirtualSlab(s, pfn, errs);
      }
      if (!seen.has(pfn)) this.checkSlab(s, pfn, false, errs);
    }
    for (const s of this.caches) {
      if (!s) continue;
      if ((bySlabs.get(s.id) ?? 0) !== s.nrSlabs) errs.push(`${s.name}: nr_slabs ${s.nrSlabs}, mem_map holds ${bySlabs.get(s.id) ?? 0}`);
      const virtual = s.stat.allocVirtualSlab - s.stat.freeVirtualSlab;
      if ((byVirtual.get(s.id) ?? 0) !== virtual) errs.push(`${s.name}: ${virtual} virtual slabs counted, mem_map holds ${byVirtual.get(s.id) ?? 0}`);
    }
    this.checkXlate(errs);
  }

  /**
   * A virtual slab (SLAB_VFALLBACK): only such a cache has one, its base is a vmalloc address that is not in
   * the direct map, and every page of it maps back to the slab through virt_to_head_page().
   */
  private checkVirtualSlab(s: KmemCache, slab: number, errs: string[]): void {
    if (!(s.allocflags & GFP.VFALLBACK)) errs.push(`${s.name}: virtual slab ${slab} in a cache without SLAB_VFALLBACK in effect`);
    const base = this.slabBase(slab);
    const phys = base - this.pageOffset;
    if (base === 0 || (phys >= 0 && phys < this.directMapBytes)) {
      errs.push(`${s.name}: virtual slab ${slab} has no vmalloc address (0x${base.toString(16)})`);
      return;
    }
    const order = this.slabOrder(slab);
    for (let i = 0; i < 1 << order; i++) {
      const pfn = this.vfallback.addrToPage(base + i * PAGE_SIZE);
      if (pfn === NO_PAGE || this.mm.head(pfn) !== slab) {
        errs.push(`${s.name}: page ${i} of virtual slab ${slab} does not map back to it`);
        return;
      }
    }
  }

  /** The translation cache against the page tables: no entry may be stale. */
  private checkXlate(errs: string[]): void {
    for (let i = 0; i < XLATE_ENTRIES; i++) {
      const vpn = this.xlateVpn[i];
      if (vpn < 0) continue;
      const pfn = this.vfallback.addrToPage(vpn * PAGE_SIZE);
      if (pfn !== this.xlatePfn[i]) errs.push(`slub: stale translation of 0x${this.formatAddr(vpn * PAGE_SIZE)}: pfn ${this.xlatePfn[i]}, the page tables say ${pfn}`);
    }
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
