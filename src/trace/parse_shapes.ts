/**
 * The trace parser's fast path. Nearly every line of an event prints the same fields in the same order, so
 * each layout a line of the event had (its "shape": `pfn=%x order=%d ...`) becomes one sticky regular
 * expression, and the next lines' payloads are read by one match plus a conversion function generated for
 * that shape. A regular expression is compiled to machine code and reads a line several times faster than a
 * JavaScript loop over its characters. A shape only accepts what scanFields (parse_fields.ts) would read to
 * the same values: the known fields, plain values (a number, a word without spaces or commas) separated by
 * spaces and commas; a line it does not accept is read by scanFields, which also reports every error.
 */
import { parseGfp } from '../gfp.js';
import {
  FIELDS, isNullPtr, K_BOOL, K_GFP, K_HEX, K_INT, K_MT, K_PAGE, K_PFN, K_PTR, K_STR, OLD_MT, pageAllocFailed, ptrKeyOf,
  type EventSchema, type FieldOptions, type OrderEntry,
} from './parse_fields.js';

/** One payload layout of an event. */
export interface Shape {
  re: RegExp;
  /** Its fields, in order (a copy of the schema's order when it was learnt). */
  entries: readonly OrderEntry[];
  /** Stores the match's fields into the record; false if a value did not convert (scanFields reads the line). */
  fill: (rec: Record<string, unknown>, m: RegExpExecArray, o: FieldOptions) => boolean;
  /** parse_bytes.ts' layout of this shape in bytes, made on first use. */
  bytes: unknown;
  /**
   * The same for values already read from bytes (parse_bytes.ts): numbers and booleans converted, texts as
   * the regular expression would have captured them, by entry.
   */
  put: (rec: Record<string, unknown>, v: unknown[], pk: number[], o: FieldOptions) => boolean;
}

/** Layouts kept per event: more than a trace's lines of one event print is rare; a new one replaces the last. */
const MAX_SHAPES = 4;
/** Lines of an event whose layout may become a shape: past that, lines no shape reads are read by scanFields only. */
const MAX_LEARNT = 64;

/** The value each kind accepts: what num(), isNullPtr() and bool() read the same way as scanFields does. */
const VALUE: Record<number, string> = {
  [K_INT]: '0[xX][0-9a-fA-F]+|-?[0-9]+',
  [K_PFN]: '0[xX][0-9a-fA-F]+|-?[0-9]+',
  [K_MT]: '0[xX][0-9a-fA-F]+|-?[0-9]+',
  [K_HEX]: '(?:0[xX])?[0-9a-fA-F]+',
  [K_STR]: '[^ ,\\r\\n]+',
  [K_GFP]: '[^ ,\\r\\n]+',
  [K_PTR]: '[^ ,\\r\\n]+',
  [K_PAGE]: '[^ ,\\r\\n]+',
  [K_BOOL]: 'true|false|0|1',
};

/** readShaped's answers. */
export const SHAPED = 1;
export const NO_SHAPE = 0;
/** A shape matched but a value did not convert: `rec` holds part of the line; read it afresh. */
export const SHAPE_SPOILT = -1;

/** Reads the payload of `s` from `i` into `rec` if one of the event's shapes matches it. */
export function readShaped(rec: Record<string, unknown>, s: string, i: number, schema: EventSchema, o: FieldOptions): number {
  const shapes = schema.shapes;
  for (let k = 0; k < shapes.length; k++) {
    const sh = shapes[k];
    sh.re.lastIndex = i;
    const m = sh.re.exec(s);
    if (m === null) continue;
    if (!sh.fill(rec, m, o)) return SHAPE_SPOILT;
    if (k > 0) {
      shapes[k] = shapes[0];
      shapes[0] = sh;
    }
    return SHAPED;
  }
  return NO_SHAPE;
}

/** After scanFields read `s` (no shape matched): its layout becomes a shape, if it is one a shape can read. */
export function learnShape(schema: EventSchema, s: string, i: number): void {
  const entries = schema.order;
  if (entries.length === 0 || schema.learnt >= MAX_LEARNT) return;
  schema.learnt++;
  for (const e of entries) {
    if (e.def === undefined || VALUE[e.kind] === undefined || !e.keyEq.endsWith('=')) return;
  }
  let src = '[ ,\\t]*';
  entries.forEach((e, k) => {
    if (k > 0) src += ',? [ ,\\t]*';
    src += `${escape(e.keyEq)}(${VALUE[e.kind]})`;
  });
  src += ',?(?: [ ,\\t]*)?$';
  const re = new RegExp(src, 'y');
  re.lastIndex = i;
  if (!re.test(s)) return; // the line had more than fields (a format's literal words): no shape reads it
  const sh: Shape = { re, entries: entries.slice(), fill: storeFor(entries, schema.event, true), put: storeFor(entries, schema.event, false), bytes: undefined };
  if (schema.shapes.length < MAX_SHAPES) schema.shapes.unshift(sh);
  else schema.shapes[MAX_SHAPES - 1] = sh;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Helpers the generated fill functions call. */
export const H = {
  int(t: string): number {
    const n = t.length;
    const c = t.charCodeAt(0);
    if (n > 2 && c === 48 && (t.charCodeAt(1) | 32) === 120) return H.hex(t);
    let v = 0;
    for (let j = c === 45 ? 1 : 0; j < n; j++) v = v * 10 + t.charCodeAt(j) - 48;
    return c === 45 ? -v : v;
  },
  hex(t: string): number {
    let j = t.length > 2 && t.charCodeAt(0) === 48 && (t.charCodeAt(1) | 32) === 120 ? 2 : 0;
    let v = 0;
    for (; j < t.length; j++) {
      const c = t.charCodeAt(j) | 32;
      v = v * 16 + (c <= 57 ? c - 48 : c - 87);
    }
    return v;
  },
  mt(t: string, o: FieldOptions): number {
    const v = H.int(t);
    return o.oldMigratetypes && v < 4 ? OLD_MT[v] : v;
  },
  /** A gfp text's mask (parseGfp keeps the texts it has read), or -1 if it does not read (scanFields then reports it). */
  gfp(t: string, o: FieldOptions): number {
    try {
      return parseGfp(t, o.kernel === undefined ? undefined : { kernel: o.kernel });
    } catch {
      return -1;
    }
  },
  isNull(t: string): boolean {
    return isNullPtr(t, 0, t.length);
  },
  ptrKey(t: string): number {
    return ptrKeyOf(t, 0, t.length);
  },
  pageAllocFailed,
  OLD_MT,
};

/**
 * A function storing a shape's values by property name (one store per field: generated, because stores
 * through a variable name are slow): `fill` from a match's captures (m[k + 1], all text), or `put` from
 * values read from bytes (v[k]: numbers and booleans already converted, the rest text).
 */
function storeFor(entries: readonly OrderEntry[], event: string, fromMatch: boolean): Shape['fill'] & Shape['put'] {
  const lines: string[] = ['let pageNull = false;'];
  entries.forEach((e, k) => {
    const t = fromMatch ? `m[${k + 1}]` : `v[${k}]`;
    const prop = FIELDS.get(e.key)!.prop;
    switch (e.kind) {
      case K_INT:
      case K_PFN:
        lines.push(`rec.${prop} = ${fromMatch ? `h.int(${t})` : t};`);
        break;
      case K_HEX:
        lines.push(`rec.${prop} = ${fromMatch ? `h.hex(${t})` : t};`);
        break;
      case K_MT:
        lines.push(`rec.${prop} = ${fromMatch ? `h.mt(${t}, o)` : `o.oldMigratetypes && ${t} < 4 ? h.OLD_MT[${t}] : ${t}`};`);
        break;
      case K_STR:
        lines.push(`rec.${prop} = ${t};`);
        break;
      case K_GFP:
        // Most lines repeat the last line's mask: compared first, before parseGfp's lookup.
        lines.push(`{ const t = ${t}; if (t === last.gfpText) rec.gfp = last.gfp; else { const g = h.gfp(t, o); if (g < 0) return false; rec.gfp = g; last.gfpText = t; last.gfp = g; } }`);
        break;
      case K_PTR:
        // 0 is NULL only as digits: '(null)' reads -1 from ptrKey
        lines.push(`{ const t = ${t}; const k = ${fromMatch ? 'h.ptrKey(t)' : `pk[${k}]`}; if (k === 0 || (k < 0 && h.isNull(t))) { rec.ptr = null; rec.ptrKey = 0; } else { rec.ptr = t; rec.ptrKey = k; } }`);
        break;
      case K_PAGE:
        lines.push(`pageNull = ${fromMatch ? `h.isNull(${t})` : t};`);
        break;
      case K_BOOL:
        lines.push(`rec.${prop} = ${fromMatch ? `${t} === 'true' || ${t} === '1'` : t};`);
        break;
    }
  });
  if (event === 'mm_page_alloc') lines.push('h.pageAllocFailed(rec, pageNull);');
  lines.push('return true;');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('h', 'last', `return function store(rec, ${fromMatch ? 'm' : 'v, pk'}, o) {\n${lines.join('\n')}\n};`)(H, { gfpText: '', gfp: 0 }) as Shape['fill'] & Shape['put'];
}
