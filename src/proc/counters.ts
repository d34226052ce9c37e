/**
 * The machine's counters under their /proc/vmstat names (mm/vmstat.c vmstat_text), for the renderers.
 * Zone items are summed over zones; node items and events come from the layers that keep them: the LRU
 * sizes from the lruvec (per zone: lru_zone_size), the page-state counters from NodeStats, the events from
 * VmEvents. A name the model has no layer for reads 0, which is what such a machine would show (no mlock,
 * no shmem, no THP, no NUMA balancing, ...).
 */
import type { Machine } from '../machine.js';
import { PG_DIRTY, PG_SWAPBACKED, PG_WRITEBACK } from '../mm/page.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE } from '../mm/swap.js';

/** pgalloc_/allocstall_ suffix of a zone (the kernel's TEXTS_FOR_ZONES: "high" for HighMem). */
export function zoneStatSuffix(type: string): string {
  return type === 'HighMem' ? 'high' : type.toLowerCase();
}

/** Per-zone items of zoneinfo and vmstat, for one zone. */
export function zoneItems(m: Machine, zi: number): Array<[string, number]> {
  const z = m.zones[zi];
  const lru = (l: number) => m.lru.zoneLruSize(zi, l);
  return [
    ['nr_free_pages', z.freePages],
    ['nr_free_pages_blocks', z.freePagesBlocks(m.cfg.arch.pageblockOrder)],
    ['nr_zone_inactive_anon', lru(LRU_INACTIVE_ANON)],
    ['nr_zone_active_anon', lru(LRU_ACTIVE_ANON)],
    ['nr_zone_inactive_file', lru(LRU_INACTIVE_FILE)],
    ['nr_zone_active_file', lru(LRU_ACTIVE_FILE)],
    ['nr_zone_unevictable', lru(LRU_UNEVICTABLE)],
    ['nr_zone_write_pending', zoneWritePending(m, zi)],
    ['nr_mlock', 0],
    ['nr_zspages', 0],
    ['nr_free_cma', 0],
  ];
}

/**
 * NR_ZONE_WRITE_PENDING of one zone. The kernel moves it with NR_FILE_DIRTY (folio_account_dirtied,
 * folio_clear_dirty_for_io) and with NR_WRITEBACK (__folio_start_writeback, __folio_end_writeback), so it is
 * the zone's dirty page cache pages plus its pages under writeback (file or swap), a page both dirty and
 * under writeback counting twice. The model keeps those counters per node only, so the zone's share is
 * counted off mem_map at render time: a page-cache page (owned, not swap-backed) with PG_dirty, and any
 * page with PG_writeback, on the LRU or isolated. With nothing dirty or in flight there is nothing to walk.
 */
export function zoneWritePending(m: Machine, zi: number): number {
  if (m.node.nrDirty === 0 && m.node.nrWriteback === 0) return 0;
  const z = m.zones[zi];
  const flags = m.mm.flags;
  const mapping = m.mm.mapping;
  const end = Math.min(z.endPfn, m.mm.nrPages);
  let n = 0;
  for (let pfn = z.startPfn; pfn < end; pfn++) {
    const f = flags[pfn];
    if (f & PG_WRITEBACK) n++;
    if ((f & (PG_DIRTY | PG_SWAPBACKED)) === PG_DIRTY && mapping[pfn] !== 0) n++;
  }
  return n;
}

/** NUMA event items of one zone (one node: every hit is local). */
export function numaItems(m: Machine, zi: number): Array<[string, number]> {
  const hit = m.zones[zi].numaHit;
  return [['numa_hit', hit], ['numa_miss', 0], ['numa_foreign', 0], ['numa_interleave', 0], ['numa_local', hit], ['numa_other', 0]];
}

/** Node items (per-node stats), in the 6.18 order. */
export const NODE_ITEMS = [
  'nr_inactive_anon', 'nr_active_anon', 'nr_inactive_file', 'nr_active_file', 'nr_unevictable',
  'nr_slab_reclaimable', 'nr_slab_unreclaimable', 'nr_isolated_anon', 'nr_isolated_file', 'workingset_nodes',
  'workingset_refault_anon', 'workingset_refault_file', 'workingset_activate_anon', 'workingset_activate_file',
  'workingset_restore_anon', 'workingset_restore_file', 'workingset_nodereclaim', 'nr_anon_pages', 'nr_mapped',
  'nr_file_pages', 'nr_dirty', 'nr_writeback', 'nr_shmem', 'nr_shmem_hugepages', 'nr_shmem_pmdmapped',
  'nr_file_hugepages', 'nr_file_pmdmapped', 'nr_anon_transparent_hugepages', 'nr_vmscan_write',
  'nr_vmscan_immediate_reclaim', 'nr_dirtied', 'nr_written', 'nr_throttled_written', 'nr_kernel_misc_reclaimable',
  'nr_foll_pin_acquired', 'nr_foll_pin_released', 'nr_kernel_stack', 'nr_page_table_pages', 'nr_sec_page_table_pages',
  'nr_iommu_pages', 'nr_swapcached', 'pgpromote_success', 'pgpromote_candidate', 'pgpromote_candidate_nrl',
  'pgdemote_kswapd', 'pgdemote_direct', 'pgdemote_khugepaged', 'pgdemote_proactive', 'nr_hugetlb',
  'nr_balloon_pages', 'nr_kernel_file_pages',
] as const;

/**
 * The kernel config behind each arch's files. x86_64 follows the reference machine (CONFIG_NUMA,
 * NUMA_BALANCING, TRANSPARENT_HUGEPAGE, ZSWAP); i386 has none of them, as its zoneinfo (no numa_* lines) and
 * meminfo (no THP or Zswap lines) already say, so vmstat must not print the counters those options add.
 */
export function archHasNuma(m: Machine): boolean {
  return m.cfg.arch.arch === 'x86_64';
}

/** Node items printed on this machine: pgpromote_* exist only with CONFIG_NUMA_BALANCING. */
export function nodeItems(m: Machine): readonly string[] {
  return archHasNuma(m) ? NODE_ITEMS : NODE_ITEMS.filter((n) => !n.startsWith('pgpromote_'));
}

/** vm_event names that need CONFIG_NUMA, NUMA_BALANCING, TRANSPARENT_HUGEPAGE or ZSWAP. */
function eventNeedsNumaThpZswap(name: string): boolean {
  if (name === 'zone_reclaim_success' || name === 'zone_reclaim_failed') return true; // CONFIG_NUMA
  if (name.startsWith('numa_')) return true; // CONFIG_NUMA_BALANCING
  if (name.startsWith('thp_') && !name.startsWith('thp_migration_')) return true; // THP (thp_migration_*: MIGRATION)
  return name.startsWith('zswp'); // CONFIG_ZSWAP
}

/** Pages of RAM (in use, reserved or free, but not in a hole) among pfns [start, end). */
export function ramPagesIn(m: Machine, start: number, end: number): number {
  end = Math.min(end, m.cfg.maxPfn);
  if (end <= start) return 0;
  let n = end - start;
  for (const [s, e] of m.cfg.holes) n -= Math.max(0, Math.min(e, end) - Math.max(s, start));
  return n;
}

/** Node item values the model keeps; the others are 0 (no layer keeps them: mlock, shmem, THP, ...). */
export function nodeItem(m: Machine, name: string): number {
  const node = m.node;
  switch (name) {
    case 'nr_inactive_anon':
      return m.lru.size(LRU_INACTIVE_ANON);
    case 'nr_active_anon':
      return m.lru.size(LRU_ACTIVE_ANON);
    case 'nr_inactive_file':
      return m.lru.size(LRU_INACTIVE_FILE);
    case 'nr_active_file':
      return m.lru.size(LRU_ACTIVE_FILE);
    case 'nr_unevictable':
      return m.lru.size(LRU_UNEVICTABLE);
    case 'nr_isolated_anon':
      return node.nrIsolatedAnon;
    case 'nr_isolated_file':
      return node.nrIsolatedFile;
    case 'nr_anon_pages':
      return node.nrAnonPages;
    case 'nr_file_pages':
      return node.nrFilePages;
    case 'nr_dirty':
      return node.nrDirty;
    case 'nr_writeback':
      return node.nrWriteback;
    case 'nr_vmscan_write':
      return node.nrVmscanWrite;
    case 'nr_vmscan_immediate_reclaim':
      return node.nrVmscanImmediateReclaim;
    case 'nr_dirtied':
      return node.nrDirtied;
    case 'nr_written':
      return node.nrWritten;
    case 'nr_swapcached':
      return node.nrSwapcached;
    case 'nr_slab_reclaimable':
      return m.slub.counters.reclaimablePages;
    case 'nr_slab_unreclaimable':
      return m.slub.counters.unreclaimablePages + m.slab.largePages;
    case 'nr_page_table_pages':
      return m.nrPageTablePages;
    default:
      return 0;
  }
}

/** vm_event items, in the 6.18 order; zone-suffixed ones follow the machine's zones. */
export function eventItems(m: Machine): Array<[string, number]> {
  const ev = m.events;
  const zones = m.zones;
  const perZone = (prefix: string, arr: Float64Array): Array<[string, number]> =>
    zones.map((z, i) => [`${prefix}_${zoneStatSuffix(z.type)}`, arr[i]]);
  const zero = (names: string): Array<[string, number]> => names.split(' ').map((n) => [n, 0]);
  const items: Array<[string, number]> = [
    ['pgpgin', ev.pgpgin], // kept in KiB: vmstat_start() halves the kernel's sector count
    ['pgpgout', ev.pgpgout],
    ['pswpin', ev.pswpin],
    ['pswpout', ev.pswpout],
    ...perZone('pgalloc', ev.pgalloc),
    ...perZone('allocstall', ev.allocstall),
    ...perZone('pgskip', ev.pgskip),
    ['pgfree', ev.pgfree],
    ['pgactivate', ev.pgactivate],
    ['pgdeactivate', ev.pgdeactivate],
    ['pglazyfree', 0],
    ['pgfault', ev.pgfault],
    ['pgmajfault', ev.pgmajfault],
    ['pglazyfreed', 0],
    ['pgrefill', ev.pgrefill],
    ['pgreuse', 0],
    ['pgsteal_kswapd', ev.pgstealKswapd],
    ['pgsteal_direct', ev.pgstealDirect],
    ['pgsteal_khugepaged', 0],
    ['pgsteal_proactive', 0],
    ['pgscan_kswapd', ev.pgscanKswapd],
    ['pgscan_direct', ev.pgscanDirect],
    ['pgscan_khugepaged', 0],
    ['pgscan_proactive', 0],
    ['pgscan_direct_throttle', ev.pgscanDirectThrottle],
    ['pgscan_anon', ev.pgscanAnon],
    ['pgscan_file', ev.pgscanFile],
    ['pgsteal_anon', ev.pgstealAnon],
    ['pgsteal_file', ev.pgstealFile],
    ...zero('zone_reclaim_success zone_reclaim_failed pginodesteal'),
    ['slabs_scanned', ev.slabsScanned],
    ['kswapd_inodesteal', 0],
    ['kswapd_low_wmark_hit_quickly', ev.kswapdLowWmarkHitQuickly],
    ['kswapd_high_wmark_hit_quickly', ev.kswapdHighWmarkHitQuickly],
    ['pageoutrun', ev.pageoutrun],
    ['pgrotated', ev.pgrotated],
    ...zero('drop_pagecache drop_slab'),
    ['oom_kill', ev.oomKill],
    ...zero('numa_pte_updates numa_huge_pte_updates numa_hint_faults numa_hint_faults_local numa_pages_migrated'),
    ['pgmigrate_success', ev.pgmigrateSuccess],
    ['pgmigrate_fail', ev.pgmigrateFail],
    ...zero('thp_migration_success thp_migration_fail thp_migration_split'),
    ['compact_migrate_scanned', ev.compactMigrateScanned],
    ['compact_free_scanned', ev.compactFreeScanned],
    ['compact_isolated', ev.compactIsolated],
    ['compact_stall', ev.compactStall],
    ['compact_fail', ev.compactFail],
    ['compact_success', ev.compactSuccess],
    ['compact_daemon_wake', ev.compactDaemonWake],
    ['compact_daemon_migrate_scanned', ev.compactDaemonMigrateScanned],
    ['compact_daemon_free_scanned', ev.compactDaemonFreeScanned],
    ...zero('htlb_buddy_alloc_success htlb_buddy_alloc_fail ' +
      'unevictable_pgs_culled unevictable_pgs_scanned unevictable_pgs_rescued unevictable_pgs_mlocked ' +
      'unevictable_pgs_munlocked unevictable_pgs_cleared unevictable_pgs_stranded thp_fault_alloc thp_fault_fallback ' +
      'thp_fault_fallback_charge thp_collapse_alloc thp_collapse_alloc_failed thp_file_alloc thp_file_fallback ' +
      'thp_file_fallback_charge thp_file_mapped thp_split_page thp_split_page_failed thp_deferred_split_page ' +
      'thp_underused_split_page thp_split_pmd thp_scan_exceed_none_pte thp_scan_exceed_swap_pte ' +
      'thp_scan_exceed_share_pte thp_split_pud thp_zero_page_alloc thp_zero_page_alloc_failed thp_swpout ' +
      'thp_swpout_fallback balloon_inflate balloon_deflate balloon_migrate swap_ra swap_ra_hit swpin_zero swpout_zero ' +
      'ksm_swpin_copy cow_ksm zswpin zswpout zswpwb direct_map_level2_splits direct_map_level3_splits ' +
      'direct_map_level2_collapses direct_map_level3_collapses'),
  ];
  return archHasNuma(m) ? items : items.filter(([n]) => !eventNeedsNumaThpZswap(n));
}
