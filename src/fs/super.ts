/**
 * A filesystem's superblock with its dentry and inode caches and their shrinker (fs/super.c
 * super_cache_count, super_cache_scan; fs/dcache.c d_alloc, dput, prune_dcache_sb; fs/inode.c
 * prune_icache_sb, inode_lru_isolate).
 *
 * Each name the filesystem knows is a dentry (192 bytes from 'dentry') pinning an inode (624 bytes from
 * 'inode_cache'), both SLAB_RECLAIM_ACCOUNT slab objects. A name nobody uses sits on the dentry LRU; the
 * shrinker frees unused dentries, which leaves their inodes unused on the inode LRU, and then frees those,
 * splitting each scan between the two in proportion to their counts, as super_cache_scan does. Without
 * __GFP_FS it refuses (SHRINK_STOP): pruning may take filesystem locks.
 * An inode that still has page cache is not freed; it is rotated, as inode_lru_isolate does with an inode
 * that has pages (the model does not invalidate them from here).
 * Departures: one dentry per inode (no hard links), no negative dentries, no per-node list_lru.
 */
import { GFP } from '../gfp.js';
import type { Machine } from '../machine.js';
import type { AddressSpace, Filesystem } from '../mm/filemap.js';
import { SLAB_HWCACHE_ALIGN, SLAB_RECLAIM_ACCOUNT, type KmemCache } from '../mm/slub.js';
import { SHRINK_STOP, type ShrinkControl, type Shrinker } from '../mm/vmscan.js';

/** Sizes of a 6.x x86_64 build. */
const DENTRY_SIZE = 192;
const INODE_SIZE = 624;

interface Entry {
  dentry: number;
  inode: number;
  /** The file's page cache, if it has one. */
  mapping?: AddressSpace;
  /** In use by someone (not on any LRU). */
  refs: number;
}

export class SuperBlock {
  readonly fs: Filesystem;
  readonly shrinker: Shrinker;
  private readonly m: Machine;
  private readonly dentryCache: KmemCache;
  private readonly inodeCache: KmemCache;
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;
  /** Unused dentries (ids, oldest first) and unused inodes whose dentry is gone. */
  private dentryLru: number[] = [];
  private inodeLru: Entry[] = [];
  /** Objects freed by the shrinker. */
  readonly pruned = { dentries: 0, inodes: 0 };

  constructor(m: Machine, fs: Filesystem) {
    this.m = m;
    this.fs = fs;
    const flags = SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN;
    this.dentryCache = m.kmemCache('dentry') ?? m.kmemCacheCreate('dentry', DENTRY_SIZE, { flags })!;
    this.inodeCache = m.kmemCache('inode_cache') ?? m.kmemCacheCreate('inode_cache', INODE_SIZE, { flags })!;
    this.shrinker = m.registerShrinker({
      name: `super_cache_scan-${fs.name}`,
      count: () => this.dentryLru.length + this.inodeLru.length,
      scan: (sc) => this.scan(sc),
    });
  }

  /** Dentries and inodes held now. */
  get nrDentries(): number {
    return this.entries.size;
  }
  get nrUnused(): number {
    return this.dentryLru.length + this.inodeLru.length;
  }

  /**
   * Look a name up, creating its dentry and inode on a miss (d_alloc + iget). Returns the id, or 0 when the
   * allocation failed.
   */
  iget(gfp: number = GFP.KERNEL): number {
    const inode = this.m.kmemCacheAlloc(this.inodeCache, gfp, 'alloc_inode+0x23/0xc0');
    if (!inode) return 0;
    const dentry = this.m.kmemCacheAlloc(this.dentryCache, gfp, '__d_alloc+0x2a/0x1f0');
    if (!dentry) {
      this.m.kmemCacheFree(this.inodeCache, inode, 'i_callback+0x18/0x40');
      return 0;
    }
    const id = this.nextId++;
    this.entries.set(id, { dentry, inode, refs: 1 });
    return id;
  }

  /** Attach a page cache to the inode (the file's data). */
  setMapping(id: number, as: AddressSpace): void {
    this.entry(id).mapping = as;
  }

  /** dget() of a cached name: off the LRU again. */
  dget(id: number): void {
    const e = this.entry(id);
    if (e.refs++ === 0) {
      const i = this.dentryLru.indexOf(id);
      if (i >= 0) this.dentryLru.splice(i, 1);
    }
  }

  /** dput(): the last user leaves the dentry on the LRU, reclaimable. */
  dput(id: number): void {
    const e = this.entry(id);
    if (e.refs <= 0) throw new Error(`dput: dentry ${id} has no users (dput of an unused dentry)`);
    if (--e.refs === 0) this.dentryLru.push(id);
  }

  /** Is the name still cached? */
  cached(id: number): boolean {
    return this.entries.has(id);
  }

  /** super_cache_scan(): prune dentries and inodes in proportion; SHRINK_STOP without __GFP_FS. */
  private scan(sc: ShrinkControl): number {
    if (!(sc.gfp & GFP.FS)) return SHRINK_STOP;
    const total = this.dentryLru.length + this.inodeLru.length;
    if (!total) return 0;
    const dentries = Math.ceil((sc.nrToScan * this.dentryLru.length) / total);
    const inodes = sc.nrToScan - Math.min(dentries, sc.nrToScan);
    let freed = this.pruneDcache(dentries);
    freed += this.pruneIcache(inodes);
    return freed;
  }

  /** prune_dcache_sb(): free the oldest unused dentries; their inodes become unused. */
  private pruneDcache(nr: number): number {
    const n = Math.min(nr, this.dentryLru.length);
    for (const id of this.dentryLru.splice(0, n)) {
      const e = this.entries.get(id)!;
      this.entries.delete(id);
      this.m.kmemCacheFree(this.dentryCache, e.dentry, 'dentry_free+0x5e/0x80');
      this.inodeLru.push(e);
      this.pruned.dentries++;
    }
    return n;
  }

  /** prune_icache_sb(): free the oldest unused inodes; one with page cache is rotated instead. */
  private pruneIcache(nr: number): number {
    let freed = 0;
    for (let i = 0; i < nr && this.inodeLru.length; i++) {
      const e = this.inodeLru.shift()!;
      if (e.mapping && e.mapping.nrPages > 0) {
        this.inodeLru.push(e);
        continue;
      }
      this.m.kmemCacheFree(this.inodeCache, e.inode, 'i_callback+0x18/0x40');
      this.pruned.inodes++;
      freed++;
    }
    return freed;
  }

  private entry(id: number): Entry {
    const e = this.entries.get(id);
    if (!e) throw new Error(`superblock ${this.fs.name}: no dentry ${id} (it was pruned, or never existed)`);
    return e;
  }
}
