/**
 * /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_show): free blocks per order and migratetype, then
 * pageblocks per migratetype. CONFIG_CMA is off, as in the reference kernel, so there is no CMA column.
 */
import type { Machine } from '../machine.js';
import { MIGRATE_TYPES, MIGRATETYPE_NAMES } from '../gfp.js';
import { NR_PAGE_ORDERS } from '../mm/page.js';
import { ramPagesIn } from './counters.js';

export function renderPagetypeinfo(m: Machine): string {
  const pbo = m.cfg.arch.pageblockOrder;
  let out = `Page block order: ${pbo}\nPages per block:  ${1 << pbo}\n\n`;
  out += 'Free pages count per migrate type at order'.padEnd(43) + ' ';
  for (let o = 0; o < NR_PAGE_ORDERS; o++) out += `${String(o).padStart(6)} `;
  out += '\n';
  for (const z of m.zones) {
    if (!z.populated()) continue;
    for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
      out += `Node ${'0'.padStart(4)}, zone ${z.name.padStart(8)}, type ${MIGRATETYPE_NAMES[mt].padStart(12)} `;
      for (let o = 0; o < NR_PAGE_ORDERS; o++) out += freeCount(z.nrFreeList[o * MIGRATE_TYPES + mt]);
      out += '\n';
    }
  }
  out += '\n' + 'Number of blocks type '.padEnd(23);
  for (let mt = 0; mt < MIGRATE_TYPES; mt++) out += `${MIGRATETYPE_NAMES[mt].padStart(12)} `;
  out += '\n';
  for (const z of m.zones) {
    if (!z.populated()) continue;
    const count = new Array(MIGRATE_TYPES).fill(0);
    for (let pfn = z.startPfn; pfn < z.endPfn; pfn += 1 << pbo) {
      if (onlinePage(m, pfn)) count[m.buddy.getPageblockMigratetype(pfn)]++;
    }
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (const c of count) out += `${String(c).padStart(12)} `;
    out += '\n';
  }
  return out;
}

/** The kernel stops counting a free list at 100000 entries (it holds the zone lock) and prints ">100000". */
function freeCount(n: number): string {
  return n >= 100000 ? '>100000 ' : `${String(n).padStart(6)} `;
}

/**
 * pfn_to_online_page(): on x86_64 (SPARSEMEM_VMEMMAP) a pfn whose 2 MiB subsection holds no RAM has no
 * struct page, so pageblocks inside a hole (the PCI hole below 4 GiB) are not counted. i386 is FLATMEM:
 * every pfn of the span has one.
 */
function onlinePage(m: Machine, pfn: number): boolean {
  if (m.cfg.arch.arch !== 'x86_64') return true;
  const SUBSECTION_PAGES = 512;
  const start = pfn - (pfn % SUBSECTION_PAGES);
  return ramPagesIn(m, start, start + SUBSECTION_PAGES) > 0;
}
