/**
 * /proc/zoneinfo (mm/vmstat.c zoneinfo_show_print), 6.18 layout: every zone, populated or not; the node's
 * stats under its first populated zone; watermarks, spans and protection; per-zone counters and pagesets.
 */
import type { Machine } from '../machine.js';
import { archHasNuma, nodeItem, nodeItems, numaItems, zoneItems } from './counters.js';

const item = (name: string, v: number) => `\n      ${name.padEnd(12)} ${v}`;

export function renderZoneinfo(m: Machine): string {
  let out = '';
  const firstPopulated = m.zones.findIndex((z) => z.populated());
  for (const z of m.zones) {
    out += `Node 0, zone ${z.name.padStart(8)}`;
    if (z.idx === firstPopulated) {
      out += '\n  per-node stats';
      for (const n of nodeItems(m)) out += item(n, nodeItem(m, n));
    }
    out += `\n  pages free     ${z.freePages}`;
    out += `\n        boost    ${z.watermarkBoost}`;
    out += `\n        min      ${z.wmarkMin()}`;
    out += `\n        low      ${z.wmarkLow()}`;
    out += `\n        high     ${z.wmarkHigh()}`;
    out += `\n        promo    ${z.wmark(3)}`;
    out += `\n        spanned  ${z.spanned}`;
    out += `\n        present  ${z.present}`;
    out += `\n        managed  ${z.managed}`;
    out += `\n        cma      0`;
    out += `\n        protection: (${z.lowmemReserve.join(', ')})`;
    if (!z.populated()) {
      out += '\n';
      continue;
    }
    for (const [n, v] of zoneItems(m, z.idx)) out += item(n, v);
    if (archHasNuma(m)) for (const [n, v] of numaItems(m, z.idx)) out += item(n, v);
    out += '\n  pagesets';
    z.pcp.forEach((p, cpu) => {
      out += `\n    cpu: ${cpu}`;
      out += `\n              count:    ${p.count}`;
      out += `\n              high:     ${p.high}`;
      out += `\n              batch:    ${p.batch}`;
      out += `\n              high_min: ${p.highMin}`;
      out += `\n              high_max: ${p.highMax}`;
      out += `\n  vm stats threshold: ${p.statThreshold}`;
    });
    out += `\n  node_unreclaimable:  0`;
    out += `\n  start_pfn:           ${z.startPfn}`;
    out += '\n';
  }
  return out;
}
