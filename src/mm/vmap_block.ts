/**
 * vm_map_ram() and the per-CPU vmap blocks (mm/vmalloc.c: vm_map_ram, vm_unmap_ram, vb_alloc, vb_free,
 * new_vmap_block, free_vmap_block, purge_fragmented_block(s), _vm_unmap_aliases).
 *
 * Small mappings (at most VMAP_MAX_ALLOC = BITS_PER_LONG pages) come from a per-CPU block of VMAP_BBMAP_BITS
 * pages, carved by bumping in power-of-two runs; there is no guard page between them. Unmapping clears the
 * PTEs but not the TLB and marks the run dirty; the block's space is never reused. A block whose every page
 * is dirty is freed (its area lazily, like any vmap area); a block with nothing in use and less than a
 * quarter free is purged by vm_unmap_aliases() or when the KVA allocator runs dry. Larger mappings get an
 * area of their own, also without a guard page. This is what XFS's buffer cache uses (seeds/003).
 *
 * Simplifications: VMAP_BBMAP_BITS is computed with the model's CPU count as NR_CPUS; the page array a
 * caller passes is its own, not read from memory.
 */
import { GFP } from '../gfp.js';
import { NO_PAGE, PAGE_SIZE } from './page.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import type { SlabCommon } from './slab_common.js';
import type { Tlb } from './tlb.js';
import { GFP_RECLAIM_MASK, VMAP_BLOCK, VMAP_RAM, type Vmalloc, type VmapArea } from './vmalloc.js';
import type { KernelPgtable } from './pgtable.js';

export interface VmapBlock {
  va: VmapArea;
  free: number;
  dirty: number;
  dirtyMin: number;
  dirtyMax: number;
  /** used_map: the pages handed out and not yet unmapped. */
  used: Uint8Array;
  cpu: number;
  /** The kmalloc'd struct vmap_block. */
  obj: number;
  onFreeList: boolean;
}

export interface VmapBlockDeps {
  vmalloc: Vmalloc;
  pgtable: KernelPgtable;
  slab: SlabCommon;
  sched: Sched;
  printk: Printk;
  tlb: Tlb;
  bitsPerLong: 32 | 64;
  nrCpus: number;
  formatAddr: (addr: number) => string;
}

export class VmapBlockStats {
  blocksAllocated = 0;
  blocksFreed = 0;
  blocksPurged = 0;
  ramMaps = 0;
  ramUnmaps = 0;
  failures = 0;
}

export class VmapBlocks {
  /** VMAP_MAX_ALLOC, VMAP_BBMAP_BITS, VMAP_BLOCK_SIZE, VMAP_PURGE_THRESHOLD. */
  readonly maxAlloc: number;
  readonly bbmapBits: number;
  readonly blockSize: number;
  readonly purgeThreshold: number;
  readonly stats = new VmapBlockStats();
  /** vmap_block_queue[cpu].free, in list order. */
  private readonly freeLists: VmapBlock[][];
  /** vmap_blocks: every block, by addr_to_vb_idx(). */
  private readonly blocks = new Map<number, VmapBlock>();
  /** Pages each live vm_map_ram mapping maps, by address (for the invariants). */
  private readonly mappings = new Map<number, number[]>();
  private readonly d: VmapBlockDeps;

  constructor(d: VmapBlockDeps) {
    this.d = d;
    this.maxAlloc = d.bitsPerLong;
    // VMALLOC_SPACE is a constant: 128 MiB on 32-bit, 128 GiB on 64-bit (not the real size of the area).
    const vmallocPages = (d.bitsPerLong === 32 ? 128 * 2 ** 20 : 128 * 2 ** 30) / PAGE_SIZE;
    const cpusPow2 = 2 ** Math.ceil(Math.log2(d.nrCpus));
    this.bbmapBits = Math.min(1024, Math.max(2 * this.maxAlloc, Math.floor(vmallocPages / cpusPow2 / 16)));
    this.blockSize = this.bbmapBits * PAGE_SIZE;
    this.purgeThreshold = this.bbmapBits / 4;
    this.freeLists = Array.from({ length: d.nrCpus }, () => []);
    d.vmalloc.purgeFragmentedBlocks = () => this.purgeFragmentedBlocksAllcpus();
  }

  /** vm_map_ram(): map `pfns` at a new address, or 0. Metadata and page tables are GFP_KERNEL (callers scope them). */
  vmMapRam(pfns: readonly number[]): number {
    const v = this.d.vmalloc;
    v.runDeferred();
    const count = pfns.length;
    if (count === 0) return 0;
    const size = count * PAGE_SIZE;
    let addr: number;
    if (count <= this.maxAlloc) {
      addr = this.vbAlloc(size, GFP.KERNEL);
    } else {
      const va = v.allocVmapArea(size, PAGE_SIZE, v.start, v.end, GFP.KERNEL, VMAP_RAM);
      addr = va ? va.start : 0;
    }
    if (addr === 0) {
      this.stats.failures++;
      return 0;
    }
    this.mappings.set(addr, [...pfns]);
    if (v.mapPagesScoped(addr, pfns, GFP.KERNEL) < 0) {
      this.vmUnmapRam(addr, count);
      this.stats.failures++;
      return 0;
    }
    this.stats.ramMaps++;
    return addr;
  }

  /** vm_unmap_ram(): `count` must be what vm_map_ram was given. */
  vmUnmapRam(addr: number, count: number): void {
    const v = this.d.vmalloc;
    if (addr === 0 || !v.isVmallocAddr(addr) || addr % PAGE_SIZE !== 0 || !this.mappings.has(addr) || this.mappings.get(addr)!.length !== count) {
      const why = !this.mappings.has(addr) ? 'not a vm_map_ram address' : `count ${count}, mapped with ${this.mappings.get(addr)!.length}`;
      this.d.printk.bug('vm_unmap_ram', [`kernel BUG at mm/vmalloc.c: vm_unmap_ram(${this.d.formatAddr(addr)}, ${count}): ${why}`]);
      return;
    }
    this.mappings.delete(addr);
    this.stats.ramUnmaps++;
    const size = count * PAGE_SIZE;
    if (count <= this.maxAlloc) {
      this.vbFree(addr, size);
      return;
    }
    const va = v.findVmapArea(addr)!;
    v.freeUnmapVmapArea(va);
  }

  /** vm_unmap_aliases(): purge what can be purged and flush the dirty ranges of every block. */
  vmUnmapAliases(): void {
    let start = Infinity;
    let end = -Infinity;
    let flush = false;
    const purge: VmapBlock[] = [];
    for (const vb of [...this.blocks.values()]) {
      if (this.purgeFragmentedBlock(vb, purge, false)) continue;
      if (vb.dirtyMax && vb.dirty !== this.bbmapBits) {
        start = Math.min(start, vb.va.start + vb.dirtyMin * PAGE_SIZE);
        end = Math.max(end, vb.va.start + vb.dirtyMax * PAGE_SIZE);
        vb.dirtyMin = this.bbmapBits;
        vb.dirtyMax = 0;
        flush = true;
      }
    }
    this.freePurgedBlocks(purge);
    if (!this.d.vmalloc.purgeVmapAreaLazy(start, end) && flush) {
      this.d.tlb.flushKernelRange(Math.floor(start / PAGE_SIZE), Math.ceil(end / PAGE_SIZE));
    }
  }

  /** Blocks now, and pages mapped through vm_map_ram (for the invariants and reports). */
  get nrBlocks(): number {
    return this.blocks.size;
  }

  mappedPages(): number {
    let n = 0;
    for (const p of this.mappings.values()) n += p.length;
    return n;
  }

  /** Check every block's counters against its bitmap, and every mapping against the page tables. */
  checkInvariants(errs: string[]): void {
    for (const vb of this.blocks.values()) {
      let used = 0;
      for (let i = 0; i < this.bbmapBits; i++) used += vb.used[i];
      if (vb.free + vb.dirty + used !== this.bbmapBits) errs.push(`vmap block ${this.d.formatAddr(vb.va.start)}: free ${vb.free} + dirty ${vb.dirty} + used ${used} != ${this.bbmapBits}`);
      if (vb.onFreeList !== this.freeLists[vb.cpu].includes(vb)) errs.push(`vmap block ${this.d.formatAddr(vb.va.start)}: free-list membership wrong`);
      if (this.d.vmalloc.findVmapArea(vb.va.start) !== vb.va) errs.push(`vmap block ${this.d.formatAddr(vb.va.start)}: its area is not busy`);
    }
    for (const [addr, pfns] of this.mappings) {
      pfns.forEach((pfn, i) => {
        const got = this.d.pgtable.lookup(addr + i * PAGE_SIZE);
        if (got !== pfn) errs.push(`vm_map_ram ${this.d.formatAddr(addr + i * PAGE_SIZE)} maps pfn ${got === NO_PAGE ? 'none' : got}, expected ${pfn}`);
      });
    }
  }

  // --- the blocks ----------------------------------------------------------------------------------------

  /** vb_alloc(): bump-allocate a power-of-two run from the first block on this CPU's list with room. */
  private vbAlloc(size: number, gfp: number): number {
    const order = Math.ceil(Math.log2(size / PAGE_SIZE));
    const cpu = this.d.sched.current.cpu;
    const list = this.freeLists[cpu];
    for (const vb of list) {
      if (vb.free < 1 << order) continue;
      const off = this.bbmapBits - vb.free;
      vb.free -= 1 << order;
      vb.used.fill(1, off, off + (1 << order));
      if (vb.free === 0) this.unlinkFree(vb);
      return vb.va.start + off * PAGE_SIZE;
    }
    return this.newVmapBlock(order, gfp, cpu);
  }

  /** new_vmap_block(): a block-aligned area of VMAP_BLOCK_SIZE, the first run taken at once. */
  private newVmapBlock(order: number, gfp: number, cpu: number): number {
    const v = this.d.vmalloc;
    // sizeof(struct vmap_block): 240 bytes on x86_64 (kmalloc-256), 180 on i386 (kmalloc-192).
    const obj = this.d.slab.kmalloc(this.d.bitsPerLong === 64 ? 240 : 180, gfp & GFP_RECLAIM_MASK);
    if (obj === 0) return 0;
    const va = v.allocVmapArea(this.blockSize, this.blockSize, v.start, v.end, gfp, VMAP_RAM | VMAP_BLOCK);
    if (!va) {
      this.d.slab.kfree(obj);
      return 0;
    }
    const vb: VmapBlock = {
      va, free: this.bbmapBits - (1 << order), dirty: 0, dirtyMin: this.bbmapBits, dirtyMax: 0,
      used: new Uint8Array(this.bbmapBits), cpu, obj, onFreeList: true,
    };
    vb.used.fill(1, 0, 1 << order);
    this.blocks.set(Math.floor(va.start / this.blockSize), vb);
    this.freeLists[cpu].push(vb);
    this.stats.blocksAllocated++;
    return va.start;
  }

  /** vb_free(): unmap the run (no TLB flush), count it dirty; free the block when all of it is dirty. */
  private vbFree(addr: number, size: number): void {
    const order = Math.ceil(Math.log2(size / PAGE_SIZE));
    const vb = this.blocks.get(Math.floor(addr / this.blockSize))!;
    const off = (addr - vb.va.start) / PAGE_SIZE;
    vb.used.fill(0, off, off + (1 << order));
    this.d.pgtable.unmapRange(addr, size);
    vb.dirtyMin = Math.min(vb.dirtyMin, off);
    vb.dirtyMax = Math.max(vb.dirtyMax, off + (1 << order));
    vb.dirty += 1 << order;
    if (vb.dirty === this.bbmapBits) this.freeVmapBlock(vb);
  }

  /** free_vmap_block(): the block's area goes lazily; the struct now. */
  private freeVmapBlock(vb: VmapBlock): void {
    this.blocks.delete(Math.floor(vb.va.start / this.blockSize));
    if (vb.onFreeList) this.unlinkFree(vb);
    this.d.vmalloc.freeVmapAreaNoflush(vb.va);
    this.d.slab.kfree(vb.obj);
    this.stats.blocksFreed++;
  }

  /**
   * purge_fragmented_block(): a block with nothing in use and not all dirty is purged when forced or when
   * less than a quarter of it is still free.
   */
  private purgeFragmentedBlock(vb: VmapBlock, purge: VmapBlock[], force: boolean): boolean {
    if (!(vb.free + vb.dirty === this.bbmapBits && vb.dirty !== this.bbmapBits)) return false;
    if (!(force || vb.free < this.purgeThreshold)) return false;
    vb.free = 0;
    vb.dirty = this.bbmapBits;
    vb.dirtyMin = 0;
    vb.dirtyMax = this.bbmapBits;
    if (vb.onFreeList) this.unlinkFree(vb);
    purge.push(vb);
    this.stats.blocksPurged++;
    return true;
  }

  /** purge_fragmented_blocks_allcpus(): forced, over each CPU's free list. */
  private purgeFragmentedBlocksAllcpus(): void {
    const purge: VmapBlock[] = [];
    for (const list of this.freeLists) for (const vb of [...list]) this.purgeFragmentedBlock(vb, purge, true);
    this.freePurgedBlocks(purge);
  }

  private freePurgedBlocks(purge: VmapBlock[]): void {
    for (const vb of purge) this.freeVmapBlock(vb);
  }

  private unlinkFree(vb: VmapBlock): void {
    const list = this.freeLists[vb.cpu];
    list.splice(list.indexOf(vb), 1);
    vb.onFreeList = false;
  }
}
