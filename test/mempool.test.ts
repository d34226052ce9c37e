/**
 * mempool_t (mm/mempool.c): preallocation, the backend first and the reserve in LIFO order, the gfp each
 * backend attempt gets, refilling on free, atomic callers that never wait, sleepers woken by a free (or the
 * model's bounded wait), resize, destroy and use after destroy, the three stock backends, and sleeping
 * allocations from interrupt context.
 */
import { describe, expect, it } from 'vitest';
import { GFP, KernelReport, Machine, NO_PAGE, type MachineConfig } from '../src/index.js';
import { MEMPOOL_MODEL_WAIT_ROUNDS, MEMPOOL_WAIT_NS } from '../src/mm/mempool.js';
import { takeAll } from './helpers/exhaust.js';

const boot = (cfg: MachineConfig = {}) => Machine.boot({ mem: '64M', thp: false, strict: true, ...cfg });

/** Free pages once the slab caches give back their empty slabs and the pcp lists drain. */
const settledFree = (m: Machine) => {
  for (const c of m.kmemCaches()) m.kmemCacheShrink(c);
  m.drainAllPages();
  return m.freePagesTotal();
};

/** Objects of `s` in use (after flushing the CPU slabs, full slabs hold no free object). */
const live = (m: Machine, s: NonNullable<ReturnType<Machine['kmemCacheCreate']>>) => {
  m.slub.flushAll(s);
  return s.totalObjects - m.slub.freeObjects(s);
};

/** A generic pool over a counter: elements 100, 101, ...; `fail` makes the backend fail; gfps seen and frees recorded. */
function counterPool(m: Machine, minNr: number) {
  const b = { next: 100, fail: false, failUnlessReclaim: false, budget: Infinity, gfps: [] as number[], freed: [] as number[] };
  const pool = m.mempoolCreate(minNr, (gfp) => {
    b.gfps.push(gfp);
    if (b.fail || (b.failUnlessReclaim && !(gfp & GFP.DIRECT_RECLAIM)) || b.budget <= 0) return null;
    b.budget--;
    return b.next++;
  }, (el) => b.freed.push(el));
  expect(pool).not.toBeNull();
  b.gfps.length = 0;
  return { pool: pool!, b };
}

describe('mempool_create', () => {
  it('preallocates min_nr objects of the cache, with GFP_KERNEL', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const before = live(m, s);
    const pool = m.mempoolCreateSlabPool(16, s)!;
    expect(pool.currNr).toBe(16);
    expect(pool.minNr).toBe(16);
    expect(live(m, s)).toBe(before + 16);
    expect(new Set(pool.present()).size).toBe(16);
    const seen: number[] = [];
    m.mempoolCreate(3, (gfp) => {
      seen.push(gfp);
      return seen.length;
    }, () => {});
    expect(seen).toEqual([GFP.KERNEL, GFP.KERNEL, GFP.KERNEL]);
  });

  it('returns null and frees what it got when an element cannot be allocated', () => {
    const m = boot();
    let n = 0;
    const freed: number[] = [];
    const pool = m.mempoolCreate(5, () => (n < 3 ? ++n : null), (el) => freed.push(el));
    expect(pool).toBeNull();
    expect(freed).toEqual([3, 2, 1]); // mempool_exit takes them LIFO
    // A page pool on a machine with nothing free: null, and nothing kept.
    const m2 = boot();
    const held = takeAll(m2);
    expect(m2.mempoolCreatePagePool(4, 0)).toBeNull();
    expect(m2.mempool.pools.size).toBe(0);
    m2.releasePages(held);
  });
});

describe('mempool_alloc', () => {
  it('takes from the backend while memory is plentiful, leaving the reserve alone', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const pool = m.mempoolCreateSlabPool(4, s)!;
    const reserved = pool.present();
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push(m.mempoolAlloc(pool, GFP.NOIO)!);
    expect(pool.currNr).toBe(4);
    expect(pool.present()).toEqual(reserved);
    expect(got.every((o) => o !== 0 && !reserved.includes(o))).toBe(true);
    expect(pool.stats.allocBackend).toBe(10);
    expect(pool.stats.allocReserve).toBe(0);
  });

  it('hands out the reserve last-in first-out when the page allocator has nothing left', () => {
    const m = boot();
    const pool = m.mempoolCreatePagePool(4, 0)!;
    const reserved = pool.present();
    const held = takeAll(m);
    const got = [0, 1, 2, 3].map(() => m.mempoolAlloc(pool, GFP.ATOMIC));
    expect(got).toEqual([reserved[3], reserved[2], reserved[1], reserved[0]]);
    expect(m.mempoolAlloc(pool, GFP.ATOMIC)).toBeNull();
    expect(pool.stats).toMatchObject({ allocBackend: 0, allocReserve: 4, failures: 1, waits: 0 });
    // __GFP_NOWARN: the backend's failures print no allocation-failure report.
    expect(m.dmesg()).not.toContain('page allocation failure');
    m.releasePages(held);
  });

  it('asks the backend first without direct reclaim or IO, and with NOMEMALLOC|NORETRY|NOWARN', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 1);
    b.fail = true;
    const temp = (GFP.KERNEL | GFP.NOMEMALLOC | GFP.NORETRY | GFP.NOWARN) & ~(GFP.DIRECT_RECLAIM | GFP.IO);
    expect(m.mempoolAlloc(pool, GFP.KERNEL)).toBe(100); // the reserve's element
    expect(b.gfps).toEqual([temp]);
    expect(temp & GFP.FS).toBe(GFP.FS); // only reclaim and IO are taken away
  });

  it('with the reserve empty, retries the backend at once with the full gfp', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 1);
    b.failUnlessReclaim = true;
    expect(m.mempoolAlloc(pool, GFP.NOFS)).toBe(100); // reserve
    b.gfps.length = 0;
    const t0 = m.clock.ns;
    expect(m.mempoolAlloc(pool, GFP.NOFS)).toBe(101); // the backend, second attempt
    const full = GFP.NOFS | GFP.NOMEMALLOC | GFP.NORETRY | GFP.NOWARN;
    expect(b.gfps).toEqual([full & ~(GFP.DIRECT_RECLAIM | GFP.IO), full]);
    expect(m.clock.ns).toBe(t0);
    expect(pool.stats.waits).toBe(0);
  });

  it('GFP_ATOMIC on an empty pool with a failing backend: null at once, one backend attempt, no time passes', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 1);
    b.fail = true;
    m.mempoolAlloc(pool, GFP.ATOMIC);
    b.gfps.length = 0;
    const t0 = m.clock.ns;
    expect(m.mempoolAlloc(pool, GFP.ATOMIC)).toBeNull();
    expect(m.clock.ns).toBe(t0);
    expect(b.gfps).toEqual([GFP.ATOMIC | GFP.NOMEMALLOC | GFP.NORETRY | GFP.NOWARN]); // nothing to drop: no retry
    expect(pool.stats).toMatchObject({ waits: 0, failures: 1 });
  });

  it('GFP_KERNEL on an empty pool sleeps until another task frees an element, and gets exactly that one', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    b.fail = true;
    const first = m.mempoolAlloc(pool, GFP.KERNEL)!;
    const second = m.mempoolAlloc(pool, GFP.KERNEL)!;
    expect([first, second]).toEqual([101, 100]);
    const t0 = m.clock.ns;
    m.clock.addTimer(t0 + 1e9, () => m.mempoolFree(first, pool));
    expect(m.mempoolAlloc(pool, GFP.KERNEL)).toBe(first);
    expect(m.clock.ns - t0).toBeGreaterThanOrEqual(1e9);
    expect(m.clock.ns - t0).toBeLessThan(1e9 + 1e6);
    expect(pool.stats.waits).toBe(1);
    expect(pool.stats.waitNs).toBe(m.clock.ns - t0);
  });

  it('gives up after the bounded wait when nothing is ever freed, with a line in dmesg', () => {
    const m = boot({ strict: false });
    const { pool, b } = counterPool(m, 1);
    b.fail = true;
    m.mempoolAlloc(pool, GFP.KERNEL);
    const t0 = m.clock.ns;
    expect(m.mempoolAlloc(pool, GFP.KERNEL)).toBeNull();
    expect(m.clock.ns - t0).toBe(MEMPOOL_MODEL_WAIT_ROUNDS * MEMPOOL_WAIT_NS);
    expect(pool.stats).toMatchObject({ waits: MEMPOOL_MODEL_WAIT_ROUNDS, waitNs: 60e9, failures: 1 });
    expect(m.dmesg()).toMatch(/mmlab: mempool_alloc\(ffff[0-9a-f]{12} \[mempool\], 0xcc0\(GFP_KERNEL\)\) would wait for ever: no element was freed in 60 s; the model returns NULL/);
    expect(m.printk.reports('mempool_alloc gave up')).toBe(1);
  });

  it('GFP_KERNEL in interrupt context is reported as a sleeping allocation in atomic context', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const pool = m.mempoolCreateSlabPool(2, s)!;
    expect(() => m.inIrq(() => m.mempoolAlloc(pool, GFP.KERNEL))).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: sleeping function called from invalid context at include/linux/sched/mm.h:321');
    expect(m.dmesg()).toMatch(/in_atomic\(\): 1, irqs_disabled\(\): 1/);
    expect(pool.stats.allocBackend + pool.stats.allocReserve).toBe(0); // strict: rejected before anything happened
    // GFP_ATOMIC from the same interrupt is fine.
    expect(m.inIrq(() => m.mempoolAlloc(pool, GFP.ATOMIC))).not.toBeNull();
    expect(m.printk.reports('sleeping function called from invalid context')).toBe(1);
  });

  it('mempool_alloc_preallocated takes only the reserve, never the backend', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    expect(m.mempoolAllocPreallocated(pool)).toBe(101);
    expect(m.mempoolAllocPreallocated(pool)).toBe(100);
    expect(m.mempoolAllocPreallocated(pool)).toBeNull();
    expect(b.gfps).toEqual([]);
    expect(pool.stats).toMatchObject({ allocReserve: 2, failures: 1, allocBackend: 0 });
  });
});

describe('mempool_free', () => {
  it('refills the reserve first (the next reserve allocation returns that element), then frees to the backend', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    b.fail = true;
    const a = m.mempoolAlloc(pool, GFP.ATOMIC)!;
    const c = m.mempoolAlloc(pool, GFP.ATOMIC)!;
    b.fail = false;
    const x = m.mempoolAlloc(pool, GFP.ATOMIC)!; // from the backend
    expect(x).toBe(102);
    m.mempoolFree(x, pool); // the reserve is short: x goes in
    expect(pool.currNr).toBe(1);
    b.fail = true;
    expect(m.mempoolAlloc(pool, GFP.ATOMIC)).toBe(x);
    m.mempoolFree(a, pool);
    m.mempoolFree(c, pool);
    expect(pool.currNr).toBe(2);
    m.mempoolFree(x, pool); // full: to the backend
    expect(b.freed).toEqual([x]);
    expect(pool.stats).toMatchObject({ refills: 3, freeBackend: 1 });
    m.mempoolFree(null, pool); // NULL: nothing
    expect(pool.stats).toMatchObject({ refills: 3, freeBackend: 1 });
  });

  it('a slab pool that is full gives the object back to its cache', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const pool = m.mempoolCreateSlabPool(2, s)!;
    const o = m.mempoolAlloc(pool, GFP.KERNEL)!;
    const n = live(m, s);
    m.mempoolFree(o, pool);
    expect(live(m, s)).toBe(n - 1);
    expect(pool.currNr).toBe(2);
  });

  it('freeing an element that is already in the reserve is reported as a double free', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    b.fail = true;
    const a = m.mempoolAlloc(pool, GFP.ATOMIC)!;
    m.mempoolAlloc(pool, GFP.ATOMIC);
    m.mempoolFree(a, pool);
    expect(() => m.mempoolFree(a, pool)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: KASAN: double-free in mempool_free');
    expect(pool.currNr).toBe(1);
  });
});

describe('mempool_resize', () => {
  it('shrinking frees the surplus; growing preallocates up to the new minimum', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const pool = m.mempoolCreateSlabPool(8, s)!;
    const base = live(m, s) - 8;
    const kept = pool.present().slice(0, 3);
    expect(m.mempoolResize(pool, 3)).toBe(0);
    expect([pool.minNr, pool.currNr]).toEqual([3, 3]);
    expect(pool.present()).toEqual(kept); // the newest went
    expect(live(m, s)).toBe(base + 3);
    expect(m.mempoolResize(pool, 12)).toBe(0);
    expect([pool.minNr, pool.currNr]).toEqual([12, 12]);
    expect(live(m, s)).toBe(base + 12);
    m.checkInvariants();
  });

  it('growing when the backend fails keeps what it got, returns 0, and later frees refill the pool', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    b.budget = 1;
    expect(m.mempoolResize(pool, 5)).toBe(0); // as mm/mempool.c: the pool stays short, no error
    expect([pool.minNr, pool.currNr]).toEqual([5, 3]);
    m.mempoolFree(500, pool);
    m.mempoolFree(501, pool);
    m.mempoolFree(502, pool);
    expect(pool.currNr).toBe(5);
    expect(b.freed).toEqual([502]);
  });

  it('new_min_nr <= 0 is the kernel BUG_ON', () => {
    const m = boot();
    const { pool } = counterPool(m, 2);
    expect(() => m.mempoolResize(pool, 0)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('kernel BUG at mm/mempool.c: mempool_resize: BUG_ON(new_min_nr <= 0)');
    expect([pool.minNr, pool.currNr]).toEqual([2, 2]);
  });
});

describe('mempool_destroy', () => {
  it('gives back every page the pool took: slab, kmalloc and page pools', () => {
    const m = boot();
    const s = m.kmemCacheCreate('bio_test', 200)!;
    const before = settledFree(m);
    const pools = [m.mempoolCreateSlabPool(32, s)!, m.mempoolCreateKmallocPool(32, 1000)!, m.mempoolCreatePagePool(8, 2)!];
    expect(settledFree(m)).toBeLessThan(before - 8 * 4);
    for (const p of pools) m.mempoolDestroy(p);
    expect(settledFree(m)).toBe(before);
    expect(m.mempool.pools.size).toBe(0);
    m.mempoolDestroy(null); // NULL: nothing
    m.checkInvariants();
  });

  it('using a destroyed pool is reported as a use-after-free and changes nothing', () => {
    const m = boot();
    const { pool, b } = counterPool(m, 2);
    m.mempoolDestroy(pool);
    expect(b.freed).toEqual([101, 100]);
    expect(() => m.mempoolAlloc(pool, GFP.KERNEL)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: KASAN: slab-use-after-free in mempool_alloc_noprof+0x0/0x0');
    expect(m.dmesg()).toMatch(/Read of size 8 at addr ffff[0-9a-f]{12} by task init\/1/);
    expect(m.dmesg()).toContain('which belongs to the cache kmalloc-96 of size 96');
    expect(() => m.mempoolFree(7, pool)).toThrow(KernelReport);
    expect(() => m.mempoolDestroy(pool)).toThrow(KernelReport);
    expect(b.gfps).toEqual([]);
    expect(b.freed).toEqual([101, 100]);
    // Not strict: logged, and null.
    const m2 = boot({ strict: false });
    const p2 = counterPool(m2, 1).pool;
    m2.mempoolDestroy(p2);
    expect(m2.mempoolAlloc(p2, GFP.ATOMIC)).toBeNull();
    expect(m2.printk.reports('KASAN: slab-use-after-free')).toBe(1);
  });
});

describe('the stock backends', () => {
  it('a page pool holds pfns of blocks of its order', () => {
    const m = boot();
    const free0 = settledFree(m);
    const slab0 = m.slub.counters.unreclaimablePages;
    const pool = m.mempoolCreatePagePool(6, 3)!;
    const pfns = pool.present();
    for (const pfn of pfns) {
      expect(pfn % 8).toBe(0);
      expect(m.mm.allocOrder(pfn)).toBe(3);
      expect(m.mm.refcount[pfn]).toBe(1);
      expect(m.pa.pageIsFree(pfn)).toBe(false);
    }
    // 48 pages for the elements; the pool's struct and array may have taken a slab page.
    expect(free0 - settledFree(m) - (m.slub.counters.unreclaimablePages - slab0)).toBe(6 * 8);
    const el = m.mempoolAlloc(pool, GFP.KERNEL)!;
    expect(m.mm.allocOrder(el)).toBe(3);
    expect(pool.currNr).toBe(6);
    m.mempoolFree(el, pool);
    m.mempoolFree(NO_PAGE, pool); // a page pool's NULL
    expect(pool.stats.freeBackend).toBe(1);
  });

  it('a kmalloc pool holds kmalloc objects of its size class', () => {
    const m = boot();
    const pool = m.mempoolCreateKmallocPool(4, 200)!;
    for (const obj of [...pool.present(), m.mempoolAlloc(pool, GFP.KERNEL)!]) {
      expect(m.ksize(obj)).toBe(256);
      expect(m.slub.cacheOfPage(m.virtToPage(obj))!.name).toBe('kmalloc-256');
    }
  });

  it('a slab pool on a cache with a constructor is the kernel VM_BUG_ON', () => {
    const m = boot();
    const s = m.kmemCacheCreate('ctor_cache', 64, { ctor: () => {} })!;
    expect(() => m.mempoolCreateSlabPool(2, s)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('VM_BUG_ON(mem->ctor)');
  });

  it('__GFP_ZERO draws the kernel warning once', () => {
    const m = boot();
    const { pool } = counterPool(m, 1);
    m.mempoolAlloc(pool, GFP.KERNEL | GFP.ZERO);
    m.mempoolAlloc(pool, GFP.KERNEL | GFP.ZERO);
    expect(m.dmesg().match(/VM_WARN_ON_ONCE\(gfp_mask & __GFP_ZERO\)/g)).toHaveLength(1);
  });
});
