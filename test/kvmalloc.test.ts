/**
 * kvmalloc and friends (mm/util.c, mm/slub.c): the gfp each version hands kmalloc, when a failed kmalloc falls
 * back to vmalloc, non-blocking gfp by version and context, kvfree of both kinds, kvmalloc_array overflow,
 * sizes above INT_MAX, kvrealloc across the kmalloc/vmalloc boundary, and zeroing.
 */
import { describe, expect, it } from 'vitest';
import { formatGfp, GFP, KernelReport, Machine, NO_PAGE, PAGE_SIZE, type MachineConfig, type Policy } from '../src/index.js';
import { takeAll } from './helpers/exhaust.js';

type Step = Policy['kvmalloc'];
const K = 1024;
const boot = (kv: Step, cfg: MachineConfig = {}) => Machine.boot({ mem: '64M', thp: false, strict: true, policy: { kvmalloc: kv }, ...cfg });

/** Free pages once the slab caches give back their empty slabs and the pcp lists drain. */
const settledFree = (m: Machine) => {
  for (const c of m.kmemCaches()) m.kmemCacheShrink(c);
  m.drainAllPages();
  return m.freePagesTotal();
};

/**
 * Leave `n` free pages, none of them next to another: no kmalloc above a page can be served (and the pages
 * are unmovable, so compaction cannot help), while order-0 pages for vmalloc are plenty. With `dirty` the
 * freed pages hold 0xa5 bytes.
 */
function fragment(m: Machine, n = 2048, dirty = false): void {
  const odd = takeAll(m).filter((p) => p % 2 === 1).sort((a, b) => a - b);
  const step = Math.floor(odd.length / n);
  for (let i = 0; i < n; i++) {
    const pfn = odd[i * step];
    if (dirty) m.write(m.pageAddress(pfn), new Uint8Array(PAGE_SIZE).fill(0xa5));
    m.freePages(pfn, 0);
  }
  m.drainAllPages();
  for (const z of m.zones) expect([...z.nrFree].slice(1).every((c) => c === 0), `${z.name} still has a free block above order 0`).toBe(true);
}

/** The gfp_flags= of every kmalloc event asking for `bytes` bytes (kvmalloc's attempt, not vmalloc's metadata). */
function kmallocGfp(m: Machine, bytes: number): string[] {
  return m.trace.lines.filter((l) => l.includes(' kmalloc: ') && l.includes(` bytes_req=${bytes} `)).map((l) => /gfp_flags=(\S+)/.exec(l)![1]);
}

const DR = GFP.DIRECT_RECLAIM;
const BIG = 64 * K;

describe('kmalloc_gfp_adjust: the gfp that reaches kmalloc, read from the kmalloc event', () => {
  // What each step's kmalloc gets for a 64 KiB request, written out from the kernel sources (not computed).
  const cases: Array<[string, number, Record<Exclude<Step, 'kernel'>, number>]> = [
    ['GFP_KERNEL', GFP.KERNEL, {
      '4.12': GFP.KERNEL | GFP.NOWARN | GFP.NORETRY,
      '5.17': GFP.KERNEL | GFP.NOWARN | GFP.NORETRY,
      '6.16': (GFP.KERNEL & ~DR) | GFP.NOWARN,
      '6.19': (GFP.KERNEL & ~DR) | GFP.NOWARN,
    }],
    ['GFP_KERNEL|__GFP_RETRY_MAYFAIL', GFP.KERNEL | GFP.RETRY_MAYFAIL, {
      '4.12': GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN,
      '5.17': GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN,
      '6.16': GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN,
      '6.19': GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN,
    }],
    ['GFP_KERNEL|__GFP_NOFAIL', GFP.KERNEL | GFP.NOFAIL, {
      '4.12': GFP.KERNEL | GFP.NOFAIL | GFP.NOWARN | GFP.NORETRY,
      '5.17': GFP.KERNEL | GFP.NOWARN | GFP.NORETRY,
      '6.16': (GFP.KERNEL & ~DR) | GFP.NOWARN,
      '6.19': (GFP.KERNEL & ~DR) | GFP.NOWARN,
    }],
    ['GFP_NOFS', GFP.NOFS, {
      '4.12': GFP.NOFS,
      '5.17': GFP.NOFS | GFP.NOWARN | GFP.NORETRY,
      '6.16': (GFP.NOFS & ~DR) | GFP.NOWARN,
      '6.19': (GFP.NOFS & ~DR) | GFP.NOWARN,
    }],
    ['GFP_ATOMIC', GFP.ATOMIC, {
      '4.12': GFP.ATOMIC,
      '5.17': GFP.ATOMIC | GFP.NOWARN | GFP.NORETRY,
      '6.16': GFP.ATOMIC | GFP.NOWARN,
      '6.19': GFP.ATOMIC | GFP.NOWARN,
    }],
  ];
  const steps: Array<Exclude<Step, 'kernel'>> = ['4.12', '5.17', '6.16', '6.19'];

  for (const step of steps) {
    it(`policy ${step}: above a page, each gfp is adjusted as that version does; at a page it is left alone`, () => {
      const m = boot(step);
      m.trace.enable(['kmalloc']);
      for (const [name, gfp, want] of cases) {
        const p = m.kvmalloc(BIG, gfp);
        expect(m.isVmallocAddr(p), name).toBe(false); // kmalloc served it: memory is plenty
        expect(kmallocGfp(m, BIG), name).toEqual([formatGfp(want[step])]);
        m.kvfree(p);
        const q = m.kvmalloc(PAGE_SIZE, gfp);
        expect(kmallocGfp(m, PAGE_SIZE), name).toEqual([formatGfp(gfp)]);
        m.kvfree(q);
        m.trace.clear();
      }
      expect(m.util.stats.kmalloc).toBe(2 * cases.length);
      expect(m.dmesg()).not.toContain('WARNING');
    });
  }

  it("policy 'kernel' follows the version: 6.15 adds __GFP_NORETRY, 6.16 clears __GFP_DIRECT_RECLAIM", () => {
    for (const [kernel, want] of [['6.15', GFP.KERNEL | GFP.NOWARN | GFP.NORETRY], ['6.16', (GFP.KERNEL & ~DR) | GFP.NOWARN]] as const) {
      const m = boot('kernel', { kernel });
      m.trace.enable(['kmalloc']);
      m.kvmalloc(BIG, GFP.KERNEL);
      expect(kmallocGfp(m, BIG), kernel).toEqual([formatGfp(want)]);
    }
  });

  it('4.12 kept retrying with __GFP_REPEAT only above the costly order; 4.12..4.17 warned about !GFP_KERNEL and went on', () => {
    const m = boot('kernel', { kernel: '4.12' });
    m.trace.enable(['kmalloc']);
    m.kvmalloc(16 * K, GFP.KERNEL | GFP.RETRY_MAYFAIL);
    m.kvmalloc(BIG, GFP.KERNEL | GFP.RETRY_MAYFAIL);
    expect(kmallocGfp(m, 16 * K)).toEqual([formatGfp(GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN | GFP.NORETRY)]);
    expect(kmallocGfp(m, BIG)).toEqual([formatGfp(GFP.KERNEL | GFP.RETRY_MAYFAIL | GFP.NOWARN)]);
    const m2 = boot('kernel', { kernel: '4.14' });
    m2.trace.enable(['kmalloc']);
    m2.kvmalloc(BIG, GFP.NOFS);
    m2.kvmalloc(BIG, GFP.NOIO);
    expect(kmallocGfp(m2, BIG)).toEqual([formatGfp(GFP.NOFS | GFP.NOWARN | GFP.NORETRY), formatGfp(GFP.NOIO | GFP.NOWARN | GFP.NORETRY)]);
    expect(m2.dmesg().match(/WARN_ON_ONCE\(\(flags & GFP_KERNEL\) != GFP_KERNEL\)/g)).toHaveLength(1);
    expect(m2.dmesg()).toContain('at mm/util.c:kvmalloc_node');
  });
});

describe('the vmalloc fallback', () => {
  for (const step of ['4.12', '5.17', '6.16', '6.19'] as const) {
    it(`policy ${step}: a failed kmalloc above a page falls back to vmalloc, and the area is usable`, () => {
      const m = boot(step);
      fragment(m);
      m.trace.enable(['kmalloc']);
      const p = m.kvmalloc(BIG, GFP.KERNEL, 'xfs_buf_alloc+0x1a/0x90');
      expect(m.isVmallocAddr(p)).toBe(true);
      // The kmalloc attempt was made, and failed (ptr NULL).
      expect(m.trace.lines.filter((l) => l.includes(`bytes_req=${BIG} `) && l.includes('ptr=0000000000000000'))).toHaveLength(1);
      expect(m.util.stats).toMatchObject({ calls: 1, kmalloc: 0, fellBack: 1, vmalloc: 1, failed: 0 });
      const area = m.vmallocLayer.findVmapArea(p)!.vm!;
      expect(area.pfns).toHaveLength(BIG / PAGE_SIZE);
      expect(area.caller).toBe('xfs_buf_alloc+0x1a/0x90');
      const bytes = Uint8Array.from({ length: BIG }, (_, i) => (i * 7) & 0xff);
      m.write(p, bytes);
      expect(m.read(p, BIG)).toEqual(bytes);
      m.checkInvariants();
    });
  }

  it('at most a page, a failed kmalloc returns NULL and never reaches vmalloc; one byte more does', () => {
    const m = boot('6.16');
    takeAll(m);
    m.trace.enable(['kmalloc', 'alloc_vmap_area']);
    const gfp = GFP.KERNEL | GFP.NORETRY | GFP.NOWARN;
    expect(m.kvmalloc(PAGE_SIZE, gfp)).toBe(0);
    expect(m.util.stats).toMatchObject({ calls: 1, failed: 1, fellBack: 0 });
    expect(kmallocGfp(m, PAGE_SIZE)).toEqual([formatGfp(gfp)]); // tried with the caller's gfp as it is
    expect(m.trace.lines.some((l) => l.includes('alloc_vmap_area'))).toBe(false);
    // One byte more takes the fallback (which fails too here: there is no page left at all).
    expect(m.kvmalloc(PAGE_SIZE + 1, gfp)).toBe(0);
    expect(m.util.stats).toMatchObject({ calls: 2, failed: 2, fellBack: 1, vmalloc: 0 });
    expect(m.vmallocLayer.busy.size).toBe(0);
    m.checkInvariants();
  });
});

describe('kvfree', () => {
  it('frees a vmalloc\'d and a kmalloc\'d allocation alike, and returns every page and area', () => {
    const m = boot('6.19');
    fragment(m);
    // The first area allocates the page tables, which mainline keeps: take them out of the comparison.
    m.kvfree(m.kvmalloc(BIG, GFP.KERNEL));
    m.purgeVmapAreaLazy();
    const free0 = settledFree(m);
    const areas0 = m.vmallocLayer.busy.size;
    const v = m.kvmalloc(BIG, GFP.KERNEL);
    const k = m.kvmalloc(PAGE_SIZE, GFP.KERNEL);
    expect(m.isVmallocAddr(v)).toBe(true);
    expect(m.isVmallocAddr(k)).toBe(false);
    expect(m.vmallocLayer.busy.size).toBe(areas0 + 1);
    expect(settledFree(m)).toBeLessThan(free0 - BIG / PAGE_SIZE);
    m.kvfree(v);
    m.kvfree(k);
    m.kvfree(0); // NULL is fine
    m.purgeVmapAreaLazy();
    expect(m.vmallocLayer.busy.size).toBe(areas0);
    expect(m.vmallocLayer.lazy).toHaveLength(0);
    expect(settledFree(m)).toBe(free0);
    m.checkInvariants();
  });

  it('frees a large kmalloc (a compound page) back to the page allocator', () => {
    const m = boot('6.16');
    const free0 = settledFree(m);
    const p = m.kvmalloc(BIG, GFP.KERNEL);
    expect(m.virtToPage(p)).not.toBe(NO_PAGE);
    expect(settledFree(m)).toBe(free0 - BIG / PAGE_SIZE);
    m.kvfree(p);
    expect(settledFree(m)).toBe(free0);
  });
});

describe('non-blocking gfp, by version and context', () => {
  for (const [step, served] of [['4.12', false], ['5.17', false], ['6.16', false], ['6.19', true]] as const) {
    it(`policy ${step}: GFP_ATOMIC and GFP_NOWAIT under a spinlock are ${served ? 'vmalloc\'d' : 'refused the fallback'}`, () => {
      const m = boot(step);
      fragment(m);
      const a = m.inAtomic(() => m.kvmalloc(BIG, GFP.ATOMIC));
      const b = m.inAtomic(() => m.kvmalloc(BIG, GFP.NOWAIT));
      for (const p of [a, b]) {
        if (served) expect(m.isVmallocAddr(p)).toBe(true);
        else expect(p).toBe(0);
      }
      expect(m.util.stats).toMatchObject(served ? { vmalloc: 2, refusedGfp: 0 } : { fellBack: 0, refusedGfp: 2, failed: 2 });
      expect(m.printk.reports('sleeping function called from invalid context')).toBe(0);
      if (served) {
        m.write(a, new Uint8Array(BIG).fill(1));
        expect(m.read(a + BIG - 1, 1)[0]).toBe(1);
        m.kvfree(a);
        m.kvfree(b);
      }
      m.checkInvariants();
    });
  }

  it('5.17..5.19 let non-blocking gfp reach vmalloc, which slept in atomic context (fixed in 6.0)', () => {
    const m = boot('kernel', { kernel: '5.18' });
    fragment(m);
    expect(() => m.inAtomic(() => m.kvmalloc(BIG, GFP.ATOMIC))).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: sleeping function called from invalid context at mm/vmalloc.c:alloc_vmap_area');
    const m2 = boot('kernel', { kernel: '6.0' });
    fragment(m2);
    expect(m2.inAtomic(() => m2.kvmalloc(BIG, GFP.ATOMIC))).toBe(0);
    expect(m2.util.stats.refusedGfp).toBe(1);
  });

  it('in softirq: refused before 6.19; 6.19 and 7.0 hit __get_vm_area_node\'s BUG_ON(in_interrupt()); 7.1 vmallocs', () => {
    const m = boot('6.16');
    fragment(m);
    expect(m.inSoftirq(() => m.kvmalloc(BIG, GFP.ATOMIC))).toBe(0);
    expect(m.util.stats.refusedGfp).toBe(1);

    const m2 = boot('6.19');
    fragment(m2);
    expect(() => m2.inSoftirq(() => m2.kvmalloc(BIG, GFP.ATOMIC))).toThrow(KernelReport);
    expect(m2.dmesg()).toContain('kernel BUG at mm/vmalloc.c: __get_vm_area_node: BUG_ON(in_interrupt())');
    expect(m2.vmallocLayer.busy.size).toBe(0);

    const m3 = boot('kernel', { kernel: '7.1' });
    fragment(m3);
    const p = m3.inSoftirq(() => m3.kvmalloc(BIG, GFP.ATOMIC));
    expect(m3.isVmallocAddr(p)).toBe(true);
    expect(m3.util.stats).toMatchObject({ fellBack: 1, vmalloc: 1 });
    // kvfree in softirq: vfree defers to process context, which frees at its next vmalloc call.
    m3.inSoftirq(() => m3.kvfree(p));
    expect(m3.vmallocLayer.deferredCount).toBe(1);
    expect(m3.vmallocLayer.findVmapArea(p)).toBeDefined();
    m3.vfree(0);
    expect(m3.vmallocLayer.deferredCount).toBe(0);
    expect(m3.vmallocLayer.findVmapArea(p)).toBeUndefined();
    // Hard interrupt context is still a BUG.
    expect(() => m3.inIrq(() => m3.kvmalloc(BIG, GFP.ATOMIC))).toThrow(KernelReport);
    expect(m3.dmesg()).toContain('BUG_ON(in_nmi() || in_hardirq())');
    m3.checkInvariants();
  });
});

describe('vmalloc with non-blocking gfp (6.19)', () => {
  it('a non-blocking request fails at once when the range is full: no purge, no vmap warning; a blocking one purges', () => {
    const m = boot('kernel', { kernel: '6.19' });
    const v = m.vmallocLayer;
    const range = { start: v.start, end: v.start + 24 * K };
    m.vfree(m.vmallocNodeRange(16 * K, range)); // the range's only fit waits, lazily freed
    expect(v.lazy).toHaveLength(1);
    expect(m.inAtomic(() => m.vmallocNodeRange(16 * K, { ...range, gfp: GFP.ATOMIC }))).toBe(0);
    expect(v.stats.purges).toBe(0);
    expect(v.lazy).toHaveLength(1);
    expect(m.dmesg()).not.toContain('vmap allocation for size');
    expect(m.printk.reports('sleeping function called from invalid context')).toBe(0);
    expect(m.vmallocNodeRange(16 * K, range)).toBe(v.start);
    expect(v.stats.purges).toBe(1);
    m.checkInvariants();
  });
});

describe('sizes: kvmalloc_array overflow and INT_MAX', () => {
  it('kvmalloc_array returns NULL on overflow without a word; kvcalloc too', () => {
    const m = boot('6.19');
    const log = m.dmesg();
    expect(m.kvmallocArray(2 ** 32, 2 ** 32, GFP.KERNEL)).toBe(0);
    expect(m.kvcalloc(2 ** 40, 2 ** 30, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toBe(log);
    expect(m.util.stats.calls).toBe(0); // stopped before kvmalloc
    const p = m.kvmallocArray(1000, 100, GFP.KERNEL);
    expect(p).not.toBe(0);
    expect(m.ksize(p)).toBeGreaterThanOrEqual(100_000);
    const i386 = boot('6.19', { arch: 'i386' });
    expect(i386.kvmallocArray(0x10000, 0x10001, GFP.KERNEL)).toBe(0); // past 32-bit size_t
    expect(i386.util.stats.calls).toBe(0);
  });

  it('above INT_MAX: WARN_ON_ONCE and NULL, quiet under __GFP_NOWARN (5.17+); before 5.14 vmalloc refused it', () => {
    const m = boot('5.17');
    expect(m.kvmallocArray(2 ** 19, 2 ** 12, GFP.KERNEL)).toBe(0); // 2 GiB: no overflow, but > INT_MAX
    expect(m.kvmalloc(2 ** 31 + 1, GFP.KERNEL)).toBe(0);
    expect(m.dmesg().match(/WARN_ON_ONCE\(!\(flags & __GFP_NOWARN\)\)/g)).toHaveLength(1);
    expect(m.util.stats).toMatchObject({ tooLarge: 2, fellBack: 0 });
    const quiet = boot('6.19');
    expect(quiet.kvmalloc(2 ** 31, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    expect(quiet.dmesg()).not.toContain('WARNING');
    const old = boot('4.12');
    expect(old.kvmalloc(2 ** 31, GFP.KERNEL)).toBe(0);
    expect(old.dmesg()).not.toContain('WARN_ON_ONCE');
    expect(old.dmesg()).toContain('vmalloc error: size 2147483648, exceeds total pages');
    expect(old.util.stats).toMatchObject({ fellBack: 1, tooLarge: 0 });
  });
});

describe('kvfree_sensitive', () => {
  it('clears the memory before it frees it', () => {
    const m = boot('6.19');
    fragment(m);
    const p = m.kvmalloc(BIG, GFP.KERNEL);
    m.write(p, new Uint8Array(BIG).fill(0x77));
    const pfns = m.vmallocLayer.findVmapArea(p)!.vm!.pfns;
    m.util.kvfreeSensitive(p, BIG);
    expect(m.vmallocLayer.findVmapArea(p)).toBeUndefined();
    const page = new Uint8Array(PAGE_SIZE);
    for (const pfn of pfns) {
      m.mem.readFrame(pfn, 0, page, 0, PAGE_SIZE);
      expect(page.every((b) => b === 0)).toBe(true);
    }
  });
});

describe('kvrealloc (6.12 signature)', () => {
  it('grows a kmalloc object into a vmalloc area and further, keeping the bytes; shrinks in place; 0 frees', () => {
    const m = boot('6.16');
    fragment(m);
    const bytes = Uint8Array.from({ length: 2000 }, (_, i) => (i * 13 + 5) & 0xff);
    const p = m.kvmalloc(2000, GFP.KERNEL);
    expect(m.isVmallocAddr(p)).toBe(false);
    m.write(p, bytes);
    const q = m.kvrealloc(p, BIG, GFP.KERNEL);
    expect(m.isVmallocAddr(q)).toBe(true);
    expect(m.read(q, 2000)).toEqual(bytes);
    const tail = Uint8Array.from({ length: 100 }, (_, i) => 200 - i);
    m.write(q + BIG - 100, tail);
    // Beyond the area: a new one, the old area's bytes copied, the old area freed.
    const r = m.kvrealloc(q, 2 * BIG, GFP.KERNEL);
    expect(r).not.toBe(q);
    expect(m.read(r, 2000)).toEqual(bytes);
    expect(m.read(r + BIG - 100, 100)).toEqual(tail);
    expect(m.vmallocLayer.findVmapArea(q)).toBeUndefined();
    // Within the area: the same address, and __GFP_ZERO clears what is past the new size.
    expect(m.kvrealloc(r, BIG - 100, GFP.KERNEL | GFP.ZERO)).toBe(r);
    expect(m.read(r + BIG - 100, 100).every((b) => b === 0)).toBe(true);
    expect(m.read(r, 2000)).toEqual(bytes);
    expect(m.kvrealloc(r, 0, GFP.KERNEL)).toBe(0);
    expect(m.vmallocLayer.findVmapArea(r)).toBeUndefined();
    m.checkInvariants();
  });

  it('with memory to spare, grows within kmalloc (krealloc) and keeps the bytes', () => {
    const m = boot('6.19');
    const p = m.kvmalloc(300, GFP.KERNEL);
    m.write(p, new Uint8Array(300).fill(0x5a));
    const q = m.kvrealloc(p, 3 * PAGE_SIZE, GFP.KERNEL);
    expect(m.isVmallocAddr(q)).toBe(false);
    expect(m.read(q, 300).every((b) => b === 0x5a)).toBe(true);
    expect(m.kvrealloc(q, 100, GFP.KERNEL)).toBe(q); // room enough: krealloc keeps it
  });
});

describe('kvzalloc and kvcalloc zero both kinds', () => {
  it('the vmalloc fallback hands out zeroed pages, though they were dirty', () => {
    const m = boot('6.19');
    fragment(m, 2048, true);
    // Without __GFP_ZERO the dirt shows (so the check below can tell).
    const dirty = m.kvmalloc(BIG, GFP.KERNEL);
    expect(m.isVmallocAddr(dirty)).toBe(true);
    expect(m.read(dirty, BIG).some((b) => b === 0xa5)).toBe(true);
    m.kvfree(dirty);
    const z = m.kvzalloc(BIG, GFP.KERNEL);
    expect(m.isVmallocAddr(z)).toBe(true);
    expect(m.read(z, BIG).every((b) => b === 0)).toBe(true);
    const c = m.kvcalloc(4, 5000, GFP.KERNEL);
    expect(m.isVmallocAddr(c)).toBe(true);
    expect(m.read(c, 20000).every((b) => b === 0)).toBe(true);
  });

  it('the kmalloc path zeroes a reused dirty object', () => {
    const m = boot('6.19');
    const p = m.kmalloc(3000, GFP.KERNEL);
    m.write(p, new Uint8Array(3000).fill(0xff));
    m.kfree(p);
    const z = m.kvzalloc(3000, GFP.KERNEL);
    expect(z).toBe(p); // the same (dirty) object came back
    expect(m.read(z, 3000).every((b) => b === 0)).toBe(true);
  });
});
