/**
 * The vmalloc layer: KVA placement, guard pages, lazy freeing and purge, i386 exhaustion, vmap and
 * vm_map_ram, page tables and the TLB, the 5.17 scope switch, and /proc/vmallocinfo.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GFP, KernelReport, Machine, NO_PAGE, PAGE_SIZE, type MachineConfig } from '../src/index.js';
import { PG_RESERVED } from '../src/mm/page.js';
import { VM_MAP, VM_MAP_PUT_PAGES } from '../src/mm/vmalloc.js';
import { jc, need, probeJc, toolGate } from './helpers/jc.js';

const boot = (cfg: MachineConfig = {}) => Machine.boot({ mem: '1G', strict: true, ...cfg });
/** Free pages once the slab caches give back their empty slabs and the pcp lists drain. */
const settledFree = (m: Machine) => {
  for (const c of m.kmemCaches()) m.kmemCacheShrink(c);
  m.drainAllPages();
  return m.freePagesTotal();
};
const K = 1024;

describe('vmap areas: placement, guard pages, lazy freeing', () => {
  it('places areas lowest-first, one guard page apart, and reuses a hole only after a purge', () => {
    const m = boot();
    const v = m.vmallocLayer;
    const a = m.vmalloc(16 * K);
    const b = m.vmalloc(8 * K);
    const c = m.vmalloc(4 * K);
    expect(a).toBe(v.start);
    expect(b).toBe(a + 16 * K + PAGE_SIZE);
    expect(c).toBe(b + 8 * K + PAGE_SIZE);
    m.vfree(b);
    // The freed range waits on the purge list: a new area of the same size goes above.
    const d = m.vmalloc(8 * K);
    expect(d).toBe(c + 4 * K + PAGE_SIZE);
    expect(m.purgeVmapAreaLazy()).toBe(true);
    expect(m.vmalloc(8 * K)).toBe(b); // lowest fit: the hole
    m.checkInvariants();
  });

  it('aligns an area to the requested power of two', () => {
    const m = boot();
    m.vmalloc(4 * K);
    const a = m.vmallocNodeRange(64 * K, { align: 2 << 20 });
    expect(a % (2 << 20)).toBe(0);
    expect(a).toBe(m.vmallocLayer.start + (2 << 20));
    m.checkInvariants();
  });

  it('reports an access to the guard page as a page fault and changes nothing', () => {
    const m = boot();
    const a = m.vmalloc(2 * PAGE_SIZE);
    m.write(a, new Uint8Array([7]));
    expect(() => m.read(a + 2 * PAGE_SIZE, 1)).toThrow(KernelReport);
    expect(m.dmesg()).toContain(`BUG: unable to handle page fault for address: ${m.formatAddr(a + 2 * PAGE_SIZE)}`);
    expect(m.dmesg()).toContain('#PF: supervisor read access in kernel mode');
    // A write that would run into the guard page moves no byte.
    expect(() => m.write(a + 2 * PAGE_SIZE - 2, new Uint8Array([1, 2, 3, 4]))).toThrow(KernelReport);
    expect([...m.read(a + 2 * PAGE_SIZE - 2, 2)]).toEqual([0, 0]);
    expect(m.vmallocToPage(a + 2 * PAGE_SIZE)).toBe(NO_PAGE);
  });

  it('purges once the lazily freed pages pass lazy_max_pages = fls(cpus) * 32 MiB of pages', () => {
    const m = boot({ nrCpus: 2 });
    const v = m.vmallocLayer;
    expect(v.lazyMaxPages).toBe(2 * 8192);
    const areas: number[] = [];
    for (let i = 0; i < 250; i++) areas.push(m.vmalloc(320 * K)); // 80 pages + guard each
    let freed = 0;
    for (const a of areas) {
      m.vfree(a);
      freed += 81;
      if (freed <= v.lazyMaxPages) {
        expect(v.stats.purges).toBe(0);
        expect(v.lazyNr).toBe(freed);
      } else break;
    }
    expect(v.stats.purges).toBe(1);
    expect(v.lazyNr).toBe(0);
    expect(m.tlb.stats.flushAll).toBe(1); // one flush for the whole range
    m.checkInvariants();
  });

  it('on i386 with vmalloc=128M, running out of space purges, retries, and fails with the kernel message', () => {
    const m = boot({ arch: 'i386', mem: '1G' });
    const v = m.vmallocLayer;
    expect(v.end - v.start).toBe(120 << 20); // VmallocTotal: the 8 MiB VMALLOC_OFFSET gap comes off
    expect(m.proc('meminfo')).toMatch(/^VmallocTotal:\s+122880 kB$/m);
    const got: number[] = [];
    for (;;) {
      const a = m.vmallocGfp(1 << 20, GFP.KERNEL);
      if (a === 0) break;
      got.push(a);
    }
    expect(got.length).toBe(Math.floor((120 << 20) / ((1 << 20) + PAGE_SIZE)));
    expect(m.dmesg()).toContain(`vmap allocation for size ${(1 << 20) + PAGE_SIZE} failed: use vmalloc=<size> to increase size`);
    expect(m.dmesg()).toMatch(/vmalloc error: size 1048576, vm_struct allocation failed, mode:0xcc0\(GFP_KERNEL\)/);
    // Freed space comes back only through the purge the failing allocation runs.
    m.vfree(got.pop()!);
    expect(m.vmallocGfp(1 << 20, GFP.KERNEL)).not.toBe(0);
    m.checkInvariants();
  });

  it('with __GFP_NOWARN the failure is silent but counted, and nothing leaks', () => {
    const m = boot({ arch: 'i386', mem: '1G' });
    const free0 = settledFree(m);
    expect(m.vmallocGfp(200 << 20, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    expect(m.dmesg()).not.toContain('vmap allocation');
    expect(m.vmallocLayer.stats.failures).toBe(1);
    expect(settledFree(m)).toBe(free0);
    m.checkInvariants();
  });
});

describe('vmalloc pages and page tables', () => {
  it('vmalloc_to_page names every page of the area, and the pages are the area\'s own', () => {
    const m = boot();
    const a = m.vmalloc(40 * K);
    const area = m.vmallocLayer.findVmapArea(a)!;
    expect(area.vm!.pfns).toHaveLength(10);
    for (let i = 0; i < 10; i++) {
      const pfn = m.vmallocToPage(a + i * PAGE_SIZE + 123);
      expect(pfn).toBe(area.vm!.pfns[i]);
      expect(m.mm.refcount[pfn]).toBe(1);
    }
    expect(m.proc('meminfo')).toMatch(/^VmallocUsed:\s+40 kB$/m);
    m.vfree(a);
    expect(m.proc('meminfo')).toMatch(/^VmallocUsed:\s+0 kB$/m);
  });

  it('reads and writes across the page boundaries of an area, bytes landing in the mapped pages', () => {
    const m = boot();
    const a = m.vmalloc(3 * PAGE_SIZE);
    const bytes = new Uint8Array(2 * PAGE_SIZE + 40).map((_, i) => (i * 7 + 1) & 0xff);
    m.write(a + PAGE_SIZE - 50, bytes);
    expect([...m.read(a + PAGE_SIZE - 50, bytes.length)]).toEqual([...bytes]);
    // The second page holds bytes 50.. of the buffer, through the direct map too.
    const pfn = m.vmallocToPage(a + PAGE_SIZE);
    expect([...m.read(m.pageAddress(pfn), 4)]).toEqual([...bytes.subarray(50, 54)]);
    m.checkInvariants();
  });

  it('counts page-table pages in meminfo and vmstat; mainline keeps them after a purge, the purge policy frees them', () => {
    for (const policy of ['keep', 'purge'] as const) {
      const m = boot({ policy: { vmallocPgtableFree: policy } });
      const t0 = m.pgtable.nrTables;
      const a = m.vmalloc(4 << 20); // spans three PTE tables (2 MiB each): PUD + PMD + 3 PTE pages
      const tables = m.pgtable.nrTables - t0;
      expect(tables).toBe(5);
      expect(m.proc('meminfo')).toMatch(new RegExp(`^PageTables:\\s+${(t0 + tables) * 4} kB$`, 'm'));
      expect(m.proc('vmstat')).toMatch(new RegExp(`^nr_page_table_pages ${t0 + tables}$`, 'm'));
      m.vfree(a);
      m.purgeVmapAreaLazy();
      expect(m.pgtable.nrTables).toBe(policy === 'keep' ? t0 + tables : t0);
      m.checkInvariants();
    }
  });

  it('keeps the page directory in a reserved page of the kernel image, also on a machine booted from a real zoneinfo', () => {
    const zoneinfo = readFileSync(new URL('../../shared/samples/proc/zoneinfo', import.meta.url), 'utf8');
    for (const cfg of [{}, { arch: 'i386' as const }, { zoneinfo }]) {
      const m = boot(cfg);
      const pgd = m.pgtable.pgdPfn;
      expect(m.mm.flags[pgd] & PG_RESERVED).not.toBe(0);
      expect(pgd).toBeGreaterThanOrEqual(m.cfg.kernelImage[0]);
      expect(pgd).toBeLessThan(m.cfg.kernelImage[1]);
      // Mapping through it works, and the invariants (every page accounted for once) hold.
      const a = m.vmalloc(64 * K);
      m.write(a, new Uint8Array([5]));
      expect(m.vmallocToPage(a)).not.toBe(NO_PAGE);
      m.checkInvariants();
    }
  });

  it('zeroes vzalloc memory and frees every page on vfree', () => {
    const m = boot({ pagePoison: true });
    const free0 = settledFree(m);
    const a = m.vzalloc(20 * K);
    expect([...m.read(a, 20 * K)].every((b) => b === 0)).toBe(true);
    m.vfree(a);
    m.purgeVmapAreaLazy();
    // What stays is the page tables (mainline keeps them).
    expect(settledFree(m)).toBe(free0 - m.pgtable.nrTables);
  });

  it('a stale TLB entry after vfree reads a freed page until the purge flushes it (KASAN reports it)', () => {
    const m = boot();
    const a = m.vmalloc(PAGE_SIZE);
    m.read(a, 1); // fills the TLB
    m.vfree(a);
    expect(() => m.read(a, 1)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: KASAN: use-after-free');
    m.purgeVmapAreaLazy();
    expect(() => m.read(a, 1)).toThrow(KernelReport);
    expect(m.dmesg()).toContain('BUG: unable to handle page fault');
  });

  it('vfree in interrupt context is deferred to process context', () => {
    const m = boot();
    const a = m.vmalloc(8 * K);
    m.inIrq(() => m.vfree(a));
    expect(m.vmallocLayer.findVmapArea(a)).toBeDefined();
    expect(m.vmallocLayer.deferredCount).toBe(1);
    m.vmalloc(4 * K); // the next process-context call runs the deferred free
    expect(m.vmallocLayer.findVmapArea(a)).toBeUndefined();
    m.checkInvariants();
  });

  it('reports vfree of an address that is no vmalloc area and changes nothing', () => {
    const m = boot();
    const a = m.vmalloc(8 * K);
    expect(() => m.vfree(a + PAGE_SIZE)).toThrow(KernelReport);
    expect(m.dmesg()).toContain(`Trying to vfree() nonexistent vm area (${m.formatAddr(a + PAGE_SIZE)})`);
    expect(m.vmallocLayer.findVmapArea(a)).toBeDefined();
    m.checkInvariants();
  });
});

describe('vmap and vm_map_ram', () => {
  const pages = (m: Machine, n: number) => Array.from({ length: n }, () => m.allocPages(GFP.KERNEL, 0));

  it('vunmap and vfree of a vmap area leave the pages to the caller; VM_MAP_PUT_PAGES hands them over', () => {
    const m = boot();
    const p = pages(m, 3);
    const a = m.vmap(p, VM_MAP);
    m.write(a + PAGE_SIZE, new Uint8Array([9, 9]));
    expect([...m.read(m.pageAddress(p[1]), 2)]).toEqual([9, 9]);
    m.vunmap(a);
    for (const pfn of p) expect(m.mm.refcount[pfn]).toBe(1);
    const q = pages(m, 3);
    const b = m.vmap(q, VM_MAP | VM_MAP_PUT_PAGES);
    expect(m.proc('vmallocinfo')).toMatch(/ pages=3 vmap N0=3\n/);
    m.vfree(b);
    for (const pfn of q) expect(m.pa.pageIsFree(pfn)).toBe(true);
    for (const pfn of p) m.freePages(pfn, 0);
    m.checkInvariants();
  });

  it('vm_map_ram carves small mappings out of one per-CPU block without guard pages, and frees the block when all of it is dirty', () => {
    const m = boot();
    const vb = m.vmapBlocks;
    expect([vb.maxAlloc, vb.bbmapBits]).toEqual([64, 1024]);
    const p = pages(m, 4);
    const a = m.vmMapRam(p);
    const b = m.vmMapRam(p.slice(0, 3)); // rounds up to a run of 4
    const c = m.vmMapRam(p.slice(0, 1));
    expect(b).toBe(a + 4 * PAGE_SIZE);
    expect(c).toBe(b + 4 * PAGE_SIZE);
    expect(a % vb.blockSize).toBe(0);
    expect(vb.nrBlocks).toBe(1);
    expect(m.proc('vmallocinfo')).toContain(' 4194304 vm_map_ram\n');
    m.vmUnmapRam(b, 3);
    // Dirty space is not reused: the next mapping bumps on.
    expect(m.vmMapRam(p.slice(0, 2))).toBe(c + PAGE_SIZE);
    m.checkInvariants();
    // Runs of 64 until one does not fit: it starts a second block; the first keeps its 53 free pages.
    const runs: number[] = [];
    let addr: number;
    while ((addr = m.vmMapRam(Array(64).fill(p[0]))) < a + vb.blockSize) runs.push(addr);
    expect(runs).toHaveLength(15);
    expect(vb.nrBlocks).toBe(2);
    for (const r of [...runs, addr]) m.vmUnmapRam(r, 64);
    m.vmUnmapRam(a, 4);
    m.vmUnmapRam(c, 1);
    m.vmUnmapRam(c + PAGE_SIZE, 2);
    // Nothing in use, but neither block is all dirty: both stay until purged.
    expect([vb.stats.blocksFreed, vb.nrBlocks]).toEqual([0, 2]);
    m.checkInvariants();
    // A block used up exactly (16 runs of 64) is freed by the unmap that makes it all dirty.
    const m2 = boot();
    const full = Array.from({ length: 16 }, () => m2.vmMapRam(Array(64).fill(p[0])));
    expect(m2.vmapBlocks.nrBlocks).toBe(1);
    for (const r of full) m2.vmUnmapRam(r, 64);
    expect([m2.vmapBlocks.stats.blocksFreed, m2.vmapBlocks.nrBlocks]).toEqual([1, 0]);
    expect(m2.vmallocLayer.lazy).toHaveLength(1); // its area waits for the purge, like any other
    m2.checkInvariants();
  });

  it('vm_unmap_aliases purges a block with nothing in use and less than a quarter free', () => {
    const m = boot();
    const vb = m.vmapBlocks;
    const p = pages(m, 1);
    const maps: number[] = [];
    for (let i = 0; i < 13; i++) maps.push(m.vmMapRam(Array(64).fill(p[0]))); // 832 of 1024 pages used
    for (const a of maps) m.vmUnmapRam(a, 64);
    m.vmUnmapAliases();
    expect(vb.stats.blocksPurged).toBe(1);
    expect(vb.nrBlocks).toBe(0);
    m.checkInvariants();
  });

  it('vm_unmap_ram with the wrong count is reported and changes nothing', () => {
    const m = boot();
    const p = pages(m, 4);
    const a = m.vmMapRam(p);
    expect(() => m.vmUnmapRam(a, 2)).toThrow(KernelReport);
    expect(m.vmallocToPage(a + 3 * PAGE_SIZE)).toBe(p[3]);
    m.checkInvariants();
  });

  it('a large vm_map_ram gets its own area without a guard page', () => {
    const m = boot();
    const p = pages(m, 100);
    const a = m.vmMapRam(p);
    const b = m.vmalloc(PAGE_SIZE);
    expect(b).toBe(a + 100 * PAGE_SIZE);
    expect(m.proc('vmallocinfo')).toContain(`${' 409600'} vm_map_ram`);
    m.vmUnmapRam(a, 100);
    m.checkInvariants();
  });
});

describe('page tables and the caller\'s gfp: the 5.17 switch', () => {
  for (const [kernel, ignored] of [['5.16', true], ['6.18', false]] as const) {
    it(`kernel ${kernel}: a GFP_NOFS vmalloc ${ignored ? 'allocates its page tables with __GFP_FS (counted, reported)' : 'allocates its page tables under memalloc_nofs'}`, () => {
      const m = boot({ kernel });
      m.trace.enable(['mm_page_alloc']);
      const a = m.vmallocGfp(64 * K, GFP.NOFS);
      expect(a).not.toBe(0);
      const tableAllocs = m.trace.lines.filter((l) => /gfp_flags=GFP_(KERNEL|NOFS)\|__GFP_ZERO/.test(l));
      expect(tableAllocs.length).toBeGreaterThan(0);
      for (const l of tableAllocs) expect(l).toContain(ignored ? 'gfp_flags=GFP_KERNEL|__GFP_ZERO' : 'gfp_flags=GFP_NOFS|__GFP_ZERO');
      expect(m.vmallocLayer.stats.pgtableIgnoredScope > 0).toBe(ignored);
      expect(m.dmesg().includes('page tables ignore the caller\'s gfp')).toBe(ignored);
      // A caller that scopes itself is safe on either version.
      const m2 = boot({ kernel });
      const f = m2.memallocNofsSave();
      m2.vmallocGfp(64 * K, GFP.NOFS);
      m2.memallocNofsRestore(f);
      expect(m2.vmallocLayer.stats.pgtableIgnoredScope).toBe(0);
    });
  }
});

const JC = probeJc();
describe.runIf(toolGate('jc', JC))('/proc/vmallocinfo', () => {
  it('is parsed by jc --proc-vmallocinfo to the model\'s areas', () => {
    need('jc', JC);
    for (const arch of ['x86_64', 'i386'] as const) {
      const m = boot({ arch });
      m.vmalloc(20 * K, 'kernel_clone+0xb8/0x400');
      const big = m.vmalloc(5 << 20, 'xfs_buf_alloc+0x1a/0x2b0'); // its pages array is vmalloc'd: vpages
      const p = [m.allocPages(GFP.KERNEL, 0), m.allocPages(GFP.KERNEL, 0)];
      m.vmap(p, VM_MAP, 'xfs_buf_map+0x10/0x20');
      m.vmMapRam(p);
      const gone = m.vmalloc(8 * K, 'n_tty_open+0x14/0xa0');
      m.vfree(gone);
      const text = m.proc('vmallocinfo');
      const rows = jc('proc-vmallocinfo', text) as Array<{ start: string; end: string; size: number; caller: string; options: string[] }>;
      const v = m.vmallocLayer;
      const expected = [
        ...v.areas().map((va) => ({ start: va.start, size: va.vm ? va.vm.size : va.end - va.start, caller: va.vm ? va.vm.caller : 'vm_map_ram' })),
        ...v.lazy.map((va) => ({ start: va.start, size: va.end - va.start, caller: 'unpurged vm_area' })),
      ];
      expect(rows.map((r) => ({ start: parseInt(r.start, 16) % 2 ** 48, size: r.size, caller: r.caller }))).toEqual(expected);
      const bigRow = rows.find((r) => parseInt(r.start, 16) % 2 ** 48 === big)!;
      expect(bigRow.options).toEqual(['vmalloc', 'vpages']);
      expect(text).toMatch(arch === 'x86_64' ? /^0xffffc9000000[0-9a-f]{4}-0xffffc9000000[0-9a-f]{4}   24576 kernel_clone\+0xb8\/0x400 pages=5 vmalloc N0=5$/m
        : /^0xf88[0-9a-f]{5}-0xf88[0-9a-f]{5}   24576 kernel_clone\+0xb8\/0x400 pages=5 vmalloc$/m);
    }
  });
});
