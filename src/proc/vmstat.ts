/**
 * /proc/vmstat (mm/vmstat.c vmstat_show), 6.18 order: zone items, NUMA items (x86_64), node items, the
 * dirty thresholds and memmap sizes, vm events, and the literal `nr_unstable 0`.
 */
import type { Machine } from '../machine.js';
import { eventItems, NODE_ITEMS, nodeItem, numaItems, zoneItems } from './counters.js';

export function renderVmstat(m: Machine): string {
  const sum = (rows: Array<Array<[string, number]>>): Array<[string, number]> =>
    rows[0].map(([n], i) => [n, rows.reduce((s, r) => s + r[i][1], 0)]);
  const zoneIdx = m.zones.map((z) => z.idx);
  const lines: Array<[string, number]> = [...sum(zoneIdx.map((i) => zoneItems(m, i)))];
  if (m.cfg.arch.arch === 'x86_64') lines.push(...sum(zoneIdx.map((i) => numaItems(m, i))));
  for (const n of NODE_ITEMS) lines.push([n, nodeItem(m, n)]);
  // global_dirty_limits(): dirty_ratio 20% and dirty_background_ratio 10% of the dirtyable memory.
  const dirtyable = m.freePagesTotal() - m.totalreservePages;
  lines.push(['nr_dirty_threshold', Math.max(0, Math.floor((dirtyable * 20) / 100))]);
  lines.push(['nr_dirty_background_threshold', Math.max(0, Math.floor((dirtyable * 10) / 100))]);
  // The memmap the kernel would have allocated: 64 bytes per page.
  lines.push(['nr_memmap_pages', 0], ['nr_memmap_boot_pages', Math.ceil((m.mm.nrPages * 64) / 4096)]);
  lines.push(...eventItems(m));
  return lines.map(([n, v]) => `${n} ${v}\n`).join('') + 'nr_unstable 0\n';
}
