/**
 * /proc/vmallocinfo (mm/vmalloc.c vmalloc_info_show, show_numa_info, show_purge_info; 6.x).
 *
 * One line per busy area in address order: `0x<start>-0x<end> <size %7ld>`, then for a vm_struct area the
 * caller, `pages=N` when the area owns pages, the kind (`ioremap`, `vmalloc`, `vmap`, `user`, ...), `vpages`
 * when its pages array was itself vmalloc'd, and the pages per node (`N0=N`, CONFIG_NUMA: x86_64 only); a
 * vm_map_ram area (a vmap block, or a large mapping of its own) prints just `vm_map_ram`. The lazily freed
 * areas follow as `unpurged vm_area`. Addresses print in full, as root sees them with kptr_restrict=1
 * (the sample in ../shared/samples/proc was read with hashed pointers). One vmap node, so address order.
 */
import type { Machine } from '../machine.js';
import { VM_ALLOC, VM_DMA_COHERENT, VM_IOREMAP, VM_MAP, VM_MAP_PUT_PAGES, VM_USERMAP, VMAP_RAM } from '../mm/vmalloc.js';

export function renderVmallocinfo(m: Machine): string {
  const v = m.vmallocLayer;
  const ptr = (a: number) => '0x' + m.formatAddr(a);
  const head = (start: number, end: number) => `${ptr(start)}-${ptr(end)} ${String(end - start).padStart(7)}`;
  const numa = m.cfg.arch.bitsPerLong === 64;
  let out = '';
  for (const va of v.areas()) {
    const vm = va.vm;
    if (!vm) {
      if (va.flags & VMAP_RAM) out += `${head(va.start, va.end)} vm_map_ram\n`;
      continue;
    }
    let line = `${head(vm.addr, vm.addr + vm.size)} ${vm.caller}`;
    const owned = vm.flags & (VM_ALLOC | VM_MAP_PUT_PAGES) ? vm.pfns.length : 0;
    if (owned) line += ` pages=${owned}`;
    if (vm.flags & VM_IOREMAP) line += ' ioremap';
    if (vm.flags & VM_ALLOC) line += ' vmalloc';
    if (vm.flags & VM_MAP) line += ' vmap';
    if (vm.flags & VM_USERMAP) line += ' user';
    if (vm.flags & VM_DMA_COHERENT) line += ' dma-coherent';
    if (vm.pagesVmalloced) line += ' vpages';
    if (numa && owned) line += ` N0=${owned}`;
    out += line + '\n';
  }
  for (const va of v.lazy) out += `${head(va.start, va.end)} unpurged vm_area\n`;
  return out;
}
