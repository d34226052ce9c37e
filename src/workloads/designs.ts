/**
 * The designs the `fallback` experiment compares (seeds 000-002 and what mainline did), each as a way to get a
 * block of memory of a given size and order and to give it back:
 * - `pages`: alloc_pages(__GFP_COMP) as mainline has it, optionally with __GFP_VFALLBACK (V1, seed 001) when
 *   the machine's policy has the fallback on (`fallback=vcompound` or `always`);
 * - `v5`: alloc_vcompound()/free_vcompound(), the wrapper in the vmalloc layer (V5, seed 002);
 * - `kvmalloc`: mainline's kvmalloc()/kvfree() (and, for kernel stacks, CONFIG_VMAP_STACK's vmalloc);
 * - `exact`: Kleen's alloc_pages_exact()/free_pages_exact(): physical, but the tail past the size given back.
 * Each design runs with compaction off (CONFIG_COMPACTION=n) or on, so that "the existing defragmentation
 * methods" (seed 000) can be weighed alone and under each fallback.
 */
import type { Policy } from '../config.js';
import { GFP } from '../gfp.js';
import type { Machine } from '../machine.js';
import { NO_PAGE, PAGE_SIZE } from '../mm/page.js';
import { getOrder } from '../mm/page_alloc.js';

export type Serve = 'pages' | 'v5' | 'kvmalloc' | 'exact';

export interface Design {
  name: string;
  /** One line for the table. */
  what: string;
  policy: Partial<Policy>;
  serve: Serve;
  /** alloc_pages callers add __GFP_VFALLBACK. */
  vfallback: boolean;
}

const design = (name: string, what: string, serve: Serve, compaction: boolean, fallback: Policy['fallback'] = 'none'): Design => ({
  name, what, serve, vfallback: fallback !== 'none', policy: { fallback, compaction },
});

export const DESIGNS: readonly Design[] = [
  design('none', 'alloc_pages, no fallback, no compaction', 'pages', false),
  design('v1', 'V1 __GFP_VFALLBACK in the page allocator', 'pages', false, 'vcompound'),
  design('always', 'V1 with CONFIG_VIRTUALIZE_ALWAYS', 'pages', false, 'always'),
  design('v5', 'V5 alloc_vcompound() wrapper', 'v5', false),
  design('kvmalloc', 'mainline kvmalloc (and vmapped stacks)', 'kvmalloc', false),
  design('exact', 'alloc_pages_exact (Kleen)', 'exact', false),
  design('compaction', 'compaction alone', 'pages', true),
  design('compaction+v1', 'compaction, then V1', 'pages', true, 'vcompound'),
  design('compaction+v5', 'compaction, then V5', 'v5', true),
  design('compaction+kvmalloc', 'compaction, then kvmalloc', 'kvmalloc', true),
];

export function findDesign(name: string): Design | undefined {
  return DESIGNS.find((d) => d.name === name);
}

/** A block a design handed out. */
export interface Block {
  /** Kernel virtual address (direct map or vmalloc). */
  addr: number;
  /** Head pfn for `pages`, else NO_PAGE. */
  pfn: number;
  order: number;
  size: number;
  virtual: boolean;
  /** Pages of memory it holds (rounding included). */
  pages: number;
}


/**
 * Allocate `size` bytes (order `getOrder(size)`) the design's way; undefined on failure. `stack` selects the
 * kernel-stack variant: kvmalloc's design is then CONFIG_VMAP_STACK (always vmalloc, THREAD_ALIGN).
 */
export function allocBlock(m: Machine, d: Design, size: number, gfp: number, stack = false): Block | undefined {
  const order = getOrder(size);
  switch (d.serve) {
    case 'pages': {
      const pfn = m.allocPages(gfp | GFP.COMP | GFP.NOWARN | (d.vfallback ? GFP.VFALLBACK : 0), order);
      if (pfn === NO_PAGE) return undefined;
      const virtual = m.pageVcompound(pfn);
      return { addr: m.pageToAddr(pfn), pfn, order, size, virtual, pages: 1 << order };
    }
    case 'v5': {
      const addr = m.allocVcompound(gfp | GFP.NOWARN, order);
      if (addr === 0) return undefined;
      return { addr, pfn: NO_PAGE, order, size, virtual: m.isVmallocAddr(addr), pages: 1 << order };
    }
    case 'kvmalloc': {
      if (stack) {
        // alloc_thread_stack_node() with CONFIG_VMAP_STACK: __vmalloc_node_range(THREAD_SIZE, THREAD_ALIGN, ...).
        const addr = m.vmallocNodeRange(PAGE_SIZE << order, { gfp: gfp | GFP.NOWARN, align: PAGE_SIZE << order, caller: 'alloc_thread_stack_node' });
        if (addr === 0) return undefined;
        return { addr, pfn: NO_PAGE, order, size, virtual: true, pages: 1 << order };
      }
      const addr = m.kvmalloc(size, gfp | GFP.NOWARN, 'fallback_user');
      if (addr === 0) return undefined;
      const virtual = m.isVmallocAddr(addr);
      // kmalloc rounds to its size class (above 8 KiB: to the page order); vmalloc to whole pages.
      const pages = virtual ? Math.ceil(size / PAGE_SIZE) : Math.max(1, Math.ceil(m.ksize(addr) / PAGE_SIZE));
      return { addr, pfn: NO_PAGE, order, size, virtual, pages };
    }
    case 'exact': {
      const addr = m.allocPagesExact(size, gfp | GFP.NOWARN);
      if (addr === 0) return undefined;
      return { addr, pfn: NO_PAGE, order, size, virtual: false, pages: Math.ceil(size / PAGE_SIZE) };
    }
  }
}

export function freeBlock(m: Machine, d: Design, b: Block, stack = false): void {
  switch (d.serve) {
    case 'pages':
      return m.freePages(b.pfn, b.order);
    case 'v5':
      return m.freeVcompound(b.addr);
    case 'kvmalloc':
      return stack ? m.vfree(b.addr) : m.kvfree(b.addr);
    case 'exact':
      return m.freePagesExact(b.addr, b.size);
  }
}
