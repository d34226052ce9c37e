/**
 * The /proc and debugfs views of a machine, byte-compatible with the kernel's (6.18): the files that
 * `jc --proc-*`, procps `free` and `slabtop` read. Each renderer is a pure function of the machine's state.
 */
import type { Machine } from '../machine.js';
import { renderBuddyinfo } from './buddyinfo.js';
import { renderExtfragIndex, renderUnusableIndex } from './extfrag.js';
import { renderMeminfo } from './meminfo.js';
import { renderPagetypeinfo } from './pagetypeinfo.js';
import { renderSlabinfo } from './slabinfo.js';
import { renderVmallocinfo } from './vmallocinfo.js';
import { renderVmstat } from './vmstat.js';
import { renderZoneinfo } from './zoneinfo.js';

const RENDERERS = {
  buddyinfo: renderBuddyinfo,
  pagetypeinfo: renderPagetypeinfo,
  zoneinfo: renderZoneinfo,
  meminfo: renderMeminfo,
  vmstat: renderVmstat,
  slabinfo: renderSlabinfo,
  vmallocinfo: renderVmallocinfo,
  'extfrag/extfrag_index': renderExtfragIndex,
  'extfrag/unusable_index': renderUnusableIndex,
} as const;

export type ProcName = keyof typeof RENDERERS;
export const PROC_NAMES = Object.keys(RENDERERS) as ProcName[];

export function renderProc(m: Machine, name: ProcName): string {
  const r = RENDERERS[name];
  if (!r) throw new Error(`proc: unknown file '${name}' (expected one of ${PROC_NAMES.join(', ')})`);
  return r(m);
}
