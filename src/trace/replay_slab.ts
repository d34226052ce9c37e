/**
 * The slab half of the replay: kmalloc, kmalloc_node, kmem_cache_alloc(_node), kfree and kmem_cache_free
 * records (include/trace/events/kmem.h) replayed on the model's SLUB. Trace objects are keyed by their `%p`
 * value (hashed or not: a hashed value is stable for one address, so alloc/free pairs still match), the
 * parser's `ptrKey`, in a hash table over typed arrays (the text only when the value has no number), and
 * mapped to the model's object address and cache. A kmem_cache_alloc replays on a cache of the trace's name,
 * created on first sight with the event's bytes_alloc as its object size (the kernel's s->size); without a
 * name (kernels before 6.1 do not print it) it replays as kmalloc(bytes_req). Departure: the model's caches
 * are not the real ones (no ctor, no SLAB_* flags beyond what the name and size give), and kmalloc_node's
 * node is ignored (the model has one node).
 */
import type { Machine } from '../machine.js';
import type { KmemCache } from '../mm/slub.js';
import type { TraceRecord } from './parse_fields.js';

/** A trace object keyed by its text (a `ptr` without a `ptrKey`). */
interface SlabObj {
  addr: number;
  /** Index of its cache in SlabReplay's list; NO_CACHE: a kmalloc object. */
  cache: number;
}
const NO_CACHE = -1;

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

/**
 * Live trace objects by ptrKey (> 0): open addressing with linear probing over typed arrays, so that a
 * lookup hashes no text and an object costs no allocation. Key 0 (NULL, never stored) marks an empty slot;
 * deletion shifts the probe chain back (no tombstones); the table doubles at half full.
 */
class PtrTable {
  keys = new Float64Array(1024);
  addrs = new Float64Array(1024);
  caches = new Int32Array(1024);
  private mask = 1023;
  private shift = 22; // 32 - log2(capacity): the hash's top bits index the table
  size = 0;

  /** The home slot of `key`: Fibonacci hashing of its low 32 bits mixed with the bits above. */
  private home(key: number): number {
    const hi = (key / 4294967296) >>> 0;
    return Math.imul((key >>> 0) ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
  }

  /** The slot holding `key`, or -1 - the empty slot where it would go. */
  find(key: number): number {
    const keys = this.keys;
    const mask = this.mask;
    for (let i = this.home(key); ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === key) return i;
      if (k === 0) return -1 - i;
    }
  }

  /** Fills the empty `slot` that find(key) gave, with no insert or delete since. */
  insert(slot: number, key: number, addr: number, cache: number): void {
    if (this.size >= (this.mask + 1) >> 1) {
      this.grow();
      slot = -1 - this.find(key);
    }
    this.keys[slot] = key;
    this.addrs[slot] = addr;
    this.caches[slot] = cache;
    this.size++;
  }

  /** Empties slot `i`, moving back the entries after it that probed past it. */
  delete(i: number): void {
    const keys = this.keys;
    const mask = this.mask;
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      // The entry at j may fill the hole at i when i lies on its probe path (from its home to j).
      if (((j - this.home(keys[j])) & mask) >= ((j - i) & mask)) {
        keys[i] = keys[j];
        this.addrs[i] = this.addrs[j];
        this.caches[i] = this.caches[j];
        i = j;
      }
    }
    keys[i] = 0;
    this.size--;
  }

  private grow(): void {
    const { keys, addrs, caches } = this;
    const n = keys.length * 2;
    this.keys = new Float64Array(n);
    this.addrs = new Float64Array(n);
    this.caches = new Int32Array(n);
    this.mask = n - 1;
    this.shift--;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue;
      const slot = -1 - this.find(keys[i]);
      this.keys[slot] = keys[i];
      this.addrs[slot] = addrs[i];
      this.caches[slot] = caches[i];
    }
  }
}

export class SlabReplay {
  readonly c: SlabReplayCounts = {
    kmalloc: 0, kmemCacheAlloc: 0, kfree: 0, kmemCacheFree: 0, modelFailures: 0, traceFailures: 0,
    unmatchedFrees: 0, nullFrees: 0, lostFrees: 0, cachesCreated: 0, neverFreed: 0,
  };
  private readonly live = new PtrTable();
  /** Objects whose pointer has no ptrKey (-1, or a record built without one): keyed by the text. */
  private readonly liveText = new Map<string, SlabObj>();
  /** The caches of the trace's names (an index into cacheList, or NO_CACHE: replayed as kmalloc). */
  private readonly caches = new Map<string, number>();
  private readonly cacheList: KmemCache[] = [];

  constructor(private readonly m: Machine) {}

  /*
   * kmalloc(), kmemCacheAlloc() and free() replay a kmalloc(_node), kmem_cache_alloc(_node), and kfree or
   * kmem_cache_free record (the caller has classified it): true when the model was called, false when only counted.
   */
  kmalloc(r: TraceRecord): boolean {
    return this.alloc(r, NO_CACHE);
  }

  kmemCacheAlloc(r: TraceRecord): boolean {
    return this.alloc(r, this.cacheFor(r));
  }

  private cacheFor(r: TraceRecord): number {
    const name = r.name;
    if (name === undefined || name === '') return NO_CACHE;
    const known = this.caches.get(name);
    if (known !== undefined) return known;
    let s = this.m.kmemCache(name);
    if (s === undefined && r.bytesAlloc !== undefined && r.bytesAlloc > 0) {
      s = this.m.kmemCacheCreate(name, r.bytesAlloc);
      if (s !== undefined) this.c.cachesCreated++;
    }
    const ci = s === undefined ? NO_CACHE : this.cacheList.push(s) - 1;
    this.caches.set(name, ci);
    return ci;
  }

  /** kmalloc() or kmem_cache_alloc() on the model: its address, 0 for NULL. */
  private allocObj(r: TraceRecord, cache: number): number {
    const gfp = r.gfp ?? 0;
    if (cache !== NO_CACHE) {
      this.c.kmemCacheAlloc++;
      return this.m.kmemCacheAlloc(this.cacheList[cache], gfp, r.callSite);
    }
    this.c.kmalloc++;
    return this.m.kmalloc(r.bytesReq ?? r.bytesAlloc ?? 0, gfp, r.callSite);
  }

  private alloc(r: TraceRecord, cache: number): boolean {
    const key = r.ptrKey;
    if (key === undefined || key < 0) return this.allocText(r, cache);
    if (key === 0) {
      this.c.traceFailures++;
      return false;
    }
    const live = this.live;
    const slot = live.find(key);
    if (slot >= 0) {
      this.c.lostFrees++;
      this.release(live.addrs[slot], live.caches[slot]);
    }
    // The model's calls never touch the table: `slot` still holds.
    const addr = this.allocObj(r, cache);
    if (addr === 0) {
      if (slot >= 0) live.delete(slot);
      this.c.modelFailures++;
    } else if (slot >= 0) {
      live.addrs[slot] = addr;
      live.caches[slot] = cache;
    } else live.insert(-1 - slot, key, addr, cache);
    return true;
  }

  private allocText(r: TraceRecord, cache: number): boolean {
    const key = r.ptr;
    if (key == null || isNullPtr(key)) {
      this.c.traceFailures++;
      return false;
    }
    const old = this.liveText.get(key);
    if (old !== undefined) {
      this.c.lostFrees++;
      this.release(old.addr, old.cache);
    }
    const addr = this.allocObj(r, cache);
    if (addr === 0) {
      this.liveText.delete(key);
      this.c.modelFailures++;
      return true;
    }
    this.liveText.set(key, { addr, cache });
    return true;
  }

  /** kfree or kmem_cache_free: the object goes back the way it came (kmem_cache_free to its cache, else kfree). */
  free(r: TraceRecord): boolean {
    const key = r.ptrKey;
    if (key === undefined || key < 0) return this.freeText(r);
    if (key === 0) {
      this.c.nullFrees++;
      return false;
    }
    const live = this.live;
    const slot = live.find(key);
    if (slot < 0) {
      this.c.unmatchedFrees++;
      return false;
    }
    const addr = live.addrs[slot];
    const cache = live.caches[slot];
    live.delete(slot);
    this.release(addr, cache);
    return true;
  }

  private freeText(r: TraceRecord): boolean {
    const key = r.ptr;
    if (key == null || isNullPtr(key)) {
      this.c.nullFrees++;
      return false;
    }
    const o = this.liveText.get(key);
    if (o === undefined) {
      this.c.unmatchedFrees++;
      return false;
    }
    this.liveText.delete(key);
    this.release(o.addr, o.cache);
    return true;
  }

  private release(addr: number, cache: number): void {
    if (cache !== NO_CACHE) {
      this.m.kmemCacheFree(this.cacheList[cache], addr);
      this.c.kmemCacheFree++;
    } else {
      this.m.kfree(addr);
      this.c.kfree++;
    }
  }

  /** Count what is still live. */
  finish(): void {
    this.c.neverFreed = this.live.size + this.liveText.size;
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
