/**
 * The bytes of physical memory and the direct map (arch/x86/include/asm/page.h __va/__pa, mm/highmem.c
 * page_address).
 *
 * Memory is sparse: a frame's 4 KiB exist once something writes to it; a frame never written reads as zero.
 * Zeroing a frame drops its bytes again, so memory use follows the pages touched, not the RAM modelled.
 * Kernel virtual addresses in the direct map translate by arithmetic: PAGE_OFFSET + pfn * PAGE_SIZE.
 * On i386 only lowmem (below max_low_pfn) has a direct-map address; a highmem page has none until
 * mapped (kmap), so pageAddress() returns 0 (NULL) for it.
 */
import { PAGE_SIZE } from './page.js';

export class PhysMem {
  private readonly frames = new Map<number, Uint8Array>();

  /** Frames that hold bytes now. */
  get framesTouched(): number {
    return this.frames.size;
  }

  frame(pfn: number): Uint8Array | undefined {
    return this.frames.get(pfn);
  }

  private frameForWrite(pfn: number): Uint8Array {
    let f = this.frames.get(pfn);
    if (!f) {
      f = new Uint8Array(PAGE_SIZE);
      this.frames.set(pfn, f);
    }
    return f;
  }

  /** Copy `len` bytes at byte `off` of frame `pfn` into dst (off + len must stay inside the frame). */
  readFrame(pfn: number, off: number, dst: Uint8Array, dstOff: number, len: number): void {
    const f = this.frames.get(pfn);
    if (f) dst.set(f.subarray(off, off + len), dstOff);
    else dst.fill(0, dstOff, dstOff + len);
  }

  writeFrame(pfn: number, off: number, src: Uint8Array, srcOff: number, len: number): void {
    this.frameForWrite(pfn).set(src.subarray(srcOff, srcOff + len), off);
  }

  /** clear_page() on `n` frames: a zero frame holds no bytes. */
  zero(pfn: number, n: number): void {
    for (let i = 0; i < n; i++) this.frames.delete(pfn + i);
  }

  /** Fill `n` frames with one byte (page poisoning). */
  fill(pfn: number, n: number, byte: number): void {
    for (let i = 0; i < n; i++) this.frameForWrite(pfn + i).fill(byte);
  }

  /** The first offset in frame `pfn` whose byte differs from `byte`, or -1. */
  findNot(pfn: number, byte: number): number {
    const f = this.frames.get(pfn);
    if (!f) return byte === 0 ? -1 : 0;
    for (let i = 0; i < PAGE_SIZE; i++) if (f[i] !== byte) return i;
    return -1;
  }

  /** Move a frame's bytes to another frame (page migration). */
  copyFrame(from: number, to: number): void {
    const f = this.frames.get(from);
    if (f) this.frameForWrite(to).set(f);
    else this.frames.delete(to);
  }
}

export class DirectMap {
  readonly pageOffset: number;
  readonly maxLowPfn: number;
  constructor(pageOffset: number, maxLowPfn: number) {
    this.pageOffset = pageOffset;
    this.maxLowPfn = maxLowPfn;
  }

  /** page_address(): the page's direct-map address, or 0 (NULL) for a highmem page. */
  pageAddress(pfn: number): number {
    return pfn < this.maxLowPfn ? this.pageOffset + pfn * PAGE_SIZE : 0;
  }

  /** Is `addr` inside the direct map of lowmem (virt_addr_valid)? */
  contains(addr: number): boolean {
    return addr >= this.pageOffset && addr < this.pageOffset + this.maxLowPfn * PAGE_SIZE;
  }

  /** virt_to_pfn() for a direct-map address (the caller checks contains()). */
  virtToPfn(addr: number): number {
    return Math.floor((addr - this.pageOffset) / PAGE_SIZE);
  }

  offsetInPage(addr: number): number {
    return (addr - this.pageOffset) % PAGE_SIZE;
  }
}

