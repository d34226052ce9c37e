/**
 * The /proc and debugfs views (src/proc): golden files, the layout of real 6.18 files, a boot from a real
 * zoneinfo, the standard tools that parse them (jc, procps free), hand-computed fragmentation indices, and
 * the reclaim fields (LRU sizes, page cache, anonymous pages, swap, dirty and writeback) on machines with swap.
 *
 * Goldens live in test/golden/<scenario>/<file>; `UPDATE_GOLDEN=1 npx vitest run test/proc.test.ts` rewrites
 * them (review the diff before committing). test/golden/kernel-6.18/ holds real files from a 6.18 x86_64 guest
 * (2 CPUs, 5 zones), copied from shared/samples/proc: they are never rewritten.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { GFP, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATETYPE_NAMES } from '../src/gfp.js';
import { Machine } from '../src/machine.js';
import type { MachineConfig } from '../src/config.js';
import { NO_PAGE, NR_PAGE_ORDERS, PAGE_SIZE } from '../src/mm/page.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE } from '../src/mm/swap.js';
import type { AddressSpace } from '../src/mm/filemap.js';
import type { AnonMm } from '../src/mm/anon.js';
import { PROC_NAMES, type ProcName } from '../src/proc/index.js';
import { freeWithMeminfo, jc, need, probeFree, probeJc, toolGate } from './helpers/jc.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(HERE, 'golden');
const KERNEL = join(GOLDEN, 'kernel-6.18');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const kernelFile = (name: string): string => readFileSync(join(KERNEL, name), 'utf8');
const lines = (text: string): string[] => text.replace(/\n$/, '').split('\n');

// --- machines ------------------------------------------------------------------------------------------

/**
 * The deterministic workload: 360 allocations cycling through three masks (unmovable, movable, reclaimable),
 * each mask taking orders 0..5 in turn, plus a few GFP_DMA ones; then every block whose index is even or a
 * multiple of 5 is freed, newest first. Leaves mixed pageblocks, pcp pages and split blocks behind. Then a
 * few vmalloc, vmap and vm_map_ram mappings (vmallocinfo, PageTables, VmallocUsed).
 */
function runWorkload(m: Machine): void {
  const masks = [GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_KERNEL | GFP.RECLAIMABLE];
  const held: Array<[pfn: number, order: number]> = [];
  for (let i = 0; i < 360; i++) {
    const order = Math.floor(i / 3) % 6;
    const pfn = m.allocPages(masks[i % 3], order);
    if (pfn === NO_PAGE) throw new Error(`workload: allocation ${i} (order ${order}) failed`);
    held.push([pfn, order]);
  }
  for (let i = 0; i < 12; i++) {
    const pfn = m.allocPages(GFP_KERNEL | GFP.DMA, i % 4);
    if (pfn === NO_PAGE) throw new Error(`workload: GFP_DMA allocation ${i} failed`);
    held.push([pfn, i % 4]);
  }
  for (let i = held.length - 1; i >= 0; i--) if (i % 2 === 0 || i % 5 === 0) m.freePages(held[i][0], held[i][1]);
  // vmalloc: three areas (the middle one freed, so unpurged), one with a vmalloc'd pages array, a vmap of
  // two held pages, and a vm_map_ram of one.
  const v = [m.vmalloc(20480, 'kernel_clone+0xb8/0x400'), m.vmalloc(8192, 'n_tty_open+0x14/0xa0'), m.vzalloc(5 << 20, 'pcpu_create_chunk+0x217/0x230')];
  m.vfree(v[1]);
  m.vmap([held[1][0], held[3][0]], 0x4 /* VM_MAP */, 'xfs_buf_map+0x9b/0x150');
  m.vmMapRam([held[7][0]]);
}

interface Scenario {
  name: string;
  config: MachineConfig;
  workload: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'x86_64-4G-boot', config: { arch: 'x86_64', mem: '4G', seed: 1 }, workload: false },
  { name: 'i386-2G-boot', config: { arch: 'i386', mem: '2G', seed: 1 }, workload: false },
  { name: 'x86_64-4G-workload', config: { arch: 'x86_64', mem: '4G', seed: 1 }, workload: true },
  { name: 'i386-2G-workload', config: { arch: 'i386', mem: '2G', seed: 1 }, workload: true },
];

const machines = new Map<string, Machine>();
/** One machine per scenario, booted on first use; tests only read them. */
function machine(name: string): Machine {
  let m = machines.get(name);
  if (!m) {
    const s = SCENARIOS.find((x) => x.name === name);
    if (!s) throw new Error(`no scenario ${name}`);
    m = Machine.boot(s.config);
    if (s.workload) runWorkload(m);
    machines.set(name, m);
  }
  return m;
}

// --- layout helpers ------------------------------------------------------------------------------------

/**
 * The shape of a line whose numbers are printed right-aligned in a fixed width: every run of spaces followed
 * by digits becomes as many '#'. Two lines with the same labels and column widths have the same shape
 * whatever their values (as long as each value fits its width).
 */
const shape = (line: string): string => line.replace(/ +\d+/g, (s) => '#'.repeat(s.length));
/** The layout of a line whose numbers are printed without width (zoneinfo): every number becomes N. */
const keys = (line: string): string => line.replace(/\d+/g, 'N');

/** zoneinfo split per zone: the zone's name and its lines. */
function zoneinfoZones(text: string): Array<{ name: string; lines: string[] }> {
  const zones: Array<{ name: string; lines: string[] }> = [];
  for (const l of lines(text)) {
    const h = /^Node \d+, zone +(\S+)$/.exec(l);
    if (h) zones.push({ name: h[1], lines: [] });
    if (!zones.length) throw new Error(`zoneinfo: text before the first zone: ${l}`);
    zones[zones.length - 1].lines.push(l);
  }
  return zones;
}

interface RealZone {
  name: string;
  fields: Record<string, number>;
  protection: number[];
  pagesets: Array<Record<string, number>>;
}

/** The per-zone fields of a real zoneinfo that the boot must reproduce (not the counters). */
function parseRealZoneinfo(text: string): RealZone[] {
  return zoneinfoZones(text).map(({ name, lines: ls }) => {
    const z: RealZone = { name, fields: {}, protection: [], pagesets: [] };
    for (const l of ls) {
      let r: RegExpExecArray | null;
      if ((r = /^ {8}(min|low|high|promo|spanned|present|managed) +(\d+)$/.exec(l))) z.fields[r[1]] = Number(r[2]);
      else if ((r = /^ {8}protection: \(([\d, ]+)\)$/.exec(l))) z.protection = r[1].split(', ').map(Number);
      else if ((r = /^ {4}cpu: (\d+)$/.exec(l))) z.pagesets.push({ cpu: Number(r[1]) });
      else if ((r = /^ {14}(batch|high_min|high_max): +(\d+)$/.exec(l))) z.pagesets[z.pagesets.length - 1][r[1]] = Number(r[2]);
      else if ((r = /^ {2}vm stats threshold: (\d+)$/.exec(l))) z.pagesets[z.pagesets.length - 1].threshold = Number(r[1]);
    }
    return z;
  });
}

/** First pfn of each pageblock of the zone that is RAM (not in a hole), as the pageblock census counts them. */
function pageblocksWithRam(m: Machine, zi: number): number[] {
  const z = m.zones[zi];
  const out: number[] = [];
  for (let pfn = z.startPfn; pfn < z.endPfn; pfn += 1 << m.cfg.arch.pageblockOrder) {
    if (!m.cfg.holes.some(([s, e]) => pfn >= s && pfn < e)) out.push(pfn);
  }
  return out;
}

// --- 1. goldens ----------------------------------------------------------------------------------------

describe('golden /proc files', () => {
  for (const s of SCENARIOS) {
    for (const name of PROC_NAMES) {
      it(`${s.name}: ${name}`, () => {
        const actual = machine(s.name).proc(name);
        const file = join(GOLDEN, s.name, name);
        if (UPDATE) {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, actual);
          return;
        }
        if (!existsSync(file)) throw new Error(`golden file ${file} is missing: run UPDATE_GOLDEN=1 npx vitest run test/proc.test.ts and review it`);
        expect(actual).toBe(readFileSync(file, 'utf8'));
      });
    }
  }

  it('a second boot with the same config and workload renders the same bytes', () => {
    const again = Machine.boot({ arch: 'x86_64', mem: '4G', seed: 1 });
    runWorkload(again);
    const m = machine('x86_64-4G-workload');
    for (const name of PROC_NAMES) expect(again.proc(name), name).toBe(m.proc(name));
  });

  it('the workload leaves the machine consistent and exercises every migratetype', () => {
    const m = machine('x86_64-4G-workload');
    m.checkInvariants();
    const types = m.proc('pagetypeinfo');
    // Unmovable and Reclaimable pageblocks only exist because the workload claimed them.
    const blocks = lines(types).filter((l) => l.startsWith('Node 0, zone   Normal '))[0].trim().split(/\s+/).slice(4).map(Number);
    expect(blocks[0]).toBeGreaterThan(0);
    expect(blocks[2]).toBeGreaterThan(0);
    expect(m.pcpPagesTotal()).toBeGreaterThan(0);
  });
});

// --- 2. layout against the real files ------------------------------------------------------------------

describe('layout matches real 6.18 files (x86_64, 5 zones, 2 CPUs)', () => {
  const models = ['x86_64-4G-boot', 'x86_64-4G-workload'];

  for (const name of models) {
    it(`${name}: vmstat has exactly the kernel's names in the kernel's order`, () => {
      const names = (t: string) => lines(t).map((l) => {
        expect(l).toMatch(/^[a-z0-9_]+ \d+$/);
        return l.split(' ')[0];
      });
      expect(names(machine(name).proc('vmstat'))).toEqual(names(kernelFile('vmstat')));
    });

    it(`${name}: meminfo has the kernel's labels, order and column widths`, () => {
      const model = lines(machine(name).proc('meminfo'));
      const real = lines(kernelFile('meminfo'));
      expect(model.map((l) => l.split(':')[0])).toEqual(real.map((l) => l.split(':')[0]));
      expect(model.map(shape)).toEqual(real.map(shape));
    });

    it(`${name}: buddyinfo has the kernel's layout`, () => {
      expect(lines(machine(name).proc('buddyinfo')).map(shape)).toEqual(lines(kernelFile('buddyinfo')).map(shape));
    });

    it(`${name}: pagetypeinfo has the kernel's header lines and layout`, () => {
      const model = lines(machine(name).proc('pagetypeinfo'));
      const real = lines(kernelFile('pagetypeinfo'));
      expect(model.slice(0, 4)).toEqual(real.slice(0, 4));
      const hdr = (ls: string[]) => ls.find((l) => l.startsWith('Number of blocks type'));
      expect(hdr(model)).toBe(hdr(real));
      expect(model.map(shape)).toEqual(real.map(shape));
    });

    it(`${name}: zoneinfo has the kernel's keys, zone by zone`, () => {
      const model = zoneinfoZones(machine(name).proc('zoneinfo'));
      const real = zoneinfoZones(kernelFile('zoneinfo'));
      expect(model.map((z) => z.name)).toEqual(['DMA', 'DMA32', 'Normal', 'Movable', 'Device']);
      expect(model.map((z) => z.name)).toEqual(real.map((z) => z.name));
      for (let i = 0; i < real.length; i++) expect(model[i].lines.map(keys), real[i].name).toEqual(real[i].lines.map(keys));
    });
  }

  it('every file ends with a newline and has no stray blank lines', () => {
    for (const s of SCENARIOS) {
      for (const name of PROC_NAMES) {
        const t = machine(s.name).proc(name);
        // A machine that has mapped nothing yet has an empty vmallocinfo (the real boot maps stacks and more).
        if (name === 'vmallocinfo' && !s.workload) {
          expect(t).toBe('');
          continue;
        }
        expect(t.endsWith('\n'), `${s.name} ${name}`).toBe(true);
        if (name !== 'pagetypeinfo') expect(t.includes('\n\n'), `${s.name} ${name}`).toBe(false);
      }
    }
  });

  it('i386 prints no counter of an option its zoneinfo and meminfo say it lacks (NUMA, THP, zswap)', () => {
    for (const name of ['i386-2G-boot', 'i386-2G-workload']) {
      const m = machine(name);
      expect(m.proc('zoneinfo')).not.toMatch(/numa_hit/);
      expect(m.proc('meminfo')).not.toMatch(/^(AnonHugePages|Zswap):/m);
      const bad = lines(m.proc('vmstat')).filter((l) => /^(numa_|zone_reclaim_|zswp|pgpromote_|thp_(?!migration_))/.test(l));
      expect(bad).toEqual([]);
      expect(m.proc('zoneinfo')).not.toMatch(/pgpromote_/);
    }
  });
});

// --- 3. boot from a real zoneinfo ----------------------------------------------------------------------

describe('--zoneinfo boot reproduces the real zones', () => {
  const text = kernelFile('zoneinfo');
  const real = parseRealZoneinfo(text);
  let m: Machine;
  beforeAll(() => {
    m = Machine.boot({ arch: 'x86_64', zoneinfo: text, nrCpus: real.find((z) => z.pagesets.length)!.pagesets.length });
  });

  it('has the same zones', () => {
    expect(m.zones.map((z) => z.name)).toEqual(real.map((z) => z.name));
  });

  for (const rz of real) {
    it(`${rz.name}: watermarks, spans, protection, pcp batch/high_min/high_max and stat threshold`, () => {
      const z = m.zones.find((x) => x.name === rz.name)!;
      expect({
        min: z.wmarkMin(), low: z.wmarkLow(), high: z.wmarkHigh(), promo: z.wmark(3),
        spanned: z.spanned, present: z.present, managed: z.managed,
      }).toEqual(rz.fields);
      expect(z.lowmemReserve).toEqual(rz.protection);
      if (!rz.pagesets.length) {
        expect(z.populated()).toBe(false);
        return;
      }
      expect(z.pcp.map((p, cpu) => ({ cpu, batch: p.batch, high_min: p.highMin, high_max: p.highMax, threshold: p.statThreshold })))
        .toEqual(rz.pagesets);
    });
  }

  it('counts the pageblocks and memmap of the real machine (holes have no struct pages)', () => {
    // The real DMA32 spans 16M..4G but has RAM only up to 3G: (3G - 16M) / 2M = 1528 pageblocks.
    const total = (t: string) => lines(t).find((l) => l.startsWith('Node 0, zone    DMA32 '))!
      .trim().split(/\s+/).slice(4).map(Number).reduce((a, b) => a + b, 0);
    expect(total(m.proc('pagetypeinfo'))).toBe(1528);
    expect(total(kernelFile('pagetypeinfo'))).toBe(1528);
    // 24 sections below 3G and 168 from 4G to 25G, 512 pages of memmap each: the real nr_memmap_boot_pages.
    const boot = (t: string) => lines(t).find((l) => l.startsWith('nr_memmap_boot_pages '));
    expect(boot(m.proc('vmstat'))).toBe(boot(kernelFile('vmstat')));
  });
});

// --- 4. jc parses what the model says ------------------------------------------------------------------

const JC = probeJc();
describe.runIf(toolGate('jc', JC))('jc parses the model files into the model numbers', () => {
  for (const name of ['x86_64-4G-workload', 'i386-2G-workload']) {
    describe(name, () => {
      const m = () => machine(name);
      const populated = () => m().zones.filter((z) => z.populated());

      it('jc --proc-buddyinfo', () => {
        need('jc', JC);
        expect(jc('proc-buddyinfo', m().proc('buddyinfo'))).toEqual(
          populated().map((z) => ({ node: 0, zone: z.name, free_chunks: Array.from(z.nrFree) })));
      });

      it('jc --proc-pagetypeinfo', () => {
        need('jc', JC);
        const mm = m();
        const pbo = mm.cfg.arch.pageblockOrder;
        const out = jc('proc-pagetypeinfo', mm.proc('pagetypeinfo')) as {
          page_block_order: number; pages_per_block: number;
          free_pages: Array<{ node: number; zone: string; type: string; free: number[] }>;
          num_blocks_type: Array<Record<string, number | string>>;
        };
        expect(out.page_block_order).toBe(pbo);
        expect(out.pages_per_block).toBe(1 << pbo);
        const free = populated().flatMap((z) => MIGRATETYPE_NAMES.map((type, mt) => ({
          node: 0, zone: z.name, type,
          free: Array.from({ length: NR_PAGE_ORDERS }, (_, o) => z.nrFreeList[o * MIGRATE_TYPES + mt]),
        })));
        expect(out.free_pages).toEqual(free);
        const blocks = populated().map((z) => {
          const c = [0, 0, 0, 0, 0];
          for (const pfn of pageblocksWithRam(mm, z.idx)) c[mm.buddy.getPageblockMigratetype(pfn)]++;
          return { node: 0, zone: z.name, unmovable: c[0], movable: c[1], reclaimable: c[2], high_atomic: c[3], isolate: c[4] };
        });
        expect(out.num_blocks_type).toEqual(blocks);
      });

      it('jc --proc-zoneinfo', () => {
        need('jc', JC);
        const mm = m();
        const out = jc('proc-zoneinfo', mm.proc('zoneinfo')) as Array<Record<string, any>>;
        expect(out.length).toBe(1);
        const node = out[0];
        expect(node.node).toBe(0);
        for (const z of mm.zones) {
          const jz = node[z.name];
          expect(jz, z.name).toBeDefined();
          expect(jz.pages, z.name).toMatchObject({
            free: z.freePages, boost: z.watermarkBoost, min: z.wmarkMin(), low: z.wmarkLow(), high: z.wmarkHigh(),
            promo: z.wmark(3), spanned: z.spanned, present: z.present, managed: z.managed, cma: 0,
            protection: z.lowmemReserve,
          });
          if (!z.populated()) {
            expect(jz.pagesets).toBeUndefined();
            continue;
          }
          expect(jz.pages.nr_free_pages).toBe(z.freePages);
          expect(jz.pages.nr_free_pages_blocks).toBe(z.freePagesBlocks(mm.cfg.arch.pageblockOrder));
          if (mm.cfg.arch.arch === 'x86_64') expect(jz.pages.numa_hit).toBe(z.numaHit);
          // jc files node_unreclaimable and start_pfn under the last pageset.
          const sets = jz.pagesets.map((p: Record<string, number>) => {
            const { node_unreclaimable: _u, start_pfn: _s, ...rest } = p;
            return rest;
          });
          expect(sets).toEqual(z.pcp.map((p, cpu) => ({
            cpu, count: p.count, high: p.high, batch: p.batch, high_min: p.highMin, high_max: p.highMax,
            'vm stats threshold': p.statThreshold,
          })));
          expect(jz.pagesets[jz.pagesets.length - 1].start_pfn).toBe(z.startPfn);
        }
        expect(mm.zones.reduce((s, z) => s + z.pcp.reduce((t, p) => t + p.count, 0), 0)).toBe(mm.pcpPagesTotal());
      });

      it('jc --proc-meminfo', () => {
        need('jc', JC);
        const mm = m();
        const out = jc('proc-meminfo', mm.proc('meminfo')) as Record<string, number>;
        expect(out.MemTotal).toBe(mm.totalramPages * 4);
        expect(out.MemFree).toBe(mm.freePagesTotal() * 4);
        // si_mem_available() with no page cache or reclaimable slab yet.
        expect(out.MemAvailable).toBe(Math.max(0, mm.freePagesTotal() - mm.totalreservePages) * 4);
        expect(out.CommitLimit).toBe(Math.floor(mm.totalramPages / 2) * 4);
        if (mm.cfg.arch.arch === 'i386') {
          const high = mm.zones.filter((z) => z.type === 'HighMem');
          expect(out.HighTotal).toBe(high.reduce((s, z) => s + z.managed, 0) * 4);
          expect(out.HighFree).toBe(high.reduce((s, z) => s + z.freePages, 0) * 4);
          expect(out.LowTotal + out.HighTotal).toBe(out.MemTotal);
          expect(out.LowFree + out.HighFree).toBe(out.MemFree);
        }
      });

      it('jc --proc-vmstat', () => {
        need('jc', JC);
        const mm = m();
        const out = jc('proc-vmstat', mm.proc('vmstat')) as Record<string, number>;
        expect(out.nr_free_pages).toBe(mm.freePagesTotal());
        expect(out.nr_free_pages_blocks).toBe(mm.zones.reduce((s, z) => s + z.freePagesBlocks(mm.cfg.arch.pageblockOrder), 0));
        for (const z of mm.zones) {
          const suffix = z.type === 'HighMem' ? 'high' : z.type.toLowerCase();
          expect(out[`pgalloc_${suffix}`], z.name).toBe(mm.events.pgalloc[z.idx]);
        }
        expect(out.pgfree).toBe(mm.events.pgfree);
        expect(out.pgfree).toBeGreaterThan(0);
        if (mm.cfg.arch.arch === 'x86_64') expect(out.numa_hit).toBe(mm.zones.reduce((s, z) => s + z.numaHit, 0));
        expect(out.nr_unstable).toBe(0);
      });
    });
  }
});

// --- 5. procps free ------------------------------------------------------------------------------------

const FREE = probeFree();
describe.runIf(toolGate('free', FREE))('procps free reads the model meminfo', () => {
  for (const name of ['x86_64-4G-boot', 'x86_64-4G-workload', 'i386-2G-workload']) {
    it(name, () => {
      need('unshare/free', FREE);
      const m = machine(name);
      const rows = freeWithMeminfo(m.proc('meminfo'));
      expect(rows.Mem.total).toBe(m.totalramPages * 4);
      expect(rows.Mem.free).toBe(m.freePagesTotal() * 4);
      expect(rows.Mem.available).toBe(Math.max(0, m.freePagesTotal() - m.totalreservePages) * 4);
      expect(rows.Swap).toMatchObject({ total: 0, used: 0, free: 0 });
      if (m.cfg.arch.arch === 'i386') {
        const high = m.zones.filter((z) => z.type === 'HighMem');
        expect(rows.High).toMatchObject({
          total: high.reduce((s, z) => s + z.managed, 0) * 4,
          free: high.reduce((s, z) => s + z.freePages, 0) * 4,
        });
        expect(rows.Low.total + rows.High.total).toBe(rows.Mem.total);
      }
    });
  }
});

// --- 6. fragmentation indices and other hand-computed values -------------------------------------------

describe('hand-computed values', () => {
  it('extfrag/unusable_index and extfrag/extfrag_index of a zone whose free blocks are known', () => {
    // ZONE_DMA of a small x86_64 machine: take every page of it (GFP_DMA with __GFP_MEMALLOC ignores the
    // watermarks), so nothing is free, then give back blocks that cannot merge with anything.
    const m = Machine.boot({ arch: 'x86_64', mem: '64M', nrCpus: 1 });
    const dma = m.zones[0];
    expect(dma.name).toBe('DMA');
    const held = new Set<number>();
    for (;;) {
      const pfn = m.allocPages(GFP.DMA | GFP.MEMALLOC | GFP.NOWARN, 0);
      if (pfn === NO_PAGE) break;
      held.add(pfn);
    }
    m.drainAllPages();
    expect(held.size).toBe(dma.managed);
    expect(Array.from(dma.nrFree)).toEqual(new Array(NR_PAGE_ORDERS).fill(0));
    const dmaLine = (file: ProcName) => lines(m.proc(file)).find((l) => l.startsWith('Node 0, zone      DMA '));
    // No free memory: everything is unusable (1.000), and the fragmentation index is 0 (no blocks at all).
    expect(dmaLine('extfrag/unusable_index')).toBe(`Node 0, zone      DMA ${'1.000 '.repeat(11)}`);
    expect(dmaLine('extfrag/extfrag_index')).toBe(`Node 0, zone      DMA ${' 0.000 '.repeat(11)}`);

    // Free: an order-5 block (1088..1119), an order-3 block (1024..1031), two order-1 blocks (1040, 1044)
    // and three single pages (1050, 1052, 1054). Each block's buddy stays allocated, so nothing merges.
    const free = [...range(1088, 1120), ...range(1024, 1032), 1040, 1041, 1044, 1045, 1050, 1052, 1054];
    for (const pfn of free) {
      expect(held.has(pfn)).toBe(true);
      m.freePages(pfn, 0);
    }
    m.drainAllPages();
    m.checkInvariants();
    // nr_free by order: [3, 2, 0, 1, 0, 1, 0, ...]; total blocks T = 7; free pages F = 3 + 4 + 8 + 32 = 47.
    expect(Array.from(dma.nrFree)).toEqual([3, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    // suitable(o) = sum over k >= o of nr_free[k] << (k - o):
    //   o=0: 47   o=1: 2+4+16 = 22   o=2: 2+8 = 10   o=3: 1+4 = 5   o=4: 2   o=5: 1   o>=6: 0
    // unusable(o) = (F - (suitable << o)) * 1000 / F:
    //   o=0: 0/47 = 0        o=1: (47-44)*1000/47 = 63     o=2: (47-40)*1000/47 = 148   o=3: (47-40) -> 148
    //   o=4: (47-32)*1000/47 = 319   o=5: (47-32) -> 319   o>=6: 47000/47 = 1000
    expect(dmaLine('extfrag/unusable_index')).toBe('Node 0, zone      DMA 0.000 0.063 0.148 0.148 0.319 0.319 1.000 1.000 1.000 1.000 1.000 ');
    // extfrag(o) = -1000 while a suitable block exists (o <= 5), else 1000 - (1000 + F*1000 / 2^o) / T:
    //   o=6: 47000/64 = 734,  1734/7 = 247, 1000-247 = 753
    //   o=7: 47000/128 = 367, 1367/7 = 195 -> 805
    //   o=8: 47000/256 = 183, 1183/7 = 169 -> 831
    //   o=9: 47000/512 = 91,  1091/7 = 155 -> 845
    //   o=10: 47000/1024 = 45, 1045/7 = 149 -> 851
    // printed "%2d.%03d ", so -1000 is "-1.000" and 753 is " 0.753".
    expect(dmaLine('extfrag/extfrag_index')).toBe('Node 0, zone      DMA -1.000 -1.000 -1.000 -1.000 -1.000 -1.000  0.753  0.805  0.831  0.845  0.851 ');
    expect(dmaLine('buddyinfo')).toBe('Node 0, zone      DMA      3      2      0      1      0      1      0      0      0      0      0 ');
  });

  it('pagetypeinfo stops counting a free list at 100000 and prints ">100000", as the kernel does', () => {
    // Order-1 movable blocks split in two, the second half freed: each freed page's buddy stays allocated.
    const m = Machine.boot({ arch: 'x86_64', mem: '1G', nrCpus: 1 });
    const dma32 = m.zones[1];
    const order0Movable = () => dma32.nrFreeList[0 * MIGRATE_TYPES + MIGRATE_MOVABLE];
    const leaveOne = () => {
      const pfn = m.allocPages(GFP_HIGHUSER_MOVABLE, 1);
      if (pfn === NO_PAGE) throw new Error('order-1 allocation failed');
      m.splitPage(pfn, 1);
      m.freePages(pfn + 1, 0);
    };
    const row = () => lines(m.proc('pagetypeinfo')).find((l) => l.startsWith('Node    0, zone    DMA32, type      Movable '));
    for (let i = 0; i < 99_999; i++) leaveOne();
    m.drainAllPages();
    expect(order0Movable()).toBe(99_999);
    expect(row()).toMatch(/^Node {4}0, zone {4}DMA32, type {6}Movable  99999 /);
    leaveOne();
    m.drainAllPages();
    expect(order0Movable()).toBe(100_000);
    expect(row()).toMatch(/^Node {4}0, zone {4}DMA32, type {6}Movable >100000 /);
    // buddyinfo has no cap.
    expect(lines(m.proc('buddyinfo'))[1]).toMatch(/^Node 0, zone    DMA32 100000 /);
  });

  it('x86_64 4G: the PCI hole has no pageblocks and no memmap', () => {
    const m = machine('x86_64-4G-boot');
    // DMA32 spans 16M..4G but RAM stops at 3G: (3G - 16M) / 2M = 1528 pageblocks; Normal is 4G..5G: 512,
    // two of which the boot's first unmovable allocation (the slab caches' structs) claimed whole.
    const counts = lines(m.proc('pagetypeinfo')).filter((l) => l.startsWith('Node 0, zone '));
    expect(counts).toEqual([
      'Node 0, zone      DMA            0            8            0            0            0 ',
      'Node 0, zone    DMA32            0         1528            0            0            0 ',
      'Node 0, zone   Normal            2          510            0            0            0 ',
    ]);
    // 128 MiB sections with RAM: 24 below 3G, 8 from 4G to 5G; 512 pages of struct page each.
    expect(lines(m.proc('vmstat'))).toContain(`nr_memmap_boot_pages ${32 * 512}`);
  });

  it('dirty thresholds use the kernel per-PAGE_SIZE ratios and leave highmem out', () => {
    for (const name of ['x86_64-4G-workload', 'i386-2G-workload']) {
      const m = machine(name);
      const vm = jcless(m.proc('vmstat'));
      const { thresh, bgThresh } = expectedDirtyLimits(m);
      expect(vm.nr_dirty_threshold, name).toBe(thresh);
      expect(vm.nr_dirty_background_threshold, name).toBe(bgThresh);
    }
  });
});

/**
 * global_dirty_limits() computed here from the machine: dirtyable memory is free pages less totalreserve_pages
 * plus the file LRUs, less each highmem zone's free pages above its high mark and its file LRU pages
 * (vm_highmem_is_dirtyable is 0), plus 1; dirty_ratio 20 -> 20 * 4096 / 100 = 819 per 4096,
 * dirty_background_ratio 10 -> 409 per 4096.
 */
function expectedDirtyLimits(m: Machine): { thresh: number; bgThresh: number } {
  const file = (zi?: number) => zi === undefined
    ? m.lru.size(LRU_INACTIVE_FILE) + m.lru.size(LRU_ACTIVE_FILE)
    : m.lru.zoneLruSize(zi, LRU_INACTIVE_FILE) + m.lru.zoneLruSize(zi, LRU_ACTIVE_FILE);
  let x = Math.max(0, m.freePagesTotal() - m.totalreservePages) + file();
  let high = 0;
  for (const z of m.zones) {
    if (z.type === 'HighMem' && z.populated()) high += z.freePages - Math.min(z.freePages, z.wmarkHigh()) + file(z.idx);
  }
  x -= Math.min(x, high);
  const avail = x + 1; // global_dirtyable_memory() never returns 0
  return { thresh: Math.floor((819 * avail) / 4096), bgThresh: Math.floor((409 * avail) / 4096) };
}

// --- 7. the reclaim fields: page cache, anonymous memory, swap, writeback ------------------------------

/** meminfo as label -> kB (no jc needed). */
function meminfoKb(text: string): Record<string, number> {
  return Object.fromEntries(lines(text).map((l) => {
    const r = /^([^:]+): +(\d+)( kB)?$/.exec(l);
    if (!r) throw new Error(`meminfo: bad line ${l}`);
    return [r[1], Number(r[2])];
  }));
}

/** zoneinfo: the per-node stats and each populated zone's counters, by zone name. */
function zoneinfoCounters(text: string): { node: Record<string, number>; zones: Record<string, Record<string, number>> } {
  const node: Record<string, number> = {};
  const zones: Record<string, Record<string, number>> = {};
  for (const z of zoneinfoZones(text)) {
    let inNode = false;
    for (const l of z.lines) {
      if (l === '  per-node stats') inNode = true;
      else if (/^  \S/.test(l)) inNode = false;
      const r = /^ {6}([a-z_]+) +(\d+)$/.exec(l);
      if (!r) continue;
      if (inNode) node[r[1]] = Number(r[2]);
      else (zones[z.name] ??= {})[r[1]] = Number(r[2]);
    }
  }
  return { node, zones };
}

/** si_mem_available() computed here: free less reserves, plus page cache and reclaimable slab each less min(half, low marks). */
function expectedAvailable(m: Machine): number {
  const low = m.zones.reduce((s, z) => s + z.wmarkLow(), 0);
  const cache = m.lru.size(LRU_INACTIVE_FILE) + m.lru.size(LRU_ACTIVE_FILE);
  const slab = m.slub.counters.reclaimablePages;
  return Math.max(0, m.freePagesTotal() - m.totalreservePages + cache - Math.min(Math.floor(cache / 2), low) +
    slab - Math.min(Math.floor(slab / 2), low));
}

const FILE_PAGES = 300;
const ANON_PAGES = 200;

/** A file of FILE_PAGES dirty page cache pages and an anonymous mapping of ANON_PAGES written pages. */
function fillMemory(m: Machine): { file: AddressSpace; am: AnonMm } {
  const buf = new Uint8Array(PAGE_SIZE).fill(0x5a);
  const file = m.createFile(m.mountFs('ext4'));
  for (let i = 0; i < FILE_PAGES; i++) expect(m.fileWrite(file, i, buf)).toBe(true);
  const am = m.mmapAnon(ANON_PAGES);
  for (let i = 0; i < ANON_PAGES; i++) expect(m.anonWrite(am, i, buf)).toBe(true);
  return { file, am };
}

/** What every rendering must agree on, whatever the state: meminfo, vmstat and zoneinfo against each other and the model. */
function expectConsistentViews(m: Machine): void {
  const mi = meminfoKb(m.proc('meminfo'));
  const vm = jcless(m.proc('vmstat'));
  const zi = zoneinfoCounters(m.proc('zoneinfo'));
  const K = (p: number) => p * 4;
  // The node items are the same in vmstat and zoneinfo, and are the model's counters.
  for (const [n, v] of Object.entries(zi.node)) expect(vm[n], n).toBe(v);
  expect(vm.nr_inactive_anon).toBe(m.lru.size(LRU_INACTIVE_ANON));
  expect(vm.nr_active_anon).toBe(m.lru.size(LRU_ACTIVE_ANON));
  expect(vm.nr_inactive_file).toBe(m.lru.size(LRU_INACTIVE_FILE));
  expect(vm.nr_active_file).toBe(m.lru.size(LRU_ACTIVE_FILE));
  expect(vm.nr_file_pages).toBe(m.node.nrFilePages);
  expect(vm.nr_anon_pages).toBe(m.node.nrAnonPages);
  expect(vm.nr_dirty).toBe(m.node.nrDirty);
  expect(vm.nr_writeback).toBe(m.node.nrWriteback);
  expect(vm.nr_swapcached).toBe(m.node.nrSwapcached);
  // vmstat's zone items are the sums of zoneinfo's, and the per-zone LRU sizes add up to the node's.
  for (const item of ['inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'write_pending']) {
    const sum = Object.values(zi.zones).reduce((s, z) => s + z[`nr_zone_${item}`], 0);
    expect(vm[`nr_zone_${item}`], item).toBe(sum);
    if (item !== 'write_pending') expect(sum, item).toBe(vm[`nr_${item}`]);
  }
  for (const z of m.zones) {
    if (!z.populated()) continue;
    expect(zi.zones[z.name].nr_zone_inactive_file, z.name).toBe(m.lru.zoneLruSize(z.idx, LRU_INACTIVE_FILE));
    expect(zi.zones[z.name].nr_zone_inactive_anon, z.name).toBe(m.lru.zoneLruSize(z.idx, LRU_INACTIVE_ANON));
  }
  // NR_ZONE_WRITE_PENDING moves with NR_FILE_DIRTY and NR_WRITEBACK.
  expect(vm.nr_zone_write_pending).toBe(vm.nr_dirty + vm.nr_writeback);
  // meminfo is the same counters in kB.
  expect(mi.Cached + mi.SwapCached + mi.Buffers).toBe(K(vm.nr_file_pages));
  expect(mi.SwapCached).toBe(K(vm.nr_swapcached));
  expect(mi['Active(anon)']).toBe(K(vm.nr_active_anon));
  expect(mi['Inactive(anon)']).toBe(K(vm.nr_inactive_anon));
  expect(mi['Active(file)']).toBe(K(vm.nr_active_file));
  expect(mi['Inactive(file)']).toBe(K(vm.nr_inactive_file));
  expect(mi.Active).toBe(mi['Active(anon)'] + mi['Active(file)']);
  expect(mi.Inactive).toBe(mi['Inactive(anon)'] + mi['Inactive(file)']);
  expect(mi.Unevictable).toBe(0);
  expect(mi.Dirty).toBe(K(vm.nr_dirty));
  expect(mi.Writeback).toBe(K(vm.nr_writeback));
  expect(mi.AnonPages).toBe(K(vm.nr_anon_pages));
  expect(mi.Mapped).toBe(0);
  expect(mi.SwapTotal).toBe(K(m.swap?.total ?? 0));
  expect(mi.SwapFree).toBe(K(m.swap?.free ?? 0));
  expect(mi.CommitLimit).toBe(K(Math.floor(m.totalramPages / 2) + (m.swap?.total ?? 0)));
  expect(mi.MemAvailable).toBe(K(expectedAvailable(m)));
  const { thresh, bgThresh } = expectedDirtyLimits(m);
  expect(vm.nr_dirty_threshold).toBe(thresh);
  expect(vm.nr_dirty_background_threshold).toBe(bgThresh);
}

describe('the reclaim fields (page cache, anonymous memory, swap, writeback)', () => {
  it('a fresh machine with swap: every new field is 0 except SwapTotal, SwapFree and CommitLimit', () => {
    const m = Machine.boot({ mem: '256M', swap: '64M', strict: true });
    const mi = meminfoKb(m.proc('meminfo'));
    expect(mi.SwapTotal).toBe(65536);
    expect(mi.SwapFree).toBe(65536);
    expect(mi.CommitLimit).toBe(Math.floor(m.totalramPages / 2) * 4 + 65536);
    for (const l of ['Cached', 'SwapCached', 'Active', 'Inactive', 'Active(anon)', 'Inactive(anon)', 'Active(file)',
      'Inactive(file)', 'Dirty', 'Writeback', 'AnonPages']) expect(mi[l], l).toBe(0);
    expectConsistentViews(m);
  });

  it('dirty page cache and anonymous pages: meminfo, vmstat and zoneinfo agree with the model', () => {
    const m = Machine.boot({ mem: '256M', swap: '64M', strict: true });
    const faults = m.events.pgfault;
    fillMemory(m);
    const mi = meminfoKb(m.proc('meminfo'));
    // Each file page was written once, each anonymous page faulted in once: all on the inactive lists.
    expect(mi.Cached).toBe(FILE_PAGES * 4);
    expect(mi['Inactive(file)']).toBe(FILE_PAGES * 4);
    expect(mi['Active(file)']).toBe(0);
    expect(mi.Dirty).toBe(FILE_PAGES * 4);
    expect(mi.Writeback).toBe(0);
    expect(mi.AnonPages).toBe(ANON_PAGES * 4);
    expect(mi['Inactive(anon)']).toBe(ANON_PAGES * 4);
    expect(mi.SwapCached).toBe(0);
    expect(mi.SwapFree).toBe(65536);
    // MemAvailable counts the page cache, less what must stay (here half of it: the low marks are larger).
    const low = m.zones.reduce((s, z) => s + z.wmarkLow(), 0);
    expect(low).toBeGreaterThan(FILE_PAGES / 2);
    expect(mi.MemAvailable).toBe((m.freePagesTotal() - m.totalreservePages + FILE_PAGES / 2) * 4);
    const vm = jcless(m.proc('vmstat'));
    expect(vm).toMatchObject({
      nr_file_pages: FILE_PAGES, nr_dirty: FILE_PAGES, nr_dirtied: FILE_PAGES, nr_anon_pages: ANON_PAGES,
      nr_inactive_file: FILE_PAGES, nr_inactive_anon: ANON_PAGES, nr_zone_inactive_file: FILE_PAGES,
      nr_zone_write_pending: FILE_PAGES, nr_writeback: 0, nr_written: 0, pswpout: 0,
    });
    expect(vm.pgfault).toBe(m.events.pgfault);
    expect(vm.pgfault - faults).toBeGreaterThanOrEqual(ANON_PAGES);
    // Dirtyable memory now includes the file LRUs.
    const noFile = Math.floor((819 * (m.freePagesTotal() - m.totalreservePages + 1)) / 4096);
    expect(vm.nr_dirty_threshold).toBe(Math.floor((819 * (m.freePagesTotal() - m.totalreservePages + FILE_PAGES + 1)) / 4096));
    expect(vm.nr_dirty_threshold).toBeGreaterThan(noFile);
    expectConsistentViews(m);
    m.checkInvariants();
  });

  it('writeback to the file and to swap, and the swap cache', () => {
    const m = Machine.boot({ mem: '256M', swap: '64M', strict: true });
    const { file, am } = fillMemory(m);
    const buf = new Uint8Array(PAGE_SIZE).fill(0xa5);
    // pageout() of 10 dirty file pages and of 5 anonymous pages (add_to_swap + swap_writepage).
    for (let i = 0; i < 10; i++) m.filemap.writepage(file.page(i));
    for (let i = 0; i < 5; i++) {
      const pfn = am.slots[i];
      expect(m.anon.addToSwap(pfn)).toBe(true);
      m.anon.swapWritepage(pfn);
    }
    // A page written again while its write is in flight is dirty and under writeback: it counts twice.
    expect(m.fileWrite(file, 0, buf)).toBe(true);
    let mi = meminfoKb(m.proc('meminfo'));
    let vm = jcless(m.proc('vmstat'));
    expect(vm).toMatchObject({
      nr_dirty: FILE_PAGES - 10 + 1, nr_writeback: 15, nr_swapcached: 5, nr_zone_write_pending: FILE_PAGES - 10 + 1 + 15,
      pswpout: 5, pgpgout: 15 * 4, nr_dirtied: FILE_PAGES + 1, nr_written: 0,
    });
    expect(mi.Dirty).toBe((FILE_PAGES - 9) * 4);
    expect(mi.Writeback).toBe(15 * 4);
    expect(mi.SwapCached).toBe(5 * 4);
    expect(mi.SwapFree).toBe(65536 - 5 * 4);
    expect(mi.AnonPages).toBe(ANON_PAGES * 4);
    expectConsistentViews(m);
    // The writes complete (folio_end_writeback): NR_WRITEBACK drops, NR_WRITTEN counts them.
    m.wb.complete(Infinity);
    vm = jcless(m.proc('vmstat'));
    mi = meminfoKb(m.proc('meminfo'));
    expect(vm).toMatchObject({ nr_writeback: 0, nr_written: 15, nr_zone_write_pending: FILE_PAGES - 9, nr_swapcached: 5 });
    expect(mi.Writeback).toBe(0);
    expectConsistentViews(m);
    m.checkInvariants();
  });

  it('i386: page cache in HighMem is counted per zone and left out of dirtyable memory', () => {
    const m = Machine.boot({ arch: 'i386', mem: '2G', swap: '64M', strict: true });
    const before = jcless(m.proc('vmstat'));
    const lowFree = () => m.zones.filter((z) => z.type !== 'HighMem').reduce((s, z) => s + z.freePages, 0);
    const lowBefore = lowFree();
    fillMemory(m);
    const high = m.zones.find((z) => z.type === 'HighMem')!;
    const zi = zoneinfoCounters(m.proc('zoneinfo'));
    // GFP_HIGHUSER_MOVABLE: the page cache and the anonymous pages come from HighMem.
    expect(zi.zones.HighMem.nr_zone_inactive_file).toBe(FILE_PAGES);
    expect(zi.zones.HighMem.nr_zone_inactive_anon).toBe(ANON_PAGES);
    expect(zi.zones.HighMem.nr_zone_write_pending).toBe(FILE_PAGES);
    expect(m.lru.zoneLruSize(high.idx, LRU_INACTIVE_FILE)).toBe(FILE_PAGES);
    // The file pages add to dirtyable memory and come off again with highmem's share: the threshold moves
    // only by what the allocations took from lowmem (the anon PTE page and the pcp batch it came with; 20% is
    // 819/4096), not by the 300 file pages (which would be 60 more).
    const vm = jcless(m.proc('vmstat'));
    const lowTaken = lowBefore - lowFree();
    expect(Math.abs(before.nr_dirty_threshold - vm.nr_dirty_threshold - Math.floor((819 * lowTaken) / 4096))).toBeLessThanOrEqual(1);
    expectConsistentViews(m);
  });
});

describe.runIf(toolGate('jc', JC))('jc parses the reclaim fields', () => {
  let m: Machine;
  beforeAll(() => {
    m = Machine.boot({ mem: '256M', swap: '64M', strict: true });
    const { file, am } = fillMemory(m);
    for (let i = 0; i < 10; i++) m.filemap.writepage(file.page(i));
    for (let i = 0; i < 5; i++) {
      m.anon.addToSwap(am.slots[i]);
      m.anon.swapWritepage(am.slots[i]);
    }
  });

  it('jc --proc-meminfo', () => {
    need('jc', JC);
    const out = jc('proc-meminfo', m.proc('meminfo')) as Record<string, number>;
    expect(out).toMatchObject({
      Cached: Math.max(0, m.node.nrFilePages - m.node.nrSwapcached) * 4, SwapCached: 5 * 4, Dirty: (FILE_PAGES - 10) * 4,
      Writeback: 15 * 4, AnonPages: ANON_PAGES * 4, SwapTotal: 65536, SwapFree: 65536 - 5 * 4,
      'Inactive(file)': FILE_PAGES * 4, 'Inactive(anon)': ANON_PAGES * 4, MemAvailable: expectedAvailable(m) * 4,
      CommitLimit: Math.floor(m.totalramPages / 2) * 4 + 65536,
    });
  });

  it('jc --proc-vmstat', () => {
    need('jc', JC);
    const out = jc('proc-vmstat', m.proc('vmstat')) as Record<string, number>;
    expect(out).toMatchObject({
      nr_file_pages: m.node.nrFilePages, nr_inactive_file: FILE_PAGES, nr_zone_inactive_file: FILE_PAGES,
      nr_anon_pages: ANON_PAGES, nr_dirty: FILE_PAGES - 10, nr_writeback: 15, nr_zone_write_pending: FILE_PAGES + 5,
      nr_swapcached: 5, pswpout: 5, pgpgout: 60, pgfault: m.events.pgfault,
    });
  });

  it('jc --proc-zoneinfo', () => {
    need('jc', JC);
    const out = jc('proc-zoneinfo', m.proc('zoneinfo')) as Array<Record<string, any>>;
    const node = out[0];
    expect(node).toMatchObject({ nr_inactive_file: FILE_PAGES, nr_inactive_anon: ANON_PAGES, nr_dirty: FILE_PAGES - 10, nr_writeback: 15 });
    let file = 0;
    for (const z of m.zones.filter((x) => x.populated())) {
      expect(node[z.name].pages.nr_zone_inactive_file, z.name).toBe(m.lru.zoneLruSize(z.idx, LRU_INACTIVE_FILE));
      file += node[z.name].pages.nr_zone_inactive_file;
    }
    expect(file).toBe(FILE_PAGES);
  });
});

describe.runIf(toolGate('free', FREE))('procps free reads the swap and the page cache', () => {
  it('x86_64 256M with 64M swap, page cache, anonymous memory and a swap cache', () => {
    need('unshare/free', FREE);
    const m = Machine.boot({ mem: '256M', swap: '64M', strict: true });
    const { am } = fillMemory(m);
    for (let i = 0; i < 5; i++) {
      m.anon.addToSwap(am.slots[i]);
      m.anon.swapWritepage(am.slots[i]);
    }
    const mi = meminfoKb(m.proc('meminfo'));
    const rows = freeWithMeminfo(m.proc('meminfo'));
    expect(rows.Mem.available).toBe(expectedAvailable(m) * 4);
    // buff/cache: Buffers + Cached + SReclaimable.
    expect(rows.Mem.buffCache).toBe(mi.Buffers + mi.Cached + mi.SReclaimable);
    expect(rows.Swap).toMatchObject({ total: 65536, used: 5 * 4, free: 65536 - 5 * 4 });
  });
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** name -> value of a vmstat text (for the few checks that do not go through jc). */
function jcless(text: string): Record<string, number> {
  return Object.fromEntries(lines(text).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
}
