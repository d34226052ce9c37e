/**
 * The model machine: boots mem_map, zones and the page allocator from a config (mm/mm_init.c
 * free_area_init/memmap_init, memblock_free_all; mm/page_alloc.c init_per_zone_wmark_min,
 * build_all_zonelists; mm/khugepaged.c set_recommended_min_free_kbytes) and offers the kernel's
 * allocator entry points in camelCase as methods. Later layers (slab, vmalloc, reclaim) add theirs here.
 *
 * Memory reads and writes go through kernel virtual addresses (the direct map for now), and touching a
 * free page is reported as KASAN would report a use-after-free.
 */
import { resolveConfig, type MachineConfig, type ResolvedConfig } from './config.js';
import { GFP, MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_TYPES } from './gfp.js';
import { Buddy } from './mm/buddy.js';
import { Clock } from './mm/clock.js';
import { DirectMap, PhysMem } from './mm/memory.js';
import {
  ALLOC_ORDER_MASK, ALLOC_ORDER_SHIFT, MAX_PAGE_ORDER, MemMap, NO_PAGE, NR_PAGE_ORDERS, PAGE_SIZE, PG_HEAD,
  PG_PFMEMALLOC, PG_RESERVED, PG_TAIL, PG_VCOMPOUND, PGTY_BUDDY, PGTY_HOLE, PGTY_MASK, PGTY_PCP, PGTY_TABLE, ZONE_SHIFT,
} from './mm/page.js';
import { PageAlloc } from './mm/page_alloc.js';
import { Pcp } from './mm/pcp.js';
import { Printk } from './mm/printk.js';
import { SlabCommon } from './mm/slab_common.js';
import { KmemCache, SLAB_HWCACHE_ALIGN, Slub, type KmemCacheOptions } from './mm/slub.js';
import { MemReserve, MemReserves } from './mm/reserve.js';
import { KernelPgtable } from './mm/pgtable.js';
import { Tlb, TLB_HIT_NS, TLB_WALK_LEVEL_NS } from './mm/tlb.js';
import { Vmalloc, VM_MAP } from './mm/vmalloc.js';
import { VmapBlocks } from './mm/vmap_block.js';
import { Kvmalloc } from './mm/util.js';
import { Vcompound } from './mm/vcompound.js';
import { Mempools, type Mempool, type MempoolAllocFn, type MempoolFreeFn } from './mm/mempool.js';
import { compoundNthPage, compoundOrder, pageVcompound } from './mm/compound.js';
import { kernelVersionCode } from './config.js';
import { pagePtr } from './trace/events.js';
import { Sched, type Task } from './mm/sched.js';
import { ModelStats, NodeStats, VmEvents } from './mm/vmstat.js';
import { Lruvec } from './mm/swap.js';
import { Rmap } from './mm/rmap.js';
import { makeBlockDevice, Writeback } from './mm/page_writeback.js';
import { SwapInfo } from './mm/swapfile.js';
import { AddressSpace, Filemap, type Filesystem } from './mm/filemap.js';
import { Anon, AnonMm } from './mm/anon.js';
import { Migrate } from './mm/migrate.js';
import { Compaction } from './mm/compaction.js';
import { Vmscan, type Shrinker, type ShrinkControl } from './mm/vmscan.js';
import { OomKiller } from './mm/oom_kill.js';
import type { ShowMemState } from './mm/show_mem.js';
import {
  calculateMinFreeKbytes, calculateTotalreservePages, NR_PCP_LISTS, recommendedMinFreeKbytes, setupPagesets,
  setupPerZoneLowmemReserve, setupPerZoneWmarks, Zone,
} from './mm/zone.js';
import { TraceBuffer } from './trace/buffer.js';
import { NetDevice } from './net/dev.js';
import { SKB_STRUCT_SIZE, Skbuff, type ObjPool, type SkBuff } from './net/skbuff.js';
import { Sockets, type Sock } from './net/sock.js';
import { NfsSwapFile, type NfsSwapDeps, type NfsSwapOptions } from './fs/nfs_swap.js';
import { renderProc, type ProcName } from './proc/index.js';

/** The network as the machine has it once used (Machine.net). */
export interface Net {
  skb: Skbuff;
  socks: Sockets;
  dev: NetDevice;
}

/** sizeof(struct rpc_task) (x86_64, 6.x), the rpc_tasks cache's objects. */
const RPC_TASK_SIZE = 240;

/** List heads kept for later layers (slab partial lists, LRU lists) beyond the zones' own. */
const SPARE_LIST_HEADS = 4096;
/** x86_64 VMALLOC_START (low 48 bits of 0xffffc90000000000) and its 32 TiB (4-level paging). */
const VMALLOC_START_X86_64 = 0xc90000000000;
const VMALLOC_SIZE_X86_64 = 32 * 2 ** 40;
/** The direct map's page size (2 MiB PMD pages; 4 MiB PSE pages on i386) and the table levels of its walk. */
const DIRECT_MAP_PAGE = { x86_64: 2 << 20, i386: 4 << 20 } as const;
const DIRECT_MAP_WALK_LEVELS = { x86_64: 3, i386: 1 } as const;
/** i386 VMALLOC_OFFSET: the gap between the end of lowmem and the vmalloc area. */
const VMALLOC_OFFSET_I386 = 8 << 20;


export class Machine {
  readonly cfg: ResolvedConfig;
  readonly mm: MemMap;
  readonly zones: Zone[];
  readonly clock = new Clock();
  readonly sched: Sched;
  readonly printk: Printk;
  readonly trace: TraceBuffer;
  readonly mem = new PhysMem();
  readonly directMap: DirectMap;
  private readonly vmEvents: VmEvents;
  private readonly modelStats = new ModelStats();
  /** The vm event counters (/proc/vmstat's pgalloc_*, pgfree, ...), every CPU's share summed in. */
  get events(): VmEvents {
    this.pcp.foldVmEvents();
    return this.vmEvents;
  }
  /** The model's own statistics, every CPU's share summed in. */
  get stats(): ModelStats {
    this.pcp.foldVmEvents();
    return this.modelStats;
  }
  readonly buddy: Buddy;
  readonly pcp: Pcp;
  readonly pa: PageAlloc;
  readonly slub: Slub;
  readonly slab: SlabCommon;
  readonly tlb: Tlb;
  readonly pgtable: KernelPgtable;
  readonly vmallocLayer: Vmalloc;
  readonly vmapBlocks: VmapBlocks;
  /** kvmalloc and friends (mm/util.c). */
  readonly util: Kvmalloc;
  /** Lameter's virtual compound pages, V1 (policy `fallback`). */
  readonly vcompound: Vcompound;
  /** The node's page-state counters (NR_FILE_PAGES, NR_DIRTY, ...). */
  readonly node = new NodeStats();
  readonly lru: Lruvec;
  readonly rmap: Rmap;
  readonly wb: Writeback;
  /** The swap device, if the config gives one. */
  readonly swap: SwapInfo | undefined;
  readonly filemap: Filemap;
  readonly anon: Anon;
  readonly migrate: Migrate;
  /** PTE pages of tasks' anonymous memory (NR_PAGETABLE beside the kernel's vmalloc tables). */
  readonly userPgtables = { user: 0 };
  readonly compaction: Compaction;
  readonly vmscan: Vmscan;
  readonly oom: OomKiller;
  private netState: Net | undefined;
  /** mempool_t (mm/mempool.c): the live pools and their functions. */
  readonly mempool: Mempools;
  /** Bytes of allocator metadata: mem_map with its list heads, and the pageblock bitmap. */
  metadataBytes(): number {
    return this.mm.bytes + this.buddy.pageblockFlags.byteLength;
  }

  /** vm.min_free_kbytes as the boot settled it. */
  minFreeKbytes = 0;
  /** totalreserve_pages. */
  totalreservePages = 0;
  /** totalram_pages(): managed pages at boot. */
  readonly totalramPages: number;

  private constructor(cfg: ResolvedConfig) {
    this.cfg = cfg;
    const nrZones = cfg.zones.length;
    const listHeads = nrZones * (NR_PAGE_ORDERS * MIGRATE_TYPES + cfg.nrCpus * NR_PCP_LISTS) + SPARE_LIST_HEADS;
    this.mm = new MemMap(cfg.maxPfn, listHeads);
    this.sched = new Sched(cfg.nrCpus);
    this.printk = new Printk(this.clock, cfg.strict);
    this.trace = new TraceBuffer(this.clock, this.sched, cfg.seed, cfg.arch.bitsPerLong);
    this.directMap = new DirectMap(cfg.arch.pageOffset, cfg.maxLowPfn);
    this.vmEvents = new VmEvents(nrZones);
    this.zones = cfg.zones.map((z, i) => new Zone(this.mm, i, z.type, z.startPfn, z.spanned, z.present, z.managed, nrZones, cfg.nrCpus));
    this.initMemmap();
    this.totalramPages = this.zones.reduce((s, z) => s + z.managed, 0);
    // build_all_zonelists(): grouping by mobility is pointless when there are too few pageblocks.
    const movablePages = this.zones.filter((z) => z.type !== 'Device').reduce((s, z) => s + z.managed, 0);
    const mobilityDisabled = !cfg.policy.mobilityGrouping || movablePages < (1 << cfg.arch.pageblockOrder) * MIGRATE_TYPES;
    this.buddy = new Buddy(this.mm, this.zones, cfg.arch.pageblockOrder, mobilityDisabled, cfg.thp, this.trace, this.modelStats);
    this.pcp = new Pcp(this.mm, this.buddy, cfg.nrCpus, this.trace, this.modelStats, this.vmEvents);
    this.pa = new PageAlloc({
      cfg, mm: this.mm, zones: this.zones, buddy: this.buddy, pcp: this.pcp, mem: this.mem, directMap: this.directMap,
      sched: this.sched, clock: this.clock, printk: this.printk, trace: this.trace, events: this.vmEvents, stats: this.modelStats,
    });
    this.memblockFreeAll();
    this.initWatermarks();
    // While a task sleeps in the model, the daemons get to run (as they would on other CPUs).
    this.clock.idle = () => {
      if (this.pa.daemonsPending) this.runDaemons();
    };
    const wordSize = cfg.arch.bitsPerLong === 64 ? 8 : 4;
    this.slub = new Slub({
      mm: this.mm, pa: this.pa, mem: this.mem, directMap: this.directMap, sched: this.sched, printk: this.printk,
      trace: this.trace, clock: this.clock, nrCpus: cfg.nrCpus, wordSize, slubDebug: cfg.slubDebug,
      formatAddr: (a) => this.formatAddr(a), strictReserve: cfg.policy.reserves === 'mem_reserve',
    });
    this.slab = new SlabCommon({
      mm: this.mm, pa: this.pa, slub: this.slub, mem: this.mem, directMap: this.directMap, printk: this.printk,
      trace: this.trace, bitsPerLong: cfg.arch.bitsPerLong,
    });
    this.reserve = new MemReserves({ slab: this.slab, printk: this.printk, nrCpus: cfg.nrCpus, adjustMemallocReserve: (pages) => this.adjustMemallocReserve(pages) });
    this.tlb = new Tlb(cfg.tlb);
    // init_top_pgt / swapper_pg_dir: a page of the (reserved) kernel image.
    const pgdPfn = cfg.kernelImage[0];
    this.pgtable = new KernelPgtable({ mm: this.mm, mem: this.mem, pa: this.pa, printk: this.printk, bitsPerLong: cfg.arch.bitsPerLong, pgdPfn });
    const i386 = cfg.arch.bitsPerLong === 32;
    // i386: VMALLOC_START is high_memory plus the 8 MiB gap; the model's area runs to 4 GiB (see vmalloc.ts).
    const vstart = i386 ? cfg.arch.pageOffset + cfg.maxLowPfn * PAGE_SIZE + VMALLOC_OFFSET_I386 : VMALLOC_START_X86_64;
    const vend = i386 ? 2 ** 32 : VMALLOC_START_X86_64 + VMALLOC_SIZE_X86_64;
    this.vmallocLayer = new Vmalloc({
      mm: this.mm, mem: this.mem, pa: this.pa, slab: this.slab, slub: this.slub, sched: this.sched, printk: this.printk,
      trace: this.trace, pgtable: this.pgtable, tlb: this.tlb, bitsPerLong: cfg.arch.bitsPerLong,
      pageOffset: cfg.arch.pageOffset, start: vstart, end: vend, nrCpus: cfg.nrCpus, kernel: kernelVersionCode(cfg.kernel),
      freeTablesOnPurge: cfg.policy.vmallocPgtableFree === 'purge', totalramPages: this.totalramPages,
      // struct page addresses: x86_64's vmemmap, i386's mem_map array in lowmem (32 bytes each).
      pagePtr: i386 ? (pfn) => cfg.arch.pageOffset + cfg.memmapStart * PAGE_SIZE + pfn * 32 : pagePtr,
      formatAddr: (a) => this.formatAddr(a),
    });
    this.vmapBlocks = new VmapBlocks({
      vmalloc: this.vmallocLayer, pgtable: this.pgtable, slab: this.slab, sched: this.sched, printk: this.printk,
      tlb: this.tlb, bitsPerLong: cfg.arch.bitsPerLong, nrCpus: cfg.nrCpus, formatAddr: (a) => this.formatAddr(a),
    });
    this.util = new Kvmalloc({
      slab: this.slab, vmalloc: this.vmallocLayer, sched: this.sched, printk: this.printk, kernel: kernelVersionCode(cfg.kernel),
      policy: cfg.policy.kvmalloc, bitsPerLong: cfg.arch.bitsPerLong, read: (a, n) => this.read(a, n), write: (a, b) => this.write(a, b),
      formatAddr: (a) => this.formatAddr(a),
    });
    this.vcompound = new Vcompound({
      mm: this.mm, pa: this.pa, vmalloc: this.vmallocLayer, directMap: this.directMap, sched: this.sched, printk: this.printk,
      policy: cfg.policy,
    });
    this.slub.vfallback = { enabled: cfg.policy.fallback !== 'none', addrToPage: (addr) => this.vcompound.addrToPage(addr) };
    this.lru = new Lruvec(this.mm, nrZones, this.node, this.vmEvents);
    this.rmap = new Rmap(this.mm);
    this.wb = new Writeback(this.mm, this.clock, this.lru, this.node, this.vmEvents);
    this.swap = cfg.swapPages > 0 ? new SwapInfo(cfg.swapPages, cfg.swapCost.readNs, cfg.swapCost.writeNs) : undefined;
    const userDeps = {
      mm: this.mm, pa: this.pa, mem: this.mem, lru: this.lru, rmap: this.rmap, wb: this.wb, node: this.node,
      events: this.vmEvents, clock: this.clock,
    };
    this.filemap = new Filemap(userDeps);
    this.anon = new Anon({ ...userDeps, swap: () => this.swap, pgtablePages: this.userPgtables });
    this.migrate = new Migrate(this.mm, this.mem, this.rmap, this.lru, this.vmEvents);
    this.compaction = new Compaction({
      cfg, mm: this.mm, zones: this.zones, buddy: this.buddy, pcp: this.pcp, pa: this.pa, lru: this.lru, migrate: this.migrate,
      wb: this.wb, node: this.node, sched: this.sched, clock: this.clock, trace: this.trace, events: this.vmEvents,
    });
    // Without CONFIG_COMPACTION the slow path's hook stays the default (COMPACT_SKIPPED) and nothing wakes kcompactd.
    if (cfg.policy.compaction) this.pa.hooks.directCompact = (gfp, order, allocFlags, highest, prio) => this.compaction.directCompact(gfp, order, allocFlags, highest, prio);
    this.compaction.kswapdRunning = () => this.vmscan.kswapdIsRunning;
    this.vmscan = new Vmscan({
      ...userDeps, zones: this.zones, filemap: this.filemap, anon: this.anon, swap: this.swap, sched: this.sched,
      trace: this.trace, swappiness: cfg.swappiness,
      slabPages: () => this.slub.counters.reclaimablePages + this.slub.counters.unreclaimablePages + this.slab.largePages,
      throttleDirect: cfg.policy.reserves === 'pfmemalloc',
    });
    if (cfg.policy.compaction) this.vmscan.compaction = this.compaction;
    this.oom = new OomKiller({
      anon: this.anon, sched: this.sched, printk: this.printk, events: this.vmEvents, zones: this.zones, swap: this.swap,
      totalramPages: this.totalramPages, showMemState: () => this.showMemState(),
    });
    // --- mempools: a task waiting in mempool_alloc lets model time pass, and the background threads run.
    this.mempool = new Mempools({
      slab: this.slab, pa: this.pa, sched: this.sched, printk: this.printk, clock: this.clock, bitsPerLong: cfg.arch.bitsPerLong,
      sleep: (maxNs, woken) => {
        const w = this.clock.sleep(maxNs, woken);
        this.runDaemons();
        return w;
      },
      formatAddr: (a) => this.formatAddr(a),
    });
    this.pa.showMemState = () => this.showMemState();
    const hooks = this.pa.hooks;
    hooks.wakeKswapd = (order, gfp, highest) => this.vmscan.wakeupKswapd(gfp, order, highest);
    hooks.directReclaim = (gfp, order, highest) => this.vmscan.tryToFreePages(gfp, order, highest);
    hooks.zoneReclaimablePages = (z) => this.vmscan.zoneReclaimablePages(z);
    hooks.outOfMemory = (gfp, order) => this.oom.outOfMemory(gfp, order);
    hooks.runDaemons = () => this.runDaemons();
    // The boot's own allocations (the caches' structs) leave pages on CPU 0's lists: start with them drained,
    // and with the boot's statistics cleared, so that a run counts only what it does.
    this.pcp.drainAll();
    this.stats.reset();
    this.printk.printk(`Linux version 6.18.0-mmlab (mmlab model, arch ${cfg.arch.arch}, ${cfg.nrCpus} CPUs)`);
    this.printk.printk(`Memory: ${this.totalramPages * 4}K/${this.zones.reduce((s, z) => s + z.present, 0) * 4}K available`);
  }

  /** Boot a machine. Bad configuration throws an Error naming the field. */
  static boot(config: MachineConfig = {}): Machine {
    return new Machine(resolveConfig(config));
  }

  /** memmap_init(): zone links in page->flags, holes and memblock reservations marked. */
  private initMemmap(): void {
    const mm = this.mm;
    for (const z of this.zones) if (z.spanned) mm.flags.fill(z.idx << ZONE_SHIFT, z.startPfn, z.endPfn);
    // Pages outside every zone (pfn 0 on x86) belong to no allocator: reserved.
    mm.flags[0] |= this.zones[0].startPfn > 0 ? PG_RESERVED : 0;
    if (this.zones[0].startPfn > 0) mm.refcount[0] = 1;
    for (const [s, e] of this.cfg.holes) for (let p = s; p < e; p++) mm.flags[p] = (mm.flags[p] & ~PGTY_MASK) | PGTY_HOLE;
    for (const [s, e] of this.cfg.reserved) {
      for (let p = s; p < e; p++) {
        if ((mm.flags[p] & PGTY_MASK) === PGTY_HOLE) continue;
        mm.flags[p] |= PG_RESERVED;
        mm.refcount[p] = 1;
      }
    }
  }

  /**
   * memblock_free_all(): every page that is present and not reserved goes to the buddy allocator in the
   * largest aligned blocks that fit, as movable (memmap_init marks every pageblock movable).
   */
  private memblockFreeAll(): void {
    const mm = this.mm;
    for (const z of this.zones) {
      let p = z.startPfn;
      const end = z.endPfn;
      while (p < end) {
        const f = mm.flags[p];
        if (f & PG_RESERVED || (f & PGTY_MASK) === PGTY_HOLE) {
          p++;
          continue;
        }
        let runEnd = p;
        while (runEnd < end && !(mm.flags[runEnd] & PG_RESERVED) && (mm.flags[runEnd] & PGTY_MASK) !== PGTY_HOLE) runEnd++;
        while (p < runEnd) {
          let order = MAX_PAGE_ORDER;
          while (order > 0 && (p & ((1 << order) - 1) || p + (1 << order) > runEnd)) order--;
          this.buddy.addToFreeList(p, z, order, MIGRATE_MOVABLE, true);
          this.buddy.accountFreepages(z, 1 << order, MIGRATE_MOVABLE);
          p += 1 << order;
        }
      }
    }
  }

  /** init_per_zone_wmark_min(), then khugepaged's recommendation, then the pagesets that follow the marks. */
  private initWatermarks(): void {
    const cfg = this.cfg;
    const zones = this.zones;
    let minFree = cfg.minFreeKbytes ?? calculateMinFreeKbytes(zones);
    setupPerZoneWmarks(zones, minFree, cfg.watermarkScaleFactor);
    setupPerZoneLowmemReserve(zones, cfg.lowmemReserveRatio);
    if (cfg.thp) {
      const rec = recommendedMinFreeKbytes(zones, cfg.arch.pageblockOrder);
      if (rec > minFree) {
        if (cfg.minFreeKbytes !== undefined) this.printk.printk(`khugepaged: raising min_free_kbytes from ${minFree} to ${rec} to help transparent hugepage allocations`);
        minFree = rec;
        setupPerZoneWmarks(zones, minFree, cfg.watermarkScaleFactor);
      }
    }
    this.minFreeKbytes = minFree;
    this.totalreservePages = calculateTotalreservePages(zones);
    for (const z of zones) setupPagesets(z, cfg.nrCpus);
  }

  // --- the page allocator's entry points ---------------------------------------------------------------

  /** alloc_pages(gfp, order): a pfn, or NO_PAGE. */
  allocPages(gfp: number, order: number): number {
    return this.pa.allocPages(gfp, order);
  }
  /** __free_pages(page, order). */
  freePages(pfn: number, order: number): void {
    this.pa.freePages(pfn, order);
  }
  /** __get_free_pages(gfp, order): a direct-map address, or 0. */
  getFreePages(gfp: number, order: number): number {
    return this.pa.getFreePages(gfp, order);
  }
  /** get_zeroed_page(gfp). */
  getZeroedPage(gfp: number): number {
    return this.pa.getFreePages(gfp | GFP.ZERO, 0);
  }
  /** free_pages(addr, order). */
  freePagesAddr(addr: number, order: number): void {
    this.pa.freePagesAddr(addr, order);
  }
  /** alloc_pages_exact(size, gfp): a direct-map address, or 0. */
  allocPagesExact(size: number, gfp: number): number {
    return this.pa.allocPagesExact(size, gfp);
  }
  /** free_pages_exact(addr, size). */
  freePagesExact(addr: number, size: number): void {
    this.pa.freePagesExact(addr, size);
  }
  /** split_page(page, order). */
  splitPage(pfn: number, order: number): void {
    this.pa.splitPage(pfn, order);
  }
  /** get_page(page). */
  getPage(pfn: number): void {
    this.pa.getPage(pfn);
  }
  /** release_pages(): drop one reference on each order-0 page, freeing in a batch. */
  releasePages(pfns: readonly number[]): void {
    this.pa.freePagesBatched(pfns);
  }
  /** drain_all_pages(NULL). */
  drainAllPages(): void {
    this.pcp.drainAll();
  }

  /** page_address(): 0 for a highmem page (it has no kernel address until kmap). */
  pageAddress(pfn: number): number {
    return this.directMap.pageAddress(pfn);
  }
  /** virt_to_page() for a direct-map address; NO_PAGE if it is not one. */
  virtToPage(addr: number): number {
    return this.directMap.contains(addr) ? this.directMap.virtToPfn(addr) : NO_PAGE;
  }

  // --- memory reserves (Zijlstra) ----------------------------------------------------------------------

  /** Zijlstra's mem_reserve tree (mm/reserve.c of the 2008 series, seed 004); its root feeds varFreeKbytes. */
  readonly reserve: MemReserves;
  /** var_free_kbytes: the reserve tree's pages, added to min_free_kbytes when the watermarks are set. */
  varFreeKbytes = 0;

  /**
   * adjust_memalloc_reserve(pages): add `pages` to var_free_kbytes and recompute the watermarks (and what
   * follows them). An increase must pass test_reserve_limits(): kswapd is woken and one GFP_KERNEL page must
   * be allocatable (that may reclaim, and in the end OOM-kill, as in the kernel), else the increase is undone
   * and false (-ENOMEM) returned.
   */
  adjustMemallocReserve(pages: number): boolean {
    this.setupPerZoneWmarksVar(pages);
    if (pages > 0) {
      this.wakeupKswapd(0, GFP.KERNEL);
      const pfn = this.allocPages(GFP.KERNEL, 0);
      if (pfn === NO_PAGE) {
        this.setupPerZoneWmarksVar(-pages);
        return false;
      }
      this.freePages(pfn, 0);
    }
    this.printk.printk(`Emergency reserve: ${this.varFreeKbytes}`);
    return true;
  }

  /**
   * __adjust_memalloc_reserve() then setup_per_zone_wmarks() with min_free_kbytes + var_free_kbytes, as boot
   * set them: the marks, totalreserve_pages, and each zone's pcp batch and high limits (zone_pcp_update keeps
   * pcp->high, which the limits clamp on its next use).
   */
  private setupPerZoneWmarksVar(pages: number): void {
    const kbytes = this.varFreeKbytes + pages * (PAGE_SIZE >> 10);
    if (!Number.isSafeInteger(kbytes) || kbytes < 0) throw new Error(`adjust_memalloc_reserve: var_free_kbytes would be ${kbytes}`);
    this.varFreeKbytes = kbytes;
    setupPerZoneWmarks(this.zones, this.minFreeKbytes + this.varFreeKbytes, this.cfg.watermarkScaleFactor);
    this.totalreservePages = calculateTotalreservePages(this.zones);
    for (const z of this.zones) {
      const high = z.pcp.map((p) => p.high);
      setupPagesets(z, this.cfg.nrCpus);
      z.pcp.forEach((p, i) => (p.high = high[i]));
    }
  }

  /**
   * echo KB > /proc/sys/vm/min_free_kbytes (min_free_kbytes_sysctl_handler): the reserve's knob. The marks
   * and what follows them are set again; the sysctl's minimum is 0.
   */
  setMinFreeKbytes(kbytes: number): void {
    if (!Number.isSafeInteger(kbytes) || kbytes < 0) throw new Error(`min_free_kbytes: expected a whole number of kB >= 0, got ${kbytes}`);
    this.minFreeKbytes = kbytes;
    this.setupPerZoneWmarksVar(0);
  }

  /** mem_reserve_root ("total reserve"). */
  get memReserveRoot(): MemReserve {
    return this.reserve.root;
  }
  memReserveInit(name: string, parent?: MemReserve): MemReserve {
    return this.reserve.memReserveInit(name, parent);
  }
  memReserveConnect(child: MemReserve, parent: MemReserve): boolean {
    return this.reserve.memReserveConnect(child, parent);
  }
  memReserveDisconnect(node: MemReserve): void {
    this.reserve.memReserveDisconnect(node);
  }
  memReservePagesSet(res: MemReserve, pages: number): boolean {
    return this.reserve.memReservePagesSet(res, pages);
  }
  memReservePagesAdd(res: MemReserve, pages: number): boolean {
    return this.reserve.memReservePagesAdd(res, pages);
  }
  memReservePagesCharge(res: MemReserve, pages: number): boolean {
    return this.reserve.memReservePagesCharge(res, pages);
  }
  memReserveKmallocSet(res: MemReserve, bytes: number): boolean {
    return this.reserve.memReserveKmallocSet(res, bytes);
  }
  memReserveKmallocCharge(res: MemReserve, bytes: number): boolean {
    return this.reserve.memReserveKmallocCharge(res, bytes);
  }
  memReserveKmemCacheSet(res: MemReserve, s: KmemCache, objects: number): boolean {
    return this.reserve.memReserveKmemCacheSet(res, s, objects);
  }
  memReserveKmemCacheCharge(res: MemReserve, s: KmemCache, objects: number): boolean {
    return this.reserve.memReserveKmemCacheCharge(res, s, objects);
  }
  kmallocEstimateObjs(gfp: number, size: number, count: number): number {
    return this.reserve.kmallocEstimateObjs(gfp, size, count);
  }
  kmallocEstimateBytes(gfp: number, bytes: number): number {
    return this.reserve.kmallocEstimateBytes(gfp, bytes);
  }
  kmemAllocEstimate(s: KmemCache, gfp: number, objects: number): number {
    return this.reserve.kmemAllocEstimate(s, gfp, objects);
  }
  /** /proc/reserve_info. */
  reserveInfo(): string {
    return this.reserve.reserveInfo();
  }
  // --- end of memory reserves (Zijlstra) ---

  // --- virtual compound pages (seeds 001, 002) ---------------------------------------------------------

  /** addr_to_page(): for a vmalloc address too (seed 001). */
  addrToPage(addr: number): number {
    return this.vcompound.addrToPage(addr);
  }
  /** page_to_addr(): a virtual compound's vmalloc address, else page_address(). */
  pageToAddr(pfn: number): number {
    return this.pa.pageToAddr(pfn);
  }
  /** virt_to_head_page(): for a vmalloc address too. */
  virtToHeadPage(addr: number): number {
    return this.vcompound.virtToHeadPage(addr);
  }
  /** compound_nth_page(). */
  compoundNthPage(head: number, n: number): number {
    return compoundNthPage(this.mm, head, n);
  }
  /** compound_order(). */
  compoundOrder(pfn: number): number {
    return compoundOrder(this.mm, pfn);
  }
  /** PageVcompound(). */
  pageVcompound(pfn: number): boolean {
    return pageVcompound(this.mm, pfn);
  }
  /** alloc_vcompound() (V5, the wrapper in mm/vmalloc.c): an address, or 0. */
  allocVcompound(gfp: number, order: number): number {
    return this.vmallocLayer.allocVcompound(gfp, order);
  }
  /** free_vcompound(addr). */
  freeVcompound(addr: number): void {
    this.vmallocLayer.freeVcompound(addr);
  }

  // --- slab ----------------------------------------------------------------------------------------

  /** kmem_cache_create(name, size, align, flags, ctor): the cache, or undefined (NULL). */
  kmemCacheCreate(name: string, size: number, opts?: KmemCacheOptions): KmemCache | undefined {
    return this.slub.kmemCacheCreate(name, size, opts);
  }
  kmemCacheAlloc(s: KmemCache, gfp: number, callSite?: string): number {
    return this.slab.kmemCacheAlloc(s, gfp, callSite);
  }
  kmemCacheFree(s: KmemCache, obj: number, callSite?: string): void {
    this.slab.kmemCacheFree(s, obj, callSite);
  }
  /** kmem_cache_destroy(): false (and a report) when objects remain. */
  kmemCacheDestroy(s: KmemCache): boolean {
    return this.slub.kmemCacheDestroy(s);
  }
  kmemCacheShrink(s: KmemCache): number {
    return this.slub.kmemCacheShrink(s);
  }
  /** /sys/kernel/slab/<cache>/validate: check every object's red zones and poison now. */
  kmemCacheValidate(s: KmemCache): number {
    return this.slub.kmemCacheValidate(s);
  }
  kmalloc(size: number, gfp: number, callSite?: string): number {
    return this.slab.kmalloc(size, gfp, callSite);
  }
  kzalloc(size: number, gfp: number, callSite?: string): number {
    return this.slab.kzalloc(size, gfp, callSite);
  }
  kmallocArray(n: number, size: number, gfp: number, callSite?: string): number {
    return this.slab.kmallocArray(n, size, gfp, callSite);
  }
  kcalloc(n: number, size: number, gfp: number, callSite?: string): number {
    return this.slab.kcalloc(n, size, gfp, callSite);
  }
  kfree(obj: number, callSite?: string): void {
    this.slab.kfree(obj, callSite);
  }
  ksize(obj: number): number {
    return this.slab.ksize(obj);
  }
  krealloc(obj: number, newSize: number, gfp: number, callSite?: string): number {
    return this.slab.krealloc(obj, newSize, gfp, callSite);
  }
  kmallocSizeRoundup(size: number): number {
    return this.slab.kmallocSizeRoundup(size);
  }
  /** Every live cache, in creation order. */
  kmemCaches(): KmemCache[] {
    return this.slub.caches.filter((c): c is KmemCache => c !== undefined);
  }
  /** The cache called `name`. */
  kmemCache(name: string): KmemCache | undefined {
    return this.kmemCaches().find((c) => c.name === name);
  }

  // --- vmalloc, vmap, vm_map_ram --------------------------------------------------------------------------

  /** vmalloc(size): a virtually contiguous area of order-0 pages, or 0. */
  vmalloc(size: number, caller = '0x0'): number {
    return this.vmallocNodeRange(size, { caller });
  }
  /** vzalloc(size): the same, zeroed. */
  vzalloc(size: number, caller = '0x0'): number {
    return this.vmallocNodeRange(size, { gfp: GFP.KERNEL | GFP.ZERO, caller });
  }
  /** __vmalloc(size, gfp_mask). */
  vmallocGfp(size: number, gfp: number, caller = '0x0'): number {
    return this.vmallocNodeRange(size, { gfp, caller });
  }
  /** __vmalloc_node_range(size, align, start, end, gfp_mask, prot, vm_flags, node, caller). */
  vmallocNodeRange(size: number, o: { gfp?: number; align?: number; start?: number; end?: number; vmFlags?: number; caller?: string } = {}): number {
    const v = this.vmallocLayer;
    return v.vmallocNodeRange(size, o.align ?? 1, o.start ?? v.start, o.end ?? v.end, o.gfp ?? GFP.KERNEL, o.vmFlags ?? 0, o.caller ?? '0x0');
  }
  /** vfree(addr): deferred when called from interrupt context. */
  vfree(addr: number): void {
    this.vmallocLayer.vfree(addr);
  }
  /** vfree_atomic(addr). */
  vfreeAtomic(addr: number): void {
    this.vmallocLayer.vfreeAtomic(addr);
  }
  /** vmap(pages, count, flags, PAGE_KERNEL): map pages the caller holds (VM_MAP_PUT_PAGES hands them over). */
  vmap(pfns: readonly number[], flags = VM_MAP, caller = '0x0'): number {
    return this.vmallocLayer.vmap(pfns, flags, caller);
  }
  /** vunmap(addr): the pages stay the caller's. */
  vunmap(addr: number): void {
    this.vmallocLayer.vunmap(addr);
  }
  /** vm_map_ram(pages, count, node). */
  vmMapRam(pfns: readonly number[]): number {
    return this.vmapBlocks.vmMapRam(pfns);
  }
  /** vm_unmap_ram(mem, count). */
  vmUnmapRam(addr: number, count: number): void {
    this.vmapBlocks.vmUnmapRam(addr, count);
  }
  /** vm_unmap_aliases(). */
  vmUnmapAliases(): void {
    this.vmapBlocks.vmUnmapAliases();
  }
  /** vmalloc_to_page(addr) as a pfn; NO_PAGE if nothing is mapped there. */
  vmallocToPage(addr: number): number {
    return this.vmallocLayer.vmallocToPfn(addr - (addr % PAGE_SIZE));
  }
  /** vmalloc_to_pfn(addr). */
  vmallocToPfn(addr: number): number {
    return this.vmallocToPage(addr);
  }
  /** is_vmalloc_addr(addr). */
  isVmallocAddr(addr: number): boolean {
    return this.vmallocLayer.isVmallocAddr(addr);
  }
  /** Purge the lazily freed vmap areas now (what drain_vmap_work does); false if there were none. */
  purgeVmapAreaLazy(): boolean {
    return this.vmallocLayer.purgeVmapAreaLazy();
  }

  // --- mm/util.c: kvmalloc ---

  /** kvmalloc(size, gfp): kmalloc, or vmalloc when that fails (policy.kvmalloc decides when); address or 0. */
  kvmalloc(size: number, gfp: number = GFP.KERNEL, caller?: string): number {
    return this.util.kvmalloc(size, gfp, caller);
  }
  /** kvzalloc(size, gfp). */
  kvzalloc(size: number, gfp: number = GFP.KERNEL, caller?: string): number {
    return this.util.kvzalloc(size, gfp, caller);
  }
  /** kvmalloc_array(n, size, gfp): 0 if n * size overflows size_t. */
  kvmallocArray(n: number, size: number, gfp: number = GFP.KERNEL, caller?: string): number {
    return this.util.kvmallocArray(n, size, gfp, caller);
  }
  /** kvcalloc(n, size, gfp). */
  kvcalloc(n: number, size: number, gfp: number = GFP.KERNEL, caller?: string): number {
    return this.util.kvcalloc(n, size, gfp, caller);
  }
  /** kvfree(addr): vfree or kfree by the address. */
  kvfree(addr: number, caller?: string): void {
    this.util.kvfree(addr, caller);
  }
  /** kvrealloc(p, size, gfp), the 6.12+ signature (no old size). */
  kvrealloc(p: number, size: number, gfp: number = GFP.KERNEL, caller?: string): number {
    return this.util.kvrealloc(p, size, gfp, caller);
  }
  // --- mempools (mm/mempool.c) ---------------------------------------------------------------------------
  // An element is a number (object address, or pfn for page pools); null is "no element".

  /** mempool_create(min_nr, alloc_fn, free_fn, pool_data): preallocates min_nr with GFP_KERNEL; null if that fails. */
  mempoolCreate(minNr: number, alloc: MempoolAllocFn, free: MempoolFreeFn): Mempool | null {
    return this.mempool.create(minNr, alloc, free);
  }
  /** mempool_create_slab_pool(min_nr, kc). */
  mempoolCreateSlabPool(minNr: number, cache: KmemCache): Mempool | null {
    return this.mempool.createSlabPool(minNr, cache);
  }
  /** mempool_create_kmalloc_pool(min_nr, size). */
  mempoolCreateKmallocPool(minNr: number, size: number): Mempool | null {
    return this.mempool.createKmallocPool(minNr, size);
  }
  /** mempool_create_page_pool(min_nr, order): elements are pfns. */
  mempoolCreatePagePool(minNr: number, order: number): Mempool | null {
    return this.mempool.createPagePool(minNr, order);
  }
  /** mempool_alloc(pool, gfp): an element, or null (non-blocking gfp, or the model's bounded wait ran out). */
  mempoolAlloc(pool: Mempool, gfp: number): number | null {
    return this.mempool.alloc(pool, gfp);
  }
  /** mempool_alloc_preallocated(pool): a reserved element, or null. */
  mempoolAllocPreallocated(pool: Mempool): number | null {
    return this.mempool.allocPreallocated(pool);
  }
  /** mempool_free(element, pool): null is a no-op. */
  mempoolFree(element: number | null, pool: Mempool): void {
    this.mempool.free(element, pool);
  }
  /** mempool_resize(pool, new_min_nr): 0, or -ENOMEM if the new elements array could not be allocated. */
  mempoolResize(pool: Mempool, newMinNr: number): number {
    return this.mempool.resize(pool, newMinNr);
  }
  /** mempool_destroy(pool): null is a no-op. */
  mempoolDestroy(pool: Mempool | null): void {
    this.mempool.destroy(pool);
  }

  // --- user memory: files and anonymous memory --------------------------------------------------------

  /** Mount a filesystem on a block device that reads and writes a page in the given times (ns). */
  mountFs(name: string, cost: { readNs?: number; writeNs?: number } = {}): Filesystem {
    return { name, bdev: makeBlockDevice(name, cost.readNs ?? 100_000, cost.writeNs ?? 200_000) };
  }
  /** A new empty file on `fs`: its page cache. */
  createFile(fs: Filesystem): AddressSpace {
    return this.filemap.createMapping(fs);
  }
  /** read() of one page of a file into `dst`; false on ENOMEM. */
  fileRead(as: AddressSpace, index: number, dst: Uint8Array, off = 0): boolean {
    return this.filemap.read(as, index, dst, off);
  }
  /** write() into one page of a file; false on ENOMEM. */
  fileWrite(as: AddressSpace, index: number, src: Uint8Array, off = 0): boolean {
    return this.filemap.write(as, index, src, off);
  }
  /** truncate to 0 and unlink: the page cache and the blocks go. */
  unlinkFile(as: AddressSpace): void {
    this.filemap.unlink(as);
  }
  /** mmap(MAP_ANONYMOUS) of `pages` pages for `task` (default: current). */
  mmapAnon(pages: number, task: Task = this.sched.current): AnonMm {
    return this.anon.createMm(task, pages);
  }
  /** Touch (fault in) one page; NO_PAGE on VM_FAULT_OOM. */
  anonFault(am: AnonMm, index: number): number {
    return this.anon.fault(am, index);
  }
  anonRead(am: AnonMm, index: number, dst: Uint8Array, off = 0): boolean {
    return this.anon.read(am, index, dst, off);
  }
  anonWrite(am: AnonMm, index: number, src: Uint8Array, off = 0): boolean {
    return this.anon.write(am, index, src, off);
  }
  /** The task exits (or munmaps everything): its pages and swap slots are freed. */
  exitMm(am: AnonMm): void {
    this.anon.exitMmap(am);
  }

  // --- the network (net/core) and swap over NFS ------------------------------------------------------------

  /**
   * The network stack as the reserves see it: skbs, sockets, one device. Set up on first use (sock_init and
   * skb_init create skbuff_head_cache then), so machines without a network have none of it in slabinfo.
   */
  get net(): Net {
    if (!this.netState) {
      const headCache = this.slub.kmemCacheCreate('skbuff_head_cache', SKB_STRUCT_SIZE, { flags: SLAB_HWCACHE_ALIGN })!;
      let socks: Sockets | undefined;
      const skb = new Skbuff({
        slab: this.slab, pa: this.pa, policy: this.cfg.policy, headCache, memallocSocks: () => socks!.memallocSocks,
        isPfmemalloc: (addr) => (this.mm.flags[this.virtToHeadPage(addr)] & PG_PFMEMALLOC) !== 0,
      });
      socks = new Sockets(skb, this.cfg.policy);
      this.netState = { skb, socks, dev: new NetDevice('eth0', skb, socks, this.sched) };
    }
    return this.netState;
  }
  /** sk_set_memalloc(): the socket may receive from the reserves (SOCK_MEMALLOC). */
  skSetMemalloc(sk: Sock): void {
    this.net.socks.skSetMemalloc(sk);
  }
  skClearMemalloc(sk: Sock): void {
    this.net.socks.skClearMemalloc(sk);
  }
  /** A packet of `len` bytes for `sk` arrives at eth0 (NET_RX softirq): the socket's skb, or null if lost or dropped. */
  netifReceive(sk: Sock, len: number): SkBuff | null {
    return this.net.dev.receive(sk, len);
  }
  /** __alloc_skb() in the current context. */
  allocSkb(size: number, gfp: number, flags = 0): SkBuff | null {
    return this.net.skb.allocSkb(size, gfp, flags);
  }
  kfreeSkb(skb: SkBuff): void {
    this.net.skb.kfreeSkb(skb);
  }
  /**
   * swapon of a swap file on NFS: the swap device (config `swap`) does its IO through the network
   * (SWP_FS_OPS). `deps` chooses where the transport's memory comes from (fs/nfs_swap.ts).
   */
  swapActivateNfs(opts: NfsSwapOptions, setup: (rpcTasks: KmemCache) => Partial<Pick<NfsSwapDeps, 'design' | 'reserves' | 'rpcPool' | 'txPool'>> = () => ({})): NfsSwapFile {
    if (!this.swap) throw new Error('swapActivateNfs: the machine has no swap (config swap: SIZE)');
    const net = this.net;
    const cache = this.slub.kmemCacheCreate('rpc_tasks', RPC_TASK_SIZE, { flags: SLAB_HWCACHE_ALIGN })!;
    const rpcTask: ObjPool = {
      size: cache.size,
      alloc: (gfp) => this.slab.kmemCacheAlloc(cache, gfp, 'rpc_alloc_task'),
      free: (obj) => this.slab.kmemCacheFree(cache, obj, 'rpc_free_task'),
    };
    const file = new NfsSwapFile({
      policy: this.cfg.policy, design: 'plain', clock: this.clock, sched: this.sched, pa: this.pa, skb: net.skb, socks: net.socks,
      dev: net.dev, rpcTask, opts, ...setup(cache),
    });
    this.swap.rw = file;
    return file;
  }

  // --- compaction ----------------------------------------------------------------------------------------

  /** echo 1 > /proc/sys/vm/compact_memory: compact every zone fully (compact_node, MIGRATE_SYNC). */
  compactNode(): void {
    this.compaction.compactNode();
  }
  /** compaction_suitable() of zone `zoneIdx` for `order`, against its min watermark. */
  compactionSuitable(zoneIdx: number, order: number, highestZoneidx = zoneIdx): boolean {
    return this.compaction.compactionSuitable(this.zones[zoneIdx], order, highestZoneidx);
  }

  // --- reclaim ---------------------------------------------------------------------------------------

  /** register_shrinker(): `count` what could be freed, `scan` (free) up to sc.nrToScan, or SHRINK_STOP. */
  registerShrinker(s: { name: string; seeks?: number; count(sc: ShrinkControl): number; scan(sc: ShrinkControl): number }): Shrinker {
    return this.vmscan.registerShrinker(s);
  }
  unregisterShrinker(s: Shrinker): void {
    this.vmscan.unregisterShrinker(s);
  }
  /** try_to_free_pages() as the current task would enter it (for experiments; allocations do it themselves). */
  tryToFreePages(gfp: number, order = 0): number {
    const g = this.sched.currentGfpContext(gfp);
    return this.vmscan.tryToFreePages(g, order, this.pa.gfpZone(g));
  }
  /** Wake kswapd as an allocation below the low watermark would, and let it run. */
  wakeupKswapd(order = 0, gfp: number = GFP.KERNEL): void {
    this.vmscan.wakeupKswapd(gfp, order, this.pa.gfpZone(gfp));
    this.runDaemons();
  }
  /**
   * Let the background threads run: finished writes complete, a woken kswapd balances the node, kcompactd
   * compacts. Allocations call this when they return; workloads call it through tick().
   */
  runDaemons(): void {
    this.pa.daemonsPending = false;
    this.clock.runTimers();
    this.wb.complete();
    this.vmscan.kswapdRun();
    if (this.cfg.policy.compaction) this.compaction.kcompactdTick();
  }
  /** Advance model time by `ns` and run the daemons (a workload's idle moment). */
  tick(ns = 0): void {
    this.clock.sleep(ns); // the timers due meanwhile run in due order
    this.runDaemons();
  }
  /** NR_PAGETABLE: the kernel's vmalloc page tables and the tasks' PTE pages. */
  get nrPageTablePages(): number {
    return this.pgtable.nrTables + this.userPgtables.user;
  }
  /** What show_mem prints beyond the zones. */
  private showMemState(): ShowMemState {
    return {
      lru: this.lru, node: this.node, slabReclaimable: this.slub.counters.reclaimablePages,
      slabUnreclaimable: this.slub.counters.unreclaimablePages + this.slab.largePages, pagetables: this.nrPageTablePages,
      swapTotal: this.swap?.total ?? 0, swapFree: this.swap?.free ?? 0,
    };
  }
  /** Set a task's oom_score_adj (-1000 makes it unkillable). */
  setOomScoreAdj(task: Task, adj: number): void {
    if (!Number.isInteger(adj) || adj < -1000 || adj > 1000) throw new Error(`oom_score_adj: expected a whole number from -1000 to 1000, got ${adj}`);
    task.oomScoreAdj = adj;
  }
  /** Take a filesystem lock (or, with io, enter the block IO path) as the current task; returns a token. */
  fsLock(name: string, io = false): number {
    return this.sched.fsLock(name, io);
  }
  fsUnlock(token: number): void {
    this.sched.fsUnlock(token);
  }

  // --- the current task and its context -----------------------------------------------------------------

  get current(): Task {
    return this.sched.current;
  }
  memallocNofsSave(): number {
    return this.sched.memallocNofsSave();
  }
  memallocNofsRestore(flags: number): void {
    this.sched.memallocNofsRestore(flags);
  }
  memallocNoioSave(): number {
    return this.sched.memallocNoioSave();
  }
  memallocNoioRestore(flags: number): void {
    this.sched.memallocNoioRestore(flags);
  }
  memallocNoreclaimSave(): number {
    return this.sched.memallocNoreclaimSave();
  }
  memallocNoreclaimRestore(flags: number): void {
    this.sched.memallocNoreclaimRestore(flags);
  }
  currentGfpContext(gfp: number): number {
    return this.sched.currentGfpContext(gfp);
  }
  /** Run `fn` in hard-interrupt context on `cpu`. */
  inIrq<T>(fn: () => T, cpu?: number): T {
    this.sched.irqEnter(cpu);
    try {
      return fn();
    } finally {
      this.sched.irqExit();
    }
  }
  /** Run `fn` while serving softirqs. */
  inSoftirq<T>(fn: () => T, cpu?: number): T {
    this.sched.softirqEnter(cpu);
    try {
      return fn();
    } finally {
      this.sched.softirqExit();
    }
  }
  /** Run `fn` with preemption disabled (as under a spinlock). */
  inAtomic<T>(fn: () => T): T {
    this.sched.preemptDisable();
    try {
      return fn();
    } finally {
      this.sched.preemptEnable();
    }
  }

  // --- bytes -------------------------------------------------------------------------------------------

  /** Read `len` bytes at a kernel virtual address (the direct map, or a mapped vmalloc address). */
  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.access(addr, len, 'read', (pfn, off, pos, n) => this.mem.readFrame(pfn, off, out, pos, n));
    return out;
  }

  /** Read `dst.length` bytes at a kernel virtual address into `dst` (memcpy into the caller's buffer). */
  readInto(addr: number, dst: Uint8Array): void {
    this.access(addr, dst.length, 'read', (pfn, off, pos, n) => this.mem.readFrame(pfn, off, dst, pos, n));
  }

  /** Write bytes at a kernel virtual address. */
  write(addr: number, bytes: Uint8Array): void {
    this.access(addr, bytes.length, 'write', (pfn, off, pos, n) => this.mem.writeFrame(pfn, off, bytes, pos, n));
  }

  /**
   * Walk an access page by page through the TLB: the direct map by arithmetic (large pages), the vmalloc
   * range through the page tables (4 KiB pages). Every page is translated and checked before any byte
   * moves: an unmapped address (a guard page, a freed area) faults, and touching a free page is reported
   * as KASAN's use-after-free; either way nothing is read or written.
   */
  private access(addr: number, len: number, what: 'read' | 'write', fn: (pfn: number, off: number, pos: number, n: number) => void): void {
    if (len === 0) return;
    const pfns: number[] = [];
    const first = addr - (addr % PAGE_SIZE);
    for (let va = first; va < addr + len; va += PAGE_SIZE) {
      const pfn = this.translate(va);
      if (pfn === NO_PAGE) {
        const at = Math.max(va, addr);
        const vmalloc = this.vmallocLayer.isVmallocAddr(va);
        this.printk.bug('page fault', [
          `BUG: unable to handle page fault for address: ${this.formatAddr(at)}`,
          `#PF: supervisor ${what} access in kernel mode`,
          `#PF: error_code(0x000${what === 'write' ? 2 : 0}) - not-present page`,
          ...(vmalloc ? [`mmlab: ${this.formatAddr(at)} is in the vmalloc range but not mapped (a guard page, or an area not or no longer mapped)`] : []),
        ]);
        return;
      }
      if (this.pa.pageIsFree(pfn) || (this.mm.flags[pfn] & PGTY_MASK) === PGTY_HOLE) {
        this.printk.bug('KASAN: use-after-free', [
          `BUG: KASAN: use-after-free in mmlab_${what}+0x0/0x0`,
          `${what === 'read' ? 'Read' : 'Write'} of size ${len} at addr ${this.formatAddr(addr)} by task ${this.sched.current.comm}/${this.sched.current.pid}`,
          `The buggy address belongs to the physical page: pfn:0x${pfn.toString(16)} (free)`,
        ]);
        return;
      }
      pfns.push(pfn);
    }
    let pos = 0;
    for (let i = 0; i < pfns.length; i++) {
      const off = i === 0 ? addr - first : 0;
      const n = Math.min(PAGE_SIZE - off, len - pos);
      fn(pfns[i], off, pos, n);
      pos += n;
    }
  }

  /**
   * The pfn a kernel virtual page is mapped to, or NO_PAGE, through the TLB: a miss walks the tables
   * (the direct map's large pages: 3 levels on x86_64, 1 on i386; vmalloc's 4 KiB pages: all levels).
   */
  private translate(va: number): number {
    if (this.directMap.contains(va)) {
      const levels = DIRECT_MAP_WALK_LEVELS[this.cfg.arch.arch];
      const hit = this.tlb.touchLarge(Math.floor(va / DIRECT_MAP_PAGE[this.cfg.arch.arch]), levels);
      this.clock.ns += hit ? TLB_HIT_NS : TLB_WALK_LEVEL_NS * levels;
      return this.directMap.virtToPfn(va);
    }
    if (!this.vmallocLayer.isVmallocAddr(va)) return NO_PAGE;
    const vpn = va / PAGE_SIZE;
    const hit = this.tlb.lookup4k(vpn);
    if (hit >= 0) {
      this.clock.ns += TLB_HIT_NS;
      return hit;
    }
    const pfn = this.pgtable.lookup(va);
    this.clock.ns += TLB_WALK_LEVEL_NS * this.pgtable.lastLevels;
    if (pfn === NO_PAGE) return NO_PAGE;
    this.tlb.fill4k(vpn, pfn, this.pgtable.lastLevels);
    return pfn;
  }

  /** A kernel address as the kernel prints it: x86_64 sign-extended to 64 bits, i386 as 32 bits. */
  formatAddr(addr: number): string {
    if (this.cfg.arch.bitsPerLong === 64) return 'ffff' + addr.toString(16).padStart(12, '0');
    return addr.toString(16).padStart(8, '0');
  }

  // --- views ---------------------------------------------------------------------------------------------

  /** The text of a /proc (or debugfs) file as the kernel would print it. */
  proc(name: ProcName): string {
    return renderProc(this, name);
  }

  /** The kernel log. */
  dmesg(): string {
    return this.printk.text();
  }

  /** Free pages across all zones (NR_FREE_PAGES). */
  freePagesTotal(): number {
    let n = 0;
    for (const z of this.zones) n += z.freePages;
    return n;
  }

  /** Pages on per-CPU lists. */
  pcpPagesTotal(): number {
    let n = 0;
    for (const z of this.zones) for (const p of z.pcp) n += p.count;
    return n;
  }

  /**
   * Walk every structure and check it against a recount: free lists against page state, buddy alignment and
   * orders, missed merges, per-list and per-zone counters, pcp lists and counts, and that every page of
   * every zone is exactly one of: hole, reserved, free (buddy or pcp), or part of one allocated block.
   * Throws an Error listing what is wrong.
   */
  checkInvariants(): void {
    const errs: string[] = [];
    const mm = this.mm;
    const b = this.buddy;
    for (const z of this.zones) {
      let free = 0;
      let freeHa = 0;
      for (let o = 0; o < NR_PAGE_ORDERS; o++) {
        let blocks = 0;
        for (let mt = 0; mt < MIGRATE_TYPES; mt++) {
          const head = z.freeList(o, mt);
          let n = 0;
          for (let p = mm.next[head]; p !== head; p = mm.next[p]) {
            if (++n > mm.nrPages) {
              errs.push(`${z.name}: free list order ${o} mt ${mt} does not terminate`);
              break;
            }
            if (mm.prev[mm.next[p]] !== p) errs.push(`${z.name}: broken links at pfn ${p}`);
            if (p < z.startPfn || p + (1 << o) > z.endPfn) errs.push(`${z.name}: free block ${p}/${o} outside the zone`);
            if ((mm.flags[p] & PGTY_MASK) !== PGTY_BUDDY || mm.private_[p] !== o) errs.push(`${z.name}: pfn ${p} on order-${o} list is not PageBuddy of order ${o}`);
            if (p & ((1 << o) - 1)) errs.push(`${z.name}: free block ${p} misaligned for order ${o}`);
            if (mm.refcount[p] !== 0) errs.push(`${z.name}: free pfn ${p} has refcount ${mm.refcount[p]}`);
            if (b.getPageblockMigratetype(p) !== mt) errs.push(`${z.name}: free block ${p}/${o} on mt ${mt} list but its pageblock is ${b.getPageblockMigratetype(p)}`);
            if (o < MAX_PAGE_ORDER) {
              const bud = p ^ (1 << o);
              if (b.isBuddy(bud, o, z.idx)) {
                const bmt = b.getPageblockMigratetype(bud);
                const mergeable = o < b.pageblockOrder || mt === bmt || (mt < MIGRATE_PCPTYPES && bmt < MIGRATE_PCPTYPES);
                if (mergeable) errs.push(`${z.name}: free buddies ${p} and ${bud} of order ${o} were not merged`);
              }
            }
          }
          if (n !== z.nrFreeList[o * MIGRATE_TYPES + mt]) errs.push(`${z.name}: list order ${o} mt ${mt} holds ${n} blocks, counter says ${z.nrFreeList[o * MIGRATE_TYPES + mt]}`);
          blocks += n;
          if (mt !== 4) free += n << o;
          if (mt === MIGRATE_HIGHATOMIC) freeHa += n << o;
        }
        if (blocks !== z.nrFree[o]) errs.push(`${z.name}: nr_free[${o}] = ${z.nrFree[o]}, lists hold ${blocks}`);
      }
      if (free !== z.freePages) errs.push(`${z.name}: NR_FREE_PAGES ${z.freePages}, lists hold ${free}`);
      if (freeHa !== z.nrFreeHighatomic) errs.push(`${z.name}: nr_free_highatomic ${z.nrFreeHighatomic}, lists hold ${freeHa}`);
      for (let c = 0; c < z.pcp.length; c++) {
        const pcp = z.pcp[c];
        let pages = 0;
        for (let i = 0; i < NR_PCP_LISTS; i++) {
          const head = pcp.lists + i;
          const order = this.pcp.pindexToOrder(i);
          for (let p = mm.next[head]; p !== head; p = mm.next[p]) {
            if ((mm.flags[p] & PGTY_MASK) !== PGTY_PCP || mm.private_[p] !== order) errs.push(`${z.name} cpu${c}: pfn ${p} on pcp list ${i} is not a pcp page of order ${order}`);
            if (mm.zoneIdx(p) !== z.idx) errs.push(`${z.name} cpu${c}: pfn ${p} of zone ${mm.zoneIdx(p)} on this zone's pcp list`);
            pages += 1 << order;
          }
        }
        if (pages !== pcp.count) errs.push(`${z.name} cpu${c}: pcp count ${pcp.count}, lists hold ${pages}`);
      }
      this.checkZonePages(z, errs);
      if (errs.length > 20) break;
    }
    this.slub.checkInvariants(errs);
    this.vmallocLayer.checkInvariants(errs, this.vmapBlocks.mappedPages());
    this.vmapBlocks.checkInvariants(errs);
    this.lru.checkInvariants(errs);
    this.rmap.checkInvariants(errs);
    this.wb.checkInvariants(errs);
    this.mempool.checkInvariants(errs);
    this.compaction.checkInvariants(errs);
    for (const t of this.pgtable.tablePfns()) {
      if ((mm.flags[t] & PGTY_MASK) !== PGTY_TABLE || mm.refcount[t] !== 1) errs.push(`page table pfn ${t} is not a PageTable page with one reference`);
    }
    if (errs.length) throw new Error(`checkInvariants: ${errs.length} problem(s):\n  ${errs.slice(0, 20).join('\n  ')}`);
  }

  /** Every page of the zone is accounted for exactly once. */
  private checkZonePages(z: Zone, errs: string[]): void {
    const mm = this.mm;
    let managed = 0;
    for (let p = z.startPfn; p < z.endPfn; ) {
      const f = mm.flags[p];
      const t = f & PGTY_MASK;
      if (mm.zoneIdx(p) !== z.idx) errs.push(`${z.name}: pfn ${p} says zone ${mm.zoneIdx(p)}`);
      if (t === PGTY_HOLE) {
        p++;
        continue;
      }
      if (f & PG_RESERVED && t === 0) {
        p++;
        continue;
      }
      if ((f & (PG_VCOMPOUND | PG_TAIL)) === (PG_VCOMPOUND | PG_TAIL)) {
        // A tail of a virtual compound: allocated through its head, wherever that is.
        const h = mm.next[p];
        if ((mm.flags[h] & (PG_VCOMPOUND | PG_HEAD)) !== (PG_VCOMPOUND | PG_HEAD) || mm.refcount[h] < 1) errs.push(`${z.name}: pfn ${p} is a virtual compound tail of ${h}, which is not a live virtual compound head`);
        if (mm.refcount[p] !== 0) errs.push(`${z.name}: virtual compound tail ${p} has refcount ${mm.refcount[p]}`);
        managed++;
        p++;
        continue;
      }
      let order: number;
      if (t === PGTY_BUDDY || t === PGTY_PCP) order = mm.private_[p];
      else if (mm.refcount[p] > 0) order = (f & ALLOC_ORDER_MASK) >>> ALLOC_ORDER_SHIFT;
      else {
        errs.push(`${z.name}: pfn ${p} is neither free nor allocated (refcount 0, not on a list)`);
        p++;
        continue;
      }
      const head = p;
      const isCompound = (f & PG_HEAD) !== 0;
      for (let i = 1; i < 1 << order; i++) {
        const q = head + i;
        if (q >= z.endPfn) {
          errs.push(`${z.name}: block ${head}/${order} runs past the zone`);
          break;
        }
        if (mm.flags[q] & PGTY_MASK) errs.push(`${z.name}: pfn ${q} inside block ${head}/${order} has page type ${(mm.flags[q] & PGTY_MASK) >>> 16}`);
        if (mm.refcount[q] !== 0) errs.push(`${z.name}: pfn ${q} inside block ${head}/${order} has refcount ${mm.refcount[q]}`);
        if (isCompound ? !mm.isTail(q) || mm.head(q) !== head : mm.isTail(q)) errs.push(`${z.name}: pfn ${q} has a wrong compound head`);
      }
      managed += 1 << order;
      p = head + (1 << order);
    }
    if (managed !== z.managed) errs.push(`${z.name}: ${managed} pages free or allocated, managed is ${z.managed}`);
  }
}
