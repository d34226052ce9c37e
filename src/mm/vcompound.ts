/**
 * Virtualizable compound pages, V1 (Lameter, September 2007; seed 001, never merged): __GFP_VFALLBACK lets
 * the page allocator stand in a virtually contiguous compound page for a physically contiguous one.
 *
 * What the patch does, and this module with it:
 * - vcompound_alloc(): 2^order order-0 pages straight from the freelists (get_page_from_freelist with the
 *   slow path's alloc_flags, no reclaim of its own), vmap()ed, pages[0] formatted as the head of a
 *   compound page whose pages are all PageVcompound. The page allocator's slow path calls it at two points
 *   (page_alloc.ts): after the last high-watermark attempt, and as the last chance before failing, which
 *   atomic requests reach at once. CONFIG_VIRTUALIZE_ALWAYS (policy fallback=always) sends every
 *   __GFP_VFALLBACK request of order > 0 there first.
 * - Freeing: __free_pages() of a PageVcompound head and free_pages() of a vmalloc address unmap the area,
 *   then free every page (vcompound_free()).
 * - addr_to_page(), page_to_addr(), virt_to_head_page(), compound_nth_page() and compound_order() work for
 *   both kinds (compound.ts, PageAlloc.pageToAddr, and the entry points below).
 * - Stage 1 of the series forbids the fallback in interrupt context (and a free there is a bug: vunmap()
 *   cannot run there); stage 2 allows both, the free being deferred to process context, as vfree_atomic()
 *   later did in mainline (policy vfallbackInterrupt).
 *
 * Model readings: stage 1 refuses atomic context generally (preemption or interrupts disabled), not only
 * interrupts, since vmap() may sleep; in stage 2 the metadata and page tables of an atomic request use its
 * own non-blocking gfp. vmalloc_address() is a map lookup where the 2007 kernel searched the vmlist.
 * The V5 wrapper (alloc_vcompound/free_vcompound, seed 002) lives in the vmalloc layer (vmalloc.ts).
 */
import { GFP } from '../gfp.js';
import type { Policy } from '../config.js';
import { compoundOrder } from './compound.js';
import type { DirectMap } from './memory.js';
import { MAX_PAGE_ORDER, NO_PAGE, PAGE_SIZE, type MemMap } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import type { Vmalloc } from './vmalloc.js';

export class VcompoundStats {
  /** Virtual compounds made, and by order. */
  allocs = 0;
  readonly allocsByOrder = new Array<number>(MAX_PAGE_ORDER + 1).fill(0);
  /** Attempts that ran out of order-0 pages or vmalloc space (everything undone). */
  failures = 0;
  /** Attempts refused in interrupt context, and in other atomic context (stage 1). */
  refusedInterrupt = 0;
  refusedAtomic = 0;
  frees = 0;
  /** Frees in interrupt context: deferred (stage 2) or reported (stage 1). */
  deferredFrees = 0;
  interruptFreeBugs = 0;
}

export interface VcompoundDeps {
  mm: MemMap;
  pa: PageAlloc;
  vmalloc: Vmalloc;
  directMap: DirectMap;
  sched: Sched;
  printk: Printk;
  policy: Policy;
}

export class Vcompound {
  readonly stats = new VcompoundStats();
  private readonly d: VcompoundDeps;

  constructor(d: VcompoundDeps) {
    this.d = d;
    const hooks = d.pa.hooks;
    // page_to_addr() and the free paths know virtual compounds whatever the policy (the V5 wrapper makes them
    // too); only the fallback itself is the policy's.
    hooks.vcompoundAddress = (pfn) => d.vmalloc.vcompoundAddress(pfn);
    hooks.vcompoundFree = (head) => this.vcompoundFree(head);
    hooks.freeVirtualAddr = (addr, order) => this.freeVirtualAddr(addr, order);
    if (d.policy.fallback !== 'none') {
      hooks.vcompoundAlloc = (gfp, order, allocFlags, highest, mt) => this.vcompoundAlloc(gfp, order, allocFlags, highest, mt);
    }
  }

  /** vcompound_alloc(): a virtual compound page of 2^order pages, or NO_PAGE with nothing changed. */
  vcompoundAlloc(gfp: number, order: number, allocFlags: number, highest: number, mt: number): number {
    const { pa, sched } = this.d;
    const interrupt = sched.inInterrupt();
    const atomic = interrupt || sched.inAtomic() || sched.irqsDisabled;
    if (atomic && this.d.policy.vfallbackInterrupt === 'stage1') {
      if (interrupt) this.stats.refusedInterrupt++;
      else this.stats.refusedAtomic++;
      return NO_PAGE;
    }
    const pfns: number[] = [];
    const pageGfp = gfp & ~(GFP.VFALLBACK | GFP.COMP);
    for (let i = 0; i < 1 << order; i++) {
      const p = pa.getPageFromFreelist(pageGfp, 0, allocFlags, highest, mt);
      if (p === NO_PAGE) break;
      pfns.push(p);
    }
    // vmap() with GFP_KERNEL in process context; stage 2 in atomic context uses the caller's gfp.
    const mapGfp = atomic ? gfp & ~GFP.RECLAIM : GFP.KERNEL;
    const head = pfns.length === 1 << order && this.d.vmalloc.vmapCompound(pfns, order, mapGfp, 'vcompound_alloc') !== 0 ? pfns[0] : NO_PAGE;
    if (head === NO_PAGE) {
      for (const p of pfns) pa.freePages(p, 0);
      this.stats.failures++;
      return NO_PAGE;
    }
    this.stats.allocs++;
    this.stats.allocsByOrder[order]++;
    return head;
  }

  /** vcompound_free(), entered when the head's last reference went (its refcount is 0). */
  private vcompoundFree(head: number): void {
    const { mm, vmalloc, sched, printk } = this.d;
    if (this.d.policy.fallback === 'none') {
      // Without V1 the page allocator knows nothing of virtual compounds: __free_pages() would hand the
      // vmalloc'd pages back as one physically contiguous block. The V5 wrapper has its own free.
      mm.refcount[head] = 1;
      printk.bug('Bad page state', [
        `BUG: Bad page state in process ${sched.current.comm}  pfn:${head.toString(16).padStart(5, '0')}`,
        'mmlab: a virtual compound page (alloc_vcompound) freed with __free_pages(); free it with free_vcompound()',
      ]);
      return;
    }
    if (sched.inInterrupt()) {
      mm.refcount[head] = 1; // the free does not happen (stage 1) or happens later (stage 2)
      if (this.d.policy.vfallbackInterrupt === 'stage2') {
        this.stats.deferredFrees++;
        vmalloc.deferVcompoundFree(head);
      } else {
        this.stats.interruptFreeBugs++;
        printk.bug('vcompound_free', [
          'kernel BUG at mm/vmalloc.c: vunmap: BUG_ON(in_interrupt())',
          `mmlab: virtual compound page pfn:0x${head.toString(16)} freed in interrupt context (stage 1 allows neither allocation nor free there)`,
        ]);
      }
      return;
    }
    if (vmalloc.vcompoundFree(head)) this.stats.frees++;
  }

  /** free_pages() of a vmalloc address: V1 hands it to vcompound_free() if a virtual compound starts there. */
  private freeVirtualAddr(addr: number, order: number): boolean {
    const { mm, pa, vmalloc } = this.d;
    if (this.d.policy.fallback === 'none') return false; // mainline: not a direct-map address, a bug
    const head = vmalloc.vcompoundAt(addr);
    if (head === NO_PAGE) return false;
    if (compoundOrder(mm, head) !== order) {
      pa.vmBugOnPage(head, 'compound && compound_order(page) != order');
      return true;
    }
    // As the patch: the address alone decides, whatever references remain.
    mm.refcount[head] = 0;
    this.vcompoundFree(head);
    return true;
  }

  // --- include/linux/mm.h as the patch extended it ----------------------------------------------------------

  /** addr_to_page(): vmalloc_to_page() for a vmalloc address, virt_to_page() otherwise; NO_PAGE if neither. */
  addrToPage(addr: number): number {
    const { vmalloc, directMap } = this.d;
    if (vmalloc.isVmallocAddr(addr)) return vmalloc.vmallocToPfn(addr - (addr % PAGE_SIZE));
    return directMap.contains(addr) ? directMap.virtToPfn(addr) : NO_PAGE;
  }

  /** virt_to_head_page(): compound_head(addr_to_page(addr)). */
  virtToHeadPage(addr: number): number {
    const p = this.addrToPage(addr);
    return p === NO_PAGE ? NO_PAGE : this.d.mm.head(p);
  }
}
