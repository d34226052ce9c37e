/**
 * Random slab traffic: kmalloc/kzalloc/krealloc/kfree of every size class (and large kmalloc), kmem_cache
 * alloc/free on caches of different sizes and flags (one with full slub_debug), from two CPUs and softirq
 * context, with page allocations and kmem_cache_shrink mixed in. After every step checkInvariants() holds and
 * the slab page counters agree with mem_map; every live object keeps the bytes stamped at both of its ends;
 * after freeing everything, destroying the test caches, shrinking every cache and draining, every page the
 * traffic took is back in the buddy allocator in the blocks it was in right after boot.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 20); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE } from '../src/index.js';
import type { MachineConfig } from '../src/config.js';
import { PGTY_LARGE_KMALLOC, PGTY_MASK, PGTY_SLAB } from '../src/mm/page.js';
import {
  SLAB_CONSISTENCY_CHECKS, SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER,
  type KmemCache,
} from '../src/mm/slub.js';
import { freeBlocks } from './helpers/census.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 20);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 120);

const KMALLOC_GFPS = [
  GFP.KERNEL,
  GFP.KERNEL | GFP.RECLAIMABLE,
  GFP.KERNEL | GFP.DMA,
  GFP.KERNEL_ACCOUNT,
  GFP.ATOMIC,
  GFP.NOWAIT,
];

/** The test's own caches: name, object size, flags. */
const CACHES: Array<[string, number, number]> = [
  ['prop-24', 24, 0],
  ['prop-hw-200', 200, SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT],
  ['prop-3000', 3000, 0],
  ['prop-dbg-72', 72, SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY_CHECKS],
];

const sizeArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 256 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 8192 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 8, 9, 64, 65, 96, 97, 192, 193, 4096, 8192, 8193, 20000, 70000) },
);

type Op =
  | { k: 'kmalloc'; size: number; gfp: number; zero: boolean; cpu: number; softirq: boolean }
  | { k: 'cacheAlloc'; cache: number; zero: boolean; cpu: number }
  | { k: 'free'; pick: number; cpu: number }
  | { k: 'realloc'; pick: number; size: number; zero: boolean; cpu: number }
  | { k: 'pages'; order: number; cpu: number }
  | { k: 'shrink'; cache: number }
  | { k: 'drain' };

const cpuArb = fc.integer({ min: 0, max: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('kmalloc' as const), size: sizeArb, gfp: fc.constantFrom(...KMALLOC_GFPS), zero: fc.boolean(), cpu: cpuArb, softirq: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('cacheAlloc' as const), cache: fc.nat(CACHES.length - 1), zero: fc.boolean(), cpu: cpuArb }) },
  { weight: 7, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat(), cpu: cpuArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('realloc' as const), pick: fc.nat(), size: sizeArb, zero: fc.boolean(), cpu: cpuArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pages' as const), order: fc.integer({ min: 0, max: 3 }), cpu: cpuArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('shrink' as const), cache: fc.nat(CACHES.length + 2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('drain' as const) }) },
);

interface Live {
  kind: 'kmalloc' | 'cache' | 'pages';
  addr: number;
  /** Bytes the caller may use (the request, not ksize). */
  size: number;
  cache?: KmemCache;
  order?: number;
  sig: number;
}


/** The slab page counters (SReclaimable, SUnreclaim) against a recount of mem_map. */
function checkSlabCounters(m: Machine): void {
  let reclaimable = 0;
  let unreclaimable = 0;
  let large = 0;
  const flags = m.mm.flags;
  for (let pfn = 0, end = m.mm.nrPages; pfn < end; pfn++) {
    const t = flags[pfn] & PGTY_MASK;
    if (t === PGTY_SLAB) {
      const pages = 1 << m.slub.slabOrder(pfn);
      if (m.slub.cacheOfPage(pfn)!.flags & SLAB_RECLAIM_ACCOUNT) reclaimable += pages;
      else unreclaimable += pages;
    } else if (t === PGTY_LARGE_KMALLOC) {
      large += 1 << m.slub.slabOrder(pfn);
    }
  }
  expect({ reclaimable: m.slub.counters.reclaimablePages, unreclaimable: m.slub.counters.unreclaimablePages, large: m.slab.largePages })
    .toEqual({ reclaimable, unreclaimable, large });
}

function signature(sig: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (sig * 131 + i * 29 + 7) & 0xff;
  return b;
}

/** A signature at the start and (for 16 bytes or more) at the end of what the caller may use. */
function stamp(m: Machine, l: Live): void {
  const head = Math.min(8, l.size);
  m.write(l.addr, signature(l.sig, head));
  if (l.size >= 16) m.write(l.addr + l.size - 8, signature(l.sig + 1, 8));
}

function verify(m: Machine, l: Live, upTo = l.size): void {
  const head = Math.min(8, l.size, upTo);
  expect(m.read(l.addr, head)).toEqual(signature(l.sig, head));
  if (l.size >= 16 && upTo >= l.size) expect(m.read(l.addr + l.size - 8, 8)).toEqual(signature(l.sig + 1, 8));
}

function run(cfg: MachineConfig, ops: Op[]): void {
  const m = Machine.boot({ mem: '64M', nrCpus: 2, ...cfg, strict: true });
  const boot = freeBlocks(m);
  const bootFree = m.freePagesTotal();
  const bootCounters = { ...m.slub.counters, large: m.slab.largePages };
  const caches = CACHES.map(([name, size, flags]) => m.kmemCacheCreate(name, size, { flags })!);
  const shrinkable = [...caches, m.kmemCache('kmalloc-64')!, m.kmemCache('kmalloc-4k')!, m.kmemCache('kmalloc-rcl-192')!];
  const tasks = [m.current, m.sched.createTask('kworker/1:0', 1)];
  const live: Live[] = [];
  let sig = 1;

  const freeLive = (l: Live): void => {
    verify(m, l);
    if (l.kind === 'pages') m.freePages(m.virtToPage(l.addr), l.order!);
    else if (l.kind === 'cache') m.kmemCacheFree(l.cache!, l.addr);
    else m.kfree(l.addr);
  };

  for (const op of ops) {
    switch (op.k) {
      case 'kmalloc': {
        m.sched.switchTo(tasks[op.cpu]);
        const gfp = op.gfp | GFP.NOWARN | (op.zero ? GFP.ZERO : 0);
        const call = () => m.kmalloc(op.size, gfp);
        const p = op.softirq && !(gfp & GFP.DIRECT_RECLAIM) ? m.inSoftirq(call) : call();
        if (op.size === 0) {
          expect(p).toBe(16);
          break;
        }
        if (p === 0) break;
        expect(m.ksize(p)).toBeGreaterThanOrEqual(op.size);
        if (op.zero) expect(m.read(p, Math.min(op.size, 512)).every((b) => b === 0)).toBe(true);
        const l: Live = { kind: 'kmalloc', addr: p, size: op.size, sig: sig++ };
        stamp(m, l);
        live.push(l);
        break;
      }
      case 'cacheAlloc': {
        m.sched.switchTo(tasks[op.cpu]);
        const s = caches[op.cache];
        const p = m.kmemCacheAlloc(s, GFP.KERNEL | GFP.NOWARN | (op.zero ? GFP.ZERO : 0));
        if (p === 0) break;
        expect(m.slub.cacheOfPage(m.virtToPage(p))).toBe(s);
        if (op.zero) expect(m.read(p, s.objectSize).every((b) => b === 0)).toBe(true);
        const l: Live = { kind: 'cache', addr: p, size: s.objectSize, cache: s, sig: sig++ };
        stamp(m, l);
        live.push(l);
        break;
      }
      case 'free': {
        if (!live.length) break;
        m.sched.switchTo(tasks[op.cpu]);
        const [l] = live.splice(op.pick % live.length, 1);
        freeLive(l);
        break;
      }
      case 'realloc': {
        const candidates = live.flatMap((l, j) => (l.kind === 'kmalloc' ? [j] : []));
        if (!candidates.length) break;
        const i = candidates[op.pick % candidates.length];
        m.sched.switchTo(tasks[op.cpu]);
        const l = live[i];
        verify(m, l);
        const oldKsize = m.ksize(l.addr);
        const q = m.krealloc(l.addr, op.size, GFP.KERNEL | GFP.NOWARN | (op.zero ? GFP.ZERO : 0));
        if (op.size === 0) {
          expect(q).toBe(16);
          live.splice(i, 1);
          break;
        }
        if (q === 0) {
          verify(m, l); // a failed krealloc leaves the old object alone
          break;
        }
        if (op.size <= oldKsize) expect(q).toBe(l.addr);
        // The bytes both sizes share survive.
        const moved: Live = { ...l, addr: q };
        verify(m, moved, op.size);
        if (op.zero && q !== l.addr && op.size > oldKsize) {
          expect(m.read(q + oldKsize, Math.min(op.size - oldKsize, 512)).every((b) => b === 0)).toBe(true);
        }
        const n: Live = { kind: 'kmalloc', addr: q, size: op.size, sig: sig++ };
        stamp(m, n);
        live[i] = n;
        break;
      }
      case 'pages': {
        m.sched.switchTo(tasks[op.cpu]);
        const pfn = m.allocPages(GFP.KERNEL | GFP.NOWARN, op.order);
        if (pfn === NO_PAGE) break;
        const l: Live = { kind: 'pages', addr: m.pageAddress(pfn), size: 4096 << op.order, order: op.order, sig: sig++ };
        stamp(m, l);
        live.push(l);
        break;
      }
      case 'shrink':
        m.kmemCacheShrink(shrinkable[op.cache % shrinkable.length]);
        break;
      case 'drain':
        m.drainAllPages();
        break;
    }
    m.checkInvariants();
    checkSlabCounters(m);
  }

  // Everything back: objects, pages, the test caches, the empty slabs of every cache.
  m.sched.switchTo(tasks[0]);
  for (const l of live) freeLive(l);
  for (const s of caches) expect(m.kmemCacheDestroy(s)).toBe(true);
  m.kmemCaches().forEach((c) => m.kmemCacheShrink(c));
  m.drainAllPages();
  while (m.buddy.unreserveHighatomicPageblock(m.zones.length - 1, 1, true));
  m.checkInvariants();
  checkSlabCounters(m);
  for (const c of m.kmemCaches()) {
    if (!['kmem_cache', 'kmem_cache_node'].includes(c.name)) expect([c.name, c.nrSlabs]).toEqual([c.name, 0]);
  }
  expect({ ...m.slub.counters, large: m.slab.largePages }).toEqual(bootCounters);
  expect(m.freePagesTotal()).toBe(bootFree);
  expect(freeBlocks(m)).toEqual(boot);
}

describe('slab allocator under random traffic', () => {
  it('x86_64: invariants hold, bytes survive, every slab page goes back', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: STEPS, size: 'max' }), (ops) => run({}, ops)), { numRuns: RUNS });
  });

  it('i386 (4-byte free pointers and words): the same', () => {
    // vmalloc=960M leaves 64M of lowmem, so a 96M machine has a HighMem zone and stays small.
    fc.assert(fc.property(fc.array(opArb, { maxLength: STEPS, size: 'max' }), (ops) => run({ arch: 'i386', mem: '96M', vmallocSize: '960M' }, ops)), { numRuns: Math.max(1, RUNS >> 1) });
  });

  it('slub_debug=FZPU on every cache: no false reports, the same guarantees', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: STEPS, size: 'max' }), (ops) => run({ slubDebug: 'FZPU' }, ops)), { numRuns: Math.max(1, RUNS >> 2) });
  });

  it('a nearly full machine: slab allocations fail and fall back, invariants still hold', () => {
    const fill = fc.array(fc.record({ k: fc.constant('kmalloc' as const), size: fc.constantFrom(4096, 8192, 20000, 70000), gfp: fc.constant(GFP.KERNEL), zero: fc.constant(false), cpu: cpuArb, softirq: fc.constant(false) }), { minLength: 20, maxLength: 40 });
    fc.assert(fc.property(fill, fc.array(opArb, { maxLength: STEPS >> 1, size: 'max' }), (big, ops) => {
      // 32M: a few hundred large objects exhaust it.
      run({ mem: '32M' }, [...big.flatMap((f) => [f, f, f, f, f, f, f, f]), ...ops]);
    }), { numRuns: Math.max(1, RUNS >> 2) });
  });
});
