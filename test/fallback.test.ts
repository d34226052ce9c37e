/**
 * The `fallback` scenario: deterministic by seed; each design does what it says (no fallback never maps
 * virtually, CONFIG_VIRTUALIZE_ALWAYS maps every request virtually and is refused in softirq under stage 1,
 * alloc_pages_exact rounds nothing, kvmalloc's stacks are vmapped); the byte patterns survive every design.
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../src/index.js';
import { fallbackScenario, runDesign, type DesignReport } from '../src/workloads/fallback.js';
import { findDesign } from '../src/workloads/designs.js';

const STEPS = 300;

function run(design: string, arch: 'x86_64' | 'i386' = 'x86_64'): DesignReport {
  const d = findDesign(design)!;
  const m = Machine.boot({ mem: '64M', arch, policy: d.policy, strict: false });
  const r = runDesign(m, d, STEPS, 7);
  m.checkInvariants();
  return r;
}

const virtualShare = (r: DesignReport) => r.byOrder.reduce((s, o) => s + o.virtual, 0) / r.byOrder.reduce((s, o) => s + o.ok, 0);

describe('fallback scenario', () => {
  it('is deterministic by seed', () => {
    expect(run('v1')).toEqual(run('v1'));
  });

  it('each design serves the way it claims', () => {
    const none = run('none');
    const always = run('always');
    const exact = run('exact');
    const kv = run('kvmalloc');
    expect(virtualShare(none)).toBe(0);
    expect(none.pgtablePages).toBe(0);
    // always: every request of order > 0 from process context is virtual unless the virtual attempt ran out
    // of pages (then the physical path serves it); softirq refills are refused the fallback (stage 1).
    let physical = 0;
    for (const [name, u] of Object.entries(always.users)) if (name.startsWith('stream')) physical += u.ok - u.virtual;
    expect(physical).toBeLessThanOrEqual(always.fallbackFailures);
    expect(virtualShare(always)).toBeGreaterThan(0.5);
    expect(always.refusedInterrupt).toBe(always.users['e1000 rx refill'].tried);
    expect(always.users['e1000 rx refill'].virtual).toBe(0);
    expect(always.tlbWalksPerMiB).toBeGreaterThan(50 * Math.max(none.tlbWalksPerMiB, 0.01));
    expect(always.pgtablePages).toBeGreaterThan(0);
    // alloc_pages_exact gives the rounding back; the power-of-two designs keep it.
    expect(exact.roundingPages).toBe(0);
    expect(none.roundingPages).toBeGreaterThan(0);
    // kvmalloc's kernel stacks are CONFIG_VMAP_STACK: all virtual.
    expect(kv.users['kernel stack'].virtual).toBe(kv.users['kernel stack'].ok);
    for (const r of [none, always, exact, kv]) expect(r.dataErrors).toBe(0);
  });

  it('i386 reports its vmalloc space share', () => {
    const r = run('always', 'i386');
    expect(r.vmallocPeak).toBeGreaterThan(0);
    expect(r.vmallocShare).toBeGreaterThan(0.001);
    expect(r.vmallocShare).toBeLessThan(1);
  });

  it('runs as a scenario and prints the side-by-side table with --compare', () => {
    const m = Machine.boot({ mem: '64M' });
    const res = fallbackScenario.run(m, { seed: 1, steps: 100, params: { designs: 'none,v1,exact', i386: 'no' }, machineConfig: { mem: '64M' }, compare: true });
    expect(res.tables).toHaveLength(1);
    expect(res.tables[0].rows.map((r) => r[0])).toEqual(['none', 'v1', 'exact']);
    expect(() => fallbackScenario.checkParams!({ designs: 'v7', i386: 'no' })).toThrow(/unknown design 'v7'/);
  });
});
