/**
 * mmlab's library API: boot a model machine and call the kernel's allocator entry points on it.
 *
 *   import { Machine, GFP, NO_PAGE } from 'mmlab';
 *   const m = Machine.boot({ arch: 'x86_64', mem: '4G' });
 *   const pfn = m.allocPages(GFP.KERNEL, 2);
 */
export { Machine } from './machine.js';
export * from './gfp.js';
export { NO_PAGE, PAGE_SIZE, PAGE_SHIFT, MAX_PAGE_ORDER } from './mm/page.js';
export { KernelReport } from './mm/printk.js';
export { parseSize, resolveConfig } from './config.js';
export type { MachineConfig, Policy, Arch } from './config.js';
export { PF_MEMALLOC, PF_MEMALLOC_NOFS, PF_MEMALLOC_NOIO } from './mm/sched.js';
export { PROC_NAMES } from './proc/index.js';
export {
  KmemCache, SLAB_ACCOUNT, SLAB_CACHE_DMA, SLAB_CONSISTENCY_CHECKS, SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RECLAIM_ACCOUNT,
  SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_VFALLBACK,
} from './mm/slub.js';
export type { KmemCacheOptions } from './mm/slub.js';
export { ZERO_SIZE_PTR, KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE } from './mm/slab_common.js';
export type { ProcName } from './proc/index.js';
export { MEMPOOL_WAIT_NS, type Mempool, type MempoolAllocFn, type MempoolFreeFn, type MempoolStats } from './mm/mempool.js';
export type { MemReserve } from './mm/reserve.js';
export { Sock } from './net/sock.js';
export type { SkBuff } from './net/skbuff.js';
export type { NfsSwapFile, NfsSwapOptions } from './fs/nfs_swap.js';
