/**
 * The payload half of the trace parser: the `key=value` fields after `<event>: `, as the kmem, vmalloc,
 * compaction and vmscan TP_printk()s print them (include/trace/events/kmem.h and friends), typed into a
 * TraceRecord. One hand-written scan per line, keyed by field name, so fields may come in any order, fields a
 * kernel added or dropped cost nothing, and the `options/fields` form (`name=0xcc0 (3264)`, every field raw)
 * reads too. Departure: kernel addresses (va_start, vstart, ...) become the model's numbers (the low 48 bits on
 * x86_64), and `%p` pointers stay text, as they are hashed.
 */
import { parseGfp } from '../gfp.js';
import type { Shape } from './parse_shapes.js';

/** One parsed trace line. Fields an event does not print are absent. */
export interface TraceRecord {
  /** The event's tracefs name (`mm_page_alloc`, `kmalloc_node`, ...), without perf's `kmem:` prefix. */
  event: string;
  comm: string;
  /** Thread id as ftrace prints it (perf's `pid/tid`: the tid); -1 on a line without the envelope. */
  pid: number;
  /** The TGID column (options/record-tgid) or perf's pid of `pid/tid`. */
  tgid?: number;
  cpu: number;
  /** The latency-format column (`d..1`, `d.h1.`), absent when the trace has none. */
  irqFlags?: string;
  irqsOff?: boolean;
  inIrq?: boolean;
  inSoftirq?: boolean;
  inNmi?: boolean;
  /** Timestamp in nanoseconds (-1 without the envelope). */
  ts: number;
  pfn?: number;
  /** mm_page_alloc that returned NULL (page NULL, pfn 0; pfn is then -1), or alloc_vmap_area's failed=1. */
  failed?: boolean;
  order?: number;
  /** In the model's numbering (Unmovable 0, Movable 1, Reclaimable 2, HighAtomic 3) whatever the kernel. */
  migratetype?: number;
  percpuRefill?: number;
  gfp?: number;
  callSite?: string;
  /** The `%p` text as printed (hashed or not); null for a NULL pointer. */
  ptr?: string | null;
  /**
   * `ptr` as a number, for keyed lookups without hashing text: its value when below 2^52 (a hashed `%p` is
   * 32 bits), 2^52 plus the low 48 bits for an x86_64 kernel address (`ffff...`), -1 when neither (keep to
   * the text then); 0 for NULL.
   */
  ptrKey?: number;
  bytesReq?: number;
  bytesAlloc?: number;
  name?: string;
  node?: number;
  accounted?: boolean;
  allocOrder?: number;
  fallbackOrder?: number;
  pageblockOrder?: number;
  allocMigratetype?: number;
  fallbackMigratetype?: number;
  fragmenting?: number;
  changeOwnership?: number;
  vaStart?: number;
  size?: number;
  align?: number;
  vstart?: number;
  vend?: number;
  nrLazy?: number;
  nrLazyMax?: number;
  start?: number;
  end?: number;
  numPurged?: number;
  zoneStart?: number;
  migratePfn?: number;
  freePfn?: number;
  zoneEnd?: number;
  sync?: boolean;
  status?: string;
  nrReclaimed?: number;
  nid?: number;
  /** Fields the parser has no name for (a newer kernel's), as printed, or as numbers when a format says so. */
  extra?: Record<string, string | number>;
}

// Field kinds.
export const K_INT = 0; // %d %u %lu %zu (0x.. accepted)
export const K_HEX = 1; // %lx: hex, with or without 0x
export const K_ADDR = 2; // a kernel address in hex
export const K_ADDR_DEC = 3; // a kernel address in decimal (alloc_vmap_area's va_start: %lu)
export const K_GFP = 4;
export const K_STR = 5;
export const K_PTR = 6;
export const K_PAGE = 7; // page=%p: only whether it is NULL matters
export const K_BOOL = 8;
export const K_MODE = 9;
export const K_MT = 10; // a migratetype: renumbered for kernels before 4.4
export const K_PFN = 11;

export interface FieldDef {
  /** TraceRecord property (empty: not stored). */
  prop: string;
  kind: number;
  /** Bit in the seen-mask. */
  bit: number;
  /** The bit as two int32 masks (bits 0-29, 30 up): float masks wider than 32 bits are slow. */
  lo: number;
  hi: number;
}

const defs: Array<[key: string, prop: string, kind: number]> = [
  ['page', '', K_PAGE], ['pfn', 'pfn', K_PFN], ['order', 'order', K_INT], ['migratetype', 'migratetype', K_MT],
  ['gfp_flags', 'gfp', K_GFP], ['percpu_refill', 'percpuRefill', K_INT], ['alloc_order', 'allocOrder', K_INT],
  ['fallback_order', 'fallbackOrder', K_INT], ['pageblock_order', 'pageblockOrder', K_INT],
  ['alloc_migratetype', 'allocMigratetype', K_MT], ['fallback_migratetype', 'fallbackMigratetype', K_MT],
  ['fragmenting', 'fragmenting', K_INT], ['change_ownership', 'changeOwnership', K_INT],
  ['call_site', 'callSite', K_STR], ['ptr', 'ptr', K_PTR], ['bytes_req', 'bytesReq', K_INT],
  ['bytes_alloc', 'bytesAlloc', K_INT], ['name', 'name', K_STR], ['node', 'node', K_INT],
  ['accounted', 'accounted', K_BOOL], ['va_start', 'vaStart', K_ADDR], ['size', 'size', K_INT],
  ['align', 'align', K_INT], ['vstart', 'vstart', K_ADDR], ['vend', 'vend', K_ADDR], ['failed', 'failed', K_BOOL],
  ['nr_lazy', 'nrLazy', K_INT], ['nr_lazy_max', 'nrLazyMax', K_INT], ['start', 'start', K_ADDR],
  ['end', 'end', K_ADDR], ['num_purged', 'numPurged', K_INT], ['zone_start', 'zoneStart', K_HEX],
  ['migrate_pfn', 'migratePfn', K_HEX], ['free_pfn', 'freePfn', K_HEX], ['zone_end', 'zoneEnd', K_HEX],
  ['mode', 'sync', K_MODE], ['status', 'status', K_STR], ['nr_reclaimed', 'nrReclaimed', K_INT], ['nid', 'nid', K_INT],
];

/** Known field names. */
export const FIELDS = new Map<string, FieldDef>(defs.map(([key, prop, kind], bit) => [key, { prop, kind, bit, lo: bit < 30 ? 1 << bit : 0, hi: bit < 30 ? 0 : 1 << (bit - 30) }]));

// options/fields prints the struct's field names where TP_printk renamed them: same property, same bit.
const aliases: Array<[alias: string, key: string, kind: number]> = [
  ['addr', 'va_start', K_ADDR], ['npurged', 'num_purged', K_INT], ['sync', 'mode', K_BOOL],
];
for (const [alias, key, kind] of aliases) FIELDS.set(alias, { ...FIELDS.get(key)!, kind });

/** Seen-masks (lo, hi) of field names. */
export function maskOf(keys: readonly string[]): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const k of keys) {
    const d = FIELDS.get(k);
    if (d !== undefined) {
      lo |= d.lo;
      hi |= d.hi;
    }
  }
  return [lo, hi];
}

/** The fields a line of each event must have when no format file says otherwise (the oldest kernels' set). */
export const DEFAULT_REQUIRED: Record<string, readonly string[]> = {
  mm_page_alloc: ['pfn', 'order', 'migratetype', 'gfp_flags'],
  mm_page_free: ['pfn', 'order'],
  mm_page_free_batched: ['pfn'],
  mm_page_alloc_zone_locked: ['pfn', 'order', 'migratetype'],
  mm_page_pcpu_drain: ['pfn', 'order', 'migratetype'],
  mm_page_alloc_extfrag: ['pfn', 'alloc_order', 'fallback_order', 'alloc_migratetype', 'fallback_migratetype'],
  kmalloc: ['call_site', 'ptr', 'bytes_req', 'bytes_alloc', 'gfp_flags'],
  kmalloc_node: ['call_site', 'ptr', 'bytes_req', 'bytes_alloc', 'gfp_flags', 'node'],
  kmem_cache_alloc: ['call_site', 'ptr', 'bytes_req', 'bytes_alloc', 'gfp_flags'],
  kmem_cache_alloc_node: ['call_site', 'ptr', 'bytes_req', 'bytes_alloc', 'gfp_flags', 'node'],
  kfree: ['call_site', 'ptr'],
  kmem_cache_free: ['call_site', 'ptr'],
  alloc_vmap_area: ['va_start', 'size', 'align', 'vstart', 'vend', 'failed'],
  free_vmap_area_noflush: ['va_start', 'nr_lazy', 'nr_lazy_max'],
  purge_vmap_area_lazy: ['start', 'end', 'num_purged'],
  mm_compaction_begin: ['zone_start', 'migrate_pfn', 'free_pfn', 'zone_end', 'mode'],
  mm_compaction_end: ['zone_start', 'migrate_pfn', 'free_pfn', 'zone_end', 'mode', 'status'],
  mm_vmscan_direct_reclaim_begin: ['order', 'gfp_flags'],
  mm_vmscan_direct_reclaim_end: ['nr_reclaimed'],
  mm_vmscan_kswapd_wake: ['nid', 'order'],
};

/** A field where the last lines of an event had it: its `key=` text, and how its value is read. */
export interface OrderEntry {
  keyEq: string;
  key: string;
  def: FieldDef | undefined;
  /** The value's kind (a format file's override, else the field's own); -1 for a field the parser does not know. */
  kind: number;
}

/** How one event's payload is read. */
export interface EventSchema {
  /** The event's name (the one string all its records share). */
  event: string;
  reqLo: number;
  reqHi: number;
  /** Required field names in print order, to name the first one missing. */
  requiredKeys: readonly string[];
  /** Per-field kind overrides from a format file (e.g. `pfn=%lu`, or a field the parser does not know). */
  kinds?: Map<string, number>;
  /**
   * The fields in the order the last lines printed them, learnt as lines are read: a line that follows it
   * is read with one startsWith per field instead of a scan for '=' and a map lookup.
   */
  order: OrderEntry[];
  /** Records read. */
  count: number;
  /** Payload layouts seen, most recently matched first (parse_shapes.ts). */
  shapes: Shape[];
  /** Layouts learnt so far (learnShape stops at a bound). */
  learnt: number;
}

export type MakeRecord = (
  event: string, comm: string, pid: number, tgid: number | undefined, cpu: number, ts: number, irqFlags: string | undefined,
) => TraceRecord;

/**
 * A new record: one object literal with the envelope's values and every field of every event (undefined until
 * read), so that all records share one hidden class. A record grown property by property, or one class per
 * event, would make every property access on records, here and in the replay, polymorphic and slow.
 */
export const makeRecord: MakeRecord = recordCode(false) as MakeRecord;

/**
 * Sets a record made by makeRecord anew, as makeRecord would have made it, except for the fields (set again
 * by the caller): the parser's byte path reuses one record per layout for callers that keep none.
 */
export const renewRecord = recordCode(true) as (rec: TraceRecord, ...envelope: Parameters<MakeRecord>) => TraceRecord;

/** A copy of a record, of the same hidden class (for a caller that must keep a renewed record). */
export function copyRecord(r: TraceRecord): TraceRecord {
  return Object.assign(makeRecord(r.event, r.comm, r.pid, r.tgid, r.cpu, r.ts, r.irqFlags), r);
}

/** makeRecord's code, or (renew) the same values stored into an existing record, fields left alone but `failed`. */
function recordCode(renew: boolean): unknown {
  const props = new Set<string>();
  for (const d of FIELDS.values()) if (d.prop) props.add(d.prop);
  props.add('failed');
  props.add('ptrKey');
  const body = [...props].map((p) => `${p}: undefined`).join(', ');
  // trace_print_lat_fmt: irqs-off d/D (X: not supported), need-resched, then h/s/H (hard in soft), z/Z NMI.
  const envelope: Array<[string, string]> = [
    ['event', 'event'], ['comm', 'comm'], ['pid', 'pid'], ['tgid', 'tgid'], ['cpu', 'cpu'], ['ts', 'ts'], ['irqFlags', 'f'],
    ['irqsOff', 'f === undefined ? undefined : c0 === 100 || c0 === 68'],
    ['inIrq', 'f === undefined ? undefined : c2 === 104 || c2 === 72 || c2 === 90'],
    ['inSoftirq', 'f === undefined ? undefined : c2 === 115 || c2 === 72'],
    ['inNmi', 'f === undefined ? undefined : c2 === 122 || c2 === 90'],
  ];
  const head = 'const c0 = f === undefined ? 0 : f.charCodeAt(0), c2 = f === undefined ? 0 : f.charCodeAt(2);';
  const code = renew
    ? `${head}\n${envelope.map(([k, v]) => `r.${k} = ${v};`).join('\n')}\nr.failed = undefined;\nreturn r;`
    : `${head}\nreturn { ${envelope.map(([k, v]) => `${k}: ${v}`).join(', ')}, ${body}, extra: undefined };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return renew ? new Function('r', 'event', 'comm', 'pid', 'tgid', 'cpu', 'ts', 'f', code) : new Function('event', 'comm', 'pid', 'tgid', 'cpu', 'ts', 'f', code);
}

/** A field that did not parse: the caller turns it into a TraceParseError with the file and line. */
export class FieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** Old (pre-4.4) migratetype numbers to the model's: Unmovable, Reclaimable, Movable, Reserve. */
export const OLD_MT = [0, 2, 1, 3];

export interface FieldOptions {
  /** The `kernel` option, for parseGfp. */
  kernel: string | undefined;
  /** Migratetypes are numbered as before 4.4. */
  oldMigratetypes: boolean;
}

/**
 * Reads the fields of `s` from `i` into `rec` (typed as TraceRecord, but written by property name).
 * Throws FieldError for a field that does not parse or a required one missing.
 */
export function scanFields(rec: Record<string, unknown>, s: string, i: number, schema: EventSchema, o: FieldOptions): void {
  const n = s.length;
  const kinds = schema.kinds;
  const order = schema.order;
  let oi = 0;
  let seenLo = 0;
  let seenHi = 0;
  let pageNull = false;
  while (i < n) {
    let c = s.charCodeAt(i);
    if (c === 32 || c === 44 || c === 9) {
      i++;
      continue;
    }
    let key: string;
    let vs: number;
    let def: FieldDef | undefined;
    const ex = oi < order.length ? order[oi] : undefined;
    if (ex !== undefined && s.startsWith(ex.keyEq, i)) {
      key = ex.key;
      def = ex.def;
      vs = i + ex.keyEq.length;
      oi++;
    } else {
      let k = i;
      while (k < n && (c = s.charCodeAt(k)) !== 61 && c !== 32) k++;
      let keyEq: string;
      if (c === 61) {
        key = s.slice(i, k);
        vs = k + 1;
        keyEq = key + '=';
      } else if (s.charCodeAt(k - 1) === 58 && k < n) {
        // "va_start: %lu" (alloc_vmap_area): the key ends with ':' and the value follows a space.
        key = s.slice(i, k - 1);
        vs = k + 1;
        while (vs < n && s.charCodeAt(vs) === 32) vs++;
        keyEq = s.slice(i, vs);
      } else {
        i = k; // a word that is no field (a format's literal text): skip it
        continue;
      }
      def = FIELDS.get(key);
      order[oi++] = { keyEq, key, def, kind: kinds?.get(key) ?? (def === undefined ? -1 : def.kind) };
    }
    let e = s.indexOf(' ', vs);
    if (e < 0) e = n;
    let ve = e;
    if (ve > vs && s.charCodeAt(ve - 1) === 44) ve--; // "zone_end=0x..., mode="
    // options/fields prints "name=0xcc0 (3264)": the decimal in parentheses is the signed value.
    let ds = -1;
    let de = -1;
    if (e + 1 < n && s.charCodeAt(e + 1) === 40) {
      const close = s.indexOf(')', e + 2);
      if (close > 0) {
        ds = e + 2;
        de = close;
        e = close + 1;
      }
    }
    i = e;
    const kind = kinds?.get(key) ?? (def === undefined ? -1 : def.kind);
    if (def === undefined) {
      (rec.extra ??= {} as Record<string, string | number>);
      (rec.extra as Record<string, string | number>)[key] =
        kind === -1 || kind === K_STR ? s.slice(vs, ve) : num(s, vs, ve, ds, de, kind, key);
      continue;
    }
    seenLo |= def.lo;
    seenHi |= def.hi;
    switch (kind) {
      case K_PAGE:
        pageNull = isNullPtr(s, vs, ve);
        break;
      case K_PFN:
      case K_INT:
      case K_HEX:
        rec[def.prop] = num(s, vs, ve, ds, de, kind, key);
        break;
      case K_MT: {
        const mt = num(s, vs, ve, ds, de, K_INT, key);
        rec[def.prop] = o.oldMigratetypes && mt < 4 ? OLD_MT[mt] : mt;
        break;
      }
      case K_ADDR:
        rec[def.prop] = addr(s, vs, ve, key, 16);
        break;
      case K_ADDR_DEC:
        rec[def.prop] = addr(s, vs, ve, key, 10);
        break;
      case K_GFP: {
        const text = s.slice(vs, ve);
        try {
          rec.gfp = parseGfp(text, o.kernel === undefined ? undefined : { kernel: o.kernel });
        } catch {
          throw new FieldError(key, `expected gfp flags, got '${text}'`);
        }
        break;
      }
      case K_STR:
        rec[def.prop] = s.slice(vs, ve);
        break;
      case K_PTR:
        if (isNullPtr(s, vs, ve)) {
          rec.ptr = null;
          rec.ptrKey = 0;
        } else {
          rec.ptr = s.slice(vs, ve);
          rec.ptrKey = ptrKeyOf(s, vs, ve);
        }
        break;
      case K_BOOL:
        rec[def.prop] = bool(s, vs, ve, ds, de, key);
        break;
      case K_MODE: {
        const m = s.slice(vs, ve);
        if (m !== 'sync' && m !== 'async') throw new FieldError(key, `expected sync or async, got '${m}'`);
        rec.sync = m === 'sync';
        break;
      }
    }
  }
  if ((seenLo & schema.reqLo) !== schema.reqLo || (seenHi & schema.reqHi) !== schema.reqHi) {
    for (const key of schema.requiredKeys) {
      const d = FIELDS.get(key)!;
      if ((seenLo & d.lo) === 0 && (seenHi & d.hi) === 0) throw new FieldError(key, 'missing');
    }
  }
  order.length = oi; // the next line is expected to print what this one did
  pageAllocFailed(rec, pageNull);
}

/** mm_page_alloc prints page=NULL pfn=0 for a failed allocation (options/fields: pfn=-1). */
export function pageAllocFailed(rec: Record<string, unknown>, pageNull: boolean): void {
  if (rec.event !== 'mm_page_alloc') return;
  const pfn = rec.pfn as number;
  if (pageNull || pfn === 0 || pfn === -1 || pfn >= 0xffffffffffff) {
    rec.failed = true;
    rec.pfn = -1;
  }
}

/** A pointer's number for `ptrKey` (see TraceRecord), -1 when it has none. */
export function ptrKeyOf(s: string, vs: number, ve: number): number {
  let j = vs;
  if (ve - vs > 2 && s.charCodeAt(j) === 48 && (s.charCodeAt(j + 1) | 32) === 120) j += 2;
  while (j < ve - 1 && s.charCodeAt(j) === 48) j++;
  const digits = ve - j;
  if (digits > 16) return -1;
  let hi = 0; // the digits above the low 12 (48 bits)
  let lo = 0;
  for (let k = j; k < ve; k++) {
    const c = s.charCodeAt(k) | 32;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    if (ve - k > 12) hi = hi * 16 + d;
    else lo = lo * 16 + d;
  }
  return ptrKeyOfParts(hi, lo);
}

/** ptrKey from a pointer's digits above the low 48 bits (`hi`) and its low 48 bits (`lo`). */
export function ptrKeyOfParts(hi: number, lo: number): number {
  if (hi < 16) return hi * 2 ** 48 + lo; // below 2^52
  return hi === 0xffff ? 2 ** 52 + lo : -1; // an x86_64 kernel address
}

/** `(null)`, `0000000000000000`, `00000000`, `0x0`, `0`. */
export function isNullPtr(s: string, vs: number, ve: number): boolean {
  if (ve - vs === 6 && s.startsWith('(null)', vs)) return true;
  let j = vs;
  if (ve - vs > 2 && s.charCodeAt(j) === 48 && s.charCodeAt(j + 1) === 120) j += 2;
  if (j === ve) return false;
  for (; j < ve; j++) if (s.charCodeAt(j) !== 48) return false;
  return true;
}

/** An integer field: decimal, or hex with 0x (always hex for K_HEX); options/fields' "(dec)" wins. */
function num(s: string, vs: number, ve: number, ds: number, de: number, kind: number, key: string): number {
  if (ds >= 0 && kind !== K_HEX) {
    const v = dec(s, ds, de);
    if (v === v) return v;
  }
  let hex = kind === K_HEX;
  let j = vs;
  if (ve - vs > 2 && s.charCodeAt(vs) === 48 && (s.charCodeAt(vs + 1) | 32) === 120) {
    hex = true;
    j += 2;
  }
  const v = hex ? hexVal(s, j, ve) : dec(s, j, ve);
  if (v !== v) {
    throw new FieldError(key, `expected ${hex ? 'a hex number' : 'a number'}, got '${s.slice(vs, ve)}'`);
  }
  return v;
}

/** ns per unit of a timestamp's fraction by its digits ("secs.frac": 6 in ftrace, up to 9 in perf --ns). */
export const FRAC_SCALE = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

/** Decimal with an optional '-'; NaN if not one. */
export function dec(s: string, j: number, e: number): number {
  let neg = false;
  if (j < e && s.charCodeAt(j) === 45) {
    neg = true;
    j++;
  }
  if (j >= e) return NaN;
  let v = 0;
  for (; j < e; j++) {
    const d = s.charCodeAt(j) - 48;
    if (d < 0 || d > 9) return NaN;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

function hexVal(s: string, j: number, e: number): number {
  if (j >= e) return NaN;
  let v = 0;
  for (; j < e; j++) {
    const c = s.charCodeAt(j) | 32;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return NaN;
    v = v * 16 + d;
  }
  return v;
}

/** A kernel address: x86_64's sign-extended ffff... kept as its low 48 bits, as the model holds them. */
function addr(s: string, vs: number, ve: number, key: string, radix: 10 | 16): number {
  let j = vs;
  if (ve - vs > 2 && s.charCodeAt(vs) === 48 && (s.charCodeAt(vs + 1) | 32) === 120) {
    radix = 16;
    j += 2;
  }
  const text = s.slice(j, ve);
  const ok = radix === 16 ? /^[0-9a-fA-F]+$/.test(text) : /^[0-9]+$/.test(text);
  if (!ok) throw new FieldError(key, `expected ${radix === 16 ? 'a hex address' : 'a number'}, got '${s.slice(vs, ve)}'`);
  if (text.length <= (radix === 16 ? 13 : 15)) return Number.parseInt(text, radix);
  const big = BigInt(radix === 16 ? '0x' + text : text);
  return Number(big >= 0xffff000000000000n ? big & 0xffffffffffffn : big);
}

function bool(s: string, vs: number, ve: number, ds: number, de: number, key: string): boolean {
  const t = ds >= 0 ? s.slice(ds, de) : s.slice(vs, ve);
  if (t === 'true' || t === '1' || t === '(1)') return true;
  if (t === 'false' || t === '0' || t === '(0)') return false;
  throw new FieldError(key, `expected true or false, got '${s.slice(vs, ve)}'`);
}
