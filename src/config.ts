/**
 * Machine configuration: arch presets (x86_64, i386), RAM size, per-CPU and policy switches.
 *
 * Models the boot-time facts the kernel takes from the firmware memory map and the arch headers
 * (arch/x86/include/asm/page_*.h, arch/x86/mm/init_*.c, mm/mm_init.c free_area_init): which physical
 * ranges exist, where the zone boundaries fall and what the boot allocator keeps for itself.
 * Simplifications: one NUMA node; the firmware map is a fixed plausible one (the 640K-1M hole, the PCI hole
 * below 4 GiB on x86_64 when RAM exceeds 3 GiB); what memblock reserves (all RAM below 1 MiB, as x86 does
 * since 5.13, the kernel image at 16 MiB, and the memmap taken top-down from lowmem) becomes PG_reserved
 * pages that never reach the buddy allocator. i386 is modelled without PAE (so at most 4G of RAM).
 * `zoneinfo` instead takes spanned/present/managed from a real /proc/zoneinfo.
 */
import { PAGE_SHIFT, PAGE_SIZE } from './mm/page.js';
import { parseZoneinfo } from './zoneinfo.js';

export type Arch = 'x86_64' | 'i386';

/** Kernel zone types in the order they exist in `enum zone_type` for the arch (see zoneTypesFor). */
export type ZoneType = 'DMA' | 'DMA32' | 'Normal' | 'HighMem' | 'Movable' | 'Device';

/** Policy switches: the proposals of the seeds and the mainline design, selected as data. */
export interface Policy {
  /** Group pages by mobility (the kernel turns it off when RAM is tiny: page_group_by_mobility_disabled). */
  mobilityGrouping: boolean;
  /**
   * What happens to vmalloc page-table pages that map nothing any more: 'keep' (mainline: kernel page tables
   * are never freed) or 'purge' (freed when the lazily freed areas are purged).
   */
  vmallocPgtableFree: 'keep' | 'purge';
  /**
   * Lameter's virtualizable compound pages (seed 001), V1 in the page allocator: 'none' (mainline: no such
   * thing, __GFP_VFALLBACK is ignored), 'vcompound' (a __GFP_VFALLBACK request that cannot be met physically
   * is vmap()ed from order-0 pages), 'always' (CONFIG_VIRTUALIZE_ALWAYS: every __GFP_VFALLBACK request of
   * order > 0 takes the virtual path).
   */
  fallback: 'none' | 'vcompound' | 'always';
  /**
   * The series' stages for interrupt context: 'stage1' refuses the virtual fallback there (and reports a
   * virtual compound freed there), 'stage2' allows both, the free's vunmap being deferred.
   */
  vfallbackInterrupt: 'stage1' | 'stage2';
  /**
   * kvmalloc()'s behaviour by kernel version (mm/util.c, later mm/slub.c): 'kernel' follows `kernel`;
   * '4.12' adds __GFP_NORETRY for the kmalloc attempt and falls back only for GFP_KERNEL-compatible gfp;
   * '5.17' also falls back for GFP_NOFS/GFP_NOIO (through the scoped API); '6.16' clears
   * __GFP_DIRECT_RECLAIM instead of adding __GFP_NORETRY; '6.19' also lets non-blocking requests
   * (GFP_NOWAIT, GFP_ATOMIC) fall back to vmalloc.
   */
  kvmalloc: 'kernel' | '4.12' | '5.17' | '6.16' | '6.19';
  /**
   * CONFIG_COMPACTION: direct compaction in the slow path, kcompactd and proactive compaction. Off, the slow
   * path has only reclaim (the "existing defragmentation methods" of seed 000 are then grouping alone).
   */
  compaction: boolean;
  /**
   * Reserve-based allocation (seed 004): 'none' (before 3.6: PF_MEMALLOC alone reaches below the min
   * watermark; no pfmemalloc pages, slabs or skbs, no throttling of direct reclaim), 'pfmemalloc' (mainline
   * since 3.6: __GFP_MEMALLOC, pfmemalloc pages and slabs, SOCK_MEMALLOC sockets, pfmemalloc skbs dropped on
   * other sockets, direct reclaim throttled at half the min watermarks), 'mem_reserve' (Zijlstra's 2008
   * design: the same marking, plus strict mem_reserve limits that users charge, and reserves that raise
   * the watermarks; no throttling).
   */
  reserves: 'none' | 'pfmemalloc' | 'mem_reserve';
}

export interface ZoneSpec {
  type: ZoneType;
  startPfn: number;
  spanned: number;
  present: number;
  managed: number;
}

export interface MachineConfig {
  arch?: Arch;
  /** RAM: bytes, or a size such as '512M', '4G', '64G'. Ignored when `zoneinfo` is given. */
  mem?: number | string;
  nrCpus?: number;
  seed?: number;
  /** Strict mode throws after logging a misuse report (the default in tests). */
  strict?: boolean;
  /** Transparent huge pages; on by default on x86_64, where min_free_kbytes follows khugepaged's advice. */
  thp?: boolean;
  /** The text of a real /proc/zoneinfo: zones, spans and managed pages are taken from it. */
  zoneinfo?: string;
  /** vm.min_free_kbytes set by the user (as the sysctl); by default computed as the kernel does. */
  minFreeKbytes?: number;
  /** vm.watermark_scale_factor (default 10). */
  watermarkScaleFactor?: number;
  /** vm.lowmem_reserve_ratio, one per zone type in zone order. */
  lowmemReserveRatio?: number[];
  /** Page poisoning (page_poison=1): free pages are filled with 0xaa and checked when allocated. */
  pagePoison?: boolean;
  /** slub_debug= for every cache: letters F (consistency checks), Z (red zones), P (poisoning), U (tracking). */
  slubDebug?: string;
  /** i386: size of the vmalloc area (the `vmalloc=` boot option); shrinks lowmem as the kernel does. */
  vmallocSize?: number | string;
  policy?: Partial<Policy>;
  /** Kernel version whose behaviour to follow where mainline changed it (e.g. '6.18'). */
  kernel?: string;
  /** TLB sizes of the model's TLB (mm/tlb.ts). */
  tlb?: { entries4k?: number; entriesLarge?: number };
  /** Swap device size (bytes or '1G'); 0 (the default) means no swap. */
  swap?: number | string;
  /** Time to read and write one page of swap, in ns (default 100 us and 200 us, a SATA SSD). */
  swapCost?: { readNs?: number; writeNs?: number };
  /** vm.swappiness (0..200, default 60). */
  swappiness?: number;
  /** vm.extfrag_threshold (0..1000, default 500). */
  extfragThreshold?: number;
  /** vm.compaction_proactiveness (0..100, default 20). */
  compactionProactiveness?: number;
}

export interface ArchInfo {
  arch: Arch;
  bitsPerLong: 32 | 64;
  /** Start of the direct map, as a number (x86_64: the low 48 bits of 0xffff888000000000). */
  pageOffset: number;
  /** pageblock_order: 9 with 4 KiB pages on x86_64 (HPAGE_PMD_ORDER); i386 without PAE: MAX_PAGE_ORDER = 10. */
  pageblockOrder: number;
  zoneTypes: ZoneType[];
}

export interface ResolvedConfig {
  arch: ArchInfo;
  zones: ZoneSpec[];
  /** Pages in [0, maxPfn) have mem_map entries. */
  maxPfn: number;
  /** Lowmem pfn limit: pages below it have a direct-map address. */
  maxLowPfn: number;
  nrCpus: number;
  seed: number;
  strict: boolean;
  thp: boolean;
  minFreeKbytes: number | undefined;
  watermarkScaleFactor: number;
  lowmemReserveRatio: number[];
  pagePoison: boolean;
  slubDebug: string;
  vmallocSize: number;
  policy: Policy;
  kernel: string;
  tlb: { entries4k: number; entriesLarge: number };
  /** Swap size in pages (0: none) and its per-page costs. */
  swapPages: number;
  swapCost: { readNs: number; writeNs: number };
  swappiness: number;
  extfragThreshold: number;
  compactionProactiveness: number;
  /** pfn ranges (inclusive start, exclusive end) that memblock reserved at boot: never given to the buddy. */
  reserved: Array<[number, number]>;
  /** The reserved pfns of the kernel image (its page directory, init_top_pgt/swapper_pg_dir, lives there). */
  kernelImage: [number, number];
  /** First pfn of the mem_map array in lowmem (i386's FLATMEM; x86_64 uses the vmemmap instead). */
  memmapStart: number;
  /** pfn ranges with no RAM behind them (holes inside a zone span). */
  holes: Array<[number, number]>;
}

const MIB = 1 << 20;
const GIB = 1024 * MIB;

/** Parse a size such as `512M`, `4G`, `64g`, `128k`, `4096` (bytes). Throws with the expected form. */
export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new Error(`${what}: expected a size in bytes, got ${text}`);
    return Math.floor(text);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?\s*$/.exec(text);
  if (!m) throw new Error(`${what}: expected a size such as 512M, 4G or 64G, got '${text}'`);
  const mult = { '': 1, k: 1024, m: MIB, g: GIB, t: 1024 * GIB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

export function zoneTypesFor(arch: Arch): ZoneType[] {
  // enum zone_type: x86_64 has ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE;
  // i386 (CONFIG_HIGHMEM, no DMA32, no ZONE_DEVICE without SPARSEMEM_VMEMMAP) has DMA, NORMAL, HIGHMEM, MOVABLE.
  return arch === 'x86_64' ? ['DMA', 'DMA32', 'Normal', 'Movable', 'Device'] : ['DMA', 'Normal', 'HighMem', 'Movable'];
}

export function archInfo(arch: Arch): ArchInfo {
  if (arch === 'x86_64') {
    return { arch, bitsPerLong: 64, pageOffset: 0x888000000000, pageblockOrder: 9, zoneTypes: zoneTypesFor(arch) };
  }
  // i386 without PAE has no PMD-sized huge page of 2 MiB; pageblock_order falls back to MAX_PAGE_ORDER.
  return { arch, bitsPerLong: 32, pageOffset: 0xc0000000, pageblockOrder: 10, zoneTypes: zoneTypesFor(arch) };
}

const DMA_PFN_END = (16 * MIB) >> PAGE_SHIFT;
const DMA32_PFN_END = (4 * GIB) / PAGE_SIZE;
/** The legacy VGA/BIOS hole 0x9f000..0x100000 that the e820 map leaves out of ZONE_DMA. */
const BIOS_HOLE: [number, number] = [0x9f, 0x100];
/** x86 reserves all RAM below 1 MiB (arch/x86/kernel/setup.c, since 5.13) and loads the kernel at 16 MiB. */
const RESERVE_LOW_PAGES = (1 * MIB) >> PAGE_SHIFT;
const KERNEL_IMAGE_PAGES = (16 * MIB) >> PAGE_SHIFT;
/** x86_64 SPARSEMEM_VMEMMAP: 128 MiB sections, each with RAM costing 512 pages of 64-byte struct pages. */
const SECTION_PAGES = (128 * MIB) >> PAGE_SHIFT;
const MEMMAP_PAGES_PER_SECTION = (SECTION_PAGES * 64) / PAGE_SIZE;
/** i386 FLATMEM: one 32-byte struct page for every pfn. */
const I386_STRUCT_PAGE_SIZE = 32;

export const DEFAULT_POLICY: Policy = {
  mobilityGrouping: true, vmallocPgtableFree: 'keep', fallback: 'none', vfallbackInterrupt: 'stage1', kvmalloc: 'kernel',
  compaction: true, reserves: 'pfmemalloc',
};

/** The values a string-valued policy switch accepts. */
export const POLICY_CHOICES: Partial<Record<keyof Policy, readonly string[]>> = {
  vmallocPgtableFree: ['keep', 'purge'],
  fallback: ['none', 'vcompound', 'always'],
  vfallbackInterrupt: ['stage1', 'stage2'],
  kvmalloc: ['kernel', '4.12', '5.17', '6.16', '6.19'],
  reserves: ['none', 'pfmemalloc', 'mem_reserve'],
};

/** Kernel version as major * 1000 + minor ('6.18' -> 6018); throws naming the field if it does not read. */
export function kernelVersionCode(kernel: string): number {
  const m = /^v?(\d+)\.(\d+)/.exec(kernel.trim());
  if (m === null) throw new Error(`kernel: expected a version such as 6.18 or 5.16, got '${kernel}'`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/** A whole number within [lo, hi], or an Error naming the field. */
function intIn(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${what}: expected a whole number from ${lo} to ${hi}, got ${v}`);
  return v;
}

export function resolveConfig(cfg: MachineConfig = {}): ResolvedConfig {
  const archName = cfg.arch ?? 'x86_64';
  if (archName !== 'x86_64' && archName !== 'i386') {
    throw new Error(`arch: expected x86_64 or i386, got '${String(archName)}'`);
  }
  const arch = archInfo(archName);
  const nrCpus = cfg.nrCpus ?? 2;
  if (!Number.isInteger(nrCpus) || nrCpus < 1 || nrCpus > 256) {
    throw new Error(`cpus: expected a whole number from 1 to 256, got ${nrCpus}`);
  }
  const vmallocSize = parseSize(cfg.vmallocSize ?? 128 * MIB, 'vmalloc');
  if (vmallocSize % (4 * MIB) !== 0 || vmallocSize < 16 * MIB) throw new Error(`vmalloc: expected a multiple of 4M of at least 16M, got ${cfg.vmallocSize}`);
  const policy: Policy = { ...DEFAULT_POLICY, ...cfg.policy };
  for (const [key, choices] of Object.entries(POLICY_CHOICES)) {
    const v = policy[key as keyof Policy];
    if (!choices.includes(String(v))) throw new Error(`policy ${key}: expected one of ${choices.join(', ')}, got '${v}'`);
  }
  kernelVersionCode(cfg.kernel ?? '6.18');
  const base = {
    arch,
    nrCpus,
    seed: cfg.seed ?? 1,
    strict: cfg.strict ?? false,
    thp: cfg.thp ?? archName === 'x86_64',
    minFreeKbytes: cfg.minFreeKbytes,
    watermarkScaleFactor: cfg.watermarkScaleFactor ?? 10,
    lowmemReserveRatio: cfg.lowmemReserveRatio ?? defaultLowmemReserveRatio(arch.zoneTypes),
    pagePoison: cfg.pagePoison ?? false,
    slubDebug: cfg.slubDebug ?? '',
    vmallocSize,
    policy,
    kernel: cfg.kernel ?? '6.18',
    tlb: { entries4k: cfg.tlb?.entries4k ?? 64, entriesLarge: cfg.tlb?.entriesLarge ?? 32 },
    swapPages: Math.floor(parseSize(cfg.swap ?? 0, 'swap') / PAGE_SIZE),
    swapCost: {
      readNs: intIn(cfg.swapCost?.readNs ?? 100_000, 0, 1e12, 'swapCost.readNs'),
      writeNs: intIn(cfg.swapCost?.writeNs ?? 200_000, 0, 1e12, 'swapCost.writeNs'),
    },
    swappiness: intIn(cfg.swappiness ?? 60, 0, 200, 'swappiness'),
    extfragThreshold: intIn(cfg.extfragThreshold ?? 500, 0, 1000, 'extfragThreshold'),
    compactionProactiveness: intIn(cfg.compactionProactiveness ?? 20, 0, 100, 'compactionProactiveness'),
  };
  if (cfg.zoneinfo !== undefined) return { ...base, ...layoutFromZoneinfo(cfg.zoneinfo, arch) };
  const mem = parseSize(cfg.mem ?? '4G', 'mem');
  if (mem < 32 * MIB) throw new Error(`mem: expected at least 32M, got ${cfg.mem}`);
  if (archName === 'i386' && mem > 4 * GIB) throw new Error(`mem: i386 without PAE addresses at most 4G, got ${cfg.mem}`);
  return { ...base, ...(archName === 'x86_64' ? layoutX86_64(mem) : layoutI386(mem, vmallocSize)) };
}

function defaultLowmemReserveRatio(types: ZoneType[]): number[] {
  // sysctl_lowmem_reserve_ratio: DMA 256, DMA32 256, NORMAL 32, HIGHMEM 0, MOVABLE 0 (mm/page_alloc.c).
  return types.map((t) => (t === 'DMA' || t === 'DMA32' ? 256 : t === 'Normal' ? 32 : 0));
}

type Layout = Pick<ResolvedConfig, 'zones' | 'maxPfn' | 'maxLowPfn' | 'reserved' | 'holes' | 'kernelImage' | 'memmapStart'>;

function layoutX86_64(mem: number): Layout {
  const pages = Math.floor(mem / PAGE_SIZE);
  // Below 4 GiB the PCI hole takes 3G..4G; RAM beyond 3 GiB is remapped above 4 GiB, as firmware does.
  const lowPages = Math.min(pages, (3 * GIB) / PAGE_SIZE);
  const highPages = pages - lowPages;
  const maxPfn = highPages > 0 ? DMA32_PFN_END + highPages : lowPages;
  const holes: Array<[number, number]> = [BIOS_HOLE];
  if (highPages > 0) holes.push([lowPages, DMA32_PFN_END]);
  const zones: ZoneSpec[] = [];
  const span = (type: ZoneType, start: number, end: number) => {
    const spanned = Math.max(0, end - start);
    zones.push({ type, startPfn: spanned ? start : 0, spanned, present: spanned - holePages(holes, start, end), managed: 0 });
  };
  span('DMA', 1, Math.min(DMA_PFN_END, maxPfn));
  span('DMA32', DMA_PFN_END, Math.min(DMA32_PFN_END, maxPfn));
  span('Normal', DMA32_PFN_END, maxPfn);
  span('Movable', 0, 0);
  span('Device', 0, 0);
  // One memmap section for each 128 MiB section that holds RAM.
  let sections = 0;
  for (let s = 0; s < maxPfn; s += SECTION_PAGES) if (holePages(holes, s, Math.min(maxPfn, s + SECTION_PAGES)) < Math.min(SECTION_PAGES, maxPfn - s)) sections++;
  return finishLayout(zones, holes, maxPfn, maxPfn, sections * MEMMAP_PAGES_PER_SECTION);
}

function layoutI386(mem: number, vmallocSize: number): Layout {
  const pages = Math.floor(mem / PAGE_SIZE);
  // Lowmem is what fits in the 1 GiB kernel half after the vmalloc area (and its guard) and fixmaps:
  // 896 MiB with the default 128 MiB vmalloc= (arch/x86/mm/init_32.c MAXMEM).
  const maxLowmem = 1024 * MIB - vmallocSize;
  if (maxLowmem < 64 * MIB) throw new Error(`vmalloc: ${vmallocSize} bytes leaves no lowmem on i386`);
  const maxLowPfn = Math.min(pages, Math.floor(maxLowmem / PAGE_SIZE));
  const holes: Array<[number, number]> = [BIOS_HOLE];
  const zones: ZoneSpec[] = [];
  const span = (type: ZoneType, start: number, end: number) => {
    const spanned = Math.max(0, end - start);
    zones.push({ type, startPfn: spanned ? start : 0, spanned, present: spanned - holePages(holes, start, end), managed: 0 });
  };
  span('DMA', 1, Math.min(DMA_PFN_END, pages));
  span('Normal', DMA_PFN_END, maxLowPfn);
  span('HighMem', maxLowPfn, pages);
  span('Movable', 0, 0);
  return finishLayout(zones, holes, pages, maxLowPfn, Math.ceil((pages * I386_STRUCT_PAGE_SIZE) / PAGE_SIZE));
}

/** What memblock keeps: RAM below 1 MiB, the kernel image at 16 MiB, the memmap top-down from the end of lowmem. */
function finishLayout(zones: ZoneSpec[], holes: Array<[number, number]>, maxPfn: number, maxLowPfn: number, memmapPages: number): Layout {
  const kernelImage: [number, number] = [DMA_PFN_END, Math.min(DMA_PFN_END + KERNEL_IMAGE_PAGES, maxLowPfn)];
  const reserved: Array<[number, number]> = [[1, RESERVE_LOW_PAGES], kernelImage];
  // The memmap goes top-down below the end of lowmem, skipping any hole it would overlap.
  let top = maxLowPfn;
  for (const [s, e] of holes) if (s < top && e >= top) top = s;
  const memmapStart = Math.max(DMA_PFN_END + KERNEL_IMAGE_PAGES, top - memmapPages);
  reserved.push([memmapStart, top]);
  for (const z of zones) {
    const end = z.startPfn + z.spanned;
    let res = 0;
    for (const [s, e] of reserved) {
      const a = Math.max(s, z.startPfn);
      const b = Math.min(e, end);
      if (b > a) res += b - a - holePages(holes, a, b); // a hole inside a reservation holds no RAM to keep
    }
    z.managed = Math.max(0, z.present - res);
  }
  return { zones, holes, reserved, maxPfn, maxLowPfn, kernelImage, memmapStart };
}

function holePages(holes: Array<[number, number]>, start: number, end: number): number {
  let n = 0;
  for (const [s, e] of holes) n += Math.max(0, Math.min(e, end) - Math.max(s, start));
  return n;
}

/**
 * Zones of a real machine from its /proc/zoneinfo: span, present and managed pages per zone. The pages a
 * zone spans but does not have are a hole at the end of its span (where x86's PCI hole is); present but
 * unmanaged pages are reserved at the top of the present range, as memblock allocates top-down.
 */
function layoutFromZoneinfo(text: string, arch: ArchInfo): Layout {
  const parsed = parseZoneinfo(text);
  const zones: ZoneSpec[] = arch.zoneTypes.map((type) => {
    const z = parsed.find((p) => p.name === type);
    if (!z) return { type, startPfn: 0, spanned: 0, present: 0, managed: 0 };
    return { type, startPfn: z.spanned ? z.startPfn : 0, spanned: z.spanned, present: z.present, managed: z.managed };
  });
  for (const p of parsed) {
    if (!arch.zoneTypes.includes(p.name as ZoneType)) {
      throw new Error(`zoneinfo: zone '${p.name}' does not exist on ${arch.arch} (expected ${arch.zoneTypes.join(', ')})`);
    }
  }
  const holes: Array<[number, number]> = [];
  const reserved: Array<[number, number]> = [];
  let maxPfn = 1;
  for (const z of zones) {
    if (!z.spanned) continue;
    const end = z.startPfn + z.spanned;
    maxPfn = Math.max(maxPfn, end);
    const presentEnd = z.startPfn + z.present;
    if (presentEnd < end) holes.push([presentEnd, end]);
    if (z.managed < z.present) reserved.push([z.startPfn + z.managed, presentEnd]);
  }
  const low = zones.filter((z) => z.type !== 'HighMem' && z.type !== 'Movable' && z.type !== 'Device' && z.spanned);
  const maxLowPfn = arch.arch === 'i386' ? Math.max(...low.map((z) => z.startPfn + z.spanned)) : maxPfn;
  // A real zoneinfo says how many pages each zone keeps back, not where: the model keeps them at each zone's
  // end, puts the kernel image in the first such range in lowmem (pfn 0, which x86 always keeps, if there
  // is none), and the mem_map top-down below the end of lowmem.
  const image = reserved.find(([s, e]) => e > s && e <= maxLowPfn);
  const kernelImage: [number, number] = image ? [image[0], image[1]] : [0, 1];
  const memmapStart = Math.max(0, maxLowPfn - Math.ceil((maxPfn * I386_STRUCT_PAGE_SIZE) / PAGE_SIZE));
  return { zones, holes, reserved, maxPfn, maxLowPfn, kernelImage, memmapStart };
}
