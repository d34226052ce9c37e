import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mmlab } from './helpers/cli.js';

describe('mmlab command', () => {
  it('lists the scenarios, marking the default', async () => {
    const r = await mmlab('scenarios');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^fallback\s+.+\(default\)$/m);
  });

  it('lists a scenario\'s parameters under its line', async () => {
    const r = await mmlab('scenarios');
    expect(r.out).toMatch(/^xfs-buffers\s+.+\n\s+--param dirblksize=65536\s+directory block size.+\n\s+--param method=all\s+how buffers are mapped/m);
  });

  it('runs the default scenario (fallback); --compare prints only the side-by-side table', async () => {
    const r = await mmlab('run', '--steps', '150', '--mem', '64M', '--param', 'designs=none,always', '--param', 'i386=no');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mmlab fallback: x86_64, 2 CPUs/);
    expect(r.out).toContain('Designs side by side');
    expect(r.out).toContain('Per design and order');
    const c = await mmlab('run', 'fallback', '--compare', '--steps', '150', '--mem', '64M', '--param', 'designs=none,always', '--param', 'i386=no');
    expect(c.out).toMatch(/^none\s+100\.0%/m);
    expect(c.out).toMatch(/^always\s+100\.0% \(\d+\.\d% v\)/m);
    expect(c.out).not.toContain('Per design and order');
  });

  it('swap-over-network --compare prints the designs\' table: a deadlock without reserves, progress with pfmemalloc', async () => {
    const r = await mmlab('run', 'swap-over-network', '--compare', '--steps', '600', '--param', 'designs=none,pfmemalloc');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mmlab swap-over-network: x86_64, 2 CPUs, zones DMA 15M, DMA32 \d+M/);
    expect(r.out).toMatch(/^none\s+deadlock\s+\d+ \(\d+\.\d\d\)/m);
    expect(r.out).toMatch(/^pfmemalloc\s+progress\s+-\s+\d+/m);
    expect(r.out).not.toMatch(/writeback made progress/);
  });

  it('runs the mixed scenario and prints a summary with the per-order table', async () => {
    const r = await mmlab('run', 'mixed', '--steps', '20000', '--mem', '256M');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mmlab mixed: x86_64, 2 CPUs/);
    expect(r.out).toContain('Requests by order');
    expect(r.out).toMatch(/failed although the zones they could use had enough free pages/);
  });

  it('--json is one JSON document, deterministic by seed', async () => {
    const a = await mmlab('run', 'mixed', '--steps', '20000', '--mem', '256M', '--json', '--seed', '5');
    const b = await mmlab('run', 'mixed', '--steps', '20000', '--mem', '256M', '--json', '--seed', '5');
    const c = await mmlab('run', 'mixed', '--steps', '20000', '--mem', '256M', '--json', '--seed', '6');
    const doc = JSON.parse(a.out);
    expect(doc.scenario).toBe('mixed');
    expect(doc.metrics.steps).toBe(20000);
    expect(doc.machine.zones.map((z: { name: string }) => z.name)).toEqual(['DMA', 'DMA32']);
    expect(a.out).toBe(b.out);
    expect(a.out).not.toBe(c.out);
  });

  it('--out writes the /proc files, extfrag, trace, dmesg and result.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-out-'));
    const r = await mmlab('run', 'mixed', '--steps', '5000', '--mem', '128M', '--out', dir);
    expect(r.code).toBe(0);
    for (const f of ['proc/buddyinfo', 'proc/pagetypeinfo', 'proc/zoneinfo', 'proc/meminfo', 'proc/vmstat', 'proc/vmallocinfo',
      'debug/extfrag/extfrag_index', 'debug/extfrag/unusable_index', 'trace.txt', 'dmesg.txt', 'result.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(readFileSync(join(dir, 'trace.txt'), 'utf8')).toMatch(/mm_page_alloc: page=/);
    expect(readFileSync(join(dir, 'proc/buddyinfo'), 'utf8')).toMatch(/^Node 0, zone      DMA /);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).scenario).toBe('mixed');
  });

  it('i386 and --zoneinfo boot the machines they name', async () => {
    const r = await mmlab('run', 'mixed', '--arch', 'i386', '--mem', '2G', '--steps', '2000', '--json');
    expect(JSON.parse(r.out).machine.zones.map((z: { name: string }) => z.name)).toEqual(['DMA', 'Normal', 'HighMem']);
    const zi = new URL('../../shared/samples/proc/zoneinfo', import.meta.url);
    const z = await mmlab('run', 'mixed', '--zoneinfo', zi.pathname, '--steps', '2000', '--json');
    expect(z.code).toBe(0);
    const normal = JSON.parse(z.out).machine.zones.find((x: { name: string }) => x.name === 'Normal');
    expect([normal.managed, normal.min, normal.low, normal.high]).toEqual([262144, 4263, 5328, 6393]);
  });

  it('--param sets scenario parameters, and the defaults fill the rest', async () => {
    const r = await mmlab('run', 'xfs-buffers', '--param', 'method=vmap', '--param', 'dirblksize=16k', '--steps', '300', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect([doc.metrics.method, doc.metrics.dirblksize]).toEqual(['vmap', 16384]);
    expect(Object.keys(doc.metrics.methods)).toEqual(['vmap']);
    expect(doc.metrics.methods.vmap.allocated).toBe(300);
    const d = await mmlab('run', 'xfs-buffers', '--param', 'method=vmalloc', '--steps', '100', '--json');
    expect(JSON.parse(d.out).metrics.dirblksize).toBe(65536);
  });

  it('--vmalloc sizes i386\'s vmalloc area: a small one runs out with the kernel\'s message', async () => {
    const r = await mmlab('run', 'xfs-buffers', '--arch', 'i386', '--mem', '1G', '--vmalloc', '32M', '--param', 'method=vmalloc', '--steps', '2000');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/24 MiB of vmalloc space \(vmalloc=32M\)/);
    expect(r.out).toMatch(/vmalloc: stopped at step \d+ with 361 buffers live \(vmalloc space\): vmap allocation for size 69632 failed: use vmalloc=<size> to increase size/);
    const json = await mmlab('run', 'xfs-buffers', '--arch', 'i386', '--mem', '1G', '--vmalloc', '32M', '--param', 'method=vmalloc', '--steps', '100', '--json');
    expect(JSON.parse(json.out).machine.vmallocSize).toBe(32 << 20);
  });

  it('--kernel picks the kernel whose behaviour the machine follows', async () => {
    const old = JSON.parse((await mmlab('run', 'xfs-buffers', '--kernel', '5.16', '--param', 'method=vmalloc', '--steps', '200', '--json')).out);
    const now = JSON.parse((await mmlab('run', 'xfs-buffers', '--param', 'method=vmalloc', '--steps', '200', '--json')).out);
    expect([old.machine.kernel, now.machine.kernel]).toEqual(['5.16', '6.18']);
    expect(old.metrics.methods.vmalloc.pgtableIgnoredScope).toBeGreaterThan(0);
    expect(now.metrics.methods.vmalloc.pgtableIgnoredScope).toBe(0);
  });

  it('--out writes /proc/vmallocinfo with the scenario\'s areas', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-out-'));
    const r = await mmlab('run', 'xfs-buffers', '--param', 'method=vmalloc', '--steps', '50', '--out', dir);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'proc/vmallocinfo'), 'utf8')).toMatch(/ 69632 kmem_alloc_large\+0x6e\/0x130 \[xfs\] pages=16 vmalloc/);
  });

  it.each([
    [['run', 'nosuch'], /unknown scenario 'nosuch' \(expected one of: fallback, mixed/],
    [['run', '--mem', '12Q'], /--mem: expected a size such as 512M, 4G or 64G, got '12Q'/],
    [['run', '--mem', '1M'], /mem: expected at least 32M/],
    [['run', '--cpus', 'two'], /--cpus: expected a whole number, got 'two'/],
    [['run', '--arch', 'arm64'], /argument 'arm64' is invalid. Allowed choices are x86_64, i386/],
    [['run', '--policy', 'fallback=sometimes'], /policy fallback: expected one of none, vcompound, always, got 'sometimes'/],
    [['run', '--policy', 'reserve=pfmemalloc'], /--policy: unknown switch 'reserve'/],
    [['run', '--policy', 'reserves=mempool'], /policy reserves: expected one of none, pfmemalloc, mem_reserve, got 'mempool'/],
    [['run', '--policy', 'mobilityGrouping=maybe'], /--policy mobilityGrouping: expected true or false, got 'maybe'/],
    [['run', '--zoneinfo', '/nonexistent'], /--zoneinfo: cannot read '\/nonexistent'/],
    [['run', 'xfs-buffers', '--param', 'blocksize=4096'], /--param: unknown parameter 'blocksize' for xfs-buffers \(expected one of: dirblksize, method\)/],
    [['run', 'mixed', '--param', 'method=vmalloc'], /--param: unknown parameter 'method' for mixed \(it takes no parameters\)/],
    [['run', '--param', 'designs=v7'], /--param fallback: designs: unknown design 'v7'/],
    [['run', 'xfs-buffers', '--param', 'dirblksize=5000'], /--param dirblksize: expected a power of two from 8192 to 65536 .*, got '5000'/],
    [['run', 'xfs-buffers', '--param', 'method=kmalloc'], /--param method: expected one of vmalloc, vm_map_ram, vmap, all, got 'kmalloc'/],
    [['run', 'xfs-buffers', '--param', 'dirblksize'], /--param: expected KEY=VALUE, got 'dirblksize'/],
    [['run', '--kernel', 'six'], /--kernel: expected a version such as 6.18 or 5.16, got 'six'/],
    [['run', '--vmalloc', 'lots'], /--vmalloc: expected a size such as 512M, 4G or 64G, got 'lots'/],
    [['run', '--arch', 'i386', '--vmalloc', '6M'], /vmalloc: expected a multiple of 4M of at least 16M, got 6M/],
    [['run', '--bogus'], /unknown option '--bogus'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('bad input %j: a clear message and exit 2', async (args, message) => {
    const r = await mmlab(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('a zoneinfo file that is not one names the file and what was expected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmlab-zi-'));
    writeFileSync(join(dir, 'zi'), 'hello\n');
    const r = await mmlab('run', '--zoneinfo', join(dir, 'zi'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/zoneinfo: no 'Node N, zone NAME' line found: expected a \/proc\/zoneinfo file/);
  });

  it('the installed bin runs (built by npm install / npm test)', () => {
    const bin = new URL('../bin/mmlab.js', import.meta.url).pathname;
    const out = execFileSync(process.execPath, [bin, 'scenarios'], { encoding: 'utf8' });
    expect(out).toMatch(/^fallback /);
  });
});
