/**
 * Small hand-written SVG plots for the HTML report: a heatmap (columns = samples, rows = orders, colour = a
 * count on a log scale, with a legend) and a multi-line chart (x = model time, several series, a legend). No
 * library and no scripts: each builder returns one <svg> element as text, with a <title>, an aria-label and
 * every piece of text escaped, to be inlined in a self-contained page.
 */

/** Escape text for HTML/SVG element content and attribute values. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number short enough for an axis label. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  if (a >= 1) return String(+v.toFixed(2));
  return String(+v.toPrecision(2));
}

/** About `n` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

/** Viridis at t in [0, 1], as #rrggbb. */
export function viridis(t: number): string {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Colours for categorical series (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** The colour of a zero in the heatmap. */
const ZERO = '#f4f4f4';

export interface HeatmapSpec {
  title: string;
  /** One column per sample: values[column][row]. */
  values: number[][];
  /** Label of each row (drawn bottom to top: row 0 at the bottom). */
  rowLabels: string[];
  /** The x value of each column (e.g. model seconds), for the axis ticks. */
  xs: number[];
  xLabel: string;
  yLabel: string;
  /** What the colour means, for the legend. */
  valueLabel: string;
  /** At most this many columns are drawn: neighbouring samples are averaged (default 300). */
  maxColumns?: number;
  width?: number;
  height?: number;
  /** Extra class names after "plot heatmap". */
  className?: string;
}

/** A heatmap on a log colour scale (log10(1 + v)), zero drawn in a pale grey. */
export function heatmap(spec: HeatmapSpec): string {
  const W = spec.width ?? 900;
  const H = spec.height ?? 300;
  const m = { l: 64, r: 110, t: 30, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const nRows = spec.rowLabels.length;
  // Bucket the columns.
  const n = spec.values.length;
  const cols = Math.min(n, spec.maxColumns ?? 300);
  const buckets: number[][] = [];
  const bx: number[] = [];
  for (let c = 0; c < cols; c++) {
    const a = Math.floor((c * n) / cols);
    const b = Math.max(a + 1, Math.floor(((c + 1) * n) / cols));
    const avg = new Array<number>(nRows).fill(0);
    for (let i = a; i < b; i++) for (let r = 0; r < nRows; r++) avg[r] += (spec.values[i][r] ?? 0) / (b - a);
    buckets.push(avg);
    bx.push(spec.xs[a]);
  }
  let max = 0;
  for (const col of buckets) for (const v of col) if (v > max) max = v;
  const lmax = Math.log10(1 + max) || 1;
  const colour = (v: number) => (v <= 0 ? ZERO : viridis(Math.log10(1 + v) / lmax));
  const cw = pw / Math.max(1, cols);
  const rh = ph / Math.max(1, nRows);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="plot heatmap${spec.className ? ' ' + esc(spec.className) : ''}" role="img" aria-label="${esc(spec.title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`);
  parts.push(`<title>${esc(spec.title)}</title>`);
  parts.push(`<g class="cells" shape-rendering="crispEdges">`);
  for (let c = 0; c < cols; c++) {
    const x = m.l + c * cw;
    for (let r = 0; r < nRows; r++) {
      const y = m.t + (nRows - 1 - r) * rh;
      const v = buckets[c][r];
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(cw + 0.1).toFixed(1)}" height="${rh.toFixed(1)}" fill="${colour(v)}"><title>${esc(`${spec.rowLabels[r]}, ${spec.xLabel} ${fmt(bx[c])}: ${fmt(v)}`)}</title></rect>`);
    }
  }
  parts.push(`</g>`);
  // Axes.
  parts.push(`<g class="axis y" font-size="11" text-anchor="end">`);
  for (let r = 0; r < nRows; r++) parts.push(`<text x="${m.l - 6}" y="${(m.t + (nRows - 1 - r + 0.5) * rh + 4).toFixed(1)}">${esc(spec.rowLabels[r])}</text>`);
  parts.push(`</g>`);
  parts.push(`<text class="axis-label" font-size="12" text-anchor="middle" transform="translate(16 ${m.t + ph / 2}) rotate(-90)">${esc(spec.yLabel)}</text>`);
  parts.push(`<g class="axis x" font-size="11" text-anchor="middle">`);
  if (cols > 0) {
    const x0 = bx[0];
    const x1 = bx[cols - 1];
    for (const t of ticks(x0, x1, 6)) {
      // The column whose x is nearest the tick.
      let best = 0;
      for (let c = 1; c < cols; c++) if (Math.abs(bx[c] - t) < Math.abs(bx[best] - t)) best = c;
      const x = m.l + (best + 0.5) * cw;
      parts.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/><text x="${x.toFixed(1)}" y="${m.t + ph + 16}">${esc(fmt(t))}</text>`);
    }
  }
  parts.push(`</g>`);
  parts.push(`<text class="axis-label" font-size="12" text-anchor="middle" x="${m.l + pw / 2}" y="${H - 8}">${esc(spec.xLabel)}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  // Legend: a discrete log-scale bar.
  const lx = m.l + pw + 24;
  const steps = 10;
  const lh = ph / (steps + 1);
  parts.push(`<g class="legend" font-size="10">`);
  parts.push(`<text x="${lx}" y="${m.t - 8}" font-size="11">${esc(spec.valueLabel)}</text>`);
  for (let i = 0; i <= steps; i++) {
    const y = m.t + (steps - i) * lh;
    const v = i === 0 ? 0 : 10 ** ((i / steps) * lmax) - 1;
    parts.push(`<rect x="${lx}" y="${y.toFixed(1)}" width="16" height="${(lh + 0.05).toFixed(2)}" fill="${colour(v)}"/>`);
    if (i % 2 === 0 || i === steps) parts.push(`<text x="${lx + 22}" y="${(y + lh / 2 + 3).toFixed(1)}">${esc(fmt(v))}</text>`);
  }
  parts.push(`<text x="${lx}" y="${m.t + ph + 16}">log scale</text>`);
  parts.push(`</g>`);
  parts.push(`</svg>`);
  return parts.join('');
}

export interface Series {
  name: string;
  /** [x, y] points in x order; a non-finite y breaks the line. */
  points: Array<[number, number]>;
}

export interface LineChartSpec {
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
  /** Fixed y range; by default from the data (and from 0 when all data are non-negative). */
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
  /** Shown in the plot when no series has a finite point. */
  noDataText?: string;
  /** Extra class names after "plot line". */
  className?: string;
}

/** A line chart with one <path> per series and a legend. */
export function lineChart(spec: LineChartSpec): string {
  const W = spec.width ?? 900;
  const legendW = 170;
  const H = Math.max(spec.height ?? 280, 30 + 16 * spec.series.length + 20);
  const m = { l: 64, r: 16 + legendW, t: 30, b: 44 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x)) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      if (!Number.isFinite(y)) continue;
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (!Number.isFinite(x0)) { x0 = 0; x1 = 1; }
  const noData = !Number.isFinite(y0);
  if (noData) { y0 = 0; y1 = 1; }
  if (y0 >= 0) y0 = 0;
  if (spec.yMin !== undefined) y0 = spec.yMin;
  if (spec.yMax !== undefined) y1 = spec.yMax;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const yt = ticks(y0, y1, 5);
  if (spec.yMax === undefined) y1 = Math.max(y1, yt[yt.length - 1]);
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="plot line${spec.className ? ' ' + esc(spec.className) : ''}" role="img" aria-label="${esc(spec.title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`);
  parts.push(`<title>${esc(spec.title)}</title>`);
  // Grid and axes.
  parts.push(`<g class="axis y" font-size="11" text-anchor="end">`);
  for (const t of yt) {
    if (t < y0 || t > y1) continue;
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#e3e3e3"/><text x="${m.l - 6}" y="${(+y + 4).toFixed(1)}">${esc(fmt(t))}</text>`);
  }
  parts.push(`</g>`);
  parts.push(`<g class="axis x" font-size="11" text-anchor="middle">`);
  for (const t of ticks(x0, x1, 6)) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/><text x="${x}" y="${m.t + ph + 16}">${esc(fmt(t))}</text>`);
  }
  parts.push(`</g>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text class="axis-label" font-size="12" text-anchor="middle" transform="translate(16 ${m.t + ph / 2}) rotate(-90)">${esc(spec.yLabel)}</text>`);
  parts.push(`<text class="axis-label" font-size="12" text-anchor="middle" x="${m.l + pw / 2}" y="${H - 8}">${esc(spec.xLabel)}</text>`);
  // Series.
  parts.push(`<g class="series" fill="none" stroke-width="1.6" stroke-linejoin="round">`);
  spec.series.forEach((s, i) => {
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(Math.min(y1, Math.max(y0, y))).toFixed(1)}`;
      pen = true;
    }
    parts.push(`<path d="${d || `M${m.l} ${m.t + ph}`}" stroke="${PALETTE[i % PALETTE.length]}"${d ? '' : ' stroke-opacity="0"'}><title>${esc(s.name)}</title></path>`);
  });
  parts.push(`</g>`);
  if (noData) parts.push(`<text class="no-data" x="${m.l + pw / 2}" y="${m.t + ph / 2}" font-size="12" text-anchor="middle" fill="#777">${esc(spec.noDataText ?? 'no data')}</text>`);
  // Legend.
  const lx = m.l + pw + 14;
  parts.push(`<g class="legend" font-size="11">`);
  spec.series.forEach((s, i) => {
    const y = m.t + 6 + i * 16;
    const name = s.name.length > 24 ? s.name.slice(0, 23) + '…' : s.name;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${y}" y2="${y}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="3"/><text x="${lx + 24}" y="${y + 4}">${esc(name)}<title>${esc(s.name)}</title></text>`);
  });
  parts.push(`</g>`);
  parts.push(`</svg>`);
  return parts.join('');
}
