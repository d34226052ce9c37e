/**
 * The page cache (mm/filemap.c filemap_add_folio, filemap_get_folio, __filemap_remove_folio,
 * generic_perform_write, filemap_read; mm/truncate.c truncate_inode_pages; mm/vmscan.c pageout for files).
 *
 * An address space caches the pages of one file of a filesystem whose blocks live on a block device. Its
 * pages are movable LRU pages (mapping_gfp_mask GFP_HIGHUSER_MOVABLE), owned through rmap.ts, so reclaim can
 * drop clean ones and compaction can move any of them. The file's contents on disk are the bytes each block
 * held when it was last written back; a page read into the cache gets them (at the device's read cost), so
 * data survives eviction: what a reader sees is always the last thing written.
 * Departures: no readahead, no large folios, no mmap of files (pages are reached by index, as read() and
 * write() reach them); buffer heads are not modelled (Buffers reads 0).
 */
import { GFP } from '../gfp.js';
import type { Clock } from './clock.js';
import type { PhysMem } from './memory.js';
import {
  ALLOC_ORDER_MASK, MemMap, NO_PAGE, PAGE_SIZE, PG_DIRTY, PG_LRU, PG_UPTODATE, PG_WRITEBACK, ZONE_MASK,
} from './page.js';
import type { PageAlloc } from './page_alloc.js';
import type { BlockDevice, Writeback } from './page_writeback.js';
import { SLOT_NONE, type Rmap, type RmapOwner } from './rmap.js';
import type { Lruvec } from './swap.js';
import type { NodeStats, VmEvents } from './vmstat.js';

/** The filesystem side an address space needs: a name and the device its blocks are on. */
export interface Filesystem {
  readonly name: string;
  readonly bdev: BlockDevice;
}

export class AddressSpace implements RmapOwner {
  readonly id: number;
  readonly anon = false;
  slots: Int32Array;
  dead = false;
  readonly fs: Filesystem;
  /** The inode number, for reports. */
  readonly ino: number;
  /** mapping_gfp_mask(). */
  gfp = GFP.HIGHUSER_MOVABLE;
  /** Pages in the cache (mapping->nrpages). */
  nrPages = 0;
  /** The file's blocks: bytes as last written back, by page index (absent: never written, reads as zeros). */
  readonly disk = new Map<number, Uint8Array | null>();

  constructor(id: number, fs: Filesystem, ino: number) {
    this.id = id;
    this.fs = fs;
    this.ino = ino;
    this.slots = new Int32Array(16).fill(SLOT_NONE);
  }

  /** The page at `index`, or NO_PAGE. */
  page(index: number): number {
    return index < this.slots.length ? this.slots[index] : NO_PAGE;
  }
}

export interface FilemapDeps {
  mm: MemMap;
  pa: PageAlloc;
  mem: PhysMem;
  lru: Lruvec;
  rmap: Rmap;
  wb: Writeback;
  node: NodeStats;
  events: VmEvents;
  clock: Clock;
}

export class Filemap {
  private readonly d: FilemapDeps;
  private nextIno = 12;

  constructor(d: FilemapDeps) {
    this.d = d;
  }

  /** A new, empty file's address space. */
  createMapping(fs: Filesystem): AddressSpace {
    const as = new AddressSpace(this.d.rmap.allocId(), fs, this.nextIno++);
    this.d.rmap.register(as);
    return as;
  }

  /** filemap_get_folio() with FGP_ACCESSED: the cached page, marked accessed, or NO_PAGE. */
  findGetPage(as: AddressSpace, index: number): number {
    const pfn = as.page(index);
    if (pfn >= 0) this.d.lru.markAccessed(pfn);
    return pfn;
  }

  /**
   * The page at `index`, read in from disk if it is not cached (filemap_add_folio + read_folio). NO_PAGE when
   * the allocation fails.
   */
  getPage(as: AddressSpace, index: number, gfp = as.gfp): number {
    this.checkLive(as, index);
    const cached = this.findGetPage(as, index);
    if (cached >= 0) return cached;
    const d = this.d;
    const pfn = d.pa.allocPages(gfp, 0);
    if (pfn === NO_PAGE) return NO_PAGE;
    // The allocation may have reclaimed, or even killed, but never this file's page at `index`: it was absent.
    const onDisk = as.disk.get(index);
    if (onDisk) {
      d.mem.writeFrame(pfn, 0, onDisk, 0, PAGE_SIZE);
      d.clock.ns += as.fs.bdev.readNs;
      as.fs.bdev.read++;
      d.events.pgpgin += PAGE_SIZE / 1024;
    } else {
      d.mem.zero(pfn, 1);
    }
    this.addToPageCache(as, index, pfn);
    return pfn;
  }

  /** __filemap_add_folio() and folio_add_lru(). */
  private addToPageCache(as: AddressSpace, index: number, pfn: number): void {
    const d = this.d;
    if (index >= as.slots.length) {
      let n = as.slots.length;
      while (n <= index) n *= 2;
      const grown = new Int32Array(n).fill(SLOT_NONE);
      grown.set(as.slots);
      as.slots = grown;
    }
    as.slots[index] = pfn;
    d.mm.mapping[pfn] = as.id;
    d.mm.index[pfn] = index;
    d.mm.flags[pfn] |= PG_UPTODATE;
    as.nrPages++;
    d.node.nrFilePages++;
    d.lru.add(pfn);
  }

  /** filemap_read() of one page into `dst` (from `off`, at most to the end of the page). False on ENOMEM. */
  read(as: AddressSpace, index: number, dst: Uint8Array, off = 0): boolean {
    const pfn = this.getPage(as, index);
    if (pfn === NO_PAGE) return false;
    this.d.mem.readFrame(pfn, off, dst, 0, Math.min(dst.length, PAGE_SIZE - off));
    return true;
  }

  /** generic_perform_write() into one page: copy, mark dirty. False on ENOMEM. */
  write(as: AddressSpace, index: number, src: Uint8Array, off = 0): boolean {
    const pfn = this.getPage(as, index);
    if (pfn === NO_PAGE) return false;
    this.d.mem.writeFrame(pfn, off, src, 0, Math.min(src.length, PAGE_SIZE - off));
    this.d.wb.markDirty(pfn, true);
    return true;
  }

  /** pageout() of a dirty page cache page: its bytes go to disk now, the write completes later. */
  writepage(pfn: number): void {
    const d = this.d;
    const as = d.rmap.ownerOf(pfn) as AddressSpace;
    const frame = d.mem.frame(pfn);
    as.disk.set(d.mm.index[pfn], frame ? frame.slice() : null);
    d.wb.start(pfn, as.fs.bdev, true);
    d.events.pgpgout += PAGE_SIZE / 1024;
  }

  /**
   * The flusher threads (fs/fs-writeback.c wb_writeback, write_cache_pages): start writeback of up to `nr`
   * dirty page cache pages, file by file in index order. Returns how many writes it started.
   */
  flush(nr: number): number {
    const d = this.d;
    let n = 0;
    for (const o of d.rmap.all()) {
      if (o.anon) continue;
      for (let i = 0; i < o.slots.length && n < nr; i++) {
        const p = o.slots[i];
        if (p < 0 || !(d.mm.flags[p] & PG_DIRTY) || d.mm.flags[p] & PG_WRITEBACK) continue;
        this.writepage(p);
        n++;
      }
      if (n >= nr) break;
    }
    return n;
  }

  /**
   * __filemap_remove_folio(): a clean page leaves the cache (reclaim or truncation); the caller frees it.
   * The page must be off the LRU already.
   */
  deletePage(pfn: number): void {
    const d = this.d;
    const as = d.rmap.ownerOf(pfn) as AddressSpace;
    as.slots[d.mm.index[pfn]] = SLOT_NONE;
    as.nrPages--;
    d.node.nrFilePages--;
    d.mm.mapping[pfn] = 0;
    d.mm.index[pfn] = 0;
    d.mm.flags[pfn] &= ZONE_MASK | ALLOC_ORDER_MASK;
  }

  /** truncate_inode_pages(): every cached page goes (writes in flight are waited for), the disk blocks too. */
  truncate(as: AddressSpace): void {
    const d = this.d;
    for (let i = 0; i < as.slots.length; i++) {
      const pfn = as.slots[i];
      if (pfn < 0) continue;
      if (d.mm.flags[pfn] & PG_WRITEBACK) d.wb.waitOn(pfn);
      if (d.mm.flags[pfn] & PG_DIRTY) d.wb.cancelDirty(pfn, true);
      if (d.mm.flags[pfn] & PG_LRU) d.lru.del(pfn);
      this.deletePage(pfn);
      d.pa.freePages(pfn, 0);
    }
    as.disk.clear();
  }

  /** unlink of the last name: the file and its address space are gone. */
  unlink(as: AddressSpace): void {
    this.truncate(as);
    as.dead = true;
    this.d.rmap.unregister(as);
  }

  private checkLive(as: AddressSpace, index: number): void {
    if (as.dead) throw new Error(`filemap: address space of inode ${as.ino} is gone (use after unlink)`);
    if (!Number.isInteger(index) || index < 0) throw new Error(`filemap: page index ${index} is not a whole number >= 0`);
  }
}
