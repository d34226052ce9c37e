import { describe, expect, it } from 'vitest';
import { GFP, KernelReport, Machine, MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, NO_PAGE } from '../src/index.js';
import {
  ALLOC_CPUSET, ALLOC_HIGHATOMIC, ALLOC_KSWAPD, ALLOC_MIN_RESERVE, ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_WMARK_MIN,
} from '../src/mm/buddy.js';
import { compoundHead, compoundOrder, pageTail } from '../src/mm/compound.js';
import { PG_HEAD, PG_LRU } from '../src/mm/page.js';
import type { Zone } from '../src/mm/zone.js';

const NORMAL_IDX_X86 = 2;

/**
 * Free blocks per zone and order, for before/after comparisons. Migratetypes are left out on purpose: a
 * pageblock claimed for another type keeps that type after its pages are freed, in the kernel as here.
 */
function census(m: Machine): string {
  return m.zones.map((z) => `${z.name}[${Array.from(z.nrFree).join(',')}]`).join(' ') + ` pcp=${m.pcpPagesTotal()}`;
}

/** A whole free order-10 movable block of the zone (boot's own allocations took the first ones). */
function freeMaxBlock(m: Machine, z: Zone): number {
  const head = z.freeList(10, MIGRATE_MOVABLE);
  const pfn = m.mm.prev[head];
  if (pfn === head) throw new Error('no free order-10 block');
  return pfn;
}

/**
 * Take every free block of a zone off the free lists, as if allocated, so a test can lay out exactly the
 * free blocks it wants with `place`. Returns the pfns taken (each an allocated order-0 page).
 */
function emptyZone(m: Machine, z: Zone): void {
  m.drainAllPages();
  const b = m.buddy;
  for (let o = 0; o <= 10; o++) {
    for (let mt = 0; mt < 5; mt++) {
      const head = z.freeList(o, mt);
      while (m.mm.next[head] !== head) {
        const pfn = m.mm.next[head];
        b.delFromFreeList(pfn, z, o, mt);
        b.accountFreepages(z, -(1 << o), mt);
        for (let i = 0; i < 1 << o; i++) {
          m.mm.refcount[pfn + i] = 1;
          m.mm.flags[pfn + i] &= ~0xf00000; // alloc order 0
        }
      }
    }
  }
}

/** Free `n` order-0 pages starting at pfn (they merge as the buddy rule allows). */
function place(m: Machine, pfn: number, n: number): void {
  for (let i = 0; i < n; i++) m.freePages(pfn + i, 0);
  m.drainAllPages();
}

describe('buddy split and merge', () => {
  it('splits an order-10 block down to the request and merges it back on free', () => {
    const m = Machine.boot({ mem: '64M', strict: true });
    const z = m.zones[1];
    const before = Array.from(z.nrFree);
    const movable = (o: number) => z.nrFreeList[o * 5 + MIGRATE_MOVABLE];
    const movableBefore = before.map((_, o) => movable(o));
    // Movable, so served from the movable lists without fallback; order 5 bypasses the pcp lists.
    const pfn = m.allocPages(GFP.USER | GFP.MOVABLE | GFP.DMA32, 5);
    expect(pfn).not.toBe(NO_PAGE);
    // The smallest free movable block was split: one buddy of each order from 5 up to that block's order - 1.
    const took = movableBefore.findIndex((n, o) => o >= 5 && n > 0);
    for (let o = 5; o < took; o++) expect(z.nrFree[o]).toBe(before[o] + 1);
    expect(z.nrFree[took]).toBe(before[took] - 1);
    m.freePages(pfn, 5);
    expect(Array.from(z.nrFree)).toEqual(before);
    m.checkInvariants();
  });

  it('merges a freed block with its buddy at pfn ^ (1 << order), into the block at pfn & buddy', () => {
    const m = Machine.boot({ mem: '64M', strict: true });
    const z = m.zones[1];
    const base = freeMaxBlock(m, z); // order-10 aligned, free at boot
    emptyZone(m, z);
    place(m, base + 4, 4); // one order-2 block at base+4
    expect(z.nrFree[2]).toBe(1);
    place(m, base, 4); // its buddy: the two become one order-3 block at base
    expect(z.nrFree[2]).toBe(0);
    expect(z.nrFree[3]).toBe(1);
    expect(m.mm.private_[base]).toBe(3);
    m.checkInvariants();
  });
});

describe('watermarks (__zone_watermark_ok worked examples)', () => {
  const m = Machine.boot({ mem: '4G' });
  const z = m.zones[NORMAL_IDX_X86];
  const hi = NORMAL_IDX_X86;
  z.lowmemReserve[hi] = 0;

  it('order 0 passes strictly above the mark', () => {
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_WMARK_MIN, 1001)).toBe(true);
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_WMARK_MIN, 1000)).toBe(false);
  });

  it('__GFP_HIGH halves the mark, non-blocking takes a further quarter, OOM halves again', () => {
    // MIN_RESERVE: 1000 - 500 = 500
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE, 501)).toBe(true);
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE, 500)).toBe(false);
    // MIN_RESERVE|NON_BLOCK: 500 - 125 = 375
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 376)).toBe(true);
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 375)).toBe(false);
    // NON_BLOCK alone does not lower the mark
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_NON_BLOCK, 1000)).toBe(false);
    // OOM: 1000 - 500 = 500
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_OOM, 501)).toBe(true);
    // MIN_RESERVE then OOM: 1000 -> 500 -> 250
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE | ALLOC_OOM, 251)).toBe(true);
    expect(m.pa.zoneWatermarkOk(z, 0, 1000, hi, ALLOC_MIN_RESERVE | ALLOC_OOM, 250)).toBe(false);
  });

  it('subtracts 2^order - 1 and the lowmem reserve of the highest usable zone', () => {
    // order 3: free 1008 - 7 = 1001 > 1000
    expect(m.pa.zoneWatermarkOk(z, 3, 1000, hi, ALLOC_WMARK_MIN, 1008)).toBe(true);
    expect(m.pa.zoneWatermarkOk(z, 3, 1000, hi, ALLOC_WMARK_MIN, 1007)).toBe(false);
    const dma32 = m.zones[1];
    const saved = dma32.lowmemReserve[hi];
    dma32.lowmemReserve[hi] = 200;
    expect(m.pa.zoneWatermarkOk(dma32, 0, 1000, hi, ALLOC_WMARK_MIN, 1200)).toBe(false);
    expect(m.pa.zoneWatermarkOk(dma32, 0, 1000, hi, ALLOC_WMARK_MIN, 1201)).toBe(true);
    dma32.lowmemReserve[hi] = saved;
  });

  it('a high order needs a free block of that order or more on a list the caller may use', () => {
    const m2 = Machine.boot({ mem: '64M' });
    const zz = m2.zones[1];
    const base = freeMaxBlock(m2, zz);
    emptyZone(m2, zz);
    place(m2, base, 4); // one order-2 block only
    expect(m2.pa.zoneWatermarkOk(zz, 2, 0, 1, ALLOC_WMARK_MIN, 100000)).toBe(true);
    expect(m2.pa.zoneWatermarkOk(zz, 3, 0, 1, ALLOC_WMARK_MIN, 100000)).toBe(false);
    // On a HIGHATOMIC list it counts only for ALLOC_HIGHATOMIC or ALLOC_OOM callers.
    m2.buddy.moveToFreeList(base, zz, 2, MIGRATE_MOVABLE, MIGRATE_HIGHATOMIC);
    expect(m2.pa.zoneWatermarkOk(zz, 2, 0, 1, ALLOC_WMARK_MIN, 100000)).toBe(false);
    expect(m2.pa.zoneWatermarkOk(zz, 2, 0, 1, ALLOC_HIGHATOMIC, 100000)).toBe(true);
    expect(m2.pa.zoneWatermarkOk(zz, 2, 0, 1, ALLOC_OOM, 100000)).toBe(true);
  });

  it('boot watermarks follow min_free_kbytes = int_sqrt(lowmem_kbytes * 16) without THP', () => {
    const m3 = Machine.boot({ mem: '1G', thp: false });
    const lowmemKb = m3.zones.reduce((s, zz) => s + zz.managed, 0) * 4;
    expect(m3.minFreeKbytes).toBe(Math.floor(Math.sqrt(lowmemKb * 16)));
    const pagesMin = m3.minFreeKbytes >> 2;
    // Movable and highmem zones get their own small min (clamp(managed / 1024, 32, 128)), outside the share.
    const low = m3.zones.filter((zz) => zz.type !== 'Movable' && zz.type !== 'HighMem');
    expect(m3.zones.find((zz) => zz.type === 'Movable')!.watermark[0]).toBe(32);
    const sumMin = low.reduce((s, zz) => s + zz.watermark[0], 0);
    expect(pagesMin - sumMin).toBeGreaterThanOrEqual(0);
    expect(pagesMin - sumMin).toBeLessThan(m3.zones.length); // each zone's share is rounded down
  });

  it('THP raises min_free_kbytes to khugepaged\'s recommendation', () => {
    const a = Machine.boot({ mem: '4G', thp: true });
    // 3 populated lowmem zones: 512 * 3 * 2 + 512 * 3 * 9 pageblock pages = 16896 pages = 67584 kB
    expect(a.minFreeKbytes).toBe(67584);
  });
});

describe('gfp_to_alloc_flags', () => {
  const m = Machine.boot({ mem: '1G' });
  it('GFP_KERNEL: min mark, cpuset, kswapd', () => {
    expect(m.pa.gfpToAllocFlags(GFP.KERNEL, 0)).toBe(ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_KSWAPD);
  });
  it('GFP_ATOMIC: the __GFP_HIGH reserve, non-blocking, no cpuset; highatomic for order > 0', () => {
    expect(m.pa.gfpToAllocFlags(GFP.ATOMIC, 0)).toBe(ALLOC_MIN_RESERVE | ALLOC_KSWAPD | ALLOC_NON_BLOCK);
    expect(m.pa.gfpToAllocFlags(GFP.ATOMIC, 1)).toBe(ALLOC_MIN_RESERVE | ALLOC_KSWAPD | ALLOC_NON_BLOCK | ALLOC_HIGHATOMIC);
  });
  it('GFP_NOWAIT: non-blocking but no __GFP_HIGH, so no highatomic', () => {
    expect(m.pa.gfpToAllocFlags(GFP.NOWAIT, 2)).toBe(ALLOC_CPUSET | ALLOC_KSWAPD | ALLOC_NON_BLOCK);
  });
  it('__GFP_NOMEMALLOC forgoes the non-blocking reserve', () => {
    expect(m.pa.gfpToAllocFlags(GFP.ATOMIC | GFP.NOMEMALLOC, 1)).toBe(ALLOC_MIN_RESERVE | ALLOC_KSWAPD);
  });
  it('__gfp_pfmemalloc_flags: NOMEMALLOC beats MEMALLOC and PF_MEMALLOC', () => {
    expect(m.pa.gfpPfmemallocFlags(GFP.KERNEL | GFP.MEMALLOC)).toBe(4);
    expect(m.pa.gfpPfmemallocFlags(GFP.KERNEL | GFP.MEMALLOC | GFP.NOMEMALLOC)).toBe(0);
    const old = m.memallocNoreclaimSave();
    expect(m.pa.gfpPfmemallocFlags(GFP.KERNEL)).toBe(4);
    expect(m.pa.gfpPfmemallocFlags(GFP.KERNEL | GFP.NOMEMALLOC)).toBe(0);
    // In a hard interrupt the task's PF_MEMALLOC does not count.
    expect(m.inIrq(() => m.pa.gfpPfmemallocFlags(GFP.ATOMIC))).toBe(0);
    // Serving softirq on behalf of a PF_MEMALLOC task does.
    expect(m.inSoftirq(() => m.pa.gfpPfmemallocFlags(GFP.ATOMIC))).toBe(4);
    m.memallocNoreclaimRestore(old);
    expect(m.pa.gfpPfmemallocFlags(GFP.KERNEL)).toBe(0);
  });
});

describe('migratetype fallback', () => {
  it('an unmovable request facing only a whole movable order-10 block claims it (two pageblocks)', () => {
    const { m, block } = layout(MIGRATE_MOVABLE, [[0, 1024]]);
    const pfn = m.allocPages(GFP.KERNEL | GFP.DMA32, 0);
    expect(pfn).toBe(block);
    expect(m.buddy.getPageblockMigratetype(block)).toBe(MIGRATE_UNMOVABLE);
    expect(m.buddy.getPageblockMigratetype(block + 512)).toBe(MIGRATE_UNMOVABLE);
    expect(m.trace.lines[0]).toMatch(/mm_page_alloc_extfrag: .* alloc_order=0 fallback_order=10 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=1 fragmenting=0 change_ownership=1$/);
    expect(m.stats.fallbackClaims).toBe(1);
  });

  /**
   * A pageblock typed `mt` holding exactly the given free runs, and nothing else free on the machine; the
   * zone's watermarks are zeroed so that the few free pages may be handed out.
   */
  function layout(mt: number, runs: Array<[number, number]>) {
    const m = Machine.boot({ mem: '64M', strict: true, thp: false });
    const z = m.zones[1];
    const block = freeMaxBlock(m, z);
    emptyZone(m, m.zones[0]);
    emptyZone(m, z);
    z.setWatermarks(0, 0, 0, 0);
    m.buddy.setPageblockMigratetype(block, mt);
    for (const [off, n] of runs) place(m, block + off, n);
    m.trace.enable(['mm_page_alloc_extfrag']);
    return { m, z, block };
  }

  it('an unmovable request re-types a movable pageblock it takes from: non-LRU pages count as alike', () => {
    const { m, block } = layout(MIGRATE_MOVABLE, [[0, 64]]);
    const pfn = m.allocPages(GFP.KERNEL | GFP.DMA32, 0);
    expect(pfn).toBeGreaterThanOrEqual(block);
    // free 64 + alike (512 - 64 - 0 movable) >= 256: claimed.
    expect(m.buddy.getPageblockMigratetype(block)).toBe(MIGRATE_UNMOVABLE);
    expect(m.stats.fallbackClaims).toBe(1);
    expect(m.trace.lines[0]).toMatch(/fallback_order=6 .*fragmenting=1 change_ownership=1$/);
    m.checkInvariants();
  });

  it('but not when most of the block is movable (LRU) pages', () => {
    const { m, block } = layout(MIGRATE_MOVABLE, [[0, 64]]);
    for (let p = block + 64; p < block + 512; p++) m.mm.flags[p] |= PG_LRU;
    const pfn = m.allocPages(GFP.KERNEL | GFP.DMA32, 0);
    expect(pfn).not.toBe(NO_PAGE);
    // free 64 + alike (512 - 64 - 448) = 64 < 256: not claimed; the block is stolen from instead.
    expect(m.buddy.getPageblockMigratetype(block)).toBe(MIGRATE_MOVABLE);
    expect(m.stats.fallbackClaims).toBe(0);
    expect(m.stats.fallbackSteals).toBe(1);
    expect(m.trace.lines[0]).toMatch(/fallback_migratetype=1 fragmenting=1 change_ownership=0$/);
  });

  it('a small movable request steals one block without claiming, smallest order first', () => {
    const { m, block } = layout(MIGRATE_UNMOVABLE, [[0, 128], [200, 1]]);
    const pfn = m.allocPages(GFP.USER | GFP.MOVABLE | GFP.DMA32, 0);
    // Orders below pageblock_order / 2 cannot claim for a movable request: the order-0 block is stolen.
    expect(pfn).toBe(block + 200);
    expect(m.buddy.getPageblockMigratetype(block)).toBe(MIGRATE_UNMOVABLE);
    expect(m.stats.fallbackSteals).toBe(1);
    expect(m.trace.lines[0]).toMatch(/alloc_order=0 fallback_order=0 .*alloc_migratetype=1 fallback_migratetype=0 fragmenting=1 change_ownership=0$/);
  });

  it('a movable request claims a block of order >= pageblock_order / 2 when half the block is free', () => {
    const { m, block } = layout(MIGRATE_UNMOVABLE, [[0, 256], [300, 8]]);
    const pfn = m.allocPages(GFP.USER | GFP.MOVABLE | GFP.DMA32, 0);
    expect(pfn).toBeGreaterThanOrEqual(block);
    expect(m.buddy.getPageblockMigratetype(block)).toBe(MIGRATE_MOVABLE);
    expect(m.stats.fallbackClaims).toBe(1);
  });

  it('fallback order: reclaimable is tried before movable for unmovable requests', () => {
    const m = Machine.boot({ mem: '64M', strict: true, thp: false });
    const z = m.zones[1];
    const a = freeMaxBlock(m, z);
    const b = a + 512;
    emptyZone(m, m.zones[0]);
    emptyZone(m, z);
    z.setWatermarks(0, 0, 0, 0);
    m.buddy.setPageblockMigratetype(a, MIGRATE_MOVABLE);
    m.buddy.setPageblockMigratetype(b, MIGRATE_RECLAIMABLE);
    place(m, a, 8);
    place(m, b, 8);
    m.trace.enable(['mm_page_alloc_extfrag']);
    m.allocPages(GFP.KERNEL | GFP.DMA32, 0);
    expect(m.trace.lines[0]).toMatch(/fallback_migratetype=2 fragmenting=1 change_ownership=0$/);
    // Between unmovable and reclaimable no allocated page counts as alike: 8 free pages cannot claim it.
    expect(m.buddy.getPageblockMigratetype(b)).toBe(MIGRATE_RECLAIMABLE);
    expect(m.stats.fallbackSteals).toBe(1);
  });
});

describe('per-CPU lists', () => {
  it('refill takes a batch in physical order; allocation pops from the head', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    const z = m.zones[1];
    const pcp = z.pcp[0];
    const first = m.allocPages(GFP.KERNEL, 0);
    expect(m.stats.pcpRefills).toBe(1);
    // A batch scaled by alloc_factor (the boot's own refill already raised it once).
    const n = m.stats.pcpRefillPages;
    expect([pcp.batch, pcp.batch * 2]).toContain(n);
    expect(pcp.count).toBe(n - 1);
    const next: number[] = [];
    for (let i = 0; i < n - 1; i++) next.push(m.allocPages(GFP.KERNEL, 0));
    expect(next).toEqual(Array.from({ length: n - 1 }, (_, i) => first + 1 + i));
    expect(m.stats.pcpRefills).toBe(1);
    // The next allocation refills again, alloc_factor doubling the batch with no free in between.
    m.allocPages(GFP.KERNEL, 0);
    expect(m.stats.pcpRefills).toBe(2);
    expect(m.stats.pcpRefillPages).toBe(n * 3);
  });

  it('each CPU has its own lists; a free goes to the freeing CPU', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    const t1 = m.sched.createTask('worker', 1);
    const pfn = m.allocPages(GFP.KERNEL, 0);
    m.sched.switchTo(t1);
    const c0 = m.zones[1].pcp[0].count;
    m.freePages(pfn, 0);
    expect(m.zones[1].pcp[1].count).toBe(1);
    expect(m.zones[1].pcp[0].count).toBe(c0);
    m.checkInvariants();
  });

  it('a running task migrated to another CPU allocates and frees through that CPU\'s lists', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    const z = m.zones[1];
    const pfn = m.allocPages(GFP.KERNEL, 0);
    m.sched.migrate(m.sched.current, 1);
    expect(m.sched.cpu).toBe(1);
    const c0 = z.pcp[0].count;
    m.freePages(pfn, 0);
    expect(z.pcp[1].count).toBe(1);
    expect(z.pcp[0].count).toBe(c0);
    expect(m.allocPages(GFP.KERNEL, 0)).toBe(pfn);
    expect(z.pcp[1].count).toBe(0);
    expect(() => m.sched.migrate(m.sched.current, 2)).toThrow(/cpu 2 out of range/);
    m.checkInvariants();
  });

  it('every allocation and free is counted at once in vmstat and zoneinfo, whichever CPU\'s share holds it', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    const z = m.zones[1];
    const vmstat = (): Map<string, number> =>
      new Map(m.proc('vmstat').trim().split('\n').map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
    const before = vmstat();
    const req0 = m.stats.allocRequests[0];
    const req1 = m.stats.allocRequests[1];
    const hit0 = z.numaHit;
    const held: Array<[number, number]> = [];
    for (let i = 0; i < 40; i++) held.push([m.allocPages(GFP.KERNEL, 0), 0], [m.allocPages(GFP.KERNEL, 1), 1]);
    // Served on this CPU's lists and counted there (the kernel's per-CPU vm events) ...
    expect(z.pcp[0].nrAlloc).toBeGreaterThan(0);
    // ... and seen in every total without waiting for a fold.
    expect(z.numaHit - hit0).toBe(80);
    let after = vmstat();
    expect(after.get('pgalloc_dma32')! - before.get('pgalloc_dma32')!).toBe(40 + 80);
    expect(after.get('numa_hit')! - before.get('numa_hit')!).toBe(80);
    expect(m.stats.allocRequests[0] - req0).toBe(40);
    expect(m.stats.allocRequests[1] - req1).toBe(40);
    m.sched.migrate(m.sched.current, 1);
    for (const [pfn, order] of held) m.freePages(pfn, order);
    // The order-0 frees took the fast path and count on the new CPU's share; the order-1 ones the general path.
    expect(z.pcp[1].pgfree).toBe(40);
    after = vmstat();
    expect(after.get('pgfree')! - before.get('pgfree')!).toBe(120);
    expect(z.pcp[1].pgfree).toBe(0);
    m.checkInvariants();
  });

  it('drains a batch to the buddy lists when the count reaches high, and high stays within [high_min, high_max]', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const z = m.zones[1];
    const pcp = z.pcp[0];
    const pfns: number[] = [];
    // More than high_max: above the high watermark the pcp may grow to high_max before it must drain.
    for (let i = 0; i < pcp.highMax + 2000; i++) pfns.push(m.allocPages(GFP.KERNEL, 0));
    for (const p of pfns) {
      m.freePages(p, 0);
      expect(pcp.count).toBeLessThanOrEqual(pcp.highMax);
      expect(pcp.high).toBeGreaterThanOrEqual(pcp.highMin);
      expect(pcp.high).toBeLessThanOrEqual(pcp.highMax);
    }
    expect(m.stats.pcpDrains).toBeGreaterThan(0);
    expect(m.stats.pcpDrainPages).toBeGreaterThan(0);
    m.checkInvariants();
  });

  it('drain_all_pages returns everything and the zone is as at boot', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const boot = census(m);
    const pfns: Array<[number, number]> = [];
    for (let i = 0; i < 500; i++) pfns.push([m.allocPages(GFP.HIGHUSER_MOVABLE, i % 4), i % 4]);
    // High orders first: a run of high-order frees drains the whole pcp (free_high), order-0 frees do not.
    pfns.sort((a, b) => b[1] - a[1]);
    for (const [p, o] of pfns) m.freePages(p, o);
    expect(m.pcpPagesTotal()).toBeGreaterThan(0);
    m.drainAllPages();
    expect(m.pcpPagesTotal()).toBe(0);
    expect(census(m)).toBe(boot);
    m.checkInvariants();
  });

  it('a run of high-order frees drains the whole list (free_high)', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const pcp = m.zones[1].pcp[0];
    const pfns: number[] = [];
    for (let i = 0; i < 200; i++) pfns.push(m.allocPages(GFP.HIGHUSER_MOVABLE, 2));
    m.drainAllPages();
    for (const p of pfns) m.freePages(p, 2);
    // free_count reached batch during the run and the previous free was high-order: drained, not kept.
    expect(pcp.count).toBeLessThan(pcp.batch * 4);
    expect(m.stats.pcpDrains).toBeGreaterThan(1);
  });

  it('pcp orders are 0..3 and the THP order; order 4 bypasses them', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    expect(m.buddy.pcpAllowedOrder(3)).toBe(true);
    expect(m.buddy.pcpAllowedOrder(4)).toBe(false);
    expect(m.buddy.pcpAllowedOrder(9)).toBe(true);
    expect(Machine.boot({ mem: '1G', thp: false }).buddy.pcpAllowedOrder(9)).toBe(false);
    const p = m.allocPages(GFP.KERNEL, 4);
    m.freePages(p, 4);
    expect(m.pcpPagesTotal()).toBe(0);
  });
});

describe('compound pages', () => {
  it('__GFP_COMP makes a head with tails that point at it and the order in page[1]', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const p = m.allocPages(GFP.KERNEL | GFP.COMP, 3);
    expect(m.mm.flags[p] & PG_HEAD).toBe(PG_HEAD);
    expect(compoundOrder(m.mm, p)).toBe(3);
    for (let i = 1; i < 8; i++) {
      expect(pageTail(m.mm, p + i)).toBe(true);
      expect(compoundHead(m.mm, p + i)).toBe(p);
    }
    expect(compoundHead(m.mm, p)).toBe(p);
    m.freePages(p, 3);
    for (let i = 1; i < 8; i++) expect(pageTail(m.mm, p + i)).toBe(false);
    m.checkInvariants();
  });

  it('without __GFP_COMP the block is not compound', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const p = m.allocPages(GFP.KERNEL, 3);
    expect(compoundOrder(m.mm, p)).toBe(0);
    expect(pageTail(m.mm, p + 1)).toBe(false);
  });
});

describe('alloc_pages_exact', () => {
  it('keeps ceil(size / PAGE_SIZE) pages and returns the tail pages, which merge back', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    m.drainAllPages();
    const boot = census(m);
    const free0 = m.freePagesTotal();
    m.trace.enable(['mm_page_alloc', 'mm_page_free']);
    const addr = m.allocPagesExact(5 * 4096 - 100, GFP.KERNEL);
    expect(addr).not.toBe(0);
    const pfn = m.virtToPage(addr);
    // One order-3 allocation, three order-0 frees of pfn+5..pfn+7.
    expect(m.trace.lines.filter((l) => l.includes('mm_page_alloc:'))[0]).toMatch(/order=3 /);
    const frees = m.trace.lines.filter((l) => l.includes('mm_page_free:'));
    expect(frees.map((l) => /pfn=0x([0-9a-f]+)/.exec(l)![1])).toEqual([pfn + 5, pfn + 6, pfn + 7].map((p) => p.toString(16)));
    m.drainAllPages();
    expect(m.freePagesTotal()).toBe(free0 - 5);
    for (let i = 0; i < 5; i++) expect(m.mm.refcount[pfn + i]).toBe(1);
    m.checkInvariants();
    m.freePagesExact(addr, 5 * 4096 - 100);
    m.drainAllPages();
    expect(census(m)).toBe(boot);
    m.checkInvariants();
  });
});

describe('i386 highmem', () => {
  it('highmem pages have no kernel address; lowmem pages are in the direct map at 0xc0000000', () => {
    const m = Machine.boot({ arch: 'i386', mem: '2G', strict: true });
    expect(m.zones.map((z) => z.type)).toEqual(['DMA', 'Normal', 'HighMem', 'Movable']);
    const hi = m.allocPages(GFP.HIGHUSER, 0);
    expect(hi).toBeGreaterThanOrEqual(m.cfg.maxLowPfn);
    expect(m.pageAddress(hi)).toBe(0);
    const lo = m.allocPages(GFP.KERNEL, 0);
    expect(lo).toBeLessThan(m.cfg.maxLowPfn);
    expect(m.pageAddress(lo)).toBe(0xc0000000 + lo * 4096);
    expect(() => m.getFreePages(GFP.HIGHUSER, 0)).toThrow(KernelReport);
  });

  it('lowmem is 896M with the default vmalloc=128M, less with a larger vmalloc area', () => {
    expect(Machine.boot({ arch: 'i386', mem: '2G' }).cfg.maxLowPfn * 4096).toBe(896 * 2 ** 20);
    expect(Machine.boot({ arch: 'i386', mem: '2G', vmallocSize: '256M' }).cfg.maxLowPfn * 4096).toBe(768 * 2 ** 20);
  });
});

describe('scoped GFP (memalloc_*_save/restore)', () => {
  it('NOFS clears __GFP_FS, NOIO clears IO and FS, and they nest and restore', () => {
    const m = Machine.boot({ mem: '256M' });
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.KERNEL);
    const fs = m.memallocNofsSave();
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.NOFS);
    const io = m.memallocNoioSave();
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.NOIO);
    m.memallocNoioRestore(io);
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.NOFS);
    const fs2 = m.memallocNofsSave(); // nested save of an already-set scope restores to set
    m.memallocNofsRestore(fs2);
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.NOFS);
    m.memallocNofsRestore(fs);
    expect(m.currentGfpContext(GFP.KERNEL)).toBe(GFP.KERNEL);
  });

  it('the page allocator applies the scope: the trace shows the masked gfp', () => {
    const m = Machine.boot({ mem: '256M' });
    m.trace.enable(['mm_page_alloc']);
    const s = m.memallocNofsSave();
    m.allocPages(GFP.KERNEL, 0);
    m.memallocNofsRestore(s);
    m.allocPages(GFP.KERNEL, 0);
    expect(m.trace.lines[0]).toMatch(/gfp_flags=GFP_NOFS$/);
    expect(m.trace.lines[1]).toMatch(/gfp_flags=GFP_KERNEL$/);
  });
});

describe('sleeping allocations in atomic context', () => {
  it('is reported as the kernel reports it, with the context in the text', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    let report: KernelReport | undefined;
    try {
      m.inAtomic(() => m.allocPages(GFP.KERNEL, 0));
    } catch (e) {
      report = e as KernelReport;
    }
    expect(report).toBeInstanceOf(KernelReport);
    expect(report!.lines[0]).toBe('BUG: sleeping function called from invalid context at include/linux/sched/mm.h:321');
    expect(report!.lines[1]).toBe('in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 1, name: init');
    expect(report!.lines[2]).toBe('preempt_count: 1, expected: 0');
  });

  it('in a hard interrupt, with irqs disabled; GFP_ATOMIC there is fine', () => {
    const m = Machine.boot({ mem: '256M', strict: false });
    m.inIrq(() => m.allocPages(GFP.KERNEL, 0));
    expect(m.dmesg()).toContain('in_atomic(): 1, irqs_disabled(): 1');
    expect(m.printk.reports('sleeping function called from invalid context')).toBe(1);
    // Non-strict: the allocation still happened, as in the kernel, where this is a warning.
    const p = m.inIrq(() => m.allocPages(GFP.ATOMIC, 0));
    expect(p).not.toBe(NO_PAGE);
    expect(m.printk.reports('sleeping function called from invalid context')).toBe(1);
  });
});

describe('misuse is reported and changes nothing', () => {
  function setup() {
    const m = Machine.boot({ mem: '256M', strict: true });
    const a = m.allocPages(GFP.KERNEL, 2);
    const c = m.allocPages(GFP.KERNEL | GFP.COMP, 2);
    const snapshot = () => `${census(m)} ${m.mm.refcount[a]} ${m.mm.refcount[c]} ${m.freePagesTotal()}`;
    return { m, a, c, snapshot };
  }

  it('double free', () => {
    const { m, a, snapshot } = setup();
    m.freePages(a, 2);
    const before = snapshot();
    expect(() => m.freePages(a, 2)).toThrow(/VM_BUG_ON_PAGE\(page_ref_count\(page\) == 0\)/);
    expect(snapshot()).toBe(before);
    m.checkInvariants();
  });

  it('free with the wrong order (non-compound: the model knows the order it handed out)', () => {
    const { m, a, snapshot } = setup();
    const before = snapshot();
    expect(() => m.freePages(a, 1)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: Bad page state in process init');
    expect(m.dmesg()).toContain('page dumped because: freed with order 1, allocated with order 2');
    expect(snapshot()).toBe(before);
    m.checkInvariants();
  });

  it('free of a compound page with the wrong order', () => {
    const { m, c, snapshot } = setup();
    const before = snapshot();
    expect(() => m.freePages(c, 3)).toThrow(/compound_order\(page\) != order/);
    expect(snapshot()).toBe(before);
  });

  it('free of a tail page', () => {
    const { m, c, snapshot } = setup();
    const before = snapshot();
    expect(() => m.freePages(c + 1, 0)).toThrow(/page_ref_count\(page\) == 0/);
    expect(m.dmesg()).toContain('this page is a tail page');
    expect(snapshot()).toBe(before);
    m.checkInvariants();
  });

  it('free of a page that was never allocated, and of an address outside the direct map', () => {
    const { m, snapshot } = setup();
    const before = snapshot();
    const free = m.zones[1].freeList(10, MIGRATE_MOVABLE);
    const freePfn = m.mm.next[free];
    expect(() => m.freePages(freePfn, 0)).toThrow(KernelReport);
    expect(() => m.freePagesAddr(0x1234000, 0)).toThrow(/virt_addr_valid/);
    expect(() => m.freePages(1 << 30, 0)).toThrow(/invalid pfn/);
    expect(snapshot()).toBe(before);
    m.checkInvariants();
  });

  it('in non-strict mode the report goes to dmesg and the call returns', () => {
    const m = Machine.boot({ mem: '256M', strict: false });
    const p = m.allocPages(GFP.KERNEL, 0);
    m.freePages(p, 0);
    m.freePages(p, 0);
    expect(m.printk.reports('VM_BUG_ON_PAGE')).toBe(1);
    m.checkInvariants();
  });
});

describe('bytes', () => {
  it('read back what was written, across page boundaries; __GFP_ZERO zeroes', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const addr = m.getFreePages(GFP.KERNEL, 1);
    const data = new Uint8Array(6000).map((_, i) => (i * 7) & 0xff);
    m.write(addr + 100, data);
    expect(m.read(addr + 100, 6000)).toEqual(data);
    m.freePagesAddr(addr, 1);
    m.drainAllPages();
    const again = m.getFreePages(GFP.KERNEL | GFP.ZERO, 1);
    expect(m.read(again, 8192).every((b) => b === 0)).toBe(true);
  });

  it('touching a free page is reported and nothing is written', () => {
    const m = Machine.boot({ mem: '256M', strict: true });
    const touched = m.mem.framesTouched;
    const addr = m.getFreePages(GFP.KERNEL, 0);
    m.freePagesAddr(addr, 0);
    expect(() => m.write(addr, new Uint8Array([1, 2, 3]))).toThrow(/KASAN: use-after-free/);
    expect(() => m.read(addr, 4)).toThrow(/use-after-free/);
    expect(m.mem.framesTouched).toBe(touched);
  });

  it('page poisoning catches a write after free when the page is handed out again', () => {
    const m = Machine.boot({ mem: '64M', strict: false, pagePoison: true, nrCpus: 1 });
    const p = m.allocPages(GFP.KERNEL, 0);
    m.freePages(p, 0);
    m.mem.writeFrame(p, 10, new Uint8Array([0x55]), 0, 1); // a stray write the model's access check would not see
    const again = m.allocPages(GFP.KERNEL, 0); // LIFO pcp list: the same page
    expect(again).toBe(p);
    expect(m.dmesg()).toContain('pagealloc: memory corruption');
    expect(m.dmesg()).toContain(`offset 0xa`);
  });

  it('memory use follows the pages touched, not the RAM modelled', () => {
    const m = Machine.boot({ mem: '64G' });
    // Only the few slab pages that hold the boot's cache structs hold bytes.
    expect(m.mem.framesTouched).toBeLessThan(16);
    expect(m.metadataBytes() / m.mm.nrPages).toBeLessThanOrEqual(32);
  });
});

describe('allocation failure', () => {
  it('prints the kernel\'s warning with the free-area summary, unless __GFP_NOWARN', () => {
    const m = Machine.boot({ mem: '64M' });
    const got: number[] = [];
    for (;;) {
      const p = m.allocPages(GFP.KERNEL | GFP.NOWARN, 0);
      if (p === NO_PAGE) break;
      got.push(p);
    }
    expect(m.printk.reports('page allocation failure')).toBe(0);
    expect(m.allocPages(GFP.KERNEL | GFP.COMP, 4)).toBe(NO_PAGE);
    const d = m.dmesg();
    expect(d).toMatch(/init: page allocation failure: order:4, mode:0x40cc0\(GFP_KERNEL\|__GFP_COMP\), nodemask=\(null\)/);
    expect(d).toMatch(/Node 0 DMA32 free:\d+kB boost:0kB min:\d+kB low:\d+kB high:\d+kB reserved_highatomic:0KB/);
    expect(d).toMatch(/lowmem_reserve\[\]: 0 \d+ \d+ \d+ \d+/);
    expect(d).toMatch(/Node 0 DMA32: (\d+\*\d+kB (\([UMEHI]+\) )?){11}= \d+kB/);
    expect(m.stats.allocFailures[4]).toBe(1);
    // Atomic requests may dig below the min mark that stopped GFP_KERNEL.
    expect(m.allocPages(GFP.ATOMIC, 0)).not.toBe(NO_PAGE);
    m.checkInvariants();
  });

  it('order above MAX_PAGE_ORDER warns once and fails', () => {
    const m = Machine.boot({ mem: '64M' });
    expect(m.allocPages(GFP.KERNEL, 11)).toBe(NO_PAGE);
    expect(m.dmesg()).toContain('order 11 > MAX_PAGE_ORDER');
  });

  it('high-order atomic allocations reserve a HIGHATOMIC pageblock', () => {
    const m = Machine.boot({ mem: '1G', strict: true });
    // Fill until the fast path fails for order 2 and the slow path takes ALLOC_HIGHATOMIC.
    let reserved = false;
    for (let i = 0; i < 300000 && !reserved; i++) {
      if (m.allocPages(GFP.HIGHUSER_MOVABLE | GFP.NOWARN, 0) === NO_PAGE) break;
      if (i % 64 === 0) {
        const p = m.inSoftirq(() => m.allocPages(GFP.ATOMIC | GFP.NOWARN, 2));
        reserved = m.zones.some((z) => z.nrReservedHighatomic > 0);
        if (p !== NO_PAGE) m.freePages(p, 2);
      }
    }
    expect(reserved).toBe(true);
    expect(m.stats.highatomicReserved).toBeGreaterThan(0);
    m.checkInvariants();
  });
});
