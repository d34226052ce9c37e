/**
 * The mmlab command. `mmlab run [SCENARIO]` boots a machine, runs a scenario and prints a summary (or JSON,
 * or writes a directory of /proc files, trace, dmesg and result.json); `mmlab scenarios` lists scenarios and
 * the parameters they take (`--param key=value`); `mmlab capture` records the running kernel's kmem and vmalloc
 * tracepoints (src/trace/capture.ts); `mmlab replay` replays such a trace on the model (src/cli/replay.ts).
 * Bad options get one clear message and exit status 2.
 */
import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY, kernelVersionCode, parseSize, type MachineConfig } from '../config.js';
import { Machine } from '../machine.js';
import { PROC_NAMES } from '../proc/index.js';
import { DEFAULT_SCENARIO, findScenario, SCENARIOS } from '../workloads/index.js';
import { resolveParams, unknownParam, type ScenarioResult } from '../workloads/scenario.js';
import { capture, CaptureUsageError, defaultCaptureDir, MAX_BUFFER_KB, parseEventList } from '../trace/capture.js';
import { formatResult } from './report.js';
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

interface RunOpts {
  arch: string;
  mem?: string;
  cpus: string;
  seed: string;
  steps?: string;
  json?: boolean;
  out?: string;
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
  const result = scenario.run(m, { seed: cfg.seed ?? 1, steps, params, machineConfig: cfg, compare: opts.compare === true, progress: bar?.update });
  bar?.stop();
  const doc = resultDocument(m, result);
  if (opts.out) writeOutDir(opts.out, m, doc);
  if (opts.json) out.write(JSON.stringify(doc, null, 2) + '\n');
  else out.write(formatResult(m, result) + (opts.out ? `\nwrote ${opts.out}/\n` : ''));
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
