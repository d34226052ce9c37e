/**
 * Where a trace comes from on the command line: a capture directory (`mmlab capture`'s trace.txt.gz, formats/
 * and kernel), a trace file (plain or gzip), or '-' for standard input.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openTrace, type ParseOptions } from './parse.js';
import type { Readable } from 'node:stream';

export interface TraceSource {
  input: Readable;
  /** Options for the parser: the file name for messages, the capture's formats and kernel unless given. */
  parse: ParseOptions;
}

/** Open `path`; `given` options win over what a capture directory says. Throws an Error naming the path. */
export function openTraceSource(path: string, given: ParseOptions = {}): TraceSource {
  if (path !== '-' && !existsSync(path)) throw new Error(`${path}: no such file or directory`);
  if (path !== '-' && statSync(path).isDirectory()) {
    const trace = ['trace.txt.gz', 'trace.txt'].map((f) => join(path, f)).find((f) => existsSync(f));
    if (!trace) throw new Error(`${path}: a directory without trace.txt.gz or trace.txt (expected a mmlab capture directory)`);
    const formats = join(path, 'formats');
    const kernel = join(path, 'kernel');
    return {
      input: openTrace(trace),
      parse: {
        file: trace,
        formats: existsSync(formats) ? formats : undefined,
        kernel: existsSync(kernel) ? readFileSync(kernel, 'utf8').trim() : undefined,
        ...given,
      },
    };
  }
  return { input: openTrace(path), parse: { file: path === '-' ? '<stdin>' : path, ...given } };
}
