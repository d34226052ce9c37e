/**
 * The HTML report of a run or a replay: one self-contained document (inline CSS and SVG, no scripts, no
 * external URLs) with the summary, free blocks per order over time (a heatmap per timeline), fragmentation
 * indices over time (unusable-free and extfrag index of a few orders), failures and fallbacks over time (the
 * running totals, one line per timeline) and the result's tables.
 */
import type { Machine } from '../machine.js';
import type { Table } from '../workloads/scenario.js';
import { esc, heatmap, lineChart, type Series } from './svg.js';
import { Timeline, type TimelineSample } from './timeline.js';

export interface HtmlReport {
  title: string;
  subtitle?: string;
  /** One timeline per design or phase, in the order to show them. */
  timelines: Array<{ label: string; timeline: Pick<Timeline, 'samples'> }>;
  tables: Table[];
  summary: string[];
}

/** The orders whose fragmentation indices are plotted. */
export const INDEX_ORDERS = [0, 3, 6, 9];

/**
 * A sampler for RunOptions.sample: one Timeline per label, created on first use, in first-use order.
 */
export function timelineCollector(maxSamples?: number): { sample: (m: Machine, label: string) => void; timelines: () => Array<{ label: string; timeline: Timeline }> } {
  const byLabel = new Map<string, Timeline>();
  return {
    sample(m, label) {
      let t = byLabel.get(label);
      if (!t) byLabel.set(label, (t = new Timeline(maxSamples)));
      t.sample(m, label);
    },
    timelines: () => [...byLabel].map(([label, timeline]) => ({ label, timeline })),
  };
}

const secs = (s: TimelineSample) => s.ns / 1e9;
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.subtitle{color:#555;margin:0 0 12px}
figure{margin:12px 0 20px}figcaption{color:#444;font-size:13px;margin-top:4px}
svg.plot{max-width:100%;height:auto;background:#fff;font-family:inherit}
table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fafafa}.table-wrap{overflow-x:auto;max-width:100%}.empty{color:#777;font-style:italic}
`;

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>\n`;
}

function tableHtml(t: Table): string {
  const head = `<thead><tr>${t.columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead>`;
  const body = t.rows.map((r) => `<tr>${r.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table-wrap"><table class="result"><caption>${esc(t.title)}</caption>${head}<tbody>\n${body}\n</tbody></table></div>\n`;
}

/** Render the report; every text that comes from the caller is escaped. */
export function renderHtmlReport(r: HtmlReport): string {
  const tls = r.timelines.filter((t) => t.timeline.samples.length > 0);
  const out: string[] = [];
  out.push(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">`);
  out.push(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
  out.push(`<title>${esc(r.title)}</title><style>${CSS}</style></head><body>\n`);
  out.push(`<h1>${esc(r.title)}</h1>\n`);
  if (r.subtitle) out.push(`<p class="subtitle">${esc(r.subtitle)}</p>\n`);
  if (r.summary.length) out.push(`<section id="summary"><h2>Summary</h2><ul>${r.summary.map((s) => `<li>${esc(s)}</li>`).join('')}</ul></section>\n`);

  // Free blocks per order.
  out.push(`<section id="free-blocks"><h2>Free blocks per order over time</h2>\n`);
  if (!tls.length) out.push(`<p class="empty">No samples were taken.</p>\n`);
  for (const { label, timeline } of tls) {
    const s = timeline.samples;
    const orders = s[0].nrFree.length;
    out.push(figure(heatmap({
      title: `${label}: free blocks per order`,
      values: s.map((x) => x.nrFree),
      rowLabels: Array.from({ length: orders }, (_, o) => `order ${o}`),
      xs: s.map(secs),
      xLabel: 'model time (s)',
      yLabel: 'order',
      valueLabel: 'free blocks',
    }), `${label}: free blocks of each order, all zones, over ${s.length} samples (colour: count on a log scale; grey: none).`));
  }
  out.push(`</section>\n`);

  // Fragmentation indices.
  out.push(`<section id="fragmentation"><h2>Fragmentation indices over time</h2>\n`);
  if (!tls.length) out.push(`<p class="empty">No samples were taken.</p>\n`);
  for (const { label, timeline } of tls) {
    const s = timeline.samples;
    const orders = INDEX_ORDERS.filter((o) => o < s[0].unusable.length);
    const unusable: Series[] = orders.map((o) => ({ name: `order ${o}`, points: s.map((x) => [secs(x), x.unusable[o] / 1000]) }));
    const extfrag: Series[] = orders.map((o) => ({ name: `order ${o}`, points: s.map((x) => [secs(x), x.extfrag[o] < 0 ? NaN : x.extfrag[o] / 1000]) }));
    out.push(figure(lineChart({ title: `${label}: unusable free space index`, series: unusable, xLabel: 'model time (s)', yLabel: 'unusable index', yMin: 0, yMax: 1, className: 'unusable' }),
      `${label}: unusable free space index of the largest zone (0: all free memory usable for the order, 1: none).`));
    out.push(figure(lineChart({ title: `${label}: fragmentation (extfrag) index`, series: extfrag, xLabel: 'model time (s)', yLabel: 'extfrag index', yMin: 0, yMax: 1, className: 'extfrag', noDataText: 'no point: a block of each of these orders was free at every sample (index -1)' }),
      `${label}: extfrag index of the largest zone (towards 0: a failure would be for lack of memory, towards 1: for fragmentation); gaps where a block of the order was free (-1).`));
  }
  out.push(`</section>\n`);

  // Failures and fallbacks: one line per timeline.
  out.push(`<section id="failures"><h2>Failures and fallbacks over time</h2>\n`);
  if (!tls.length) out.push(`<p class="empty">No samples were taken.</p>\n`);
  else {
    const per = (f: (x: TimelineSample) => number): Series[] => tls.map(({ label, timeline }) => ({ name: label, points: timeline.samples.map((x) => [secs(x), f(x)]) }));
    const charts: Array<[string, string, (x: TimelineSample) => number, string]> = [
      ['failures', 'allocation failures (all orders)', (x) => sum(x.failures), 'Allocation failures, running total over all orders.'],
      ['fallbacks', 'migratetype fallbacks', (x) => x.fallbacks, 'Migratetype fallbacks (claims and steals), running total.'],
      ['reclaimed', 'pages reclaimed', (x) => x.reclaimed, 'Pages reclaimed by kswapd and direct reclaim, running total.'],
      ['compaction', 'compaction stalls', (x) => x.compactStalls, 'Direct compaction stalls, running total.'],
    ];
    for (const [cls, what, f, caption] of charts) {
      const series = per(f);
      const any = series.some((s) => s.points.some(([, y]) => y !== 0));
      if (!any && cls !== 'failures' && cls !== 'fallbacks') continue;
      out.push(figure(lineChart({ title: `${what} over time`, series, xLabel: 'model time (s)', yLabel: what, className: cls }),
        caption + (tls.length > 1 ? ' One line per design or phase.' : '') + (any ? '' : ' None happened.')));
    }
  }
  out.push(`</section>\n`);

  out.push(`<section id="tables"><h2>Tables</h2>\n`);
  if (!r.tables.length) out.push(`<p class="empty">No tables.</p>\n`);
  for (const t of r.tables) out.push(tableHtml(t));
  out.push(`</section>\n`);
  out.push(`</body></html>\n`);
  return out.join('');
}
