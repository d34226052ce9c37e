/**
 * The tracepoints the model emits, as include/trace/events/kmem.h, vmalloc.h, compaction.h and vmscan.h define
 * them: each event's fields are recorded as numbers (and at most two strings the caller already holds: a call
 * site, a cache name) and turned into the kernel's TP_printk text only when the trace is read, so a long run
 * with a bounded ring formats only the lines it keeps.
 */
import { formatGfp } from '../gfp.js';

/** Events by tracefs name, in TRACE_EVENTS order. */
export const TRACE_EVENTS = [
  'mm_page_alloc',
  'mm_page_free',
  'mm_page_free_batched',
  'mm_page_alloc_zone_locked',
  'mm_page_pcpu_drain',
  'mm_page_alloc_extfrag',
  'kmalloc',
  'kfree',
  'kmem_cache_alloc',
  'kmem_cache_free',
  'alloc_vmap_area',
  'free_vmap_area_noflush',
  'purge_vmap_area_lazy',
  'mm_compaction_begin',
  'mm_compaction_end',
  'mm_vmscan_direct_reclaim_begin',
  'mm_vmscan_direct_reclaim_end',
  'mm_vmscan_kswapd_wake',
] as const;
export type TraceEvent = (typeof TRACE_EVENTS)[number];

export const EV_MM_PAGE_ALLOC = 0;
export const EV_MM_PAGE_FREE = 1;
export const EV_MM_PAGE_FREE_BATCHED = 2;
export const EV_MM_PAGE_ALLOC_ZONE_LOCKED = 3;
export const EV_MM_PAGE_PCPU_DRAIN = 4;
export const EV_MM_PAGE_ALLOC_EXTFRAG = 5;
export const EV_KMALLOC = 6;
export const EV_KFREE = 7;
export const EV_KMEM_CACHE_ALLOC = 8;
export const EV_KMEM_CACHE_FREE = 9;
export const EV_ALLOC_VMAP_AREA = 10;
export const EV_FREE_VMAP_AREA_NOFLUSH = 11;
export const EV_PURGE_VMAP_AREA_LAZY = 12;
export const EV_MM_COMPACTION_BEGIN = 13;
export const EV_MM_COMPACTION_END = 14;
export const EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN = 15;
export const EV_MM_VMSCAN_DIRECT_RECLAIM_END = 16;
export const EV_MM_VMSCAN_KSWAPD_WAKE = 17;

/**
 * enum compact_result as mm_compaction_end's __print_symbolic() names it (include/trace/events/mmflags.h
 * COMPACTION_STATUS), indexed by the enum's value: COMPACT_NOT_SUITABLE_ZONE 0 ... COMPACT_SUCCESS 8.
 */
export const COMPACTION_STATUS_NAMES = [
  'not_suitable_zone', 'skipped', 'deferred', 'no_suitable_page', 'continue', 'complete', 'partial_skipped', 'contended', 'success',
] as const;

/** x86_64's vmemmap_base (0xffffea0000000000, low 48 bits): the struct page a page= field points at. */
const VMEMMAP_BASE = 0xea0000000000;

/** The numbers and strings one record holds. */
export interface TraceRecord {
  a: Float64Array;
  s0: string;
  s1: string;
}

/** `%p` printer (hashed) the formatter is given by the buffer. */
export type PtrFormat = (value: number) => string;

/** struct page * of a pfn, as the page= fields print it. */
export function pagePtr(pfn: number): number {
  return VMEMMAP_BASE + pfn * 64;
}

/**
 * An unsigned long holding a kernel address, in hex without 0x: x86_64 addresses are kept as their low 48
 * bits and printed sign-extended to 64 (`long64`), i386 ones as they are.
 */
export function longHex(addr: number, long64: boolean): string {
  return long64 && addr >= 0x800000000000 ? 'ffff' + addr.toString(16).padStart(12, '0') : addr.toString(16);
}

/** The same in decimal (`%lu`), exact beyond 2^53 (formatting only: never on a hot path). */
export function longDec(addr: number, long64: boolean): string {
  return long64 && addr >= 0x800000000000 ? (BigInt(addr) + 0xffff000000000000n).toString() : String(addr);
}

/** TP_printk() of event `ev` for the record's fields a[0..6], s0, s1. */
export function formatFields(ev: number, a: Float64Array, s0: string, s1: string, ptr: PtrFormat, long64 = true): string {
  switch (ev) {
    case EV_MM_PAGE_ALLOC: {
      // A failed allocation records pfn -1: page=NULL pfn=0.
      const pfn = a[0];
      const page = pfn < 0 ? ptr(0) : ptr(pagePtr(pfn));
      return `page=${page} pfn=0x${(pfn < 0 ? 0 : pfn).toString(16)} order=${a[1]} migratetype=${a[2]} gfp_flags=${formatGfp(a[3])}`;
    }
    case EV_MM_PAGE_FREE:
      return `page=${ptr(pagePtr(a[0]))} pfn=0x${a[0].toString(16)} order=${a[1]}`;
    case EV_MM_PAGE_FREE_BATCHED:
      return `page=${ptr(pagePtr(a[0]))} pfn=0x${a[0].toString(16)} order=0`;
    case EV_MM_PAGE_ALLOC_ZONE_LOCKED:
      return `page=${ptr(pagePtr(a[0]))} pfn=0x${a[0].toString(16)} order=${a[1]} migratetype=${a[2]} percpu_refill=${a[3]}`;
    case EV_MM_PAGE_PCPU_DRAIN:
      return `page=${ptr(pagePtr(a[0]))} pfn=0x${a[0].toString(16)} order=${a[1]} migratetype=${a[2]}`;
    case EV_MM_PAGE_ALLOC_EXTFRAG:
      // a: pfn, alloc_order, fallback_order, pageblock_order, alloc_mt, fallback_mt, change_ownership
      return `page=${ptr(pagePtr(a[0]))} pfn=0x${a[0].toString(16)} alloc_order=${a[1]} fallback_order=${a[2]} pageblock_order=${a[3]} alloc_migratetype=${a[4]} fallback_migratetype=${a[5]} fragmenting=${a[2] < a[3] ? 1 : 0} change_ownership=${a[6]}`;
    case EV_KMALLOC:
      // a: ptr, bytes_req, bytes_alloc, gfp, accounted; s0: call site
      return `call_site=${s0} ptr=${ptr(a[0])} bytes_req=${a[1]} bytes_alloc=${a[2]} gfp_flags=${formatGfp(a[3])} node=-1 accounted=${a[4] ? 'true' : 'false'}`;
    case EV_KFREE:
      return `call_site=${s0} ptr=${ptr(a[0])}`;
    case EV_KMEM_CACHE_ALLOC:
      // as kmalloc, with s1 the cache name
      return `call_site=${s0} ptr=${ptr(a[0])} name=${s1} bytes_req=${a[1]} bytes_alloc=${a[2]} gfp_flags=${formatGfp(a[3])} node=-1 accounted=${a[4] ? 'true' : 'false'}`;
    case EV_KMEM_CACHE_FREE:
      return `call_site=${s0} ptr=${ptr(a[0])} name=${s1}`;
    case EV_ALLOC_VMAP_AREA:
      // a: addr (vend when failed), size, align, vstart, vend, failed. "va_start: %lu" is the kernel's own text.
      return `va_start: ${longDec(a[0], long64)} size=${a[1]} align=${a[2]} vstart=0x${longHex(a[3], long64)} vend=0x${longHex(a[4], long64)} failed=${a[5]}`;
    case EV_FREE_VMAP_AREA_NOFLUSH:
      return `va_start=0x${longHex(a[0], long64)} nr_lazy=${a[1]} nr_lazy_max=${a[2]}`;
    case EV_PURGE_VMAP_AREA_LAZY:
      return `start=0x${longHex(a[0], long64)} end=0x${longHex(a[1], long64)} num_purged=${a[2]}`;
    case EV_MM_COMPACTION_BEGIN:
      // a: zone_start, migrate_pfn, free_pfn, zone_end, sync
      return `zone_start=0x${a[0].toString(16)} migrate_pfn=0x${a[1].toString(16)} free_pfn=0x${a[2].toString(16)} zone_end=0x${a[3].toString(16)}, mode=${a[4] ? 'sync' : 'async'}`;
    case EV_MM_COMPACTION_END:
      // as begin, with a[5] the enum compact_result
      return `zone_start=0x${a[0].toString(16)} migrate_pfn=0x${a[1].toString(16)} free_pfn=0x${a[2].toString(16)} zone_end=0x${a[3].toString(16)}, mode=${a[4] ? 'sync' : 'async'} status=${COMPACTION_STATUS_NAMES[a[5]]}`;
    case EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN:
      // a: order, gfp
      return `order=${a[0]} gfp_flags=${formatGfp(a[1])}`;
    case EV_MM_VMSCAN_DIRECT_RECLAIM_END:
      return `nr_reclaimed=${a[0]}`;
    case EV_MM_VMSCAN_KSWAPD_WAKE:
      // a: nid, zid, order; the kernel records zid but prints only nid and order
      return `nid=${a[0]} order=${a[2]}`;
    default:
      throw new Error(`trace: no format for event ${ev}`);
  }
}
