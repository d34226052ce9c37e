/**
 * Compaction (mm/compaction.c): movable page cache and anonymous pages move, with their bytes, to free a block
 * of the requested order; unmovable memory stays put; compaction_suitable and the extfrag threshold decide as
 * the kernel does; failures defer later attempts; async runs keep to pageblocks of the request's type; skip
 * hints are set, respected and cleared; kcompactd compacts proactively; the tracepoints print as the kernel's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, NO_PAGE } from '../src/index.js';
import { ALLOC_WMARK_MIN } from '../src/mm/buddy.js';
import {
  COMPACT_CONTINUE, COMPACT_MAX_DEFER_SHIFT, COMPACT_NOT_SUITABLE_ZONE, COMPACT_PRIO_ASYNC, COMPACT_PRIO_SYNC_FULL,
  COMPACT_PRIO_SYNC_LIGHT, COMPACT_SKIPPED,
} from '../src/mm/compaction.js';
import type { AddressSpace } from '../src/mm/filemap.js';
import type { AnonMm } from '../src/mm/anon.js';
import { PG_LRU, PGTY_MASK, PGTY_SLAB } from '../src/mm/page.js';
import { fragmentationIndex } from '../src/mm/vmstat.js';
import type { Zone } from '../src/mm/zone.js';

const DMA = 0;
const DMA32 = 1;
/** gfp_zone(GFP_KERNEL) and gfp_zone(GFP_HIGHUSER_MOVABLE) on x86_64 (empty on a 64M machine: they fall back). */
const ZONE_NORMAL = 2;
const ZONE_MOVABLE = 3;
const PB = 512;
/** A movable request that neither wakes kswapd nor would be satisfied without compaction. */
const GFP_MOVABLE_NOKSWAPD = (GFP.HIGHUSER_MOVABLE & ~GFP.KSWAPD_RECLAIM) | GFP.NOWARN;

/** A page's worth of bytes unique to (tag, index). */
function pattern(tag: number, i: number): Uint8Array {
  const b = new Uint8Array(4096);
  let x = (tag * 0x9e3779b1 + i * 0x85ebca6b) >>> 0;
  for (let k = 0; k < 4096; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Fragmented {
  m: Machine;
  file: AddressSpace;
  anon: AnonMm;
  n: number;
}

/**
 * A 64M machine whose DMA32 zone is full of page cache and anonymous pages with about half the pages free
 * in between: four owners write their pages in a seeded random interleaving, then one file is unlinked and one
 * process exits. What is left of larger free blocks is taken by unmovable order-4 allocations (that neither
 * reclaim nor compact), so no zone can serve an order-4 request without compaction.
 */
function fragmented(config: Parameters<typeof Machine.boot>[0] = {}, n = 1700): Fragmented {
  const m = Machine.boot({ mem: '64M', strict: true, seed: 5, ...config });
  const fs = m.mountFs('ext4');
  const file = m.createFile(fs);
  const gone = m.createFile(fs);
  const anon = m.mmapAnon(n);
  const exits = m.mmapAnon(n);
  const next = [0, 0, 0, 0];
  let x = 12345;
  for (let k = 0; k < 4 * n; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    let o = (x >>> 16) & 3;
    while (next[o] >= n) o = (o + 1) & 3;
    const i = next[o]++;
    if (o === 0) m.fileWrite(file, i, pattern(1, i));
    else if (o === 1) m.fileWrite(gone, i, pattern(2, i));
    else if (o === 2) m.anonWrite(anon, i, pattern(3, i));
    else m.anonWrite(exits, i, pattern(4, i));
  }
  m.unlinkFile(gone);
  m.exitMm(exits);
  m.drainAllPages();
  for (;;) {
    if (!m.zones.some((z) => z.nrFree.subarray(4).some((c) => c > 0))) break;
    if (m.allocPages(GFP.NOWARN, 4) === NO_PAGE) break;
  }
  m.drainAllPages();
  return { m, file, anon, n };
}

/** Where each owner's pages are: file slots then anonymous slots. */
function residence(f: Fragmented): Int32Array {
  const out = new Int32Array(2 * f.n);
  for (let i = 0; i < f.n; i++) {
    out[i] = f.file.page(i);
    out[f.n + i] = f.anon.slots[i];
  }
  return out;
}

/** Every page reads back as written, through its owner. */
function bytesIntact(f: Fragmented): boolean {
  const buf = new Uint8Array(4096);
  for (let i = 0; i < f.n; i++) {
    if (!f.m.fileRead(f.file, i, buf) || !same(buf, pattern(1, i))) return false;
    if (!f.m.anonRead(f.anon, i, buf) || !same(buf, pattern(3, i))) return false;
  }
  return true;
}

function highestFreeOrder(z: Zone): number {
  for (let o = 10; o >= 0; o--) if (z.nrFree[o]) return o;
  return -1;
}

/** Could zone z serve an order-`order` request at its min mark right now? */
function canServe(m: Machine, z: Zone, order: number, highest = ZONE_NORMAL): boolean {
  return m.pa.zoneWatermarkOk(z, order, z.wmarkMin(), highest, ALLOC_WMARK_MIN, z.freePages);
}

/** Take every free block of a zone off the free lists, as if allocated (unmovable order-0 pages). */
function emptyZone(m: Machine, z: Zone): void {
  m.drainAllPages();
  for (let o = 0; o <= 10; o++) {
    for (let mt = 0; mt < 5; mt++) {
      const head = z.freeList(o, mt);
      while (m.mm.next[head] !== head) {
        const pfn = m.mm.next[head];
        m.buddy.delFromFreeList(pfn, z, o, mt);
        m.buddy.accountFreepages(z, -(1 << o), mt);
        for (let i = 0; i < 1 << o; i++) {
          m.mm.refcount[pfn + i] = 1;
          m.mm.flags[pfn + i] &= ~0xf00000; // allocated with order 0
        }
      }
    }
  }
}

/** Free `count` runs of `len` pages, `stride` pages apart, from `start` (each run is a block if aligned). */
function freeRuns(m: Machine, start: number, count: number, len: number, stride: number): void {
  for (let k = 0; k < count; k++) for (let i = 0; i < len; i++) m.freePages(start + k * stride + i, 0);
  m.drainAllPages();
}

/** DMA and DMA32 emptied; then 1000 free single pages in DMA32, each between two unmovable pages. */
function unmovableFragmented(): Machine {
  const m = Machine.boot({ mem: '64M', strict: true, seed: 5 });
  emptyZone(m, m.zones[DMA]);
  emptyZone(m, m.zones[DMA32]);
  freeRuns(m, 0x3000, 1000, 1, 2);
  return m;
}

describe('direct compaction', () => {
  it('frees an order-4 block out of scattered movable pages, moving page cache and anonymous pages with their bytes', () => {
    const f = fragmented();
    const { m } = f;
    const dma32 = m.zones[DMA32];
    // Plenty of free memory, but in small pieces: nothing can serve order 4.
    expect(dma32.freePages).toBeGreaterThan(3000);
    expect(highestFreeOrder(dma32)).toBeLessThan(4);
    for (const z of m.zones.slice(0, 2)) expect(canServe(m, z, 4)).toBe(false);
    const before = residence(f);

    const r = m.compaction.directCompact(GFP.KERNEL, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT);
    expect(r.result).toBe('success');
    expect(r.page).not.toBe(NO_PAGE);
    // The captured block is an allocated, aligned order-4 block of DMA32, prepared as get_page_from_freelist would.
    expect(r.page % 16).toBe(0);
    expect(m.mm.zoneIdx(r.page)).toBe(DMA32);
    expect(m.mm.refcount[r.page]).toBe(1);
    expect(m.mm.allocOrder(r.page)).toBe(4);
    expect(m.events.compactStall).toBe(1);
    expect(m.events.compactSuccess).toBe(1);
    expect(m.events.compactFail).toBe(0);

    // Pages really moved: each migration rewrote one owner's reference, and the new block held only pages
    // that moved out of it (or were free).
    const after = residence(f);
    const moved: number[] = [];
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved.push(before[i]);
    expect(m.events.pgmigrateSuccess).toBeGreaterThan(0);
    expect(moved.length).toBe(m.events.pgmigrateSuccess);
    for (let i = 0; i < after.length; i++) expect(after[i] >= r.page && after[i] < r.page + 16).toBe(false);
    expect(m.events.compactMigrateScanned).toBeGreaterThan(0);
    expect(m.events.compactFreeScanned).toBeGreaterThan(0);
    expect(m.events.compactIsolated).toBeGreaterThanOrEqual(2 * moved.length);
    expect(m.node.nrIsolatedAnon + m.node.nrIsolatedFile).toBe(0);
    expect(bytesIntact(f)).toBe(true);

    m.freePages(r.page, 4);
    m.drainAllPages();
    expect(canServe(m, dma32, 4)).toBe(true);
    m.checkInvariants();
  });

  it('is what an order-4 movable allocation falls back on in the slow path (async first)', () => {
    const f = fragmented();
    const { m } = f;
    const before = residence(f);
    m.trace.enable(['mm_compaction_begin', 'mm_compaction_end']);
    const pfn = m.allocPages(GFP_MOVABLE_NOKSWAPD, 4);
    expect(pfn).not.toBe(NO_PAGE);
    expect(m.events.compactStall).toBe(1);
    expect(m.events.compactSuccess).toBe(1);
    expect(m.trace.lines.filter((l) => l.includes('mm_compaction_begin')).every((l) => l.endsWith('mode=async'))).toBe(true);
    const after = residence(f);
    expect(after.some((p, i) => p !== before[i])).toBe(true);
    expect(bytesIntact(f)).toBe(true);
    m.freePages(pfn, 4);
    m.checkInvariants();
  });

  it('vm.compact_memory compacts every zone whole: free memory ends up in large blocks', () => {
    const f = fragmented();
    const { m } = f;
    const dma32 = m.zones[DMA32];
    const scoreBefore = m.compaction.fragmentationScoreZone(dma32);
    m.compactNode();
    m.drainAllPages();
    expect(highestFreeOrder(dma32)).toBeGreaterThanOrEqual(9);
    expect(m.compaction.fragmentationScoreZone(dma32)).toBeLessThan(scoreBefore);
    expect(bytesIntact(f)).toBe(true);
    m.checkInvariants();
  });

  it('does not run for order 0 or without __GFP_IO (gfp_compaction_allowed)', () => {
    const { m } = fragmented();
    expect(m.compaction.directCompact(GFP.KERNEL, 0, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT)).toEqual({ page: NO_PAGE, result: 'skipped' });
    expect(m.compaction.directCompact(GFP.NOIO, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT)).toEqual({ page: NO_PAGE, result: 'skipped' });
    expect(m.events.compactStall).toBe(0);
    expect(m.events.pgmigrateSuccess).toBe(0);
  });
});

describe('unmovable memory', () => {
  it('slab objects and kernel pages keep their addresses and bytes while the movable pages around them move', () => {
    const m = Machine.boot({ mem: '64M', strict: true, seed: 9 });
    const fs = m.mountFs('ext4');
    const keep = m.createFile(fs);
    const gone = m.createFile(fs);
    const objs: { addr: number; bytes: Uint8Array }[] = [];
    const pages: { pfn: number; bytes: Uint8Array }[] = [];
    for (let i = 0; i < 1500; i++) {
      m.fileWrite(keep, i, pattern(1, i));
      m.fileWrite(gone, i, pattern(2, i));
      if (i % 3 === 0) {
        const addr = m.kmalloc(512, GFP.KERNEL);
        const bytes = pattern(5, i).subarray(0, 512);
        m.write(addr, bytes);
        objs.push({ addr, bytes });
      }
      if (i % 5 === 0) {
        const pfn = m.allocPages(GFP.KERNEL, 0);
        const bytes = pattern(6, i);
        m.write(m.pageAddress(pfn), bytes);
        pages.push({ pfn, bytes });
      }
    }
    m.unlinkFile(gone);
    m.drainAllPages();
    const slabPfns = objs.map((o) => m.virtToPage(o.addr));
    m.compactNode();
    const r = m.compaction.directCompact(GFP.KERNEL, 5, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_FULL);
    expect(m.events.pgmigrateSuccess).toBeGreaterThan(100);
    for (const [k, o] of objs.entries()) {
      expect(same(m.read(o.addr, 512), o.bytes)).toBe(true);
      expect(m.mm.pageType(m.mm.head(slabPfns[k]))).toBe(PGTY_SLAB);
    }
    for (const p of pages) {
      expect(same(m.read(m.pageAddress(p.pfn), 4096), p.bytes)).toBe(true);
      expect(m.mm.refcount[p.pfn]).toBe(1);
      expect(m.mm.flags[p.pfn] & (PG_LRU | PGTY_MASK)).toBe(0);
    }
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 1500; i++) {
      m.fileRead(keep, i, buf);
      expect(same(buf, pattern(1, i))).toBe(true);
    }
    if (r.page !== NO_PAGE) m.freePages(r.page, 5);
    m.checkInvariants();
  });
});

describe('compaction_suitable and the extfrag threshold', () => {
  /** DMA and DMA32 emptied, then the given free blocks placed in DMA32. */
  function zoneWith(place: (m: Machine) => void, config: Parameters<typeof Machine.boot>[0] = {}): { m: Machine; z: Zone } {
    const m = Machine.boot({ mem: '64M', strict: true, ...config });
    emptyZone(m, m.zones[DMA]);
    emptyZone(m, m.zones[DMA32]);
    place(m);
    return { m, z: m.zones[DMA32] };
  }

  it('too little free memory for the targets: skipped, for any order', () => {
    // 300 free pages: under min (373) + compact_gap.
    const { m, z } = zoneWith((m) => freeRuns(m, 0x3000, 300, 1, 2));
    expect(z.freePages).toBe(300);
    expect(m.compaction.compactionSuitableStatus(z, 2, z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_SKIPPED);
    expect(m.compaction.compactionSuitableStatus(z, 4, z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_SKIPPED);
    expect(m.compaction.compactionReady(z, 4, ZONE_NORMAL)).toBe(false);
    expect(m.compaction.compactionZonelistSuitable(4, ZONE_NORMAL)).toBe(false);
    // try_to_compact_pages() returns COMPACT_SKIPPED: no stall is counted, nothing runs.
    m.trace.enable(['mm_compaction_begin']);
    expect(m.compaction.directCompact(GFP.KERNEL, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT)).toEqual({ page: NO_PAGE, result: 'skipped' });
    expect(m.events.compactStall).toBe(0);
    expect(m.trace.lines).toHaveLength(0);
  });

  it('the watermark is min + 2 << order, plus low - min for costly orders', () => {
    const { m, z } = zoneWith((m) => freeRuns(m, 0x3000, 500, 1, 2));
    const min = z.wmarkMin();
    const low = z.wmarkLow();
    expect(500).toBeGreaterThan(min + (2 << 3));
    expect(m.compaction.compactionSuitableStatus(z, 3, min, ZONE_NORMAL)).toBe(COMPACT_CONTINUE);
    // Order 7 (costly): low + 256 is more than 500 free pages.
    expect(low + (2 << 7)).toBeGreaterThanOrEqual(500);
    expect(m.compaction.compactionSuitableStatus(z, 7, min, ZONE_NORMAL)).toBe(COMPACT_SKIPPED);
    // The lowmem reserve counts too: DMA32 keeps nothing back from Normal requests on this machine.
    expect(z.lowmemReserve[ZONE_NORMAL]).toBe(0);
  });

  it('a costly order whose fragmentation index is in [0, 500] is not suitable: reclaim, not compaction', () => {
    // 100 free order-3 blocks: order 4 fails for lack of memory, not fragmentation (index 490).
    const { m, z } = zoneWith((m) => freeRuns(m, 0x3000, 100, 8, 16));
    expect(Array.from(z.nrFree)).toEqual([0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0]);
    expect(fragmentationIndex(z.nrFree, 4)).toBe(490);
    expect(m.compaction.compactionSuitableStatus(z, 4, z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_NOT_SUITABLE_ZONE);
    expect(m.compactionSuitable(DMA32, 4, ZONE_NORMAL)).toBe(false);
    // Orders up to PAGE_ALLOC_COSTLY_ORDER ignore the index.
    expect(m.compaction.compactionSuitableStatus(z, 3, z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_CONTINUE);
    // The zone is then skipped by direct compaction.
    expect(m.compaction.directCompact(GFP.KERNEL, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT).result).toBe('skipped');
    // vm.extfrag_threshold = 0: every failure counts as fragmentation.
    m.compaction.extfragThreshold = 0;
    expect(m.compaction.compactionSuitableStatus(z, 4, z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_CONTINUE);
  });

  it('an index above the threshold is suitable; the threshold comes from the config', () => {
    // 1000 free single pages: index 937 for order 4.
    const place = (m: Machine) => freeRuns(m, 0x3000, 1000, 1, 2);
    const a = zoneWith(place);
    expect(fragmentationIndex(a.z.nrFree, 4)).toBe(937);
    expect(a.m.compaction.compactionSuitableStatus(a.z, 4, a.z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_CONTINUE);
    expect(a.m.compactionSuitable(DMA32, 4, ZONE_NORMAL)).toBe(true);
    expect(a.m.compaction.compactionReady(a.z, 4, ZONE_NORMAL)).toBe(true);
    expect(a.m.compaction.compactionZonelistSuitable(4, ZONE_NORMAL)).toBe(true);
    const b = zoneWith(place, { extfragThreshold: 950 });
    expect(b.m.compaction.extfragThreshold).toBe(950);
    expect(b.m.compaction.compactionSuitableStatus(b.z, 4, b.z.wmarkMin(), ZONE_NORMAL)).toBe(COMPACT_NOT_SUITABLE_ZONE);
  });
});

describe('deferral', () => {
  it('a failed sync run defers the next 1 << shift attempts (shift up to 6); success resets it', () => {
    const m = unmovableFragmented();
    const z = m.zones[DMA32];
    m.trace.enable(['mm_compaction_begin']);
    const compact = (prio: number) => m.compaction.directCompact(GFP.KERNEL, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, prio);
    expect(m.compaction.deferState(z)).toEqual({ considered: 0, deferShift: 0, orderFailed: 0 });

    // Nothing is movable: the scanners meet without freeing anything.
    expect(compact(COMPACT_PRIO_SYNC_LIGHT)).toEqual({ page: NO_PAGE, result: 'partial_skipped' });
    expect(m.compaction.deferState(z)).toEqual({ considered: 0, deferShift: 1, orderFailed: 0 });
    expect(m.events.compactStall).toBe(1);
    expect(m.events.compactFail).toBe(1);
    const runs = () => m.trace.lines.filter((l) => l.includes('zone_start=0x1000')).length;
    expect(runs()).toBe(1);

    // The next attempt is deferred (counted as a stall and a failure, as the kernel does), the one after runs.
    expect(compact(COMPACT_PRIO_SYNC_LIGHT).result).toBe('deferred');
    expect(runs()).toBe(1);
    expect(m.events.compactStall).toBe(2);
    expect(compact(COMPACT_PRIO_SYNC_LIGHT).result).toBe('partial_skipped');
    expect(runs()).toBe(2);
    expect(m.compaction.deferState(z).deferShift).toBe(2);

    // Keep failing: runs come 1 << shift attempts apart, and the shift stops at COMPACT_MAX_DEFER_SHIFT.
    let attempts = 0;
    while (runs() < 8 && attempts < 1000) {
      compact(COMPACT_PRIO_SYNC_LIGHT);
      attempts++;
    }
    expect(attempts).toBe(4 + 8 + 16 + 32 + 64 + 64);
    expect(m.compaction.deferState(z).deferShift).toBe(COMPACT_MAX_DEFER_SHIFT);
    // Async runs never defer.
    m.compaction.compactionDeferReset(z, 4, true);
    expect(compact(COMPACT_PRIO_ASYNC).result).toBe('partial_skipped');
    expect(m.compaction.deferState(z).deferShift).toBe(0);

    // Defer again, then make an order-4 block available: the highest priority ignores the deferral, finds the
    // allocation can succeed, and the success resets the zone's state.
    compact(COMPACT_PRIO_SYNC_LIGHT);
    expect(m.compaction.deferState(z).deferShift).toBe(1);
    freeRuns(m, 0x3800, 1, 16, 16);
    const r = compact(COMPACT_PRIO_SYNC_FULL);
    expect(r.result).toBe('success');
    expect(r.page).toBe(0x3800);
    expect(m.compaction.deferState(z)).toEqual({ considered: 0, deferShift: 0, orderFailed: 5 });
    expect(m.events.compactSuccess).toBe(1);
    // compact_order_failed = 5: order 4 is not deferred even after a new failure at a higher order.
    m.compaction.deferCompaction(z, 6);
    expect(m.compaction.compactionDeferred(z, 4)).toBe(false);
    expect(m.compaction.compactionDeferred(z, 5)).toBe(true);
    m.freePages(r.page, 4);
    m.checkInvariants();
  });
});

describe('async compaction and skip hints', () => {
  it('async direct compaction takes sources only from pageblocks of the request\'s migratetype', () => {
    // Control: which pageblocks does an async movable compaction take its pages from?
    const c = fragmented();
    const cBefore = residence(c);
    expect(c.m.compaction.directCompact(GFP_MOVABLE_NOKSWAPD, 4, ALLOC_WMARK_MIN, ZONE_MOVABLE, COMPACT_PRIO_ASYNC).result).toBe('success');
    const cAfter = residence(c);
    const sourceBlocks = new Set<number>();
    for (let i = 0; i < cBefore.length; i++) if (cBefore[i] !== cAfter[i]) sourceBlocks.add(cBefore[i] & ~(PB - 1));
    expect(sourceBlocks.size).toBeGreaterThan(0);

    // The same machine with those pageblocks made unmovable: async leaves their pages alone.
    const t = fragmented();
    for (const b of sourceBlocks) t.m.buddy.moveFreepagesBlock(t.m.zones[t.m.mm.zoneIdx(b)], b, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE);
    const before = residence(t);
    const r = t.m.compaction.directCompact(GFP_MOVABLE_NOKSWAPD, 4, ALLOC_WMARK_MIN, ZONE_MOVABLE, COMPACT_PRIO_ASYNC);
    let movedFromUnmovable = 0;
    let moved = 0;
    const after = residence(t);
    for (let i = 0; i < before.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (sourceBlocks.has(before[i] & ~(PB - 1))) movedFromUnmovable++;
      expect(t.m.buddy.getPageblockMigratetype(before[i])).toBe(MIGRATE_MOVABLE);
    }
    expect(moved).toBeGreaterThan(0);
    expect(movedFromUnmovable).toBe(0);
    if (r.page !== NO_PAGE) t.m.freePages(r.page, 4);

    // Sync compaction (here: compact_memory) takes movable pages from any pageblock.
    const mid = residence(t);
    t.m.compactNode();
    const end = residence(t);
    let fromThose = 0;
    for (let i = 0; i < mid.length; i++) if (mid[i] !== end[i] && sourceBlocks.has(mid[i] & ~(PB - 1))) fromThose++;
    expect(fromThose).toBeGreaterThan(0);
    expect(bytesIntact(t)).toBe(true);
    t.m.checkInvariants();
  });

  it('skip hints: set on pageblocks that gave nothing, respected by the next run, cleared by kswapd\'s reset', () => {
    const m = unmovableFragmented();
    const z = m.zones[DMA32];
    const compact = () => m.compaction.directCompact(GFP.KERNEL, 4, ALLOC_WMARK_MIN, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT);
    const skipped = () => {
      const s: number[] = [];
      for (let b = z.startPfn; b < z.endPfn; b += PB) if (m.buddy.getPageblockSkip(b)) s.push(b / PB);
      return s;
    };
    expect(skipped()).toEqual([]);
    let scanned = m.events.compactMigrateScanned;
    expect(compact().result).toBe('partial_skipped');
    const firstScan = m.events.compactMigrateScanned - scanned;
    // The migrate scanner went through every pageblock below the free scanner's (the top one, 31) and found
    // nothing movable: each is marked.
    expect(firstScan).toBeGreaterThan(20 * PB);
    expect(skipped()).toEqual(Array.from({ length: 23 }, (_, i) => 8 + i));

    // The next run (once not deferred) skips them all without looking at a page.
    m.compaction.compactionDeferReset(z, 4, true);
    scanned = m.events.compactMigrateScanned;
    expect(compact().result).toBe('partial_skipped');
    expect(m.events.compactMigrateScanned - scanned).toBe(0);

    // kswapd going to sleep after a full run clears the hints where a sample finds free (or LRU) pages: the
    // four pageblocks holding the free pages (24..27), not the reserved or fully allocated ones.
    m.compaction.resetIsolationSuitable();
    expect(skipped()).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 28, 29, 30]);
    // The flag that asked for the reset is consumed: until another full direct run, a reset changes nothing.
    for (let b = 24; b < 28; b++) m.buddy.setPageblockSkip(b * PB);
    m.compaction.resetIsolationSuitable();
    expect(skipped()).toHaveLength(23);
    m.checkInvariants();
  });
});

describe('kcompactd', () => {
  it('proactive compaction on the 500 ms check lowers the fragmentation score below the low mark', () => {
    const f = fragmented();
    const { m } = f;
    const c = m.compaction;
    const dma32 = m.zones[DMA32];
    expect(c.fragmentationScoreWmark(true)).toBe(80);
    expect(c.fragmentationScoreWmark(false)).toBe(90);
    const before = c.fragmentationScoreNode();
    expect(before).toBeGreaterThan(90);
    expect(c.shouldProactiveCompactNode()).toBe(true);
    // Not before the check interval has passed.
    expect(m.clock.ns).toBeLessThan(500e6);
    expect(c.kcompactdTick()).toBe(false);
    expect(m.events.pgmigrateSuccess).toBe(0);
    m.clock.ns = 500e6;
    expect(c.kcompactdTick()).toBe(true);
    const after = c.fragmentationScoreNode();
    expect(after).toBeLessThan(before);
    expect(c.fragmentationScoreZone(dma32)).toBeLessThanOrEqual(80);
    expect(c.shouldProactiveCompactNode()).toBe(false);
    expect(m.events.pgmigrateSuccess).toBeGreaterThan(0);
    expect(m.events.compactDaemonMigrateScanned).toBeGreaterThan(0);
    expect(m.events.compactDaemonFreeScanned).toBeGreaterThan(0);
    expect(m.events.compactDaemonWake).toBe(0); // proactive runs are not wakeups
    // Asleep again for another interval.
    expect(c.kcompactdTick()).toBe(false);
    expect(bytesIntact(f)).toBe(true);
    m.checkInvariants();
  });

  it('proactiveness 0 turns proactive compaction off', () => {
    const { m } = fragmented({ compactionProactiveness: 0 });
    m.clock.ns = 10e9;
    expect(m.compaction.shouldProactiveCompactNode()).toBe(false);
    expect(m.compaction.kcompactdTick()).toBe(false);
    expect(m.events.pgmigrateSuccess).toBe(0);
  });

  it('a wakeup for an order runs kcompactd_do_work: sync-light compaction until the order can be served', () => {
    const f = fragmented();
    const { m } = f;
    const dma32 = m.zones[DMA32];
    m.compaction.wakeupKcompactd(0, ZONE_NORMAL);
    expect(m.compaction.kcompactdPending).toBe(false);
    m.compaction.wakeupKcompactd(4, ZONE_NORMAL);
    expect(m.compaction.kcompactdPending).toBe(true);
    expect(m.compaction.kcompactdTick()).toBe(true);
    expect(m.events.compactDaemonWake).toBe(1);
    expect(m.events.compactStall).toBe(0);
    m.drainAllPages();
    expect(canServe(m, dma32, 4)).toBe(true);
    expect(m.compaction.kcompactdRun()).toBe(false); // nothing requested any more
    expect(bytesIntact(f)).toBe(true);
    m.checkInvariants();
  });
});

describe('tracepoints', () => {
  const FMT = new URL('./fixtures/real/formats/compaction/', import.meta.url);
  /** print fmt of a real compaction event as a regex: %lx hex, %s a word. */
  function fmtRegex(event: string): RegExp {
    const text = readFileSync(new URL(`${event}/format`, FMT), 'utf8');
    const fmt = /print fmt: "([^"]*)"/.exec(text)![1];
    const re = fmt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%lx/g, '[0-9a-f]+').replace(/%s/g, '\\w+');
    return new RegExp(`: ${event}: ${re}$`);
  }

  it('mm_compaction_begin and mm_compaction_end print as the kernel\'s format files say', () => {
    const lines: string[] = [];
    for (const [gfp, highest, prio] of [[GFP.KERNEL, ZONE_NORMAL, COMPACT_PRIO_SYNC_LIGHT], [GFP_MOVABLE_NOKSWAPD, ZONE_MOVABLE, COMPACT_PRIO_ASYNC]]) {
      const { m } = fragmented();
      m.trace.enable(['mm_compaction_begin', 'mm_compaction_end']);
      expect(m.compaction.directCompact(gfp, 4, ALLOC_WMARK_MIN, highest, prio).result).toBe('success');
      lines.push(...m.trace.lines);
    }
    expect(lines).toHaveLength(4);
    const begin = fmtRegex('mm_compaction_begin');
    const end = fmtRegex('mm_compaction_end');
    expect(lines[0]).toMatch(begin);
    expect(lines[1]).toMatch(end);
    expect(lines[2]).toMatch(begin);
    expect(lines[3]).toMatch(end);
    // DMA32 spans pfns 0x1000..0x4000; the free scanner starts in the last pageblock, the migrate scanner at the start.
    expect(lines[0]).toMatch(/: mm_compaction_begin: zone_start=0x1000 migrate_pfn=0x1000 free_pfn=0x3e00 zone_end=0x4000, mode=sync$/);
    expect(lines[1]).toMatch(/: mm_compaction_end: zone_start=0x1000 migrate_pfn=0x[0-9a-f]+ free_pfn=0x[0-9a-f]+ zone_end=0x4000, mode=sync status=success$/);
    expect(lines[2]).toMatch(/mode=async$/);
    expect(lines[3]).toMatch(/mode=async status=success$/);
  });
});
