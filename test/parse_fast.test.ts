/**
 * The parser's fast paths (ftrace's fixed columns, the payload shapes of parse_shapes.ts, and parseBytes'
 * reading of lines from the bytes) against its general reading: every line read by a parser that has seen nothing
 * before (so no shape exists yet) must give the record, counts and error that one parser reading the whole
 * text gives, as bytes and as bytes into reused records. Real captures, and real lines mutated in the ways that must turn a shape down.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { copyRecord, parseTrace, TraceParser, type ParseOptions, type TraceRecord } from '../src/trace/parse.js';

const FIX = fileURLToPath(new URL('./fixtures/', import.meta.url));

function text(rel: string): string {
  const b = readFileSync(FIX + rel);
  return (rel.endsWith('.gz') ? gunzipSync(b) : b).toString('utf8');
}

interface Outcome {
  recs: Array<TraceRecord | string>;
  lines: number;
  records: number;
  skipped: number;
  malformed: number;
  unknown: Record<string, number>;
}

/** The general reading: one new parser per line (and the line's error, if any, in place of its record). */
function general(lines: string[], opts: ParseOptions): Outcome {
  const out: Outcome = { recs: [], lines: 0, records: 0, skipped: 0, malformed: 0, unknown: {} };
  for (const l of lines) {
    const p = new TraceParser(opts);
    try {
      const r = p.parseLine(l);
      if (r !== null) out.recs.push(r);
    } catch (e) {
      out.recs.push((e as Error).message.replace(/:1: /, ':?: '));
    }
    const st = p.stats;
    out.lines += st.lines;
    out.records += st.records;
    out.skipped += st.skipped;
    out.malformed += st.malformed;
    for (const [k, v] of Object.entries(st.unknown)) out.unknown[k] = (out.unknown[k] ?? 0) + v;
  }
  return out;
}

/**
 * One parser reading the lines as one text (parseText: its UTF-8 read from the bytes where it can), or as bytes
 * into reused records, resuming after an error.
 */
function fast(lines: string[], opts: ParseOptions, eol = '\n', as: 'text' | 'reused' = 'text'): Outcome {
  const p = new TraceParser(opts);
  const recs: Outcome['recs'] = [];
  let rest = lines;
  while (rest.length > 0) {
    const before = p.stats.lines;
    try {
      const text = rest.join(eol) + eol;
      if (as === 'text') p.parseText(text, (r) => recs.push(r));
      else p.parseBytes(Buffer.from(text, 'utf8'), (r) => recs.push(copyRecord(r)), true);
      rest = [];
    } catch (e) {
      recs.push((e as Error).message.replace(/:\d+: /, ':?: '));
      rest = rest.slice(p.stats.lines - before);
    }
  }
  const st = p.stats;
  return { recs, lines: st.lines, records: st.records, skipped: st.skipped, malformed: st.malformed, unknown: { ...st.unknown } };
}

/** Real event lines of a fixture (the first n). */
function real(rel: string, n = 3000): string[] {
  return text(rel).split('\n').filter((l) => l !== '').slice(0, n);
}

/** Ways to change a real line that a shape must refuse or read exactly as scanFields does. */
const MUTATIONS: Array<[string, (l: string) => string]> = [
  ['raw "(dec)" after a number', (l) => l.replace(/(order=\d+|bytes_req=\d+)/, '$1 (7)')],
  ['comma inside a value', (l) => l.replace(/call_site=/, 'call_site=a,b')],
  ['trailing comma', (l) => l.replace(/ptr=(\S+)/, 'ptr=$1,')],
  ['a word that is no field', (l) => l.replace(/: (\w+=)/, ': hello $1')],
  ['a field more', (l) => `${l} newfield=12`],
  ['a field less', (l) => l.replace(/ gfp_flags=\S+/, '')],
  ['number not a number', (l) => l.replace(/(order|bytes_alloc)=\d+/, '$1=12x')],
  ['hex without digits', (l) => l.replace(/pfn=0x[0-9a-f]+/, 'pfn=0x')],
  ['negative hex', (l) => l.replace(/bytes_req=\d+/, 'bytes_req=-0x10')],
  ['bad gfp', (l) => l.replace(/gfp_flags=\S+/, 'gfp_flags=GFP_NONSENSE')],
  ['gfp none', (l) => l.replace(/gfp_flags=\S+/, 'gfp_flags=none')],
  ['NULL pointer forms', (l) => l.replace(/ptr=\S+/, 'ptr=(null)').replace(/page=\S+/, 'page=0x0')],
  ['unhashed kernel address', (l) => l.replace(/ptr=\S+/, 'ptr=ffff888100a3c000')],
  ['odd pointer', (l) => l.replace(/ptr=\S+/, 'ptr=ff11000012345678')],
  ['tab separator', (l) => l.replace(/ (bytes_req|order)=/, '\t$1=')],
  ['two spaces', (l) => l.replace(/ (bytes_req|order)=/, '  $1=')],
  ['boolean as digit', (l) => l.replace(/accounted=false/, 'accounted=1')],
  ['stray carriage return', (l) => l.replace(/ (bytes_req|order)=/, '\r $1=')],
  ['carriage return after the last field', (l) => `${l}\r tail=1`],
  ['4-character flags', (l) => l.replace(/\] (\S)\S(\S\S)\S /, '] $1$2. ')],
  ['no flags column', (l) => l.replace(/\] \S+ +/, '] ')],
  ['record-tgid column', (l) => l.replace(/ \[(\d{3})\]/, ' (   42) [$1]')],
  ['comm longer than 16', (l) => l.replace(/^ *\S+?-(\d+)/, 'averyveryverylongcomm-$1')],
  ['comm with spaces', (l) => l.replace(/^ {0,5}(\S)/, 'Web $1')],
  ['comm not ASCII', (l) => l.replace(/^ {0,6}(\S)/, 'Bäckerei-$1')],
  ['call site not ASCII', (l) => l.replace(/call_site=/, 'call_site=ü')],
  ['pid of 8 digits', (l) => l.replace(/-(\d+) +\[/, '-12345678 [')],
  ['cpu of 4 digits', (l) => l.replace(/\[(\d{3})\]/, '[1$1]')],
  ['unknown event', (l) => l.replace(/: (kmalloc|kfree|mm_page_alloc|kmem_cache_free):/, ': sched_switch:')],
  ['perf-style system prefix', (l) => l.replace(/: (kmalloc|kfree):/, ': kmem:$1:')],
  ['timestamp without fraction', (l) => l.replace(/(\d+)\.\d+: /, '$1: ')],
  ['short line', () => 'x'],
  ['blank', () => ''],
  ['comment', () => '# tracer: nop'],
];

const OPTS: ParseOptions[] = [{}, { lenient: true }, { kernel: '4.3', lenient: true }];

describe('fast paths read as the general reading does', () => {
  for (const rel of ['captures/ls.txt.gz', 'captures/compile.txt.gz', 'captures/net.txt.gz', 'real/page-alloc.txt', 'real/slab.txt', 'real/vmalloc.txt', 'traces/slab.txt.gz', 'traces/tgid.txt', 'real/perf-script.txt']) {
    it(`${rel}: the same records and counts, line by line and as one text`, () => {
      const lines = real(rel);
      for (const opts of OPTS) {
        const g = general(lines, opts);
        expect(fast(lines, opts)).toEqual(g);
        expect(fast(lines, opts, '\r\n')).toEqual(g);
        expect(fast(lines, opts, '\n', 'reused')).toEqual(g);
      }
    });
  }

  it('every mutation, after the shapes are learnt, reads (or fails) as the general reading does', () => {
    const base = real('captures/ls.txt.gz', 400).concat(real('real/page-alloc.txt', 200));
    for (const [name, mutate] of MUTATIONS) {
      const lines = base.flatMap((l, i) => (i % 7 === 3 ? [mutate(l)] : [l]));
      for (const opts of OPTS) {
        const g = general(lines, opts);
        expect(fast(lines, opts), name).toEqual(g);
        expect(fast(lines, opts, '\n', 'reused'), name).toEqual(g);
      }
    }
  });

  it('random interleavings of real and mutated lines (fast-check)', () => {
    const base = real('captures/ls.txt.gz', 300).concat(real('captures/net.txt.gz', 100));
    const runs = Number(process.env.MMLAB_PROPERTY_RUNS ?? 20);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.option(fc.nat(MUTATIONS.length - 1), { nil: undefined })), { minLength: 1, maxLength: 120 }),
        fc.constantFrom(...OPTS),
        (picks, opts) => {
          const lines = picks.map(([i, mu]) => (mu === undefined ? base[i] : MUTATIONS[mu][1](base[i])));
          const g = general(lines, opts);
          expect(fast(lines, opts)).toEqual(g);
          expect(fast(lines, opts, '\n', 'reused')).toEqual(g);
        },
      ),
      { numRuns: runs },
    );
  });

  it('a text without a final newline, and one ending in a lone carriage return', () => {
    const lines = real('captures/ls.txt.gz', 50);
    const p = new TraceParser();
    const got: TraceRecord[] = [];
    p.parseText(lines.join('\n'), (r) => got.push(r));
    expect(got).toEqual(general(lines, {}).recs);
    const q = new TraceParser({ lenient: true });
    const last: TraceRecord[] = [];
    q.parseText(lines.join('\n') + '\r', (r) => last.push(r));
    expect(last).toEqual(general([...lines.slice(0, -1), lines[lines.length - 1] + '\r'], { lenient: true }).recs);
  });

  it('a stream gives the records before a malformed line, then its error', async () => {
    const lines = real('captures/ls.txt.gz', 50);
    const bad = lines[30].replace(/(bytes_alloc|order)=\d+/, '$1=12x');
    expect(bad).not.toBe(lines[30]);
    const got: TraceRecord[] = [];
    const text = [...lines.slice(0, 30), bad, ...lines.slice(31)].join('\n') + '\n';
    await expect((async () => {
      for await (const r of parseTrace(Readable.from([Buffer.from(text)]))) got.push(copyRecord(r));
    })()).rejects.toThrow(/^<input>:31: \w+: field '(bytes_alloc|order)': expected a number, got '12x'$/);
    expect(got).toEqual(general(lines.slice(0, 30), {}).recs);
  });
});
