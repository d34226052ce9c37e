/**
 * Kernel page tables for the vmalloc range (mm/vmalloc.c vmap_pages_range, vmap_small_pages_range_noflush,
 * vunmap_range_noflush, vmalloc_to_page; include/linux/pgalloc.h pte_alloc_kernel and friends).
 *
 * The tables are real: each is an order-0 page from the page allocator whose bytes, in PhysMem, hold the
 * entries, 8-byte entries in 4 levels of 512 on x86_64 (PGD, PUD, PMD, PTE; P4D folded) and 4-byte entries
 * in 2 levels of 1024 on i386 without PAE (PGD, PTE). An entry is the pfn of the next table or of the page
 * shifted by PAGE_SHIFT, ORed with its flag bits. Table pages are counted (meminfo PageTables, vmstat
 * nr_page_table_pages) and allocated with the gfp the caller gives (the vmalloc layer passes
 * GFP_PGTABLE_KERNEL; the page allocator applies the task's nofs/noio scope, which is the whole point of
 * Chinner's complaint in seeds/003).
 *
 * Simplifications: the PGD is the kernel image's (swapper_pg_dir / init_top_pgt, a reserved page); the
 * vmalloc PUD pages that x86_64 preallocates at boot (preallocate_vmalloc_pages) are allocated on first use
 * instead; PTEs carry PAGE_KERNEL without the NX bit (bit 63 does not fit a number beside the pfn); no huge
 * vmap mappings. Mainline never frees kernel page tables on vunmap; `freeEmptyTables` does so when the
 * `vmallocPgtableFree: 'purge'` policy asks for it.
 */
import { GFP } from '../gfp.js';
import type { PhysMem } from './memory.js';
import { NO_PAGE, PAGE_SIZE, PGTY_MASK, PGTY_TABLE, type MemMap } from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { Printk } from './printk.js';

/** _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY: an entry pointing at a lower table. */
const KERNPG_TABLE = 0x63;
/** PAGE_KERNEL: present, writable, accessed, dirty, global (NX left out, see the header). */
const PAGE_KERNEL = 0x163;
const PRESENT = 0x1;
/** GFP_PGTABLE_KERNEL. */
export const GFP_PGTABLE_KERNEL = GFP.KERNEL | GFP.ZERO;
export const ENOMEM = 12;
export const EBUSY = 16;

export interface PgtableDeps {
  mm: MemMap;
  mem: PhysMem;
  pa: PageAlloc;
  printk: Printk;
  bitsPerLong: 32 | 64;
  /** The kernel image's top-level table. */
  pgdPfn: number;
}

export class KernelPgtable {
  /** 4 on x86_64, 2 on i386. */
  readonly levels: number;
  /** Table pages allocated now (the PGD not included). */
  nrTables = 0;
  /** Table pages allocated and freed since boot, and table allocations that failed. */
  allocated = 0;
  freed = 0;
  failed = 0;
  /** Table levels the last lookup() read. */
  lastLevels = 0;
  readonly pgdPfn: number;
  private readonly shifts: number[];
  private readonly span: number[];
  private readonly entries: number;
  private readonly entryBytes: number;
  private readonly wide: boolean;
  private readonly tables = new Set<number>();
  private readonly d: PgtableDeps;

  constructor(d: PgtableDeps) {
    this.d = d;
    this.pgdPfn = d.pgdPfn;
    this.wide = d.bitsPerLong === 64;
    this.shifts = this.wide ? [39, 30, 21, 12] : [22, 12];
    this.span = this.shifts.map((s) => 2 ** s);
    this.levels = this.shifts.length;
    this.entries = this.wide ? 512 : 1024;
    this.entryBytes = this.wide ? 8 : 4;
  }

  /** Table pages in use, for checkInvariants. */
  tablePfns(): IterableIterator<number> {
    return this.tables.values();
  }

  /**
   * vmap_pages_range(): map `pfns` at consecutive 4 KiB pages from `addr`, allocating missing tables with
   * `gfp`. Returns 0, -ENOMEM when a table could not be allocated, or -EBUSY when a PTE was already set
   * (WARN, as vmap_pages_pte_range). The PTEs set before a failure stay; the caller unmaps the range.
   */
  mapPages(addr: number, pfns: ArrayLike<number>, gfp: number): number {
    let pte = -1;
    let idx = 0;
    for (let i = 0; i < pfns.length; i++) {
      const va = addr + i * PAGE_SIZE;
      if (pte < 0 || idx === this.entries) {
        pte = this.walkAlloc(va, gfp);
        if (pte < 0) return -ENOMEM;
        idx = this.index(va, this.levels - 1);
      }
      const at = pte * PAGE_SIZE + idx * this.entryBytes;
      if (this.d.mem.readLong(at, this.wide) !== 0) {
        this.d.printk.warn('WARNING', [`WARNING: CPU: 0 PID: 0 at mm/vmalloc.c:vmap_pages_pte_range: !pte_none(ptep_get(pte)) at ${va.toString(16)}`]);
        return -EBUSY;
      }
      this.d.mem.writeLong(at, pfns[i] * PAGE_SIZE + PAGE_KERNEL, this.wide);
      idx++;
    }
    return 0;
  }

  /** vunmap_range_noflush(): clear the PTEs of [addr, addr + size); the TLB is the caller's business. */
  unmapRange(addr: number, size: number): number {
    let cleared = 0;
    let at = -1;
    for (let va = addr; va < addr + size; va += PAGE_SIZE) {
      // One walk per PTE table, as vunmap_pte_range() clears a table's run of entries.
      if (at < 0 || va % this.span[this.levels - 2] === 0) at = this.pteSlot(va);
      else at += this.entryBytes;
      if (at < 0 || this.d.mem.readLong(at, this.wide) === 0) continue;
      this.d.mem.writeLong(at, 0, this.wide);
      cleared++;
    }
    return cleared;
  }

  /** vmalloc_to_pfn(): the page mapped at `addr`, or NO_PAGE; lastLevels says how many levels were read. */
  lookup(addr: number): number {
    const at = this.pteSlot(addr);
    if (at < 0) return NO_PAGE;
    const e = this.d.mem.readLong(at, this.wide);
    return e % 2 === PRESENT ? Math.floor(e / PAGE_SIZE) : NO_PAGE;
  }

  /**
   * Free the table pages under [start, end) that map nothing any more, bottom level first, and clear the
   * entries that pointed at them (the model's 'purge' policy; mainline keeps them).
   */
  freeEmptyTables(start: number, end: number): number {
    let n = 0;
    // Level L tables cover span[L-1] bytes each; visit each one the range touches, lowest level first.
    for (let level = this.levels - 1; level >= 1; level--) {
      const cover = this.span[level - 1];
      for (let base = Math.floor(start / cover) * cover; base < end; base += cover) {
        const parent = this.tableAt(base, level - 1);
        if (parent < 0) continue;
        const slot = parent * PAGE_SIZE + this.index(base, level - 1) * this.entryBytes;
        const e = this.d.mem.readLong(slot, this.wide);
        if (e === 0) continue;
        const table = Math.floor(e / PAGE_SIZE);
        if (!this.isEmpty(table)) continue;
        this.d.mem.writeLong(slot, 0, this.wide);
        this.freeTable(table);
        n++;
      }
    }
    return n;
  }

  /** Present PTEs in every PTE table (for checkInvariants), by walking the tables. */
  countMapped(): number {
    let n = 0;
    const walk = (table: number, level: number): void => {
      for (let i = 0; i < this.entries; i++) {
        const e = this.d.mem.readLong(table * PAGE_SIZE + i * this.entryBytes, this.wide);
        if (e === 0) continue;
        if (level === this.levels - 1) n++;
        else walk(Math.floor(e / PAGE_SIZE), level + 1);
      }
    };
    walk(this.pgdPfn, 0);
    return n;
  }

  // --- walking ---------------------------------------------------------------------------------------

  private index(va: number, level: number): number {
    return Math.floor(va / this.span[level]) % this.entries;
  }

  /** The PTE table for `va`, allocating the missing levels; -1 if an allocation failed. */
  private walkAlloc(va: number, gfp: number): number {
    let table = this.pgdPfn;
    for (let level = 0; level < this.levels - 1; level++) {
      const slot = table * PAGE_SIZE + this.index(va, level) * this.entryBytes;
      const e = this.d.mem.readLong(slot, this.wide);
      if (e !== 0) {
        table = Math.floor(e / PAGE_SIZE);
        continue;
      }
      const t = this.allocTable(gfp);
      if (t < 0) return -1;
      this.d.mem.writeLong(slot, t * PAGE_SIZE + KERNPG_TABLE, this.wide);
      table = t;
    }
    return table;
  }

  /**
   * The table at `level` on the way to `va`, or -1 if the walk stops before it; lastLevels says how many
   * entries the walk read.
   */
  private tableAt(va: number, level: number): number {
    let table = this.pgdPfn;
    for (let l = 0; l < level; l++) {
      const e = this.d.mem.readLong(table * PAGE_SIZE + this.index(va, l) * this.entryBytes, this.wide);
      if (e === 0) {
        this.lastLevels = l + 1;
        return -1;
      }
      table = Math.floor(e / PAGE_SIZE);
    }
    this.lastLevels = level;
    return table;
  }

  /** The physical address of the PTE for `va`, or -1 if a table on the way is missing. */
  private pteSlot(va: number): number {
    const pte = this.tableAt(va, this.levels - 1);
    if (pte < 0) return -1;
    this.lastLevels++; // the PTE itself
    return pte * PAGE_SIZE + this.index(va, this.levels - 1) * this.entryBytes;
  }

  private isEmpty(table: number): boolean {
    for (let i = 0; i < this.entries; i++) if (this.d.mem.readLong(table * PAGE_SIZE + i * this.entryBytes, this.wide) !== 0) return false;
    return true;
  }

  /** __pte_alloc_one_kernel() and friends: a zeroed page, marked PageTable and counted. */
  private allocTable(gfp: number): number {
    const pfn = this.d.pa.allocPages(gfp | GFP.ZERO, 0);
    if (pfn === NO_PAGE) {
      this.failed++;
      return -1;
    }
    const mm = this.d.mm;
    mm.flags[pfn] = (mm.flags[pfn] & ~PGTY_MASK) | PGTY_TABLE;
    this.tables.add(pfn);
    this.nrTables++;
    this.allocated++;
    return pfn;
  }

  /** pte_free_kernel(): the page type goes before the page does. */
  private freeTable(pfn: number): void {
    const mm = this.d.mm;
    mm.flags[pfn] &= ~PGTY_MASK;
    this.tables.delete(pfn);
    this.nrTables--;
    this.freed++;
    this.d.mem.zero(pfn, 1);
    this.d.pa.freePages(pfn, 0);
  }
}
