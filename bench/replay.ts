/**
 * Trace figures for `npm run bench`: parse-only and parse+replay throughput on a 200,000-event trace. The
 * input is built at run time, never committed: the first 200,000 lines of a real capture when one is found
 * ($MMLAB_BENCH_TRACE, else /tmp/mmlab-captures/ls/trace.txt.gz, as `mmlab capture` writes it), otherwise the
 * model's own trace of a page and kmalloc workload. The bytes are inflated beforehand and cut into 64 KiB
 * pieces that end after a newline, as byteChunks gives them to `mmlab replay`, so the figures are the
 * parser's and the replay's, not gunzip's. A pass is timed whole (TraceParser.parseBytes with Replayer.step as
 * its sink and records reused, as `mmlab replay` runs it, on a machine booted outside the timing); the figure
 * is the median pass, in ns per event.
 */
import { createReadStream, existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { GFP, Machine } from '../src/index.js';
import { NO_PAGE } from '../src/mm/page.js';
import { byteChunks, lines as textLines, parseTrace, TraceParser, type TraceRecord } from '../src/trace/parse.js';
import { impliedMemBytes, Replayer, traceExtent, type ReplayLayer } from '../src/trace/replay.js';
import { median, mulberry32, type Measurement } from './harness.js';

export const REPLAY_EVENTS = 200_000;
/** Issue 8's target for parse+replay. */
export const TARGET_REPLAY_EVENTS_PER_SEC = 1_000_000;

export interface TraceInput {
  source: string;
  lines: string[];
}

/** 200,000 event lines: a real capture's prefix when there is one, else the model's own trace. */
export async function traceInput(): Promise<TraceInput> {
  const path = process.env.MMLAB_BENCH_TRACE ?? '/tmp/mmlab-captures/ls/trace.txt.gz';
  if (existsSync(path)) {
    // Streamed: a capture inflates to more than a string can hold; only its head is read.
    const stream = createReadStream(path);
    const lines: string[] = [];
    for await (const l of textLines(stream)) {
      if (l !== '' && l[0] !== '#') lines.push(l);
      if (lines.length >= REPLAY_EVENTS) break;
    }
    stream.destroy();
    if (lines.length >= REPLAY_EVENTS) return { source: `${path} (first ${REPLAY_EVENTS} events)`, lines };
  }
  return { source: 'the model\'s own trace (page allocations, kmalloc/kfree)', lines: modelTrace() };
}

/** REPLAY_EVENTS lines of the model's own trace of a page and kmalloc workload (deterministic). */
export function modelTrace(): string[] {
  const m = Machine.boot({ mem: '1G', nrCpus: 2, seed: 1 });
  m.trace.enable(['mm_page_alloc', 'mm_page_free', 'kmalloc', 'kfree']);
  const u32 = mulberry32(8);
  const rng = (): number => u32() / 2 ** 32; // [0, 1)
  const pages: Array<[number, number]> = [];
  const objs: number[] = [];
  while (countLines(m) < REPLAY_EVENTS) {
    for (let i = 0; i < 10_000; i++) {
      const r = rng();
      if (r < 0.15) {
        const order = rng() < 0.8 ? 0 : 1 + Math.floor(rng() * 3);
        const pfn = m.allocPages(GFP.KERNEL | GFP.NOWARN, order);
        if (pfn !== NO_PAGE) pages.push([pfn, order]);
      } else if (r < 0.3) {
        if (pages.length > 0) {
          const [pfn, order] = pages.splice(Math.floor(rng() * pages.length), 1)[0];
          m.freePages(pfn, order);
        }
      } else if (r < 0.65 || objs.length === 0) {
        const obj = m.kmalloc(8 + Math.floor(rng() * 2000), GFP.KERNEL);
        if (obj !== 0) objs.push(obj);
      } else {
        m.kfree(objs.splice(Math.floor(rng() * objs.length), 1)[0]);
      }
    }
  }
  return m.trace.text().split('\n').filter((l) => l !== '' && l[0] !== '#').slice(0, REPLAY_EVENTS);
}

/** Records in the machine's trace ring (its private count: text() would format them all each round). */
function countLines(m: Machine): number {
  return (m.trace as unknown as { count: number }).count;
}

function passes(budgetMs: number, pass: () => number): number[] {
  const ns: number[] = [];
  const t0 = performance.now();
  while (ns.length < 3 || (performance.now() - t0 < budgetMs && ns.length < 25)) ns.push(pass());
  return ns;
}

function measurement(passNs: number[], events: number): Measurement {
  const per = passNs.map((n) => n / events).sort((a, b) => a - b);
  const med = median(per);
  return {
    nsPerOp: med, opsPerSec: 1e9 / med, minNs: per[0], p25Ns: per[Math.floor(per.length / 4)], p75Ns: per[Math.floor((per.length * 3) / 4)],
    samples: per.length, opsPerSample: events,
  };
}

const hr = (): number => Number(process.hrtime.bigint());

/** `lines` as UTF-8 bytes read 64 KiB at a time and cut after a newline, as byteChunks gives a file to `mmlab replay`. */
async function chunked(lines: string[]): Promise<Buffer[]> {
  const bytes = Buffer.from(lines.join('\n') + '\n', 'utf8');
  const reads: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1 << 16) reads.push(bytes.subarray(at, at + (1 << 16)));
  const out: Buffer[] = [];
  for await (const c of byteChunks(Readable.from(reads))) out.push(c);
  return out;
}

/** parse-only, and parse+replay under each layer. */
export async function replayFigures(budgetMs: number, progress: (s: string) => void): Promise<{ source: string; memBytes: number; figures: Record<string, Measurement> }> {
  progress('trace input');
  const input = await traceInput();
  const lines = input.lines;
  const chunks = await chunked(lines);
  // The implied machine, from a first (untimed) pass.
  const memBytes = impliedMemBytes((await traceExtent(parseTrace(Readable.from(chunks)))).pfnEnd);
  const figures: Record<string, Measurement> = {};
  progress('trace.parse');
  figures['trace.parse'] = measurement(passes(budgetMs, () => {
    const p = new TraceParser();
    let n = 0;
    const count = (): void => {
      n++;
    };
    const t = hr();
    for (const c of chunks) p.parseBytes(c, count, true);
    const dt = hr() - t;
    if (n === 0) throw new Error('bench trace.parse: no records');
    return dt;
  }), lines.length);
  for (const layer of ['pages', 'slab', 'all'] as ReplayLayer[]) {
    progress(`trace.parse_replay.${layer}`);
    figures[`trace.parse_replay.${layer}`] = measurement(passes(budgetMs, () => {
      const m = Machine.boot({ mem: memBytes, nrCpus: 2 });
      const p = new TraceParser();
      const rp = new Replayer(m, { layer });
      const step = (r: TraceRecord): void => rp.step(r);
      const t = hr();
      for (const c of chunks) p.parseBytes(c, step, true);
      rp.finish();
      return hr() - t;
    }), lines.length);
  }
  return { source: input.source, memBytes, figures };
}
