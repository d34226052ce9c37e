/**
 * `mmlab replay TRACE`: replays a captured kernel trace (a `mmlab capture` directory, a trace file, plain or
 * gzip, or '-' for stdin) on a model machine under one policy or, with `--compare A,B,...`, under several,
 * and prints a summary, one comparison table, or (`--json`) one JSON document. A file is read twice: a
 * first pass finds the machine size and CPU count the trace implies, and the record count for the progress
 * bar. Exit status: 0, 1 for a malformed trace (the parser's file:line: event: field message), 2 for usage.
 */
import { Command, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSize, type MachineConfig, type Policy } from '../config.js';
import { Machine } from '../machine.js';
import { PROC_NAMES } from '../proc/index.js';
import { Timeline } from '../report/timeline.js';
import { renderHtmlReport } from '../report/html.js';
import { resolveTraceSource, type TraceSource } from '../trace/source.js';
import { parseBuddyinfo, shapeFreeLists, type ShapeResult } from '../trace/shape.js';
import type { Table } from '../workloads/scenario.js';
import { openTrace, parseTrace, TraceParseError, type ParseOptions, type ParseStats } from '../trace/parse.js';
import { impliedMemBytes, REPLAY_LAYERS, replayTrace, traceExtent, type ReplayLayer, type ReplayResult } from '../trace/replay.js';
import { parsePolicy, UsageError } from './policy.js';
import { progressBar } from './progress.js';

interface ReplayOpts {
  layer: ReplayLayer;
  mem?: string;
  cpus?: string;
  policy: string[];
  compare?: string;
  kernel?: string;
  formats?: string;
  lenient?: boolean;
  json?: boolean;
  out?: string;
  html?: string;
  shape?: string;
}

/** Memory and CPUs for stdin, which is read once. */
const STDIN_MEM = 4 * 2 ** 30;
const STDIN_CPUS = 2;

export function addReplayCommand(program: Command, out: NodeJS.WritableStream, err: NodeJS.WritableStream, setStatus: (s: number) => void): void {
  program
    .command('replay')
    .description('replay a captured kernel trace on the model under one or several policies')
    .argument('<trace>', 'a `mmlab capture` directory, a trace file (plain or gzip), or - for stdin')
    .addOption(new Option('--layer <layer>', 'what to replay: page events, slab events, or both').choices([...REPLAY_LAYERS]).default('all'))
    .option('--mem <size>', 'RAM of the model machine (default: what the trace\'s pfns imply, at least 256M; 4G for stdin)')
    .option('--cpus <n>', 'CPUs of the model machine (default: the trace\'s highest CPU + 1; 2 for stdin)')
    .option('--policy <key=value>', 'policy switch, repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--compare <specs>', 'replay under each comma-separated policy (k=v[+k=v]) and print one table, e.g. fallback=none,fallback=vcompound')
    .option('--kernel <version>', 'the kernel that wrote the trace (GFP names, migratetype numbers); default: the capture\'s `kernel` file')
    .option('--formats <dir>', 'tracefs format files of the events (default: the capture\'s formats/)')
    .option('--lenient', 'skip and count malformed lines')
    .option('--json', 'print one JSON document')
    .option('--out <dir>', 'write result.json (with the timelines), proc/ and dmesg.txt to DIR')
    .option('--shape <buddyinfo>', 'shape the starting free lists after this /proc/buddyinfo (default: a capture\'s proc/start/buddyinfo; none: boot fresh)')
    .option('--html <file>', 'write a self-contained HTML report: free blocks per order, fragmentation, failures and fallbacks over time, the comparison')
    .action(async (trace: string, opts: ReplayOpts) => {
      setStatus(await replayCommand(trace, opts, out, err));
    });
}

/** The trace, its parser options and its buddyinfo snapshot, with the options given winning. */
function resolveInput(trace: string, opts: ReplayOpts): TraceSource {
  const given: ParseOptions = { lenient: opts.lenient === true };
  if (opts.formats !== undefined) {
    if (!existsSync(opts.formats)) throw new UsageError(`--formats: no such directory '${opts.formats}'`);
    given.formats = opts.formats;
  }
  if (opts.kernel !== undefined) given.kernel = opts.kernel;
  let src: TraceSource;
  try {
    src = resolveTraceSource(trace, given);
  } catch (e) {
    throw new UsageError(`replay: ${(e as Error).message}`);
  }
  if (opts.shape === 'none') src.buddyinfo = undefined;
  else if (opts.shape !== undefined) {
    if (!existsSync(opts.shape)) throw new UsageError(`--shape: no such file '${opts.shape}'`);
    src.buddyinfo = opts.shape;
  }
  return src;
}

interface Variant {
  name: string;
  policy: Partial<Policy>;
}

function variants(opts: ReplayOpts): Variant[] {
  const base = parsePolicy(opts.policy);
  const baseName = opts.policy.join('+') || 'default';
  if (opts.compare === undefined) return [{ name: baseName, policy: base }];
  const specs = opts.compare.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0) throw new UsageError('--compare: expected a comma-separated list of k=v[+k=v] policy specs');
  return specs.map((spec) => ({ name: spec, policy: { ...base, ...parsePolicy(spec.split('+'), '--compare') } }));
}

async function replayCommand(trace: string, opts: ReplayOpts, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const input = resolveInput(trace, opts);
  const vs = variants(opts);
  if (trace === '-' && vs.length > 1) throw new UsageError('--compare: stdin can be read only once; give a file');
  let mem: number | undefined;
  if (opts.mem !== undefined) {
    try {
      mem = parseSize(opts.mem, '--mem');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  let cpus: number | undefined;
  if (opts.cpus !== undefined) {
    if (!/^\d+$/.test(opts.cpus) || Number(opts.cpus) < 1) throw new UsageError(`--cpus: expected a whole number of at least 1, got '${opts.cpus}'`);
    cpus = Number(opts.cpus);
  }
  try {
    // The first pass: the machine the trace implies, and the record count for the bar.
    let total = 0;
    if (trace !== '-') {
      const x = await traceExtent(parseTrace(openTrace(input.file), input.parse));
      total = x.records;
      mem ??= impliedMemBytes(x.pfnEnd);
      cpus ??= x.maxCpu + 1;
    }
    mem ??= STDIN_MEM;
    cpus ??= STDIN_CPUS;
    const runs: Array<{ name: string; policy: Policy; result: ReplayResult; m: Machine }> = [];
    let stats: ParseStats | undefined;
    let shaped: ShapeResult | undefined;
    for (const v of vs) {
      const cfg: MachineConfig = { mem, nrCpus: cpus, policy: v.policy };
      let m: Machine;
      try {
        m = Machine.boot(cfg);
      } catch (e) {
        throw new UsageError(`${vs.length > 1 ? `--compare ${v.name}: ` : ''}${(e as Error).message}`);
      }
      if (input.buddyinfo !== undefined) {
        let counts;
        try {
          counts = parseBuddyinfo(readFileSync(input.buddyinfo, 'utf8'), input.buddyinfo);
        } catch (e) {
          err.write(`mmlab: ${(e as Error).message}\n`);
          return 1;
        }
        shaped = shapeFreeLists(m, counts);
      }
      const records = parseTrace(openTrace(input.file), input.parse);
      const bar = !opts.json && total > 0 && (out as NodeJS.WriteStream).isTTY ? progressBar(err, 'events', true) : undefined;
      const result = await replayTrace(m, records, {
        layer: opts.layer, timeline: new Timeline(), onProgress: bar ? (n) => bar.update(n, total) : undefined,
      });
      bar?.stop();
      stats = records.stats;
      runs.push({ name: v.name, policy: m.cfg.policy, result, m });
    }
    const doc = {
      trace: { file: input.label, kernel: input.parse.kernel ?? null, formats: input.parse.formats ?? null, parse: stats },
      machine: { arch: runs[0].m.cfg.arch.arch, mem, nrCpus: cpus, totalramPages: runs[0].m.totalramPages, shapedFrom: input.buddyinfo ?? null, shaped: shaped ?? null },
      layer: opts.layer,
      runs: runs.map((r) => ({ name: r.name, policy: r.policy, result: r.result })),
    };
    if (opts.out !== undefined) writeOut(opts.out, doc, runs.map((r) => r.m));
    const forPrint = { ...doc, runs: doc.runs.map((r) => ({ ...r, result: { ...r.result, timeline: undefined } })) };
    if (opts.json) out.write(JSON.stringify(forPrint, null, 2) + '\n');
    else if (vs.length > 1) out.write(formatHead(doc) + '\n' + formatCompare(runs) + '\n');
    else out.write(formatHead(doc) + '\n' + formatRun(runs[0].result, runs[0].name) + '\n');
    if (opts.out !== undefined && !opts.json) out.write(`wrote ${opts.out}/\n`);
    if (opts.html !== undefined) {
      writeHtml(opts.html, input.label, opts.layer, runs);
      if (!opts.json) out.write(`wrote ${opts.html}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof TraceParseError) {
      err.write(`mmlab: ${e.message}\n`);
      return 1;
    }
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined || /header check|unexpected end|invalid/i.test((e as Error).message)) {
      err.write(`mmlab: ${input.label}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

function writeOut(dir: string, doc: object, machines: Machine[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'result.json'), JSON.stringify(doc, null, 2) + '\n');
  machines.forEach((m, i) => {
    const d = machines.length === 1 ? dir : join(dir, 'runs', String(i));
    mkdirSync(join(d, 'proc'), { recursive: true });
    for (const name of PROC_NAMES) if (!name.startsWith('extfrag/')) writeFileSync(join(d, 'proc', name), m.proc(name));
    writeFileSync(join(d, 'dmesg.txt'), m.dmesg());
  });
}

function byOrder(a: number[]): string {
  const s = a.map((v, o) => (v !== 0 ? `${o}:${v}` : '')).filter((x) => x !== '').join(' ');
  return s === '' ? 'none' : s;
}

function counts(o: Record<string, number>): string {
  const s = Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  return s === '' ? 'none' : s;
}

function formatHead(doc: { trace: { file: string; parse?: ParseStats }; machine: { mem: number; nrCpus: number }; layer: string }): string {
  const st = doc.trace.parse;
  const lines = [`mmlab replay ${doc.trace.file}: --layer ${doc.layer}, ${doc.machine.mem / (1 << 20)}M, ${doc.machine.nrCpus} CPUs`];
  if (st) {
    lines.push(`parsed ${st.lines} lines: ${st.records} records, ${st.skipped} other lines, ${st.malformed} malformed (skipped)` +
      (Object.keys(st.unknown).length > 0 ? `; unknown events: ${counts(st.unknown)}` : ''));
    for (const msg of st.messages) lines.push(`  ${msg}`);
  }
  return lines.join('\n');
}

function formatRun(r: ReplayResult, name: string): string {
  const p = r.pages;
  const s = r.slab;
  const md = r.model;
  return [
    `policy ${name}`,
    `replayed: ${counts(r.replayed)}`,
    `counted only: ${counts(r.countedOnly)}`,
    `ignored: ${counts(r.ignored)}`,
    `pages: allocations by order ${byOrder(p.allocs)}; frees by order ${byOrder(p.frees)}`,
    `  failures on the model by order: ${byOrder(p.modelFailures)}; in the trace: ${byOrder(p.traceFailures)}`,
    `  unmatched frees ${p.unmatchedFrees} (allocated before the capture), never freed ${p.neverFreed}, lost frees ${p.lostFrees}, split frees ${p.splitFrees}`,
    ...(r.layer === 'all' ? [`  not replayed twice (--layer all): ${r.skipped.slabPages} slab pages, ${r.skipped.largeKmalloc} large kmalloc pages, ${r.skipped.freesOfSkipped} of their frees`] : []),
    `slab: kmalloc ${s.kmalloc}, kmem_cache_alloc ${s.kmemCacheAlloc} (${s.cachesCreated} caches created), kfree ${s.kfree}, kmem_cache_free ${s.kmemCacheFree}`,
    `  failures on the model ${s.modelFailures}, in the trace ${s.traceFailures}; unmatched frees ${s.unmatchedFrees}, never freed ${s.neverFreed}, kfree(NULL) ${s.nullFrees}, lost frees ${s.lostFrees}`,
    `model: fallbacks ${md.fallbacks}, pages reclaimed ${md.pgstealKswapd + md.pgstealDirect} (kswapd ${md.pgstealKswapd}, direct ${md.pgstealDirect}), ` +
      `compaction stalls ${md.compactStall} (success ${md.compactSuccess}, fail ${md.compactFail}), model time ${(md.ns / 1e9).toFixed(3)} s`,
    `  free blocks by order at the end: ${md.nrFree.join(' ')}`,
    `  unusable free index by order (largest zone, /1000): ${md.unusable.join(' ')}`,
    `total: unmatched frees ${r.unmatchedFrees}, never freed ${r.neverFreed}`,
  ].join('\n');
}

/** Costly order (PAGE_ALLOC_COSTLY_ORDER) and pageblock order: where fragmentation shows first and where it matters for THP. */
const SHOW_ORDERS = [3, 9];

/** The comparison of the runs: one row per policy. */
function compareTable(runs: Array<{ name: string; result: ReplayResult }>): Table {
  const columns = ['policy', 'failures by order', 'fallbacks', 'reclaimed', 'compact stall/success', ...SHOW_ORDERS.map((o) => `unusable o${o}`), 'pgtable/slab pages', 'unmatched', 'never freed'];
  const rows = runs.map(({ name, result: r }) => [
    name, byOrder(r.model.allocFailures), String(r.model.fallbacks), String(r.model.pgstealKswapd + r.model.pgstealDirect),
    `${r.model.compactStall}/${r.model.compactSuccess}`, ...SHOW_ORDERS.map((o) => String(r.model.unusable[o] ?? '')),
    `${r.model.pageTablePages}/${r.model.slabPages}`, String(r.unmatchedFrees), String(r.neverFreed),
  ]);
  return { title: 'replay under each policy', columns, rows };
}

function formatCompare(runs: Array<{ name: string; result: ReplayResult }>): string {
  const t = compareTable(runs);
  const w = t.columns.map((h, i) => Math.max(h.length, ...t.rows.map((row) => String(row[i]).length)));
  const line = (cells: Array<string | number>): string => cells.map((c, i) => String(c).padEnd(w[i])).join('  ').trimEnd();
  return [line(t.columns), line(w.map((n) => '-'.repeat(n))), ...t.rows.map(line)].join('\n');
}

/** --html: the runs' timelines as plots, and the comparison table. */
function writeHtml(file: string, trace: string, layer: string, runs: Array<{ name: string; result: ReplayResult; m: Machine }>): void {
  const m = runs[0].m;
  const html = renderHtmlReport({
    title: `mmlab replay ${trace}`,
    subtitle: `layer ${layer}, ${m.cfg.arch.arch}, ${Math.round((m.cfg.maxPfn * 4096) / (1 << 20))} MiB, ${m.cfg.nrCpus} CPUs`,
    timelines: runs.map((r) => ({ label: r.name, timeline: { samples: r.result.timeline ?? [] } })),
    tables: [compareTable(runs)],
    summary: runs.map((r) => `${r.name}: ${r.result.unmatchedFrees} unmatched frees, ${r.result.neverFreed} never freed, failures by order ${byOrder(r.result.model.allocFailures)}`),
  });
  try {
    writeFileSync(file, html);
  } catch (e) {
    throw new UsageError(`--html: cannot write '${file}': ${(e as Error).message}`);
  }
}
