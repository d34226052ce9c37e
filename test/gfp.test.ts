import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  GFP,
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  GFP_HIGHUSER,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_KERNEL_ACCOUNT,
  GFP_NAMES,
  GFP_NOFS,
  GFP_NOIO,
  GFP_NOWAIT,
  GFP_TRANSHUGE,
  GFP_TRANSHUGE_LIGHT,
  GFP_USER,
  GFP_VFALLBACK,
  MIGRATETYPE_NAMES,
  MIGRATE_HIGHATOMIC,
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  formatGfp,
  formatGfpMode,
  gfpHasFs,
  gfpHasIo,
  gfpMigratetype,
  gfpfAllowsBlocking,
  parseGfp,
} from '../src/gfp.js';

/**
 * The flag table of a 6.18 x86_64 kernel's /sys/kernel/tracing/events/kmem/mm_page_alloc/format (print fmt,
 * __print_flags argument), one entry per line, as the kernel wrote it.
 */
const KERNEL_PRINT_FLAGS = `{( unsigned long)(((((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)) | (( gfp_t)((((1UL))) << (18))) | (( gfp_t)((((1UL))) << (19))) | (( gfp_t)((((1UL))) << (13)))) & ~(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))) | (( gfp_t)((((1UL))) << (10)))), "GFP_TRANSHUGE"},
{( unsigned long)((((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)) | (( gfp_t)((((1UL))) << (18))) | (( gfp_t)((((1UL))) << (19))) | (( gfp_t)((((1UL))) << (13)))) & ~(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))), "GFP_TRANSHUGE_LIGHT"},
{( unsigned long)((((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))) | (( gfp_t)((((1UL))) << (3))) | (( gfp_t)0)), "GFP_HIGHUSER_MOVABLE"},
{( unsigned long)(((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))) | (( gfp_t)((((1UL))) << (1)))), "GFP_HIGHUSER"},
{( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7))) | (( gfp_t)((((1UL))) << (20)))), "GFP_USER"},
{( unsigned long)(((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))) | (( gfp_t)((((1UL))) << (22)))), "GFP_KERNEL_ACCOUNT"},
{( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6))) | (( gfp_t)((((1UL))) << (7)))), "GFP_KERNEL"},
{( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))) | (( gfp_t)((((1UL))) << (6)))), "GFP_NOFS"},
{( unsigned long)((( gfp_t)((((1UL))) << (5)))|(( gfp_t)((((1UL))) << (11)))), "GFP_ATOMIC"},
{( unsigned long)((( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11))))), "GFP_NOIO"},
{( unsigned long)((( gfp_t)((((1UL))) << (11))) | (( gfp_t)((((1UL))) << (13)))), "GFP_NOWAIT"},
{( unsigned long)(( gfp_t)((((1UL))) << (0))), "GFP_DMA"},
{( unsigned long)(( gfp_t)((((1UL))) << (2))), "GFP_DMA32"},
{( unsigned long)(( gfp_t)(((((1UL))) << (10))|((((1UL))) << (11)))), "__GFP_RECLAIM"},
{( unsigned long)(( gfp_t)((((1UL))) << (0))), "__GFP_DMA"},
{( unsigned long)(( gfp_t)((((1UL))) << (1))), "__GFP_HIGHMEM"},
{( unsigned long)(( gfp_t)((((1UL))) << (2))), "__GFP_DMA32"},
{( unsigned long)(( gfp_t)((((1UL))) << (3))), "__GFP_MOVABLE"},
{( unsigned long)(( gfp_t)((((1UL))) << (4))), "__GFP_RECLAIMABLE"},
{( unsigned long)(( gfp_t)((((1UL))) << (5))), "__GFP_HIGH"},
{( unsigned long)(( gfp_t)((((1UL))) << (6))), "__GFP_IO"},
{( unsigned long)(( gfp_t)((((1UL))) << (7))), "__GFP_FS"},
{( unsigned long)(( gfp_t)((((1UL))) << (8))), "__GFP_ZERO"},
{( unsigned long)(( gfp_t)((((1UL))) << (10))), "__GFP_DIRECT_RECLAIM"},
{( unsigned long)(( gfp_t)((((1UL))) << (11))), "__GFP_KSWAPD_RECLAIM"},
{( unsigned long)(( gfp_t)((((1UL))) << (12))), "__GFP_WRITE"},
{( unsigned long)(( gfp_t)((((1UL))) << (13))), "__GFP_NOWARN"},
{( unsigned long)(( gfp_t)((((1UL))) << (14))), "__GFP_RETRY_MAYFAIL"},
{( unsigned long)(( gfp_t)((((1UL))) << (15))), "__GFP_NOFAIL"},
{( unsigned long)(( gfp_t)((((1UL))) << (16))), "__GFP_NORETRY"},
{( unsigned long)(( gfp_t)((((1UL))) << (17))), "__GFP_MEMALLOC"},
{( unsigned long)(( gfp_t)((((1UL))) << (18))), "__GFP_COMP"},
{( unsigned long)(( gfp_t)((((1UL))) << (19))), "__GFP_NOMEMALLOC"},
{( unsigned long)(( gfp_t)((((1UL))) << (20))), "__GFP_HARDWALL"},
{( unsigned long)(( gfp_t)((((1UL))) << (21))), "__GFP_THISNODE"},
{( unsigned long)(( gfp_t)((((1UL))) << (22))), "__GFP_ACCOUNT"},
{( unsigned long)(( gfp_t)((((1UL))) << (23))), "__GFP_ZEROTAGS"},
{( unsigned long)(( gfp_t)((((1UL))) << (24))), "__GFP_NO_OBJ_EXT"},
{ 0, ((void *)0) }`;

/** Every distinct gfp_flags value in a kmem trace (mm_page_alloc, kmalloc, kmem_cache_alloc) of that kernel. */
const REAL_TRACE_FLAGS = [
  'GFP_ATOMIC',
  'GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_NOMEMALLOC',
  'GFP_ATOMIC|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP',
  'GFP_HIGHUSER_MOVABLE|__GFP_COMP',
  'GFP_HIGHUSER_MOVABLE|__GFP_WRITE|__GFP_COMP',
  'GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP',
  'GFP_HIGHUSER|__GFP_ACCOUNT',
  'GFP_KERNEL',
  'GFP_KERNEL_ACCOUNT',
  'GFP_KERNEL_ACCOUNT|__GFP_RECLAIMABLE',
  'GFP_KERNEL_ACCOUNT|__GFP_ZERO',
  'GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP',
  'GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP',
  'GFP_KERNEL|__GFP_ZERO',
  'GFP_KERNEL|__GFP_ZERO|__GFP_COMP',
  'GFP_NOFS',
  'GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL',
  'GFP_NOFS|__GFP_NOFAIL|__GFP_COMP|__GFP_HARDWALL',
  'GFP_NOFS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP',
  'GFP_NOFS|__GFP_ZERO',
  'GFP_NOFS|__GFP_ZERO|__GFP_COMP',
  'GFP_NOFS|__GFP_ZERO|__GFP_NOFAIL',
  'GFP_NOFS|__GFP_ZERO|__GFP_NOFAIL|__GFP_ACCOUNT',
  'GFP_NOFS|__GFP_ZERO|__GFP_NOFAIL|__GFP_HARDWALL|__GFP_ACCOUNT',
  'GFP_NOWAIT',
  'GFP_NOWAIT|__GFP_ACCOUNT',
  'GFP_NOWAIT|__GFP_FS|__GFP_NORETRY|__GFP_NOMEMALLOC',
  'GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP|__GFP_THISNODE',
  'GFP_NOWAIT|__GFP_NORETRY|__GFP_NOMEMALLOC',
  'GFP_NOWAIT|__GFP_RECLAIMABLE|__GFP_NORETRY|__GFP_COMP',
  'GFP_NOWAIT|__GFP_ZERO',
  'GFP_USER',
  '__GFP_RECLAIMABLE|__GFP_IO|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC',
];

/** Lines copied from that trace. */
const REAL_TRACE_LINES = `cat-11879   [001] ...1.   384.182525: mm_page_alloc: page=00000000e2f225b9 pfn=0x12cc40 order=0 migratetype=2 gfp_flags=GFP_ATOMIC|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP
bash-11873   [000] .....   379.083356: mm_page_alloc: page=00000000f8e2ebe6 pfn=0x14005b order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP
memfd:sealed-91-1056    [001] .....   384.600838: mm_page_alloc: page=000000003a5dce3d pfn=0x142d55 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_WRITE|__GFP_COMP
ls-11878   [000] .....   379.084008: mm_page_alloc: page=000000004115fc1a pfn=0x1265ea order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP
cat-11888   [001] .....   384.617811: mm_page_alloc: page=0000000003d3d78a pfn=0x108fb2 order=0 migratetype=0 gfp_flags=GFP_HIGHUSER|__GFP_ACCOUNT
bash-11873   [000] .....   379.083122: mm_page_alloc: page=00000000a955280d pfn=0x12a50d order=0 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP
ls-11878   [000] .....   381.082869: mm_page_alloc: page=00000000def77fe6 pfn=0x129363 order=0 migratetype=2 gfp_flags=GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP
cat-11879   [001] .N...   384.089087: mm_page_alloc: page=00000000cfbcf8d9 pfn=0x110ed9 order=0 migratetype=1 gfp_flags=GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL
ls-11878   [000] .....   379.085879: mm_page_alloc: page=0000000003609a0c pfn=0x119603 order=0 migratetype=0 gfp_flags=GFP_NOFS|__GFP_NOFAIL|__GFP_COMP|__GFP_HARDWALL
cat-11879   [001] .....   384.169168: mm_page_alloc: page=000000008c1c4c90 pfn=0x124bc5 order=0 migratetype=0 gfp_flags=GFP_NOFS|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP
ls-11878   [000] ...1.   379.084104: mm_page_alloc: page=000000006d1a1b11 pfn=0x12a87f order=0 migratetype=0 gfp_flags=GFP_NOWAIT
cat-11879   [001] d..1.   384.173470: mm_page_alloc: page=000000006e7b6692 pfn=0x124bc4 order=0 migratetype=0 gfp_flags=GFP_NOWAIT|__GFP_NORETRY|__GFP_COMP|__GFP_THISNODE
cat-11879   [001] d..1.   384.127924: mm_page_alloc: page=00000000422d776b pfn=0x132406 order=1 migratetype=2 gfp_flags=GFP_NOWAIT|__GFP_RECLAIMABLE|__GFP_NORETRY|__GFP_COMP
ls-11878   [000] .....   381.082688: mm_page_alloc: page=000000000c851419 pfn=0x11fcd0 order=2 migratetype=2 gfp_flags=__GFP_RECLAIMABLE|__GFP_IO|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC
bash-11873   [000] .....   379.082897: kmalloc: call_site=eventfs_set_attr+0x10d/0x140 ptr=0000000069291b94 bytes_req=60 bytes_alloc=64 gfp_flags=GFP_NOFS|__GFP_ZERO node=-1 accounted=false
bash-11873   [000] .....   379.083032: kmem_cache_alloc: call_site=copy_process+0x1a5/0x1d80 ptr=0000000067bd4177 name=task_struct bytes_req=4248 bytes_alloc=4288 gfp_flags=GFP_KERNEL node=-1 accounted=true`;

/** The single bits the model knows (the model-only VFALLBACK included). */
const KNOWN_BITS = GFP_NAMES.map(([mask]) => mask).filter((m) => (m & (m - 1)) === 0);

function kernelTable(): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const m of KERNEL_PRINT_FLAGS.matchAll(/\{\( unsigned long\)(.*), "(\w+)"\}/g)) {
    // Only casts, 1UL, shifts, |, & and ~ appear; with the casts and the UL gone it is a JS expression.
    const expr = m[1]!.replaceAll('( gfp_t)', '').replaceAll('1UL', '1');
    expect(expr).toMatch(/^[\d\s()|&~<]+$/);
    out.push([(new Function(`return (${expr});`)() as number) >>> 0, m[2]!]);
  }
  return out;
}

describe('the kernel constants', () => {
  it('gives the 6.x values of the composites', () => {
    expect(GFP.RECLAIM).toBe(0xc00);
    expect(GFP_KERNEL).toBe(0xcc0);
    expect(GFP_KERNEL_ACCOUNT).toBe(0x400cc0);
    expect(GFP_ATOMIC).toBe(0x820);
    expect(GFP_NOWAIT).toBe(0x2800);
    expect(GFP_NOIO).toBe(0xc00);
    expect(GFP_NOFS).toBe(0xc40);
    expect(GFP_USER).toBe(0x100cc0);
    expect(GFP_HIGHUSER).toBe(0x100cc2);
    expect(GFP_HIGHUSER_MOVABLE).toBe(0x100cca);
    expect(GFP_TRANSHUGE_LIGHT).toBe(0x1c20ca);
    expect(GFP_TRANSHUGE).toBe(0x1c24ca);
    expect(GFP_DMA).toBe(GFP.DMA);
    expect(GFP_DMA32).toBe(GFP.DMA32);
    expect(GFP_VFALLBACK).toBe(0xcc0 | (1 << 28));
    expect(GFP.VFALLBACK_KERNEL).toBe(GFP_VFALLBACK);
  });

  it('keeps every mask a non-negative int32', () => {
    for (const v of Object.values(GFP)) {
      expect(Number.isInteger(v) && v >= 0 && v < 2 ** 31).toBe(true);
      expect(v | 0).toBe(v);
    }
  });

  it('has the name table of the kernel, in its order, with __GFP_VFALLBACK appended', () => {
    const kernel = kernelTable();
    expect(kernel.length).toBe(38);
    expect(GFP_NAMES.slice(0, -1).map(([m, n]) => [m, n])).toEqual(kernel);
    expect(GFP_NAMES.at(-1)).toEqual([1 << 28, '__GFP_VFALLBACK']);
  });
});

describe('formatGfp', () => {
  it('prints as the trace prints', () => {
    expect(formatGfp(0)).toBe('none');
    expect(formatGfp(GFP_KERNEL)).toBe('GFP_KERNEL');
    expect(formatGfp(GFP_KERNEL | GFP.ZERO)).toBe('GFP_KERNEL|__GFP_ZERO');
    expect(formatGfp(GFP_HIGHUSER_MOVABLE | GFP.ZERO)).toBe('GFP_HIGHUSER_MOVABLE|__GFP_ZERO');
    expect(formatGfp(GFP_ATOMIC | GFP.NOWARN)).toBe('GFP_ATOMIC|__GFP_NOWARN');
    expect(formatGfp(GFP_TRANSHUGE)).toBe('GFP_TRANSHUGE');
    expect(formatGfp(GFP_TRANSHUGE_LIGHT)).toBe('GFP_TRANSHUGE_LIGHT');
    expect(formatGfp(GFP_NOWAIT)).toBe('GFP_NOWAIT');
    expect(formatGfp(GFP_KERNEL_ACCOUNT)).toBe('GFP_KERNEL_ACCOUNT');
    expect(formatGfp(GFP_USER)).toBe('GFP_USER');
  });

  it('lets earlier table entries hide later ones', () => {
    expect(formatGfp(GFP.RECLAIM)).toBe('GFP_NOIO'); // __GFP_RECLAIM never prints
    expect(formatGfp(GFP.DMA)).toBe('GFP_DMA');
    expect(formatGfp(GFP.DMA32 | GFP.ZERO)).toBe('GFP_DMA32|__GFP_ZERO');
    expect(formatGfp(GFP.KSWAPD_RECLAIM)).toBe('__GFP_KSWAPD_RECLAIM');
    expect(formatGfp(GFP.DIRECT_RECLAIM)).toBe('__GFP_DIRECT_RECLAIM');
    // GFP_HIGHUSER comes before GFP_KERNEL_ACCOUNT, so accounting shows as a single bit.
    expect(formatGfp(GFP_HIGHUSER | GFP.ACCOUNT)).toBe('GFP_HIGHUSER|__GFP_ACCOUNT');
    // GFP_ATOMIC takes HIGH|KSWAPD_RECLAIM first; the rest of GFP_NOWAIT is then only NOWARN.
    expect(formatGfp(GFP_NOWAIT | GFP.HIGH)).toBe('GFP_ATOMIC|__GFP_NOWARN');
  });

  it('appends bits without a name as one 0x%lx', () => {
    expect(formatGfp(0x200)).toBe('0x200');
    expect(formatGfp(GFP_KERNEL | 0x200)).toBe('GFP_KERNEL|0x200');
    expect(formatGfp(GFP_KERNEL | 0x200 | 0x2000000)).toBe('GFP_KERNEL|0x2000200');
    expect(formatGfp(0x40000000 | GFP.ZERO)).toBe('__GFP_ZERO|0x40000000');
  });

  it('prints the model-only __GFP_VFALLBACK by name, last', () => {
    expect(formatGfp(GFP.VFALLBACK)).toBe('__GFP_VFALLBACK');
    expect(formatGfp(GFP_VFALLBACK)).toBe('GFP_KERNEL|__GFP_VFALLBACK');
    expect(formatGfp(GFP_VFALLBACK | GFP.COMP | 0x200)).toBe('GFP_KERNEL|__GFP_COMP|__GFP_VFALLBACK|0x200');
  });

  it('gives the same text when asked again (cached)', () => {
    const v = GFP_HIGHUSER_MOVABLE | GFP.ZERO | GFP.COMP;
    expect(formatGfp(v)).toBe('GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP');
    expect(formatGfp(v)).toBe('GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP');
  });

  it('rejects what is not a gfp mask', () => {
    expect(() => formatGfp(-1)).toThrow(RangeError);
    expect(() => formatGfp(2 ** 31)).toThrow(RangeError);
    expect(() => formatGfp(1.5)).toThrow(/not a gfp mask/);
    expect(() => formatGfpMode(-0x800)).toThrow(RangeError);
  });
});

describe('formatGfpMode', () => {
  it("prints warn_alloc's mode:%#x(%pGg)", () => {
    expect(formatGfpMode(GFP_KERNEL)).toBe('0xcc0(GFP_KERNEL)');
    // From 5.4 and 6.16 OOM reports (invoked oom-killer: gfp_mask=...).
    expect(formatGfpMode(0x100cca)).toBe('0x100cca(GFP_HIGHUSER_MOVABLE)');
    expect(formatGfpMode(0x140dca)).toBe('0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP)');
    expect(formatGfpMode(GFP_KERNEL | 0x200)).toBe('0xec0(GFP_KERNEL|0x200)');
    expect(formatGfpMode(0x200)).toBe('0x200(0x200)');
  });

  it('prints 0 as the kernel does: %#x gives 0x0 and %pGg nothing', () => {
    expect(formatGfpMode(0)).toBe('0x0()');
  });
});

describe('real traces', () => {
  it('prints back every gfp_flags string read from a kernel trace', () => {
    for (const s of REAL_TRACE_FLAGS) expect(formatGfp(parseGfp(s))).toBe(s);
  });

  it('finds the migratetype the kernel traced next to the flags', () => {
    let pageAllocs = 0;
    for (const line of REAL_TRACE_LINES.split('\n')) {
      const flags = /gfp_flags=(\S+)/.exec(line)![1]!;
      expect(formatGfp(parseGfp(flags))).toBe(flags);
      const mt = /migratetype=(\d+)/.exec(line);
      if (mt === null) continue;
      pageAllocs++;
      expect(gfpMigratetype(parseGfp(flags))).toBe(Number(mt[1]));
    }
    expect(pageAllocs).toBe(14);
  });
});

describe('parseGfp', () => {
  it('reads trace text, hex, none and spaces around |', () => {
    expect(parseGfp('none')).toBe(0);
    expect(parseGfp('GFP_KERNEL')).toBe(0xcc0);
    expect(parseGfp('GFP_KERNEL|__GFP_ZERO')).toBe(0xdc0);
    expect(parseGfp('  GFP_KERNEL |  __GFP_ZERO ')).toBe(0xdc0);
    expect(parseGfp('0xcc0')).toBe(GFP_KERNEL);
    expect(parseGfp('0X100CCA')).toBe(GFP_HIGHUSER_MOVABLE);
    expect(parseGfp('0x0')).toBe(0);
    expect(parseGfp('GFP_KERNEL|0x200')).toBe(0xec0);
    expect(parseGfp('__GFP_RECLAIM|__GFP_DMA')).toBe(0xc01);
    expect(parseGfp('__GFP_VFALLBACK')).toBe(1 << 28);
    expect(parseGfp('GFP_VFALLBACK')).toBe(GFP_VFALLBACK);
  });

  it('reads single-bit names without the __ prefix, as kernels before 4.6 printed them', () => {
    expect(parseGfp('GFP_KERNEL|GFP_NOWARN|GFP_COMP')).toBe(GFP_KERNEL | GFP.NOWARN | GFP.COMP);
    expect(parseGfp('GFP_HIGHUSER_MOVABLE|GFP_ZERO')).toBe(0x100dca);
    expect(parseGfp('GFP_NOWARN|__GFP_NORETRY')).toBe(GFP.NOWARN | GFP.NORETRY);
    expect(parseGfp('GFP_THISNODE')).toBe(GFP.THISNODE); // the bit: old traces never printed the composite
    expect(parseGfp('GFP_DMA')).toBe(GFP.DMA);
  });

  it('maps flags of older kernels to their modern values', () => {
    expect(parseGfp('GFP_WAIT|GFP_IO')).toBe(GFP_NOFS); // __GFP_WAIT became __GFP_RECLAIM in 4.4
    expect(parseGfp('GFP_WAIT|GFP_NO_KSWAPD')).toBe(GFP.DIRECT_RECLAIM);
    expect(parseGfp('GFP_HIGHUSER_MOVABLE|GFP_COLD')).toBe(GFP_HIGHUSER_MOVABLE); // no __GFP_COLD since 4.15
    expect(parseGfp('GFP_KERNEL|__GFP_REPEAT')).toBe(GFP_KERNEL | GFP.RETRY_MAYFAIL);
    expect(parseGfp('__GFP_HIGH|__GFP_ATOMIC|__GFP_NOWARN')).toBe(GFP.HIGH | GFP.NOWARN);
    expect(parseGfp('GFP_TEMPORARY')).toBe(GFP_KERNEL | GFP.RECLAIMABLE);
    expect(parseGfp('GFP_USER|__GFP_NOTRACK|__GFP_OTHER_NODE')).toBe(GFP_USER);
  });

  it('gives GFP_NOWAIT the value it had in the kernel that printed it', () => {
    expect(parseGfp('GFP_NOWAIT')).toBe(0x2800);
    expect(parseGfp('GFP_NOWAIT', { kernel: '6.18.44-fc-v782' })).toBe(0x2800);
    expect(parseGfp('GFP_NOWAIT', { kernel: '6.8' })).toBe(0x2800);
    expect(parseGfp('GFP_NOWAIT', { kernel: '6.1.0-18-amd64' })).toBe(0x800);
    expect(parseGfp('GFP_NOWAIT|__GFP_NOWARN', { kernel: '5.15.0-91-generic' })).toBe(0x2800);
    expect(parseGfp('GFP_NOWAIT', { kernel: '4.6' })).toBe(0x800);
    // Before 4.6 the trace printed GFP_NOWAIT for an empty mask.
    expect(parseGfp('GFP_NOWAIT', { kernel: '4.4.0-210-generic' })).toBe(0);
    expect(parseGfp('GFP_NOWAIT', { kernel: 'v3.10' })).toBe(0);
    expect(parseGfp('GFP_NOWAIT|GFP_NOWARN')).toBe(GFP.NOWARN); // old-style names: an old kernel
  });

  it('reads hex of an older kernel only where the bit layout did not move', () => {
    expect(parseGfp('GFP_KERNEL|0x2', { kernel: '4.4' })).toBe(GFP_KERNEL | GFP.HIGHMEM);
    expect(parseGfp('0xd0', { kernel: '3.10' })).toBe(GFP_KERNEL); // ___GFP_WAIT was 0x10
    expect(parseGfp('0xd0', { kernel: '4.19' })).toBe(GFP.RECLAIMABLE | GFP.IO | GFP.FS);
    expect(() => parseGfp('0x24201ca', { kernel: '4.4.0-210-generic' })).toThrow(
      /0x24201ca .*bit layout of kernel 4\.4\.0-210-generic/,
    );
    expect(() => parseGfp('0x6200ca', { kernel: '4.19' })).toThrow(/give the flag names instead/);
    expect(parseGfp('0x100cca', { kernel: '5.4.17' })).toBe(GFP_HIGHUSER_MOVABLE);
  });

  it('names the unknown token and what it expected', () => {
    let message = '';
    try {
      parseGfp('GFP_KERNEL|GFP_BOGUS');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('"GFP_BOGUS"');
    expect(message).toContain('"GFP_KERNEL|GFP_BOGUS"');
    for (const name of ['GFP_TRANSHUGE', 'GFP_KERNEL', 'GFP_NOWAIT', '__GFP_ZERO', '__GFP_VFALLBACK', 'none']) {
      expect(message).toContain(name);
    }
    expect(message).toMatch(/without the leading "__"/);
    expect(message).toMatch(/0xcc0/);
    expect(() => parseGfp('gfp_kernel')).toThrow(/unknown gfp flag "gfp_kernel"/);
    expect(() => parseGfp('0xcc0g')).toThrow(/unknown gfp flag "0xcc0g"/);
  });

  it('rejects malformed text', () => {
    expect(() => parseGfp('')).toThrow(/empty gfp text/);
    expect(() => parseGfp('   ')).toThrow(/empty gfp text/);
    expect(() => parseGfp('GFP_KERNEL||__GFP_ZERO')).toThrow(/empty flag between "\|"/);
    expect(() => parseGfp('GFP_KERNEL|')).toThrow(/empty flag/);
    expect(() => parseGfp('none|GFP_KERNEL')).toThrow(/"none" must stand alone/);
    expect(() => parseGfp('0x80000000')).toThrow(/below 2\^31/);
    expect(() => parseGfp('0x100000000cc0')).toThrow(/below 2\^31/);
    expect(() => parseGfp('GFP_KERNEL', { kernel: 'banana' })).toThrow(/cannot read kernel version "banana"/);
    // A failed parse is not remembered as a value.
    for (let i = 0; i < 2; i++) expect(() => parseGfp('GFP_KERNEL|GFP_BOGUS')).toThrow(/GFP_BOGUS/);
  });
});

describe('round trips', () => {
  it('parseGfp(formatGfp(x)) === x for masks of known bits', () => {
    fc.assert(
      fc.property(fc.subarray(KNOWN_BITS), (bits) => {
        const x = bits.reduce((a, b) => a | b, 0);
        const text = formatGfp(x);
        expect(parseGfp(text)).toBe(x);
        expect(text).not.toMatch(/0x/);
      }),
      { numRuns: 2000 },
    );
  });

  it('parseGfp(formatGfp(x)) === x for any mask, unnamed bits going through hex', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (x) => {
        const text = formatGfp(x);
        expect(parseGfp(text)).toBe(x);
        if (x !== 0) expect(formatGfpMode(x)).toBe(`0x${x.toString(16)}(${text})`);
      }),
      { numRuns: 2000 },
    );
  });

  it('prints each bit once: the names printed cover disjoint bits', () => {
    const byName = new Map(GFP_NAMES.map(([m, n]) => [n, m] as const));
    fc.assert(
      fc.property(fc.subarray(KNOWN_BITS), (bits) => {
        const x = bits.reduce((a, b) => a | b, 0);
        if (x === 0) return;
        let seen = 0;
        for (const name of formatGfp(x).split('|')) {
          const m = byName.get(name)!;
          expect(m & seen).toBe(0);
          seen |= m;
        }
        expect(seen).toBe(x);
      }),
    );
  });
});

describe('migratetypes', () => {
  it('derives the migratetype from __GFP_MOVABLE and __GFP_RECLAIMABLE', () => {
    expect(gfpMigratetype(GFP_KERNEL)).toBe(MIGRATE_UNMOVABLE);
    expect(gfpMigratetype(GFP_HIGHUSER_MOVABLE)).toBe(MIGRATE_MOVABLE);
    expect(gfpMigratetype(GFP_KERNEL | GFP.RECLAIMABLE)).toBe(MIGRATE_RECLAIMABLE);
    expect(gfpMigratetype(GFP_TRANSHUGE)).toBe(MIGRATE_MOVABLE);
    expect(gfpMigratetype(GFP.MOVABLE | GFP.RECLAIMABLE)).toBe(3);
    expect(MIGRATETYPE_NAMES[gfpMigratetype(GFP_HIGHUSER_MOVABLE)]).toBe('Movable');
    expect(MIGRATETYPE_NAMES[gfpMigratetype(GFP_KERNEL | GFP.RECLAIMABLE)]).toBe('Reclaimable');
  });

  it('numbers the migratetypes as the kernel (without CMA)', () => {
    expect([MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE]).toEqual([0, 1, 2]);
    expect(MIGRATE_PCPTYPES).toBe(3);
    expect(MIGRATE_HIGHATOMIC).toBe(MIGRATE_PCPTYPES);
    expect(MIGRATE_ISOLATE).toBe(4);
    expect(MIGRATE_TYPES).toBe(5);
    expect(MIGRATETYPE_NAMES.length).toBe(MIGRATE_TYPES);
    expect(MIGRATETYPE_NAMES[MIGRATE_HIGHATOMIC]).toBe('HighAtomic');
    expect(MIGRATETYPE_NAMES[MIGRATE_ISOLATE]).toBe('Isolate');
  });
});

describe('predicates', () => {
  it('tells blocking from atomic contexts', () => {
    expect(gfpfAllowsBlocking(GFP_KERNEL)).toBe(true);
    expect(gfpfAllowsBlocking(GFP_NOIO)).toBe(true);
    expect(gfpfAllowsBlocking(GFP_TRANSHUGE)).toBe(true);
    expect(gfpfAllowsBlocking(GFP_TRANSHUGE_LIGHT)).toBe(false);
    expect(gfpfAllowsBlocking(GFP_ATOMIC)).toBe(false);
    expect(gfpfAllowsBlocking(GFP_NOWAIT)).toBe(false);
    expect(gfpfAllowsBlocking(GFP.KSWAPD_RECLAIM)).toBe(false);
  });

  it('tells whether IO and FS are allowed', () => {
    expect([gfpHasIo(GFP_KERNEL), gfpHasFs(GFP_KERNEL)]).toEqual([true, true]);
    expect([gfpHasIo(GFP_NOFS), gfpHasFs(GFP_NOFS)]).toEqual([true, false]);
    expect([gfpHasIo(GFP_NOIO), gfpHasFs(GFP_NOIO)]).toEqual([false, false]);
    expect([gfpHasIo(GFP_ATOMIC), gfpHasFs(GFP_ATOMIC)]).toEqual([false, false]);
  });
});
