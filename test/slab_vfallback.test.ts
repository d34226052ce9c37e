/**
 * SLAB_VFALLBACK caches (Lameter's V1 series, seeds 000/001; src/mm/slub.ts, src/mm/slab_common.ts): under
 * policy fallback 'vcompound' a flagged cache (the series flagged the dentry cache and buffer_heads) takes a
 * large slab order, and on a fragmented machine its slabs are virtual compound pages at vmalloc addresses;
 * objects there are read, written, freed (kmem_cache_free and kfree), checked by slub_debug and found by
 * virt_to_head_page() like any other; every page and vmalloc area comes back. Under 'none' the flag changes
 * nothing; under 'always' every slab of such a cache is virtual.
 */
import { describe, expect, it, vi } from 'vitest';
import { GFP, KernelReport, Machine, NO_PAGE, type MachineConfig } from '../src/index.js';
import { PAGE_SIZE, PGTY_MASK, PGTY_SLAB } from '../src/mm/page.js';
import {
  SLAB_HWCACHE_ALIGN, SLAB_RECLAIM_ACCOUNT, SLAB_VFALLBACK, VFALLBACK_MAX_ORDER, VFALLBACK_MIN_OBJECTS, calculateVfallbackOrder,
  type KmemCache,
} from '../src/mm/slub.js';

type Fallback = 'none' | 'vcompound' | 'always';

/** 192 bytes like struct dentry, reclaimable and cache-line aligned like the dentry cache. */
const DENTRY = { size: 192, flags: SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN };
/** 104 bytes like struct buffer_head, reclaimable like bh_cachep. */
const BH = { size: 104, flags: SLAB_RECLAIM_ACCOUNT };

/**
 * A small machine whose free memory is all isolated order-0 pages: no order-1 block anywhere (the same
 * construction as test/vcompound.test.ts). The caller's caches are created first, while memory is whole.
 */
function fragmented(fallback: Fallback, extra: Partial<MachineConfig> = {}, before?: (m: Machine) => void): Machine {
  const m = Machine.boot({ mem: '32M', strict: false, ...extra, policy: { fallback, vmallocPgtableFree: 'purge', ...extra.policy } });
  before?.(m);
  const held: number[] = [];
  for (;;) {
    const p = m.allocPages(GFP.KERNEL | GFP.MEMALLOC | GFP.NOWARN | GFP.NORETRY, 0);
    if (p === NO_PAGE) break;
    held.push(p);
  }
  // Give back every even page: no free page has a free buddy.
  for (const p of held) if (p % 2 === 0) m.freePages(p, 0);
  m.drainAllPages();
  return m;
}

function freePages(m: Machine): number {
  return m.freePagesTotal() + m.pcpPagesTotal();
}

/** Shrink every cache (empty slabs go back), purge the lazily freed vmap areas, drain the per-CPU lists. */
function settle(m: Machine): void {
  for (const c of m.kmemCaches()) m.kmemCacheShrink(c);
  m.purgeVmapAreaLazy();
  for (const c of m.kmemCaches()) m.kmemCacheShrink(c);
  m.drainAllPages();
}

/** The objects whose bytes are not pattern(objectSize, their index). */
function mismatches(m: Machine, objs: Map<KmemCache, number[]>): string[] {
  const out: string[] = [];
  for (const [c, list] of objs) {
    list.forEach((p, i) => {
      const want = pattern(c.objectSize, i);
      const got = m.read(p, c.objectSize);
      if (got.some((b, k) => b !== want[k])) out.push(`${c.name}[${i}] 0x${p.toString(16)}`);
    });
  }
  return out;
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13 + 3) & 0xff);

/** dmesg lines without timestamps, and with addresses and numbers that differ between machines masked. */
function reportShape(m: Machine): string[] {
  return m.dmesg().split('\n').map((l) => l.replace(/^\[[ \d.]+\] /, '').replace(/0x[0-9a-f]+/g, 'ADDR').replace(/@offset=\d+/g, '@offset=N').replace(/age=\d+/, 'age=N'))
    .filter((l) => /BUG|Redzone|Poison|FIX|Object already free/.test(l));
}

describe('SLAB_VFALLBACK: the slab order', () => {
  it('a flagged cache takes the large order under vcompound and always; /proc/slabinfo shows it; min order is unchanged', () => {
    for (const fallback of ['vcompound', 'always'] as const) {
      const m = Machine.boot({ mem: '64M', policy: { fallback } });
      const dentry = m.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!;
      const bh = m.kmemCacheCreate('buffer_head', BH.size, { flags: BH.flags | SLAB_VFALLBACK })!;
      const plainDentry = m.kmemCacheCreate('plain_dentry', DENTRY.size, { flags: DENTRY.flags })!;
      const plainBh = m.kmemCacheCreate('plain_bh', BH.size, { flags: BH.flags })!;
      // The model reading: the smallest order from 256 objects up, wasting at most 1/16 of the slab.
      expect(dentry.order).toBe(4); // 64 KiB: 341 dentries (65536 - 341 * 192 = 64 bytes left)
      expect(dentry.objects).toBe(341);
      expect(bh.order).toBe(3); // 32 KiB: 315 buffer heads (8 bytes left)
      expect(bh.objects).toBe(315);
      expect(dentry.order).toBeGreaterThan(plainDentry.order);
      expect(bh.order).toBeGreaterThan(plainBh.order);
      for (const [c, plain] of [[dentry, plainDentry], [bh, plainBh]] as const) {
        expect(c.objects).toBeGreaterThanOrEqual(VFALLBACK_MIN_OBJECTS);
        expect(c.minOrder).toBe(plain.minOrder);
        expect(c.minObjects).toBe(plain.minObjects);
        expect(c.size).toBe(plain.size);
        expect(c.allocflags & (GFP.VFALLBACK | GFP.COMP)).toBe(GFP.VFALLBACK | GFP.COMP);
        expect(plain.allocflags & GFP.VFALLBACK).toBe(0);
      }
      // pagesperslab (the fifth number) is 2^order.
      const row = (name: string) => m.proc('slabinfo').split('\n').find((l) => l.startsWith(name + ' '))!.trim().split(/\s+/);
      expect(row('dentry').slice(4, 6)).toEqual(['341', '16']);
      expect(row('buffer_head').slice(4, 6)).toEqual(['315', '8']);
    }
  });

  it('the order stays within VFALLBACK_MAX_ORDER, never below the ordinary order, and big objects keep theirs', () => {
    for (const size of [8, 64, 104, 192, 700, 1024, 3000, 4096, 8192, 20000, 300000]) {
      const o = calculateVfallbackOrder(size, 2);
      const m = Machine.boot({ mem: '64M' });
      const plain = m.kmemCacheCreate(`s${size}`, size)!;
      expect(o, `size ${size}`).toBeGreaterThanOrEqual(plain.order);
      if (plain.order < VFALLBACK_MAX_ORDER) expect(o, `size ${size}`).toBeLessThanOrEqual(VFALLBACK_MAX_ORDER);
      else expect(o).toBe(plain.order);
      if (size * VFALLBACK_MIN_OBJECTS <= PAGE_SIZE << VFALLBACK_MAX_ORDER) expect(Math.floor((PAGE_SIZE << o) / size)).toBeGreaterThanOrEqual(VFALLBACK_MIN_OBJECTS);
    }
  });

  it("under policy 'none' the flag changes nothing: same order, physical slabs, even on a fragmented machine", () => {
    let c: KmemCache | undefined;
    let plain: KmemCache | undefined;
    const m = fragmented('none', {}, (mm) => {
      c = mm.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!;
      plain = mm.kmemCacheCreate('plain_dentry', DENTRY.size, { flags: DENTRY.flags })!;
    });
    expect(c!.order).toBe(plain!.order);
    expect(c!.objects).toBe(plain!.objects);
    expect(c!.allocflags).toBe(plain!.allocflags);
    const objs = Array.from({ length: 200 }, () => m.kmemCacheAlloc(c!, GFP.KERNEL));
    expect(objs.every((p) => p !== 0 && !m.isVmallocAddr(p) && m.virtToPage(p) !== NO_PAGE)).toBe(true);
    expect(c!.stat.allocVirtualSlab).toBe(0);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    m.checkInvariants();
    for (const p of objs) m.kmemCacheFree(c!, p);
    m.checkInvariants();
    expect(m.dmesg()).not.toMatch(/BUG|WARNING/);
  });
});

describe('SLAB_VFALLBACK: virtual slabs on a fragmented machine', () => {
  it('objects are vmalloc addresses in virtual slabs; bytes, kfree and kmem_cache_free work; everything comes back', () => {
    let dentry: KmemCache | undefined;
    let bh: KmemCache | undefined;
    const m = fragmented('vcompound', {}, (mm) => {
      dentry = mm.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!;
      bh = mm.kmemCacheCreate('buffer_head', BH.size, { flags: BH.flags | SLAB_VFALLBACK })!;
    });
    // The machine is fragmented: the caches' order cannot be had physically.
    expect(m.allocPages(GFP.KERNEL | GFP.COMP | GFP.NOWARN, 3)).toBe(NO_PAGE);
    settle(m);
    const free0 = freePages(m);
    const areas0 = m.vmallocLayer.busy.size;
    const reclaimable0 = m.slub.counters.reclaimablePages;
    m.checkInvariants();

    const objs = new Map<KmemCache, number[]>();
    // Two full slabs of each, then a third slab's worth less a few, so that the CPU slab is partly used.
    for (const [c, n] of [[dentry!, 3 * dentry!.objects - 7], [bh!, 3 * bh!.objects - 11]] as const) {
      const list: number[] = [];
      for (let i = 0; i < n; i++) list.push(m.kmemCacheAlloc(c, GFP.KERNEL));
      objs.set(c, list);
      const heads = new Set<number>();
      // Checked per object, reported together (thousands of expect() calls would dominate the run time).
      const wrong: string[] = [];
      for (const p of list) {
        const head = m.virtToHeadPage(p);
        const base = head === NO_PAGE ? 0 : m.pageToAddr(head);
        const checks: Record<string, boolean> = {
          allocated: p !== 0,
          vmalloc: m.isVmallocAddr(p),
          slabPage: head !== NO_PAGE && (m.mm.flags[head] & PGTY_MASK) === PGTY_SLAB,
          cache: m.slub.cacheOfPage(head) === c,
          tailFindsCache: m.slub.cacheOfPage(m.addrToPage(p)) === c,
          vcompound: m.pageVcompound(head),
          order: m.compoundOrder(head) === c.order,
          objToSlab: m.slub.objToSlab(p) === head,
          ksize: m.ksize(p) === c.size,
          base: base !== 0 && base === m.slub.slabBase(head),
          stride: (p - base - c.redLeftPad) % c.size === 0,
          index: m.slub.objectIndex(c, head, p) === (p - base) / c.size,
        };
        for (const [what, ok] of Object.entries(checks)) if (!ok) wrong.push(`${what} 0x${p.toString(16)}`);
        heads.add(head);
      }
      expect(wrong).toEqual([]);
      expect(new Set(list).size).toBe(n);
      expect(heads.size).toBe(Math.ceil(n / c.objects));
      expect(c.stat.allocVirtualSlab).toBe(heads.size);
      expect(c.stat.allocSlab).toBe(heads.size);
      expect(c.nrSlabs).toBe(heads.size);
    }
    expect(m.vmallocLayer.nrVcompounds).toBe(dentry!.stat.allocVirtualSlab + bh!.stat.allocVirtualSlab);
    expect(m.slub.counters.reclaimablePages - reclaimable0).toBe(
      dentry!.stat.allocVirtualSlab * (1 << dentry!.order) + bh!.stat.allocVirtualSlab * (1 << bh!.order));
    m.checkInvariants();

    // Every object holds its own bytes, across page boundaries of the virtual slab.
    for (const [c, list] of objs) list.forEach((p, i) => m.write(p, pattern(c.objectSize, i)));
    expect(mismatches(m, objs)).toEqual([]);
    // The bytes are in the pages the page tables map, not at some direct-map alias of the slab's head.
    const first = objs.get(dentry!)![400];
    const direct = m.pageAddress(m.addrToPage(first)) + (first % PAGE_SIZE);
    expect(m.read(direct, 16)).toEqual(pattern(192, 400).subarray(0, 16));

    // Free half (every other object: freelists run through the virtual slabs), reallocate, reuse the slots.
    for (const [c, list] of objs) {
      for (let i = 0; i < list.length; i += 2) m.kmemCacheFree(c, list[i]);
      m.checkInvariants();
      const freed = list.filter((_, i) => i % 2 === 0);
      // As many as were freed, plus the CPU slab's never-used objects: all from the same slabs.
      const again = Array.from({ length: freed.length + (3 * c.objects - list.length) }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
      const againSet = new Set(again);
      expect(againSet.size).toBe(again.length);
      expect(freed.filter((p) => !againSet.has(p))).toEqual([]);
      expect(list.filter((p, i) => i % 2 === 1 && againSet.has(p))).toEqual([]);
      const kept = list.length;
      list.push(...again.filter((p) => !freed.includes(p)));
      list.forEach((p, i) => (i % 2 === 0 || i >= kept) && m.write(p, pattern(c.objectSize, i)));
      expect(list.length).toBe(3 * c.objects);
      expect(c.stat.allocVirtualSlab).toBe(3); // no new slab was needed
    }
    expect(mismatches(m, objs)).toEqual([]);
    m.checkInvariants();

    // Free everything: dentries through kmem_cache_free(), buffer heads through kfree().
    for (const p of objs.get(dentry!)!) m.kmemCacheFree(dentry!, p);
    for (const p of objs.get(bh!)!) m.kfree(p);
    m.checkInvariants();
    settle(m);
    for (const c of [dentry!, bh!]) {
      expect(c.nrSlabs).toBe(0);
      expect(c.stat.freeVirtualSlab).toBe(c.stat.allocVirtualSlab);
    }
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    expect(m.vmallocLayer.busy.size).toBe(areas0);
    expect(m.slub.counters.reclaimablePages).toBe(reclaimable0);
    expect(freePages(m)).toBe(free0);
    m.checkInvariants();
    expect(m.kmemCacheDestroy(dentry!)).toBe(true);
    expect(m.kmemCacheDestroy(bh!)).toBe(true);
    m.checkInvariants();
    expect(m.dmesg()).not.toMatch(/BUG|WARNING/);
  });

  it('destroying a cache with live objects reports them at their vmalloc addresses; freeing them then works', () => {
    let c: KmemCache | undefined;
    const m = fragmented('vcompound', {}, (mm) => (c = mm.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!));
    const objs = Array.from({ length: 10 }, () => m.kmemCacheAlloc(c!, GFP.KERNEL));
    expect(m.kmemCacheDestroy(c!)).toBe(false);
    const text = m.dmesg();
    expect(text).toContain('BUG dentry (Not tainted): Objects remaining on __kmem_cache_shutdown()');
    for (const p of objs) expect(text).toContain(`Object 0x${m.formatAddr(p)} @offset=${p - m.pageToAddr(m.virtToHeadPage(p))}`);
    for (const p of objs) m.kmemCacheFree(c!, p);
    expect(m.kmemCacheDestroy(c!)).toBe(true);
    expect(m.vmallocLayer.nrVcompounds).toBe(0);
    m.checkInvariants();
  });

  it('kfree and kmem_cache_free of a vmalloc address that is no slab object are reported as before', () => {
    let c: KmemCache | undefined;
    const m = fragmented('vcompound', { strict: true }, (mm) => (c = mm.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!));
    const obj = m.kmemCacheAlloc(c!, GFP.KERNEL);
    expect(m.isVmallocAddr(obj)).toBe(true);
    const v = m.vmalloc(2 * PAGE_SIZE);
    const free = freePages(m);
    expect(() => m.kfree(v)).toThrow(KernelReport);
    expect(m.dmesg()).toContain(`kfree: virt_to_folio(0x${v.toString(16)}) is not a kernel direct-map address`);
    expect(() => m.kmemCacheFree(c!, v + 64)).toThrow(/is not a slab object/);
    expect(m.ksize(v)).toBe(0);
    // An unmapped vmalloc address (a guard page) is no slab object either.
    expect(() => m.kfree(v + 2 * PAGE_SIZE)).toThrow(KernelReport);
    expect(freePages(m)).toBe(free);
    m.vfree(v);
    m.kfree(obj);
    m.checkInvariants();
  });

  it('the direct-map fast paths never ask the page tables', () => {
    let c: KmemCache | undefined;
    const m = fragmented('vcompound', {}, (mm) => (c = mm.kmemCacheCreate('plain', 100)!));
    const spy = vi.spyOn(m.slub.vfallback, 'addrToPage');
    const ps: number[] = [];
    for (let i = 0; i < 500; i++) ps.push(m.kmalloc(64, GFP.KERNEL), m.kmemCacheAlloc(c!, GFP.KERNEL));
    for (let i = 0; i < ps.length; i += 2) {
      m.kfree(ps[i]);
      m.kmemCacheFree(c!, ps[i + 1]);
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it('a broken virtual slab count or a stale translation is caught by checkInvariants()', () => {
    let c: KmemCache | undefined;
    const m = fragmented('vcompound', {}, (mm) => (c = mm.kmemCacheCreate('bh', BH.size, { flags: BH.flags | SLAB_VFALLBACK })!));
    const p = m.kmemCacheAlloc(c!, GFP.KERNEL);
    m.checkInvariants();
    c!.stat.freeVirtualSlab++;
    expect(() => m.checkInvariants()).toThrow(/bh: 0 virtual slabs counted, mem_map holds 1/);
    c!.stat.freeVirtualSlab--;
    // SLUB's translation cache (private) holds the slab's pages; a wrong pfn there is reported.
    const pfns = Reflect.get(m.slub, 'xlatePfn') as Int32Array;
    const vpns = Reflect.get(m.slub, 'xlateVpn') as Float64Array;
    const at = vpns.findIndex((v) => v === Math.floor(p / PAGE_SIZE));
    expect(at).toBeGreaterThanOrEqual(0);
    pfns[at]++;
    expect(() => m.checkInvariants()).toThrow(/stale translation/);
    pfns[at]--;
    m.checkInvariants();
    m.kmemCacheFree(c!, p);
    m.checkInvariants();
  });
});

describe('SLAB_VFALLBACK under slub_debug', () => {
  /** One object of a debug cache, on a virtual slab (fragmented) or a physical one. */
  function debugMachine(virtual: boolean): { m: Machine; c: KmemCache } {
    let c: KmemCache | undefined;
    const make = (mm: Machine) => (c = mm.kmemCacheCreate('vdbg', 100, { flags: SLAB_VFALLBACK })!);
    if (virtual) return { m: fragmented('vcompound', { slubDebug: 'FZPU' }, make), c: c! };
    const m = Machine.boot({ mem: '64M', strict: false, slubDebug: 'FZPU', policy: { fallback: 'vcompound' } });
    make(m);
    return { m, c: c! };
  }

  it('red zones and poison sit in the virtual slab; a write past the object is reported as on a physical slab', () => {
    const shapes: string[][] = [];
    for (const virtual of [true, false]) {
      const { m, c } = debugMachine(virtual);
      expect(c.debug).toBe(true);
      const p = m.kmemCacheAlloc(c, GFP.KERNEL);
      expect(m.isVmallocAddr(p)).toBe(virtual);
      expect(m.slub.slabVirtual(m.slub.objToSlab(p))).toBe(virtual);
      expect(m.read(p - 8, 8)).toEqual(new Uint8Array(8).fill(0xcc));
      expect(m.read(p + 100, 4)).toEqual(new Uint8Array(4).fill(0xcc));
      const q = m.kmemCacheAlloc(c, GFP.KERNEL);
      m.kmemCacheFree(c, q);
      expect(m.read(q, 99)).toEqual(new Uint8Array(99).fill(0x6b));
      expect(m.read(q + 99, 1)).toEqual(Uint8Array.of(0xa5));
      m.write(p + 100, Uint8Array.of(0x41));
      m.kmemCacheFree(c, p);
      const lines = m.dmesg().split('\n');
      expect(lines.some((l) => l.endsWith('BUG vdbg (Not tainted): Right Redzone overwritten'))).toBe(true);
      expect(m.dmesg()).toContain(`0x${m.formatAddr(p + 100)}-0x${m.formatAddr(p + 100)} @offset=${p + 100 - m.slub.slabBase(m.slub.objToSlab(p))}. First byte 0x41 instead of 0xcc`);
      expect(m.dmesg()).toContain(`Object 0x${m.formatAddr(p)} @offset=`);
      // The repaired object is freed by a second attempt, with no further report.
      const before = m.dmesg();
      m.kmemCacheFree(c, p);
      expect(m.dmesg()).toBe(before);
      m.kmemCacheValidate(c);
      expect(m.dmesg()).toBe(before);
      m.checkInvariants();
      shapes.push(reportShape(m));
    }
    expect(shapes[0].length).toBeGreaterThan(0);
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it('double free and a write into a freed object are caught on a virtual slab; strict mode throws', () => {
    const { m, c } = debugMachine(true);
    m.printk.strict = true;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(m.isVmallocAddr(p)).toBe(true);
    m.kmemCacheFree(c, p);
    expect(() => m.kmemCacheFree(c, p)).toThrow(/Object already free/);
    m.write(p + 8, Uint8Array.of(0x41));
    expect(() => m.kmemCacheValidate(c)).toThrow(/Poison overwritten/);
    m.checkInvariants();
  });
});

describe("SLAB_VFALLBACK under policy 'always' (CONFIG_VIRTUALIZE_ALWAYS)", () => {
  for (const arch of ['x86_64', 'i386'] as const) {
    it(`every slab of a flagged cache is virtual, other caches stay physical (${arch})`, () => {
      const m = Machine.boot({ arch, mem: '64M', policy: { fallback: 'always', vmallocPgtableFree: 'purge' } });
      const dentry = m.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!;
      const plain = m.kmemCacheCreate('plain', DENTRY.size, { flags: DENTRY.flags })!;
      settle(m);
      const free0 = freePages(m);
      const areas0 = m.vmallocLayer.busy.size;
      const objs = Array.from({ length: 3 * dentry.objects + 5 }, () => m.kmemCacheAlloc(dentry, GFP.KERNEL));
      const plainObjs = Array.from({ length: 100 }, () => m.kmemCacheAlloc(plain, GFP.KERNEL));
      expect(dentry.stat.allocSlab).toBe(4);
      expect(dentry.stat.allocVirtualSlab).toBe(4);
      expect(plain.stat.allocVirtualSlab).toBe(0);
      expect(objs.every((p) => m.isVmallocAddr(p) && m.slub.cacheOfPage(m.virtToHeadPage(p)) === dentry)).toBe(true);
      expect(plainObjs.every((p) => !m.isVmallocAddr(p) && m.slub.cacheOfPage(m.virtToPage(p)) === plain)).toBe(true);
      objs.forEach((p, i) => m.write(p, pattern(192, i)));
      expect(mismatches(m, new Map([[dentry, objs]]))).toEqual([]);
      m.checkInvariants();
      objs.forEach((p) => m.kfree(p));
      plainObjs.forEach((p) => m.kmemCacheFree(plain, p));
      settle(m);
      expect(dentry.stat.freeVirtualSlab).toBe(4);
      expect(m.vmallocLayer.nrVcompounds).toBe(0);
      expect(m.vmallocLayer.busy.size).toBe(areas0);
      expect(freePages(m)).toBe(free0);
      m.checkInvariants();
      expect(m.dmesg()).not.toMatch(/BUG|WARNING/);
    });
  }

  it('emptying a virtual slab in interrupt context: the stage-1 BUG (the slab stays mapped), or the stage-2 deferred free', () => {
    for (const stage of ['stage1', 'stage2'] as const) {
      const m = Machine.boot({ mem: '64M', strict: false, policy: { fallback: 'always', vfallbackInterrupt: stage } });
      const c = m.kmemCacheCreate('dentry', DENTRY.size, { flags: DENTRY.flags | SLAB_VFALLBACK })!;
      const objs = Array.from({ length: (c.minPartial + 2) * c.objects }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
      // Enough empty slabs on the partial list that the next empty one is discarded.
      objs.slice(c.objects, (c.minPartial + 1) * c.objects).forEach((p) => m.kmemCacheFree(c, p));
      const freed = c.stat.freeVirtualSlab;
      const first = m.virtToHeadPage(objs[0]);
      m.inIrq(() => objs.slice(0, c.objects).forEach((p) => m.kmemCacheFree(c, p)));
      expect(c.stat.freeVirtualSlab).toBe(freed + 1);
      expect(m.pageVcompound(first)).toBe(true); // not unmapped in interrupt context either way
      m.checkInvariants();
      if (stage === 'stage1') {
        expect(m.vcompound.stats.interruptFreeBugs).toBe(1);
        expect(m.dmesg()).toContain('kernel BUG at mm/vmalloc.c: vunmap: BUG_ON(in_interrupt())');
      } else {
        expect(m.vcompound.stats.deferredFrees).toBe(1);
        m.vmallocLayer.runDeferred();
        expect(m.pa.pageIsFree(first)).toBe(true);
        expect(m.dmesg()).not.toMatch(/BUG/);
      }
      m.checkInvariants();
    }
  });

  it('krealloc of an object of a virtual slab copies its bytes out through the page tables', () => {
    const m = Machine.boot({ mem: '64M', policy: { fallback: 'always' } });
    const c = m.kmemCacheCreate('bh', BH.size, { flags: BH.flags | SLAB_VFALLBACK })!;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(m.isVmallocAddr(p)).toBe(true);
    m.write(p, pattern(BH.size, 1));
    expect(m.krealloc(p, 64, GFP.KERNEL)).toBe(p); // it fits: kept
    const q = m.krealloc(p, 300, GFP.KERNEL);
    expect(m.isVmallocAddr(q)).toBe(false);
    expect(m.read(q, BH.size)).toEqual(pattern(BH.size, 1));
    expect(c.stat.freeVirtualSlab + c.nrSlabs).toBe(1);
    m.kfree(q);
    m.checkInvariants();
  });
});
