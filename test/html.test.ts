/**
 * The --html report: the renderer on its own (escaping, structure), sampling leaves a scenario's result as it
 * was, and `mmlab run ... --html FILE` opened in Debian's chromium through playwright-core (never a browser of
 * its own): the page renders without console errors, has its plots and tables, asks nothing of the network,
 * and a screenshot is taken. Without /usr/bin/chromium the browser tests are skipped with a warning in a
 * developer run and fail under CI (CI is set), like the jc tests.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mmlab } from './helpers/cli.js';
import { Machine } from '../src/machine.js';
import { renderHtmlReport, timelineCollector } from '../src/report/html.js';
import { esc, heatmap, lineChart } from '../src/report/svg.js';
import { Timeline } from '../src/report/timeline.js';
import { findScenario } from '../src/workloads/index.js';
import type { Tool } from './helpers/jc.js';
import { need, toolGate } from './helpers/jc.js';

const CHROMIUM = '/usr/bin/chromium';
const chromiumTool: Tool = existsSync(CHROMIUM)
  ? { ok: true, why: '' }
  : { ok: false, why: `${CHROMIUM} is missing; install it with: apt-get install -y chromium` };

/** Serve the page's own file:// URLs and refuse the rest, recording what was asked for (a report is self-contained). */
async function offline(page: import('playwright-core').Page): Promise<string[]> {
  const network: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    network.push(url);
    return route.abort();
  });
  return network;
}

const dir = mkdtempSync(join(tmpdir(), 'mmlab-html-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the SVG plots and the HTML renderer', () => {
  it('escapes every text', () => {
    expect(esc(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    const m = Machine.boot({ mem: '64M' });
    const t = new Timeline();
    t.sample(m, 'x');
    t.sample(m, 'x');
    const html = renderHtmlReport({
      title: 'T <script>alert(1)</script>',
      subtitle: 'a & b',
      timelines: [{ label: '<img src=x onerror=alert(1)>', timeline: t }],
      tables: [{ title: '<b>t</b>', columns: ['<c>'], rows: [['<r>', 1]] }],
      summary: ['"s"'],
    });
    expect(html).not.toMatch(/<script|<img|<b>|<c>|<r>/);
    expect(html).toContain('T &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;: free blocks per order');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg")/);
  });

  it('draws one rect per cell, a path per series, titles and aria labels', () => {
    const values = Array.from({ length: 50 }, (_, i) => Array.from({ length: 11 }, (_, o) => (i * o) % 7));
    const svg = heatmap({ title: 'h', values, rowLabels: values[0].map((_, o) => `order ${o}`), xs: values.map((_, i) => i / 10), xLabel: 's', yLabel: 'order', valueLabel: 'free' });
    expect(svg).toMatch(/^<svg [^>]*class="plot heatmap"[^>]*aria-label="h"/);
    expect(svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"><title>/g)?.length).toBe(50 * 11);
    const many = Array.from({ length: 1000 }, (_, i) => [i]);
    expect(heatmap({ title: 'h', values: many, rowLabels: ['a'], xs: many.map((_, i) => i), xLabel: 's', yLabel: 'y', valueLabel: 'v', maxColumns: 100 }).match(/<rect [^>]*><title>/g)?.length).toBe(100);
    const line = lineChart({ title: 'l', xLabel: 's', yLabel: 'y', series: [{ name: 'a', points: [[0, 1], [1, NaN], [2, 3]] }, { name: 'b', points: [[0, 0], [2, 2]] }] });
    expect(line).toMatch(/^<svg [^>]*class="plot line"/);
    expect(line.match(/<path d="M[^"]*"/g)).toEqual([expect.stringMatching(/^<path d="M[\d. ]+M[\d. ]+"$/), expect.stringMatching(/^<path d="M[\d. ]+L[\d. ]+"$/)]);
    expect(line).toContain('<title>l</title>');
  });
});

describe('sampling during a run', () => {
  it('leaves the result as it was and gives one timeline per design', () => {
    const s = findScenario('fallback')!;
    const cfg = { ...s.machine, mem: '64M' };
    const opts = { seed: 1, steps: 150, params: { designs: 'none,always', i386: 'no' }, machineConfig: cfg };
    const plain = s.run(Machine.boot(cfg), opts);
    const tl = timelineCollector();
    const sampled = s.run(Machine.boot(cfg), { ...opts, sample: tl.sample });
    expect(sampled).toEqual(plain);
    expect(tl.timelines().map((t) => t.label)).toEqual(['none', 'always']);
    for (const { timeline } of tl.timelines()) expect(timeline.samples.length).toBeGreaterThanOrEqual(100);
  });

  it('mixed: the same result with and without sampling, ~1000 samples', () => {
    const s = findScenario('mixed')!;
    const cfg = { ...s.machine, mem: '128M' };
    const plain = s.run(Machine.boot(cfg), { seed: 3, steps: 20_000 });
    const tl = timelineCollector();
    const sampled = s.run(Machine.boot(cfg), { seed: 3, steps: 20_000, sample: tl.sample });
    expect(sampled).toEqual(plain);
    const [t] = tl.timelines();
    expect(t.label).toBe('mixed');
    expect(t.timeline.samples.length).toBeGreaterThan(500);
    expect(t.timeline.samples.length).toBeLessThanOrEqual(2000);
  });
});

describe('mmlab run --html', () => {
  const mixedFile = join(dir, 'mixed.html');
  const compareFile = join(dir, 'fallback.html');

  beforeAll(async () => {
    const r = await mmlab('run', 'mixed', '--steps', '20000', '--mem', '256M', '--html', mixedFile);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote ${mixedFile}`);
    const c = await mmlab('run', 'fallback', '--steps', '150', '--mem', '64M', '--param', 'designs=none,v1,always', '--param', 'i386=no', '--compare', '--html', compareFile);
    expect(c.code).toBe(0);
  });

  it('writes one self-contained document', () => {
    const html = readFileSync(mixedFile, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
    expect(html.match(/class="plot heatmap"/g)).toHaveLength(1);
    const fb = readFileSync(compareFile, 'utf8');
    expect(fb.match(/class="plot heatmap"/g)).toHaveLength(3);
    expect(fb).toContain('<caption>Designs side by side');
  });

  it('an unwritable file is a usage error', async () => {
    const r = await mmlab('run', 'mixed', '--steps', '100', '--mem', '64M', '--html', join(dir, 'no', 'such', 'dir.html'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mmlab: --html: cannot write/);
  });

  describe.runIf(toolGate('chromium', chromiumTool))('in chromium', () => {
    it('renders, has its plots and tables, asks nothing of the network, and screenshots', async () => {
      need('chromium', chromiumTool);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        for (const file of [mixedFile, compareFile]) {
          const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
          const errors: string[] = [];
          page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
          page.on('pageerror', (e) => errors.push(String(e)));
          const network = await offline(page);
          await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
          expect(await page.title()).toMatch(/^mmlab run (mixed|fallback)$/);
          expect(await page.locator('h1').textContent()).toBe(await page.title());
          const heatmaps = page.locator('svg.plot.heatmap');
          const nHeat = await heatmaps.count();
          expect(nHeat).toBeGreaterThanOrEqual(1);
          for (let i = 0; i < nHeat; i++) {
            expect(await heatmaps.nth(i).locator('rect').count()).toBeGreaterThan(1000);
            const box = await heatmaps.nth(i).boundingBox();
            expect(box!.width).toBeGreaterThan(300);
            expect(box!.height).toBeGreaterThan(100);
          }
          expect(await page.locator('svg.plot.line.unusable path').count()).toBeGreaterThanOrEqual(4 * nHeat);
          expect(await page.locator('svg.plot.line.extfrag').count()).toBe(nHeat);
          expect(await page.locator('svg.plot.line.failures path').count()).toBe(nHeat);
          expect(await page.locator('svg.plot.line.fallbacks path').count()).toBe(nHeat);
          expect(await page.locator('figure > figcaption').count()).toBeGreaterThanOrEqual(4 * nHeat);
          expect(await page.locator('table.result tbody tr').count()).toBeGreaterThanOrEqual(file === mixedFile ? 20 : 3);
          // A line really is drawn: the unusable index path of the first chart spans the plot.
          const pathBox = await page.locator('svg.plot.line.unusable path').first().boundingBox();
          expect(pathBox!.width).toBeGreaterThan(300);
          const png = join(dir, `${file.endsWith('mixed.html') ? 'mixed' : 'fallback'}.png`);
          await page.screenshot({ path: png, fullPage: true });
          const head = readFileSync(png).subarray(0, 8);
          expect(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
          expect(statSync(png).size).toBeGreaterThan(20_000);
          expect(errors).toEqual([]);
          expect(network).toEqual([]);
          await page.close();
        }
      } finally {
        await browser.close();
      }
    });

    it('mmlab replay --html: a timeline per policy and the comparison table, in chromium', async () => {
      need('chromium', chromiumTool);
      // A trace of the model's own: 60,000 page events with random lifetimes.
      const src = Machine.boot({ mem: '256M' });
      src.trace.enable(['mm_page_alloc', 'mm_page_free']);
      const live: Array<[number, number]> = [];
      let x = 12345;
      for (let i = 0; i < 30_000; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        if (live.length > 2000 || (live.length && x % 3 === 0)) {
          const [p, o] = live.splice(x % live.length, 1)[0];
          src.freePages(p, o);
        } else {
          const o = x % 4;
          const p = src.allocPages(0xcc0, o); // GFP_KERNEL
          if (p >= 0) live.push([p, o]);
        }
      }
      const trace = join(dir, 'model.txt');
      writeFileSync(trace, src.trace.text());
      const file = join(dir, 'replay.html');
      const r = await mmlab('replay', trace, '--layer', 'pages', '--compare', 'compaction=true,compaction=false', '--html', file);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`wrote ${file}`);
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        const network = await offline(page);
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        expect(await page.title()).toBe(`mmlab replay ${trace}`);
        const heatmaps = page.locator('svg.plot.heatmap');
        expect(await heatmaps.count()).toBe(2);
        expect(await heatmaps.first().locator('rect').count()).toBeGreaterThan(200);
        expect(await page.locator('svg.plot.line.failures path').count()).toBe(2);
        expect(await page.locator('table.result tbody tr').count()).toBe(2);
        const png = join(dir, 'replay.png');
        await page.screenshot({ path: png, fullPage: true });
        expect(statSync(png).size).toBeGreaterThan(10_000);
        expect(network).toEqual([]);
      } finally {
        await browser.close();
      }
    });
  });
});
