/**
 * A TLB model (arch/x86/mm/tlb.c flush_tlb_kernel_range, flush_tlb_all; the hardware's dTLB).
 *
 * Two fully associative arrays with LRU replacement, as a CPU's data TLB has separate entries for 4 KiB pages
 * and for large pages: the direct map is mapped with large pages (2 MiB on x86_64, 4 MiB PSE pages on i386
 * without PAE) and the vmalloc range with 4 KiB pages. Every page an access touches is looked up; a miss is a
 * page-table walk whose levels are counted (and charged to the model clock), so a sequential read through
 * vmalloc shows the walks that the same read through the direct map avoids.
 *
 * Simplifications: one TLB shared by all model CPUs (flushes are global on x86 anyway: the kernel range is
 * flushed on every CPU); 1 GiB direct-map pages are modelled as 2 MiB ones; no STLB second level.
 * `flushKernelRange` follows flush_tlb_kernel_range(): a range of more than tlb_single_page_flush_ceiling (33)
 * pages flushes everything, a smaller one invalidates page by page (INVLPG).
 */

/** tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush. */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;
/** Model cost of a TLB hit and of each page-table level read on a miss, in ns (a cache-missing load). */
export const TLB_HIT_NS = 1;
export const TLB_WALK_LEVEL_NS = 20;

export interface TlbConfig {
  /** 4 KiB entries (a typical L1 dTLB has 64). */
  entries4k?: number;
  /** 2 MiB/4 MiB entries (typically 32). */
  entriesLarge?: number;
}

export class TlbStats {
  hits = 0;
  misses = 0;
  /** Page-table walks (one per miss) and the table levels they read. */
  walks = 0;
  walkLevels = 0;
  flushAll = 0;
  flushRange = 0;
  /** Single-page invalidations done by range flushes. */
  flushPages = 0;
  reset(): void {
    this.hits = this.misses = this.walks = this.walkLevels = 0;
    this.flushAll = this.flushRange = this.flushPages = 0;
  }
}

export class Tlb {
  readonly entries4k: number;
  readonly entriesLarge: number;
  readonly stats = new TlbStats();
  /** Virtual page number -> pfn, in LRU order (a Map iterates in insertion order: the first key is the oldest). */
  private readonly small = new Map<number, number>();
  /** Large-page numbers, in LRU order (the direct map translates by arithmetic: only presence matters). */
  private readonly large = new Set<number>();

  constructor(cfg: TlbConfig = {}) {
    this.entries4k = cfg.entries4k ?? 64;
    this.entriesLarge = cfg.entriesLarge ?? 32;
    if (!(this.entries4k >= 1 && this.entriesLarge >= 1)) throw new Error(`tlb: entries must be at least 1, got ${this.entries4k}/${this.entriesLarge}`);
  }

  /** The cached translation of a 4 KiB virtual page, or -1 on a miss. A hit refreshes the entry's age. */
  lookup4k(vpn: number): number {
    const pfn = this.small.get(vpn);
    if (pfn === undefined) {
      this.stats.misses++;
      return -1;
    }
    this.stats.hits++;
    this.small.delete(vpn);
    this.small.set(vpn, pfn);
    return pfn;
  }

  /** Install a translation after a walk of `levels` table levels, evicting the least recently used entry. */
  fill4k(vpn: number, pfn: number, levels: number): void {
    this.walked(levels);
    if (this.small.size >= this.entries4k) this.small.delete(this.small.keys().next().value!);
    this.small.set(vpn, pfn);
  }

  /** A direct-map access to large page `lpn`: true on a hit; a miss is filled after a walk of `levels` levels. */
  touchLarge(lpn: number, levels: number): boolean {
    if (this.large.delete(lpn)) {
      this.stats.hits++;
      this.large.add(lpn);
      return true;
    }
    this.stats.misses++;
    this.walked(levels);
    if (this.large.size >= this.entriesLarge) this.large.delete(this.large.values().next().value!);
    this.large.add(lpn);
    return false;
  }

  /** flush_tlb_kernel_range(start, end) over 4 KiB pages [startVpn, endVpn). */
  flushKernelRange(startVpn: number, endVpn: number): void {
    if (endVpn - startVpn > TLB_SINGLE_PAGE_FLUSH_CEILING) {
      this.flushAllEntries();
      return;
    }
    this.stats.flushRange++;
    for (let v = startVpn; v < endVpn; v++) {
      this.small.delete(v);
      this.stats.flushPages++;
    }
  }

  /** flush_tlb_all(): every entry, both sizes (global pages included). */
  flushAllEntries(): void {
    this.stats.flushAll++;
    this.small.clear();
    this.large.clear();
  }

  /** Entries in use (4 KiB, large). */
  get size(): [number, number] {
    return [this.small.size, this.large.size];
  }

  private walked(levels: number): void {
    this.stats.walks++;
    this.stats.walkLevels += levels;
  }
}
