/**
 * The free vmap-area tree (mm/vmalloc.c: free_vmap_area_root with subtree_max_size, is_within_this_va,
 * find_vmap_lowest_match, classify_va_fit_type, va_clip (adjust_va_to_fit_type before 6.5), va_alloc /
 * __alloc_vmap_area, merge_or_add_vmap_area_augment). Free kernel virtual address space is a set of disjoint
 * blocks [start, end), always merged with free neighbours, kept in a tree ordered by start and augmented with
 * the largest block size in each subtree, so the lowest block that fits is found in O(log n).
 *
 * Kernel facts this follows (read from mm/vmalloc.c, 6.x):
 * - __alloc_vmap_area() searches with `length = size + align - 1` (the worst-case alignment overhead) unless
 *   align <= PAGE_SIZE, or align > PAGE_SIZE and vend - vstart == size (adjust_search_size = false), where it
 *   searches with `length = size`.
 * - is_within_this_va(): nva = ALIGN(max(va_start, vstart), align); the block fits when nva + size <= va_end.
 * - find_vmap_lowest_match() descends left only while the left subtree's max >= length and vstart < va_start,
 *   and goes right only into subtrees whose max >= length. The caller then fails if nva + size > vend.
 * - va_clip() splits the block four ways (classify_va_fit_type): FL (whole block; the node is erased),
 *   LE (va_start += size), RE (va_end = nva), NE (the block keeps the right part, a new node the left part).
 * - __merge_or_add_vmap_area() merges a freed range with the next block (next.va_start == va_end) first, then
 *   with the previous one (prev.va_end == va_start), else inserts it; an overlap is a "vmalloc bug" WARN.
 *
 * Departures: the tree is an AVL tree over typed arrays, not a red-black tree. The kernel also tests, with
 * `size`, the nodes it passes through on its way down (including the root), so with an adjusted length it can
 * return a lower block smaller than `length` that happens to fit; which blocks it passes depends on the
 * rb-tree's shape. The model makes the result independent of the tree's shape: with an adjusted length only
 * blocks of at least `length` bytes are candidates, and the lowest one that fits wins. Without adjustment
 * (length == size) this is exactly the kernel's result, which is what the kernel's own
 * DEBUG_AUGMENT_LOWEST_MATCH_CHECK asserts (tree search == linear lowest match). The search also stops at
 * blocks starting at or beyond vend, which fail the vend check anyway.
 */

const PAGE_SIZE = 4096;

/** Index 0 is the null node: height 0, subtree max 0. */
const NIL = 0;

/** ALIGN(x, a) for a power of two: exact on doubles below 2^53. */
function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}

function isPowerOfTwo(x: number): boolean {
  return x >= 1 && Number.isInteger(x) && 2 ** Math.round(Math.log2(x)) === x;
}

function hex(x: number): string {
  return '0x' + x.toString(16);
}

export class FreeVmapTree {
  // Node pool, struct-of-arrays. Addresses need 48 bits, hence Float64Array.
  private vaStart: Float64Array;
  private vaEnd: Float64Array;
  /** subtree_max_size: the largest block size in the node's subtree. */
  private maxSize: Float64Array;
  /** Children; left also links the pool's free nodes. */
  private left: Int32Array;
  private right: Int32Array;
  private height: Uint8Array;
  private root: number;
  /** Head of recycled nodes, linked through left[]. */
  private spare: number;
  /** Next never-used pool index. */
  private used: number;
  private bytes: number;
  private count: number;

  /** A tree holding one free block [start, end) (empty when start == end). */
  constructor(start: number, end: number) {
    const cap = 64;
    this.vaStart = new Float64Array(cap);
    this.vaEnd = new Float64Array(cap);
    this.maxSize = new Float64Array(cap);
    this.left = new Int32Array(cap);
    this.right = new Int32Array(cap);
    this.height = new Uint8Array(cap);
    this.root = NIL;
    this.spare = NIL;
    this.used = 1;
    this.bytes = 0;
    this.count = 0;
    if (!(start <= end) || start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || start < 0) {
      throw new RangeError(`FreeVmapTree: bad range [${hex(start)}, ${hex(end)})`);
    }
    if (start < end) this.free(start, end);
  }

  /**
   * alloc_vmap_area()'s search and clip: the lowest-address block of `size` bytes, aligned to `align`
   * (a power of two; <= 4096 means no adjustment), lying inside [vstart, vend). Removes it from the free space
   * (splitting the free block it came from as va_clip does: whole fit, left edge, right edge, or middle) and
   * returns its start address, or -1 when nothing fits. Changes nothing on failure.
   * Throws a RangeError for a size that is not a positive multiple of 4096 or an align that is not a power of
   * two (alloc_vmap_area's -EINVAL cases; here they are model bugs).
   */
  alloc(size: number, align: number, vstart: number, vend: number): number {
    if (!(size > 0) || size % PAGE_SIZE !== 0 || !isPowerOfTwo(align)) {
      throw new RangeError(`FreeVmapTree.alloc: bad size ${size} or align ${align}`);
    }
    // __alloc_vmap_area: an exact [vstart, vend) window could never pass the adjusted search.
    const adjust = align > PAGE_SIZE && vend - vstart !== size;
    const length = adjust ? size + align - 1 : size;
    const n = this.lowestMatch(this.root, size, align, vstart, vend, length);
    if (n === NIL) return -1;
    const nva = alignUp(Math.max(this.vaStart[n], vstart), align);
    if (nva + size > vend) return -1;
    this.clip(n, nva, size);
    return nva;
  }

  /**
   * Give back [start, end) (merge_or_add_vmap_area_augment): merges with the free neighbours.
   * Throws an Error if the range overlaps free space (the kernel's "vmalloc bug" WARN; a model bug here),
   * or is empty or not page-aligned; the tree is unchanged then.
   */
  free(start: number, end: number): void {
    if (!(start < end) || start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || start < 0) {
      throw new RangeError(`FreeVmapTree.free: bad range [${hex(start)}, ${hex(end)})`);
    }
    // prev: last block starting below start; next: first block starting at or above it.
    let prev = NIL;
    let next = NIL;
    for (let n = this.root; n !== NIL; ) {
      if (this.vaStart[n] < start) {
        prev = n;
        n = this.right[n];
      } else {
        next = n;
        n = this.left[n];
      }
    }
    const clash = prev !== NIL && this.vaEnd[prev] > start ? prev : next !== NIL && this.vaStart[next] < end ? next : NIL;
    if (clash !== NIL) {
      throw new Error(`vmalloc bug: ${hex(start)}-${hex(end)} overlaps with ${hex(this.vaStart[clash])}-${hex(this.vaEnd[clash])}`);
    }
    const withNext = next !== NIL && this.vaStart[next] === end;
    const withPrev = prev !== NIL && this.vaEnd[prev] === start;
    // Work by keys from here: erasing a node may move another node's data.
    const prevStart = prev !== NIL ? this.vaStart[prev] : 0;
    const nextStart = next !== NIL ? this.vaStart[next] : 0;
    const nextEnd = next !== NIL ? this.vaEnd[next] : 0;
    if (withNext && withPrev) {
      this.root = this.erase(this.root, nextStart);
      this.resize(this.root, prevStart, prevStart, nextEnd);
      this.count--;
    } else if (withNext) {
      this.resize(this.root, nextStart, start, nextEnd);
    } else if (withPrev) {
      this.resize(this.root, prevStart, prevStart, end);
    } else {
      this.root = this.insert(this.root, start, end);
      this.count++;
    }
    this.bytes += end - start;
  }

  /** Total free bytes. */
  get freeBytes(): number {
    return this.bytes;
  }

  /** Number of free blocks. */
  get nrBlocks(): number {
    return this.count;
  }

  /** The largest free block in bytes (0 if none): the root's subtree_max_size. */
  largest(): number {
    return this.maxSize[this.root];
  }

  /** Free blocks in address order, as [start, end) pairs. */
  blocks(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    const stack: number[] = [];
    let n = this.root;
    while (n !== NIL || stack.length > 0) {
      while (n !== NIL) {
        stack.push(n);
        n = this.left[n];
      }
      n = stack.pop()!;
      out.push([this.vaStart[n], this.vaEnd[n]]);
      n = this.right[n];
    }
    return out;
  }

  /** Is `addr` inside some free block? (__find_vmap_area on the free tree.) */
  isFree(addr: number): boolean {
    let n = this.root;
    while (n !== NIL) {
      if (addr < this.vaStart[n]) n = this.left[n];
      else if (addr >= this.vaEnd[n]) n = this.right[n];
      else return true;
    }
    return false;
  }

  /**
   * Check the structure: key order, no overlap and no adjacency (adjacent blocks must have merged), AVL
   * balance and heights, subtree_max_size equal to a recount, counters and pool accounting equal to a recount.
   * Returns a list of error strings (empty = OK).
   */
  check(): string[] {
    const errors: string[] = [];
    let blocks = 0;
    let bytes = 0;
    let lastEnd = -1;
    const walk = (n: number, depth: number): { h: number; max: number } => {
      if (n === NIL) return { h: 0, max: 0 };
      if (depth > 100) {
        errors.push(`node ${n}: depth > 100 (cycle?)`);
        return { h: 0, max: 0 };
      }
      const l = walk(this.left[n], depth + 1);
      const s = this.vaStart[n];
      const e = this.vaEnd[n];
      const where = `[${hex(s)}, ${hex(e)})`;
      if (!(s < e)) errors.push(`${where}: empty or inverted block`);
      if (s % PAGE_SIZE !== 0 || e % PAGE_SIZE !== 0) errors.push(`${where}: not page-aligned`);
      if (lastEnd >= 0 && s < lastEnd) errors.push(`${where}: out of order or overlaps the block ending at ${hex(lastEnd)}`);
      else if (s === lastEnd) errors.push(`${where}: adjacent to the previous block, not merged`);
      lastEnd = e;
      blocks++;
      bytes += e - s;
      const r = walk(this.right[n], depth + 1);
      const h = 1 + Math.max(l.h, r.h);
      if (this.height[n] !== h) errors.push(`${where}: height ${this.height[n]} != recount ${h}`);
      if (Math.abs(l.h - r.h) > 1) errors.push(`${where}: unbalanced (${l.h} vs ${r.h})`);
      const max = Math.max(e - s, l.max, r.max);
      if (this.maxSize[n] !== max) errors.push(`${where}: subtree_max_size ${this.maxSize[n]} != recount ${max}`);
      return { h, max };
    };
    walk(this.root, 0);
    if (this.maxSize[NIL] !== 0 || this.height[NIL] !== 0) errors.push('null node has been written');
    if (blocks !== this.count) errors.push(`nrBlocks ${this.count} != recount ${blocks}`);
    if (bytes !== this.bytes) errors.push(`freeBytes ${this.bytes} != recount ${bytes}`);
    let spares = 0;
    for (let n = this.spare; n !== NIL && spares <= this.used; n = this.left[n]) spares++;
    if (blocks + spares !== this.used - 1) errors.push(`pool: ${blocks} nodes in the tree + ${spares} spare != ${this.used - 1} used`);
    return errors;
  }

  /**
   * find_vmap_lowest_match(): the lowest block of at least `length` bytes in which an aligned `size` fits
   * at or above vstart (see the header for how this differs from the kernel when length > size).
   */
  private lowestMatch(n: number, size: number, align: number, vstart: number, vend: number, length: number): number {
    if (n === NIL || this.maxSize[n] < length) return NIL;
    const s = this.vaStart[n];
    // Blocks left of a node starting at or below vstart all end before vstart.
    if (vstart < s) {
      const found = this.lowestMatch(this.left[n], size, align, vstart, vend, length);
      if (found !== NIL) return found;
    }
    // This block and everything right of it would fail the vend check.
    if (s >= vend) return NIL;
    const e = this.vaEnd[n];
    if (e - s >= length && alignUp(Math.max(s, vstart), align) + size <= e) return n; // is_within_this_va
    return this.lowestMatch(this.right[n], size, align, vstart, vend, length);
  }

  /** va_clip(): take [nva, nva + size) out of block n. */
  private clip(n: number, nva: number, size: number): void {
    const s = this.vaStart[n];
    const e = this.vaEnd[n];
    if (s === nva && e === nva + size) {
      this.root = this.erase(this.root, s); // FL_FIT_TYPE
      this.count--;
    } else if (s === nva) {
      this.resize(this.root, s, nva + size, e); // LE_FIT_TYPE
    } else if (e === nva + size) {
      this.resize(this.root, s, s, nva); // RE_FIT_TYPE
    } else {
      // NE_FIT_TYPE: the block keeps the right remainder, a new node takes the left one.
      this.resize(this.root, s, nva + size, e);
      this.root = this.insert(this.root, s, nva);
      this.count++;
    }
    this.bytes -= size;
  }

  /** Recompute height and subtree_max_size of n from its children. */
  private update(n: number): void {
    const l = this.left[n];
    const r = this.right[n];
    this.height[n] = 1 + Math.max(this.height[l], this.height[r]);
    this.maxSize[n] = Math.max(this.vaEnd[n] - this.vaStart[n], this.maxSize[l], this.maxSize[r]);
  }

  private rotateRight(n: number): number {
    const l = this.left[n];
    this.left[n] = this.right[l];
    this.right[l] = n;
    this.update(n);
    this.update(l);
    return l;
  }

  private rotateLeft(n: number): number {
    const r = this.right[n];
    this.right[n] = this.left[r];
    this.left[r] = n;
    this.update(n);
    this.update(r);
    return r;
  }

  /** Restore the AVL property at n (children already balanced); returns the subtree's new root. */
  private rebalance(n: number): number {
    this.update(n);
    const l = this.left[n];
    const r = this.right[n];
    const bf = this.height[l] - this.height[r];
    if (bf > 1) {
      if (this.height[this.left[l]] < this.height[this.right[l]]) this.left[n] = this.rotateLeft(l);
      return this.rotateRight(n);
    }
    if (bf < -1) {
      if (this.height[this.right[r]] < this.height[this.left[r]]) this.right[n] = this.rotateRight(r);
      return this.rotateLeft(n);
    }
    return n;
  }

  private insert(n: number, start: number, end: number): number {
    if (n === NIL) return this.newNode(start, end);
    // Read the child first, assign after: newNode() may grow (replace) the arrays.
    if (start < this.vaStart[n]) {
      const l = this.insert(this.left[n], start, end);
      this.left[n] = l;
    } else {
      const r = this.insert(this.right[n], start, end);
      this.right[n] = r;
    }
    return this.rebalance(n);
  }

  /** Remove the block starting at `key`; returns the subtree's new root. */
  private erase(n: number, key: number): number {
    if (n === NIL) throw new Error(`FreeVmapTree: no block at ${hex(key)}`);
    const s = this.vaStart[n];
    if (key < s) {
      this.left[n] = this.erase(this.left[n], key);
    } else if (key > s) {
      this.right[n] = this.erase(this.right[n], key);
    } else {
      const l = this.left[n];
      const r = this.right[n];
      if (l === NIL || r === NIL) {
        this.freeNode(n);
        return l === NIL ? r : l;
      }
      // Two children: n takes its successor's block, and the successor's node goes.
      let m = r;
      while (this.left[m] !== NIL) m = this.left[m];
      this.vaStart[n] = this.vaStart[m];
      this.vaEnd[n] = this.vaEnd[m];
      this.right[n] = this.erase(r, this.vaStart[m]);
    }
    return this.rebalance(n);
  }

  /**
   * Change the block starting at `key` to [start, end) in place (augment_tree_propagate_from after a clip
   * or a merge). The new range must keep the block between its neighbours, so the order holds.
   */
  private resize(n: number, key: number, start: number, end: number): void {
    if (n === NIL) throw new Error(`FreeVmapTree: no block at ${hex(key)}`);
    const s = this.vaStart[n];
    if (key < s) this.resize(this.left[n], key, start, end);
    else if (key > s) this.resize(this.right[n], key, start, end);
    else {
      this.vaStart[n] = start;
      this.vaEnd[n] = end;
    }
    this.update(n);
  }

  private newNode(start: number, end: number): number {
    let n = this.spare;
    if (n !== NIL) {
      this.spare = this.left[n];
    } else {
      if (this.used === this.vaStart.length) this.grow();
      n = this.used++;
    }
    this.vaStart[n] = start;
    this.vaEnd[n] = end;
    this.maxSize[n] = end - start;
    this.left[n] = NIL;
    this.right[n] = NIL;
    this.height[n] = 1;
    return n;
  }

  private freeNode(n: number): void {
    this.right[n] = NIL;
    this.left[n] = this.spare;
    this.spare = n;
  }

  private grow(): void {
    const cap = this.vaStart.length * 2;
    const f64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.vaStart = f64(this.vaStart);
    this.vaEnd = f64(this.vaEnd);
    this.maxSize = f64(this.maxSize);
    this.left = i32(this.left);
    this.right = i32(this.right);
    const h = new Uint8Array(cap);
    h.set(this.height);
    this.height = h;
  }
}
