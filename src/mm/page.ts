/**
 * mem_map: every struct page of the machine as struct-of-arrays over typed arrays indexed by pfn
 * (include/linux/mm_types.h, include/linux/page-flags.h). A page is its pfn; no JS object exists per page.
 *
 * Seven 32-bit words per page, 28 bytes (the kernel's struct page is 64):
 *   flags         Uint32  page flags, page type, allocation order, zone (layout below)
 *   refcount      Int32   _refcount
 *   private       Int32   buddy/pcp: order of the free block; page[1] of a compound page: its order
 *   next, prev    Int32   the page's list_head (buddy free list, pcp list, later LRU and slab lists);
 *                         a tail page is never on a list, so `next` holds its head pfn, as the kernel's
 *                         compound_head overlays lru.next (PG_TAIL says which)
 *   mapping       Int32   owner word 1 (slab: cache id; LRU page: its rmap owner, an address space or an
 *                         anonymous mm, see rmap.ts)
 *   index         Int32   owner word 2 (slab: freelist; LRU page: its index in the owner)
 *   (private also holds an anonymous page's swap slot + 1 while it is in the swap cache, as folio->swap)
 *
 * flags, bit layout:
 *   bits  0..15  PG_* flags (PG_LOCKED .. PG_WRITEBACK below)
 *   bits 16..19  page type (PGTY_*): what the kernel keeps in page_type, plus the model's own PGTY_PCP/HOLE
 *   bits 20..23  order the block was allocated with (model-only: lets a free with the wrong order be caught)
 *   bits 24..26  zone index (the kernel keeps the zone in the top bits of page->flags too)
 *   bit  27      PG_VCOMPOUND: a page of a virtual compound page (Lameter's V1 marked these with PG_compound
 *                together with PG_swapcache; the model has no PG_swapcache bit and gives the mark its own)
 *
 * Lists are intrusive and circular, as list_head is: a list's head is a sentinel, an id past the last pfn
 * with its own next/prev slots, so insertion and removal never branch on emptiness.
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const MAX_PAGE_ORDER = 10;
export const NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;
export const PAGE_ALLOC_COSTLY_ORDER = 3;
/** No page: the model's NULL struct page. pfn 0 is a real page. */
export const NO_PAGE = -1;

// Page flags (bits 0..15).
export const PG_LOCKED = 1 << 0;
export const PG_REFERENCED = 1 << 1;
export const PG_UPTODATE = 1 << 2;
export const PG_DIRTY = 1 << 3;
export const PG_LRU = 1 << 4;
export const PG_HEAD = 1 << 5;
export const PG_ACTIVE = 1 << 6;
export const PG_RESERVED = 1 << 7;
export const PG_PRIVATE = 1 << 8;
export const PG_RECLAIM = 1 << 9;
export const PG_SWAPBACKED = 1 << 10;
export const PG_UNEVICTABLE = 1 << 11;
export const PG_MLOCKED = 1 << 12;
/** The page was handed out from the reserves (ALLOC_NO_WATERMARKS); the kernel keeps this in lru.next bit 1. */
export const PG_PFMEMALLOC = 1 << 13;
/** A tail page of a compound page; its head is in next[] (the kernel: compound_head bit 0). */
export const PG_TAIL = 1 << 14;
/** Writeback to the file's block device or to swap is in flight. */
export const PG_WRITEBACK = 1 << 15;
export const PG_FLAGS_MASK = 0xffff;

// Page types (bits 16..19).
export const PGTY_SHIFT = 16;
export const PGTY_MASK = 0xf << PGTY_SHIFT;
export const PGTY_NONE = 0;
/** A free block's head in a buddy free list (PageBuddy). */
export const PGTY_BUDDY = 1 << PGTY_SHIFT;
/** A free page on a per-CPU list (the kernel tells these by refcount 0 off the buddy lists). */
export const PGTY_PCP = 2 << PGTY_SHIFT;
export const PGTY_SLAB = 3 << PGTY_SHIFT;
export const PGTY_TABLE = 4 << PGTY_SHIFT;
/** No RAM behind this pfn (a hole in the zone span; pfn_valid() would be false). */
export const PGTY_HOLE = 5 << PGTY_SHIFT;
/** The head of a large kmalloc (above 8 KiB), so that kfree() knows it (PG_large_kmalloc). */
export const PGTY_LARGE_KMALLOC = 6 << PGTY_SHIFT;

export const ALLOC_ORDER_SHIFT = 20;
export const ALLOC_ORDER_MASK = 0xf << ALLOC_ORDER_SHIFT;
export const ZONE_SHIFT = 24;
export const ZONE_MASK = 0x7 << ZONE_SHIFT;
/** PageVcompound(): the page belongs to a virtually mapped compound page (seed 001; model bit 27). */
export const PG_VCOMPOUND = 1 << 27;

/** Bytes of metadata per modelled page (the seven arrays). */
export const MEMMAP_BYTES_PER_PAGE = 28;

/** list_add() over the arrays themselves, for a hot path that holds them (one load less than through MemMap). */
export function listAddOn(next: Int32Array, prev: Int32Array, pfn: number, head: number): void {
  const first = next[head];
  next[pfn] = first;
  prev[pfn] = head;
  prev[first] = pfn;
  next[head] = pfn;
}

export class MemMap {
  readonly nrPages: number;
  /** First sentinel id: list heads live at ids nrPages .. nrPages + nrSentinels - 1. */
  readonly sentinelBase: number;
  private nextSentinel: number;
  readonly flags: Uint32Array;
  readonly refcount: Int32Array;
  readonly private_: Int32Array;
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly mapping: Int32Array;
  readonly index: Int32Array;
  /**
   * vmalloc_nth_page(): the nth page of a virtual compound page, through its page tables. Installed by the
   * vmalloc layer (the kernel's include/linux/mm.h calls up into mm/vmalloc.c the same way).
   */
  vcompoundNthPage: (head: number, n: number) => number = () => NO_PAGE;

  constructor(nrPages: number, nrSentinels: number) {
    // `| 0`: the config's page counts come out of divisions as doubles (V8 HeapNumbers). Stored as such, every
    // pfn and list head derived from them would be a boxed double that the hot paths convert back to an int.
    nrPages |= 0;
    this.nrPages = nrPages;
    this.sentinelBase = nrPages;
    this.nextSentinel = nrPages;
    const n = nrPages + nrSentinels;
    this.flags = new Uint32Array(n);
    this.refcount = new Int32Array(n);
    this.private_ = new Int32Array(n);
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.mapping = new Int32Array(n);
    this.index = new Int32Array(n);
  }

  /** Bytes held by mem_map, list heads included (a 64-bit kernel's struct pages cost 64 per page). */
  get bytes(): number {
    return this.flags.length * MEMMAP_BYTES_PER_PAGE;
  }

  /** Hand out `count` consecutive empty list heads (INIT_LIST_HEAD on each). */
  allocListHeads(count: number): number {
    const first = this.nextSentinel;
    if (first + count > this.flags.length) throw new Error('mem_map: out of list heads');
    this.nextSentinel += count;
    for (let h = first; h < first + count; h++) {
      this.next[h] = h;
      this.prev[h] = h;
    }
    return first;
  }

  // list.h, over pfns.
  listAdd(pfn: number, head: number): void {
    listAddOn(this.next, this.prev, pfn, head);
  }

  listAddTail(pfn: number, head: number): void {
    const last = this.prev[head];
    this.prev[pfn] = last;
    this.next[pfn] = head;
    this.next[last] = pfn;
    this.prev[head] = pfn;
  }

  listDel(pfn: number): void {
    const n = this.next[pfn];
    const p = this.prev[pfn];
    this.next[p] = n;
    this.prev[n] = p;
  }

  listEmpty(head: number): boolean {
    return this.next[head] === head;
  }

  pageType(pfn: number): number {
    return this.flags[pfn] & PGTY_MASK;
  }

  setPageType(pfn: number, type: number): void {
    this.flags[pfn] = (this.flags[pfn] & ~PGTY_MASK) | type;
  }

  zoneIdx(pfn: number): number {
    return (this.flags[pfn] & ZONE_MASK) >>> ZONE_SHIFT;
  }

  allocOrder(pfn: number): number {
    return (this.flags[pfn] & ALLOC_ORDER_MASK) >>> ALLOC_ORDER_SHIFT;
  }

  /** A tail page of a compound page (PageTail). */
  isTail(pfn: number): boolean {
    return (this.flags[pfn] & PG_TAIL) !== 0;
  }

  /** compound_head(): the head of a tail page, else the page itself. */
  head(pfn: number): number {
    return this.flags[pfn] & 0x4000 /* PG_TAIL */ ? this.next[pfn] : pfn;
  }
}
