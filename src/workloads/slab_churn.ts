/**
 * The `slab-churn` scenario: a machine's life in slab objects. Three tasks on two CPUs (`find` walking a
 * file system, `cc1` compiling, `systemd-journal` reading /proc and watching files) and the network softirq
 * allocate and free objects of their own caches (dentry, inode_cache, buffer_head, filp, names_cache) and
 * of the kmalloc caches, with the sizes, gfp flags and call sites such callers use in the kernel and a
 * lifetime mix from a few steps (path names, extent paths, skb heads) to the whole run (dentries and inodes
 * the dcache keeps). `cc1`'s header searches add bursts of short-lived negative dentries. Objects are freed
 * on whatever CPU runs when their time comes, so more than a quarter of them go back from the other CPU. A
 * page cache fills the rest of memory and is trimmed (oldest pages first, some at random, as kswapd would)
 * to keep free memory near the high watermarks, so that slab pages are allocated among movable pages; on a
 * small machine (--mem 64M) higher-order slabs then fail now and then and fall back to the minimum order.
 * At 60% of the run the dcache, icache and buffer-head shrinkers evict 60% of the reclaimable objects, oldest
 * first with a second chance for referenced ones: what they free is spread over many slabs, so the slab
 * memory stays and the partially filled slabs hold the difference.
 *
 * It reports, per cache, what /proc/slabinfo shows and what it hides: internal fragmentation (bytes
 * requested against bytes allocated, as `perf kmem stat` computes it from the kmalloc and kmem_cache_alloc
 * events), the free objects left on partial slabs, order fallbacks, and slab memory over time.
 */
import { formatGfp, GFP } from '../gfp.js';
import type { Machine } from '../machine.js';
import { NO_PAGE, PAGE_SIZE, PGTY_MASK, PGTY_SLAB } from '../mm/page.js';
import type { Task } from '../mm/sched.js';
import { KMALLOC_MAX_CACHE_SIZE } from '../mm/slab_common.js';
import { SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT, type KmemCache } from '../mm/slub.js';
import { MinHeap } from './heap.js';
import { Prng } from './prng.js';
import { timelineStride, type RunOptions, type Scenario, type ScenarioResult, type Table } from './scenario.js';

/** The scenario's own caches, as the kernel creates them (sizes of a 6.x x86_64 build). */
const CACHES = [
  { name: 'dentry', size: 192, flags: SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN | SLAB_PANIC },
  { name: 'inode_cache', size: 624, flags: SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN | SLAB_PANIC },
  { name: 'buffer_head', size: 104, flags: SLAB_RECLAIM_ACCOUNT | SLAB_PANIC },
  { name: 'filp', size: 256, flags: SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT | SLAB_PANIC },
  { name: 'names_cache', size: 4096, flags: SLAB_HWCACHE_ALIGN | SLAB_PANIC },
] as const;
const DENTRY = 0;
const INODE = 1;
const BUFFER_HEAD = 2;
const FILP = 3;
const NAMES = 4;

/** kvmalloc() of more than a page tries kmalloc quietly and falls back to vmalloc. */
const KVMALLOC_LARGE = GFP.NOWARN | GFP.NORETRY;
/** kmalloc_reserve(): skb heads in softirq. */
const SKB_GFP = GFP.ATOMIC | GFP.NOWARN | GFP.NOMEMALLOC;

interface Caller {
  /** The allocation's call site (%pS of _RET_IP_) and the free's. */
  site: string;
  freeSite: string;
  /** One of CACHES, or undefined for kmalloc. */
  cache?: number;
  /** kmalloc sizes: explicit sizes with weights, or a uniform range. */
  sizes?: readonly number[];
  sizeWeights?: readonly number[];
  sizeRange?: readonly [number, number];
  gfp: number;
  /** Mean lifetime in steps, or (lifeShare) as a share of the run. */
  life?: number;
  lifeShare?: number;
  /** Share that lives to the end of the run (the shrinker may still evict it). */
  permanent?: number;
  /** The dcache, icache and buffer-head shrinkers evict it. */
  shrinkable?: boolean;
  /** Share of its allocations that come with an external name (a dentry with a long name). */
  extName?: number;
}

interface TaskSpec {
  comm: string;
  cpu: number;
  /** Share of the CPU time slices. */
  weight: number;
  callers: Array<Caller & { weight: number }>;
}

const D_ALLOC = '__d_alloc+0x2d/0x230';
const D_FREE = '__d_free+0x1d/0x30';
const dentry = (weight: number, lifeShare: number, permanent: number): Caller & { weight: number } =>
  ({ weight, site: D_ALLOC, freeSite: D_FREE, cache: DENTRY, gfp: GFP.KERNEL, lifeShare, permanent, shrinkable: true, extName: 0.08 });
const inode = (weight: number, lifeShare: number, permanent: number): Caller & { weight: number } =>
  ({ weight, site: 'alloc_inode+0x23/0xc0', freeSite: 'i_callback+0x18/0x40', cache: INODE, gfp: GFP.KERNEL, lifeShare, permanent, shrinkable: true });
const getname = (weight: number): Caller & { weight: number } =>
  ({ weight, site: 'getname_flags.part.0+0x24/0x1f0', freeSite: 'putname+0x53/0x70', cache: NAMES, gfp: GFP.KERNEL, life: 2 });
const filp = (weight: number, life: number): Caller & { weight: number } =>
  ({ weight, site: 'alloc_empty_file+0x3c/0x110', freeSite: '__fput+0x141/0x2a0', cache: FILP, gfp: GFP.KERNEL, life });

const TASKS: TaskSpec[] = [
  {
    comm: 'find', cpu: 0, weight: 35, callers: [
      dentry(28, 0.3, 0.2),
      inode(22, 0.3, 0.2),
      { weight: 14, site: 'alloc_buffer_head+0x21/0x110', freeSite: 'free_buffer_head+0x25/0x70', cache: BUFFER_HEAD, gfp: GFP.NOFS, lifeShare: 0.1, permanent: 0.05, shrinkable: true },
      { weight: 26, site: 'ext4_htree_store_dirent+0x34/0x120', freeSite: 'free_rb_tree_fname+0x3f/0x70', sizeRange: [44, 100], gfp: GFP.KERNEL | GFP.ZERO, life: 800 },
      getname(6),
      filp(4, 600),
    ],
  },
  {
    comm: 'cc1', cpu: 1, weight: 45, callers: [
      filp(12, 200),
      getname(14),
      dentry(3, 0.3, 0.1),
      inode(2, 0.3, 0.1),
      { weight: 14, site: 'kstrdup+0x2c/0x60', freeSite: 'kfree_const+0x1a/0x30', sizeRange: [5, 48], gfp: GFP.KERNEL, life: 1500 },
      { weight: 10, site: 'ext4_find_extent+0x1d0/0x470', freeSite: 'ext4_ext_map_blocks+0x5c2/0x1b30', sizes: [96, 144, 192], sizeWeights: [60, 30, 10], gfp: GFP.NOFS, life: 3 },
      { weight: 2, site: 'load_elf_phdrs+0x6b/0xb0', freeSite: 'load_elf_binary+0x2b1/0x1620', sizes: [504, 616, 728, 784], sizeWeights: [20, 40, 30, 10], gfp: GFP.KERNEL, life: 40 },
      { weight: 1, site: 'load_elf_binary+0x6e0/0x1620', freeSite: 'load_elf_binary+0x8f2/0x1620', sizes: [28], gfp: GFP.KERNEL, life: 40 },
      { weight: 3, site: 'alloc_pipe_info+0x8d/0x1e0', freeSite: 'free_pipe_info+0x7c/0xb0', sizes: [640], gfp: GFP.KERNEL_ACCOUNT | GFP.ZERO, life: 3000 },
      { weight: 3, site: 'alloc_pipe_info+0x4e/0x1e0', freeSite: 'free_pipe_info+0x9a/0xb0', sizes: [200], gfp: GFP.KERNEL_ACCOUNT | GFP.ZERO, life: 3000 },
      { weight: 0.6, site: 'alloc_fdtable+0x63/0x130', freeSite: '__free_fdtable+0x16/0x30', sizes: [12288, 16384, 32768, 65536], sizeWeights: [35, 35, 20, 10], gfp: GFP.KERNEL_ACCOUNT | KVMALLOC_LARGE, life: 400 },
    ],
  },
  {
    comm: 'systemd-journal', cpu: 0, weight: 20, callers: [
      { weight: 12, site: 'seq_read_iter+0x11f/0x460', freeSite: 'seq_release+0x24/0x40', sizes: [4096], gfp: GFP.KERNEL_ACCOUNT, life: 4 },
      { weight: 25, site: 'inotify_handle_inode_event+0x1b6/0x2a0', freeSite: 'inotify_free_event+0x12/0x20', sizeRange: [58, 100], gfp: GFP.KERNEL_ACCOUNT, life: 60 },
      { weight: 25, site: 'kmemdup_noprof+0x22/0x50', freeSite: 'rcu_do_batch+0x1b7/0x530', sizes: [58, 83, 100, 200, 256, 512, 1024, 2048], sizeWeights: [20, 15, 15, 10, 10, 10, 10, 10], gfp: GFP.KERNEL, life: 2000 },
      getname(10),
      filp(6, 400),
    ],
  },
];

/** The network receive softirq, on whichever CPU it interrupts: skb heads and conntrack extensions. */
const SOFTIRQ_CALLERS: Array<Caller & { weight: number }> = [
  { weight: 85, site: 'kmalloc_reserve+0x87/0x120', freeSite: 'skb_free_head+0x94/0xb0', sizes: [704, 1216, 1920, 3776], sizeWeights: [25, 15, 50, 10], gfp: SKB_GFP, life: 40 },
  { weight: 3, site: 'kmalloc_reserve+0x87/0x120', freeSite: 'skb_free_head+0x94/0xb0', sizes: [9216, 16384, 32768], sizeWeights: [50, 35, 15], gfp: SKB_GFP, life: 40 },
  { weight: 12, site: 'nf_ct_ext_add+0x10d/0x1c0', freeSite: 'nf_conntrack_free+0x2d/0x60', sizes: [100], gfp: GFP.ATOMIC, life: 20000 },
];
/** Chance per step that a packet arrives (then 1 to 3 allocations). */
const SOFTIRQ_RATE = 0.03;

/** A dentry's external name (d_alloc of a name longer than DNAME_INLINE_LEN): freed with the dentry. */
const EXT_NAME: Caller = { site: '__d_alloc+0x1b1/0x230', freeSite: '__d_free_external+0x2a/0x50', sizeRange: [49, 120], gfp: GFP.KERNEL_ACCOUNT, life: 0 };
/** cc1's header search: a burst of lookups that miss, each leaving a negative dentry for a while. */
const NEG_DENTRY: Caller = { site: D_ALLOC, freeSite: D_FREE, cache: DENTRY, gfp: GFP.KERNEL, life: 250, shrinkable: true };
const BURST_START = 0.004;
const BURST_LEN: readonly [number, number] = [50, 400];
/** Mean steps a task runs before the next one is picked. */
const SLICE = 200;
/** The shrinker pass: when, and the share of reclaimable objects it evicts. */
const SHRINK_AT = 0.6;
const SHRINK_SHARE = 0.6;
/** Chance that an object on the LRU was referenced since the last scan and is rotated, not evicted. */
const SHRINK_REFERENCED = 0.3;
/** Page cache: free memory is kept near the high watermarks plus this share of memory. */
const FREE_SLACK = 1 / 64;
/** Share of page cache evictions that take a random page rather than the oldest. */
const RANDOM_EVICT = 0.3;
/**
 * Page cache pages: GFP_HIGHUSER_MOVABLE without direct reclaim, since the scenario does the reclaiming (as
 * kswapd would, ahead of need); direct reclaim would drain every CPU's lists on each miss.
 */
const PAGE_CACHE_GFP = (GFP.HIGHUSER_MOVABLE & ~GFP.DIRECT_RECLAIM) | GFP.NOWARN;
/** Once full, the page cache takes in a new page every this many steps (and evicts as free memory needs). */
const PAGE_CACHE_CHURN = 8;
const SAMPLES = 20;
/** The most memory the long-lived objects are meant to take (their lifetimes shrink on small machines). */
const LONG_LIVED_MAX_SHARE = 0.25;
/** The task whose header searches make negative dentries. */
const CC1 = 1;

/** Per-cache tallies (cumulative, as perf kmem counts from the trace). */
interface CacheTally {
  allocs: number;
  frees: number;
  failures: number;
  requested: number;
  allocated: number;
}

/** Per call site, as `perf kmem stat --caller` prints them. */
interface SiteTally {
  site: string;
  gfp: number;
  allocs: number;
  requested: number;
  allocated: number;
  frees: number;
  crossCpuFrees: number;
  failures: number;
}

interface ShrinkReport {
  step: number;
  /** Reclaimable objects on the LRUs when the shrinkers ran. */
  scanned: number;
  evicted: { dentry: number; inode: number; bufferHead: number };
  sReclaimableBeforeKb: number;
  sReclaimableAfterKb: number;
  partialWasteBeforeBytes: number;
  partialWasteAfterBytes: number;
}

export interface CacheReport {
  name: string;
  /** /proc/slabinfo's columns. */
  activeObjs: number;
  numObjs: number;
  objSize: number;
  size: number;
  objPerSlab: number;
  pagesPerSlab: number;
  slabs: number;
  /** Pages the cache's slabs hold now (slabs of the fallback order counted as they are). */
  pages: number;
  /** Objects the workload holds (slabinfo's active minus the free objects on CPU slabs). */
  liveObjs: number;
  cpuFreeObjs: number;
  partialSlabs: number;
  partialFreeObjs: number;
  partialWasteBytes: number;
  /** partialWasteBytes over the cache's slab memory. */
  partialWasteShare: number;
  allocs: number;
  frees: number;
  failures: number;
  requestedBytes: number;
  allocatedBytes: number;
  /** 1 - requested / allocated over every allocation of the run (perf kmem's formula, as a fraction). */
  internalFragmentation: number;
  orderFallbacks: number;
  order: number;
  minOrder: number;
}

export const slabChurnScenario: Scenario = {
  name: 'slab-churn',
  description: 'dentry, inode, buffer_head, filp caches and kmalloc traffic from two CPUs and softirq; internal fragmentation, partial-slab waste, order fallbacks',
  machine: { mem: '512M' },
  defaultSteps: 800_000,
  run(m: Machine, opts: RunOptions): ScenarioResult {
    const steps = opts.steps ?? 800_000;
    const rng = new Prng(opts.seed);
    const nrCpus = m.cfg.nrCpus;
    const startTask = m.sched.current;
    const managed = m.totalramPages;

    // --- caches and tasks ------------------------------------------------------------------------
    const caches: KmemCache[] = CACHES.map((c) => {
      const s = m.kmemCacheCreate(c.name, c.size, { flags: c.flags });
      if (!s) throw new Error(`slab-churn: cannot create cache ${c.name}`);
      return s;
    });
    const tasks: Task[] = TASKS.map((t) => m.sched.createTask(t.comm, Math.min(t.cpu, nrCpus - 1)));
    const taskWeights = TASKS.map((t) => t.weight);
    const callers: Caller[] = [];
    const taskCallers = TASKS.map((t) => t.callers.map((c) => callers.push(c) - 1));
    const taskCallerWeights = TASKS.map((t) => t.callers.map((c) => c.weight));
    const softirqCallers = SOFTIRQ_CALLERS.map((c) => callers.push(c) - 1);
    const softirqWeights = SOFTIRQ_CALLERS.map((c) => c.weight);
    const softirqCaller = new Uint8Array(callers.length);
    for (const i of softirqCallers) softirqCaller[i] = 1;
    const extNameCaller = callers.push(EXT_NAME) - 1;
    const negDentryCaller = callers.push(NEG_DENTRY) - 1;
    const sites: SiteTally[] = [];
    const siteIndex = new Map<string, number>();
    const callerSite = callers.map((c) => {
      let i = siteIndex.get(c.site);
      if (i === undefined) {
        i = sites.push({ site: c.site, gfp: c.gfp, allocs: 0, requested: 0, allocated: 0, frees: 0, crossCpuFrees: 0, failures: 0 }) - 1;
        siteIndex.set(c.site, i);
      }
      return i;
    });

    // Per cache id (and one more row for large kmalloc, which has no cache).
    const tallies = new Map<number, CacheTally>();
    const tally = (id: number): CacheTally => {
      let t = tallies.get(id);
      if (!t) {
        t = { allocs: 0, frees: 0, failures: 0, requested: 0, allocated: 0 };
        tallies.set(id, t);
      }
      return t;
    };
    const LARGE = -1;
    const largeTally = tally(LARGE);
    // What the caches hold before the run (the boot's and these caches' structs), to check the end against.
    const live0 = new Map<number, number>();
    for (const s of m.kmemCaches()) live0.set(s.id, liveObjects(m, s));

    // --- the live objects ----------------------------------------------------------------------
    let cap = 1 << 15;
    let addr: Float64Array = new Float64Array(cap);
    let callerOf: Uint8Array = new Uint8Array(cap);
    let cacheOf: Int32Array = new Int32Array(cap); // kmem cache id, or LARGE
    let cpuOf: Uint8Array = new Uint8Array(cap);
    let companion: Int32Array = new Int32Array(cap).fill(-1);
    let inHeap: Uint8Array = new Uint8Array(cap);
    let born: Int32Array = new Int32Array(cap);
    const freeIds: number[] = [];
    let nextId = 0;
    const heap = new MinHeap(cap);
    let liveCount = 0;
    let peakLive = 0;

    const newId = (): number => {
      const id = freeIds.pop();
      if (id !== undefined) return id;
      if (nextId === cap) {
        cap *= 2;
        addr = growF(addr, cap);
        callerOf = growU8(callerOf, cap);
        cacheOf = growI32(cacheOf, cap);
        cpuOf = growU8(cpuOf, cap);
        companion = growI32(companion, cap, -1);
        inHeap = growU8(inHeap, cap);
        born = growI32(born, cap);
      }
      return nextId++;
    };

    const drawSize = (c: Caller): number => {
      if (c.sizeRange) return c.sizeRange[0] + rng.int(c.sizeRange[1] - c.sizeRange[0] + 1);
      const sizes = c.sizes!;
      return sizes.length === 1 ? sizes[0] : sizes[rng.pick(c.sizeWeights!)];
    };

    /** Allocate one object for caller ci; its id, or -1 if the allocation failed. */
    const allocate = (ci: number, step: number): number => {
      const c = callers[ci];
      const site = sites[callerSite[ci]];
      let obj: number;
      let cacheId: number;
      let req: number;
      let got: number;
      if (c.cache !== undefined) {
        const s = caches[c.cache];
        obj = m.kmemCacheAlloc(s, c.gfp, c.site);
        cacheId = s.id;
        req = s.objectSize;
        got = s.size;
      } else {
        req = drawSize(c);
        obj = m.kmalloc(req, c.gfp, c.site);
        cacheId = req > KMALLOC_MAX_CACHE_SIZE ? LARGE : m.slab.kmallocSlab(req, c.gfp).id;
        got = obj ? m.ksize(obj) : 0;
      }
      const t = tally(cacheId);
      if (obj === 0) {
        t.failures++;
        site.failures++;
        return -1;
      }
      t.allocs++;
      t.requested += req;
      t.allocated += got;
      site.allocs++;
      site.requested += req;
      site.allocated += got;
      const id = newId();
      addr[id] = obj;
      callerOf[id] = ci;
      cacheOf[id] = cacheId;
      cpuOf[id] = m.sched.current.cpu;
      companion[id] = -1;
      inHeap[id] = 0;
      born[id] = step;
      liveCount++;
      return id;
    };

    const release = (id: number): void => {
      const ci = callerOf[id];
      const c = callers[ci];
      const obj = addr[id];
      if (c.cache !== undefined) m.kmemCacheFree(caches[c.cache], obj, c.freeSite);
      else m.kfree(obj, c.freeSite);
      const t = tally(cacheOf[id]);
      t.frees++;
      const site = sites[callerSite[ci]];
      site.frees++;
      if (cpuOf[id] !== m.sched.current.cpu) site.crossCpuFrees++;
      addr[id] = 0;
      liveCount--;
      const comp = companion[id];
      if (comp >= 0) {
        companion[id] = -1;
        release(comp);
        freeIds.push(comp);
      }
    };

    /** Free an object when its time comes: softirq objects in softirq, the rest in the current task. */
    const expire = (id: number): void => {
      if (softirqCaller[callerOf[id]]) m.inSoftirq(() => release(id));
      else release(id);
    };

    // Long-lived objects (the dcache's and icache's) would outgrow a small machine: their lifetimes shrink so
    // that they peak near LONG_LIVED_MAX_SHARE of memory at most.
    let longLivedBytes = 0;
    const totalTaskWeight = TASKS.reduce((a, t) => a + t.weight, 0);
    for (const t of TASKS) {
      const wsum = t.callers.reduce((a, c) => a + c.weight, 0);
      for (const c of t.callers) {
        if (c.lifeShare === undefined || c.cache === undefined) continue;
        const rate = (t.weight / totalTaskWeight) * (c.weight / wsum);
        const perm = c.permanent ?? 0;
        longLivedBytes += rate * steps * (c.lifeShare * (1 - perm) + perm) * caches[c.cache].size;
      }
    }
    const lifeScale = Math.min(1, (LONG_LIVED_MAX_SHARE * managed * PAGE_SIZE) / Math.max(1, longLivedBytes));

    const schedule = (id: number, c: Caller, step: number): void => {
      if (c.permanent && rng.float() < c.permanent * lifeScale) return;
      const mean = c.lifeShare !== undefined ? c.lifeShare * lifeScale * steps : c.life!;
      heap.push(step + 1 + Math.floor(rng.exp(mean)), id);
      inHeap[id] = 1;
    };

    // --- the page cache ----------------------------------------------------------------------------
    // A ring of page-cache pfns, oldest first; eviction takes the oldest, or now and then a random one.
    let pcCap = 1 << 16;
    let pcRing = new Int32Array(pcCap);
    let pcHead = 0;
    let pcLen = 0;
    let pcFailures = 0;
    let pcFull = false;
    const highSum = m.zones.reduce((s, z) => s + (z.managed ? z.wmarkHigh() : 0), 0);
    const freeTarget = highSum + Math.ceil(managed * FREE_SLACK);
    // Fill the page cache within the first tenth of the run, then read a page every few steps.
    const fillRate = Math.max(1, Math.ceil(managed / Math.max(1, steps * 0.1)));
    const fillBand = 4 * fillRate + 64;
    const pcPush = (pfn: number): void => {
      if (pcLen === pcCap) {
        const next = new Int32Array(pcCap * 2);
        for (let i = 0; i < pcLen; i++) next[i] = pcRing[(pcHead + i) % pcCap];
        pcRing = next;
        pcHead = 0;
        pcCap *= 2;
      }
      pcRing[(pcHead + pcLen) % pcCap] = pfn;
      pcLen++;
    };
    const pcEvict = (): void => {
      if (rng.float() < RANDOM_EVICT) {
        // Swap a random page to the head, then evict the head.
        const k = (pcHead + rng.int(pcLen)) % pcCap;
        const t = pcRing[k];
        pcRing[k] = pcRing[pcHead];
        pcRing[pcHead] = t;
      }
      m.freePages(pcRing[pcHead], 0);
      pcHead = (pcHead + 1) % pcCap;
      pcLen--;
    };
    // Free memory counts the pages on the per-CPU lists too: a drain or a refill moves pages between the two,
    // and the page cache should not follow those steps (it would thrash the lists).
    const freeNow = (): number => m.freePagesTotal() + m.pcpPagesTotal();
    const pageCache = (step: number): void => {
      let want = step % PAGE_CACHE_CHURN === 0 ? 1 : 0;
      if (!pcFull && freeNow() > freeTarget + fillBand) want = fillRate;
      for (let i = 0; i < want; i++) {
        // Once the zones the page cache may use are full (highmem on i386), a new page replaces an old one.
        if (pcFull && pcLen > 0) pcEvict();
        const pfn = m.allocPages(PAGE_CACHE_GFP, 0);
        if (pfn === NO_PAGE) {
          pcFailures++;
          pcFull = true;
          break;
        }
        pcPush(pfn);
      }
      for (let i = 0; i < 4 * fillRate + 64 && pcLen > 0 && freeNow() < freeTarget; i++) pcEvict();
    };

    /**
     * The shrinkers under memory pressure (prune_dcache_sb, prune_icache_sb, and buffer heads going with their
     * pages): walk the LRU from the oldest object and evict until SHRINK_SHARE of them are gone; an object
     * referenced since the last pass gets a second chance, as DCACHE_REFERENCED and I_REFERENCED give it.
     */
    const runShrinkers = (step: number): ShrinkReport => {
      const reclaimableBefore = m.slub.counters.reclaimablePages;
      const wasteBefore = partialWaste(m);
      const lru: number[] = [];
      for (let i = 0; i < nextId; i++) if (addr[i] !== 0 && callers[callerOf[i]].shrinkable) lru.push(i);
      lru.sort((x, y) => born[x] - born[y] || x - y);
      const goal = Math.floor(lru.length * SHRINK_SHARE);
      const evicted = CACHES.map(() => 0);
      let n = 0;
      for (let pass = 0; pass < 2 && n < goal; pass++) {
        for (const i of lru) {
          if (n >= goal) break;
          if (addr[i] === 0 || (pass === 0 && rng.float() < SHRINK_REFERENCED)) continue;
          evicted[callers[callerOf[i]].cache!]++;
          release(i);
          // An id still queued is recycled when its expiry pops; otherwise now.
          if (!inHeap[i]) freeIds.push(i);
          n++;
        }
      }
      return {
        step, scanned: lru.length, evicted: { dentry: evicted[DENTRY], inode: evicted[INODE], bufferHead: evicted[BUFFER_HEAD] },
        sReclaimableBeforeKb: kb(reclaimableBefore), sReclaimableAfterKb: kb(m.slub.counters.reclaimablePages),
        partialWasteBeforeBytes: wasteBefore, partialWasteAfterBytes: partialWaste(m),
      };
    };

    // --- the run -------------------------------------------------------------------------------
    const samples: Array<Array<string | number>> = [];
    const sampleEvery = Math.max(1, Math.floor(steps / SAMPLES));
    const shrinkStep = Math.max(1, Math.floor(steps * SHRINK_AT));
    let shrink: ShrinkReport | undefined;
    let peakSlabPages = 0;
    let task = rng.pick(taskWeights);
    m.sched.switchTo(tasks[task]);
    let burst = 0;
    let bursts = 0;
    let negDentries = 0;
    let softirqs = 0;
    const slabPages = () => m.slub.counters.reclaimablePages + m.slub.counters.unreclaimablePages + m.slab.largePages;

    for (let step = 1; step <= steps; step++) {
      if (opts.sample && step % timelineStride(steps) === 0) opts.sample(m, 'slab-churn');
      while (heap.peekKey() <= step) {
        const id = heap.pop();
        inHeap[id] = 0;
        if (addr[id] !== 0) expire(id);
        freeIds.push(id);
      }
      // The scheduler: the current task's slice ends now and then.
      if (rng.float() < 1 / SLICE) {
        task = rng.pick(taskWeights);
        m.sched.switchTo(tasks[task]);
      }
      const ci = taskCallers[task][rng.pick(taskCallerWeights[task])];
      const id = allocate(ci, step);
      if (id >= 0) {
        const c = callers[ci];
        if (c.extName && rng.float() < c.extName) {
          const ext = allocate(extNameCaller, step);
          if (ext >= 0) companion[id] = ext;
        }
        schedule(id, c, step);
      }
      // cc1's header search: a burst of negative dentries.
      if (task === CC1 && burst === 0 && rng.float() < BURST_START) {
        burst = BURST_LEN[0] + rng.int(BURST_LEN[1] - BURST_LEN[0] + 1);
        bursts++;
      }
      if (burst > 0) {
        burst--;
        const nd = allocate(negDentryCaller, step);
        if (nd >= 0) {
          negDentries++;
          schedule(nd, NEG_DENTRY, step);
        }
      }
      // A packet: the softirq runs on this CPU, between two instructions of the task.
      if (rng.float() < SOFTIRQ_RATE) {
        softirqs++;
        const n = 1 + rng.int(3);
        m.inSoftirq(() => {
          for (let k = 0; k < n; k++) {
            const sci = softirqCallers[rng.pick(softirqWeights)];
            const sid = allocate(sci, step);
            if (sid >= 0) schedule(sid, callers[sci], step);
          }
        });
      }
      pageCache(step);
      if (step === shrinkStep) shrink = runShrinkers(step);
      peakLive = Math.max(peakLive, liveCount);
      const sp = slabPages();
      if (sp > peakSlabPages) peakSlabPages = sp;
      if (step % sampleEvery === 0 || step === steps) {
        samples.push([
          step, kb(m.slub.counters.reclaimablePages), kb(m.slub.counters.unreclaimablePages + m.slab.largePages),
          kb(m.slab.largePages), kib(partialWaste(m)), liveCount, kb(pcLen), kb(m.freePagesTotal()), fallbacksTotal(m), failuresTotal(tallies),
        ]);
        opts.progress?.(step, steps);
      }
    }
    m.sched.switchTo(startTask);

    // --- the report ------------------------------------------------------------------------------
    const pagesByCache = slabPagesByCache(m);
    const reports: CacheReport[] = [];
    for (const s of m.kmemCaches()) {
      const t = tallies.get(s.id);
      if (!t && s.totalObjects === 0) continue;
      const partialFree = m.slub.freeObjects(s);
      const cpuFree = cpuFreeObjects(m, s);
      const pages = pagesByCache.get(s.id) ?? 0;
      const requested = t?.requested ?? 0;
      const allocated = t?.allocated ?? 0;
      reports.push({
        name: s.name,
        activeObjs: s.totalObjects - partialFree,
        numObjs: s.totalObjects,
        objSize: s.objectSize,
        size: s.size,
        objPerSlab: s.objects,
        pagesPerSlab: 1 << s.order,
        slabs: s.nrSlabs,
        pages,
        liveObjs: s.totalObjects - partialFree - cpuFree,
        cpuFreeObjs: cpuFree,
        partialSlabs: s.nrPartial,
        partialFreeObjs: partialFree,
        partialWasteBytes: partialFree * s.size,
        partialWasteShare: pages ? (partialFree * s.size) / (pages * PAGE_SIZE) : 0,
        allocs: t?.allocs ?? 0,
        frees: t?.frees ?? 0,
        failures: t?.failures ?? 0,
        requestedBytes: requested,
        allocatedBytes: allocated,
        internalFragmentation: fragmentation(requested, allocated),
        orderFallbacks: s.stat.orderFallback,
        order: s.order,
        minOrder: s.minOrder,
      });
    }
    // Biggest slab memory first.
    reports.sort((a, b) => b.pages - a.pages || a.name.localeCompare(b.name));

    // The workload's own count of what it holds must match what SLUB's structures say it holds.
    const mismatches: string[] = [];
    const heldByCache = new Map<number, number>();
    for (let i = 0; i < nextId; i++) if (addr[i] !== 0 && cacheOf[i] !== LARGE) heldByCache.set(cacheOf[i], (heldByCache.get(cacheOf[i]) ?? 0) + 1);
    for (const s of m.kmemCaches()) {
      const expect = (live0.get(s.id) ?? 0) + (heldByCache.get(s.id) ?? 0);
      const have = liveObjects(m, s);
      if (have !== expect) mismatches.push(`${s.name}: ${have} live in its slabs, ${expect} expected`);
    }
    let pagesSum = 0;
    for (const p of pagesByCache.values()) pagesSum += p;
    const counterPages = m.slub.counters.reclaimablePages + m.slub.counters.unreclaimablePages;
    if (pagesSum !== counterPages) mismatches.push(`slab pages in mem_map ${pagesSum}, counters ${counterPages}`);

    const slabBytes = reports.reduce((s, r) => s + r.pages * PAGE_SIZE, 0);
    const wasteBytes = reports.reduce((s, r) => s + r.partialWasteBytes, 0);
    const cpuFreeBytes = reports.reduce((s, r) => s + r.cpuFreeObjs * r.size, 0);
    let totalReq = 0;
    let totalAlloc = 0;
    let totalAllocs = 0;
    let totalFrees = 0;
    let totalFailures = 0;
    for (const t of tallies.values()) {
      totalReq += t.requested;
      totalAlloc += t.allocated;
      totalAllocs += t.allocs;
      totalFrees += t.frees;
      totalFailures += t.failures;
    }
    let crossFrees = 0;
    for (const s of sites) crossFrees += s.crossCpuFrees;
    const fallbacks = fallbacksTotal(m);
    const fallbackCaches = reports.filter((r) => r.orderFallbacks > 0).map((r) => `${r.name} ${r.orderFallbacks} (order ${r.order} -> ${r.minOrder})`);
    const worstFrag = [...reports].filter((r) => r.allocatedBytes > 0).sort((a, b) => (b.allocatedBytes - b.requestedBytes) - (a.allocatedBytes - a.requestedBytes)).slice(0, 3);
    const worstWaste = [...reports].sort((a, b) => b.partialWasteBytes - a.partialWasteBytes).slice(0, 3);
    const largeLive = largeTally.allocs - largeTally.frees;

    const cacheTable: Table = {
      title: 'Caches (largest first; active/total/size/slabs as /proc/slabinfo prints them)',
      columns: ['cache', 'active objs', 'total objs', 'objsize', 'size', 'obj/slab', 'pages/slab', 'slabs', 'pages', 'allocs', 'requested KiB', 'allocated KiB', 'int. frag'],
      rows: reports.map((r) => [
        r.name, r.activeObjs, r.numObjs, r.objSize, r.size, r.objPerSlab, r.pagesPerSlab, r.slabs, r.pages, r.allocs,
        kib(r.requestedBytes), kib(r.allocatedBytes), r.allocatedBytes ? pctOf(r.internalFragmentation) : '-',
      ]),
    };
    if (largeTally.allocs || largeTally.failures) {
      cacheTable.rows.push([
        'large kmalloc (pages)', largeLive, largeLive, '-', '-', '-', '-', '-', m.slab.largePages, largeTally.allocs,
        kib(largeTally.requested), kib(largeTally.allocated), pctOf(fragmentation(largeTally.requested, largeTally.allocated)),
      ]);
    }
    const wasteTable: Table = {
      title: 'Free objects hidden in slabs (slabinfo counts CPU-slab objects as active)',
      columns: ['cache', 'live objs', 'cpu-slab free', 'partial slabs', 'partial free objs', 'partial waste KiB', 'of slab memory', 'order', 'min order', 'order fallbacks', 'failed allocs'],
      rows: reports.map((r) => [
        r.name, r.liveObjs, r.cpuFreeObjs, r.partialSlabs, r.partialFreeObjs, kib(r.partialWasteBytes), pctOf(r.partialWasteShare),
        r.order, r.minOrder, r.orderFallbacks, r.failures,
      ]),
    };
    const siteRows = [...sites].filter((s) => s.allocs > 0).sort((a, b) => b.allocated - a.allocated);
    const siteTable: Table = {
      title: 'By call site (perf kmem stat --caller)',
      columns: ['callsite', 'total_alloc KiB', 'per', 'total_req KiB', 'per', 'hit', 'ping-pong', 'frag'],
      rows: siteRows.map((s) => [
        s.site, kib(s.allocated), Math.round(s.allocated / s.allocs), kib(s.requested), Math.round(s.requested / s.allocs), s.allocs,
        s.crossCpuFrees, pctOf(fragmentation(s.requested, s.allocated)),
      ]),
    };
    const timeTable: Table = {
      title: 'Slab memory over time (kB, as /proc/meminfo)',
      columns: ['step', 'SReclaimable', 'SUnreclaim', 'large kmalloc', 'partial free', 'live objs', 'page cache', 'free', 'order fallbacks', 'failed allocs'],
      rows: samples,
    };

    const summary = [
      `${steps} steps of ${TASKS.map((t) => `${t.comm} (CPU ${Math.min(t.cpu, nrCpus - 1)})`).join(', ')} and ${softirqs} network softirqs on ${m.cfg.arch.arch} with ${(managed * 4) >> 10} MiB: ` +
        `${totalAllocs} slab allocations, ${totalFrees} frees (${pct(crossFrees, totalFrees)}% on another CPU than the allocation), ${totalFailures} failed; ` +
        `${bursts} negative-dentry bursts left ${negDentries} short-lived dentries.`,
      `Slab memory at the end: SReclaimable ${kb(m.slub.counters.reclaimablePages)} kB, SUnreclaim ${kb(m.slub.counters.unreclaimablePages + m.slab.largePages)} kB ` +
        `(${kb(m.slab.largePages)} kB of it large kmalloc pages); peak ${kb(peakSlabPages)} kB; ${liveCount} objects live (peak ${peakLive}).`,
      `Internal fragmentation (perf kmem): ${kib(totalReq)} KiB requested, ${kib(totalAlloc)} KiB allocated, ${kib(totalAlloc - totalReq)} KiB wasted = ${pctOf(fragmentation(totalReq, totalAlloc))}; ` +
        `most bytes lost in ${worstFrag.map((r) => `${r.name} ${pctOf(r.internalFragmentation)}`).join(', ')}.`,
      `Partial slabs hold ${kib(wasteBytes)} KiB of free objects, ${pctOf(slabBytes ? wasteBytes / slabBytes : 0)} of the ${kib(slabBytes)} KiB in slabs ` +
        `(${worstWaste.map((r) => `${r.name} ${kib(r.partialWasteBytes)} KiB`).join(', ')}); CPU slabs hold ${kib(cpuFreeBytes)} KiB more that slabinfo counts as active.`,
      shrink
        ? `At step ${shrink.step} the shrinkers evicted ${shrink.evicted.dentry} dentries, ${shrink.evicted.inode} inodes and ${shrink.evicted.bufferHead} buffer heads ` +
          `(${pct(shrink.evicted.dentry + shrink.evicted.inode + shrink.evicted.bufferHead, shrink.scanned)}% of them): SReclaimable went from ${shrink.sReclaimableBeforeKb} to ` +
          `${shrink.sReclaimableAfterKb} kB (${pct(shrink.sReclaimableBeforeKb - shrink.sReclaimableAfterKb, shrink.sReclaimableBeforeKb)}% returned); ` +
          `free objects on partial slabs went from ${kib(shrink.partialWasteBeforeBytes)} to ${kib(shrink.partialWasteAfterBytes)} KiB.`
        : 'The run ended before the shrinker pass.',
      fallbacks
        ? `Order fallbacks: ${fallbacks} slabs were allocated at their minimum order because the preferred order failed (${fallbackCaches.join(', ')}).`
        : 'Order fallbacks: none; every slab got its preferred order.',
      ...(totalFailures
        ? [`Failed allocations by call site: ${sites.filter((x) => x.failures > 0).map((x) => `${x.site} ${x.failures} (${formatGfp(x.gfp)})`).join(', ')}.`]
        : []),
      ...(mismatches.length ? [`INCONSISTENT: ${mismatches.join('; ')}`] : []),
    ];

    return {
      scenario: 'slab-churn',
      summary,
      tables: [cacheTable, wasteTable, siteTable, timeTable],
      metrics: {
        steps,
        allocs: totalAllocs,
        frees: totalFrees,
        failures: totalFailures,
        crossCpuFrees: crossFrees,
        softirqs,
        negativeDentryBursts: bursts,
        negativeDentries: negDentries,
        liveObjects: liveCount,
        peakLiveObjects: peakLive,
        requestedBytes: totalReq,
        allocatedBytes: totalAlloc,
        internalFragmentation: fragmentation(totalReq, totalAlloc),
        slabBytes,
        partialWasteBytes: wasteBytes,
        partialWasteShare: slabBytes ? wasteBytes / slabBytes : 0,
        cpuSlabFreeBytes: cpuFreeBytes,
        orderFallbacks: fallbacks,
        sReclaimableKb: kb(m.slub.counters.reclaimablePages),
        sUnreclaimKb: kb(m.slub.counters.unreclaimablePages + m.slab.largePages),
        largeKmallocKb: kb(m.slab.largePages),
        peakSlabKb: kb(peakSlabPages),
        largeKmalloc: { allocs: largeTally.allocs, frees: largeTally.frees, failures: largeTally.failures, requestedBytes: largeTally.requested, allocatedBytes: largeTally.allocated, pages: m.slab.largePages },
        shrink: shrink ?? null,
        pageCache: { pages: pcLen, failures: pcFailures, freeTargetPages: freeTarget },
        lifeScale,
        consistent: mismatches.length === 0,
        mismatches,
        caches: reports,
        callSites: siteRows.map((s) => ({ ...s, gfp: formatGfp(s.gfp), internalFragmentation: fragmentation(s.requested, s.allocated) })),
        overTime: { columns: timeTable.columns, rows: samples },
      },
    };
  },
};

/** Bytes of free objects on every cache's partial slabs. */
function partialWaste(m: Machine): number {
  let n = 0;
  for (const s of m.kmemCaches()) n += m.slub.freeObjects(s) * s.size;
  return n;
}

/** Objects a cache's slabs hold for their users: all objects but the free ones on partial and CPU slabs. */
function liveObjects(m: Machine, s: KmemCache): number {
  return s.totalObjects - m.slub.freeObjects(s) - cpuFreeObjects(m, s);
}

/** Free objects of the CPU slabs: on the lockless freelists, and freed to the slab by other CPUs. */
function cpuFreeObjects(m: Machine, s: KmemCache): number {
  let n = 0;
  for (let cpu = 0; cpu < s.cpuSlab.length; cpu++) {
    const slab = s.cpuSlab[cpu];
    if (slab === NO_PAGE) continue;
    n += m.slub.objectsOf(slab) - m.slub.inuseOf(slab);
    for (let p = s.cpuFreelist[cpu]; p !== 0; p = m.slub.getFreepointer(s, p)) n++;
  }
  return n;
}

/** Pages of slabs per cache id, from mem_map (a fallback slab counts its own order). */
function slabPagesByCache(m: Machine): Map<number, number> {
  const out = new Map<number, number>();
  const mm = m.mm;
  for (let pfn = 0; pfn < mm.nrPages; pfn++) {
    if ((mm.flags[pfn] & PGTY_MASK) !== PGTY_SLAB) continue;
    const id = mm.mapping[pfn] - 1;
    out.set(id, (out.get(id) ?? 0) + (1 << m.slub.slabOrder(pfn)));
  }
  return out;
}

function fallbacksTotal(m: Machine): number {
  let n = 0;
  for (const s of m.kmemCaches()) n += s.stat.orderFallback;
  return n;
}

function failuresTotal(tallies: Map<number, CacheTally>): number {
  let n = 0;
  for (const t of tallies.values()) n += t.failures;
  return n;
}

/** perf kmem's fragmentation(), as a fraction: 1 - requested / allocated. */
function fragmentation(requested: number, allocated: number): number {
  return allocated ? 1 - requested / allocated : 0;
}

function kb(pages: number): number {
  return pages * (PAGE_SIZE >> 10);
}

function kib(bytes: number): number {
  return Math.round(bytes / 1024);
}

function pct(a: number, b: number): string {
  return b ? ((100 * a) / b).toFixed(1) : '0.0';
}

function pctOf(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function growF(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, n: number, fill = 0): Int32Array {
  const b = new Int32Array(n).fill(fill);
  b.set(a);
  return b;
}
