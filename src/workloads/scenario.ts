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
  /** Called now and then with the share of the run done, for a progress bar. */
  progress?: (done: number, total: number) => void;
}

export interface Scenario {
  name: string;
  /** One line for `mmlab scenarios`. */
  description: string;
  /** Machine defaults the scenario is meant for; the command line overrides them. */
  machine: Partial<MachineConfig>;
  defaultSteps: number;
  run(m: Machine, opts: RunOptions): ScenarioResult;
}
