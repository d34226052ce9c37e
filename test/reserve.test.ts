/**
 * Zijlstra's memory reserves (src/mm/reserve.ts): the translation of a kmalloc or kmem_cache demand into pages
 * (seed 004) against a hand formula over a literal table of SLUB's kmalloc geometry, strict charges, the
 * reserve tree, and the watermarks the root's pages move.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, KernelReport, Machine, type MachineConfig } from '../src/index.js';
import { SLAB_HWCACHE_ALIGN } from '../src/mm/slub.js';

const CPUS = 2;
const boot = (cfg: MachineConfig = {}) => Machine.boot({ mem: '256M', thp: false, strict: true, nrCpus: CPUS, ...cfg });

/**
 * The kmalloc classes of a 2-CPU x86_64 machine with 4 KiB pages, by hand from calculate_order():
 * min_objects = 4 * (fls(2) + 1) = 12, capped at what an order-3 slab holds (slub_max_order =
 * PAGE_ALLOC_COSTLY_ORDER: 8 objects of 4k, 4 of 8k); the order is the smallest from get_order(min_objects *
 * size) that wastes at most 1/16 of the slab. E.g. 96: 12 * 96 = 1152 -> order 0, 4096 % 96 = 64 <= 256, so 42
 * objects; 512: 12 * 512 = 6144 -> order 1, 16 objects; 2048: 24576 -> order 3, 16 objects. The minimum slab
 * (s->min) is get_order(size): one page, except 8k's two.
 *   [size, oo order, oo objects, min order, min objects]
 */
const KMALLOC: readonly [number, number, number, number, number][] = [
  [8, 0, 512, 0, 512],
  [16, 0, 256, 0, 256],
  [32, 0, 128, 0, 128],
  [64, 0, 64, 0, 64],
  [96, 0, 42, 0, 42],
  [128, 0, 32, 0, 32],
  [192, 0, 21, 0, 21],
  [256, 0, 16, 0, 16],
  [512, 1, 16, 0, 8],
  [1024, 2, 16, 0, 4],
  [2048, 3, 16, 0, 2],
  [4096, 3, 8, 0, 1],
  [8192, 3, 4, 1, 1],
];

/** The class kmalloc(size) uses: the smallest class that holds it. */
const classOf = (size: number) => KMALLOC.find(([s]) => s >= size)!;
/** kmem_alloc_estimate by hand: N objects in minimum slabs, plus an order-oo slab per CPU when a slab holds several. */
const slabPages = ([, oo, ooObjs, mo, mObjs]: readonly number[], n: number) =>
  n === 0 ? 0 : Math.ceil(n / mObjs) * 2 ** mo + (ooObjs > 1 ? CPUS * 2 ** oo : 0);
/** Pages of n kmallocs of `size` by hand; above 8 KiB a compound page of get_order(size) each. */
function handObjs(size: number, n: number): number {
  if (size > 8192) return n * 2 ** Math.ceil(Math.log2(size / 4096));
  return slabPages(classOf(size), n);
}
/** kmalloc_estimate_bytes by hand: twice the bytes in pages, plus one slab and the CPU slack of each usable class. */
function handBytes(b: number): number {
  if (b === 0) return 0;
  return Math.ceil((2 * b) / 4096) + KMALLOC.filter(([s]) => s <= b).reduce((t, c) => t + slabPages(c, 1), 0);
}
/** Slab and large-kmalloc pages in use. */
const slabInUse = (m: Machine) => m.slub.counters.unreclaimablePages + m.slub.counters.reclaimablePages + m.slab.largePages;

describe('the translation of a demand into pages (kmem_alloc_estimate, kmalloc_estimate_objs/bytes)', () => {
  const m = boot();

  it('the literal table is the machine\'s kmalloc caches', () => {
    const real = m.slab.kmallocCaches[0].filter(Boolean).map((c) => [c.size, c.order, c.objects, c.minOrder, c.minObjects]);
    expect(real.sort((a, b) => a[0] - b[0])).toEqual(KMALLOC);
  });

  it('every size from 1 to 8192, for 1, 7, 64 and 1000 objects, matches the hand formula', () => {
    // Hand-worked: kmalloc(100) x 64 is kmalloc-128, 32 a page: 2 pages + 2 CPUs x 1 page = 4.
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 100, 64)).toBe(4);
    // kmalloc(1500) x 7 is kmalloc-2k, 2 a page in minimum slabs: 4 pages + 2 CPUs x an order-3 slab = 20.
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 1500, 7)).toBe(20);
    // kmalloc(5000) x 1000 is kmalloc-8k, one per order-1 slab: 2000 pages + 2 x 8 = 2016.
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 5000, 1000)).toBe(2016);
    // kmalloc(65) x 1 is kmalloc-96 (not 128): 1 page + 2 = 3.
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 65, 1)).toBe(3);
    const bad: string[] = [];
    for (const n of [1, 7, 64, 1000]) {
      for (let size = 1; size <= 8192; size++) {
        const got = m.kmallocEstimateObjs(GFP.ATOMIC, size, n);
        if (got !== handObjs(size, n)) bad.push(`size ${size} x ${n}: ${got}, by hand ${handObjs(size, n)}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it('above 8 KiB every object is a compound page of get_order(size)', () => {
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 8193, 7)).toBe(7 * 4);
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 16384, 1)).toBe(4);
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 16385, 3)).toBe(3 * 8);
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 65536, 1000)).toBe(16000);
  });

  it('nothing asked, nothing reserved', () => {
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 0, 10)).toBe(0);
    expect(m.kmallocEstimateObjs(GFP.KERNEL, 100, 0)).toBe(0);
    expect(m.kmallocEstimateBytes(GFP.KERNEL, 0)).toBe(0);
    expect(m.kmemAllocEstimate(m.kmemCache('kmalloc-64')!, GFP.KERNEL, 0)).toBe(0);
    expect(() => m.kmallocEstimateObjs(GFP.KERNEL, 1.5, 1)).toThrow(/whole number/);
  });

  it('bytes of unknown sizes: the hand formula, and an example worked out', () => {
    // 64 KiB: 2 x 64 KiB = 32 pages; all 13 classes are usable: one minimum slab each (12 pages + 8k's 2) and the
    // CPU slack (2 CPUs x (8 order-0 classes + 2 + 4 + 8 + 8 + 8 pages) = 76): 32 + 14 + 76 = 122.
    expect(m.kmallocEstimateBytes(GFP.KERNEL, 65536)).toBe(122);
    // 100 bytes: classes 8..96 can be used: 1 page for the bytes, 5 x (1 + 2).
    expect(m.kmallocEstimateBytes(GFP.KERNEL, 100)).toBe(16);
    for (const b of [1, 7, 8, 95, 96, 97, 4095, 4096, 8191, 8192, 8193, 100_000, 1 << 20]) expect(m.kmallocEstimateBytes(GFP.ATOMIC, b), `${b}`).toBe(handBytes(b));
  });

  it('bytes of unknown sizes bound every mix of objects charged within them (the patch\'s sum did not)', () => {
    // What a mix needs by the objects' own estimates: each class its objects' slabs and slack, large ones their pages.
    const need = (sizes: number[]) => {
      const per = new Map<number, number>();
      let large = 0;
      for (const s of sizes) {
        if (s > 8192) large += handObjs(s, 1);
        else per.set(classOf(s)[0], (per.get(classOf(s)[0]) ?? 0) + 1);
      }
      let pages = large;
      for (const [cls, n] of per) pages += slabPages(classOf(cls), n);
      return pages;
    };
    // One object in each class: 16664 bytes charged, 14 minimum slabs. The patch's kmalloc_estimate_variable:
    // DIV_ROUND_UP(2 * bytes, PAGE_SIZE) = 9 plus the CPU slack of classes 1..11 only: short of what is needed.
    const one = KMALLOC.map(([s]) => s);
    const bytes = one.reduce((a, b) => a + b, 0);
    const patch = Math.ceil((2 * bytes) / 4096) + KMALLOC.filter(([s]) => s <= 2048).reduce((t, c) => t + slabPages(c, 1) - 2 ** c[3], 0);
    expect(patch).toBeLessThan(need(one));
    expect(m.kmallocEstimateBytes(GFP.KERNEL, bytes)).toBeGreaterThanOrEqual(need(one));
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 40000 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 1 << 20 }), (sizes, budget) => {
      const taken: number[] = [];
      let charged = 0;
      for (const s of sizes) {
        const r = m.kmallocSizeRoundup(s);
        if (charged + r > budget) continue;
        charged += r;
        taken.push(s);
      }
      return need(taken) <= m.kmallocEstimateBytes(GFP.KERNEL, budget);
    }), { seed: 4, numRuns: 300 });
  });

  it('the estimates cover what SLUB really takes for the objects', () => {
    for (const [size, n] of [[100, 64], [1500, 7], [5000, 50], [65, 1000], [3000, 33], [20000, 5]]) {
      const f = boot();
      const before = slabInUse(f);
      for (let i = 0; i < n; i++) expect(f.kmalloc(size, GFP.KERNEL)).not.toBe(0);
      expect(slabInUse(f) - before, `kmalloc(${size}) x ${n}`).toBeLessThanOrEqual(f.kmallocEstimateObjs(GFP.KERNEL, size, n));
    }
    // A mix charged within 256 KiB, and the pages it took.
    const f = boot();
    const before = slabInUse(f);
    let charged = 0;
    for (let i = 0; charged < 250_000; i++) {
      const size = [8, 100, 700, 2000, 5000, 12000, 1, 190][i % 8];
      charged += f.kmallocSizeRoundup(size);
      f.kmalloc(size, GFP.KERNEL);
    }
    expect(slabInUse(f) - before).toBeLessThanOrEqual(f.kmallocEstimateBytes(GFP.KERNEL, charged));
  });
});

describe('strict charges', () => {
  it('pages: up to exactly the limit, then nothing; uncharging returns usage to zero and wakes the waiters', () => {
    const m = boot();
    const r = m.memReserveInit('protocol TX pages', m.memReserveRoot);
    expect(m.memReservePagesSet(r, 4)).toBe(true);
    expect(r.limit).toBe(4 * 4096); // bytes
    expect(m.memReservePagesCharge(r, 3)).toBe(true);
    expect(m.memReservePagesCharge(r, 2)).toBe(false);
    expect(r.usage).toBe(3 * 4096);
    expect(r.waiters).toBe(1);
    expect(m.memReservePagesCharge(r, 1)).toBe(true);
    expect(r.usage).toBe(r.limit);
    expect(m.memReservePagesCharge(r, 1)).toBe(false);
    expect(r.waiters).toBe(2);
    expect(m.memReservePagesCharge(r, -3)).toBe(true);
    expect(r.woken).toBe(2);
    expect(r.waiters).toBe(0);
    expect(m.memReservePagesCharge(r, -1)).toBe(true);
    expect(r.usage).toBe(0);
  });

  it('kmalloc: charged at the size kmalloc really uses', () => {
    const m = boot();
    const r = m.memReserveInit('SKB data reserve', m.memReserveRoot);
    expect(m.memReserveKmallocSet(r, 1024)).toBe(true);
    expect(r.pages).toBe(handBytes(1024));
    expect(m.memReserveKmallocCharge(r, 65)).toBe(true); // kmalloc-96
    expect(r.usage).toBe(96);
    expect(m.memReserveKmallocCharge(r, 900)).toBe(false); // kmalloc-1k: 96 + 1024 > 1024
    expect(r.usage).toBe(96);
    expect(m.memReserveKmallocCharge(r, 500)).toBe(true); // kmalloc-512: 608
    expect(m.memReserveKmallocCharge(r, 129)).toBe(true); // kmalloc-192: 800
    expect(m.memReserveKmallocCharge(r, 200)).toBe(false); // kmalloc-256: 1056 > 1024
    expect(m.memReserveKmallocCharge(r, 128)).toBe(true); // 928
    expect(m.memReserveKmallocCharge(r, 90)).toBe(true); // kmalloc-96: 1024, exactly the limit
    expect(r.usage).toBe(1024);
    expect(m.memReserveKmallocCharge(r, 1)).toBe(false); // kmalloc-8
    expect(r.waiters).toBe(3);
    expect(r.usage).toBe(1024);
    // Uncharging ksize() of each object gives back exactly what was charged.
    const m2 = boot();
    const r2 = m2.memReserveInit('r2', m2.memReserveRoot);
    m2.memReserveKmallocSet(r2, 1024);
    const objs: number[] = [];
    for (const size of [100, 200, 300, 16, 1]) {
      expect(m2.memReserveKmallocCharge(r2, size)).toBe(true);
      objs.push(m2.kmalloc(size, GFP.KERNEL));
    }
    expect(r2.usage).toBe(128 + 256 + 512 + 16 + 8);
    expect(m2.memReserveKmallocCharge(r2, 200)).toBe(false); // 920 + 256 > 1024
    expect(r2.usage).toBe(920);
    for (const o of objs) {
      expect(m2.memReserveKmallocCharge(r2, -m2.ksize(o))).toBe(true);
      m2.kfree(o);
    }
    expect(r2.usage).toBe(0);
    expect(r2.woken).toBe(1);
  });
});

describe('the reserve tree and the watermarks', () => {
  /** The marks __setup_per_zone_wmarks() gives with `pagesMin` pages, written out. */
  function handMarks(m: Machine, pagesMin: number): number[][] {
    const high = (t: string) => t === 'HighMem' || t === 'Movable';
    const lowmem = m.zones.filter((z) => !high(z.type)).reduce((s, z) => s + z.managed, 0);
    return m.zones.map((z) => {
      const tmp = Math.floor((pagesMin * z.managed) / lowmem);
      const min = high(z.type) ? Math.min(128, Math.max(32, Math.floor(z.managed / 1024))) : tmp;
      const step = Math.max(tmp >> 2, Math.floor((z.managed * m.cfg.watermarkScaleFactor) / 10000));
      return [min, min + step, min + 2 * step, min + 3 * step];
    });
  }
  const marks = (m: Machine) => m.zones.map((z) => [...z.watermark]);
  const pcps = (m: Machine) => m.zones.map((z) => z.pcp.map((p) => [p.batch, p.highMin, p.highMax]));

  it('children add up at the parent and the root; the min watermarks rise by the root\'s pages and fall back exactly', () => {
    const m = boot();
    const bootMarks = marks(m);
    const bootReserve = m.totalreservePages;
    const bootPcp = pcps(m);
    const p0 = Math.floor(m.minFreeKbytes / 4);
    expect(bootMarks).toEqual(handMarks(m, p0));

    // A subtree built while disconnected moves nothing.
    const net = m.memReserveInit('total network reserve');
    const tx = m.memReserveInit('network TX reserve', net);
    const rx = m.memReserveInit('network RX reserve', net);
    expect(m.memReservePagesSet(tx, 53)).toBe(true);
    expect(m.memReserveKmallocSet(rx, 256 * 1024)).toBe(true);
    expect(rx.pages).toBe(handBytes(256 * 1024));
    expect(net.pages).toBe(tx.pages + rx.pages);
    expect(net.limit).toBe(53 * 4096 + 256 * 1024);
    expect(m.memReserveRoot.pages).toBe(0);
    expect(marks(m)).toEqual(bootMarks);

    expect(m.memReserveConnect(net, m.memReserveRoot)).toBe(true);
    const R = tx.pages + rx.pages;
    expect(m.memReserveRoot.pages).toBe(R);
    expect(m.varFreeKbytes).toBe(R * 4);
    expect(m.dmesg()).toContain(`Emergency reserve: ${R * 4}`);
    expect(marks(m)).toEqual(handMarks(m, p0 + R));
    // The lowmem zones share the R pages in proportion to their size (each rounded down).
    const rise = m.zones.reduce((s, z, i) => s + z.watermark[0] - bootMarks[i][0], 0);
    expect(rise).toBeGreaterThan(R - 2);
    expect(rise).toBeLessThanOrEqual(R + 1);
    expect(m.totalreservePages).toBeGreaterThan(bootReserve);

    // Growing a leaf reaches the root; disconnecting a child takes its pages away.
    expect(m.memReservePagesAdd(tx, 10)).toBe(true);
    expect(m.memReserveRoot.pages).toBe(R + 10);
    m.memReserveDisconnect(rx);
    expect(net.pages).toBe(63);
    expect(m.memReserveRoot.pages).toBe(63);
    expect(marks(m)).toEqual(handMarks(m, p0 + 63));

    // Disconnecting the subtree: the boot values, exactly.
    m.memReserveDisconnect(net);
    expect(m.memReserveRoot.pages).toBe(0);
    expect(m.memReserveRoot.limit).toBe(0);
    expect(m.varFreeKbytes).toBe(0);
    expect(marks(m)).toEqual(bootMarks);
    expect(m.totalreservePages).toBe(bootReserve);
    expect(pcps(m)).toEqual(bootPcp);

    // Connected again, then set to 0: the same.
    expect(m.memReserveConnect(net, m.memReserveRoot)).toBe(true);
    expect(marks(m)).toEqual(handMarks(m, p0 + 63));
    expect(m.memReservePagesSet(tx, 0)).toBe(true);
    expect(marks(m)).toEqual(bootMarks);
    expect(m.totalreservePages).toBe(bootReserve);
    m.checkInvariants();
  });

  it('highmem keeps its min; its low and high follow the lowmem share as the kernel computes them', () => {
    const m = boot({ arch: 'i386', mem: '2G' });
    const hi = m.zones.find((z) => z.type === 'HighMem')!;
    const before = [...hi.watermark];
    const r = m.memReserveInit('r', m.memReserveRoot);
    expect(m.memReservePagesSet(r, 4000)).toBe(true);
    expect(hi.watermark[0]).toBe(before[0]);
    expect(marks(m)).toEqual(handMarks(m, Math.floor(m.minFreeKbytes / 4) + 4000));
  });

  it('a reserve the machine cannot hold is refused and changes nothing', () => {
    const m = boot({ mem: '64M' });
    const bootMarks = marks(m);
    const r = m.memReserveInit('too big', m.memReserveRoot);
    expect(m.memReservePagesSet(r, m.totalramPages)).toBe(false);
    expect(r.pages).toBe(0);
    expect(r.limit).toBe(0);
    expect(m.memReserveRoot.pages).toBe(0);
    expect(m.varFreeKbytes).toBe(0);
    expect(marks(m)).toEqual(bootMarks);
    // Connecting a subtree that is too big fails too, and leaves it unconnected.
    const big = m.memReserveInit('big');
    m.memReservePagesSet(big, m.totalramPages);
    expect(m.memReserveConnect(big, m.memReserveRoot)).toBe(false);
    expect(big.parent).toBeUndefined();
    expect(m.memReserveRoot.children).toEqual([r]);
  });

  it('misuse is reported: a cycle, disconnecting the unconnected', () => {
    const m = boot();
    const a = m.memReserveInit('a', m.memReserveRoot);
    const b = m.memReserveInit('b', a);
    expect(() => m.memReserveConnect(m.memReserveRoot, b)).toThrow(KernelReport);
    expect(() => m.memReserveDisconnect(m.memReserveRoot)).toThrow(KernelReport);
    expect(m.memReserveConnect(b, m.memReserveRoot)).toBe(false); // -EEXIST: already connected
    expect(b.parent).toBe(a);
    // The page allocator's reserve cannot go below nothing; the refusal changes nothing.
    const before = marks(m);
    expect(() => m.adjustMemallocReserve(-1)).toThrow(/var_free_kbytes/);
    expect(m.varFreeKbytes).toBe(0);
    expect(marks(m)).toEqual(before);
  });

  it('/proc/reserve_info prints the tree as the patch did', () => {
    const m = boot();
    const net = m.memReserveInit('total network reserve', m.memReserveRoot);
    const tx = m.memReserveInit('network TX reserve', net);
    m.memReserveInit('network RX reserve', net);
    m.memReservePagesSet(tx, 53);
    m.memReservePagesCharge(tx, 2);
    expect(m.reserveInfo()).toBe([
      '1:0 "total reserve" 212K 0/217088',
      '2:1 "total network reserve" 212K 0/217088',
      '3:2 "network RX reserve" 0K 0/0',
      '4:2 "network TX reserve" 212K 8192/217088',
      '',
    ].join('\n'));
  });
});

describe('kmem_cache reserves, in objects of a real cache', () => {
  it('reserves for N objects at the cache\'s own stride, charges objects strictly, and the objects fit', () => {
    const m = boot();
    // 104-byte objects aligned to a cache line: a stride of 128, 32 a page (not 4096 / 104 = 39);
    // calculate_order: 12 x 128 = 1536 -> order 0, no waste. 100 objects: 4 pages + 2 CPUs x 1 = 6.
    const s = m.kmemCacheCreate('buffer_head', 104, { flags: SLAB_HWCACHE_ALIGN })!;
    expect([s.size, s.order, s.objects, s.minOrder, s.minObjects]).toEqual([128, 0, 32, 0, 32]);
    const r = m.memReserveInit('buffer heads', m.memReserveRoot);
    expect(m.memReserveKmemCacheSet(r, s, 100)).toBe(true);
    expect(r.pages).toBe(6);
    expect(r.limit).toBe(100 * 104); // objects x kmem_cache_size()
    expect(m.memReserveRoot.pages).toBe(6);

    const before = slabInUse(m);
    const objs: number[] = [];
    for (let i = 0; i < 100; i++) {
      expect(m.memReserveKmemCacheCharge(r, s, 1)).toBe(true);
      objs.push(m.kmemCacheAlloc(s, GFP.KERNEL));
    }
    expect(m.memReserveKmemCacheCharge(r, s, 1)).toBe(false);
    expect(r.usage).toBe(r.limit);
    expect(slabInUse(m) - before).toBeLessThanOrEqual(r.pages);
    for (const o of objs) {
      m.kmemCacheFree(s, o);
      expect(m.memReserveKmemCacheCharge(r, s, -1)).toBe(true);
    }
    expect(r.usage).toBe(0);

    // A cache of 200-byte objects: 12 x 200 = 2400 -> order 0, 4096 % 200 = 96 <= 256: 20 a page.
    const nfs = m.kmemCacheCreate('nfs_page', 200)!;
    expect([nfs.size, nfs.order, nfs.objects]).toEqual([200, 0, 20]);
    expect(m.kmemAllocEstimate(nfs, GFP.ATOMIC, 1000)).toBe(50 + 2);
    // Resetting to fewer objects shrinks the reserve and the watermarks with it.
    expect(m.memReserveKmemCacheSet(r, s, 10)).toBe(true);
    expect(r.pages).toBe(1 + 2);
    expect(m.memReserveRoot.pages).toBe(3);
    expect(m.varFreeKbytes).toBe(12);
  });
});
