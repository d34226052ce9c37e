/** /proc/buddyinfo (mm/vmstat.c frag_show_print): free blocks per order, populated zones only. */
import type { Machine } from '../machine.js';

export function renderBuddyinfo(m: Machine): string {
  let out = '';
  for (const z of m.zones) {
    if (!z.populated()) continue;
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (const n of z.nrFree) out += `${String(n).padStart(6)} `;
    out += '\n';
  }
  return out;
}
