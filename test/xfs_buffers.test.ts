import { describe, expect, it } from 'vitest';
import type { MachineConfig } from '../src/config.js';
import { Machine } from '../src/machine.js';
import { findScenario } from '../src/workloads/index.js';
import { resolveParams } from '../src/workloads/scenario.js';
import { parseXfsParams, runMethod, xfsBuffersScenario, type XfsMethodReport } from '../src/workloads/xfs_buffers.js';

/** Enough steps for 64 KiB buffers to fill i386's 120 MiB of vmalloc space (about 1800 live buffers). */
const STEPS = xfsBuffersScenario.defaultSteps;
const VMAP_FAILED = /vmap allocation for size 69632 failed: use vmalloc=<size> to increase size/;

function boot(cfg: MachineConfig): Machine {
  return Machine.boot({ ...xfsBuffersScenario.machine, seed: 1, strict: true, ...cfg });
}

function run(m: Machine, params: Record<string, string>, steps: number, machineConfig?: MachineConfig) {
  const r = xfsBuffersScenario.run(m, { seed: 1, steps, params, machineConfig });
  return { r, methods: r.metrics.methods as Record<string, XfsMethodReport> };
}

describe('xfs-buffers scenario', () => {
  it('is registered, with its parameters declared', () => {
    expect(findScenario('xfs-buffers')).toBe(xfsBuffersScenario);
    expect(Object.keys(xfsBuffersScenario.params ?? {})).toEqual(['dirblksize', 'method']);
    expect(resolveParams(xfsBuffersScenario, {})).toEqual({ dirblksize: '65536', method: 'all' });
  });

  it('exhausts the vmalloc space of i386 (vmalloc=128M) and not that of x86_64, with the same params and steps', () => {
    const params = { method: 'vmalloc', dirblksize: '65536' };
    const i386 = boot({ arch: 'i386', mem: '1G' });
    const a = run(i386, params, STEPS).methods.vmalloc;
    expect(a.completed).toBe(false);
    expect(a.failure?.kind).toBe('vmalloc space');
    expect(a.failure?.message).toMatch(VMAP_FAILED);
    expect(i386.dmesg()).toMatch(VMAP_FAILED);
    expect(i386.printk.reports('vmap allocation failed')).toBeGreaterThan(0);
    // 120 MiB of 68 KiB areas (64 KiB and a guard page) is 1807 buffers; the cache was growing past that.
    expect(a.live).toBe(Math.floor((120 << 20) / (68 << 10)));
    expect(a.failure!.step).toBeLessThan(STEPS);
    expect(a.vmalloc.largestFreeBytes).toBeLessThan(68 << 10);
    expect(a.vmalloc.kvaFailures).toBe(1);
    i386.checkInvariants();

    const x86 = boot({ arch: 'x86_64', mem: '1G' });
    const b = run(x86, params, STEPS).methods.vmalloc;
    expect(b.completed).toBe(true);
    expect(b.failure).toBeNull();
    expect(b.stepsRun).toBe(STEPS);
    expect(b.live).toBeGreaterThan(a.live);
    expect(x86.dmesg()).not.toMatch(/vmap allocation/);
    expect(b.vmalloc.kvaFailures).toBe(0);
    x86.checkInvariants();
  });

  it('maps, fills and frees buffers with each method, leaving consistent machines', () => {
    const steps = 1500;
    const byMethod: Record<string, XfsMethodReport> = {};
    for (const method of ['vmalloc', 'vm_map_ram', 'vmap'] as const) {
      const m = boot({ arch: 'x86_64', mem: '512M' });
      const free0 = m.freePagesTotal();
      const r = run(m, { method }, steps).methods[method];
      byMethod[method] = r;
      expect(r.completed).toBe(true);
      expect(r.consistent).toBe(true);
      expect(r.allocated).toBe(steps);
      expect(r.live).toBe(Math.ceil(steps * 0.4));
      expect(r.freed).toBe(steps - r.live);
      expect(r.tlb.bytesAccessed).toBe(2 * steps * 65536);
      expect(r.tlb.walks).toBeGreaterThan(0);
      // The buffers' 16 pages each are out of the free pages (and the page tables besides).
      expect(free0 - m.freePagesTotal()).toBeGreaterThanOrEqual(r.live * 16);
      m.checkInvariants();
    }
    // vmalloc and vmap areas carry a guard page; vm_map_ram's blocks are reused only once all of a block is dirty.
    expect(byMethod.vmalloc.vmalloc.busyBytes).toBe(byMethod.vmalloc.live * (68 << 10));
    expect(byMethod.vmap.vmalloc.busyBytes).toBe(byMethod.vmap.live * (68 << 10));
    expect(byMethod.vm_map_ram.vmapBlocks.now).toBeGreaterThan(0);
    expect(byMethod.vm_map_ram.vmalloc.busyBytes).toBeGreaterThan(byMethod.vmalloc.vmalloc.busyBytes);
    expect(byMethod.vmalloc.vmapBlocks.allocated).toBe(0);
    expect(byMethod.vmalloc.vmalloc.vmallocPages).toBe(byMethod.vmalloc.live * 16);
    expect(byMethod.vmap.vmalloc.vmallocPages).toBe(0);
  });

  it('method=all runs each method on a fresh machine of the same config: the same figures as separate runs', () => {
    const cfg: MachineConfig = { ...xfsBuffersScenario.machine, arch: 'i386', mem: '1G', vmallocSize: '32M', seed: 3 };
    const all = xfsBuffersScenario.run(Machine.boot(cfg), { seed: 3, steps: 2000, params: { dirblksize: '32768' }, machineConfig: cfg });
    const methods = all.metrics.methods as Record<string, XfsMethodReport>;
    expect(Object.keys(methods)).toEqual(['vmalloc', 'vm_map_ram', 'vmap']);
    const alone = runMethod(Machine.boot(cfg), 'vm_map_ram', 32768, 2000, 3);
    expect(JSON.stringify(methods.vm_map_ram)).toBe(JSON.stringify(alone));
    // 24 MiB of vmalloc space: every method runs out of it, vm_map_ram first (its blocks stay pinned).
    for (const r of Object.values(methods)) expect(r.failure?.kind).toBe('vmalloc space');
    expect(methods.vm_map_ram.failure!.step).toBeLessThan(methods.vmalloc.failure!.step);
    expect(methods.vm_map_ram.failedAttempts).toBe(3); // _xfs_buf_map_pages: three tries, vm_unmap_aliases between
    expect(all.tables[0].columns).toEqual(['', 'vmalloc', 'vm_map_ram', 'vmap']);
    expect(all.summary.join('\n')).toMatch(/vm_map_ram: stopped at step \d+ with \d+ buffers live \(vmalloc space\): vmap allocation for size 4194304 failed/);
    // The same run again is the same, byte for byte.
    const again = xfsBuffersScenario.run(Machine.boot(cfg), { seed: 3, steps: 2000, params: { dirblksize: '32768' }, machineConfig: cfg });
    expect(JSON.stringify(again)).toBe(JSON.stringify(all));
  });

  it("before 5.17 vmalloc's page tables ignore GFP_NOFS; since, they follow it, and vm_map_ram's scope covers them in both", () => {
    const counts = (kernel: string, method: 'vmalloc' | 'vm_map_ram') => {
      const m = boot({ arch: 'x86_64', mem: '256M', kernel });
      const r = run(m, { method }, 300).methods[method];
      m.checkInvariants();
      return { r, dmesg: m.dmesg() };
    };
    const old = counts('5.16', 'vmalloc');
    expect(old.r.pgtableIgnoredScope).toBeGreaterThan(0);
    expect(old.r.pgtableIgnoredScope).toBe(old.r.pageTables.allocated);
    expect(old.dmesg).toMatch(/vmalloc page tables allocated .* for a .*GFP_NOFS/);
    expect(counts('6.18', 'vmalloc').r.pgtableIgnoredScope).toBe(0);
    expect(counts('5.16', 'vm_map_ram').r.pgtableIgnoredScope).toBe(0);
  });

  it('checks the bytes it reads back: a corrupted read stops the run, naming the block', () => {
    const m = boot({ arch: 'x86_64', mem: '256M' });
    const readInto = m.readInto.bind(m);
    let n = 0;
    m.readInto = (addr: number, dst: Uint8Array) => {
      readInto(addr, dst);
      if (++n === 7) dst[5000] ^= 0x40;
    };
    expect(() => run(m, { method: 'vm_map_ram' }, 50)).toThrow(/xfs-buffers vm_map_ram: block 7 mapped at ffff[0-9a-f]{12} reads back 0x[0-9a-f]+ at byte 5000/);
  });

  it('rejects bad parameters, naming the parameter and what was expected', () => {
    for (const bad of ['5000', '4096', '131072', '64q', '']) {
      expect(() => parseXfsParams({ dirblksize: bad, method: 'all' })).toThrow(`dirblksize: expected a power of two from 8192 to 65536`);
    }
    expect(parseXfsParams({ dirblksize: '16k', method: 'vmap' })).toEqual({ dirblksize: 16384, method: 'vmap' });
    expect(() => parseXfsParams({ dirblksize: '65536', method: 'kmalloc' })).toThrow("method: expected one of vmalloc, vm_map_ram, vmap, all, got 'kmalloc'");
    const m = boot({ arch: 'x86_64', mem: '128M' });
    expect(() => run(m, { blocksize: '4096' }, 10)).toThrow("unknown parameter 'blocksize' for xfs-buffers (expected one of: dirblksize, method)");
    expect(() => run(m, { dirblksize: '3' }, 10)).toThrow(/dirblksize: expected/);
    // method=all boots fresh machines and needs the config to boot them from.
    expect(() => run(m, {}, 10)).toThrow(/needs RunOptions.machineConfig/);
  });
});
