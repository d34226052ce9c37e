/**
 * `mmlab analyze TRACE`: what `perf kmem stat --page --slab` reports of a trace (tools/perf/builtin-kmem.c),
 * without a model: page allocations and frees per order, migratetype and gfp; slab allocations per call site
 * and per cache (bytes requested and allocated, internal fragmentation, hits, frees); lifetimes of objects and
 * pages that were allocated and freed within the trace; and what could not be paired.
 * Pages pair on pfn (perf's page= is meaningless), objects on the pointer text. Like perf, internal
 * fragmentation is (allocated - requested) / allocated; a call site is the symbol without its offset.
 */
import { formatGfp, MIGRATETYPE_NAMES } from '../gfp.js';
import type { TraceRecord } from './parse_fields.js';
import { forEachRecord } from './parse.js';

export interface CountRow {
  allocs: number;
  frees: number;
}

export interface SiteRow {
  site: string;
  hits: number;
  bytesReq: number;
  bytesAlloc: number;
  frees: number;
  /** Objects of this site freed within the trace, and their total lifetime (ns). */
  lifetimes: number;
  lifetimeNs: number;
}

export interface Analysis {
  events: number;
  pages: {
    allocs: number;
    failed: number;
    frees: number;
    byOrder: CountRow[];
    byMigratetype: Record<string, number>;
    byGfp: Record<string, number>;
    /** Frees of pages the trace never saw allocated, and allocations never freed. */
    unmatchedFrees: number;
    neverFreed: number;
    meanLifetimeNs: number;
  };
  slab: {
    allocs: number;
    failed: number;
    frees: number;
    bytesReq: number;
    bytesAlloc: number;
    /** Frees of objects the trace never saw allocated, and allocations never freed. */
    unmatchedFrees: number;
    neverFreed: number;
    bySite: SiteRow[];
    byCache: SiteRow[];
  };
  vmalloc: { allocs: number; failed: number; lazyFrees: number; purges: number };
}

const PAGE_ALLOC = new Set(['mm_page_alloc']);
const PAGE_FREE = new Set(['mm_page_free', 'mm_page_free_batched']);
const SLAB_ALLOC = new Set(['kmalloc', 'kmalloc_node', 'kmem_cache_alloc', 'kmem_cache_alloc_node']);
const SLAB_FREE = new Set(['kfree', 'kmem_cache_free']);

/** The symbol of a `%pS` call site (`__alloc_skb+0x8f/0x230` -> `__alloc_skb`). */
function siteName(callSite: string | undefined): string {
  if (!callSite) return '?';
  const plus = callSite.indexOf('+');
  return plus < 0 ? callSite : callSite.slice(0, plus);
}

function row(map: Map<string, SiteRow>, key: string): SiteRow {
  let r = map.get(key);
  if (!r) map.set(key, (r = { site: key, hits: 0, bytesReq: 0, bytesAlloc: 0, frees: 0, lifetimes: 0, lifetimeNs: 0 }));
  return r;
}

/** Analyse a stream of records in one pass; memory grows with the objects live at a time, not the trace. */
export async function analyzeTrace(records: AsyncIterable<TraceRecord> | Iterable<TraceRecord>): Promise<Analysis> {
  const byOrder: CountRow[] = Array.from({ length: 11 }, () => ({ allocs: 0, frees: 0 }));
  const byMt: Record<string, number> = {};
  const byGfp: Record<string, number> = {};
  const livePages = new Map<number, number>(); // pfn -> ts
  const liveObjs = new Map<string, { ts: number; site: SiteRow; cache: SiteRow | undefined }>();
  const sites = new Map<string, SiteRow>();
  const caches = new Map<string, SiteRow>();
  const a: Analysis = {
    events: 0,
    pages: { allocs: 0, failed: 0, frees: 0, byOrder, byMigratetype: byMt, byGfp, unmatchedFrees: 0, neverFreed: 0, meanLifetimeNs: 0 },
    slab: { allocs: 0, failed: 0, frees: 0, bytesReq: 0, bytesAlloc: 0, unmatchedFrees: 0, neverFreed: 0, bySite: [], byCache: [] },
    vmalloc: { allocs: 0, failed: 0, lazyFrees: 0, purges: 0 },
  };
  let pageLifetimes = 0;
  let pageLifetimeNs = 0;
  await forEachRecord(records, (r) => {
    a.events++;
    const ev = r.event;
    if (PAGE_ALLOC.has(ev)) {
      a.pages.allocs++;
      const order = r.order ?? 0;
      if (r.failed) {
        a.pages.failed++;
        return;
      }
      if (order < byOrder.length) byOrder[order].allocs++;
      const mt: string = MIGRATETYPE_NAMES[r.migratetype ?? -1] ?? String(r.migratetype);
      byMt[mt] = (byMt[mt] ?? 0) + 1;
      const g = r.gfp === undefined ? '?' : formatGfp(r.gfp);
      byGfp[g] = (byGfp[g] ?? 0) + 1;
      livePages.set(r.pfn!, r.ts);
    } else if (PAGE_FREE.has(ev)) {
      a.pages.frees++;
      const order = r.order ?? 0;
      if (order < byOrder.length) byOrder[order].frees++;
      const t = livePages.get(r.pfn!);
      if (t === undefined) a.pages.unmatchedFrees++;
      else {
        livePages.delete(r.pfn!);
        pageLifetimes++;
        pageLifetimeNs += r.ts - t;
      }
    } else if (SLAB_ALLOC.has(ev)) {
      a.slab.allocs++;
      if (r.ptr === null || r.ptr === undefined) {
        a.slab.failed++;
        return;
      }
      const site = row(sites, siteName(r.callSite));
      const cache = r.name === undefined ? undefined : row(caches, r.name);
      for (const x of cache ? [site, cache] : [site]) {
        x.hits++;
        x.bytesReq += r.bytesReq ?? 0;
        x.bytesAlloc += r.bytesAlloc ?? 0;
      }
      a.slab.bytesReq += r.bytesReq ?? 0;
      a.slab.bytesAlloc += r.bytesAlloc ?? 0;
      liveObjs.set(r.ptr, { ts: r.ts, site, cache });
    } else if (SLAB_FREE.has(ev)) {
      a.slab.frees++;
      if (r.ptr === null || r.ptr === undefined) return; // kfree(NULL) is legal and traced
      const o = liveObjs.get(r.ptr);
      if (!o) {
        a.slab.unmatchedFrees++;
        return;
      }
      liveObjs.delete(r.ptr);
      for (const x of o.cache ? [o.site, o.cache] : [o.site]) {
        x.frees++;
        x.lifetimes++;
        x.lifetimeNs += r.ts - o.ts;
      }
    } else if (ev === 'alloc_vmap_area') {
      a.vmalloc.allocs++;
      if (r.failed) a.vmalloc.failed++;
    } else if (ev === 'free_vmap_area_noflush') {
      a.vmalloc.lazyFrees++;
    } else if (ev === 'purge_vmap_area_lazy') {
      a.vmalloc.purges++;
    }
  });
  a.pages.neverFreed = livePages.size;
  a.pages.meanLifetimeNs = pageLifetimes ? pageLifetimeNs / pageLifetimes : 0;
  a.slab.neverFreed = liveObjs.size;
  const byBytes = (x: SiteRow, y: SiteRow) => y.bytesAlloc - x.bytesAlloc || (x.site < y.site ? -1 : 1);
  a.slab.bySite = [...sites.values()].sort(byBytes);
  a.slab.byCache = [...caches.values()].sort(byBytes);
  return a;
}

/** perf kmem's internal fragmentation of a row, in percent. */
export function fragmentationPct(r: { bytesReq: number; bytesAlloc: number }): number {
  return r.bytesAlloc ? (100 * (r.bytesAlloc - r.bytesReq)) / r.bytesAlloc : 0;
}
