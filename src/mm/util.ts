/**
 * kvmalloc and friends: kmalloc first, vmalloc when that fails (mm/util.c kvmalloc_node from 4.12,
 * __kvmalloc_node_noprof from 6.10; moved with kvfree/kvrealloc to mm/slub.c in 6.15). Entry points:
 * kvmalloc, kvzalloc, kvmalloc_array, kvcalloc, kvfree, kvfree_sensitive, kvrealloc (and the vrealloc it
 * hands vmalloc addresses to).
 *
 * What changed, and when (the steps `policy.kvmalloc` selects; 'kernel' follows `kernel` exactly):
 * - kmalloc_gfp_adjust(), only for size > PAGE_SIZE: add __GFP_NOWARN; unless __GFP_RETRY_MAYFAIL add
 *   __GFP_NORETRY (4.12..6.15; 4.12 itself, with __GFP_REPEAT, kept the retries only above the costly
 *   order) or clear __GFP_DIRECT_RECLAIM (6.16, 46459154f997); clear __GFP_NOFAIL (5.17, which made the
 *   vmalloc fallback the NOFAIL one). A request of at most a page gets the caller's gfp and never falls back.
 * - Which gfp may fall back: a gfp without all of GFP_KERNEL only WARN_ON_ONCE'd (4.12..4.17), then went
 *   to kmalloc alone with its gfp unadjusted (4.18, ce91f6ee5b3b); from 5.17 GFP_NOFS/GFP_NOIO fall back
 *   (vmalloc applies the scope). Non-blocking gfp then reached vmalloc and its sleep checks (5.17..5.19)
 *   until 6.0 (30c19366636f) refused them; 6.19 (c6307674ed82, Rezki's non-blocking vmalloc series)
 *   lets GFP_NOWAIT/GFP_ATOMIC fall back, without VM_ALLOW_HUGE_VMAP.
 * - Sizes above INT_MAX: NULL with WARN_ON_ONCE (5.14, 7661809d493b), silent under __GFP_NOWARN (the model
 *   takes this from 5.17); before 5.14 they went to vmalloc, which refuses more than RAM.
 * The policy steps stand for the eras config.ts names: '4.12' runs the 4.18 code (GFP_KERNEL-only fallback),
 * '5.17' the 6.0 code (NOFS/NOIO fall back, non-blocking refused), '6.16' and '6.19' their own. Before 4.12
 * there was no kvmalloc; such kernels run the 4.12 code.
 * Departures: no NUMA node argument, no kmalloc buckets or alignment (kvmalloc_node_align); no huge vmalloc
 * mappings (VM_ALLOW_HUGE_VMAP is passed and ignored); kvrealloc is the 6.12 one (see there).
 */
import { GFP } from '../gfp.js';
import { PAGE_ALLOC_COSTLY_ORDER, PAGE_SIZE } from './page.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import { ZERO_SIZE_PTR, type SlabCommon } from './slab_common.js';
import type { Vmalloc } from './vmalloc.js';

/** VM_ALLOW_HUGE_VMAP (include/linux/vmalloc.h): kvmalloc's areas may use huge mappings (not modelled). */
export const VM_ALLOW_HUGE_VMAP = 0x400;
const INT_MAX = 0x7fffffff;

export type KvmallocPolicy = '4.12' | '5.17' | '6.16' | '6.19' | 'kernel';

/** The version whose code each policy step runs (see the header). */
const POLICY_VERSION: Record<Exclude<KvmallocPolicy, 'kernel'>, number> = { '4.12': 4018, '5.17': 6000, '6.16': 6016, '6.19': 6019 };

/** What kvmalloc did, for reports. */
export class KvmallocStats {
  /** kvmalloc() calls (kvzalloc, kvmalloc_array, kvcalloc and kvrealloc's fallback included). */
  calls = 0;
  /** Served by kmalloc. */
  kmalloc = 0;
  /** kmalloc failed and the request went on to vmalloc. */
  fellBack = 0;
  /** ...and vmalloc served it. */
  vmalloc = 0;
  /** Returned NULL, for whatever reason. */
  failed = 0;
  /** kmalloc failed above a page and the gfp kept the request from vmalloc (non-blocking, !GFP_KERNEL). */
  refusedGfp = 0;
  /** Refused for size > INT_MAX. */
  tooLarge = 0;
}

export interface KvmallocDeps {
  slab: SlabCommon;
  vmalloc: Vmalloc;
  sched: Sched;
  printk: Printk;
  /** kernelVersionCode(cfg.kernel). */
  kernel: number;
  policy: KvmallocPolicy;
  bitsPerLong: 32 | 64;
  /** memcpy/memset through kernel virtual addresses (the machine's TLB-walking accessors). */
  read: (addr: number, len: number) => Uint8Array;
  write: (addr: number, bytes: Uint8Array) => void;
  formatAddr: (addr: number) => string;
}

export class Kvmalloc {
  readonly stats = new KvmallocStats();
  /** The kernel version whose kvmalloc runs (major * 1000 + minor). */
  readonly version: number;
  private readonly d: KvmallocDeps;
  private readonly sizeMax: bigint;
  private readonly warned = new Set<string>();

  constructor(d: KvmallocDeps) {
    this.d = d;
    this.version = d.policy === 'kernel' ? Math.max(4012, d.kernel) : POLICY_VERSION[d.policy];
    this.sizeMax = (1n << BigInt(d.bitsPerLong)) - 1n;
    // The same series taught vmalloc non-blocking gfp; a 6.19 kvmalloc on an older `kernel` needs it too.
    if (this.version >= 6019) d.vmalloc.nonBlockingGfp = true;
  }

  /** kmalloc_gfp_adjust(): what the kmalloc attempt is allowed (see the header for the steps). */
  kmallocGfpAdjust(gfp: number, size: number): number {
    if (size <= PAGE_SIZE) return gfp;
    const v = this.version;
    gfp |= GFP.NOWARN;
    if (v >= 6016) {
      // Fail fast and leave the work to kswapd/kcompactd, unless the caller prefers contiguous memory.
      if (!(gfp & GFP.RETRY_MAYFAIL)) gfp &= ~GFP.DIRECT_RECLAIM;
    } else if (v < 4013) {
      // 4.12's __GFP_REPEAT (the bit that became __GFP_RETRY_MAYFAIL) kept the retries only above the costly order.
      if (!(gfp & GFP.RETRY_MAYFAIL) || size <= PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER) gfp |= GFP.NORETRY;
    } else if (!(gfp & GFP.RETRY_MAYFAIL)) {
      gfp |= GFP.NORETRY;
    }
    // The vmalloc fallback implements __GFP_NOFAIL (5.17); before, kvmalloc did not support it.
    if (v >= 5017) gfp &= ~GFP.NOFAIL;
    return gfp;
  }

  /** kvmalloc_node() / __kvmalloc_node_noprof(): an address (direct map or vmalloc), or 0. */
  kvmalloc(size: number, gfp: number, caller = '0x0'): number {
    const st = this.stats;
    const v = this.version;
    st.calls++;
    const gfpKernel = (gfp & GFP.KERNEL) === GFP.KERNEL;
    if (!gfpKernel && v < 5017) {
      if (v >= 4018) {
        // ce91f6ee5b3b: vmalloc's page tables are GFP_KERNEL whatever the caller says, so no fallback at all.
        const p = this.d.slab.kmalloc(size, gfp, caller);
        if (p !== 0) st.kmalloc++;
        else this.fail(size > PAGE_SIZE ? 'gfp' : '');
        return p;
      }
      this.warnOnce('gfp', 'WARN_ON_ONCE((flags & GFP_KERNEL) != GFP_KERNEL)');
    }
    const p = this.d.slab.kmalloc(size, this.kmallocGfpAdjust(gfp, size), caller);
    if (p !== 0) {
      st.kmalloc++;
      return p;
    }
    // No sense in vmalloc for sub-page requests.
    if (size <= PAGE_SIZE) return this.fail('');
    const blocking = (gfp & GFP.DIRECT_RECLAIM) !== 0;
    // 6.0 (30c19366636f) .. 6.18: "non-sleeping allocations are not supported by vmalloc".
    if (!blocking && v >= 6000 && v < 6019) return this.fail('gfp');
    if (size > INT_MAX && v >= 5014) {
      if (v < 5017 || !(gfp & GFP.NOWARN)) this.warnOnce('size', v < 5017 ? 'WARN_ON_ONCE(size > INT_MAX)' : 'WARN_ON_ONCE(!(flags & __GFP_NOWARN))');
      return this.fail('size');
    }
    st.fellBack++;
    // The huge-mapping path may sleep: 6.19 leaves VM_ALLOW_HUGE_VMAP out for non-blocking callers.
    const vmFlags = blocking || v < 6019 ? VM_ALLOW_HUGE_VMAP : 0;
    const vm = this.d.vmalloc;
    const addr = vm.vmallocNodeRange(size, 1, vm.start, vm.end, gfp, vmFlags, caller);
    if (addr !== 0) st.vmalloc++;
    else st.failed++;
    return addr;
  }

  /** kvzalloc(). */
  kvzalloc(size: number, gfp: number, caller?: string): number {
    return this.kvmalloc(size, gfp | GFP.ZERO, caller);
  }

  /** kvmalloc_array(): NULL, without a warning, if n * size overflows size_t. */
  kvmallocArray(n: number, size: number, gfp: number, caller?: string): number {
    if (n < 0 || size < 0 || BigInt(Math.trunc(n)) * BigInt(Math.trunc(size)) > this.sizeMax) return 0;
    return this.kvmalloc(n * size, gfp, caller);
  }

  /** kvcalloc(). */
  kvcalloc(n: number, size: number, gfp: number, caller?: string): number {
    return this.kvmallocArray(n, size, gfp | GFP.ZERO, caller);
  }

  /** kvfree(): is_vmalloc_addr(p) ? vfree(p) : kfree(p). vfree defers itself in interrupt context. */
  kvfree(addr: number, caller?: string): void {
    if (this.d.vmalloc.isVmallocAddr(addr)) this.d.vmalloc.vfree(addr);
    else this.d.slab.kfree(addr, caller);
  }

  /** kvfree_sensitive(): memzero_explicit() the first `len` bytes, then kvfree(). */
  kvfreeSensitive(addr: number, len: number): void {
    if (addr <= ZERO_SIZE_PTR) return;
    if (len > 0) this.d.write(addr, new Uint8Array(len));
    this.kvfree(addr);
  }

  /**
   * kvrealloc(p, size, gfp), the 6.12 signature (Danilo Krummrich's "mm: kvmalloc: align kvrealloc() with
   * krealloc()"): a vmalloc address goes to vrealloc(); otherwise krealloc() with kmalloc_gfp_adjust(), and
   * if that fails kvmalloc() and a copy of ksize(p) bytes. Before 6.12 it was kvrealloc(p, oldsize, newsize,
   * gfp): keep p if oldsize >= newsize, else kvmalloc, copy oldsize bytes, kvfree. Size 0 frees p.
   */
  kvrealloc(p: number, size: number, gfp: number, caller?: string): number {
    if (this.d.vmalloc.isVmallocAddr(p)) return this.vrealloc(p, size, gfp, caller);
    const n = this.d.slab.krealloc(p, size, this.kmallocGfpAdjust(gfp, size), caller);
    if (n !== 0) return n;
    const m = this.kvmalloc(size, gfp, caller);
    if (m === 0) return 0;
    // p is not a vmalloc address here; krealloc left it as it was.
    const old = this.d.slab.ksize(p);
    if (old > 0) this.d.write(m, this.d.read(p, old));
    this.d.slab.kfree(p, caller);
    return m;
  }

  /**
   * vrealloc() as of 6.12: shrinking or growing within the area keeps it (zeroing the tail past `size` for
   * __GFP_ZERO); beyond it, __vmalloc() a new area, copy the old area's bytes, vfree() the old one.
   */
  private vrealloc(p: number, size: number, gfp: number, caller = '0x0'): number {
    const vm = this.d.vmalloc;
    if (size === 0) {
      vm.vfree(p);
      return 0;
    }
    const area = vm.findVmapArea(p)?.vm;
    if (!area || area.addr !== p) {
      const t = this.d.sched.current;
      this.d.printk.warn('WARNING', [
        `WARNING: CPU: ${t.cpu} PID: ${t.pid} at mm/vmalloc.c:vrealloc_noprof`,
        `Trying to vrealloc() nonexistent vm area (${this.d.formatAddr(p)})`,
      ]);
      return 0;
    }
    const oldSize = vm.vmAreaSize(area);
    if (size <= oldSize) {
      if (gfp & GFP.ZERO) this.d.write(p + size, new Uint8Array(oldSize - size));
      return p;
    }
    const n = vm.vmallocNodeRange(size, 1, vm.start, vm.end, gfp, 0, caller);
    if (n === 0) return 0;
    this.d.write(n, this.d.read(p, oldSize));
    vm.vfree(p);
    return n;
  }

  /** Count a NULL return: `why` is 'gfp' (fallback refused by the gfp), 'size' (> INT_MAX) or ''. */
  private fail(why: '' | 'gfp' | 'size'): number {
    const st = this.stats;
    st.failed++;
    if (why === 'gfp') st.refusedGfp++;
    else if (why === 'size') st.tooLarge++;
    return 0;
  }

  /** WARN_ON_ONCE() in kvmalloc, at the file and function of the version that runs. */
  private warnOnce(key: string, cond: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    const v = this.version;
    const at = v >= 6015 ? 'mm/slub.c:__kvmalloc_node_noprof' : v >= 6010 ? 'mm/util.c:__kvmalloc_node_noprof' : 'mm/util.c:kvmalloc_node';
    const t = this.d.sched.current;
    this.d.printk.warn('WARNING', [`WARNING: CPU: ${t.cpu} PID: ${t.pid} at ${at}: ${cond}`]);
  }
}
