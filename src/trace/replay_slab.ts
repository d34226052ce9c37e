/**
 * The slab half of the replay: kmalloc, kmalloc_node, kmem_cache_alloc(_node), kfree and kmem_cache_free
 * records (include/trace/events/kmem.h) replayed on the model's SLUB. Trace objects are keyed by their `%p`
 * text (hashed or not: a hashed value is stable for one address, so alloc/free pairs still match) and mapped
 * to the model's object address and cache. A kmem_cache_alloc replays on a cache of the trace's name,
 * created on first sight with the event's bytes_alloc as its object size (the kernel's s->size); without a
 * name (kernels before 6.1 do not print it) it replays as kmalloc(bytes_req). Departure: the model's caches
 * are not the real ones (no ctor, no SLAB_* flags beyond what the name and size give), and kmalloc_node's
 * node is ignored (the model has one node).
 */
import type { Machine } from '../machine.js';
import type { KmemCache } from '../mm/slub.js';
import type { TraceRecord } from './parse_fields.js';

interface SlabObj {
  addr: number;
  /** The cache it came from; undefined: a kmalloc object. */
  cache: KmemCache | undefined;
}

export interface SlabReplayCounts {
  /** Allocations replayed: kmalloc(_node) and kmem_cache_alloc(_node). */
  kmalloc: number;
  kmemCacheAlloc: number;
  /** Frees replayed: kfree and kmem_cache_free. */
  kfree: number;
  kmemCacheFree: number;
  /** Allocations that returned NULL on the model. */
  modelFailures: number;
  /** Allocations that returned NULL in the traced kernel (`ptr=(null)` or 0): counted, not replayed. */
  traceFailures: number;
  /** Frees of pointers the trace never allocated (allocated before the capture began). */
  unmatchedFrees: number;
  /** kfree(NULL) in the trace: a no-op in the kernel too. */
  nullFrees: number;
  /** A pointer allocated again while still live here: the trace lost its free; the old object is freed. */
  lostFrees: number;
  /** Caches created for the trace's cache names. */
  cachesCreated: number;
  /** Objects still live at the end. */
  neverFreed: number;
}

export class SlabReplay {
  readonly c: SlabReplayCounts = {
    kmalloc: 0, kmemCacheAlloc: 0, kfree: 0, kmemCacheFree: 0, modelFailures: 0, traceFailures: 0,
    unmatchedFrees: 0, nullFrees: 0, lostFrees: 0, cachesCreated: 0, neverFreed: 0,
  };
  private readonly live = new Map<string, SlabObj>();
  private readonly caches = new Map<string, KmemCache | undefined>();

  constructor(private readonly m: Machine) {}

  /** Replays a slab record; true when the model was called (false: only counted, or no slab event). */
  replay(r: TraceRecord): boolean {
    switch (r.event) {
      case 'kmalloc':
      case 'kmalloc_node':
        return this.alloc(r, undefined);
      case 'kmem_cache_alloc':
      case 'kmem_cache_alloc_node':
        return this.alloc(r, this.cacheFor(r));
      case 'kfree':
      case 'kmem_cache_free':
        return this.free(r);
      default:
        return false;
    }
  }

  private cacheFor(r: TraceRecord): KmemCache | undefined {
    const name = r.name;
    if (name === undefined || name === '') return undefined;
    if (this.caches.has(name)) return this.caches.get(name);
    let s = this.m.kmemCache(name);
    if (s === undefined && r.bytesAlloc !== undefined && r.bytesAlloc > 0) {
      s = this.m.kmemCacheCreate(name, r.bytesAlloc);
      if (s !== undefined) this.c.cachesCreated++;
    }
    this.caches.set(name, s);
    return s;
  }

  private alloc(r: TraceRecord, cache: KmemCache | undefined): boolean {
    const key = r.ptr;
    if (key == null || isNullPtr(key)) {
      this.c.traceFailures++;
      return false;
    }
    const old = this.live.get(key);
    if (old !== undefined) {
      this.c.lostFrees++;
      this.release(old);
    }
    const gfp = r.gfp ?? 0;
    let addr: number;
    if (cache !== undefined) {
      addr = this.m.kmemCacheAlloc(cache, gfp, r.callSite);
      this.c.kmemCacheAlloc++;
    } else {
      addr = this.m.kmalloc(r.bytesReq ?? r.bytesAlloc ?? 0, gfp, r.callSite);
      this.c.kmalloc++;
    }
    if (addr === 0) {
      this.live.delete(key);
      this.c.modelFailures++;
      return true;
    }
    this.live.set(key, { addr, cache });
    return true;
  }

  private free(r: TraceRecord): boolean {
    const key = r.ptr;
    if (key == null || isNullPtr(key)) {
      this.c.nullFrees++;
      return false;
    }
    const o = this.live.get(key);
    if (o === undefined) {
      this.c.unmatchedFrees++;
      return false;
    }
    this.live.delete(key);
    this.release(o);
    return true;
  }

  private release(o: SlabObj): void {
    if (o.cache !== undefined) {
      this.m.kmemCacheFree(o.cache, o.addr);
      this.c.kmemCacheFree++;
    } else {
      this.m.kfree(o.addr);
      this.c.kfree++;
    }
  }

  /** Count what is still live. */
  finish(): void {
    this.c.neverFreed = this.live.size;
  }
}

/** A NULL pointer as ftrace (`0000000000000000`, never hashed) or perf (`(nil)`, `0x0`) prints it. */
function isNullPtr(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 48 && !(i === 1 && (c === 120 || c === 88))) return text === '(null)' || text === '(nil)';
  }
  return true;
}
