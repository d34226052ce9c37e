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
export type { ProcName } from './proc/index.js';
