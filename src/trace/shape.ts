/**
 * Shaping a replay's starting free lists from a /proc/buddyinfo snapshot taken with the trace (`mmlab capture`
 * writes proc/start/buddyinfo), so that the replay starts about as fragmented as the real machine was.
 *
 * The machine's memory is taken whole, then blocks are given back so that each zone's free blocks per order
 * match the snapshot's counts, as far as the zone is large enough: for each order from the highest down, the
 * first half of each aligned pair of blocks is freed and its buddy kept, so no freed block can merge with
 * another; what is not given back stays allocated for good, standing for the memory the real machine had in
 * use (its frees in the trace are then the "unmatched" ones). Zones are matched by name.
 * Departures: pagetypeinfo's migratetypes are not reproduced (the freed blocks return to the lists of their
 * pageblocks' type); the blocks' positions are the model's choice, not the real machine's.
 */
import { GFP } from '../gfp.js';
import type { Machine } from '../machine.js';
import { MAX_PAGE_ORDER, NO_PAGE } from '../mm/page.js';

/** Zone name -> free blocks per order, from /proc/buddyinfo text. Throws naming the line that does not read. */
export function parseBuddyinfo(text: string, file = 'buddyinfo'): Map<string, number[]> {
  const zones = new Map<string, number[]>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^Node\s+\d+,\s+zone\s+(\S+)((?:\s+\d+)+)\s*$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected 'Node N, zone NAME' and counts per order, got '${line.trim()}'`);
    const counts = m[2].trim().split(/\s+/).map(Number);
    const prev = zones.get(m[1]);
    zones.set(m[1], prev ? prev.map((c, o) => c + (counts[o] ?? 0)) : counts);
  });
  return zones;
}

export interface ShapeResult {
  /** Per zone: free blocks asked for and given, summed over orders. */
  zones: Array<{ zone: string; wanted: number; freed: number }>;
  /** Pages kept allocated for good. */
  heldPages: number;
}

/** Shape `m`'s free lists after `counts` (see the module header). */
export function shapeFreeLists(m: Machine, counts: Map<string, number[]>): ShapeResult {
  // Take every page (the reserves too), as order-0 pages.
  const held = new Uint8Array(m.mm.nrPages);
  for (let o = MAX_PAGE_ORDER; o >= 0; o--) {
    for (let p = m.allocPages(GFP.NOWAIT | GFP.MEMALLOC | GFP.NOWARN, o); p !== NO_PAGE; p = m.allocPages(GFP.NOWAIT | GFP.MEMALLOC | GFP.NOWARN, o)) {
      if (o > 0) m.splitPage(p, o);
      held.fill(1, p, p + (1 << o));
    }
  }
  const result: ShapeResult = { zones: [], heldPages: 0 };
  for (const z of m.zones) {
    const want = counts.get(z.name);
    if (!want || !z.managed) continue;
    let wanted = 0;
    let freed = 0;
    for (let o = Math.min(MAX_PAGE_ORDER, want.length - 1); o >= 0; o--) {
      wanted += want[o];
      let left = want[o];
      // An aligned pair: free the first half, keep its buddy (blocks of the top order never merge).
      const step = o === MAX_PAGE_ORDER ? 1 << o : 2 << o;
      for (let p = Math.ceil(z.startPfn / step) * step; left > 0 && p + (1 << o) <= z.endPfn; p += step) {
        if (!wholeHeld(held, p, 1 << o)) continue;
        for (let i = 0; i < 1 << o; i++) {
          m.freePages(p + i, 0);
          held[p + i] = 0;
        }
        left--;
        freed++;
      }
    }
    result.zones.push({ zone: z.name, wanted, freed });
  }
  m.drainAllPages(); // order-0 frees sit on the pcp lists until drained into the buddy lists
  for (let p = 0; p < held.length; p++) result.heldPages += held[p];
  return result;
}

function wholeHeld(held: Uint8Array, p: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (!held[p + i]) return false;
  return true;
}
