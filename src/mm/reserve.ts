/**
 * Zijlstra's memory reserves (mm/reserve.c of "mm: memory reserve management", the swap-over-network series
 * of 2007-2008, never merged; the page estimates are the series' "mm: kmem_alloc_estimate()" for mm/slub.c,
 * kmalloc_estimate_fixed/variable renamed kmalloc_estimate_objs/bytes on Pekka Enberg's review).
 *
 * A mem_reserve is a node of a tree. A node reserves pages for a demand stated in pages, in kmalloc bytes or
 * in kmem_cache objects (seed 004: N bytes of kmalloc become a slab demand, then P pages); its `pages` and
 * `limit` are its own plus its children's, propagated up on every change (__calc_reserve), so a subtree that is
 * not connected is always up to date and connecting it only adds its top node. The root, mem_reserve_root
 * ("total reserve"), is the page allocator's: whenever its pages change, adjust_memalloc_reserve() adds the
 * difference to var_free_kbytes and the watermarks are recomputed (Machine.adjustMemallocReserve); an increase
 * that cannot be met is refused (-ENOMEM) and nothing changes. Users charge usage against one node; usage is
 * not propagated (the patch: "do be consistent with who is charged").
 *
 * Units, as the patch: pages are pages; `limit` and `usage` are bytes for every kind of reserve (a page
 * reserve's limit is pages * PAGE_SIZE, a kmalloc reserve's the bytes asked for, a kmem_cache reserve's
 * objects * kmem_cache_size(), the object size), so limits of one unit add up in a subtree. The charge
 * functions take pages, bytes and objects.
 *
 * Readings where the patch text is wrong against its plain intent, or silent:
 * - A charge succeeds while usage + charge <= limit: the patch tests `<`, which would leave a one-page reserve
 *   unchargeable. Uncharges always succeed, clamp usage at 0 and wake every waiter (wake_up_all).
 * - kmalloc charges round with kmalloc_size_roundup() (the 96 and 192 classes, large kmalloc in pages), not
 *   roundup_pow_of_two(): kmalloc really uses that, and uncharging ksize() returns exactly the charge, which
 *   is what the patch's __kfree_reserve() comment counts on.
 * - No task sleeps here: a charge that fails counts a waiter (the wait_event() of ___kmalloc_reserve and
 *   friends); an uncharge wakes them all and counts them in `woken`; the caller retries.
 * - kmem_alloc_estimate(s, objects) is the patch's: objects in minimum slabs (s->min, the least efficient,
 *   what SLUB falls back to under pressure, when reserves are used), plus, when a slab holds more than one
 *   object, one preferred slab (s->oo) per online CPU for CPU slabs that may be empty and need allocating.
 *   Zero objects estimate 0 pages (the patch gave the CPU slack, so setting a reserve to 0 kept pages).
 * - kmalloc_estimate_objs() above KMALLOC_MAX_CACHE_SIZE counts get_order(size) pages per object (the patch's
 *   get_slab() returned NULL there and the estimate 0, as Pekka noted).
 * - kmalloc_estimate_bytes(): the patch's DIV_ROUND_UP(2 * bytes, PAGE_SIZE) ("worst case slack space due to
 *   the power-of-two allocation sizes"; the factor rises to the worst class's pages per charged byte if a
 *   debug cache wastes more than 2x), plus, for every kmalloc class that an object within `bytes` can use,
 *   kmem_alloc_estimate(s, 1): one partly filled slab and the CPU slack. The patch added only the CPU slack of
 *   classes 1..PAGE_SHIFT-1 (4k and 8k missing), which falls short for a mix such as one object per class;
 *   this sum makes it an upper bound for any mix of objects whose charges add up to `bytes` (see the test).
 * - adjust_memalloc_reserve() in its 2006-2007 form: var_free_kbytes adds to min_free_kbytes in
 *   setup_per_zone_wmarks(), so min rises and low/high follow (the 2009 "mm: emergency pool" kept a separate
 *   zone->pages_emerg beside the marks instead); an increase must pass test_reserve_limits() (2009 posting):
 *   kswapd is woken and one GFP_KERNEL page must be allocatable.
 * - A connection that would make a cycle, and disconnecting a node without a parent (the patch's BUG_ON), are
 *   reported as misuse; bad numbers from the caller throw an Error.
 */
import { GFP } from '../gfp.js';
import { PAGE_SHIFT, PAGE_SIZE } from './page.js';
import { getOrder } from './page_alloc.js';
import type { Printk } from './printk.js';
import { KMALLOC_MAX_CACHE_SIZE, type SlabCommon } from './slab_common.js';
import type { KmemCache } from './slub.js';

/** struct mem_reserve. */
export class MemReserve {
  readonly name: string;
  parent: MemReserve | undefined = undefined;
  /** Newest first, as list_add() puts them (and /proc/reserve_info prints them). */
  readonly children: MemReserve[] = [];
  /** Pages this node reserves, its children's included. */
  pages = 0;
  /** Bytes of usage allowed, its children's limits included. */
  limit = 0;
  /** Bytes charged against this node (not propagated). */
  usage = 0;
  /** Chargers that failed and wait on the waitqueue; waiters woken by uncharges so far. */
  waiters = 0;
  woken = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** One node as /proc/reserve_info prints it, without the ids: `"name" 24K 0/4096`. */
  toString(): string {
    return `"${this.name}" ${this.pages << (PAGE_SHIFT - 10)}K ${this.usage}/${this.limit}`;
  }
}

export interface MemReservesDeps {
  slab: SlabCommon;
  printk: Printk;
  /** num_online_cpus(). */
  nrCpus: number;
  /** adjust_memalloc_reserve(pages): false (-ENOMEM) when an increase cannot be met; nothing changed then. */
  adjustMemallocReserve(pages: number): boolean;
}

function whole(x: number, what: string, min = -Infinity): number {
  if (!Number.isSafeInteger(x) || x < min) throw new Error(`${what}: expected a whole number${min === 0 ? ' >= 0' : ''}, got ${x}`);
  return x;
}

/** The reserve tree of one machine, its root connected to the page allocator. */
export class MemReserves {
  /** mem_reserve_root: an aggregation point with no unit of its own. */
  readonly root = new MemReserve('total reserve');
  private readonly d: MemReservesDeps;

  constructor(d: MemReservesDeps) {
    this.d = d;
  }

  /** mem_reserve_init(res, name, parent): a new empty reserve, connected to `parent` if given (and possible). */
  memReserveInit(name: string, parent?: MemReserve): MemReserve {
    const res = new MemReserve(name);
    if (parent) this.memReserveConnect(res, parent);
    return res;
  }

  /** __calc_reserve(): propagate page and limit deltas up the (sub)tree. */
  private calcReserve(res: MemReserve | undefined, pages: number, limit: number): void {
    for (; res; res = res.parent) {
      res.pages += pages;
      res.limit += limit;
    }
  }

  /**
   * __mem_reserve_add(): change a node by deltas. The pages go up first; if that changed the root's, the page
   * allocator must take the difference, else they come back down. Limits change only once the pages are had.
   */
  private add(res: MemReserve, pages: number, limit: number): boolean {
    if (res.pages + pages < 0) throw new Error(`mem_reserve "${res.name}": ${res.pages} pages cannot change by ${pages}`);
    const before = this.root.pages;
    this.calcReserve(res, pages, 0);
    const delta = this.root.pages - before;
    if (delta && !this.d.adjustMemallocReserve(delta)) {
      this.calcReserve(res, -pages, 0);
      return false;
    }
    this.calcReserve(res, 0, limit);
    return true;
  }

  /**
   * mem_reserve_connect(child, parent): the child's pages and limit join the parent's chain, raising the
   * page allocator's reserve if the parent reaches the root. False (-EEXIST, -ENOMEM) leaves it unconnected.
   */
  memReserveConnect(child: MemReserve, parent: MemReserve): boolean {
    if (child.parent) return false;
    for (let p: MemReserve | undefined = parent; p; p = p.parent) {
      if (p === child) {
        this.d.printk.bug('mem_reserve', [`mem_reserve_connect: "${child.name}" under "${parent.name}" would make a cycle`]);
        return false;
      }
    }
    child.parent = parent;
    parent.children.unshift(child);
    if (!this.add(parent, child.pages, child.limit)) {
      child.parent = undefined;
      parent.children.splice(parent.children.indexOf(child), 1);
      return false;
    }
    return true;
  }

  /** mem_reserve_disconnect(node): its pages and limit leave its ancestors (the reserve can always shrink). */
  memReserveDisconnect(node: MemReserve): void {
    const parent = node.parent;
    if (!parent) {
      this.d.printk.bug('mem_reserve', [`kernel BUG at mm/reserve.c: mem_reserve_disconnect: "${node.name}" has no parent`]);
      return;
    }
    this.add(parent, -node.pages, -node.limit);
    node.parent = undefined;
    parent.children.splice(parent.children.indexOf(node), 1);
  }

  /**
   * __mem_reserve_charge(): charge `bytes` (negative: uncharge). A charge past the limit fails and changes
   * nothing but the waiter count; an uncharge always succeeds and wakes all waiters.
   */
  private charge(res: MemReserve, bytes: number): boolean {
    if (bytes < 0) {
      res.usage = Math.max(0, res.usage + bytes);
      res.woken += res.waiters;
      res.waiters = 0;
      return true;
    }
    if (res.usage + bytes <= res.limit) {
      res.usage += bytes;
      return true;
    }
    res.waiters++;
    return false;
  }

  // --- alloc_page helpers

  /** mem_reserve_pages_set(res, pages): reserve `pages` pages (limit pages * PAGE_SIZE); false keeps the old size. */
  memReservePagesSet(res: MemReserve, pages: number): boolean {
    const delta = whole(pages, 'mem_reserve_pages_set', 0) - res.pages;
    return this.add(res, delta, delta * PAGE_SIZE);
  }

  /** mem_reserve_pages_add(res, pages): change by `pages` (negative shrinks). */
  memReservePagesAdd(res: MemReserve, pages: number): boolean {
    whole(pages, 'mem_reserve_pages_add');
    return this.add(res, pages, pages * PAGE_SIZE);
  }

  /** mem_reserve_pages_charge(res, pages): charge pages (negative: uncharge). */
  memReservePagesCharge(res: MemReserve, pages: number): boolean {
    return this.charge(res, whole(pages, 'mem_reserve_pages_charge') * PAGE_SIZE);
  }

  // --- kmalloc helpers

  /** mem_reserve_kmalloc_set(res, bytes): reserve the pages `bytes` of kmalloc (GFP_ATOMIC) may need. */
  memReserveKmallocSet(res: MemReserve, bytes: number): boolean {
    whole(bytes, 'mem_reserve_kmalloc_set', 0);
    return this.add(res, this.kmallocEstimateBytes(GFP.ATOMIC, bytes) - res.pages, bytes - res.limit);
  }

  /** mem_reserve_kmalloc_charge(res, bytes): charge what kmalloc(bytes) really takes (negative: uncharge). */
  memReserveKmallocCharge(res: MemReserve, bytes: number): boolean {
    whole(bytes, 'mem_reserve_kmalloc_charge');
    const r = this.d.slab.kmallocSizeRoundup(Math.abs(bytes));
    return this.charge(res, bytes < 0 ? -r : r);
  }

  // --- kmem_cache helpers

  /** mem_reserve_kmem_cache_set(res, s, objects): reserve for `objects` objects of `s`. */
  memReserveKmemCacheSet(res: MemReserve, s: KmemCache, objects: number): boolean {
    whole(objects, 'mem_reserve_kmem_cache_set', 0);
    return this.add(res, this.kmemAllocEstimate(s, GFP.ATOMIC, objects) - res.pages, objects * s.objectSize - res.limit);
  }

  /** mem_reserve_kmem_cache_charge(res, s, objects): charge objects of `s` (negative: uncharge). */
  memReserveKmemCacheCharge(res: MemReserve, s: KmemCache, objects: number): boolean {
    return this.charge(res, whole(objects, 'mem_reserve_kmem_cache_charge') * s.objectSize);
  }

  // --- the estimates (mm/slub.c in the series)

  /** The CPU-slab slack of kmem_alloc_estimate(): one preferred slab per online CPU if a slab holds more than one object. */
  private cpuSlack(s: KmemCache): number {
    return s.objects > 1 ? this.d.nrCpus << s.order : 0;
  }

  /** kmem_alloc_estimate(s, gfp, objects): the pages that allocating `objects` objects of `s` in a row may take. */
  kmemAllocEstimate(s: KmemCache, _gfp: number, objects: number): number {
    if (whole(objects, 'kmem_alloc_estimate', 0) === 0) return 0;
    return Math.ceil(objects / s.minObjects) * (1 << s.minOrder) + this.cpuSlack(s);
  }

  /** kmalloc_estimate_objs(size, gfp, count): the pages of `count` kmallocs of `size` bytes. */
  kmallocEstimateObjs(gfp: number, size: number, count: number): number {
    whole(size, 'kmalloc_estimate_objs size', 0);
    if (whole(count, 'kmalloc_estimate_objs count', 0) === 0 || size === 0) return 0;
    // A large kmalloc is a compound page of get_order(size) straight from the page allocator.
    if (size > KMALLOC_MAX_CACHE_SIZE) return count * 2 ** getOrder(size);
    return this.kmemAllocEstimate(this.d.slab.kmallocSlab(size, gfp), gfp, count);
  }

  /**
   * kmalloc_estimate_bytes(gfp, bytes): the pages `bytes` of kmalloc charges may take in objects of any sizes
   * (see the header for the bound and why it departs from the patch).
   */
  kmallocEstimateBytes(gfp: number, bytes: number): number {
    if (whole(bytes, 'kmalloc_estimate_bytes', 0) === 0) return 0;
    const caches = this.d.slab.kmallocCaches[this.d.slab.kmallocType(gfp)].filter((s) => s && s.objectSize <= bytes);
    // Pages per charged byte of the worst class, times PAGE_SIZE; large kmalloc wastes nothing beyond its charge.
    let factor = 2;
    for (const s of caches) factor = Math.max(factor, (PAGE_SIZE << s.minOrder) / (s.minObjects * s.objectSize));
    let pages = Math.ceil((factor * bytes) / PAGE_SIZE);
    for (const s of caches) pages += this.kmemAllocEstimate(s, gfp, 1);
    return pages;
  }

  /** /proc/reserve_info: `id:parent "name" <pages>K usage/limit`, depth first, children newest first. */
  reserveInfo(): string {
    const out: string[] = [];
    let id = 0;
    const show = (res: MemReserve, parent: number): void => {
      const mine = ++id;
      out.push(`${mine}:${parent} ${res}`);
      for (const c of res.children) show(c, mine);
    };
    show(this.root, 0);
    return out.join('\n') + '\n';
  }
}
