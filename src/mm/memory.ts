/**
 * The bytes of physical memory and the direct map (arch/x86/include/asm/page.h __va/__pa, mm/highmem.c
 * page_address).
 *
 * Memory is sparse: a frame's 4 KiB exist once something writes to it; a frame never written reads as zero.
 * Zeroing a frame drops its bytes again, so memory use follows the pages touched, not the RAM modelled.
 * Frames live in 1 MiB chunks; a two-level directory (pfn >> 10, then pfn & 1023) finds a frame's slot
 * without a hash lookup and costs nothing per page that was never touched. Word accessors serve SLUB's
 * free pointers, which live inside free objects as in the kernel.
 * Kernel virtual addresses in the direct map translate by arithmetic: PAGE_OFFSET + pfn * PAGE_SIZE.
 * On i386 only lowmem (below max_low_pfn) has a direct-map address; a highmem page has none until
 * mapped (kmap), so pageAddress() returns 0 (NULL) for it.
 */
import { PAGE_SIZE } from './page.js';

const FRAMES_PER_CHUNK = 256;
const DIR_SHIFT = 10;
const DIR_MASK = (1 << DIR_SHIFT) - 1;

export class PhysMem {
  /**
   * dir[pfn >> 10][pfn & 1023]: slot + 1 of the frame's bytes, 0 when the frame holds none. Filled with
   * undefined up front (64 GiB worth, grown on demand): a write far beyond the end of an empty array would
   * turn it into a dictionary, and every lookup into a hash.
   */
  private readonly dir: Array<Int32Array | undefined> = Array.from({ length: 1 << 14 }, () => undefined);
  private readonly chunks: Uint8Array[] = [];
  private readonly chunkWords: Int32Array[] = [];
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private used = 0;
  /**
   * The last frame a word accessor found (its physical address, its words and their base): SLUB walks the
   * same slab page again and again. The word accessors are small on purpose, since SLUB's fast paths run
   * through them and V8 inlines them only while its budget lasts.
   */
  private lastPhys = -PAGE_SIZE;
  private lastWords: Int32Array = new Int32Array(0);
  private lastBase = 0;

  /** Frames that hold bytes now. */
  get framesTouched(): number {
    return this.used;
  }

  private slot(pfn: number): number {
    const t = this.dir[pfn >>> DIR_SHIFT];
    return t === undefined ? -1 : t[pfn & DIR_MASK] - 1;
  }

  private slotForWrite(pfn: number): number {
    while (this.dir.length <= pfn >>> DIR_SHIFT) this.dir.push(undefined);
    let t = this.dir[pfn >>> DIR_SHIFT];
    if (t === undefined) {
      t = new Int32Array(1 << DIR_SHIFT);
      this.dir[pfn >>> DIR_SHIFT] = t;
    }
    let s = t[pfn & DIR_MASK] - 1;
    if (s >= 0) return s;
    const reused = this.freeSlots.pop();
    if (reused !== undefined) {
      s = reused;
      this.frameAt(s).fill(0);
    } else {
      s = this.nextSlot++;
      if ((s >>> 8) >= this.chunks.length) {
        const buf = new ArrayBuffer(FRAMES_PER_CHUNK * PAGE_SIZE);
        this.chunks.push(new Uint8Array(buf));
        this.chunkWords.push(new Int32Array(buf));
      }
    }
    t[pfn & DIR_MASK] = s + 1;
    this.used++;
    return s;
  }

  private frameAt(slot: number): Uint8Array {
    const off = (slot & (FRAMES_PER_CHUNK - 1)) * PAGE_SIZE;
    return this.chunks[slot >>> 8].subarray(off, off + PAGE_SIZE);
  }

  /** The frame's bytes (a view), or undefined if it holds none (reads as zero). */
  frame(pfn: number): Uint8Array | undefined {
    const s = this.slot(pfn);
    return s < 0 ? undefined : this.frameAt(s);
  }

  /** Copy `len` bytes at byte `off` of frame `pfn` into dst (off + len must stay inside the frame). */
  readFrame(pfn: number, off: number, dst: Uint8Array, dstOff: number, len: number): void {
    const s = this.slot(pfn);
    if (s < 0) {
      dst.fill(0, dstOff, dstOff + len);
      return;
    }
    const base = (s & (FRAMES_PER_CHUNK - 1)) * PAGE_SIZE + off;
    dst.set(this.chunks[s >>> 8].subarray(base, base + len), dstOff);
  }

  writeFrame(pfn: number, off: number, src: Uint8Array, srcOff: number, len: number): void {
    const s = this.slotForWrite(pfn);
    this.chunks[s >>> 8].set(src.subarray(srcOff, srcOff + len), (s & (FRAMES_PER_CHUNK - 1)) * PAGE_SIZE + off);
  }

  /** Fill `len` bytes at `off` of frame `pfn` with one byte value. */
  fillFrame(pfn: number, off: number, len: number, byte: number): void {
    if (byte === 0 && this.slot(pfn) < 0) return;
    const s = this.slotForWrite(pfn);
    const base = (s & (FRAMES_PER_CHUNK - 1)) * PAGE_SIZE + off;
    this.chunks[s >>> 8].fill(byte, base, base + len);
  }

  /** Zero `len` bytes from physical address `phys`, frame by frame (fillFrame's: a frame without bytes stays so). */
  zeroBytes(phys: number, len: number): void {
    for (const end = phys + len; phys < end; ) {
      const pfn = Math.floor(phys / PAGE_SIZE);
      const off = phys - pfn * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, end - phys);
      this.fillFrame(pfn, off, n, 0);
      phys += n;
    }
  }

  // Word accessors take a physical address (a direct-map address less PAGE_OFFSET) and are small on
  // purpose: SLUB's fast paths run through them, and V8 inlines them only while its budget lasts.

  /** The 32-bit little-endian word at a 4-aligned physical address. */
  readU32(phys: number): number {
    let d = phys - this.lastPhys;
    if (!(d >= 0 && d < 4096) && (d = this.find(phys)) < 0) return 0;
    return this.lastWords[this.lastBase + (d >>> 2)] >>> 0;
  }

  writeU32(phys: number, value: number): void {
    let d = phys - this.lastPhys;
    if (!(d >= 0 && d < 4096)) d = this.findForWrite(phys);
    this.lastWords[this.lastBase + (d >>> 2)] = value;
  }

  /**
   * An unsigned long at an aligned physical address: 8 bytes little-endian when `wide` (x86_64, exact
   * below 2^53, which kernel addresses are), else 4.
   */
  readLong(phys: number, wide: boolean): number {
    let d = phys - this.lastPhys;
    if (!(d >= 0 && d < 4096) && (d = this.find(phys)) < 0) return 0;
    const i = this.lastBase + (d >>> 2);
    return wide ? (this.lastWords[i] >>> 0) + (this.lastWords[i + 1] >>> 0) * 0x100000000 : this.lastWords[i] >>> 0;
  }

  writeLong(phys: number, value: number, wide: boolean): void {
    let d = phys - this.lastPhys;
    if (!(d >= 0 && d < 4096)) d = this.findForWrite(phys);
    const i = this.lastBase + (d >>> 2);
    const lo = value >>> 0;
    this.lastWords[i] = lo;
    if (wide) this.lastWords[i + 1] = (value - lo) / 0x100000000;
  }

  /** Make the frame holding `phys` the word accessors' current one: phys's offset in it, -1 if no bytes. */
  private find(phys: number): number {
    const pfn = Math.floor(phys / PAGE_SIZE);
    const s = this.slot(pfn);
    if (s < 0) return -1;
    this.remember(pfn, s);
    return phys - this.lastPhys;
  }

  /** The same for a write, giving the frame bytes if it has none; returns phys's offset in it. */
  private findForWrite(phys: number): number {
    const pfn = Math.floor(phys / PAGE_SIZE);
    this.remember(pfn, this.slotForWrite(pfn));
    return phys - this.lastPhys;
  }

  private remember(pfn: number, slot: number): void {
    this.lastPhys = pfn * PAGE_SIZE;
    this.lastWords = this.chunkWords[slot >>> 8];
    this.lastBase = (slot & (FRAMES_PER_CHUNK - 1)) << 10;
  }

  /** clear_page() on `n` frames: a zero frame holds no bytes. */
  zero(pfn: number, n: number): void {
    for (let i = 0; i < n; i++) {
      const p = pfn + i;
      const t = this.dir[p >>> DIR_SHIFT];
      if (t === undefined) continue;
      const s = t[p & DIR_MASK] - 1;
      if (s < 0) continue;
      if (p * PAGE_SIZE === this.lastPhys) this.lastPhys = -PAGE_SIZE;
      t[p & DIR_MASK] = 0;
      this.freeSlots.push(s);
      this.used--;
    }
  }

  /** Fill `n` frames with one byte (page poisoning). */
  fill(pfn: number, n: number, byte: number): void {
    for (let i = 0; i < n; i++) this.fillFrame(pfn + i, 0, PAGE_SIZE, byte);
  }

  /** The first offset in frame `pfn` whose byte differs from `byte`, or -1. */
  findNot(pfn: number, byte: number): number {
    return this.findNotIn(pfn, 0, PAGE_SIZE, byte);
  }

  /** The first offset in [off, off + len) of frame `pfn` whose byte differs from `byte`, or -1. */
  findNotIn(pfn: number, off: number, len: number, byte: number): number {
    const f = this.frame(pfn);
    if (!f) return byte === 0 ? -1 : off;
    for (let i = off; i < off + len; i++) if (f[i] !== byte) return i;
    return -1;
  }

  /** Move a frame's bytes to another frame (page migration). */
  copyFrame(from: number, to: number): void {
    const f = this.frame(from);
    if (f) this.writeFrame(to, 0, f, 0, PAGE_SIZE);
    else this.zero(to, 1);
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

  /** Walk [addr, addr + len) page by page: fn(pfn, offset in the page, position in the range, bytes). */
  forEachPage(addr: number, len: number, fn: (pfn: number, off: number, pos: number, n: number) => void): void {
    for (let pos = 0; pos < len; ) {
      const a = addr + pos;
      const off = this.offsetInPage(a);
      const n = Math.min(PAGE_SIZE - off, len - pos);
      fn(this.virtToPfn(a), off, pos, n);
      pos += n;
    }
  }
}
