import { describe, expect, it } from 'vitest';
import { Machine } from '../src/machine.js';
import { pressureScenario, type PressureReport } from '../src/workloads/pressure.js';
import { resolveParams } from '../src/workloads/scenario.js';

describe('pressure scenario', () => {
  const cfg = { mem: '128M', swap: '128M' };
  const m = Machine.boot(cfg);
  const r = pressureScenario.run(m, { seed: 3, steps: 6000, machineConfig: cfg });
  const runs = (r.metrics as { runs: PressureReport[] }).runs;

  it('runs with grouping on and off and reports intervals and totals', () => {
    expect(runs.map((x) => x.grouping)).toEqual([true, false]);
    expect(r.tables.map((t) => t.title)).toEqual(['grouping by mobility on: per interval', 'grouping by mobility off: per interval', 'totals']);
    expect(r.tables[0].rows).toHaveLength(10);
    m.checkInvariants();
  });

  it('drives the machine into reclaim and swap, and loses no byte', () => {
    for (const x of runs) {
      expect(x.counters.pgsteal_kswapd).toBeGreaterThan(0);
      expect(x.counters.pswpout).toBeGreaterThan(0);
      expect(x.counters.slabs_scanned).toBeGreaterThan(0);
      expect(x.dataErrors).toBe(0);
      expect(x.rxTried).toBe(6000);
    }
  });

  it('without grouping by mobility, unmovable pages end up in far more pageblocks of movable ones', () => {
    const [on, off] = runs;
    expect(off.mixedPageblocks).toBeGreaterThan(2 * on.mixedPageblocks + 10);
  });

  it('rejects bad parameters by name', () => {
    expect(() => resolveParams(pressureScenario, { grouping: 'maybe' })).toThrow(/grouping must be one of both, on, off/);
    expect(() => resolveParams(pressureScenario, { order: '11' })).toThrow(/order must be a whole number from 1 to 10/);
  });
});
