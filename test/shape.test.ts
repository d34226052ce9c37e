/**
 * Shaping a replay's starting free lists after a /proc/buddyinfo snapshot (src/trace/shape.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine } from '../src/index.js';
import { parseBuddyinfo, shapeFreeLists } from '../src/trace/shape.js';
import { mmlab } from './helpers/cli.js';

const SNAPSHOT = [
  'Node 0, zone      DMA      1      0      2      0      0      0      0      0      1      0      1 ',
  'Node 0, zone    DMA32    300    120     40     17      9      5      3      2      1      1     20 ',
  '',
].join('\n');

describe('buddyinfo shaping', () => {
  it('reads /proc/buddyinfo and names the line that does not read', () => {
    const z = parseBuddyinfo(SNAPSHOT);
    expect(z.get('DMA32')).toEqual([300, 120, 40, 17, 9, 5, 3, 2, 1, 1, 20]);
    expect(() => parseBuddyinfo('Node 0, zone DMA 1 2 x\n', 'proc/start/buddyinfo')).toThrow("proc/start/buddyinfo:1: expected 'Node N, zone NAME' and counts per order, got 'Node 0, zone DMA 1 2 x'");
  });

  it('gives a machine exactly the snapshot\'s free blocks per order when its zones are large enough', () => {
    const m = Machine.boot({ mem: '512M', strict: true, thp: false });
    const freeBefore = m.freePagesTotal() + m.pcpPagesTotal();
    const r = shapeFreeLists(m, parseBuddyinfo(SNAPSHOT));
    expect(r.zones).toEqual([{ zone: 'DMA', wanted: 5, freed: 5 }, { zone: 'DMA32', wanted: 518, freed: 518 }]);
    const after = parseBuddyinfo(m.proc('buddyinfo'));
    expect(after.get('DMA')).toEqual([1, 0, 2, 0, 0, 0, 0, 0, 1, 0, 1]);
    expect(after.get('DMA32')).toEqual([300, 120, 40, 17, 9, 5, 3, 2, 1, 1, 20]);
    // Every page that was free is now free in the snapshot's shape or held for good.
    expect(r.heldPages + m.freePagesTotal() + m.pcpPagesTotal()).toBe(freeBefore);
    m.checkInvariants();
  });

  it('replay shapes after a capture\'s proc/start/buddyinfo by default, and not with --shape none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-shape-'));
    try {
      writeFileSync(join(dir, 'trace.txt'), readFileSync('test/fixtures/real/page-alloc.txt'));
      mkdirSync(join(dir, 'proc', 'start'), { recursive: true });
      writeFileSync(join(dir, 'proc', 'start', 'buddyinfo'), SNAPSHOT);
      const shaped = JSON.parse((await mmlab('replay', dir, '--layer', 'pages', '--json')).out);
      expect(shaped.machine.shapedFrom).toBe(join(dir, 'proc', 'start', 'buddyinfo'));
      expect(shaped.machine.shaped.zones[1]).toEqual({ zone: 'DMA32', wanted: 518, freed: 518 });
      const fresh = JSON.parse((await mmlab('replay', dir, '--layer', 'pages', '--json', '--shape', 'none')).out);
      expect(fresh.machine.shaped).toBeNull();
      const bad = await mmlab('replay', dir, '--shape', join(dir, 'nope'));
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/--shape: no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
