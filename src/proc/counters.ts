/**
 * The machine's counters under their /proc/vmstat names (mm/vmstat.c vmstat_text), for the renderers.
 * Zone items are summed over zones; node items and events come from the layers that keep them. A name the
 * model has no layer for yet reads 0, which is what such a machine would show (no page cache, no swap, ...).
 */
import type { Machine } from '../machine.js';

/** pgalloc_/allocstall_ suffix of a zone (the kernel's TEXTS_FOR_ZONES: "high" for HighMem). */
export function zoneStatSuffix(type: string): string {
  return type === 'HighMem' ? 'high' : type.toLowerCase();
}

/** Per-zone items of zoneinfo and vmstat, for one zone. */
export function zoneItems(m: Machine, zi: number): Array<[string, number]> {
  const z = m.zones[zi];
  return [
    ['nr_free_pages', z.freePages],
    ['nr_free_pages_blocks', z.freePagesBlocks(m.cfg.arch.pageblockOrder)],
    ['nr_zone_inactive_anon', 0],
    ['nr_zone_active_anon', 0],
    ['nr_zone_inactive_file', 0],
    ['nr_zone_active_file', 0],
    ['nr_zone_unevictable', 0],
    ['nr_zone_write_pending', 0],
    ['nr_mlock', 0],
    ['nr_zspages', 0],
    ['nr_free_cma', 0],
  ];
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

/** Node item values the model keeps; the others are 0 until the layer that keeps them exists. */
export function nodeItem(m: Machine, name: string): number {
  switch (name) {
    case 'nr_slab_reclaimable':
      return m.slub.counters.reclaimablePages;
    case 'nr_slab_unreclaimable':
      return m.slub.counters.unreclaimablePages + m.slab.largePages;
    case 'nr_page_table_pages':
      return m.pgtable.nrTables;
    default:
      return 0;
  }
}

/** vm_event items, in the 6.18 order; zone-suffixed ones follow the machine's zones. */
export function eventItems(m: Machine): Array<[string, number]> {
  const ev = m.events;
  const zones = m.zones;
  const perZone = (prefix: string, arr?: Float64Array): Array<[string, number]> =>
    zones.map((z, i) => [`${prefix}_${zoneStatSuffix(z.type)}`, arr ? arr[i] : 0]);
  const zero = (names: string): Array<[string, number]> => names.split(' ').map((n) => [n, 0]);
  const items: Array<[string, number]> = [
    ...zero('pgpgin pgpgout pswpin pswpout'),
    ...perZone('pgalloc', ev.pgalloc),
    ...perZone('allocstall', ev.allocstall),
    ...perZone('pgskip'),
    ['pgfree', ev.pgfree],
    ...zero('pgactivate pgdeactivate pglazyfree pgfault pgmajfault pglazyfreed pgrefill pgreuse pgsteal_kswapd ' +
      'pgsteal_direct pgsteal_khugepaged pgsteal_proactive pgscan_kswapd pgscan_direct pgscan_khugepaged ' +
      'pgscan_proactive pgscan_direct_throttle pgscan_anon pgscan_file pgsteal_anon pgsteal_file zone_reclaim_success ' +
      'zone_reclaim_failed pginodesteal slabs_scanned kswapd_inodesteal kswapd_low_wmark_hit_quickly ' +
      'kswapd_high_wmark_hit_quickly pageoutrun pgrotated drop_pagecache drop_slab oom_kill numa_pte_updates ' +
      'numa_huge_pte_updates numa_hint_faults numa_hint_faults_local numa_pages_migrated pgmigrate_success ' +
      'pgmigrate_fail thp_migration_success thp_migration_fail thp_migration_split compact_migrate_scanned ' +
      'compact_free_scanned compact_isolated compact_stall compact_fail compact_success compact_daemon_wake ' +
      'compact_daemon_migrate_scanned compact_daemon_free_scanned htlb_buddy_alloc_success htlb_buddy_alloc_fail ' +
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
