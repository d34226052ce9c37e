import { describe, expect, test } from 'vitest';
import { GFP } from '../src/gfp.js';
import { Machine } from '../src/machine.js';
import { NO_PAGE, PG_DIRTY } from '../src/mm/page.js';
import { SuperBlock } from '../src/fs/super.js';
import type { AddressSpace } from '../src/mm/filemap.js';

const page = (b: number) => new Uint8Array(4096).fill(b);

/** Fill the page cache of a new file with `n` clean pages (read in from disk). */
function cleanFile(m: Machine, n: number): AddressSpace {
  const fs = m.mountFs('ext4', { readNs: 0, writeNs: 0 });
  const f = m.createFile(fs);
  for (let i = 0; i < n; i++) f.disk.set(i, page(i & 0xff));
  const buf = new Uint8Array(16);
  for (let i = 0; i < n; i++) expect(m.fileRead(f, i, buf)).toBe(true);
  return f;
}

/** Allocate order-0 pages until the machine's free pages drop below `pages`; returns them. */
function allocDownTo(m: Machine, pages: number, gfp = GFP.KERNEL): number[] {
  const got: number[] = [];
  while (m.freePagesTotal() > pages) {
    const p = m.allocPages(gfp | GFP.NOWARN, 0);
    if (p === NO_PAGE) break;
    got.push(p);
  }
  return got;
}

describe('kswapd', () => {
  test('is woken below the low watermark and reclaims until a zone meets its high watermark', () => {
    const m = Machine.boot({ mem: '128M', strict: true });
    m.trace.enable(['mm_vmscan_kswapd_wake']);
    const normal = m.zones.find((z) => z.type === 'DMA32')!;
    cleanFile(m, Math.floor(normal.managed * 0.8));
    expect(m.events.pageoutrun).toBe(0);
    // Eat free memory with unmovable pages until the fast path's low-mark check fails.
    const pinned: number[] = [];
    let freeBefore = 0;
    while (!m.events.pageoutrun && pinned.length < normal.managed) {
      freeBefore = normal.freePages;
      const p = m.allocPages(GFP.KERNEL, 0);
      expect(p).not.toBe(NO_PAGE);
      pinned.push(p);
    }
    // kswapd slept while the zone was above its low mark, and woke on the first request that found it below.
    expect(freeBefore).toBeLessThanOrEqual(normal.wmarkLow());
    expect(freeBefore).toBeGreaterThan(normal.wmarkMin());
    // The allocation that found the zone below its low mark woke kswapd, which ran when it returned.
    expect(m.events.pageoutrun).toBe(1);
    expect(m.trace.text()).toMatch(/mm_vmscan_kswapd_wake: nid=0 order=0\n/);
    expect(m.events.pgstealKswapd).toBeGreaterThan(0);
    expect(normal.freePages).toBeGreaterThan(normal.wmarkHigh());
    // Balanced: a further allocation above the low mark does not wake it again.
    m.allocPages(GFP.KERNEL, 0);
    expect(m.events.pageoutrun).toBe(1);
    m.checkInvariants();
  });

  test('stops at the high mark instead of emptying the page cache', () => {
    const m = Machine.boot({ mem: '128M', strict: true });
    const z = m.zones.find((x) => x.type === 'DMA32')!;
    const f = cleanFile(m, Math.floor(z.managed * 0.8));
    while (!m.events.pageoutrun) expect(m.allocPages(GFP.KERNEL, 0)).not.toBe(NO_PAGE);
    // Reclaim took what the high mark needed plus a batch or so, not the whole file.
    expect(f.nrPages).toBeGreaterThan(z.managed * 0.5);
  });
});

describe('direct reclaim and the caller\'s gfp', () => {
  /** A machine whose LRU holds only dirty page cache, and a superblock with unused dentries. */
  function dirtyMachine() {
    const m = Machine.boot({ mem: '64M', strict: true });
    // A slow disk: no write the flushers start can finish while reclaim runs.
    const fs = m.mountFs('xfs', { writeNs: 10e9 });
    const sb = new SuperBlock(m, fs);
    const ids: number[] = [];
    for (let i = 0; i < 2000; i++) ids.push(sb.iget());
    for (const id of ids) sb.dput(id);
    const f = m.createFile(fs);
    for (let i = 0; i < 2000; i++) m.fileWrite(f, i, page(i & 0xff));
    return { m, sb, f };
  }

  test('GFP_NOFS skips dirty page cache and the filesystem shrinkers', () => {
    const { m, sb, f } = dirtyMachine();
    const dirtyPfns = Array.from(f.slots.subarray(0, 2000)).filter((p) => p >= 0 && m.mm.flags[p] & PG_DIRTY);
    expect(dirtyPfns.length).toBeGreaterThan(1000);
    const unused = sb.nrUnused;
    const reclaimed = m.tryToFreePages(GFP.NOFS);
    expect(reclaimed).toBe(0);
    // The reclaimer wrote nothing itself, freed no dirty page, and the superblock shrinker refused.
    expect(m.node.nrVmscanWrite).toBe(0);
    expect(f.nrPages).toBe(2000);
    expect(sb.nrUnused).toBe(unused);
    expect(sb.pruned.dentries).toBe(0);
    expect(m.events.pgscanDirect).toBeGreaterThan(0);
    m.checkInvariants();
  });

  test('GFP_KERNEL prunes the dentry and inode caches', () => {
    const { m, sb } = dirtyMachine();
    const unused = sb.nrUnused;
    m.tryToFreePages(GFP.KERNEL);
    expect(sb.pruned.dentries).toBeGreaterThan(0);
    expect(sb.nrUnused).toBeLessThan(unused);
    expect(m.events.slabsScanned).toBeGreaterThan(0);
    m.checkInvariants();
  });

  test('GFP_NOIO does not swap; GFP_NOFS does', () => {
    const run = (gfp: number) => {
      const m = Machine.boot({ mem: '64M', swap: '64M', swapCost: { readNs: 0, writeNs: 0 }, strict: true });
      const am = m.mmapAnon(4000);
      for (let i = 0; i < 4000; i++) m.anonWrite(am, i, page(i & 0xff));
      const free = m.swap!.free;
      let reclaimed = 0;
      for (let i = 0; i < 4; i++) reclaimed += m.tryToFreePages(gfp);
      m.checkInvariants();
      return { m, am, swapped: free - m.swap!.free, reclaimed };
    };
    const noio = run(GFP.NOIO);
    expect(noio.m.events.pswpout).toBe(0);
    expect(noio.swapped).toBe(0);
    expect(noio.reclaimed).toBe(0);
    const nofs = run(GFP.NOFS);
    expect(nofs.m.events.pswpout).toBeGreaterThan(0);
    expect(nofs.reclaimed).toBeGreaterThan(0);
    // Swapped-out pages come back with their bytes.
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 4000; i += 97) {
      expect(nofs.m.anonRead(nofs.am, i, buf)).toBe(true);
      expect(buf.every((b) => b === (i & 0xff))).toBe(true);
    }
    expect(nofs.m.events.pswpin).toBeGreaterThan(0);
  });

  test('dirty page cache is written by the flushers and then reclaimed, bytes intact', () => {
    const m = Machine.boot({ mem: '64M', strict: true });
    const fs = m.mountFs('ext4', { readNs: 1000, writeNs: 1000 });
    const f = m.createFile(fs);
    const n = 12000;
    for (let i = 0; i < n; i++) expect(m.fileWrite(f, i, page((i * 7) & 0xff))).toBe(true);
    // More than RAM was written: reclaim and writeback had to make room.
    expect(m.node.nrWritten).toBeGreaterThan(0);
    expect(f.nrPages).toBeLessThan(n);
    const buf = new Uint8Array(4096);
    for (let i = 0; i < n; i += 131) {
      expect(m.fileRead(f, i, buf)).toBe(true);
      expect(buf[0]).toBe((i * 7) & 0xff);
      expect(buf[4095]).toBe((i * 7) & 0xff);
    }
    m.checkInvariants();
  });
});

describe('fs_reclaim lockdep', () => {
  test('an allocation that may recurse into the filesystem under its lock is reported', () => {
    const m = Machine.boot({ mem: '64M', strict: true });
    const t = m.fsLock('&type->i_mutex_dir_key#3');
    expect(m.allocPages(GFP.NOFS, 0)).not.toBe(NO_PAGE);
    expect(m.dmesg()).not.toContain('possible circular locking dependency');
    const saved = m.memallocNofsSave();
    m.allocPages(GFP.KERNEL, 0);
    m.memallocNofsRestore(saved);
    expect(m.dmesg()).not.toContain('possible circular locking dependency');
    // Plenty of free memory: reclaim will not run, but the dependency is there all the same.
    m.allocPages(GFP.KERNEL, 0);
    const log = m.dmesg();
    expect(log).toContain('WARNING: possible circular locking dependency detected');
    expect(log).toContain('init/1 is trying to acquire lock:');
    expect(log).toContain('(fs_reclaim){+.+.}-{0:0}, at: __fs_reclaim_acquire');
    expect(log).toContain('lock(&type->i_mutex_dir_key#3);');
    expect(log).toContain(' *** DEADLOCK ***');
    m.fsUnlock(t);
    expect(m.printk.reports('possible circular locking dependency')).toBe(1);
  });

  test('__GFP_IO on the block IO path is reported; GFP_NOIO is fine', () => {
    const m = Machine.boot({ mem: '64M', strict: true });
    const t = m.fsLock('&q->q_usage_counter(io)', true);
    m.allocPages(GFP.NOIO, 0);
    expect(m.printk.reports('possible circular locking dependency')).toBe(0);
    m.allocPages(GFP.NOFS, 0);
    expect(m.printk.reports('possible circular locking dependency')).toBe(1);
    expect(m.dmesg()).toContain('use GFP_NOIO or memalloc_noio_save()');
    m.fsUnlock(t);
  });
});

describe('the OOM killer', () => {
  function oomMachine() {
    const m = Machine.boot({ mem: '128M', strict: true });
    const tasks = [
      { comm: 'small', pages: 2000, adj: 0 },
      { comm: 'big', pages: 8000, adj: 0 },
      { comm: 'protected', pages: 10000, adj: -1000 },
      { comm: 'medium', pages: 4000, adj: 0 },
    ].map((d) => {
      const t = m.sched.createTask(d.comm);
      m.setOomScoreAdj(t, d.adj);
      const am = m.mmapAnon(d.pages, t);
      m.sched.switchTo(t);
      for (let i = 0; i < d.pages; i++) expect(m.anonFault(am, i)).not.toBe(NO_PAGE);
      return { ...d, t, am };
    });
    m.sched.switchTo(m.sched.task(1)!);
    return { m, tasks };
  }

  test('kills the task with the highest badness, never an oom_score_adj -1000 one, and reports it', () => {
    const { m, tasks } = oomMachine();
    const victim = m.oom.selectBadProcess()!;
    expect(victim.am.task.comm).toBe('big');
    // Now exhaust memory with GFP_KERNEL allocations until the OOM killer acts.
    const held = allocDownTo(m, 0);
    expect(m.events.oomKill).toBeGreaterThanOrEqual(1);
    expect(m.oom.victims[0].comm).toBe('big');
    expect(m.oom.victims.map((v) => v.comm)).not.toContain('protected');
    const log = m.dmesg();
    expect(log).toMatch(/init invoked oom-killer: gfp_mask=0x[0-9a-f]+\(GFP_KERNEL\|__GFP_NOWARN\), order=0, oom_score_adj=0/);
    expect(log).toMatch(/Out of memory: Killed process \d+ \(big\) total-vm:32000kB, anon-rss:32000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:64kB oom_score_adj:0/);
    expect(log).toContain('[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name');
    expect(tasks[1].am.dead).toBe(true);
    expect(held.length).toBeGreaterThan(0);
    m.checkInvariants();
  });

  test('is not invoked for costly orders, __GFP_NORETRY, __GFP_RETRY_MAYFAIL or without __GFP_FS', () => {
    const { m } = oomMachine();
    allocDownTo(m, 0, GFP.NOFS);
    for (const [gfp, order] of [[GFP.KERNEL, 4], [GFP.KERNEL | GFP.NORETRY, 0], [GFP.KERNEL | GFP.RETRY_MAYFAIL, 0], [GFP.NOFS, 0]] as const) {
      m.allocPages(gfp | GFP.NOWARN, order);
    }
    expect(m.events.oomKill).toBe(0);
    expect(m.dmesg()).toContain('cannot invoke the OOM killer without __GFP_FS');
  });
});
