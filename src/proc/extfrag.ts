/**
 * debugfs extfrag/unusable_index and extfrag/extfrag_index (mm/vmstat.c unusable_show_print,
 * extfrag_show_print): per populated zone and order, the index in thousandths printed as %d.%03d.
 */
import type { Machine } from '../machine.js';
import { NR_PAGE_ORDERS } from '../mm/page.js';
import { formatIndex, fragmentationIndex, unusableFreeIndex } from '../mm/vmstat.js';

function render(m: Machine, fn: (nrFree: Int32Array, order: number) => number, width: number): string {
  let out = '';
  for (const z of m.zones) {
    if (!z.populated()) continue;
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (let o = 0; o < NR_PAGE_ORDERS; o++) {
      const s = formatIndex(fn(z.nrFree, o));
      const [ip, fp] = s.split('.');
      out += `${ip.padStart(width)}.${fp} `;
    }
    out += '\n';
  }
  return out;
}

export function renderUnusableIndex(m: Machine): string {
  return render(m, unusableFreeIndex, 1);
}

export function renderExtfragIndex(m: Machine): string {
  return render(m, fragmentationIndex, 2);
}
