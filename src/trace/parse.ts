/**
 * Reads kernel memory tracepoint text back into records: ftrace's `trace` / `trace_pipe` (with or without the
 * irq-flags column, 4 or 5 characters, with or without record-tgid's `(TGID)`), `perf script`
 * (`comm pid[/tid] [CPU] secs: kmem:event: ...`), `trace-cmd report` (and its `cpus=N` / `version =` header),
 * and payloads without the envelope (`mm_page_alloc: pfn=... gfp_flags=0xcc0`). The envelope is
 * kernel/trace/trace_output.c's (trace_print_context, trace_print_lat_fmt); the payloads are parse_fields.ts'.
 * A stream (plain or gzip) is read a chunk at a time, so memory stays constant however long the trace.
 *
 * Two readings give the same records, counts and errors (test/parse_fast.test.ts holds them to it):
 *   - parseLine: the general reading of one line (any layout above; every error named by file, line, field),
 *     its payload first tried by the event's shapes (parse_shapes.ts: one regular expression per layout the
 *     event's lines printed), then field by field (parse_fields.ts);
 *   - parseBytes (parseText, streams, `each`): lines in ftrace's own columns read from the bytes without
 *     decoding (parse_bytes.ts), records reused for callers that keep none (forEachRecord); any other line is
 *     decoded and given to parseLine.
 * Departures: a trace's `%p` values are hashed, so `ptr` stays text (with `ptrKey`, its number); `page=` is
 * only read for NULL (perf prints it as the pfn).
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  dec, DEFAULT_REQUIRED, FieldError, FRAC_SCALE, FIELDS, K_ADDR, K_ADDR_DEC, K_HEX, K_INT, K_STR, maskOf, makeRecord, scanFields,
  type EventSchema, type FieldOptions, type TraceRecord,
} from './parse_fields.js';
import { ByteLines } from './parse_bytes.js';
import { learnShape, NO_SHAPE, readShaped, SHAPE_SPOILT, SHAPED } from './parse_shapes.js';

export type { TraceRecord } from './parse_fields.js';
export { copyRecord } from './parse_fields.js';

/** A malformed line of a known event: names the file, line and field. */
export class TraceParseError extends Error {
  constructor(readonly file: string, readonly line: number, readonly event: string, readonly field: string, detail: string) {
    super(`${file}:${line}: ${event}: field '${field}': ${detail}`);
    this.name = 'TraceParseError';
  }
}

export interface ParseOptions {
  /** Name for messages (default `<input>`). */
  file?: string;
  /** The kernel that wrote the trace (`uname -r` style): GFP names and hex, and migratetype numbers (< 4.4). */
  kernel?: string;
  /** Skip and count malformed lines instead of throwing. */
  lenient?: boolean;
  /** A directory of tracefs format files (`<event>/format` or `<system>/<event>/format`), or ones already read. */
  formats?: string | Map<string, EventFormat>;
  /** Messages of malformed lines kept in stats.messages (default 10). */
  maxMessages?: number;
}

export interface ParseStats {
  lines: number;
  records: number;
  byEvent: Record<string, number>;
  /** Event lines of events the parser does not read, by name. */
  unknown: Record<string, number>;
  malformed: number;
  /** The first malformed lines' messages. */
  messages: string[];
  /** Lines that are no event line: comments, headers, blank. */
  skipped: number;
}

/** An event's `print fmt:` reduced to its fields: name and printf conversion, in print order. */
export interface EventFormat {
  event: string;
  fields: Array<{ name: string; conv: string }>;
}

/** Reads a tracefs format file's name and `print fmt:` fields (`pfn=0x%lx` → pfn, `0x%lx`; `order=0` → `0`). */
export function parseFormat(text: string): EventFormat {
  const event = /^name: (\S+)/m.exec(text)?.[1];
  const fmt = /^print fmt: "((?:[^"\\]|\\.)*)"/m.exec(text)?.[1];
  if (event === undefined || fmt === undefined) throw new Error('parseFormat: no "name:" or "print fmt:" line');
  const fields: EventFormat['fields'] = [];
  for (const m of fmt.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=|: )(0x%[a-z]+|%[a-zA-Z]+|[0-9]+)/g)) {
    fields.push({ name: m[1]!, conv: m[2]! });
  }
  return { event, fields };
}

/** Every `format` file under `dir` (tracefs' events/ layout, one or two levels deep), by event name. */
export function readFormats(dir: string): Map<string, EventFormat> {
  const out = new Map<string, EventFormat>();
  const walk = (d: string, depth: number): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (e === 'format' && statSync(p).isFile()) {
        const f = parseFormat(readFileSync(p, 'utf8'));
        out.set(f.event, f);
      } else if (depth < 3 && statSync(p).isDirectory()) walk(p, depth + 1);
    }
  };
  walk(dir, 0);
  return out;
}

/** A format conversion's field kind: `%lu` decimal, `%lx` hex even without 0x, `%s` text. */
function kindOfConv(name: string, conv: string): number | undefined {
  const known = FIELDS.get(name)?.kind;
  if (conv.startsWith('0x') || /^%l*x$/.test(conv)) return known === K_ADDR ? K_ADDR : K_HEX;
  if (/^%[lz]*[du]$/.test(conv) || /^[0-9]+$/.test(conv)) return known === K_ADDR ? K_ADDR_DEC : known ?? K_INT;
  return known ?? K_STR;
}

function schemaOf(event: string, fmt: EventFormat | undefined): EventSchema | undefined {
  const base = DEFAULT_REQUIRED[event];
  if (fmt === undefined) {
    if (base === undefined) return undefined;
    // alloc_vmap_area prints "va_start: %lu": a decimal address.
    const kinds = event === 'alloc_vmap_area' ? new Map([['va_start', K_ADDR_DEC]]) : undefined;
    const [reqLo, reqHi] = maskOf(base);
    return { event, reqLo, reqHi, requiredKeys: base, kinds, order: [], count: 0, shapes: [], learnt: 0 };
  }
  const kinds = new Map<string, number>();
  for (const f of fmt.fields) kinds.set(f.name, kindOfConv(f.name, f.conv) ?? K_STR);
  const keys = fmt.fields.map((f) => f.name).filter((k) => FIELDS.has(k) && k !== 'page');
  const [reqLo, reqHi] = maskOf(keys);
  return { event, reqLo, reqHi, requiredKeys: keys, kinds, order: [], count: 0, shapes: [], learnt: 0 };
}

const KNOWN_EVENTS = Object.keys(DEFAULT_REQUIRED);

/** The line-at-a-time parser: holds the options, the schemas, the line number and the counts. */
export class TraceParser {
  private readonly st: ParseStats = { lines: 0, records: 0, byEvent: {}, unknown: {}, malformed: 0, messages: [], skipped: 0 };
  /** Schemas with records, for stats.byEvent (counted per schema: a keyed object store per line is slow). */
  private readonly counted: Array<[string, EventSchema]> = [];

  /** The counts so far. */
  get stats(): ParseStats {
    for (const [ev, schema] of this.counted) this.st.byEvent[ev] = schema.count;
    return this.st;
  }
  readonly file: string;
  private readonly lenient: boolean;
  private readonly maxMessages: number;
  private readonly schemas = new Map<string, EventSchema>();
  private readonly fo: FieldOptions;
  private byteLines: ByteLines | undefined;

  constructor(opts: ParseOptions = {}) {
    this.file = opts.file ?? '<input>';
    this.lenient = opts.lenient ?? false;
    this.maxMessages = opts.maxMessages ?? 10;
    const formats = typeof opts.formats === 'string' ? readFormats(opts.formats) : opts.formats;
    const m = opts.kernel === undefined ? undefined : /^v?(\d+)\.(\d+)/.exec(opts.kernel.trim());
    if (opts.kernel !== undefined && m == null) {
      throw new Error(`trace parse: cannot read kernel version '${opts.kernel}'; expected e.g. '6.18' or '4.3'`);
    }
    const version = m == null ? Infinity : Number(m[1]) * 1000 + Number(m[2]);
    this.fo = { kernel: opts.kernel, oldMigratetypes: version < 4004 };
    const events = new Set([...KNOWN_EVENTS, ...(formats?.keys() ?? [])]);
    for (const ev of events) {
      if (DEFAULT_REQUIRED[ev] === undefined) continue; // a format alone does not make an event known
      const s = schemaOf(ev, formats?.get(ev));
      if (s !== undefined) this.schemas.set(ev, s);
    }
  }

  /**
   * One line (without its newline): the record, or null for a line that is no event line, an unknown event,
   * or (lenient) a malformed one. Throws TraceParseError for a malformed line unless lenient.
   */
  parseLine(line: string): TraceRecord | null {
    const st = this.st;
    const lineNo = ++st.lines;
    if (!envelope(line)) {
      st.skipped++;
      return null;
    }
    const schema = this.schemas.get(eEvent);
    if (schema === undefined) {
      st.unknown[eEvent] = (st.unknown[eEvent] ?? 0) + 1;
      return null;
    }
    // The schema's name, not the line's copy: a constant, which later comparisons match by identity.
    let rec = makeRecord(schema.event, eComm, ePid, eTgid, eCpu, eTs, eFlags);
    const shaped = schema.shapes.length === 0 ? NO_SHAPE : readShaped(rec as unknown as Record<string, unknown>, line, fieldStart, schema, this.fo);
    if (shaped === SHAPED) return this.counted1(schema, rec);
    if (shaped === SHAPE_SPOILT) rec = makeRecord(schema.event, eComm, ePid, eTgid, eCpu, eTs, eFlags);
    try {
      scanFields(rec as unknown as Record<string, unknown>, line, fieldStart, schema, this.fo);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      const err = new TraceParseError(this.file, lineNo, rec.event, e.field, e.message);
      if (!this.lenient) throw err;
      st.malformed++;
      if (st.messages.length < this.maxMessages) st.messages.push(err.message);
      return null;
    }
    if (shaped === NO_SHAPE) learnShape(schema, line, fieldStart);
    return this.counted1(schema, rec);
  }

  private counted1(schema: EventSchema, rec: TraceRecord): TraceRecord {
    this.st.records++;
    if (schema.count++ === 0) this.counted.push([rec.event, schema]);
    return rec;
  }

  /** The records of the lines of `text`, in order, to `sink` (parseBytes of its UTF-8). */
  parseText(text: string, sink: (r: TraceRecord) => void): void {
    this.parseBytes(Buffer.from(text, 'utf8'), sink);
  }

  /**
   * The records of the lines of UTF-8 `b` (whole lines), in order, to `sink`: lines in ftrace's own layout that
   * a learnt shape reads are read from the bytes (parse_bytes.ts); any other line is decoded and read by
   * parseLine. `transient`: the sink keeps no record after it returns, so records may be reused (copyRecord
   * keeps one).
   */
  parseBytes(b: Buffer, sink: (r: TraceRecord) => void, transient = false): void {
    const n = b.length;
    const bl = (this.byteLines ??= new ByteLines(this.schemas, this.fo));
    bl.transient = transient;
    let at = 0;
    while (at < n) {
      const r = bl.line(b, at, n);
      if (r !== null) {
        this.st.lines++;
        sink(this.counted1(bl.schema!, r));
        at = bl.end + 1;
        continue;
      }
      let nl = b.indexOf(10, at);
      if (nl < 0) nl = n;
      const rec = this.parseLine(b.toString('utf8', at, nl > at && b[nl - 1] === 13 ? nl - 1 : nl));
      if (rec !== null) sink(rec);
      at = nl + 1;
    }
  }

  /** Records of a stream of text or bytes (gzip detected by its magic). */
  async *parse(input: AsyncIterable<string | Buffer | Uint8Array>): AsyncGenerator<TraceRecord> {
    const batch: TraceRecord[] = [];
    const push = (r: TraceRecord): void => {
      batch.push(r);
    };
    for await (const bytes of byteChunks(input)) {
      try {
        this.parseBytes(bytes, push);
      } catch (e) {
        yield* batch; // the records before the malformed line come first, as they would line by line
        throw e;
      }
      yield* batch;
      batch.length = 0;
    }
  }

  /**
   * Every record of a stream to `sink`, without a promise per record (parse() makes one per record). With
   * `transient`, the sink keeps no record after it returns (see parseBytes).
   */
  async each(input: AsyncIterable<string | Buffer | Uint8Array>, sink: (r: TraceRecord) => void, transient = false): Promise<void> {
    for await (const bytes of byteChunks(input)) this.parseBytes(bytes, sink, transient);
  }
}

/** What parseTrace returns: the records, one at a time or (each) all to a callback, and the counts. */
export interface ParsedTrace extends AsyncIterable<TraceRecord> {
  readonly stats: ParseStats;
  each(sink: (r: TraceRecord) => void, transient?: boolean): Promise<void>;
}

/** The records of `input`, with the parser's counts as `.stats` (complete once the iteration ends). */
export function parseTrace(input: AsyncIterable<string | Buffer | Uint8Array>, opts: ParseOptions = {}): ParsedTrace {
  const p = new TraceParser(opts);
  return {
    get stats() {
      return p.stats;
    },
    each: (sink, transient) => p.each(input, sink, transient),
    [Symbol.asyncIterator]: () => p.parse(input),
  };
}

/**
 * Calls `sink` with every record of `records`: a ParsedTrace's through its `each` (no promise per record),
 * an array's or iterator's synchronously, any other async iterable's one by one. The record given to `sink`
 * is valid until it returns (a ParsedTrace reuses records): copyRecord() one to keep it.
 */
export async function forEachRecord(records: AsyncIterable<TraceRecord> | Iterable<TraceRecord>, sink: (r: TraceRecord) => void): Promise<void> {
  const x = records as Partial<ParsedTrace> & Partial<Iterable<TraceRecord>> & AsyncIterable<TraceRecord>;
  if (typeof x.each === 'function') await x.each(sink, true);
  else if (typeof x[Symbol.iterator] === 'function') for (const r of x as Iterable<TraceRecord>) sink(r);
  else for await (const r of x) sink(r);
}

/** A trace file's bytes, or stdin's for '-'. */
export function openTrace(path: string): Readable {
  return path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 16 });
}

/** The bytes of a byte or text stream (text as UTF-8); gzip (1f 8b) is inflated on the way. */
async function* inflated(input: AsyncIterable<string | Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done === true) return;
  let source: AsyncIterable<string | Buffer | Uint8Array>;
  const head = first.value;
  if (typeof head !== 'string' && head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const raw = Readable.from((async function* () {
      yield head;
      for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
    })());
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    source = raw.pipe(gunzip);
  } else {
    source = (async function* () {
      yield head;
      for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value;
    })();
  }
  for await (const chunk of source) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (b.length > 0) yield b;
  }
}

/** A stream's bytes in pieces that each end after a newline (the last piece: at the end). */
export async function* byteChunks(input: AsyncIterable<string | Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  let rest: Buffer | undefined;
  for await (const b of inflated(input)) {
    const nl = b.lastIndexOf(10);
    if (nl < 0) {
      rest = rest === undefined ? b : Buffer.concat([rest, b]);
      continue;
    }
    const head = b.subarray(0, nl + 1);
    yield rest === undefined ? head : Buffer.concat([rest, head]);
    rest = nl + 1 < b.length ? b.subarray(nl + 1) : undefined;
  }
  if (rest !== undefined) yield rest;
}

/** Lines of a byte or text stream (without "\n" or "\r\n"); gzip is inflated on the way. */
export async function* lines(input: AsyncIterable<string | Buffer | Uint8Array>): AsyncGenerator<string> {
  for await (const b of byteChunks(input)) {
    // A piece ends after a newline, so no UTF-8 character is cut in two.
    const text = b.toString('utf8');
    let from = 0;
    const n = text.length;
    while (from < n) {
      let nl = text.indexOf('\n', from);
      if (nl < 0) nl = n;
      yield text.slice(from, nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      from = nl + 1;
    }
  }
}

// The envelope envelope() last read, and where its fields start (module state: parseLine is not re-entrant,
// and a record is allocated only once the event is known).
let fieldStart = 0;
let eEvent = '';
let eComm = '';
let ePid = 0;
let eTgid: number | undefined;
let eCpu = 0;
let eTs = 0;
let eFlags: string | undefined;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Reads the envelope of an event line into the e* variables and `fieldStart`; false for a line that is no
 * event line. A line without envelope (`event: fields`) gets comm '', pid, cpu and ts -1.
 */
function envelope(s: string): boolean {
  // ftrace's own columns (trace_print_context: "%16s-%-7d [%03d] ") put '-' at 16 and "[ddd]" at 25..29:
  // checked in place, which spares the search for " [" that any other layout needs.
  const cb = s.charCodeAt(25) === 91 && s.charCodeAt(29) === 93 && s.charCodeAt(16) === 45 && s.charCodeAt(24) === 32 ? ftraceTask(s) : -1;
  return cb >= 0 ? afterCpu(s, cb) : anyTask(s);
}

/** The task and CPU of ftrace's fixed columns (see envelope): the index of ']', or -1 to read the line generally. */
function ftraceTask(s: string): number {
  let i = 0;
  while (i < 16 && s.charCodeAt(i) === 32) i++;
  if (i === 16 || s.charCodeAt(i) === 35) return -1;
  let e = 17;
  let pid = 0;
  for (let c = s.charCodeAt(e); c >= 48 && c <= 57; c = s.charCodeAt(++e)) pid = pid * 10 + c - 48;
  if (e === 17) return -1;
  for (let j = e; j < 24; j++) if (s.charCodeAt(j) !== 32) return -1;
  const c0 = s.charCodeAt(26) - 48;
  const c1 = s.charCodeAt(27) - 48;
  const c2 = s.charCodeAt(28) - 48;
  if (c0 < 0 || c0 > 9 || c1 < 0 || c1 > 9 || c2 < 0 || c2 > 9) return -1;
  eComm = s.slice(i, 16);
  ePid = pid;
  eTgid = undefined;
  eCpu = c0 * 100 + c1 * 10 + c2;
  return 29;
}

/** Any other layout: the CPU column " [ddd]" is found first (comm may hold spaces and dashes), then the task before it. */
function anyTask(s: string): boolean {
  const n = s.length;
  let i = 0;
  while (i < n && s.charCodeAt(i) === 32) i++;
  if (i === n || s.charCodeAt(i) === 35) return false; // blank, '#'
  let b = s.indexOf(' [', i);
  let cb = -1;
  while (b >= 0) {
    let j = b + 2;
    while (j < n && isDigit(s.charCodeAt(j))) j++;
    if (j > b + 2 && s.charCodeAt(j) === 93) {
      cb = j;
      break;
    }
    b = s.indexOf(' [', b + 1);
  }
  if (cb < 0) return bare(s, i);
  const cpu = dec(s, b + 2, cb);
  // Task part: "comm-pid", "comm-pid (  tgid)", "comm pid", "comm pid/tid".
  let e = b;
  while (e > i && s.charCodeAt(e - 1) === 32) e--;
  let tgid: number | undefined;
  if (s.charCodeAt(e - 1) === 41) {
    const open = s.lastIndexOf('(', e);
    if (open < i) return false;
    let t = open + 1;
    while (s.charCodeAt(t) === 32) t++;
    const v = dec(s, t, e - 1);
    if (v === v) tgid = v;
    e = open;
    while (e > i && s.charCodeAt(e - 1) === 32) e--;
  }
  let d = e;
  while (d > i && isDigit(s.charCodeAt(d - 1))) d--;
  if (d === e) return false;
  const pid = dec(s, d, e);
  let sep = s.charCodeAt(d - 1);
  if (sep === 47) {
    // perf's pid/tid
    const t = d - 1;
    d = t;
    while (d > i && isDigit(s.charCodeAt(d - 1))) d--;
    if (d === t) return false;
    tgid = dec(s, d, t);
    sep = s.charCodeAt(d - 1);
  }
  if (sep !== 45 && sep !== 32) return false;
  let ce = d - 1;
  if (sep === 32) while (ce > i && s.charCodeAt(ce - 1) === 32) ce--;
  eComm = s.slice(i, ce);
  ePid = pid;
  eTgid = tgid;
  eCpu = cpu;
  return afterCpu(s, cb);
}

/**
 * The usual rest of an envelope after the CPU column: flags (a word not ending in ':'), "secs.frac:", and an
 * event name that is an identifier followed by ": " or the line's end. One regular expression reads it faster
 * than afterCpu's loops, to the same values; any other rest goes to those loops.
 */
const USUAL_REST = / +(?:([^ ]*[^ :]) +)?([0-9]+)\.([0-9]{1,9}): +([A-Za-z_][A-Za-z0-9_]*):(?= |$)/y;

/** After the CPU column's ']' at `cb`: an optional flags column, "secs.usecs:", and the event name up to ": ". */
function afterCpu(s: string, cb: number): boolean {
  return usualRest(s, cb) || restOfEnvelope(s, cb);
}

/** afterCpu's usual case (USUAL_REST); false for any other rest. */
function usualRest(s: string, cb: number): boolean {
  USUAL_REST.lastIndex = cb + 1;
  const m = USUAL_REST.exec(s);
  if (m === null) return false;
  const frac = m[3];
  eFlags = m[1];
  eTs = digits(m[2]) * 1e9 + digits(frac) * FRAC_SCALE[frac.length]!;
  eEvent = m[4];
  fieldStart = USUAL_REST.lastIndex;
  return true;
}

/** The value of a string of decimal digits. */
function digits(t: string): number {
  let v = 0;
  for (let j = 0; j < t.length; j++) v = v * 10 + t.charCodeAt(j) - 48;
  return v;
}

/** afterCpu for any rest: the general reading. */
function restOfEnvelope(s: string, cb: number): boolean {
  const n = s.length;
  let p = cb + 1;
  while (p < n && s.charCodeAt(p) === 32) p++;
  let q = p;
  while (q < n && s.charCodeAt(q) !== 32) q++;
  let irqFlags: string | undefined;
  if (s.charCodeAt(q - 1) !== 58) {
    irqFlags = s.slice(p, q);
    p = q;
    while (p < n && s.charCodeAt(p) === 32) p++;
    q = p;
    while (q < n && s.charCodeAt(q) !== 32) q++;
    if (s.charCodeAt(q - 1) !== 58) return false;
  }
  const ts = timestamp(s, p, q - 1);
  if (ts !== ts) return false;
  // The event name: up to the first ": " (or a ':' ending the line), after the last ':' before it (perf's
  // "kmem:mm_page_alloc:"), perhaps after extra spaces.
  p = q;
  while (p < n && s.charCodeAt(p) === 32) p++;
  let evStart = p;
  let colon = -1;
  for (let j = p; j < n; j++) {
    if (s.charCodeAt(j) !== 58) continue;
    if (j + 1 === n || s.charCodeAt(j + 1) === 32) {
      colon = j;
      break;
    }
    evStart = j + 1;
  }
  if (colon < 0) return false;
  fieldStart = colon + 1;
  eEvent = s.slice(evStart, colon);
  eTs = ts;
  eFlags = irqFlags;
  return true;
}

/** "event: fields" without envelope (an identifier, then ": "). */
function bare(s: string, i: number): boolean {
  let j = i;
  for (; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (!(c === 95 || (c >= 97 && c <= 122) || isDigit(c))) break;
  }
  if (j === i || s.charCodeAt(j) !== 58 || s.charCodeAt(j + 1) !== 32) return false;
  fieldStart = j + 1;
  eEvent = s.slice(i, j);
  eComm = '';
  ePid = -1;
  eTgid = undefined;
  eCpu = -1;
  eTs = -1;
  eFlags = undefined;
  return true;
}


/** "secs.frac" (6 digits in ftrace, up to 9 in perf --ns) in ns; NaN if not that. */
function timestamp(s: string, j: number, e: number): number {
  if (j >= e) return NaN;
  const start = j;
  let secs = 0;
  let c = 0;
  for (; j < e; j++) {
    c = s.charCodeAt(j);
    if (c === 46) break;
    if (c < 48 || c > 57) return NaN;
    secs = secs * 10 + c - 48;
  }
  if (j === e) return secs * 1e9;
  if (j === start) return NaN; // ".123:"
  const digits = e - j - 1;
  if (digits > 9) return NaN;
  let frac = 0;
  for (j++; j < e; j++) {
    c = s.charCodeAt(j);
    if (c < 48 || c > 57) return NaN;
    frac = frac * 10 + c - 48;
  }
  return secs * 1e9 + frac * FRAC_SCALE[digits]!;
}
