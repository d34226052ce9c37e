/**
 * Reclaim and compaction interleaved with all the earlier traffic, on a machine smaller than what the
 * workload touches: page cache reads and writes, anonymous memory (with swap), kmalloc/kfree, alloc_pages
 * of orders 0..4 (GFP_KERNEL and GFP_ATOMIC), vmalloc/vfree, direct reclaim under GFP_KERNEL, GFP_NOFS and
 * GFP_NOIO, whole-node compaction, the daemons' ticks, and process exits. After every step
 * checkInvariants() holds (free lists, LRU lists, owners, writeback, slab, vmalloc), and every live
 * allocation still has its bytes where it was: unmovable users (kmalloc objects, alloc_pages blocks, vmalloc
 * areas) at the same address, movable users (file and anonymous pages) through their owners, wherever
 * reclaim and compaction put them.
 * MMLAB_PROPERTY_RUNS=N runs N cases (default 8); MMLAB_PROPERTY_STEPS caps the steps of a case.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE, PAGE_SIZE } from '../src/index.js';
import type { AnonMm } from '../src/mm/anon.js';
import type { AddressSpace } from '../src/mm/filemap.js';

const RUNS = Number(process.env.MMLAB_PROPERTY_RUNS ?? 8);
const STEPS = Number(process.env.MMLAB_PROPERTY_STEPS ?? 60);

type Op =
  | { k: 'fileWrite'; file: number; from: number; n: number }
  | { k: 'fileRead'; file: number; from: number; n: number }
  | { k: 'anonWrite'; proc: number; from: number; n: number }
  | { k: 'anonRead'; proc: number; from: number; n: number }
  | { k: 'kmalloc'; size: number; n: number }
  | { k: 'pages'; order: number; atomic: boolean }
  | { k: 'vmalloc'; pages: number }
  | { k: 'free'; pick: number }
  | { k: 'reclaim'; gfp: 'kernel' | 'nofs' | 'noio' }
  | { k: 'compact' }
  | { k: 'tick' }
  | { k: 'exit'; proc: number };

const FILES = 3;
const FILE_PAGES = 3000;
const PROCS = 2;
const ANON_PAGES = 3000;

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('fileWrite' as const), file: fc.nat(FILES - 1), from: fc.nat(FILE_PAGES - 1), n: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('fileRead' as const), file: fc.nat(FILES - 1), from: fc.nat(FILE_PAGES - 1), n: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('anonWrite' as const), proc: fc.nat(PROCS - 1), from: fc.nat(ANON_PAGES - 1), n: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('anonRead' as const), proc: fc.nat(PROCS - 1), from: fc.nat(ANON_PAGES - 1), n: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('kmalloc' as const), size: fc.integer({ min: 8, max: 3000 }), n: fc.integer({ min: 1, max: 60 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pages' as const), order: fc.nat(4), atomic: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('vmalloc' as const), pages: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('reclaim' as const), gfp: fc.constantFrom('kernel' as const, 'nofs' as const, 'noio' as const) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'compact' as const }) },
  { weight: 2, arbitrary: fc.constant({ k: 'tick' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), proc: fc.nat(PROCS - 1) }) },
);

interface Held {
  kind: 'kmalloc' | 'pages' | 'vmalloc';
  addr: number;
  pfn: number;
  order: number;
  len: number;
  stamp: number;
}

function run(ops: Op[]): void {
  const m = Machine.boot({ mem: '64M', swap: '24M', swapCost: { readNs: 5000, writeNs: 10000 }, strict: true, seed: 5 });
  const fs = m.mountFs('ext4', { readNs: 5000, writeNs: 20000 });
  const files: AddressSpace[] = [];
  const fileVer: Uint8Array[] = [];
  for (let i = 0; i < FILES; i++) {
    files.push(m.createFile(fs));
    fileVer.push(new Uint8Array(FILE_PAGES));
  }
  const procs: AnonMm[] = [];
  const anonVer: Uint8Array[] = [];
  for (let i = 0; i < PROCS; i++) {
    procs.push(m.mmapAnon(ANON_PAGES, m.sched.createTask(`worker${i}`)));
    anonVer.push(new Uint8Array(ANON_PAGES));
  }
  const held: Held[] = [];
  let stamp = 1;
  const page = new Uint8Array(PAGE_SIZE);
  const probe = new Uint8Array(PAGE_SIZE);
  const fileByte = (f: number, i: number, v: number) => (f * 13 + i * 3 + v * 101) & 0xff;
  const anonByte = (p: number, i: number, v: number) => (p * 29 + i * 5 + v * 71 + 7) & 0xff;

  const stampHeld = (h: Held) => {
    const b = new Uint8Array(Math.min(h.len, 64)).fill(h.stamp & 0xff);
    m.write(h.addr, b);
    m.write(h.addr + h.len - b.length, b);
  };
  const checkHeld = (h: Held) => {
    const n = Math.min(h.len, 64);
    const head = m.read(h.addr, n);
    const tail = m.read(h.addr + h.len - n, n);
    if (!head.every((x) => x === (h.stamp & 0xff)) || !tail.every((x) => x === (h.stamp & 0xff))) {
      throw new Error(`${h.kind} at 0x${h.addr.toString(16)} lost its bytes`);
    }
    if (h.kind === 'pages' && m.virtToPage(h.addr) !== h.pfn) throw new Error(`pages block ${h.pfn} moved`);
  };

  for (const o of ops) {
    switch (o.k) {
      case 'fileWrite':
        for (let i = o.from; i < Math.min(FILE_PAGES, o.from + o.n); i++) {
          const v = (fileVer[o.file][i] % 250) + 1;
          page.fill(fileByte(o.file, i, v));
          if (m.fileWrite(files[o.file], i, page)) fileVer[o.file][i] = v;
        }
        break;
      case 'fileRead':
        for (let i = o.from; i < Math.min(FILE_PAGES, o.from + o.n); i++) {
          if (!m.fileRead(files[o.file], i, probe)) continue;
          const v = fileVer[o.file][i];
          expect(probe[0]).toBe(v ? fileByte(o.file, i, v) : 0);
          expect(probe[PAGE_SIZE - 1]).toBe(v ? fileByte(o.file, i, v) : 0);
        }
        break;
      case 'anonWrite':
      case 'anonRead': {
        const am = procs[o.proc];
        if (am.dead) break;
        for (let i = o.from; i < Math.min(ANON_PAGES, o.from + o.n) && !am.dead; i++) {
          if (o.k === 'anonWrite') {
            const v = (anonVer[o.proc][i] % 250) + 1;
            page.fill(anonByte(o.proc, i, v));
            if (m.anonWrite(am, i, page)) anonVer[o.proc][i] = v;
          } else if (m.anonRead(am, i, probe)) {
            const v = anonVer[o.proc][i];
            expect(probe[0]).toBe(v ? anonByte(o.proc, i, v) : 0);
            expect(probe[PAGE_SIZE - 1]).toBe(v ? anonByte(o.proc, i, v) : 0);
          }
        }
        break;
      }
      case 'kmalloc':
        for (let i = 0; i < o.n; i++) {
          const addr = m.kmalloc(o.size, GFP.KERNEL | GFP.NOWARN);
          if (!addr) break;
          const h: Held = { kind: 'kmalloc', addr, pfn: m.virtToPage(addr), order: 0, len: o.size, stamp: stamp++ };
          stampHeld(h);
          held.push(h);
        }
        break;
      case 'pages': {
        const gfp = (o.atomic ? GFP.ATOMIC : GFP.KERNEL) | GFP.NOWARN | (o.order ? GFP.COMP : 0);
        const pfn = o.atomic ? m.inSoftirq(() => m.allocPages(gfp, o.order)) : m.allocPages(gfp, o.order);
        if (pfn === NO_PAGE) break;
        const h: Held = { kind: 'pages', addr: m.pageAddress(pfn), pfn, order: o.order, len: PAGE_SIZE << o.order, stamp: stamp++ };
        stampHeld(h);
        held.push(h);
        break;
      }
      case 'vmalloc': {
        const addr = m.vmallocGfp(o.pages * PAGE_SIZE, GFP.KERNEL | GFP.NOWARN);
        if (!addr) break;
        const h: Held = { kind: 'vmalloc', addr, pfn: NO_PAGE, order: 0, len: o.pages * PAGE_SIZE, stamp: stamp++ };
        stampHeld(h);
        held.push(h);
        break;
      }
      case 'free': {
        if (!held.length) break;
        const [h] = held.splice(o.pick % held.length, 1);
        checkHeld(h);
        if (h.kind === 'kmalloc') m.kfree(h.addr);
        else if (h.kind === 'pages') m.freePages(h.pfn, h.order);
        else m.vfree(h.addr);
        break;
      }
      case 'reclaim':
        m.tryToFreePages(o.gfp === 'kernel' ? GFP.KERNEL : o.gfp === 'nofs' ? GFP.NOFS : GFP.NOIO);
        break;
      case 'compact':
        m.compactNode();
        break;
      case 'tick':
        m.tick(1_000_000);
        break;
      case 'exit':
        if (!procs[o.proc].dead) m.exitMm(procs[o.proc]);
        break;
    }
    m.checkInvariants();
    for (const h of held) checkHeld(h);
  }
  // Every file page and every live process's page reads back as last written, wherever it went.
  for (let f = 0; f < FILES; f++) {
    for (let i = 0; i < FILE_PAGES; i += 37) {
      if (!m.fileRead(files[f], i, probe)) continue;
      const v = fileVer[f][i];
      expect(probe[100]).toBe(v ? fileByte(f, i, v) : 0);
    }
  }
  for (let p = 0; p < PROCS; p++) {
    if (procs[p].dead) continue;
    for (let i = 0; i < ANON_PAGES; i += 37) {
      if (!m.anonRead(procs[p], i, probe) || procs[p].dead) continue;
      const v = anonVer[p][i];
      expect(probe[100]).toBe(v ? anonByte(p, i, v) : 0);
    }
  }
  m.checkInvariants();
  exercised.reclaimed += m.events.pgstealKswapd + m.events.pgstealDirect;
  exercised.swapped += m.events.pswpout;
  exercised.migrated += m.events.pgmigrateSuccess;
}

/** What the runs did in total: the property is only worth something if reclaim and compaction ran. */
const exercised = { reclaimed: 0, swapped: 0, migrated: 0 };

describe('reclaim and compaction under mixed traffic', () => {
  it('keeps every structure consistent and every live allocation\'s bytes in place', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 10, maxLength: STEPS }), (ops) => run(ops)), { numRuns: RUNS, seed: 42 });
    expect(exercised.reclaimed).toBeGreaterThan(0);
    expect(exercised.swapped).toBeGreaterThan(0);
    expect(exercised.migrated).toBeGreaterThan(0);
  }, 120_000);
});
