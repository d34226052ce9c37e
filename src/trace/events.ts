/**
 * The tracepoints the model emits, as include/trace/events/kmem.h defines them: each event's fields are
 * recorded as numbers (and at most two strings the caller already holds: a call site, a cache name) and
 * turned into the kernel's TP_printk text only when the trace is read, so a long run with a bounded ring
 * formats only the lines it keeps.
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

/** TP_printk() of event `ev` for the record's fields a[0..6], s0, s1. */
export function formatFields(ev: number, a: Float64Array, s0: string, s1: string, ptr: PtrFormat): string {
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
    default:
      throw new Error(`trace: no format for event ${ev}`);
  }
}
