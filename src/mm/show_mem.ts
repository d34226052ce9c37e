/**
 * What the kernel prints about memory when something goes wrong (mm/show_mem.c __show_mem and
 * show_free_areas, mm/debug.c dump_page), as of 6.18.
 *
 * The zone lines (free, boost, min, low, high, reserves, present, managed, pcp), the per-order census with its
 * migratetype letters, and (when the caller passes the reclaim state) the LRU, dirty, writeback, slab, page
 * table, page cache and swap figures are the model's own numbers; what the model does not keep (mapped,
 * shmem, kernel stacks) prints 0.
 */
import { MIGRATE_TYPES } from '../gfp.js';
import {
  MemMap, NR_PAGE_ORDERS, PG_ACTIVE, PG_DIRTY, PG_HEAD, PG_LOCKED, PG_LRU, PG_PFMEMALLOC, PG_RESERVED,
  PG_REFERENCED, PG_UPTODATE, PG_PRIVATE, PG_RECLAIM, PG_SWAPBACKED, PG_UNEVICTABLE, PG_MLOCKED,
  PGTY_BUDDY, PGTY_MASK, PGTY_PCP, PGTY_SLAB, PGTY_TABLE, PGTY_HOLE,
} from './page.js';
import type { Zone } from './zone.js';
import { compoundOrder } from './compound.js';
import { LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, type Lruvec } from './swap.js';
import type { NodeStats } from './vmstat.js';

/** What __show_mem() reads beyond the zones. */
export interface ShowMemState {
  lru: Lruvec;
  node: NodeStats;
  slabReclaimable: number;
  slabUnreclaimable: number;
  pagetables: number;
  swapTotal: number;
  swapFree: number;
}

/** show_migration_types() letters in migratetype order: U M E H (no CMA) I. */
const MIGRATE_LETTERS = ['U', 'M', 'E', 'H', 'I'];

const K = (pages: number) => pages * 4;

/**
 * show_free_areas() for a failure report: the global line, then per zone up to `maxZone` its line, its
 * lowmem_reserve and its per-order census, then the closing totals of __show_mem().
 */
export function showFreeAreas(zones: Zone[], maxZone = zones.length - 1, st?: ShowMemState): string[] {
  const out: string[] = ['Mem-Info:'];
  const lru = (l: number) => (st ? st.lru.size(l) : 0);
  const zl = (z: number, l: number) => (st ? st.lru.zoneLruSize(z, l) : 0);
  const n = st?.node;
  const [aa, ia, af, inf] = [lru(LRU_ACTIVE_ANON), lru(LRU_INACTIVE_ANON), lru(LRU_ACTIVE_FILE), lru(LRU_INACTIVE_FILE)];
  const [isoA, isoF, dirty, wb] = [n?.nrIsolatedAnon ?? 0, n?.nrIsolatedFile ?? 0, n?.nrDirty ?? 0, n?.nrWriteback ?? 0];
  const [sr, su, pt] = [st?.slabReclaimable ?? 0, st?.slabUnreclaimable ?? 0, st?.pagetables ?? 0];
  let free = 0;
  let freePcp = 0;
  for (const z of zones) {
    free += z.freePages;
    if (z.idx <= maxZone) for (const p of z.pcp) freePcp += p.count;
  }
  out.push(
    `active_anon:${aa} inactive_anon:${ia} isolated_anon:${isoA}`,
    ` active_file:${af} inactive_file:${inf} isolated_file:${isoF}`,
    ` unevictable:0 dirty:${dirty} writeback:${wb}`,
    ` slab_reclaimable:${sr} slab_unreclaimable:${su}`,
    ` mapped:0 shmem:0 pagetables:${pt}`,
    ' sec_pagetables:0 bounce:0',
    ' kernel_misc_reclaimable:0',
    ` free:${free} free_pcp:${freePcp} free_cma:0`,
    `Node 0 active_anon:${K(aa)}kB inactive_anon:${K(ia)}kB active_file:${K(af)}kB inactive_file:${K(inf)}kB unevictable:0kB isolated(anon):${K(isoA)}kB isolated(file):${K(isoF)}kB mapped:0kB dirty:${K(dirty)}kB writeback:${K(wb)}kB shmem:0kB shmem_thp:0kB shmem_pmdmapped:0kB anon_thp:0kB kernel_stack:0kB pagetables:${K(pt)}kB sec_pagetables:0kB all_unreclaimable? no Balloon:0kB`,
  );
  for (const z of zones) {
    if (!z.populated() || z.idx > maxZone) continue;
    let zonePcp = 0;
    for (const p of z.pcp) zonePcp += p.count;
    out.push(
      `Node 0 ${z.name} free:${K(z.freePages)}kB boost:${K(z.watermarkBoost)}kB min:${K(z.wmarkMin())}kB low:${K(z.wmarkLow())}kB high:${K(z.wmarkHigh())}kB` +
        ` reserved_highatomic:${K(z.nrReservedHighatomic)}KB free_highatomic:${K(z.nrFreeHighatomic)}KB active_anon:${K(zl(z.idx, LRU_ACTIVE_ANON))}kB inactive_anon:${K(zl(z.idx, LRU_INACTIVE_ANON))}kB active_file:${K(zl(z.idx, LRU_ACTIVE_FILE))}kB inactive_file:${K(zl(z.idx, LRU_INACTIVE_FILE))}kB unevictable:0kB writepending:0kB zspages:0kB` +
        ` present:${K(z.present)}kB managed:${K(z.managed)}kB mlocked:0kB bounce:0kB free_pcp:${K(zonePcp)}kB local_pcp:${K(z.pcp[0].count)}kB free_cma:0kB`,
      `lowmem_reserve[]: ${z.lowmemReserve.join(' ')}`,
    );
  }
  for (const z of zones) {
    if (!z.populated() || z.idx > maxZone) continue;
    let line = `Node 0 ${z.name}: `;
    let total = 0;
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      const nr = z.nrFree[o];
      total += nr << o;
      line += `${nr}*${4 << o}kB `;
      if (nr) {
        let letters = '';
        for (let mt = 0; mt < MIGRATE_TYPES; mt++) if (z.nrFreeList[o * MIGRATE_TYPES + mt]) letters += MIGRATE_LETTERS[mt];
        line += `(${letters}) `;
      }
    }
    out.push(line + `= ${K(total)}kB`);
  }
  let present = 0;
  let reserved = 0;
  let highmem = 0;
  for (const z of zones) {
    present += z.present;
    reserved += z.present - z.managed;
    if (z.type === 'HighMem') highmem += z.present;
  }
  out.push(`${n?.nrFilePages ?? 0} total pagecache pages`, `${n?.nrSwapcached ?? 0} pages in swap cache`,
    `Free swap  = ${K(st?.swapFree ?? 0)}kB`, `Total swap = ${K(st?.swapTotal ?? 0)}kB`,
    `${present} pages RAM`, `${highmem} pages HighMem/MovableOnly`, `${reserved} pages reserved`);
  return out;
}

const FLAG_NAMES: Array<[number, string]> = [
  [PG_LOCKED, 'locked'], [PG_REFERENCED, 'referenced'], [PG_UPTODATE, 'uptodate'], [PG_DIRTY, 'dirty'],
  [PG_LRU, 'lru'], [PG_HEAD, 'head'], [PG_ACTIVE, 'active'], [PG_RESERVED, 'reserved'], [PG_PRIVATE, 'private'],
  [PG_RECLAIM, 'reclaim'], [PG_SWAPBACKED, 'swapbacked'], [PG_UNEVICTABLE, 'unevictable'], [PG_MLOCKED, 'mlocked'],
  [PG_PFMEMALLOC, 'pfmemalloc'],
];

const TYPE_NAMES: Record<number, string> = {
  [PGTY_BUDDY]: 'buddy', [PGTY_PCP]: 'pcp', [PGTY_SLAB]: 'slab', [PGTY_TABLE]: 'table', [PGTY_HOLE]: 'hole',
};

/** dump_page(): the page's state lines and the reason, as mm/debug.c prints them. */
export function dumpPage(mm: MemMap, pfn: number, reason: string): string[] {
  const f = mm.flags[pfn];
  const names = FLAG_NAMES.filter(([bit]) => f & bit).map(([, n]) => n);
  names.push('node=0', `zone=${mm.zoneIdx(pfn)}`);
  const out = [
    `page: refcount:${mm.refcount[pfn]} mapcount:0 mapping:${'0'.repeat(16)} index:0x${mm.index[pfn].toString(16)} pfn:0x${pfn.toString(16)}`,
  ];
  if (mm.isTail(pfn)) out.push(`head: pfn:0x${mm.head(pfn).toString(16)} (this page is a tail page)`);
  if (f & PG_HEAD) out.push(`head: order:${compoundOrder(mm, pfn)} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0`);
  out.push(`flags: 0x${f.toString(16)}(${names.join('|')})`);
  const type = f & PGTY_MASK;
  if (type) out.push(`page_type: ${(type >>> 16).toString(16)}(${TYPE_NAMES[type] ?? 'unknown'})`);
  out.push(`page dumped because: ${reason}`);
  return out;
}
