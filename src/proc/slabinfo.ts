/**
 * /proc/slabinfo version 2.1 (mm/slab_common.c slab_show, cache_show; SLUB's get_slabinfo): caches newest
 * first, as they sit on slab_caches. SLUB counts objects on per-CPU freelists as active and only the free
 * objects of partial slabs as inactive; it has no tunables and no shared caches, so those columns are 0.
 */
import type { Machine } from '../machine.js';

export function renderSlabinfo(m: Machine): string {
  let out = 'slabinfo - version: 2.1\n';
  out += '# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n';
  const caches = m.kmemCaches().reverse();
  for (const s of caches) {
    const num = s.totalObjects;
    const active = num - m.slub.freeObjects(s);
    out += `${s.name.padEnd(17)} ${pad(active, 6)} ${pad(num, 6)} ${pad(s.size, 6)} ${pad(s.objects, 4)} ${pad(1 << s.order, 4)}`;
    out += ` : tunables ${pad(0, 4)} ${pad(0, 4)} ${pad(0, 4)}`;
    out += ` : slabdata ${pad(s.nrSlabs, 6)} ${pad(s.nrSlabs, 6)} ${pad(0, 6)}\n`;
  }
  return out;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w);
}
