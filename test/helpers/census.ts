/** Test helpers that look at a machine's free lists directly. */
import type { Machine } from '../../src/index.js';

/** Every free block of the machine as zone:pfn:order, sorted: equal censuses mean equal buddy lists. */
export function freeBlocks(m: Machine): string[] {
  const out: string[] = [];
  for (const z of m.zones) {
    for (let o = 0; o <= 10; o++) {
      for (let mt = 0; mt < 5; mt++) {
        const head = z.freeList(o, mt);
        for (let p = m.mm.next[head]; p !== head; p = m.mm.next[p]) out.push(`${z.name}:${p}:${o}`);
      }
    }
  }
  return out.sort();
}
