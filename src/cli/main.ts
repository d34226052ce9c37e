/**
 * The mmlab command. `mmlab run [SCENARIO]` boots a machine, runs a scenario and prints a summary (or JSON,
 * or writes a directory of /proc files, trace, dmesg and result.json); `mmlab scenarios` lists scenarios and
 * the parameters they take (`--param key=value`); `mmlab capture` records the running kernel's kmem and vmalloc
 * tracepoints (src/trace/capture.ts); `mmlab analyze TRACE` summarises a trace as perf kmem stat does
 * (src/trace/analyze.ts); `mmlab replay` replays such a trace on the model (src/cli/replay.ts).
 * Bad options get one clear message and exit status 2.
 */
import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY, kernelVersionCode, parseSize, type MachineConfig, type Policy } from '../config.js';
import { Machine } from '../machine.js';
import { PROC_NAMES } from '../proc/index.js';
import { DEFAULT_SCENARIO, findScenario, SCENARIOS } from '../workloads/index.js';
import { resolveParams, unknownParam, type ScenarioResult } from '../workloads/scenario.js';
import { capture, CaptureUsageError, defaultCaptureDir, MAX_BUFFER_KB, parseEventList } from '../trace/capture.js';
import { analyzeTrace, fragmentationPct, type Analysis } from '../trace/analyze.js';
import { openTrace, parseTrace, TraceParseError } from '../trace/parse.js';
import { resolveTraceSource } from '../trace/source.js';
import { renderHtmlReport, timelineCollector } from '../report/html.js';
import { formatResult, formatTable } from './report.js';
import { progressBar } from './progress.js';
import { parsePolicy, UsageError } from './policy.js';
import { addReplayCommand } from './replay.js';

/** Lines a trace keeps in --out runs (the ring buffer: the latest events win). */
const OUT_TRACE_LINES = 200_000;


interface CaptureOpts {
  seconds?: string;
  events?: string;
  out?: string;
  bufferKb?: string;
}

interface AnalyzeOpts {
  kernel?: string;
  formats?: string;
  lenient?: boolean;
  top?: string;
  json?: boolean;
}

interface RunOpts {
  arch: string;
  mem?: string;
  cpus: string;
  seed: string;
  steps?: string;
  json?: boolean;
  out?: string;
  html?: string;
  zoneinfo?: string;
  kernel?: string;
  vmalloc?: string;
  policy: string[];
  compare?: boolean;
  param: string[];
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const program = new Command();
  let status = 0; // set by commands whose outcome is not only success or a usage error (capture)
  program
    .name('mmlab')
    .description('An executable model of the Linux kernel memory allocator')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.write(s), writeErr: (s) => err.write(s) });

  program
    .command('scenarios')
    .description('list the scenarios')
    .action(() => {
      const w = Math.max(...SCENARIOS.map((s) => s.name.length));
      for (const s of SCENARIOS) {
        out.write(`${s.name.padEnd(w)}  ${s.description}${s.name === DEFAULT_SCENARIO ? ' (default)' : ''}\n`);
        const params = Object.entries(s.params ?? {}).map(([k, p]) => [`--param ${k}=${p.default}`, p.description]);
        const pw = Math.max(0, ...params.map(([a]) => a.length));
        for (const [a, d] of params) out.write(`${''.padEnd(w)}    ${a.padEnd(pw)}  ${d}\n`);
      }
    });

  program
    .command('run')
    .description('boot a machine and run a scenario')
    .argument('[scenario]', 'scenario name (see `mmlab scenarios`)', DEFAULT_SCENARIO)
    .addOption(new Option('--arch <arch>', 'architecture').choices(['x86_64', 'i386']).default('x86_64'))
    .option('--mem <size>', 'RAM size, e.g. 512M, 4G, 64G (default: the scenario\'s)')
    .option('--cpus <n>', 'number of CPUs', '2')
    .option('--seed <n>', 'random seed', '1')
    .option('--steps <n>', 'scenario size in operations (default: the scenario\'s)')
    .option('--zoneinfo <file>', 'boot with the zones of a real machine\'s /proc/zoneinfo')
    .option('--kernel <version>', 'kernel version whose behaviour to follow where mainline changed it, e.g. 5.16 (default 6.18)')
    .option('--vmalloc <size>', 'size of the vmalloc area, the i386 vmalloc= boot option (default 128M)')
    .option('--param <key=value>', 'scenario parameter, repeatable (see `mmlab scenarios`)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--policy <key=value>', `policy switch, repeatable (${Object.keys(DEFAULT_POLICY).join(', ')})`, (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--compare', 'print only the side-by-side table of the variants the scenario compares (fallback: the designs)')
    .option('--json', 'print the result as one JSON document')
    .option('--out <dir>', 'write proc/, debug/extfrag/, trace.txt, dmesg.txt and result.json to DIR')
    .option('--html <file>', 'write a self-contained HTML report (plots over time and the tables) to FILE')
    .action((name: string, opts: RunOpts) => {
      runCommand(name, opts, out, err);
    });

  program
    .command('capture')
    .description('record the running kernel\'s kmem and vmalloc tracepoints and /proc snapshots into a directory (root)')
    .argument('[command...]', 'command to run while capturing, after --; the capture ends when it exits')
    .option('--seconds <n>', 'how long to capture when there is no command', '5')
    .option('--events <list>', 'comma list of subsystem:event or subsystem:* (default: the kmem and vmalloc events the model has)')
    .option('--out <dir>', 'output directory (default: capture-<date>)')
    .option('--buffer-kb <n>', `per-CPU ring buffer of the tracefs instance in KB, at most ${MAX_BUFFER_KB}`, '4096')
    .action(async (command: string[], opts: CaptureOpts, cmd: Command) => {
      const seconds = opts.seconds ?? '5';
      if (!/^\d+(\.\d+)?$/.test(seconds) || Number(seconds) <= 0) throw new UsageError(`--seconds: expected a positive number, got '${seconds}'`);
      if (command.length > 0 && cmd.getOptionValueSource('seconds') === 'cli') throw new UsageError('--seconds: not with a command (the capture ends when the command exits)');
      const bufferKb = int(opts.bufferKb ?? '4096', '--buffer-kb', 1);
      if (bufferKb > MAX_BUFFER_KB) throw new UsageError(`--buffer-kb: expected at most ${MAX_BUFFER_KB}, got ${bufferKb}`);
      try {
        status = await capture({
          seconds: Number(seconds),
          events: opts.events === undefined ? undefined : parseEventList(opts.events),
          out: opts.out ?? defaultCaptureDir(),
          bufferKb,
          command: command.length > 0 ? command : undefined,
          tracefs: process.env.MMLAB_TRACEFS,
        }, out, err);
      } catch (e) {
        if (e instanceof CaptureUsageError) throw new UsageError(e.message);
        throw e;
      }
    });

  program
    .command('analyze')
    .description('what perf kmem stat reports of a trace (pages by order, migratetype and gfp; slab by call site and cache; lifetimes), without a model')
    .argument('<trace>', 'a mmlab capture directory, a trace file (plain or gzip), or - for stdin')
    .option('--kernel <version>', 'the kernel that wrote the trace (old GFP names, migratetype numbering before 4.4)')
    .option('--formats <dir>', 'the events\' tracefs format files (default: the capture directory\'s)')
    .option('--lenient', 'skip and count malformed lines instead of stopping at the first')
    .option('--top <n>', 'call sites and caches to list', '20')
    .option('--json', 'print one JSON document')
    .action(async (trace: string, opts: AnalyzeOpts) => {
      const top = int(opts.top ?? '20', '--top', 1);
      let src;
      try {
        src = resolveTraceSource(trace, { ...(opts.kernel ? { kernel: opts.kernel } : {}), ...(opts.formats ? { formats: opts.formats } : {}), lenient: opts.lenient === true });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const records = parseTrace(openTrace(src.file), src.parse);
      let a: Analysis;
      try {
        a = await analyzeTrace(records);
      } catch (e) {
        if (!(e instanceof TraceParseError)) throw e;
        err.write(`mmlab analyze: ${e.message}\n`);
        status = 1;
        return;
      }
      const stats = records.stats;
      if (opts.json) {
        out.write(`${JSON.stringify({ trace, parse: stats, ...a }, null, 2)}\n`);
        return;
      }
      out.write(formatAnalysis(trace, a, stats.lines, stats.malformed, stats.unknown, top));
    });

  addReplayCommand(program, out, err, (s) => {
    status = s;
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2; // commander already printed its message
    }
    if (e instanceof UsageError) {
      err.write(`mmlab: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function runCommand(name: string, opts: RunOpts, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  const scenario = findScenario(name);
  if (!scenario) throw new UsageError(`unknown scenario '${name}' (expected one of: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  const cfg: MachineConfig = { ...scenario.machine, arch: opts.arch as MachineConfig['arch'], seed: int(opts.seed, '--seed', 0), nrCpus: int(opts.cpus, '--cpus', 1) };
  if (opts.mem !== undefined) {
    try {
      parseSize(opts.mem, '--mem');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    cfg.mem = opts.mem;
  }
  if (opts.zoneinfo !== undefined) {
    try {
      cfg.zoneinfo = readFileSync(opts.zoneinfo, 'utf8');
    } catch (e) {
      throw new UsageError(`--zoneinfo: cannot read '${opts.zoneinfo}': ${(e as Error).message}`);
    }
  }
  if (opts.kernel !== undefined) {
    try {
      kernelVersionCode(opts.kernel);
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
    cfg.kernel = opts.kernel;
  }
  if (opts.vmalloc !== undefined) {
    try {
      parseSize(opts.vmalloc, '--vmalloc');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    cfg.vmallocSize = opts.vmalloc;
  }
  cfg.policy = parsePolicy(opts.policy);
  const params = parseParams(opts.param);
  const unknown = unknownParam(scenario, params);
  if (unknown) throw new UsageError(`--param: ${unknown}`);
  try {
    resolveParams(scenario, params);
  } catch (e) {
    throw new UsageError(`--param ${(e as Error).message}`);
  }
  const steps = opts.steps === undefined ? undefined : int(opts.steps, '--steps', 1);
  let m: Machine;
  try {
    m = Machine.boot(cfg);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (opts.out) {
    m.trace.maxLines = OUT_TRACE_LINES;
    m.trace.enable('all');
  }
  const bar = !opts.json && (out as NodeJS.WriteStream).isTTY ? progressBar(err) : undefined;
  const timelines = opts.html === undefined ? undefined : timelineCollector();
  const result = scenario.run(m, { seed: cfg.seed ?? 1, steps, params, machineConfig: cfg, compare: opts.compare === true, progress: bar?.update, sample: timelines?.sample });
  bar?.stop();
  const doc = resultDocument(m, result);
  if (opts.out) writeOutDir(opts.out, m, doc);
  if (opts.html !== undefined) writeHtml(opts.html, m, result, steps ?? scenario.defaultSteps, timelines!.timelines());
  const wrote = [opts.out && `wrote ${opts.out}/\n`, opts.html !== undefined && `wrote ${opts.html}\n`].filter(Boolean).join('');
  if (opts.json) out.write(JSON.stringify(doc, null, 2) + '\n');
  else out.write(formatResult(m, result) + (wrote ? `\n${wrote}` : ''));
}

function resultDocument(m: Machine, result: ScenarioResult): Record<string, unknown> {
  return {
    scenario: result.scenario,
    machine: {
      arch: m.cfg.arch.arch,
      nrCpus: m.cfg.nrCpus,
      seed: m.cfg.seed,
      kernel: m.cfg.kernel,
      vmallocSize: m.cfg.vmallocSize,
      policy: m.cfg.policy,
      totalramPages: m.totalramPages,
      minFreeKbytes: m.minFreeKbytes,
      zones: m.zones.filter((z) => z.present).map((z) => ({
        name: z.name, startPfn: z.startPfn, spanned: z.spanned, present: z.present, managed: z.managed,
        min: z.wmarkMin(), low: z.wmarkLow(), high: z.wmarkHigh(), free: z.freePages,
      })),
    },
    summary: result.summary,
    tables: result.tables,
    metrics: result.metrics,
    stats: {
      allocRequests: Array.from(m.stats.allocRequests),
      allocFailures: Array.from(m.stats.allocFailures),
      pcpRefills: m.stats.pcpRefills,
      pcpRefillPages: m.stats.pcpRefillPages,
      pcpDrains: m.stats.pcpDrains,
      pcpDrainPages: m.stats.pcpDrainPages,
      fallbackClaims: m.stats.fallbackClaims,
      fallbackSteals: m.stats.fallbackSteals,
      fallbackFragmenting: m.stats.fallbackFragmenting,
      pfmemallocPages: m.stats.pfmemallocPages,
      slowpath: m.stats.slowpath,
      highatomicReserved: m.stats.highatomicReserved,
      highatomicUnreserved: m.stats.highatomicUnreserved,
      drainAll: m.stats.drainAll,
    },
  };
}

function writeHtml(file: string, m: Machine, result: ScenarioResult, steps: number, timelines: Parameters<typeof renderHtmlReport>[0]['timelines']): void {
  const mib = (pages: number) => Math.round((pages * 4096) / (1 << 20));
  const present = m.zones.reduce((n, z) => n + z.present, 0);
  const policy = Object.entries(m.cfg.policy).filter(([k, v]) => DEFAULT_POLICY[k as keyof Policy] !== v).map(([k, v]) => `${k}=${String(v)}`);
  const subtitle = `${m.cfg.arch.arch}, ${mib(present)} MiB RAM (${mib(m.totalramPages)} MiB managed), ${m.cfg.nrCpus} CPUs, kernel ${m.cfg.kernel}, seed ${m.cfg.seed}, ${steps} steps${policy.length ? `, policy ${policy.join(' ')}` : ''}`;
  try {
    writeFileSync(file, renderHtmlReport({ title: `mmlab run ${result.scenario}`, subtitle, timelines, tables: result.tables, summary: result.summary }));
  } catch (e) {
    throw new UsageError(`--html: cannot write '${file}': ${(e as Error).message}`);
  }
}

function writeOutDir(dir: string, m: Machine, doc: Record<string, unknown>): void {
  mkdirSync(join(dir, 'proc'), { recursive: true });
  mkdirSync(join(dir, 'debug', 'extfrag'), { recursive: true });
  for (const name of PROC_NAMES) {
    const path = name.startsWith('extfrag/') ? join(dir, 'debug', name) : join(dir, 'proc', name);
    writeFileSync(path, m.proc(name));
  }
  writeFileSync(join(dir, 'trace.txt'), m.trace.text());
  writeFileSync(join(dir, 'dmesg.txt'), m.dmesg());
  writeFileSync(join(dir, 'result.json'), JSON.stringify(doc, null, 2) + '\n');
}

function int(text: string, what: string, min: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what}: expected a whole number, got '${text}'`);
  const n = Number(text);
  if (n < min) throw new UsageError(`${what}: expected at least ${min}, got ${n}`);
  return n;
}

/** --param KEY=VALUE items; a key given twice takes the last value. */
function parseParams(items: string[]): Record<string, string> {
  const params: Array<[string, string]> = [];
  for (const item of items) {
    const m = /^([A-Za-z][\w-]*)=(.*)$/.exec(item);
    if (!m) throw new UsageError(`--param: expected KEY=VALUE, got '${item}'`);
    params.push([m[1], m[2]]);
  }
  return Object.fromEntries(params);
}

/** `mmlab analyze`'s text: perf kmem stat's summaries as tables. */
function formatAnalysis(trace: string, a: Analysis, lines: number, malformed: number, unknown: Record<string, number>, top: number): string {
  const p = a.pages;
  const s = a.slab;
  const pct = (n: number) => `${n.toFixed(1)}%`;
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const site = (r: Analysis['slab']['bySite'][number]) => [r.site, r.hits, r.bytesReq, r.bytesAlloc, pct(fragmentationPct(r)), r.frees, r.lifetimes ? us(r.lifetimeNs / r.lifetimes) : '-'];
  const siteCols = ['', 'hits', 'bytes req', 'bytes alloc', 'frag', 'frees', 'mean life (us)'];
  const unknownList = Object.entries(unknown).map(([k, v]) => `${k} ${v}`).join(', ');
  const out = [
    `mmlab analyze ${trace}: ${lines} lines, ${a.events} events${malformed ? `, ${malformed} malformed lines skipped` : ''}${unknownList ? `; other events: ${unknownList}` : ''}`,
    '',
    `pages: ${p.allocs} allocations (${p.failed} failed), ${p.frees} frees; ${p.unmatchedFrees} frees of pages allocated before the trace, ${p.neverFreed} pages never freed; mean lifetime ${us(p.meanLifetimeNs)} us`,
  ];
  if (p.allocs + p.frees) {
    out.push(
      formatTable({ title: 'Pages by order', columns: ['order', 'allocs', 'frees'], rows: p.byOrder.map((r, o) => [o, r.allocs, r.frees]).filter((r) => r[1] || r[2]) }), '',
      formatTable({ title: 'Page allocations by migratetype', columns: ['migratetype', 'allocs'], rows: Object.entries(p.byMigratetype).sort((x, y) => y[1] - x[1]) }), '',
      formatTable({ title: 'Page allocations by gfp', columns: ['gfp_flags', 'allocs'], rows: Object.entries(p.byGfp).sort((x, y) => y[1] - x[1]).slice(0, top) }), '',
    );
  }
  out.push(`slab: ${s.allocs} allocations (${s.failed} failed), ${s.frees} frees, ${s.bytesReq} bytes requested, ${s.bytesAlloc} allocated (${pct(fragmentationPct(s))} internal fragmentation); ${s.unmatchedFrees} frees of objects allocated before the trace, ${s.neverFreed} objects never freed`);
  if (s.allocs + s.frees) {
    out.push(
      formatTable({ title: `Slab by call site (top ${top} by bytes allocated)`, columns: ['call site', ...siteCols.slice(1)], rows: s.bySite.slice(0, top).map(site) }), '',
      formatTable({ title: `Slab by cache (top ${top}, events that name their cache)`, columns: ['cache', ...siteCols.slice(1)], rows: s.byCache.slice(0, top).map(site) }), '',
    );
  }
  out.push(`vmalloc: ${a.vmalloc.allocs} areas (${a.vmalloc.failed} failed), ${a.vmalloc.lazyFrees} lazy frees, ${a.vmalloc.purges} purges`);
  return `${out.join('\n')}\n`;
}
