/**
 * The vmalloc layer (mm/vmalloc.c): the kernel virtual address allocator (alloc_vmap_area over the free
 * tree of mm/vmap_tree.ts), vm_struct areas, lazy freeing with purge, and the entry points vmalloc, vzalloc,
 * __vmalloc, __vmalloc_node_range, vfree, vfree_atomic, vmap, vunmap, vmalloc_to_page.
 *
 * What the kernel does, step by step, is what this does:
 * - Every area is a vmap_area from the "vmap_area" slab cache; a vmalloc or vmap area also has a vm_struct
 *   (kzalloc'd) and, for vmalloc, a pages array (kmalloc'd, or vmalloc'd itself when larger than a page,
 *   "vpages" in /proc/vmallocinfo). Areas carry one guard page unless VM_NO_GUARD.
 * - alloc_vmap_area(): lowest aligned fit; on failure purge the lazily freed areas once and retry, then
 *   print "vmap allocation for size N failed: use vmalloc=<size> to increase size".
 * - Data pages are order-0 pages (highmem allowed unless DMA), counted in nr_vmalloc_pages (VmallocUsed);
 *   the page tables are allocated with GFP_PGTABLE_KERNEL under a nofs/noio scope derived from the caller's
 *   gfp since 5.17; before 5.17 (the `kernel` switch) they ignore it, and each table page so allocated for
 *   a caller that had cleared __GFP_FS or __GFP_IO is counted (`pgtableIgnoredScope`) and reported once.
 * - Freeing unmaps at once but leaves the TLB and the address range to a later purge: the area goes on
 *   the purge list until the lazily freed pages pass lazy_max_pages, then one purge flushes the TLB over
 *   the whole range and returns the areas to the free tree.
 * Every failure undoes what was done (vfree of the half-built area, as __vmalloc_area_node's fail path).
 *
 * Simplifications: the purge runs synchronously where the kernel queues drain_vmap_work; the bulk page
 * allocator is modelled by order-0 allocations one by one; no huge vmalloc mappings, no KASAN shadow, no
 * per-node vmap pools; a deferred vfree (interrupt context) runs at the next process-context call into
 * this layer (the kernel's work item runs soon after); i386's range ends at 4 GiB (no pkmap/fixmap above).
 */
import { GFP, formatGfp } from '../gfp.js';
import type { PhysMem } from './memory.js';
import { compoundOrder, destroyCompoundPage, prepCompoundPage } from './compound.js';
import { NO_PAGE, PAGE_SIZE, PG_VCOMPOUND, type MemMap } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import { GFP_PGTABLE_KERNEL, type KernelPgtable } from './pgtable.js';
import type { Printk } from './printk.js';
import { reportMightSleep, type Sched } from './sched.js';
import type { SlabCommon } from './slab_common.js';
import type { KmemCache, Slub } from './slub.js';
import type { Tlb } from './tlb.js';
import { FreeVmapTree } from './vmap_tree.js';
import type { TraceBuffer } from '../trace/buffer.js';
import { EV_ALLOC_VMAP_AREA, EV_FREE_VMAP_AREA_NOFLUSH, EV_PURGE_VMAP_AREA_LAZY } from '../trace/events.js';

// vm_struct flags (include/linux/vmalloc.h).
export const VM_IOREMAP = 0x1;
export const VM_ALLOC = 0x2;
export const VM_MAP = 0x4;
export const VM_USERMAP = 0x8;
export const VM_DMA_COHERENT = 0x10;
export const VM_UNINITIALIZED = 0x20;
export const VM_NO_GUARD = 0x40;
export const VM_FLUSH_RESET_PERMS = 0x100;
export const VM_MAP_PUT_PAGES = 0x200;
// vmap_area flags.
export const VMAP_RAM = 0x1;
export const VMAP_BLOCK = 0x2;

/** GFP_RECLAIM_MASK (mm/internal.h): what metadata allocations keep of the caller's gfp. */
export const GFP_RECLAIM_MASK = GFP.RECLAIM | GFP.HIGH | GFP.IO | GFP.FS | GFP.NOWARN | GFP.RETRY_MAYFAIL |
  GFP.NOFAIL | GFP.NORETRY | GFP.MEMALLOC | GFP.NOMEMALLOC;
const V5_17 = 5017;
const V6_19 = 6019;
const V7_1 = 7001;

/** struct vm_struct: a vmalloc or vmap mapping. */
export interface VmStruct {
  addr: number;
  /** Bytes, the guard page included. */
  size: number;
  flags: number;
  /** The pages mapped, in order. The area owns them (vm->pages) if VM_ALLOC or VM_MAP_PUT_PAGES. */
  pfns: number[];
  caller: string;
  /** The kzalloc'd vm_struct and the pages array (kmalloc'd or vmalloc'd; 0 if none). */
  obj: number;
  pagesAddr: number;
  pagesVmalloced: boolean;
}

/** struct vmap_area: a busy or lazily freed range of the vmalloc space. */
export interface VmapArea {
  start: number;
  end: number;
  flags: number;
  vm: VmStruct | undefined;
  /** The object from the vmap_area cache. */
  obj: number;
}

export class VmallocStats {
  allocs = 0;
  frees = 0;
  failures = 0;
  purges = 0;
  purgedAreas = 0;
  /** Page-table pages allocated without the caller's nofs/noio restriction (before 5.17). */
  pgtableIgnoredScope = 0;
  /** vfree()s deferred from interrupt context. */
  deferredFrees = 0;
}

/** What alloc_vcompound() (V5) did: served physically, virtually, or not at all. */
export class VcompoundWrapperStats {
  physical = 0;
  virtual = 0;
  failed = 0;
  frees = 0;
}

export interface VmallocDeps {
  mm: MemMap;
  mem: PhysMem;
  pa: PageAlloc;
  slab: SlabCommon;
  slub: Slub;
  sched: Sched;
  printk: Printk;
  trace: TraceBuffer;
  pgtable: KernelPgtable;
  tlb: Tlb;
  bitsPerLong: 32 | 64;
  pageOffset: number;
  start: number;
  end: number;
  nrCpus: number;
  kernel: number;
  freeTablesOnPurge: boolean;
  totalramPages: number;
  /** The struct page address of a pfn, as the pages array holds it. */
  pagePtr: (pfn: number) => number;
  formatAddr: (addr: number) => string;
}

export class Vmalloc {
  readonly start: number;
  readonly end: number;
  readonly tree: FreeVmapTree;
  readonly stats = new VmallocStats();
  /** Busy areas by start address (vmap_area_root). */
  readonly busy = new Map<number, VmapArea>();
  /** Lazily freed areas waiting for a purge (purge_vmap_area_list), and their pages (vmap_lazy_nr). */
  readonly lazy: VmapArea[] = [];
  lazyNr = 0;
  /** lazy_max_pages(). */
  readonly lazyMaxPages: number;
  /** nr_vmalloc_pages: pages vmalloc() allocated (VmallocUsed). */
  nrVmallocPages = 0;
  readonly vmapAreaCache: KmemCache;
  /** purge_fragmented_blocks_allcpus(), installed by the vmap block layer above. */
  purgeFragmentedBlocks: () => void = () => {};
  private readonly d: VmallocDeps;
  private readonly ptrSize: number;
  private readonly vmStructSize: number;
  private readonly deferred: number[] = [];
  private scopeReported = false;
  /**
   * Non-blocking gfp (no __GFP_DIRECT_RECLAIM) supported, as since 6.19 (Rezki's series): no might_sleep and
   * no purge-and-retry in alloc_vmap_area, page tables under memalloc_noreclaim. Set from `kernel`; the
   * kvmalloc layer turns it on when its policy steps to 6.19.
   */
  nonBlockingGfp: boolean;
  /** vmalloc_address() of the virtual compound pages: head pfn -> the address its area starts at. */
  private readonly vcompounds = new Map<number, number>();
  /** Virtual compounds whose free interrupt context deferred (stage 2): their heads. */
  private readonly deferredVcompounds: number[] = [];
  /** alloc_vcompound() (V5) outcomes. */
  readonly vcompoundStats = new VcompoundWrapperStats();
  /** Stage 2 of the series: a virtual compound mapped from atomic context, which may not sleep. */
  private atomicVcompound = false;

  constructor(d: VmallocDeps) {
    this.d = d;
    this.start = d.start;
    this.end = d.end;
    this.nonBlockingGfp = d.kernel >= V6_19;
    this.tree = new FreeVmapTree(d.start, d.end);
    // lazy_max_pages(): fls(num_online_cpus()) * (32 MiB / PAGE_SIZE).
    this.lazyMaxPages = (32 - Math.clz32(d.nrCpus)) * ((32 << 20) / PAGE_SIZE);
    this.ptrSize = d.bitsPerLong / 8;
    // sizeof(struct vmap_area) and sizeof(struct vm_struct): 72 and 72 bytes on x86_64, 36 and 36 on i386.
    this.vmStructSize = d.bitsPerLong === 64 ? 72 : 36;
    this.vmapAreaCache = d.slub.kmemCacheCreate('vmap_area', d.bitsPerLong === 64 ? 72 : 36)!;
    d.mm.vcompoundNthPage = (head, n) => this.vcompoundNthPage(head, n);
  }

  /** is_vmalloc_addr(). */
  isVmallocAddr(addr: number): boolean {
    return addr >= this.start && addr < this.end;
  }

  // --- the KVA allocator -------------------------------------------------------------------------------

  /**
   * alloc_vmap_area(): a vmap_area of `size` bytes aligned to `align` in [vstart, vend), or undefined.
   * One purge and retry before giving up with the kernel's message.
   */
  allocVmapArea(size: number, align: number, vstart: number, vend: number, gfp: number, vaFlags: number): VmapArea | undefined {
    // might_sleep_if(allow_block): before 6.19 every caller is taken to be able to sleep.
    const allowBlock = !this.nonBlockingGfp || (gfp & GFP.DIRECT_RECLAIM) !== 0;
    if (allowBlock) this.mightSleep('alloc_vmap_area');
    const obj = this.d.slab.kmemCacheAlloc(this.vmapAreaCache, gfp & GFP_RECLAIM_MASK);
    if (obj === 0) return undefined;
    let purged = false;
    for (;;) {
      const addr = this.tree.alloc(size, Math.max(align, PAGE_SIZE), vstart, vend);
      if (this.d.trace.on.alloc_vmap_area) this.d.trace.record(EV_ALLOC_VMAP_AREA, addr < 0 ? vend - 1 : addr, size, align, vstart, vend - 1, addr < 0 ? 1 : 0);
      if (addr >= 0) {
        const va: VmapArea = { start: addr, end: addr + size, flags: vaFlags, vm: undefined, obj };
        this.busy.set(addr, va);
        return va;
      }
      // A non-blocking caller cannot wait for a purge: it fails at once, silently (out_free_va).
      if (!purged && allowBlock) {
        // reclaim_and_purge_vmap_areas()
        this.purgeFragmentedBlocks();
        this.purgeVmapAreaLazy();
        purged = true;
        continue;
      }
      if (allowBlock && !(gfp & GFP.NOWARN)) this.d.printk.warn('vmap allocation failed', [`vmap allocation for size ${size} failed: use vmalloc=<size> to increase size`]);
      this.d.slab.kmemCacheFree(this.vmapAreaCache, obj);
      this.stats.failures++;
      return undefined;
    }
  }

  /** free_vmap_area_noflush(): onto the purge list; a purge once the lazy pages pass lazy_max_pages. */
  freeVmapAreaNoflush(va: VmapArea): void {
    this.busy.delete(va.start);
    this.lazy.push(va);
    this.lazyNr += (va.end - va.start) / PAGE_SIZE;
    if (this.d.trace.on.free_vmap_area_noflush) this.d.trace.record(EV_FREE_VMAP_AREA_NOFLUSH, va.start, this.lazyNr, this.lazyMaxPages);
    // The kernel schedules drain_vmap_work here; the model purges at once.
    if (this.lazyNr > this.lazyMaxPages) this.purgeVmapAreaLazy();
  }

  /**
   * __purge_vmap_area_lazy(): one TLB flush over the lazily freed areas (and any range the caller adds,
   * as vm_unmap_aliases does), then the areas go back to the free tree. False if there was nothing to do.
   */
  purgeVmapAreaLazy(flushStart = Infinity, flushEnd = -Infinity): boolean {
    let start = flushStart;
    let end = flushEnd;
    for (const va of this.lazy) {
      if (va.start < start) start = va.start;
      if (va.end > end) end = va.end;
    }
    if (end <= start) return false;
    this.d.tlb.flushKernelRange(Math.floor(start / PAGE_SIZE), Math.ceil(end / PAGE_SIZE));
    const n = this.lazy.length;
    for (const va of this.lazy) {
      this.tree.free(va.start, va.end);
      if (this.d.freeTablesOnPurge) this.d.pgtable.freeEmptyTables(va.start, va.end);
      this.d.slab.kmemCacheFree(this.vmapAreaCache, va.obj);
    }
    this.lazy.length = 0;
    this.lazyNr = 0;
    this.stats.purges++;
    this.stats.purgedAreas += n;
    if (this.d.trace.on.purge_vmap_area_lazy) this.d.trace.record(EV_PURGE_VMAP_AREA_LAZY, start, end, n);
    return true;
  }

  /** vunmap_range_noflush() + free_vmap_area_noflush(): free_unmap_vmap_area(). */
  freeUnmapVmapArea(va: VmapArea): void {
    this.d.pgtable.unmapRange(va.start, va.end - va.start);
    this.freeVmapAreaNoflush(va);
  }

  // --- vm_struct areas ----------------------------------------------------------------------------------

  /** __get_vm_area_node(): a vm_struct with its vmap_area (and guard page), or undefined. */
  getVmAreaNode(size: number, align: number, flags: number, vstart: number, vend: number, gfp: number, caller: string): VmStruct | undefined {
    size = pageAlign(size);
    if (size === 0) return undefined;
    const obj = this.d.slab.kmalloc(this.vmStructSize, (gfp & GFP_RECLAIM_MASK) | GFP.ZERO, caller);
    if (obj === 0) return undefined;
    if (!(flags & VM_NO_GUARD)) size += PAGE_SIZE;
    const va = this.allocVmapArea(size, align, vstart, vend, gfp, 0);
    if (!va) {
      this.d.slab.kfree(obj);
      return undefined;
    }
    const vm: VmStruct = { addr: va.start, size, flags, pfns: [], caller, obj, pagesAddr: 0, pagesVmalloced: false };
    va.vm = vm;
    return vm;
  }

  /** get_vm_area_size(): the usable bytes (the guard page left out). */
  vmAreaSize(vm: VmStruct): number {
    return vm.flags & VM_NO_GUARD ? vm.size : vm.size - PAGE_SIZE;
  }

  /** The area a vm_struct address starts, if any (find_vmap_area). */
  findVmapArea(addr: number): VmapArea | undefined {
    return this.busy.get(addr);
  }

  /** remove_vm_area(): unlink and unmap the area of `addr`; its vm_struct, or undefined if there is none. */
  removeVmArea(addr: number): VmStruct | undefined {
    if (addr % PAGE_SIZE !== 0) return undefined;
    const va = this.busy.get(addr);
    if (!va || !va.vm) return undefined;
    this.freeUnmapVmapArea(va);
    return va.vm;
  }

  // --- vmalloc -------------------------------------------------------------------------------------------

  /** __vmalloc_node_range(): the address of a virtually contiguous, page-backed area, or 0. */
  vmallocNodeRange(size: number, align: number, vstart: number, vend: number, gfp: number, vmFlags: number, caller: string): number {
    this.runDeferred();
    const realSize = size;
    size = pageAlign(size);
    if (!(size > 0)) {
      this.d.printk.warn('WARNING', [`WARNING: CPU: ${this.d.sched.current.cpu} PID: ${this.d.sched.current.pid} at mm/vmalloc.c:__vmalloc_node_range_noprof: WARN_ON_ONCE(!size)`]);
      return 0;
    }
    if (size / PAGE_SIZE > this.d.totalramPages) {
      this.d.pa.warnAllocMsg(gfp, 'vmalloc error', `vmalloc error: size ${realSize}, exceeds total pages`);
      return 0;
    }
    // __get_vm_area_node()'s BUG_ON(in_interrupt()); since 7.1 (04aa71da5f35) softirq and BH-off are allowed.
    const s = this.d.sched;
    if (this.d.kernel >= V7_1 ? s.inHardirq() : s.inInterrupt()) {
      this.d.printk.bug('vmalloc in interrupt', [`kernel BUG at mm/vmalloc.c: __get_vm_area_node: BUG_ON(${this.d.kernel >= V7_1 ? 'in_nmi() || in_hardirq()' : 'in_interrupt()'})`]);
      return 0;
    }
    const area = this.getVmAreaNode(realSize, align, VM_ALLOC | VM_UNINITIALIZED | vmFlags, vstart, vend, gfp, caller);
    if (!area) {
      this.d.pa.warnAllocMsg(gfp, 'vmalloc error', `vmalloc error: size ${realSize}, vm_struct allocation failed${gfp & GFP.NOFAIL ? '. Retrying.' : ''}`);
      return 0;
    }
    if (!this.vmallocAreaNode(area, gfp)) return 0;
    area.flags &= ~VM_UNINITIALIZED;
    this.stats.allocs++;
    return area.addr;
  }

  /** __vmalloc_area_node(): the pages array, the pages, and the mapping; undone with vfree on failure. */
  private vmallocAreaNode(area: VmStruct, gfp: number): boolean {
    const nestedGfp = (gfp & GFP_RECLAIM_MASK) | GFP.ZERO;
    const size = this.vmAreaSize(area);
    const nr = size / PAGE_SIZE;
    const arraySize = nr * this.ptrSize;
    let gfpMask = gfp;
    if (!(gfpMask & (GFP.DMA | GFP.DMA32))) gfpMask |= GFP.HIGHMEM;
    // The recursion is bounded: the array of a pages array fits in a page.
    if (arraySize > PAGE_SIZE) {
      area.pagesAddr = this.vmallocNodeRange(arraySize, 1, this.start, this.end, nestedGfp, 0, area.caller);
      area.pagesVmalloced = area.pagesAddr !== 0;
    } else {
      area.pagesAddr = this.d.slab.kmalloc(arraySize, nestedGfp, area.caller);
    }
    if (area.pagesAddr === 0) {
      this.d.pa.warnAllocMsg(gfpMask, 'vmalloc error', `vmalloc error: size ${size}, failed to allocated page array size ${arraySize}`);
      this.freeVmArea(area);
      return false;
    }
    // vm_area_alloc_pages(): order-0 pages, quietly; the caller's gfp decides zeroing and reclaim.
    for (let i = 0; i < nr; i++) {
      const pfn = this.d.pa.allocPages(gfpMask | GFP.NOWARN, 0);
      if (pfn === NO_PAGE) break;
      area.pfns.push(pfn);
      this.writePtr(area.pagesAddr + i * this.ptrSize, this.d.pagePtr(pfn));
    }
    this.nrVmallocPages += area.pfns.length;
    if (area.pfns.length !== nr) {
      this.d.pa.warnAllocMsg(gfpMask, 'vmalloc error', `vmalloc error: size ${area.pfns.length * PAGE_SIZE}, failed to allocate pages`);
      this.vfree(area.addr);
      return false;
    }
    if (this.mapPagesScoped(area.addr, area.pfns, gfpMask) < 0) {
      this.d.pa.warnAllocMsg(gfpMask, 'vmalloc error', `vmalloc error: size ${area.pfns.length * PAGE_SIZE}, failed to map pages`);
      this.vfree(area.addr);
      return false;
    }
    return true;
  }

  /**
   * vmap_pages_range() for a caller with gfp `gfp`: since 5.17 the page tables are allocated under the nofs or
   * noio scope the caller's gfp implies; before, always GFP_KERNEL (counted when that ignored the caller).
   */
  mapPagesScoped(addr: number, pfns: ArrayLike<number>, gfp: number): number {
    const s = this.d.sched;
    const fsio = gfp & (GFP.FS | GFP.IO);
    let restore = -1;
    let scoped = 0;
    let pgGfp = GFP_PGTABLE_KERNEL;
    if (this.nonBlockingGfp && !(gfp & GFP.DIRECT_RECLAIM)) {
      // memalloc_apply_gfp_scope() (6.19): a non-blocking caller's tables go under memalloc_noreclaim
      // (PF_MEMALLOC: no reclaim, the reserves). The kernel also skips might_alloc() under PF_MEMALLOC,
      // which the model's page allocator does not, so the tables are asked for without direct reclaim.
      restore = s.memallocNoreclaimSave();
      scoped = 3;
      pgGfp &= ~GFP.DIRECT_RECLAIM;
    } else if (this.d.kernel >= V5_17) {
      if (fsio === GFP.IO) {
        restore = s.memallocNofsSave();
        scoped = 1;
      } else if (fsio === 0) {
        restore = s.memallocNoioSave();
        scoped = 2;
      }
    }
    const before = this.d.pgtable.allocated;
    const ret = this.d.pgtable.mapPages(addr, pfns, pgGfp);
    // What the page allocator made of GFP_PGTABLE_KERNEL under the scope in force.
    const effective = s.currentGfpContext(GFP_PGTABLE_KERNEL);
    if (scoped === 1) s.memallocNofsRestore(restore);
    else if (scoped === 2) s.memallocNoioRestore(restore);
    else if (scoped === 3) s.memallocNoreclaimRestore(restore);
    const tables = this.d.pgtable.allocated - before;
    if (tables > 0 && scoped !== 3 && fsio !== (GFP.FS | GFP.IO) && (effective & (GFP.FS | GFP.IO) & ~fsio) !== 0) {
      this.stats.pgtableIgnoredScope += tables;
      if (!this.scopeReported) {
        this.scopeReported = true;
        const t = s.current;
        this.d.printk.warn('vmalloc page tables ignore gfp', [
          `mmlab: ${t.comm}/${t.pid}: vmalloc page tables allocated ${formatGfp(effective)} for a ${formatGfp(gfp)} caller (kernel before 5.17: page tables ignore the caller's gfp)`,
        ]);
      }
    }
    return ret;
  }

  /** Write a pointer-sized value at a kernel address (the direct map or a mapped vmalloc address). */
  private writePtr(addr: number, value: number): void {
    const phys = this.isVmallocAddr(addr) ? this.d.pgtable.lookup(addr - (addr % PAGE_SIZE)) * PAGE_SIZE + (addr % PAGE_SIZE) : addr - this.d.pageOffset;
    this.d.mem.writeLong(phys, value, this.ptrSize === 8);
  }

  /** free_vm_area() of an area that was never mapped: the vmap area goes lazily, the vm_struct now. */
  private freeVmArea(area: VmStruct): void {
    const vm = this.removeVmArea(area.addr);
    if (vm) this.d.slab.kfree(vm.obj);
  }

  // --- vfree, vmap, vunmap ----------------------------------------------------------------------------

  /** vfree(): the area, its pages (unless a plain vmap) and its pages array; deferred in interrupt context. */
  vfree(addr: number): void {
    const s = this.d.sched;
    if (s.inInterrupt()) {
      this.vfreeAtomic(addr);
      return;
    }
    this.runDeferred();
    if (addr === 0) return;
    const vm = this.removeVmArea(addr);
    if (!vm) {
      this.d.printk.bug('vfree', [`Trying to vfree() nonexistent vm area (${this.d.formatAddr(addr)})`, `WARNING: CPU: ${s.current.cpu} PID: ${s.current.pid} at mm/vmalloc.c:vfree`]);
      return;
    }
    if (vm.flags & (VM_ALLOC | VM_MAP_PUT_PAGES)) for (const pfn of vm.pfns) this.d.pa.freePages(pfn, 0);
    if (vm.flags & VM_ALLOC) this.nrVmallocPages -= vm.pfns.length;
    // kvfree(vm->pages)
    if (vm.pagesVmalloced) this.vfree(vm.pagesAddr);
    else if (vm.pagesAddr) this.d.slab.kfree(vm.pagesAddr);
    this.d.slab.kfree(vm.obj);
    this.stats.frees++;
  }

  /** vfree_atomic(): queue the free for process context. */
  vfreeAtomic(addr: number): void {
    if (addr === 0) return;
    this.deferred.push(addr);
    this.stats.deferredFrees++;
  }

  /** delayed_vfree_work(): run the vfree()s interrupt context deferred. */
  runDeferred(): void {
    if ((this.deferred.length === 0 && this.deferredVcompounds.length === 0) || this.d.sched.inInterrupt()) return;
    const list = this.deferred.splice(0);
    for (const addr of list) this.vfree(addr);
    for (const head of this.deferredVcompounds.splice(0)) this.vcompoundFree(head);
  }

  /** Addresses (and virtual compounds) waiting in the deferred-free lists. */
  get deferredCount(): number {
    return this.deferred.length + this.deferredVcompounds.length;
  }

  /**
   * vmap(): map pages the caller owns. With VM_MAP_PUT_PAGES the pages become the area's, and vfree() frees
   * them; vunmap() never does.
   */
  vmap(pfns: readonly number[], flags: number, caller: string): number {
    this.runDeferred();
    this.mightSleep('vmap');
    if (flags & (VM_FLUSH_RESET_PERMS | VM_NO_GUARD)) {
      this.d.printk.warn('WARNING', [`WARNING: CPU: ${this.d.sched.current.cpu} PID: ${this.d.sched.current.pid} at mm/vmalloc.c:vmap: WARN_ON_ONCE(flags & ${flags & VM_NO_GUARD ? 'VM_NO_GUARD' : 'VM_FLUSH_RESET_PERMS'})`]);
      return 0;
    }
    if (pfns.length === 0 || pfns.length > this.d.totalramPages) return 0;
    for (const p of pfns) {
      if (!Number.isInteger(p) || p < 0 || p >= this.d.mm.nrPages) {
        this.d.printk.bug('vmap', [`kernel BUG at mm/vmalloc.c: vmap: invalid page (pfn ${p})`]);
        return 0;
      }
    }
    const area = this.getVmAreaNode(pfns.length * PAGE_SIZE, 1, flags, this.start, this.end, GFP.KERNEL, caller);
    if (!area) return 0;
    if (this.mapPagesScoped(area.addr, pfns, GFP.KERNEL) < 0) {
      this.vunmap(area.addr);
      return 0;
    }
    area.pfns = [...pfns];
    this.stats.allocs++;
    return area.addr;
  }

  /** vunmap(): unmap and release the area; the pages stay the caller's. */
  vunmap(addr: number): void {
    const s = this.d.sched;
    if (s.inInterrupt()) {
      this.d.printk.bug('vunmap', ['kernel BUG at mm/vmalloc.c: vunmap: BUG_ON(in_interrupt())']);
      return;
    }
    this.runDeferred();
    if (addr === 0) return;
    const vm = this.removeVmArea(addr);
    if (!vm) {
      this.d.printk.bug('vunmap', [`Trying to vunmap() nonexistent vm area (${this.d.formatAddr(addr)})`, `WARNING: CPU: ${s.current.cpu} PID: ${s.current.pid} at mm/vmalloc.c:vunmap`]);
      return;
    }
    this.d.slab.kfree(vm.obj);
    this.stats.frees++;
  }

  /** vmalloc_to_pfn(): the page mapped at `addr`, or NO_PAGE (not a vmalloc address, or not mapped). */
  vmallocToPfn(addr: number): number {
    if (!this.isVmallocAddr(addr)) return NO_PAGE;
    return this.d.pgtable.lookup(addr);
  }

  /** Busy areas in address order (for /proc/vmallocinfo and the invariants). */
  areas(): VmapArea[] {
    return [...this.busy.values()].sort((a, b) => a.start - b.start);
  }

  /** Pages mapped by busy areas with a vm_struct (vmalloc and vmap areas). */
  vmMappedPages(): number {
    let n = 0;
    for (const va of this.busy.values()) if (va.vm) n += va.vm.pfns.length;
    return n;
  }

  // --- virtual compound pages (seeds 001 and 002) -------------------------------------------------------

  /**
   * The core of vcompound_alloc(): vmap() 2^order order-0 pages the caller allocated, keep the pages array
   * (kmalloc'd, as the patch does), and format the mapping as a compound page whose pages all carry
   * PG_VCOMPOUND; page i of the compound remembers i in its `index` word, which page_to_addr() reads.
   * `gfp` is what the metadata and the page tables are allocated with (the caller passes GFP_KERNEL in
   * process context, its own atomic gfp in interrupt context). Returns the address, or 0 with the pages
   * untouched and nothing else left behind.
   */
  vmapCompound(pfns: readonly number[], order: number, gfp: number, caller: string): number {
    if (pfns.length !== 1 << order) throw new Error(`vmapCompound: ${pfns.length} pages for order ${order}`);
    const metaGfp = gfp & GFP_RECLAIM_MASK;
    const atomic = this.atomicVcompound;
    this.atomicVcompound = !(gfp & GFP.DIRECT_RECLAIM);
    try {
      return this.vmapCompoundLocked(pfns, order, gfp, metaGfp, caller);
    } finally {
      this.atomicVcompound = atomic;
    }
  }

  private vmapCompoundLocked(pfns: readonly number[], order: number, gfp: number, metaGfp: number, caller: string): number {
    const mm = this.d.mm;
    const nr = 1 << order;
    const pagesAddr = this.d.slab.kmalloc(nr * this.ptrSize, metaGfp, caller);
    if (pagesAddr === 0) return 0;
    const area = this.getVmAreaNode(nr * PAGE_SIZE, 1, VM_MAP, this.start, this.end, metaGfp, caller);
    if (!area) {
      this.d.slab.kfree(pagesAddr);
      return 0;
    }
    const mapped = gfp & GFP.DIRECT_RECLAIM ? this.mapPagesScoped(area.addr, pfns, gfp) : this.d.pgtable.mapPages(area.addr, pfns, metaGfp | GFP.ZERO);
    if (mapped < 0) {
      this.vunmap(area.addr);
      this.d.slab.kfree(pagesAddr);
      return 0;
    }
    area.pfns = [...pfns];
    area.pagesAddr = pagesAddr;
    for (let i = 0; i < nr; i++) {
      this.writePtr(pagesAddr + i * this.ptrSize, this.d.pagePtr(pfns[i]));
      mm.flags[pfns[i]] |= PG_VCOMPOUND;
      if (i > 0) mm.index[pfns[i]] = i;
    }
    this.vcompounds.set(pfns[0], area.addr);
    prepCompoundPage(mm, pfns[0], order);
    this.stats.allocs++;
    return area.addr;
  }

  /**
   * Undo vmapCompound: destroy the compound (tails first), unmap, free the pages array. The pages come back
   * to the caller as plain order-0 pages with one reference each, in the order they were mapped.
   */
  vunmapCompound(head: number): number[] | undefined {
    const mm = this.d.mm;
    const addr = this.vcompounds.get(head);
    const vm = addr === undefined ? undefined : this.busy.get(addr)?.vm;
    if (addr === undefined || !vm) return undefined;
    if (!destroyCompoundPage(mm, head, compoundOrder(mm, head))) return undefined;
    for (const pfn of vm.pfns) {
      mm.flags[pfn] &= ~PG_VCOMPOUND;
      mm.index[pfn] = 0;
      mm.refcount[pfn] = 1;
    }
    this.vcompounds.delete(head);
    const pagesAddr = vm.pagesAddr;
    vm.pagesAddr = 0;
    this.vunmap(addr);
    this.d.slab.kfree(pagesAddr);
    return vm.pfns;
  }

  /** vcompound_free(): unmap a virtual compound and free its pages one by one. */
  vcompoundFree(head: number): boolean {
    const pfns = this.vunmapCompound(head);
    if (!pfns) return false;
    for (const pfn of pfns) this.d.pa.freePages(pfn, 0);
    return true;
  }

  /** Stage 2: a virtual compound freed in interrupt context is unmapped and freed from process context. */
  deferVcompoundFree(head: number): void {
    this.deferredVcompounds.push(head);
    this.stats.deferredFrees++;
  }

  /** vmalloc_address(): where a page of a virtual compound is mapped, or 0 if it is not one. */
  vcompoundAddress(pfn: number): number {
    const mm = this.d.mm;
    const head = mm.head(pfn);
    const addr = this.vcompounds.get(head);
    if (addr === undefined) return 0;
    return addr + (pfn === head ? 0 : mm.index[pfn]) * PAGE_SIZE;
  }

  /** The head of the virtual compound whose area starts at `addr`, or NO_PAGE. */
  vcompoundAt(addr: number): number {
    const vm = this.busy.get(addr)?.vm;
    if (!vm || vm.pfns.length === 0) return NO_PAGE;
    return this.vcompounds.get(vm.pfns[0]) === addr ? vm.pfns[0] : NO_PAGE;
  }

  /** vmalloc_nth_page(): vmalloc_to_page(vmalloc_address(head) + n * PAGE_SIZE). */
  private vcompoundNthPage(head: number, n: number): number {
    const addr = this.vcompounds.get(head);
    return addr === undefined ? NO_PAGE : this.d.pgtable.lookup(addr + n * PAGE_SIZE);
  }

  /** Virtual compound pages alive. */
  get nrVcompounds(): number {
    return this.vcompounds.size;
  }

  /**
   * alloc_vcompound() (V3-V5, seed 002: Kleen's "wrapper, not a GFP flag"): a compound page from the page
   * allocator if it has one (quietly and without retrying: the fallback follows), else 2^order order-0
   * pages with the caller's gfp, vmap()ed and formatted as a virtual compound. The page allocator is not
   * involved beyond ordinary calls. Returns the address, or 0.
   * Model reading: the physical attempt adds __GFP_NORETRY for order > 0, as kvmalloc does for the same reason.
   */
  allocVcompound(gfp: number, order: number): number {
    const pa = this.d.pa;
    gfp &= ~GFP.VFALLBACK;
    const first = order > 0 ? gfp | GFP.NOWARN | GFP.NORETRY : gfp;
    const pfn = pa.allocPages(first | GFP.COMP, order);
    if (pfn !== NO_PAGE) {
      this.vcompoundStats.physical++;
      return pa.pageToAddr(pfn);
    }
    if (order === 0 || this.d.sched.inInterrupt()) {
      this.vcompoundStats.failed++;
      return 0;
    }
    const pfns: number[] = [];
    for (let i = 0; i < 1 << order; i++) {
      const p = pa.allocPages(gfp & ~GFP.COMP, 0);
      if (p === NO_PAGE) break;
      pfns.push(p);
    }
    const addr = pfns.length === 1 << order ? this.vmapCompound(pfns, order, gfp, 'alloc_vcompound') : 0;
    if (addr === 0) {
      for (const p of pfns) pa.freePages(p, 0);
      this.vcompoundStats.failed++;
      return 0;
    }
    this.vcompoundStats.virtual++;
    return addr;
  }

  /** free_vcompound(): a virtual compound is unmapped and its pages freed, a physical one goes back whole. */
  freeVcompound(addr: number): void {
    if (addr === 0) return;
    const s = this.d.sched;
    if (this.isVmallocAddr(addr)) {
      const head = this.vcompoundAt(addr);
      if (head === NO_PAGE) {
        this.d.printk.bug('free_vcompound', [`Trying to free_vcompound() nonexistent virtual compound (${this.d.formatAddr(addr)})`, `WARNING: CPU: ${s.current.cpu} PID: ${s.current.pid} at mm/vmalloc.c:free_vcompound`]);
        return;
      }
      if (s.inInterrupt()) {
        this.d.printk.bug('vunmap', ['kernel BUG at mm/vmalloc.c: vunmap: BUG_ON(in_interrupt())']);
        return;
      }
      this.vcompoundFree(head);
    } else {
      const pfn = this.d.pa.addrToPfn(addr, 'free_vcompound');
      if (pfn === NO_PAGE) return;
      this.d.pa.freePages(pfn, compoundOrder(this.d.mm, pfn));
    }
    this.vcompoundStats.frees++;
  }

  /** might_sleep() in alloc_vmap_area() and vmap(). */
  private mightSleep(where: string): void {
    if (this.atomicVcompound) return;
    const s = this.d.sched;
    if (s.inAtomic() || s.irqsDisabled) reportMightSleep(s, this.d.printk, `mm/vmalloc.c:${where}`);
  }

  /** Check the vmalloc space: free tree, busy and lazy areas disjoint and covering it, pages mapped once. */
  checkInvariants(errs: string[], mappedByBlocks: number): void {
    for (const e of this.tree.check()) errs.push(`vmalloc free tree: ${e}`);
    const ranges: Array<[number, number, string]> = this.tree.blocks().map(([s, e]) => [s, e, 'free']);
    for (const va of this.busy.values()) ranges.push([va.start, va.end, 'busy']);
    for (const va of this.lazy) ranges.push([va.start, va.end, 'lazy']);
    ranges.sort((a, b) => a[0] - b[0]);
    let at = this.start;
    for (const [s, e, what] of ranges) {
      if (s !== at) errs.push(`vmalloc: ${what} range ${s.toString(16)}-${e.toString(16)} does not follow ${at.toString(16)}`);
      at = e;
    }
    if (at !== this.end) errs.push(`vmalloc: ranges end at ${at.toString(16)}, not ${this.end.toString(16)}`);
    let lazyNr = 0;
    for (const va of this.lazy) lazyNr += (va.end - va.start) / PAGE_SIZE;
    if (lazyNr !== this.lazyNr) errs.push(`vmalloc: vmap_lazy_nr ${this.lazyNr}, purge list holds ${lazyNr}`);
    let vmallocPages = 0;
    for (const va of this.busy.values()) {
      const vm = va.vm;
      if (!vm) continue;
      if (vm.flags & VM_ALLOC) vmallocPages += vm.pfns.length;
      vm.pfns.forEach((pfn, i) => {
        const got = this.d.pgtable.lookup(vm.addr + i * PAGE_SIZE);
        if (got !== pfn) errs.push(`vmalloc: ${this.d.formatAddr(vm.addr + i * PAGE_SIZE)} maps pfn ${got}, expected ${pfn}`);
        // A virtual compound's tails hold no reference of their own: the head's counts for them.
        if (this.d.mm.refcount[this.d.mm.head(pfn)] < 1) errs.push(`vmalloc: pfn ${pfn} of the area at ${this.d.formatAddr(vm.addr)} is not allocated`);
      });
      if (!(vm.flags & VM_NO_GUARD) && this.d.pgtable.lookup(vm.addr + vm.size - PAGE_SIZE) !== NO_PAGE) errs.push(`vmalloc: guard page of ${this.d.formatAddr(vm.addr)} is mapped`);
    }
    const mm = this.d.mm;
    for (const [head, addr] of this.vcompounds) {
      const vm = this.busy.get(addr)?.vm;
      const order = compoundOrder(mm, head);
      if (!vm || vm.pfns[0] !== head || vm.pfns.length !== 1 << order) {
        errs.push(`vcompound: head pfn ${head} at ${this.d.formatAddr(addr)} has no matching vmap area of order ${order}`);
        continue;
      }
      vm.pfns.forEach((pfn, i) => {
        if (!(mm.flags[pfn] & PG_VCOMPOUND)) errs.push(`vcompound: page ${i} (pfn ${pfn}) of ${head} lacks PG_VCOMPOUND`);
        if (i > 0 && (mm.head(pfn) !== head || mm.index[pfn] !== i)) errs.push(`vcompound: page ${i} (pfn ${pfn}) of ${head} does not point back at its head and place`);
      });
    }
    if (vmallocPages !== this.nrVmallocPages) errs.push(`vmalloc: nr_vmalloc_pages ${this.nrVmallocPages}, areas hold ${vmallocPages}`);
    const mapped = this.d.pgtable.countMapped();
    const expected = this.vmMappedPages() + mappedByBlocks;
    if (mapped !== expected) errs.push(`vmalloc: page tables map ${mapped} pages, areas account for ${expected}`);
  }
}

/** PAGE_ALIGN(). */
export function pageAlign(size: number): number {
  return Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
}
