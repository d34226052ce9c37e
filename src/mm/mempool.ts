/**
 * mempool_t (mm/mempool.c, include/linux/mempool.h, 6.x): a reserve of min_nr preallocated elements that
 * mempool_alloc() falls back on when its backend fails, so that a memory-critical path (the block layer's
 * bios, a filesystem's writeback) makes progress under pressure. Modelled: mempool_create (through
 * mempool_create_node_noprof and mempool_init_node), mempool_create_slab_pool, mempool_create_kmalloc_pool,
 * mempool_create_page_pool with their backends (mempool_alloc_slab/free_slab, mempool_kmalloc/kfree,
 * mempool_alloc_pages/free_pages), mempool_alloc (mempool_alloc_noprof), mempool_alloc_preallocated,
 * mempool_free, mempool_resize, mempool_destroy (mempool_exit), add_element/remove_element (LIFO).
 *
 * An element is a number: an object address for slab and kmalloc pools, a pfn for page pools, whatever the
 * caller's alloc function returns for a generic pool. "No element" is `null` at this layer (the backends'
 * 0 and NO_PAGE become null); mempool_free of null, or of a pool's own NULL (0, NO_PAGE), is a no-op.
 * The pool's struct and its elements array are real kmalloc objects (sizeof(mempool_t), min_nr pointers),
 * so they count, and can fail, as in the kernel; the pointers themselves are kept in a typed array.
 *
 * Departures: mempool_alloc waits on the model clock (Clock.sleep, as io_schedule_timeout(5*HZ) on the
 * pool's wait queue, woken by mempool_free's wake_up) and gives up after MEMPOOL_MODEL_WAIT_ROUNDS rounds
 * with one line of its own in dmesg, returning NULL where the kernel would wait for ever. No element
 * poisoning (CONFIG_SLUB_DEBUG_ON) or KASAN element poisoning; KASAN's double-free check when an element
 * is added is modelled. No fault injection (fail_mempool_alloc), no lockdep fs_reclaim annotation in
 * might_alloc, no NUMA node, no mempool_init (embedded pools), no bulk API, and not the zero-minimum-pool
 * edge case of later kernels (a pool of min_nr 0 holds nothing). Statistics are the model's; the kernel
 * keeps none.
 */
import { formatGfpMode, GFP } from '../gfp.js';
import type { Clock } from './clock.js';
import { NO_PAGE } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';
import { reportMightSleep, type Sched } from './sched.js';
import type { SlabCommon } from './slab_common.js';
import type { KmemCache } from './slub.js';

/** mempool_alloc_t: an element for `gfp`, or null. */
export type MempoolAllocFn = (gfp: number) => number | null;
/** mempool_free_t. */
export type MempoolFreeFn = (element: number) => void;
export type MempoolKind = 'generic' | 'slab' | 'kmalloc' | 'page';

/** io_schedule_timeout(5 * HZ): one round of waiting for a freed element. */
export const MEMPOOL_WAIT_NS = 5e9;
/** The model's bound on the kernel's endless wait: 12 rounds, one model minute. */
export const MEMPOOL_MODEL_WAIT_ROUNDS = 12;
const ENOMEM = 12;
const EINVAL = 22;

/** sizeof(mempool_t) and its fields' offsets (no lockdep): x86_64 and i386. */
const LAYOUT = {
  64: { size: 72, lock: 0, currNr: 8, alloc: 32 },
  32: { size: 40, lock: 0, currNr: 8, alloc: 20 },
} as const;

/** What a pool did (the model's; mempool_alloc/mempool_free traffic, not create/resize/destroy). */
export class MempoolStats {
  /** mempool_alloc served by the backend. */
  allocBackend = 0;
  /** mempool_alloc (or mempool_alloc_preallocated) served from the reserved elements. */
  allocReserve = 0;
  /** mempool_free that put the element back into the reserve. */
  refills = 0;
  /** mempool_free that handed the element to the backend (the reserve was full). */
  freeBackend = 0;
  /** NULL returned by mempool_alloc or mempool_alloc_preallocated. */
  failures = 0;
  /** Rounds of io_schedule_timeout() waiting for an element, and the model time they took. */
  waits = 0;
  waitNs = 0;
}

/** A mempool_t. Read minNr/currNr; change the pool only through the mempool functions. */
export class Mempool {
  readonly kind: MempoolKind;
  /** What the pool is, for reports: "kmalloc-256 slab pool", "order-2 page pool", ... */
  readonly desc: string;
  /** The backend's own NULL (0 for addresses, NO_PAGE for pages), or null for a generic pool. */
  readonly nullElement: number | null;
  readonly alloc: MempoolAllocFn;
  readonly free: MempoolFreeFn;
  readonly stats = new MempoolStats();
  /** The kmalloc'd mempool_t and elements array, and the kmalloc cache the struct lives in. */
  readonly addr: number;
  elementsAddr: number;
  readonly structCache: KmemCache;
  /** pool->elements: curr_nr of them present, LIFO. */
  elements: Float64Array;
  private minNr_: number;
  private currNr_ = 0;
  dead = false;

  constructor(kind: MempoolKind, desc: string, nullElement: number | null, minNr: number, alloc: MempoolAllocFn, free: MempoolFreeFn, addr: number, elementsAddr: number, structCache: KmemCache) {
    this.kind = kind;
    this.desc = desc;
    this.nullElement = nullElement;
    this.minNr_ = minNr;
    this.alloc = alloc;
    this.free = free;
    this.addr = addr;
    this.elementsAddr = elementsAddr;
    this.structCache = structCache;
    this.elements = new Float64Array(minNr);
  }

  /** pool->min_nr. */
  get minNr(): number {
    return this.minNr_;
  }
  /** pool->curr_nr. */
  get currNr(): number {
    return this.currNr_;
  }

  /** add_element(): BUG_ON(curr_nr >= min_nr) holds by construction (every caller checks first). */
  addElement(element: number): void {
    this.elements[this.currNr_++] = element;
  }
  /** remove_element(): the last one added. */
  removeElement(): number {
    return this.elements[--this.currNr_];
  }
  /** Is `element` among the elements present? */
  holds(element: number): boolean {
    for (let i = 0; i < this.currNr_; i++) if (this.elements[i] === element) return true;
    return false;
  }
  /** The elements present, oldest first. */
  present(): number[] {
    return Array.from(this.elements.subarray(0, this.currNr_));
  }
  /** Set by mempool_resize. */
  setMinNr(n: number): void {
    this.minNr_ = n;
  }
}

export interface MempoolDeps {
  slab: SlabCommon;
  pa: PageAlloc;
  sched: Sched;
  printk: Printk;
  clock: Clock;
  bitsPerLong: 32 | 64;
  /**
   * Let up to `maxNs` of model time pass while the current task sleeps, waking early once `woken()` holds
   * (Clock.sleep; the machine also lets its background threads run). True if woken.
   */
  sleep: (maxNs: number, woken: () => boolean) => boolean;
  formatAddr: (addr: number) => string;
}

export class Mempools {
  /** Every live pool, in creation order. */
  readonly pools = new Set<Mempool>();
  private readonly d: MempoolDeps;
  private readonly layout: (typeof LAYOUT)[32 | 64];
  private readonly wordSize: number;
  private warnedZero = false;

  constructor(d: MempoolDeps) {
    this.d = d;
    this.layout = LAYOUT[d.bitsPerLong];
    this.wordSize = d.bitsPerLong / 8;
  }

  // --- creation ------------------------------------------------------------------------------------------

  /** mempool_create(): a pool with min_nr elements preallocated with GFP_KERNEL, or null. */
  create(minNr: number, alloc: MempoolAllocFn, free: MempoolFreeFn): Mempool | null {
    return this.createNode('generic', 'mempool', null, minNr, alloc, free);
  }

  /** mempool_create_slab_pool(): elements are objects of `s` (mempool_alloc_slab/mempool_free_slab). */
  createSlabPool(minNr: number, s: KmemCache): Mempool | null {
    // mempool_alloc_slab's VM_BUG_ON(mem->ctor): reserved elements would not be constructed again.
    if (s.ctor) {
      this.d.printk.bug('kernel BUG', [`kernel BUG at mm/mempool.c: mempool_alloc_slab: VM_BUG_ON(mem->ctor) (cache ${s.name})`]);
      return null;
    }
    const slab = this.d.slab;
    return this.createNode('slab', `${s.name} slab pool`, 0, minNr,
      (gfp) => slab.kmemCacheAlloc(s, gfp, 'mempool_alloc_slab+0x0/0x0') || null,
      (el) => slab.kmemCacheFree(s, el, 'mempool_free_slab+0x0/0x0'));
  }

  /** mempool_create_kmalloc_pool(): elements are kmalloc(size) objects (mempool_kmalloc/mempool_kfree). */
  createKmallocPool(minNr: number, size: number): Mempool | null {
    const slab = this.d.slab;
    return this.createNode('kmalloc', `kmalloc(${size}) pool`, 0, minNr,
      (gfp) => slab.kmalloc(size, gfp, 'mempool_kmalloc+0x0/0x0') || null,
      (el) => slab.kfree(el, 'mempool_kfree+0x0/0x0'));
  }

  /** mempool_create_page_pool(): elements are pfns of order-`order` blocks (mempool_alloc_pages/free_pages). */
  createPagePool(minNr: number, order: number): Mempool | null {
    const pa = this.d.pa;
    return this.createNode('page', `order-${order} page pool`, NO_PAGE, minNr,
      (gfp) => {
        const pfn = pa.allocPages(gfp, order);
        return pfn === NO_PAGE ? null : pfn;
      },
      (pfn) => pa.freePages(pfn, order));
  }

  /**
   * mempool_create_node_noprof() + mempool_init_node(): kzalloc the struct, kmalloc_array the elements,
   * then fill the reserve; any failure undoes everything (mempool_exit) and returns null.
   */
  private createNode(kind: MempoolKind, desc: string, nullElement: number | null, minNr: number, alloc: MempoolAllocFn, free: MempoolFreeFn): Mempool | null {
    if (!Number.isInteger(minNr) || minNr < 0) throw new Error(`mempool_create: min_nr must be a whole number >= 0, got ${minNr}`);
    const slab = this.d.slab;
    const addr = slab.kzalloc(this.layout.size, GFP.KERNEL, 'mempool_create_node_noprof+0x0/0x0');
    if (addr === 0) return null;
    const structCache = slab.kmallocSlab(this.layout.size, GFP.KERNEL);
    const elementsAddr = slab.kmallocArray(minNr, this.wordSize, GFP.KERNEL, 'mempool_init_node+0x0/0x0');
    if (elementsAddr === 0) {
      slab.kfree(addr);
      return null;
    }
    const pool = new Mempool(kind, desc, nullElement, minNr, alloc, free, addr, elementsAddr, structCache);
    while (pool.currNr < pool.minNr) {
      const el = alloc(GFP.KERNEL);
      if (el === null) {
        this.exit(pool);
        slab.kfree(addr);
        return null;
      }
      pool.addElement(el);
    }
    this.pools.add(pool);
    return pool;
  }

  // --- allocation ------------------------------------------------------------------------------------------

  /**
   * mempool_alloc(): the backend first, without direct reclaim or IO; then the reserve (LIFO); then the
   * backend with the caller's full gfp; then, if the caller may sleep, wait up to 5 s for a mempool_free and
   * start over. The backend never gets the emergency reserves, retries or warnings. Returns null when the
   * caller may not sleep, or (the model's bound) after MEMPOOL_MODEL_WAIT_ROUNDS rounds of waiting.
   */
  alloc(pool: Mempool, gfp: number): number | null {
    if (pool.dead) {
      this.useAfterDestroy(pool, 'mempool_alloc_noprof', 'Read', this.layout.alloc, this.wordSize);
      return null;
    }
    const d = this.d;
    // VM_WARN_ON_ONCE(gfp_mask & __GFP_ZERO): elements from the reserve are not zeroed.
    if (gfp & GFP.ZERO && !this.warnedZero) {
      this.warnedZero = true;
      d.printk.warn('WARNING', [`WARNING: CPU: ${d.sched.current.cpu} PID: ${d.sched.current.pid} at mm/mempool.c:mempool_alloc_noprof: VM_WARN_ON_ONCE(gfp_mask & __GFP_ZERO)`]);
    }
    // might_alloc(gfp_mask): the page allocator's own might_sleep_if(), at the same place.
    if (gfp & GFP.DIRECT_RECLAIM && (d.sched.preemptCount !== 0 || d.sched.irqsDisabled)) reportMightSleep(d.sched, d.printk, 'include/linux/sched/mm.h:321');
    const orig = gfp;
    gfp |= GFP.NOMEMALLOC | GFP.NORETRY | GFP.NOWARN; // no emergency reserves, no looping, failures are fine
    let gfpTemp = gfp & ~(GFP.DIRECT_RECLAIM | GFP.IO);
    const st = pool.stats;
    for (let rounds = 0; ; ) {
      const el = pool.alloc(gfpTemp);
      if (el !== null) {
        st.allocBackend++;
        return el;
      }
      if (pool.currNr > 0) {
        st.allocReserve++;
        return pool.removeElement();
      }
      // The first round went without reclaim; with the reserve empty, retry at once with everything allowed.
      if (gfpTemp !== gfp) {
        gfpTemp = gfp;
        continue;
      }
      if (!(gfp & GFP.DIRECT_RECLAIM)) break;
      if (rounds === MEMPOOL_MODEL_WAIT_ROUNDS) {
        d.printk.warn('mempool_alloc gave up', [
          `mmlab: mempool_alloc(${d.formatAddr(pool.addr)} [${pool.desc}], ${formatGfpMode(orig)}) would wait for ever: no element was freed in ${(MEMPOOL_MODEL_WAIT_ROUNDS * MEMPOOL_WAIT_NS) / 1e9} s; the model returns NULL`,
        ]);
        break;
      }
      // prepare_to_wait + io_schedule_timeout(5*HZ): mempool_free's wake_up ends the wait early.
      rounds++;
      st.waits++;
      const t0 = d.clock.ns;
      d.sleep(MEMPOOL_WAIT_NS, () => pool.currNr > 0);
      st.waitNs += d.clock.ns - t0;
    }
    st.failures++;
    return null;
  }

  /** mempool_alloc_preallocated(): a reserved element or null; never the backend, never sleeps. */
  allocPreallocated(pool: Mempool): number | null {
    if (pool.dead) {
      this.useAfterDestroy(pool, 'mempool_alloc_preallocated', 'Write', this.layout.lock, 4);
      return null;
    }
    if (pool.currNr > 0) {
      pool.stats.allocReserve++;
      return pool.removeElement();
    }
    pool.stats.failures++;
    return null;
  }

  // --- freeing ---------------------------------------------------------------------------------------------

  /** mempool_free(): refill the reserve while it is short (and wake a waiter), else the backend frees. */
  free(element: number | null, pool: Mempool): void {
    if (element === null || element === pool.nullElement) return;
    if (pool.dead) return this.useAfterDestroy(pool, 'mempool_free', 'Read', this.layout.currNr, 4);
    if (pool.currNr < pool.minNr) {
      // kasan_mempool_poison_object(): an element already in the reserve is being freed again.
      if (pool.holds(element)) return this.doubleFree(pool, element);
      pool.addElement(element);
      pool.stats.refills++;
      return; // wake_up(&pool->wait): a sleeper in alloc() sees curr_nr > 0
    }
    pool.stats.freeBackend++;
    pool.free(element);
  }

  // --- resizing and destruction ------------------------------------------------------------------------------

  /**
   * mempool_resize(): shrinking frees the surplus now; growing reallocates the elements array (-ENOMEM if
   * that fails, nothing changed), raises min_nr, and preallocates with GFP_KERNEL. As in the kernel, an
   * element allocation that fails ends the growing with 0 (success): the pool stays short, and later
   * mempool_free calls refill it. new_min_nr <= 0 is the kernel's BUG_ON; the model returns -EINVAL.
   */
  resize(pool: Mempool, newMinNr: number): number {
    const d = this.d;
    if (pool.dead) {
      this.useAfterDestroy(pool, 'mempool_resize', 'Write', this.layout.lock, 4);
      return -EINVAL;
    }
    if (!Number.isInteger(newMinNr) || newMinNr <= 0) {
      d.printk.bug('kernel BUG', [`kernel BUG at mm/mempool.c: mempool_resize: BUG_ON(new_min_nr <= 0) (new_min_nr ${newMinNr})`]);
      return -EINVAL;
    }
    if (d.sched.preemptCount !== 0 || d.sched.irqsDisabled) reportMightSleep(d.sched, d.printk, 'mm/mempool.c:mempool_resize');
    if (newMinNr <= pool.minNr) {
      while (newMinNr < pool.currNr) pool.free(pool.removeElement());
      pool.setMinNr(newMinNr);
      return 0;
    }
    const slab = d.slab;
    const newAddr = slab.kmallocArray(newMinNr, this.wordSize, GFP.KERNEL, 'mempool_resize+0x0/0x0');
    if (newAddr === 0) return -ENOMEM;
    const grown = new Float64Array(newMinNr);
    grown.set(pool.elements.subarray(0, pool.currNr));
    slab.kfree(pool.elementsAddr);
    pool.elements = grown;
    pool.elementsAddr = newAddr;
    pool.setMinNr(newMinNr);
    while (pool.currNr < pool.minNr) {
      const el = pool.alloc(GFP.KERNEL);
      if (el === null) break;
      pool.addElement(el);
    }
    return 0;
  }

  /** mempool_destroy(): every reserved element goes back to the backend, then the pool itself. NULL is a no-op. */
  destroy(pool: Mempool | null): void {
    if (pool === null) return;
    if (pool.dead) return this.useAfterDestroy(pool, 'mempool_exit', 'Read', this.layout.currNr, 4);
    this.exit(pool);
    this.d.slab.kfree(pool.addr);
    pool.dead = true;
    this.pools.delete(pool);
  }

  /** mempool_exit(): free the elements (LIFO, as remove_element takes them) and the elements array. */
  private exit(pool: Mempool): void {
    while (pool.currNr > 0) pool.free(pool.removeElement());
    this.d.slab.kfree(pool.elementsAddr);
  }

  // --- reports -----------------------------------------------------------------------------------------------

  /** A destroyed pool is freed memory: KASAN reports the first access to its struct. */
  private useAfterDestroy(pool: Mempool, fn: string, what: 'Read' | 'Write', off: number, size: number): void {
    const d = this.d;
    const t = d.sched.current;
    d.printk.bug('KASAN: slab-use-after-free', [
      '==================================================================',
      `BUG: KASAN: slab-use-after-free in ${fn}+0x0/0x0`,
      `${what} of size ${size} at addr ${d.formatAddr(pool.addr + off)} by task ${t.comm}/${t.pid}`,
      `The buggy address belongs to the object at ${d.formatAddr(pool.addr)}`,
      ` which belongs to the cache ${pool.structCache.name} of size ${pool.structCache.objectSize}`,
      `mmlab: the mempool_t (${pool.desc}) was freed by mempool_destroy()`,
    ]);
  }

  private doubleFree(pool: Mempool, element: number): void {
    const d = this.d;
    const what = pool.kind === 'page' ? `pfn 0x${element.toString(16)}` : pool.kind === 'generic' ? String(element) : d.formatAddr(element);
    d.printk.bug('KASAN: double-free', [
      '==================================================================',
      `BUG: KASAN: double-free in mempool_free+0x0/0x0`,
      `mmlab: element ${what} is already in the reserve of the mempool at ${d.formatAddr(pool.addr)} [${pool.desc}]`,
    ]);
  }

  /** Each live pool: 0 <= curr_nr <= min_nr, its elements distinct, a page pool's pages allocated. */
  checkInvariants(errs: string[]): void {
    for (const pool of this.pools) {
      const at = `mempool ${this.d.formatAddr(pool.addr)} [${pool.desc}]`;
      if (pool.currNr < 0 || pool.currNr > pool.minNr) errs.push(`${at}: curr_nr ${pool.currNr} outside 0..min_nr ${pool.minNr}`);
      const els = pool.present();
      if (new Set(els).size !== els.length) errs.push(`${at}: an element is in the reserve twice`);
      if (pool.kind === 'page') for (const pfn of els) if (this.d.pa.pageIsFree(pfn)) errs.push(`${at}: reserved pfn ${pfn} is free`);
    }
  }
}
