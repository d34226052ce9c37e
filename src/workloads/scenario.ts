/**
 * Scenarios: a named workload that boots on a machine, runs, and returns a result that the CLI prints as
 * tables, writes as JSON, and (later) plots. A scenario is deterministic for a given machine config and seed.
 */
import type { MachineConfig } from '../config.js';
import type { Machine } from '../machine.js';

export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
}

export interface ScenarioResult {
  scenario: string;
  /** One-paragraph reading of the result for a person. */
  summary: string[];
  tables: Table[];
  /** Machine-readable figures (goes into result.json). */
  metrics: Record<string, unknown>;
}

export interface RunOptions {
  seed: number;
  /** Scale of the run (operations); each scenario has its default. */
  steps?: number;
  /**
   * The scenario's parameters as given (`--param key=value`); absent or empty means all defaults. Optional so
   * that callers of scenarios without parameters need not pass it.
   */
  params?: Record<string, string>;
  /**
   * The configuration `m` was booted with: a scenario that compares variants boots a fresh machine from it
   * for each variant after the first, so that every variant starts from the same state.
   */
  machineConfig?: MachineConfig;
  /** Print the side-by-side comparison only (`--compare`), for scenarios that compare variants. */
  compare?: boolean;
  /** Called now and then with the share of the run done, for a progress bar. */
  progress?: (done: number, total: number) => void;
  /**
   * Called from the step loop about SAMPLES_PER_RUN times per design or phase with the machine being run and a
   * label naming that design or phase, for the report's timelines (report/html.ts timelineCollector). Only
   * reads the machine: a run with it gives the same result as one without.
   */
  sample?: (m: Machine, label: string) => void;
}

/** How many times a scenario calls RunOptions.sample per design or phase (about). */
export const SAMPLES_PER_RUN = 1000;

/** Call RunOptions.sample every this many steps of a run of `steps` steps. */
export function timelineStride(steps: number): number {
  return Math.max(1, Math.floor(steps / SAMPLES_PER_RUN));
}

export interface Scenario {
  name: string;
  /** One line for `mmlab scenarios`. */
  description: string;
  /** Machine defaults the scenario is meant for; the command line overrides them. */
  machine: Partial<MachineConfig>;
  defaultSteps: number;
  /** The parameters it accepts, with their defaults (as strings, as the command line gives them). */
  params?: Record<string, ScenarioParam>;
  /**
   * Check parameter values (defaults filled in); throws an Error naming the parameter and what was expected.
   * The CLI calls it before booting, so that a bad value is a usage error; run() checks again.
   */
  checkParams?(params: Record<string, string>): void;
  run(m: Machine, opts: RunOptions): ScenarioResult;
}

export interface ScenarioParam {
  default: string;
  description: string;
}

/** The message for a parameter `s` does not declare, or undefined if every key in `given` is one of its. */
export function unknownParam(s: Scenario, given: Record<string, string>): string | undefined {
  const decl = s.params ?? {};
  const bad = Object.keys(given).find((k) => !Object.hasOwn(decl, k));
  if (bad === undefined) return undefined;
  const known = Object.keys(decl);
  return `unknown parameter '${bad}' for ${s.name} (${known.length ? `expected one of: ${known.join(', ')}` : 'it takes no parameters'})`;
}

/**
 * The parameters a run gets: the scenario's defaults overridden by `given`, checked by the scenario. An unknown
 * key or a bad value throws an Error that names the parameter and what was expected.
 */
export function resolveParams(s: Scenario, given: Record<string, string> = {}): Record<string, string> {
  const unknown = unknownParam(s, given);
  if (unknown) throw new Error(unknown);
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries(s.params ?? {})) out[k] = p.default;
  Object.assign(out, given);
  s.checkParams?.(out);
  return out;
}
