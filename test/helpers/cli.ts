/** Runs the mmlab command in-process and collects what it prints. */
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** `mmlab ARGS...`: its exit status and output. */
export async function mmlab(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}
