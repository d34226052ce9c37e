/**
 * A swap device (mm/swapfile.c get_swap_pages, swap_free; mm/page_io.c swap_writepage, swap_read_folio).
 *
 * Slots are handed out lowest first from a free stack; a slot's contents are the bytes the page held when
 * its write started (a page never written holds none, and reads back as zeros). Writes go through the
 * writeback queue (page_writeback.ts) at the device's cost per page; reads are synchronous and cost the
 * clock the device's read time.
 * Departures: one swap device, no clusters, no swap cache beyond the page being written (a swapped-in page
 * gives its slot back at once, as with a fast swap device that frees slots on swap-in), no readahead.
 */
import { makeBlockDevice, type BlockDevice } from './page_writeback.js';
import { PAGE_SIZE } from './page.js';

/**
 * A swap file on a filesystem that does its own IO (SWP_FS_OPS: swap_activate gave it `swap_rw`, as NFS
 * does): swap_writepage_fs() hands it the page. It starts the write and later calls `endWrite(pfn)`, or
 * returns false when it cannot start it now (the page stays dirty for a later attempt).
 */
export interface SwapRw {
  write(pfn: number, slot: number, endWrite: (pfn: number) => void): boolean;
  /** The device takes no more writes now (inode_write_congested for a swap file's backing device). */
  congested(): boolean;
}

export class SwapInfo {
  readonly nrSlots: number;
  readonly dev: BlockDevice;
  /** swap_rw of a SWP_FS_OPS swap file (swap over NFS), or undefined for a block device. */
  rw: SwapRw | undefined;
  private readonly freeStack: Int32Array;
  private nrFree: number;
  private readonly data = new Map<number, Uint8Array>();
  private readonly used: Uint8Array;

  constructor(nrSlots: number, readNs: number, writeNs: number) {
    if (!Number.isInteger(nrSlots) || nrSlots < 0) throw new Error(`swap: size must be a whole number of pages >= 0, got ${nrSlots}`);
    this.nrSlots = nrSlots;
    this.dev = makeBlockDevice('swap', readNs, writeNs);
    this.freeStack = new Int32Array(nrSlots);
    for (let i = 0; i < nrSlots; i++) this.freeStack[i] = nrSlots - 1 - i;
    this.nrFree = nrSlots;
    this.used = new Uint8Array(nrSlots);
  }

  /** SwapTotal and SwapFree in pages. */
  get total(): number {
    return this.nrSlots;
  }
  get free(): number {
    return this.nrFree;
  }

  /** get_swap_pages(): a free slot, or -1 when the device is full. */
  getSwapPage(): number {
    if (this.nrFree === 0) return -1;
    const s = this.freeStack[--this.nrFree];
    this.used[s] = 1;
    return s;
  }

  /** swap_free(): the slot and its contents are released. */
  swapFree(slot: number): void {
    if (!this.used[slot]) throw new Error(`swap_free: slot ${slot} is not in use (Bad swap offset entry)`);
    this.used[slot] = 0;
    this.data.delete(slot);
    this.freeStack[this.nrFree++] = slot;
  }

  /** The page's bytes at write time (undefined frame: a zero page, nothing stored). */
  store(slot: number, bytes: Uint8Array | undefined): void {
    if (bytes) this.data.set(slot, bytes.slice(0, PAGE_SIZE));
    else this.data.delete(slot);
  }

  /** The slot's bytes, or undefined for a page of zeros. */
  load(slot: number): Uint8Array | undefined {
    this.dev.read++;
    return this.data.get(slot);
  }

  isUsed(slot: number): boolean {
    return this.used[slot] === 1;
  }
}
