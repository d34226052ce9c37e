/**
 * gfp_t: the allocation-context bits, the composite masks, and their names for printing and parsing.
 *
 * Models include/linux/gfp_types.h (bit values, composites), include/linux/gfp.h (gfp_migratetype,
 * gfpflags_allow_blocking) and the name table of include/trace/events/mmflags.h (__def_gfpflag_names), printed
 * as the tracepoints' __print_flags (kernel/trace/trace_output.c trace_print_flags_seq) and as printk's %pGg
 * (lib/vsprintf.c format_flags) print it. Bit values and table order are those of a 6.18 x86_64 kernel
 * (read from /sys/kernel/tracing/events/kmem/mm_page_alloc/format).
 * Departures: the config-dependent bits are fixed as on that kernel: no CONFIG_KASAN_HW_TAGS (no
 * __GFP_SKIP_ZERO/__GFP_SKIP_KASAN; GFP_HIGHUSER_MOVABLE's __GFP_SKIP_KASAN is 0), no CONFIG_LOCKDEP (no
 * __GFP_NOLOCKDEP), CONFIG_SLAB_OBJ_EXT (__GFP_NO_OBJ_EXT is bit 24); bit 9 is unused since __GFP_ATOMIC went
 * (6.3). __GFP_VFALLBACK (Lameter's 2007 proposal, never merged) gets the model-only bit 28 and prints last.
 * gfp_t is a 32-bit unsigned int in the kernel; here every mask stays a non-negative int below 2^31, so JS
 * `&`, `|` and `~` (which work on int32) never turn one negative.
 * parseGfp reads names from older kernels (no `__` prefix before 4.6, __GFP_WAIT, __GFP_REPEAT, ...) into
 * these modern values, which is what the model runs on; it does not translate hex written in an older
 * kernel's bit layout (see parseGfp).
 */

/** A gfp mask: a non-negative int below 2^31 made of the GFP bits. */
export type Gfp = number;

// The single bits (___GFP_*_BIT order of gfp_types.h).
const DMA = 0x1;
const HIGHMEM = 0x2;
const DMA32 = 0x4;
const MOVABLE = 0x8;
const RECLAIMABLE = 0x10;
const HIGH = 0x20;
const IO = 0x40;
const FS = 0x80;
const ZERO = 0x100;
// 0x200 unused (was __GFP_ATOMIC up to 6.2)
const DIRECT_RECLAIM = 0x400;
const KSWAPD_RECLAIM = 0x800;
const WRITE = 0x1000;
const NOWARN = 0x2000;
const RETRY_MAYFAIL = 0x4000;
const NOFAIL = 0x8000;
const NORETRY = 0x10000;
const MEMALLOC = 0x20000;
const COMP = 0x40000;
const NOMEMALLOC = 0x80000;
const HARDWALL = 0x100000;
const THISNODE = 0x200000;
const ACCOUNT = 0x400000;
const ZEROTAGS = 0x800000;
const NO_OBJ_EXT = 0x1000000;
/** Model-only: Lameter's __GFP_VFALLBACK has no mainline bit; 28 is far above ___GFP_LAST_BIT. */
const VFALLBACK = 1 << 28;

const RECLAIM = DIRECT_RECLAIM | KSWAPD_RECLAIM;
const KERNEL = RECLAIM | IO | FS;
const USER = KERNEL | HARDWALL;
const HIGHUSER = USER | HIGHMEM;
const HIGHUSER_MOVABLE = HIGHUSER | MOVABLE;
const TRANSHUGE_LIGHT = (HIGHUSER_MOVABLE | COMP | NOMEMALLOC | NOWARN) & ~RECLAIM;

export const GFP = {
  DMA,
  HIGHMEM,
  DMA32,
  MOVABLE,
  RECLAIMABLE,
  HIGH,
  IO,
  FS,
  ZERO,
  DIRECT_RECLAIM,
  KSWAPD_RECLAIM,
  WRITE,
  NOWARN,
  RETRY_MAYFAIL,
  NOFAIL,
  NORETRY,
  MEMALLOC,
  COMP,
  NOMEMALLOC,
  HARDWALL,
  THISNODE,
  ACCOUNT,
  ZEROTAGS,
  NO_OBJ_EXT,
  VFALLBACK,
  RECLAIM,
  KERNEL,
  KERNEL_ACCOUNT: KERNEL | ACCOUNT,
  ATOMIC: HIGH | KSWAPD_RECLAIM,
  /** Includes __GFP_NOWARN since 6.8 (before: __GFP_KSWAPD_RECLAIM alone). */
  NOWAIT: KSWAPD_RECLAIM | NOWARN,
  NOIO: RECLAIM,
  NOFS: RECLAIM | IO,
  USER,
  HIGHUSER,
  HIGHUSER_MOVABLE,
  TRANSHUGE_LIGHT,
  TRANSHUGE: TRANSHUGE_LIGHT | DIRECT_RECLAIM,
  /** The seeds' GFP_VFALLBACK: GFP_KERNEL with the virtual-fallback bit. */
  VFALLBACK_KERNEL: KERNEL | VFALLBACK,
} as const;

export const GFP_KERNEL = GFP.KERNEL;
export const GFP_KERNEL_ACCOUNT = GFP.KERNEL_ACCOUNT;
export const GFP_ATOMIC = GFP.ATOMIC;
export const GFP_NOWAIT = GFP.NOWAIT;
export const GFP_NOIO = GFP.NOIO;
export const GFP_NOFS = GFP.NOFS;
export const GFP_USER = GFP.USER;
export const GFP_DMA = GFP.DMA;
export const GFP_DMA32 = GFP.DMA32;
export const GFP_HIGHUSER = GFP.HIGHUSER;
export const GFP_HIGHUSER_MOVABLE = GFP.HIGHUSER_MOVABLE;
export const GFP_TRANSHUGE_LIGHT = GFP.TRANSHUGE_LIGHT;
export const GFP_TRANSHUGE = GFP.TRANSHUGE;
export const GFP_VFALLBACK = GFP.VFALLBACK_KERNEL;

/** Largest value a model gfp mask may take (the model keeps masks below 2^31). */
const GFP_MAX = 0x7fffffff;

/**
 * __def_gfpflag_names in the kernel's order: composites first (most bits first), then the single bits.
 * A mask prints as the first entries whose whole mask is still set, so GFP_NOIO hides __GFP_RECLAIM and GFP_DMA
 * hides __GFP_DMA: those later names never print but are kept, as in the kernel, for parsing.
 */
export const GFP_NAMES: ReadonlyArray<readonly [mask: number, name: string]> = [
  [GFP.TRANSHUGE, 'GFP_TRANSHUGE'],
  [GFP.TRANSHUGE_LIGHT, 'GFP_TRANSHUGE_LIGHT'],
  [GFP.HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'],
  [GFP.HIGHUSER, 'GFP_HIGHUSER'],
  [GFP.USER, 'GFP_USER'],
  [GFP.KERNEL_ACCOUNT, 'GFP_KERNEL_ACCOUNT'],
  [GFP.KERNEL, 'GFP_KERNEL'],
  [GFP.NOFS, 'GFP_NOFS'],
  [GFP.ATOMIC, 'GFP_ATOMIC'],
  [GFP.NOIO, 'GFP_NOIO'],
  [GFP.NOWAIT, 'GFP_NOWAIT'],
  [GFP.DMA, 'GFP_DMA'],
  [GFP.DMA32, 'GFP_DMA32'],
  [RECLAIM, '__GFP_RECLAIM'],
  [DMA, '__GFP_DMA'],
  [HIGHMEM, '__GFP_HIGHMEM'],
  [DMA32, '__GFP_DMA32'],
  [MOVABLE, '__GFP_MOVABLE'],
  [RECLAIMABLE, '__GFP_RECLAIMABLE'],
  [HIGH, '__GFP_HIGH'],
  [IO, '__GFP_IO'],
  [FS, '__GFP_FS'],
  [ZERO, '__GFP_ZERO'],
  [DIRECT_RECLAIM, '__GFP_DIRECT_RECLAIM'],
  [KSWAPD_RECLAIM, '__GFP_KSWAPD_RECLAIM'],
  [WRITE, '__GFP_WRITE'],
  [NOWARN, '__GFP_NOWARN'],
  [RETRY_MAYFAIL, '__GFP_RETRY_MAYFAIL'],
  [NOFAIL, '__GFP_NOFAIL'],
  [NORETRY, '__GFP_NORETRY'],
  [MEMALLOC, '__GFP_MEMALLOC'],
  [COMP, '__GFP_COMP'],
  [NOMEMALLOC, '__GFP_NOMEMALLOC'],
  [HARDWALL, '__GFP_HARDWALL'],
  [THISNODE, '__GFP_THISNODE'],
  [ACCOUNT, '__GFP_ACCOUNT'],
  [ZEROTAGS, '__GFP_ZEROTAGS'],
  [NO_OBJ_EXT, '__GFP_NO_OBJ_EXT'],
  [VFALLBACK, '__GFP_VFALLBACK'],
];

const NAME_MASKS = new Int32Array(GFP_NAMES.map(([mask]) => mask));
const NAME_STRINGS = GFP_NAMES.map(([, name]) => name);

// A trace prints the same few masks over and over: remember their text. Bounded so that a stream of distinct
// masks (a fuzzer, a property test) cannot grow it without limit.
const FLAGS_CACHE_MAX = 4096;
const flagsCache = new Map<number, string>();

function checkGfp(gfp: number, fn: string): void {
  if (!Number.isInteger(gfp) || gfp < 0 || gfp > GFP_MAX) {
    throw new RangeError(`${fn}: ${gfp} is not a gfp mask (an integer in 0..0x7fffffff)`);
  }
}

/** format_flags / trace_print_flags_seq: names joined by '|', leftover bits as 0x%lx; '' for 0. */
function flagsText(gfp: number): string {
  const cached = flagsCache.get(gfp);
  if (cached !== undefined) return cached;
  checkGfp(gfp, 'formatGfp');
  let rest = gfp;
  let out = '';
  for (let i = 0; i < NAME_MASKS.length && rest !== 0; i++) {
    const mask = NAME_MASKS[i]!;
    if ((rest & mask) !== mask) continue;
    out += out === '' ? NAME_STRINGS[i]! : '|' + NAME_STRINGS[i]!;
    rest &= ~mask;
  }
  if (rest !== 0) out += (out === '' ? '0x' : '|0x') + rest.toString(16);
  if (flagsCache.size >= FLAGS_CACHE_MAX) flagsCache.clear();
  flagsCache.set(gfp, out);
  return out;
}

/**
 * The gfp_flags field of the kmem tracepoints (show_gfp_flags): `none` for 0, else the names of
 * __def_gfpflag_names in table order joined by '|', and any bits no name covers as one trailing `0x%lx`.
 */
export function formatGfp(gfp: Gfp): string {
  return gfp === 0 ? 'none' : flagsText(gfp);
}

/**
 * warn_alloc's `mode:%#x(%pGg)` part, e.g. `0xcc0(GFP_KERNEL)`. The kernel's %#x prints 0 as `0x0` (unlike
 * glibc), and %pGg prints nothing for 0, so a zero mask is `0x0()`.
 */
export function formatGfpMode(gfp: Gfp): string {
  if (gfp === 0) return '0x0()';
  const flags = flagsText(gfp);
  return '0x' + gfp.toString(16) + '(' + flags + ')';
}

// ---------------------------------------------------------------------------------------------- parsing

interface NameDef {
  /** Bits the name sets, in the model's (modern) values. */
  set: number;
  /** Bits the name clears (__GFP_NO_KSWAPD meant "do not wake kswapd"). */
  clear: number;
  /** A single-bit name printed without the `__` prefix: trace text from a kernel before 4.6. */
  legacy: boolean;
}

const PARSE_NAMES = new Map<string, NameDef>();

function addName(name: string, set: number, clear = 0, legacy = false): void {
  if (!PARSE_NAMES.has(name)) PARSE_NAMES.set(name, { set, clear, legacy });
}

for (const [mask, name] of GFP_NAMES) addName(name, mask);
addName('GFP_VFALLBACK', GFP.VFALLBACK_KERNEL);
// Composites of older kernels, by their meaning in modern bits.
addName('GFP_TEMPORARY', KERNEL | RECLAIMABLE); // removed in 4.15
addName('GFP_IOFS', IO | FS); // removed in 4.4

/** Single bits that older kernels had and printed, with their modern counterpart (0: the model has none). */
const OLD_BITS: ReadonlyArray<readonly [name: string, set: number, clear?: number]> = [
  // __GFP_WAIT (up to 4.3) was "may sleep and reclaim"; kswapd was woken unless __GFP_NO_KSWAPD, so it is
  // __GFP_RECLAIM, as 4.4 renamed it (GFP_KERNEL was __GFP_WAIT|__GFP_IO|__GFP_FS).
  ['WAIT', RECLAIM],
  ['NO_KSWAPD', 0, KSWAPD_RECLAIM], // up to 4.3
  ['REPEAT', RETRY_MAYFAIL], // replaced by __GFP_RETRY_MAYFAIL in 4.13
  ['KMEMCG', ACCOUNT], // 3.8-3.15, the ancestor of __GFP_ACCOUNT
  ['ATOMIC', 0], // up to 6.2; its meaning is now "no __GFP_DIRECT_RECLAIM"
  ['COLD', 0], // up to 4.14
  ['NOTRACK', 0], // kmemcheck, up to 4.14
  ['OTHER_NODE', 0], // up to 4.9
  ['NOACCOUNT', 0], // 4.2-4.4
  ['NOLOCKDEP', 0], // CONFIG_LOCKDEP only
  ['SKIP_ZERO', 0], // CONFIG_KASAN_HW_TAGS only
  ['SKIP_KASAN', 0],
  ['SKIP_KASAN_POISON', 0],
  ['SKIP_KASAN_UNPOISON', 0],
];
for (const [bit, set, clear] of OLD_BITS) addName('__GFP_' + bit, set, clear ?? 0);

// Before 4.6 the trace printed single bits without the `__` prefix (GFP_NOWARN, GFP_WAIT, ...). Where the
// bare name is also a composite (GFP_DMA, GFP_ATOMIC, GFP_VFALLBACK) the composite was meant.
for (const [name, def] of [...PARSE_NAMES]) {
  if (name.startsWith('__GFP_')) addName(name.slice(2), def.set, def.clear, true);
}

/** "GFP_NOWAIT": handled apart, its value depends on the kernel. */
const NOWAIT_NAME = 'GFP_NOWAIT';

const EXPECTED_NAMES = [...PARSE_NAMES.keys()].filter((n) => !PARSE_NAMES.get(n)!.legacy).join(', ');

/** Kernel version as major * 1000 + minor. */
function kernelVersion(kernel: string): number {
  const m = /^v?(\d+)\.(\d+)/.exec(kernel.trim());
  if (m === null) {
    throw new Error(`parseGfp: cannot read kernel version "${kernel}"; expected e.g. "6.8" or "4.4.0-210-generic"`);
  }
  return Number(m[1]) * 1000 + Number(m[2]);
}

const V4_4 = 4004;
const V4_6 = 4006;
const V5_4 = 5004;
const V6_8 = 6008;

export interface ParseGfpOptions {
  /**
   * The kernel that printed the text (uname -r style). It decides what GFP_NOWAIT meant and whether hex can be
   * read in the model's bit layout. Without it the text is taken as from a current kernel, unless its names
   * are of the pre-4.6 style.
   */
  kernel?: string;
}

/**
 * Reads gfp text back into a model mask: the trace form (`GFP_KERNEL|__GFP_ZERO`), single-bit names with or
 * without `__` (`GFP_KERNEL|GFP_NOWARN|GFP_COMP`, as kernels before 4.6 printed them), names of removed flags,
 * hex (`0xcc0`, or a trace's leftover `|0x200`), `none`, and whitespace around `|`.
 *
 * Names become modern values. GFP_NOWAIT depends on the kernel: before 4.6 the trace printed it for an empty
 * mask, so it reads as 0 (kernels before 4.4 still woke kswapd for such a request: not modelled); from 4.6 it is
 * __GFP_KSWAPD_RECLAIM; it gained __GFP_NOWARN in 6.8 (Wilcox, "gfp: Include __GFP_NOWARN in GFP_NOWAIT").
 * Hex is taken in the model's layout, which kernels have used since at least 5.4 (4.19 still had another:
 * GFP_KERNEL was 0x6000c0); for an older `kernel` only the zone/IO/FS byte 0xff, which never moved, is
 * accepted (0x10 before 4.4 was __GFP_WAIT) and other bits throw.
 */
export function parseGfp(text: string, opts?: ParseGfpOptions): Gfp {
  // A replay parses the same few strings millions of times.
  const key = opts?.kernel === undefined ? text : opts.kernel + '\0' + text;
  const cached = parseCache.get(key);
  if (cached !== undefined) return cached;
  const value = parseGfpText(text, opts?.kernel);
  if (parseCache.size >= PARSE_CACHE_MAX) parseCache.clear();
  parseCache.set(key, value);
  return value;
}

const PARSE_CACHE_MAX = 4096;
const parseCache = new Map<string, number>();

function parseGfpText(text: string, kernel: string | undefined): Gfp {
  const version = kernel === undefined ? undefined : kernelVersion(kernel);
  const whole = text.trim();
  if (whole === '') throw new Error('parseGfp: empty gfp text; expected flag names joined by "|", 0x<hex> or none');
  if (whole === 'none') return 0;
  let set = 0;
  let clear = 0;
  let hex = 0;
  let legacy = false;
  let nowait = false;
  for (const raw of whole.split('|')) {
    const tok = raw.trim();
    if (tok === '') throw new Error(`parseGfp: empty flag between "|" separators in "${text}"`);
    if (tok === 'none') throw new Error(`parseGfp: "none" must stand alone, in "${text}"`);
    if (/^0x[0-9a-f]+$/i.test(tok)) {
      const digits = tok.slice(2).replace(/^0+/, '');
      const value = digits === '' ? 0 : Number.parseInt(digits, 16);
      if (digits.length > 8 || value > GFP_MAX) {
        throw new Error(`parseGfp: ${tok} in "${text}" has bits above bit 30; model gfp masks stay below 2^31`);
      }
      hex |= value;
      continue;
    }
    if (tok === NOWAIT_NAME) {
      nowait = true;
      continue;
    }
    const def = PARSE_NAMES.get(tok);
    if (def === undefined) {
      throw new Error(
        `parseGfp: unknown gfp flag "${tok}" in "${text}"; expected ${EXPECTED_NAMES} ` +
          '(single-bit names also without the leading "__"), a hex mask such as 0xcc0, or none',
      );
    }
    set |= def.set;
    clear |= def.clear;
    legacy ||= def.legacy;
  }
  if (nowait) {
    const oldStyle = version === undefined ? legacy : version < V4_6;
    set |= oldStyle ? 0 : version !== undefined && version < V6_8 ? KSWAPD_RECLAIM : GFP.NOWAIT;
  }
  if (hex !== 0 && version !== undefined && version < V5_4) {
    if ((hex & ~0xff) !== 0) {
      throw new Error(
        `parseGfp: ${'0x' + hex.toString(16)} in "${text}" is in the bit layout of kernel ${kernel}, ` +
          'which the model does not translate (only bits 0x01-0x80 kept their place); give the flag names instead',
      );
    }
    if (version < V4_4 && (hex & 0x10) !== 0) hex = (hex & ~0x10) | RECLAIM; // ___GFP_WAIT
  }
  return (set | hex) & ~clear;
}

// ------------------------------------------------------------------------------------------ migratetypes

export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
export const MIGRATE_PCPTYPES = 3;
export const MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES;
export const MIGRATE_ISOLATE = 4;
export const MIGRATE_TYPES = 5;

/** The names /proc/pagetypeinfo prints, indexed by migratetype (no CMA in the model). */
export const MIGRATETYPE_NAMES = ['Unmovable', 'Movable', 'Reclaimable', 'HighAtomic', 'Isolate'] as const;

const GFP_MOVABLE_MASK = RECLAIMABLE | MOVABLE;
const GFP_MOVABLE_SHIFT = 3;

/**
 * gfp_migratetype: __GFP_MOVABLE gives MOVABLE, __GFP_RECLAIMABLE gives RECLAIMABLE. Both together (the
 * kernel VM_WARNs) give 3, as in the kernel. page_group_by_mobility_disabled is the caller's business.
 */
export function gfpMigratetype(gfp: Gfp): number {
  return (gfp & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT;
}

/** gfpflags_allow_blocking: the caller may sleep in direct reclaim. */
export function gfpfAllowsBlocking(gfp: Gfp): boolean {
  return (gfp & DIRECT_RECLAIM) !== 0;
}

/** The caller may start physical IO (cleared by GFP_NOIO and memalloc_noio_save). */
export function gfpHasIo(gfp: Gfp): boolean {
  return (gfp & IO) !== 0;
}

/** The caller may call into the filesystem (cleared by GFP_NOFS and memalloc_nofs_save). */
export function gfpHasFs(gfp: Gfp): boolean {
  return (gfp & FS) !== 0;
}
