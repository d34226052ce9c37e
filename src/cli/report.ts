/** Plain-text rendering of a scenario result: the summary, then each table with aligned columns. */
import type { Machine } from '../machine.js';
import type { ScenarioResult, Table } from '../workloads/scenario.js';

export function formatTable(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map(String))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [t.title, line(t.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function formatResult(m: Machine, r: ScenarioResult): string {
  const zones = m.zones.filter((z) => z.present).map((z) => `${z.name} ${(z.managed * 4) >> 10}M`).join(', ');
  const head = `mmlab ${r.scenario}: ${m.cfg.arch.arch}, ${m.cfg.nrCpus} CPUs, zones ${zones}, min_free_kbytes ${m.minFreeKbytes}, seed ${m.cfg.seed}`;
  return [head, '', ...r.summary, '', ...r.tables.map(formatTable).join('\n\n').split('\n')].join('\n') + '\n';
}
