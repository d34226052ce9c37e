/**
 * Anonymous memory of a task (mm/memory.c do_anonymous_page, do_swap_page, exit_mmap; mm/rmap.c
 * folio_add_new_anon_rmap; mm/swap_state.c add_to_swap, __delete_from_swap_cache; mm/vmscan.c pageout of
 * swap-backed pages).
 *
 * A task's anonymous memory is one region of `size` pages, faulted in on first touch as zeroed movable LRU
 * pages (GFP_HIGHUSER_MOVABLE). Reclaim gives a page a swap slot (it is then in the swap cache), writes it
 * out, and once the write is done and the page still clean, replaces the task's reference with the swap
 * entry and frees the page; the next touch reads it back. A write to a page in the swap cache makes the swap
 * copy stale, so the slot is given back (or, while the write is in flight, the page is simply dirty again).
 * rss and swap entries are counted per task for the OOM killer, as mm_struct's rss_stat.
 * Each 512-page stretch of the region gets its PTE page when first touched (pte_alloc: GFP_PGTABLE_USER,
 * unmovable), freed at exit: the unmovable pages that user memory scatters through RAM.
 * Departures: no fork or sharing (one mapping per page); the owner's slots stand for the PTEs, the PTE pages
 * hold no bytes; upper levels are not modelled; the PTE young bit is PG_referenced.
 */
import { GFP } from '../gfp.js';
import type { Clock } from './clock.js';
import type { PhysMem } from './memory.js';
import {
  ALLOC_ORDER_MASK, MemMap, NO_PAGE, PAGE_SIZE, PG_DIRTY, PG_LRU, PG_SWAPBACKED, PG_UPTODATE, PG_WRITEBACK, ZONE_MASK,
} from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Writeback } from './page_writeback.js';
import { SLOT_NONE, slotToSwapEntry, swapEntryToSlot, type Rmap, type RmapOwner } from './rmap.js';
import type { Task } from './sched.js';
import type { SwapInfo } from './swapfile.js';
import type { Lruvec } from './swap.js';
import type { NodeStats, VmEvents } from './vmstat.js';

/** PTRS_PER_PTE (x86_64): one PTE page maps 512 pages. */
export const PTRS_PER_PTE = 512;
/** GFP_PGTABLE_USER: GFP_PGTABLE_KERNEL | __GFP_ACCOUNT. */
const GFP_PGTABLE_USER = GFP.KERNEL | GFP.ZERO | GFP.ACCOUNT;

export class AnonMm implements RmapOwner {
  readonly id: number;
  readonly anon = true;
  slots: Int32Array;
  dead = false;
  readonly task: Task;
  /** MM_ANONPAGES and MM_SWAPENTS. */
  rssAnon = 0;
  swapents = 0;
  /** The PTE page of each 512-page stretch, or NO_PAGE (pmd_none). */
  readonly ptePages: Int32Array;
  nrPtes = 0;

  constructor(id: number, task: Task, pages: number) {
    this.id = id;
    this.task = task;
    this.slots = new Int32Array(pages).fill(SLOT_NONE);
    this.ptePages = new Int32Array(Math.ceil(pages / PTRS_PER_PTE)).fill(NO_PAGE);
  }

  /** total_vm in pages. */
  get totalVm(): number {
    return this.slots.length;
  }
}

export interface AnonDeps {
  mm: MemMap;
  pa: PageAlloc;
  mem: PhysMem;
  lru: Lruvec;
  rmap: Rmap;
  wb: Writeback;
  node: NodeStats;
  events: VmEvents;
  clock: Clock;
  swap: () => SwapInfo | undefined;
  /** NR_PAGETABLE's user share (the kernel's vmalloc tables are counted by pgtable.ts). */
  pgtablePages: { user: number };
}

export class Anon {
  private readonly d: AnonDeps;
  /** Live anonymous mms, in creation order (the OOM killer's task list). */
  readonly mms: AnonMm[] = [];

  constructor(d: AnonDeps) {
    this.d = d;
  }

  /** mmap of `pages` pages of anonymous memory for `task` (nothing is allocated until touched). */
  createMm(task: Task, pages: number): AnonMm {
    if (!Number.isInteger(pages) || pages <= 0) throw new Error(`anon: size must be a whole number of pages > 0, got ${pages}`);
    const am = new AnonMm(this.d.rmap.allocId(), task, pages);
    this.d.rmap.register(am);
    this.mms.push(am);
    return am;
  }

  /**
   * handle_mm_fault() for one page: present pages are marked young, absent ones faulted in (zeroed, or read
   * back from swap). NO_PAGE when the allocation fails (VM_FAULT_OOM) or the task was killed meanwhile.
   */
  fault(am: AnonMm, index: number): number {
    this.checkIndex(am, index);
    const d = this.d;
    const v = am.slots[index];
    if (v >= 0) {
      d.lru.markAccessed(v);
      return v;
    }
    d.events.pgfault++;
    // __pte_alloc(): the stretch's PTE page first; a fault that cannot get one fails with VM_FAULT_OOM.
    const pmd = Math.floor(index / PTRS_PER_PTE);
    if (am.ptePages[pmd] === NO_PAGE) {
      const pte = d.pa.allocPages(GFP_PGTABLE_USER, 0);
      if (pte === NO_PAGE) return NO_PAGE;
      if (am.dead) {
        d.pa.freePages(pte, 0);
        return NO_PAGE;
      }
      am.ptePages[pmd] = pte;
      am.nrPtes++;
      d.pgtablePages.user++;
    }
    const pfn = d.pa.allocPages(GFP.HIGHUSER_MOVABLE, 0);
    if (pfn === NO_PAGE) return NO_PAGE;
    if (am.dead) {
      // The OOM killer chose this task while it waited for memory: the fault ends in its death.
      d.pa.freePages(pfn, 0);
      return NO_PAGE;
    }
    const now = am.slots[index];
    if (now <= -2) {
      // do_swap_page(): read the slot back and release it.
      const slot = slotToSwapEntry(now);
      const swap = d.swap()!;
      const bytes = swap.load(slot);
      if (bytes) d.mem.writeFrame(pfn, 0, bytes, 0, PAGE_SIZE);
      else d.mem.zero(pfn, 1);
      d.clock.ns += swap.dev.readNs;
      swap.swapFree(slot);
      am.swapents--;
      d.events.pswpin++;
      d.events.pgpgin += PAGE_SIZE / 1024;
      d.events.pgmajfault++;
    } else {
      d.mem.zero(pfn, 1); // __GFP_ZERO's clear_page
    }
    am.slots[index] = pfn;
    d.mm.mapping[pfn] = am.id;
    d.mm.index[pfn] = index;
    d.mm.flags[pfn] |= PG_SWAPBACKED | PG_UPTODATE | PG_DIRTY;
    am.rssAnon++;
    d.node.nrAnonPages++;
    d.lru.add(pfn);
    return pfn;
  }

  /** Read a page's bytes (faulting it in). False when the fault fails. */
  read(am: AnonMm, index: number, dst: Uint8Array, off = 0): boolean {
    const pfn = this.fault(am, index);
    if (pfn === NO_PAGE) return false;
    this.d.mem.readFrame(pfn, off, dst, 0, Math.min(dst.length, PAGE_SIZE - off));
    return true;
  }

  /** Write into a page (faulting it in); the swap copy, if any, is stale from now on. */
  write(am: AnonMm, index: number, src: Uint8Array, off = 0): boolean {
    const pfn = this.fault(am, index);
    if (pfn === NO_PAGE) return false;
    this.d.mem.writeFrame(pfn, off, src, 0, Math.min(src.length, PAGE_SIZE - off));
    this.d.mm.flags[pfn] |= PG_DIRTY;
    if (this.d.mm.private_[pfn] && !(this.d.mm.flags[pfn] & PG_WRITEBACK)) this.deleteFromSwapCache(pfn);
    return true;
  }

  /** add_to_swap(): a slot for the page; false when there is no swap or it is full. */
  addToSwap(pfn: number): boolean {
    const swap = this.d.swap();
    if (!swap) return false;
    const slot = swap.getSwapPage();
    if (slot < 0) return false;
    this.d.mm.private_[pfn] = slot + 1;
    // The swap cache is part of the page cache in the kernel's NR_FILE_PAGES.
    this.d.node.nrSwapcached++;
    this.d.node.nrFilePages++;
    return true;
  }

  /**
   * pageout() via swap_writepage(): the bytes go to the slot now, the write completes later. A SWP_FS_OPS
   * swap file (swap_writepage_fs) may refuse to start the write (no memory for it): false, and the page
   * stays dirty, as folio_redirty_for_writepage leaves it.
   */
  swapWritepage(pfn: number): boolean {
    const d = this.d;
    const swap = d.swap()!;
    const slot = d.mm.private_[pfn] - 1;
    if (swap.rw) {
      // Under writeback before the call goes out: its reply may come while the transport is still busy.
      d.wb.startPending(pfn);
      if (!swap.rw.write(pfn, slot, this.endSwapWrite)) {
        d.wb.cancelPending(pfn);
        return false;
      }
      swap.store(slot, d.mem.frame(pfn));
      d.wb.cancelDirty(pfn, false);
      swap.dev.written++;
    } else {
      swap.store(slot, d.mem.frame(pfn));
      d.wb.start(pfn, swap.dev, false);
    }
    d.events.pswpout++;
    d.events.pgpgout += PAGE_SIZE / 1024;
    return true;
  }

  private readonly endSwapWrite = (pfn: number): void => this.d.wb.endPending(pfn);

  /**
   * try_to_unmap() and __remove_mapping() of a clean swap-cache page: the task's reference becomes the swap
   * entry and the page leaves the swap cache; the caller frees it. The page must be off the LRU.
   */
  unmapToSwap(pfn: number): void {
    const d = this.d;
    const am = d.rmap.ownerOf(pfn) as AnonMm;
    am.slots[d.mm.index[pfn]] = swapEntryToSlot(d.mm.private_[pfn] - 1);
    am.rssAnon--;
    am.swapents++;
    d.node.nrAnonPages--;
    d.node.nrSwapcached--;
    d.node.nrFilePages--;
    this.clearPage(pfn);
  }

  /** __delete_from_swap_cache() and swap_free(): the page keeps its data, the slot goes. */
  private deleteFromSwapCache(pfn: number): void {
    this.d.swap()!.swapFree(this.d.mm.private_[pfn] - 1);
    this.d.mm.private_[pfn] = 0;
    this.d.node.nrSwapcached--;
    this.d.node.nrFilePages--;
  }

  private clearPage(pfn: number): void {
    const mm = this.d.mm;
    mm.mapping[pfn] = 0;
    mm.index[pfn] = 0;
    mm.private_[pfn] = 0;
    mm.flags[pfn] &= ZONE_MASK | ALLOC_ORDER_MASK;
  }

  /** exit_mmap(): every page and swap slot of the mm is released (writes in flight are waited for). */
  exitMmap(am: AnonMm): void {
    if (am.dead) return;
    const d = this.d;
    const swap = d.swap();
    am.dead = true;
    for (let i = 0; i < am.slots.length; i++) {
      const v = am.slots[i];
      if (v >= 0) {
        if (d.mm.flags[v] & PG_WRITEBACK) d.wb.waitOn(v);
        if (d.mm.private_[v]) this.deleteFromSwapCache(v);
        if (d.mm.flags[v] & PG_LRU) d.lru.del(v);
        this.clearPage(v);
        d.node.nrAnonPages--;
        d.pa.freePages(v, 0);
      } else if (v <= -2) {
        swap!.swapFree(slotToSwapEntry(v));
      }
      am.slots[i] = SLOT_NONE;
    }
    am.rssAnon = 0;
    am.swapents = 0;
    // free_pgtables().
    for (let i = 0; i < am.ptePages.length; i++) {
      if (am.ptePages[i] === NO_PAGE) continue;
      d.pa.freePages(am.ptePages[i], 0);
      am.ptePages[i] = NO_PAGE;
      d.pgtablePages.user--;
    }
    am.nrPtes = 0;
    d.rmap.unregister(am);
    this.mms.splice(this.mms.indexOf(am), 1);
  }

  private checkIndex(am: AnonMm, index: number): void {
    if (am.dead) throw new Error(`anon: mm of pid ${am.task.pid} is gone (use after exit)`);
    if (!Number.isInteger(index) || index < 0 || index >= am.slots.length) {
      throw new Error(`anon: page index ${index} outside the mapping of ${am.slots.length} pages (SIGSEGV)`);
    }
  }
}
