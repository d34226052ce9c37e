/**
 * /proc/vmstat (mm/vmstat.c vmstat_show), 6.18 order: zone items, NUMA items (x86_64), node items, the
 * dirty thresholds and memmap sizes, vm events, and the literal `nr_unstable 0`.
 */
import type { Machine } from '../machine.js';
import { LRU_ACTIVE_FILE, LRU_INACTIVE_FILE } from '../mm/swap.js';
import { archHasNuma, eventItems, nodeItem, nodeItems, numaItems, ramPagesIn, zoneItems } from './counters.js';

export function renderVmstat(m: Machine): string {
  const sum = (rows: Array<Array<[string, number]>>): Array<[string, number]> =>
    rows[0].map(([n], i) => [n, rows.reduce((s, r) => s + r[i][1], 0)]);
  const zoneIdx = m.zones.map((z) => z.idx);
  const lines: Array<[string, number]> = [...sum(zoneIdx.map((i) => zoneItems(m, i)))];
  if (archHasNuma(m)) lines.push(...sum(zoneIdx.map((i) => numaItems(m, i))));
  for (const n of nodeItems(m)) lines.push([n, nodeItem(m, n)]);
  const { thresh, bgThresh } = globalDirtyLimits(m);
  lines.push(['nr_dirty_threshold', thresh], ['nr_dirty_background_threshold', bgThresh]);
  lines.push(['nr_memmap_pages', 0], ['nr_memmap_boot_pages', memmapBootPages(m)]);
  lines.push(...eventItems(m));
  return lines.map(([n, v]) => `${n} ${v}\n`).join('') + 'nr_unstable 0\n';
}

/**
 * global_dirty_limits() (mm/page-writeback.c) with dirty_ratio 20 and dirty_background_ratio 10.
 * global_dirtyable_memory(): free pages less totalreserve_pages, plus the file LRUs (NR_INACTIVE_FILE +
 * NR_ACTIVE_FILE), less highmem_dirtyable_memory() (vm_highmem_is_dirtyable is 0): each populated highmem
 * zone's free pages above its high mark plus its file LRU pages, at most the total so far; plus 1.
 * domain_dirty_limits() first turns each ratio into parts per PAGE_SIZE (20% -> 819/4096), so the
 * thresholds are a little below 20% and 10%.
 */
function globalDirtyLimits(m: Machine): { thresh: number; bgThresh: number } {
  const free = m.freePagesTotal();
  let x = free - Math.min(free, m.totalreservePages);
  x += m.lru.size(LRU_INACTIVE_FILE) + m.lru.size(LRU_ACTIVE_FILE);
  let high = 0;
  for (const z of m.zones) {
    if (z.type !== 'HighMem' || !z.populated()) continue;
    high += z.freePages - Math.min(z.freePages, z.wmarkHigh());
    high += m.lru.zoneLruSize(z.idx, LRU_INACTIVE_FILE) + m.lru.zoneLruSize(z.idx, LRU_ACTIVE_FILE);
  }
  x -= Math.min(high, x);
  const avail = x + 1;
  const ratio = Math.floor((20 * 4096) / 100);
  const bgRatio = Math.floor((10 * 4096) / 100);
  const thresh = Math.floor((ratio * avail) / 4096);
  let bgThresh = Math.floor((bgRatio * avail) / 4096);
  if (bgThresh >= thresh) bgThresh = Math.floor(thresh / 2);
  return { thresh, bgThresh };
}

/**
 * The memmap the boot allocated, 64 bytes per page. x86_64 is SPARSEMEM_VMEMMAP: sparse_init_nid() maps a
 * whole 128 MiB section's struct pages (512 pages of memmap) for every section with any RAM, and none for
 * sections inside a hole (the PCI hole below 4 GiB). i386 (FLATMEM) maps the node's whole span.
 */
function memmapBootPages(m: Machine): number {
  if (m.cfg.arch.arch !== 'x86_64') return Math.ceil((m.mm.nrPages * 64) / 4096);
  const SECTION_PAGES = 1 << (27 - 12);
  let sections = 0;
  for (let s = 0; s < m.cfg.maxPfn; s += SECTION_PAGES) if (ramPagesIn(m, s, s + SECTION_PAGES) > 0) sections++;
  return (sections * SECTION_PAGES * 64) / 4096;
}
