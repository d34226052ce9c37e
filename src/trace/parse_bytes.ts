/**
 * The trace parser's fastest path: lines in ftrace's own layout read straight from the bytes a file or gunzip
 * gives, without decoding them to text first. The envelope's fixed columns (trace_print_context: "%16s-%-7d
 * [%03d] "), the flags, the timestamp and the event name are read byte by byte; the payload is read by the
 * event's shapes (parse_shapes.ts: the layouts its lines printed, learnt by the general reading), and each value
 * is converted as it is scanned. Strings that repeat (comm, call site, cache name, gfp text, flags, event name)
 * come from an intern table keyed by their bytes, tried first as the last line's, so a line allocates little
 * beyond its pointer's text (and, for callers that keep none, no record: see ByteLines.transient).
 *
 * Every line it reads, parseLine (ftraceTask, USUAL_REST and a shape's regular expression) reads to the same
 * values; any other line (another layout, a byte above 0x7f, a '\r', anything a shape would turn down) is
 * answered with null and read as text by the caller.
 */
import {
  FRAC_SCALE, K_BOOL, K_HEX, K_INT, K_MT, K_PAGE, K_PFN, K_PTR, makeRecord, ptrKeyOfParts, renewRecord,
  type EventSchema, type FieldOptions, type TraceRecord,
} from './parse_fields.js';
import type { Shape } from './parse_shapes.js';

const SP = 32;
const NL = 10;
const CR = 13;
const COMMA = 44;
const TAB = 9;
const COLON = 58;
const MAX_INTERNED = 1 << 16;
const RECENT = 1024;

/** ASCII bytes as a string (sixteen, a pointer's digits, in one call: the fastest way V8 has for them). */
function latin1(b: Uint8Array, s: number, e: number): string {
  if (e - s === 16) {
    return String.fromCharCode(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7],
      b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13], b[s + 14], b[s + 15]);
  }
  return Buffer.prototype.latin1Slice.call(b, s, e) as string;
}

/** A hex digit's value, or -1. */
function hexDigit(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1;
}

/** ptrKeyOf (parse_fields.ts) of b[s, e). */
function ptrKeyBytes(b: Uint8Array, s: number, e: number): number {
  let j = s;
  if (e - s > 2 && b[j] === 48 && (b[j + 1] | 32) === 120) j += 2;
  while (j < e - 1 && b[j] === 48) j++;
  if (e - j > 16) return -1;
  let hi = 0;
  let lo = 0;
  for (let k = j; k < e; k++) {
    const d = hexDigit(b[k]);
    if (d < 0) return -1;
    if (e - k > 12) hi = hi * 16 + d;
    else lo = lo * 16 + d;
  }
  return ptrKeyOfParts(hi, lo);
}

/** isNullPtr (parse_fields.ts) of b[s, e): "(null)", or zeros after an optional 0x. */
function isNullBytes(b: Uint8Array, s: number, e: number): boolean {
  if (e - s === 6 && b[s] === 40 && b[s + 1] === 110 && b[s + 2] === 117 && b[s + 3] === 108 && b[s + 4] === 108 && b[s + 5] === 41) return true;
  let j = s;
  if (e - s > 2 && b[j] === 48 && b[j + 1] === 120) j += 2;
  if (j === e) return false;
  for (; j < e; j++) if (b[j] !== 48) return false;
  return true;
}

interface Entry {
  text: string;
  bytes: Uint8Array;
  /** The bytes as little-endian 32-bit words (the last partial word's bytes not included). */
  words: Int32Array;
  /** For an event name: its schema (null: none), once looked up. */
  schema: EventSchema | null | undefined;
}

/** `bytes` as little-endian 32-bit words, the trailing 1-3 bytes left out. */
function wordsOf(bytes: Uint8Array): Int32Array {
  const w = new Int32Array(bytes.length >> 2);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < w.length; i++) w[i] = dv.getInt32(4 * i, true);
  return w;
}

/** Whether b[s, s + bytes.length) equals `bytes` (`words` its words; `dv` a view of b): four bytes a step. */
function same(b: Uint8Array, dv: DataView<ArrayBufferLike>, s: number, bytes: Uint8Array, words: Int32Array): boolean {
  const nw = words.length;
  for (let i = 0; i < nw; i++) if (dv.getInt32(s + 4 * i, true) !== words[i]) return false;
  for (let j = nw << 2; j < bytes.length; j++) if (bytes[j] !== b[s + j]) return false;
  return true;
}

/** Strings by their bytes: one string per distinct byte sequence (ASCII only). */
class Interned {
  private readonly byHash = new Map<number, Entry[]>();
  /** Strings held; past MAX_INTERNED new ones are made but not kept (memory stays bounded). */
  private size = 0;
  /**
   * Recently used entries, indexed by a cheap mix of the length and three bytes: most lookups end here after
   * one comparison, without hashing every byte or a Map lookup.
   */
  private readonly recent: Array<Entry | undefined> = new Array<Entry | undefined>(RECENT).fill(undefined);

  /**
   * The entry of b[s, e) (`dv` a view of b), or undefined if it holds a byte above 0x7f or a newline (so that
   * a comm read at fixed columns cannot run into the next line). Callers may annotate it.
   */
  entry(b: Uint8Array, dv: DataView<ArrayBufferLike>, s: number, e: number): Entry | undefined {
    const len = e - s;
    const slot = (len * 961 + b[s] * 31 + b[e - 1] + b[s + (len >> 1)] * 7) & (RECENT - 1);
    const r = this.recent[slot];
    if (r !== undefined && r.bytes.length === len && same(b, dv, s, r.bytes, r.words)) return r;
    const hit = this.lookup(b, s, e);
    if (hit !== undefined) this.recent[slot] = hit;
    return hit;
  }

  private lookup(b: Uint8Array, s: number, e: number): Entry | undefined {
    let h = e - s;
    let high = 0;
    for (let i = s; i < e; i++) {
      const c = b[i];
      if (c === NL) return undefined;
      high |= c;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (high > 0x7f) return undefined;
    h &= 0x3fffffff; // a small integer: Map keys that need no boxing
    let list = this.byHash.get(h);
    if (list !== undefined) {
      for (let k = 0; k < list.length; k++) {
        const x = list[k].bytes;
        if (x.length !== e - s) continue;
        let j = 0;
        while (j < x.length && x[j] === b[s + j]) j++;
        if (j === x.length) return list[k];
      }
    } else {
      list = [];
      this.byHash.set(h, list);
    }
    const bytes = b.slice(s, e);
    const entry: Entry = { text: latin1(b, s, e), bytes, words: wordsOf(bytes), schema: undefined };
    if (list.length < 8 && this.size < MAX_INTERNED) {
      list.push(entry);
      this.size++;
    }
    return entry;
  }
}

/** A shape's layout in bytes. */
interface ByteShape {
  keys: Uint8Array[];
  keyWords: Int32Array[];
  kinds: Int8Array;
  /** Stores a line's converted values (the generated store of parse_shapes.ts). */
  put: Shape['put'];
  /** The record lines of this shape reuse when the caller keeps none (see ByteLines.transient). */
  rec: TraceRecord | undefined;
  /** Per entry, the text the last line had there (call sites, masks and names repeat from line to line). */
  last: Array<Entry | undefined>;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
}

/** Reads lines of one trace's bytes: the state a TraceParser keeps for its byte path. */
export class ByteLines {
  private readonly strings = new Interned();
  /** Values of the line being read, by shape entry (numbers, strings, booleans). */
  private readonly v: unknown[] = [];
  /** A pointer entry's ptrKey, read with its text. */
  private readonly pk: number[] = [];
  /**
   * The caller keeps no record past its sink's return: records are then reused, one per shape (no allocation
   * per line, and no garbage).
   */
  transient = false;
  /** A view of the bytes being read, for reading four at a time. */
  private dv: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private dvOf: Uint8Array | undefined;
  /** Event names seen lately (a trace's lines mostly cycle through a few), and the next slot to replace. */
  private readonly events: Entry[] = [];
  private nextEvent = 0;
  /** The last comm and flags read (see lastOr). */
  private readonly last: Array<Entry | undefined> = [undefined, undefined];
  /** Where the last line read ends (its '\n', or the end), and its event's schema. */
  end = 0;
  schema: EventSchema | undefined;

  constructor(private readonly schemas: Map<string, EventSchema>, private readonly o: FieldOptions) {}

  /**
   * The record of the line at `at` (bytes up to `n`), with `this.end` set to where it ends; null if the line
   * is not one this path reads (nothing is then counted or learnt: the caller reads it as text).
   */
  line(b: Uint8Array, at: number, n: number): TraceRecord | null {
    if (this.dvOf !== b) {
      this.dv = new DataView(b.buffer, b.byteOffset, b.length);
      this.dvOf = b;
    }
    const dv = this.dv;
    if (at + 40 > n || b[at + 25] !== 91 || b[at + 29] !== 93 || b[at + 16] !== 45 || b[at + 24] !== SP) return null;
    // Task: comm right-aligned in 16 columns, '-', the pid left-aligned in 7, then "[ddd]".
    let i = at;
    const cEnd = at + 16;
    while (i + 4 <= cEnd && dv.getInt32(i, true) === 0x20202020) i += 4; // four spaces at a time
    while (i < cEnd && b[i] === SP) i++;
    if (i === cEnd || b[i] === 35) return null;
    let e = cEnd + 1;
    let pid = 0;
    for (let c = b[e]; c >= 48 && c <= 57; c = b[++e]) pid = pid * 10 + c - 48;
    if (e === cEnd + 1) return null;
    for (let j = e; j < at + 24; j++) if (b[j] !== SP) return null;
    const c0 = b[at + 26] - 48;
    const c1 = b[at + 27] - 48;
    const c2 = b[at + 28] - 48;
    if (c0 < 0 || c0 > 9 || c1 < 0 || c1 > 9 || c2 < 0 || c2 > 9) return null;
    // USUAL_REST: " +(?:flags +)?secs.frac: +event:" with ' ' or the line's end after the ':'.
    let p = at + 30;
    if (b[p] !== SP) return null;
    while (p < n && b[p] === SP) p++;
    let q = p;
    while (q < n && b[q] !== SP && b[q] !== NL) q++;
    let flags: string | undefined;
    if (q === p) return null;
    if (b[q - 1] !== COLON) {
      if (b[q] !== SP) return null;
      flags = this.lastOr(b, dv, p, q, 1);
      if (flags === undefined) return null;
      p = q;
      while (p < n && b[p] === SP) p++;
      q = p;
      while (q < n && b[q] !== SP && b[q] !== NL) q++;
    }
    // "secs.frac:" then spaces
    let secs = 0;
    let j = p;
    for (let c = b[j]; c >= 48 && c <= 57; c = b[++j]) secs = secs * 10 + c - 48;
    if (j === p || b[j] !== 46) return null;
    const f0 = ++j;
    let frac = 0;
    for (let c = b[j]; c >= 48 && c <= 57; c = b[++j]) frac = frac * 10 + c - 48;
    const digits = j - f0;
    if (digits < 1 || digits > 9 || b[j] !== COLON || j + 1 !== q || b[q] !== SP) return null;
    p = q;
    while (p < n && b[p] === SP) p++;
    const ev0 = p;
    // The event name: one of the last few seen, if the bytes here are it (no scan), else scanned.
    let ev: Entry | undefined;
    const recent = this.events;
    for (let k = 0; k < recent.length; k++) {
      const x = recent[k];
      const e = ev0 + x.bytes.length;
      if (e < n && b[e] === COLON && same(b, dv, ev0, x.bytes, x.words)) {
        ev = x;
        p = e;
        break;
      }
    }
    if (ev === undefined) {
      let c = b[p];
      if (!((c | 32) >= 97 && (c | 32) <= 122) && c !== 95) return null;
      while (p < n && ((c = b[p]) === 95 || ((c | 32) >= 97 && (c | 32) <= 122) || (c >= 48 && c <= 57))) p++;
      if (b[p] !== COLON) return null;
      ev = this.strings.entry(b, dv, ev0, p);
      if (ev === undefined) return null;
      if (recent.length < 4) recent.push(ev);
      else recent[(this.nextEvent = (this.nextEvent + 1) & 3)] = ev;
    }
    if (p + 1 < n && b[p + 1] !== SP && b[p + 1] !== NL) return null;
    if (ev.schema === undefined) ev.schema = this.schemas.get(ev.text) ?? null;
    const schema = ev.schema;
    if (schema === null || schema.shapes.length === 0) return null;
    const ts = secs * 1e9 + frac * FRAC_SCALE[digits];
    return this.payload(b, p + 1, n, schema, this.lastOr(b, dv, i, cEnd, 0), pid, c0 * 100 + c1 * 10 + c2, ts, flags);
  }

  /** The string of b[s, e), tried first as the last one of its kind (`which`: 0 comm, 1 flags): lines run in streaks. */
  private lastOr(b: Uint8Array, dv: DataView<ArrayBufferLike>, s: number, e: number, which: number): string | undefined {
    const le = this.last[which];
    if (le !== undefined && le.bytes.length === e - s && same(b, dv, s, le.bytes, le.words)) return le.text;
    const x = this.strings.entry(b, dv, s, e);
    if (x !== undefined) this.last[which] = x;
    return x?.text;
  }

  /** The payload from `p` by the first of the event's shapes that reads it whole. */
  private payload(
    b: Uint8Array, p: number, n: number, schema: EventSchema, comm: string | undefined, pid: number, cpu: number, ts: number, flags: string | undefined,
  ): TraceRecord | null {
    if (comm === undefined) return null;
    const shapes = schema.shapes;
    for (let k = 0; k < shapes.length; k++) {
      const sh = shapes[k];
      // A shape belongs to one parser, as this reader does: its byte layout is kept on it.
      let bs = sh.bytes as ByteShape | undefined;
      if (bs === undefined) {
        bs = {
          keys: sh.entries.map((x) => Uint8Array.from(x.keyEq, (ch) => ch.charCodeAt(0))),
          keyWords: sh.entries.map((x) => wordsOf(Uint8Array.from(x.keyEq, (ch) => ch.charCodeAt(0)))),
          kinds: Int8Array.from(sh.entries, (x) => x.kind),
          put: sh.put,
          rec: undefined,
          last: sh.entries.map(() => undefined),
        };
        sh.bytes = bs;
      }
      const end = this.fields(b, p, n, bs);
      if (end < 0) continue;
      const rec = !this.transient ? makeRecord(schema.event, comm, pid, undefined, cpu, ts, flags)
        : bs.rec === undefined ? (bs.rec = makeRecord(schema.event, comm, pid, undefined, cpu, ts, flags))
          : renewRecord(bs.rec, schema.event, comm, pid, undefined, cpu, ts, flags);
      if (!bs.put(rec as unknown as Record<string, unknown>, this.v, this.pk, this.o)) return null;
      if (k > 0) {
        shapes[k] = shapes[0];
        shapes[0] = sh;
      }
      this.end = end;
      this.schema = schema;
      return rec;
    }
    return null;
  }

  /** The shape's fields from `p` into this.v; where the line ends ('\n' or n), or -1 if the shape does not read it. */
  private fields(b: Uint8Array, p: number, n: number, bs: ByteShape): number {
    const keys = bs.keys;
    const v = this.v;
    const dv = this.dv;
    let c = 0;
    while (p < n && ((c = b[p]) === SP || c === COMMA || c === TAB)) p++;
    for (let k = 0; k < keys.length; k++) {
      if (k > 0) {
        // ",? [ ,\t]*" between fields
        if (b[p] === COMMA) p++;
        if (b[p] !== SP) return -1;
        p++;
        while (p < n && ((c = b[p]) === SP || c === COMMA || c === TAB)) p++;
      }
      const key = keys[k];
      if (p + key.length > n || !same(b, dv, p, key, bs.keyWords[k])) return -1;
      p += key.length;
      const s = p;
      switch (bs.kinds[k]) {
        case K_INT:
        case K_PFN:
        case K_MT: {
          if (b[p] === 48 && (b[p + 1] | 32) === 120 && p + 2 < n && isHex(b[p + 2])) {
            let x = 0;
            for (p += 2; p < n && isHex((c = b[p])); p++) x = x * 16 + ((c | 32) <= 57 ? c - 48 : (c | 32) - 87);
            v[k] = x;
            break;
          }
          const neg = b[p] === 45;
          if (neg) p++;
          const d0 = p;
          let x = 0;
          for (; p < n && (c = b[p]) >= 48 && c <= 57; p++) x = x * 10 + c - 48;
          if (p === d0) return -1;
          v[k] = neg ? -x : x;
          break;
        }
        case K_HEX: {
          if (b[p] === 48 && (b[p + 1] | 32) === 120 && p + 2 < n && isHex(b[p + 2])) p += 2;
          const d0 = p;
          let x = 0;
          for (; p < n && isHex((c = b[p])); p++) x = x * 16 + ((c | 32) <= 57 ? c - 48 : (c | 32) - 87);
          if (p === d0) return -1;
          v[k] = x;
          break;
        }
        case K_BOOL: {
          c = b[p];
          if (c === 116 && b[p + 1] === 114 && b[p + 2] === 117 && b[p + 3] === 101) {
            v[k] = true;
            p += 4;
          } else if (c === 102 && b[p + 1] === 97 && b[p + 2] === 108 && b[p + 3] === 115 && b[p + 4] === 101) {
            v[k] = false;
            p += 5;
          } else if (c === 48 || c === 49) {
            v[k] = c === 49;
            p++;
          } else return -1;
          if (p > n) return -1;
          break;
        }
        case K_PTR:
        case K_PAGE: {
          // A pointer: its number (pk) and its text of its own (pointers do not repeat: not interned); a
          // page's only whether it is NULL.
          let high = 0;
          // The usual pointer, 16 hex digits, gets its number in the same pass (as ptrKeyOf reads it).
          let hi = 0;
          let lo = 0;
          let hex = true;
          while (p < n && (c = b[p]) !== SP && c !== COMMA && c !== NL && c !== CR) {
            high |= c;
            const d = hexDigit(c);
            if (d < 0) hex = false;
            else if (p - s < 4) hi = hi * 16 + d;
            else lo = lo * 16 + d;
            p++;
          }
          if (p === s || high > 0x7f) return -1;
          if (bs.kinds[k] === K_PAGE) v[k] = isNullBytes(b, s, p);
          else {
            v[k] = latin1(b, s, p);
            this.pk[k] = p - s === 16 && hex ? ptrKeyOfParts(hi, lo) : ptrKeyBytes(b, s, p);
          }
          break;
        }
        default: {
          // [^ ,\r\n]+: text, converted by the store (gfp, page) or kept (call site, name). The last line's
          // text here is tried first: if the bytes are it and end there, no scan and no lookup.
          const le = bs.last[k];
          if (le !== undefined) {
            const e = p + le.bytes.length;
            if (e <= n && same(b, dv, p, le.bytes, le.words) && (e === n || (c = b[e]) === SP || c === COMMA || c === NL || c === CR)) {
              v[k] = le.text;
              p = e;
              break;
            }
          }
          while (p < n && (c = b[p]) !== SP && c !== COMMA && c !== NL && c !== CR) p++;
          if (p === s) return -1;
          const t = this.strings.entry(b, dv, s, p);
          if (t === undefined) return -1;
          bs.last[k] = t;
          v[k] = t.text;
          break;
        }
      }
      // The value must end here: at a separator, or the line's end.
      c = p < n ? b[p] : NL;
      if (c !== SP && c !== COMMA && c !== NL) return -1;
    }
    // ",?(?: [ ,\t]*)?$"
    if (p < n && b[p] === COMMA) p++;
    if (p < n && b[p] === SP) {
      p++;
      while (p < n && ((c = b[p]) === SP || c === COMMA || c === TAB)) p++;
    }
    return p === n || b[p] === NL ? p : -1;
  }
}

