/**
 * Where a trace comes from on the command line: a capture directory (`mmlab capture`'s trace.txt.gz, formats/,
 * kernel and proc/start/buddyinfo), a trace file (plain or gzip), or '-' for standard input.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseOptions } from './parse.js';

export interface TraceSource {
  /** The file to read ('-' for stdin) and the name messages give it. */
  file: string;
  label: string;
  /** Options for the parser: the capture's formats and kernel unless given. */
  parse: ParseOptions;
  /** The capture's buddyinfo snapshot from when it started, if it has one. */
  buddyinfo?: string;
}

/** Resolve `path`; `given` options win over what a capture directory says. Throws an Error naming the path. */
export function resolveTraceSource(path: string, given: ParseOptions = {}): TraceSource {
  if (path === '-') return { file: '-', label: '<stdin>', parse: { file: '<stdin>', ...given } };
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
  if (!statSync(path).isDirectory()) return { file: path, label: path, parse: { file: path, ...given } };
  const file = ['trace.txt.gz', 'trace.txt'].map((f) => join(path, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`${path}: a directory without trace.txt.gz or trace.txt (expected a mmlab capture directory)`);
  const formats = join(path, 'formats');
  const kernel = join(path, 'kernel');
  const buddyinfo = join(path, 'proc', 'start', 'buddyinfo');
  return {
    file,
    label: file,
    parse: {
      file,
      formats: existsSync(formats) ? formats : undefined,
      kernel: existsSync(kernel) ? readFileSync(kernel, 'utf8').trim() : undefined,
      ...given,
    },
    buddyinfo: existsSync(buddyinfo) ? buddyinfo : undefined,
  };
}
