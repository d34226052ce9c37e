/**
 * /proc/meminfo (fs/proc/meminfo.c meminfo_proc_show, 6.18 field order; arch/x86 direct-map lines).
 *
 * Values the model keeps:
 * - MemTotal, MemFree, and MemAvailable from si_mem_available() (mm/show_mem.c): free pages less
 *   totalreserve_pages, plus the page cache (the file LRUs) less min(pagecache / 2, the zones' low marks), plus
 *   the reclaimable slab less min(reclaimable / 2, the low marks); never below 0.
 * - Cached: NR_FILE_PAGES less total_swapcache_pages() and Buffers (0: no buffer heads), never below 0;
 *   SwapCached: NR_SWAPCACHE.
 * - Active, Inactive and the four LRU lines from the lruvec; Unevictable (always 0, nothing is mlocked).
 * - the highmem split on i386; SwapTotal and SwapFree from the swap device (si_swapinfo: free slots only).
 * - Dirty (NR_FILE_DIRTY), Writeback (NR_WRITEBACK, file and swap), AnonPages (NR_ANON_MAPPED).
 * - the slab fields, PageTables (the kernel's vmalloc page tables), CommitLimit (vm_commit_limit():
 *   overcommit_ratio 50% of RAM plus the swap pages), VmallocTotal, VmallocUsed, Hugepagesize and the DirectMap
 *   sizes.
 * The rest are 0: Mapped (files are never mmapped in the model), Mlocked, Shmem, KernelStack, Committed_AS
 * (the model keeps no vm_committed_as), THP and hugetlb.
 */
import type { Machine } from '../machine.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE } from '../mm/swap.js';

const MIB = 1 << 20;
const GIB = 1 << 30;

/** show_val_kb(): label padded to 16, value right-aligned in 8, " kB". */
function kb(label: string, kbytes: number): string {
  return `${(label + ':').padEnd(16)}${String(kbytes).padStart(8)} kB\n`;
}

/**
 * si_mem_available() (mm/show_mem.c), in pages: what userspace could allocate without swapping. The page
 * cache and the reclaimable kernel memory (slab; NR_KERNEL_MISC_RECLAIMABLE is 0 here) each keep the smaller
 * of half their size and the sum of the zones' low watermarks.
 */
export function siMemAvailable(m: Machine): number {
  let wmarkLow = 0;
  for (const z of m.zones) wmarkLow += z.wmarkLow();
  let available = m.freePagesTotal() - m.totalreservePages;
  let pagecache = m.lru.size(LRU_ACTIVE_FILE) + m.lru.size(LRU_INACTIVE_FILE);
  pagecache -= Math.min(Math.floor(pagecache / 2), wmarkLow);
  available += pagecache;
  let reclaimable = m.slub.counters.reclaimablePages;
  reclaimable -= Math.min(Math.floor(reclaimable / 2), wmarkLow);
  available += reclaimable;
  return Math.max(0, available);
}

export function renderMeminfo(m: Machine): string {
  const K = (pages: number) => pages * 4;
  const total = m.totalramPages;
  const free = m.freePagesTotal();
  const sReclaimable = m.slub.counters.reclaimablePages;
  const sUnreclaim = m.slub.counters.unreclaimablePages + m.slab.largePages;
  const node = m.node;
  const lru = (l: number) => m.lru.size(l);
  const swapTotal = m.swap?.total ?? 0;
  const swapFree = m.swap?.free ?? 0;
  // Buffers: nr_blockdev_pages(), 0 (no buffer heads).
  const cached = Math.max(0, node.nrFilePages - node.nrSwapcached);
  const i386 = m.cfg.arch.arch === 'i386';
  let out = '';
  out += kb('MemTotal', K(total));
  out += kb('MemFree', K(free));
  out += kb('MemAvailable', K(siMemAvailable(m)));
  out += kb('Buffers', 0);
  out += kb('Cached', K(cached));
  out += kb('SwapCached', K(node.nrSwapcached));
  out += kb('Active', K(lru(LRU_ACTIVE_ANON) + lru(LRU_ACTIVE_FILE)));
  out += kb('Inactive', K(lru(LRU_INACTIVE_ANON) + lru(LRU_INACTIVE_FILE)));
  out += kb('Active(anon)', K(lru(LRU_ACTIVE_ANON)));
  out += kb('Inactive(anon)', K(lru(LRU_INACTIVE_ANON)));
  out += kb('Active(file)', K(lru(LRU_ACTIVE_FILE)));
  out += kb('Inactive(file)', K(lru(LRU_INACTIVE_FILE)));
  out += kb('Unevictable', K(lru(LRU_UNEVICTABLE)));
  out += kb('Mlocked', 0);
  if (i386) {
    const high = m.zones.filter((z) => z.type === 'HighMem');
    const highTotal = high.reduce((s, z) => s + z.managed, 0);
    const highFree = high.reduce((s, z) => s + z.freePages, 0);
    out += kb('HighTotal', K(highTotal)) + kb('HighFree', K(highFree));
    out += kb('LowTotal', K(total - highTotal)) + kb('LowFree', K(free - highFree));
  }
  out += kb('SwapTotal', K(swapTotal)) + kb('SwapFree', K(swapFree));
  if (!i386) out += kb('Zswap', 0) + kb('Zswapped', 0);
  out += kb('Dirty', K(node.nrDirty));
  out += kb('Writeback', K(node.nrWriteback));
  out += kb('AnonPages', K(node.nrAnonPages));
  out += kb('Mapped', 0) + kb('Shmem', 0);
  out += kb('KReclaimable', K(sReclaimable));
  out += kb('Slab', K(sReclaimable + sUnreclaim));
  out += kb('SReclaimable', K(sReclaimable));
  out += kb('SUnreclaim', K(sUnreclaim));
  out += kb('KernelStack', 0) + kb('PageTables', K(m.nrPageTablePages));
  for (const l of ['SecPageTables', 'NFS_Unstable', 'Bounce', 'WritebackTmp']) out += kb(l, 0);
  // vm_commit_limit(): overcommit_ratio (50%) of RAM (no hugetlb pages to leave out) plus total_swap_pages.
  out += kb('CommitLimit', K(Math.floor((total * 50) / 100) + swapTotal));
  out += kb('Committed_AS', 0);
  // VMALLOC_TOTAL: 32 TiB on x86_64 (4-level); on i386 the vmalloc= area less the 8 MiB VMALLOC_OFFSET gap.
  out += kb('VmallocTotal', i386 ? Math.max(0, (m.cfg.vmallocSize - 8 * MIB) / 1024) : 34359738367);
  // VmallocUsed: vmalloc_nr_pages(), the pages vmalloc allocated; VmallocChunk has printed 0 since 4.1.
  out += kb('VmallocUsed', K(m.vmallocLayer.nrVmallocPages)) + kb('VmallocChunk', 0) + kb('Percpu', 0);
  if (!i386) {
    for (const l of ['AnonHugePages', 'ShmemHugePages', 'ShmemPmdMapped', 'FileHugePages', 'FilePmdMapped']) out += kb(l, 0);
  }
  out += kb('Balloon', 0);
  out += 'HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\nHugePages_Surp:        0\n';
  out += kb('Hugepagesize', i386 ? 4096 : 2048);
  out += kb('Hugetlb', 0);
  const dm = directMapSizes(m);
  out += kb('DirectMap4k', dm.k4);
  if (i386) out += kb('DirectMap4M', dm.m2);
  else out += kb('DirectMap2M', dm.m2) + kb('DirectMap1G', dm.g1);
  return out;
}

/**
 * How the direct map is mapped (arch/x86/mm/init.c): 4 KiB pages for the first 2 MiB and around holes,
 * 2 MiB pages (4 MiB on non-PAE i386) elsewhere, 1 GiB pages for whole aligned gigabytes on x86_64.
 */
function directMapSizes(m: Machine): { k4: number; m2: number; g1: number } {
  const i386 = m.cfg.arch.arch === 'i386';
  const large = i386 ? 4 * MIB : 2 * MIB;
  const ranges: Array<[number, number]> = [];
  let start = -1;
  const lowEnd = m.cfg.maxLowPfn;
  for (let p = 0; p <= lowEnd; p++) {
    const ram = p < lowEnd && !m.cfg.holes.some(([s, e]) => p >= s && p < e);
    if (ram && start < 0) start = p;
    if (!ram && start >= 0) {
      ranges.push([start * 4096, p * 4096]);
      start = -1;
    }
    // Skip across long stretches quickly.
    if (ram && start >= 0) {
      const nextHole = m.cfg.holes.filter(([s]) => s > p).reduce((a, [s]) => Math.min(a, s), lowEnd);
      if (nextHole - 1 > p) p = nextHole - 1;
    }
  }
  let k4 = 0;
  let m2 = 0;
  let g1 = 0;
  for (const [s, e] of ranges) {
    let a = s;
    while (a < e) {
      if (!i386 && a % GIB === 0 && a + GIB <= e && a >= GIB) {
        g1 += GIB;
        a += GIB;
      } else if (a % large === 0 && a + large <= e && a >= 2 * MIB) {
        m2 += large;
        a += large;
      } else {
        const next = Math.min(e, Math.floor(a / large) * large + large);
        k4 += next - a;
        a = next;
      }
    }
  }
  return { k4: k4 / 1024, m2: m2 / 1024, g1: g1 / 1024 };
}
