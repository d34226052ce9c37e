/**
 * SLUB and kmalloc (src/mm/slub.ts, src/mm/slab_common.ts) against the kernel's behaviour: size classes and
 * kmalloc types, large kmalloc, krealloc/ksize/kzalloc/kmalloc_array, slab geometry against a real 6.18
 * /proc/slabinfo, order fallback, partial lists, cache destroy, every slub_debug detection, pfmemalloc
 * slabs, and the slab tracepoints.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { GFP, KernelReport, Machine, NO_PAGE } from '../src/index.js';
import type { MachineConfig } from '../src/config.js';
import { compoundOrder } from '../src/mm/compound.js';
import { PG_HEAD, PG_PFMEMALLOC } from '../src/mm/page.js';
import {
  SLAB_ACCOUNT, SLAB_CONSISTENCY_CHECKS, SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE,
  SLAB_STORE_USER, type KmemCache,
} from '../src/mm/slub.js';
import { exhaust } from './helpers/exhaust.js';

const DEBUG = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY_CHECKS;
const MiB = 1 << 20;

function boot(cfg: MachineConfig = {}): Machine {
  return Machine.boot({ mem: '64M', strict: true, ...cfg });
}

/** The name of the cache an object's page belongs to. */
function cacheName(m: Machine, addr: number): string | undefined {
  return m.slub.cacheOfPage(m.virtToPage(addr))?.name;
}

/** Pages the page allocator could hand out: the buddy lists and the per-CPU lists. */
function freeAndPcp(m: Machine): number {
  return m.freePagesTotal() + m.pcpPagesTotal();
}

/** dmesg lines without their timestamps. */
function dmesgLines(m: Machine): string[] {
  return m.dmesg().split('\n').map((l) => l.replace(/^\[[ \d.]+\] /, ''));
}

/** The value in kB of a /proc/meminfo field. */
function meminfoKb(m: Machine, field: string): number {
  const line = m.proc('meminfo').split('\n').find((l) => l.startsWith(`${field}:`));
  if (!line) throw new Error(`meminfo has no ${field}`);
  return Number(/(\d+) kB/.exec(line)![1]);
}

function fill(len: number, f: (i: number) => number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => f(i) & 0xff);
}

function objectsBySlab(m: Machine, objs: number[]): Map<number, number[]> {
  const by = new Map<number, number[]>();
  for (const o of objs) {
    const slab = m.slub.objToSlab(o);
    by.set(slab, [...(by.get(slab) ?? []), o]);
  }
  return by;
}

// --- size classes and types ------------------------------------------------------------------------------

/** kmalloc size -> the kmalloc class that serves it (the 96 and 192 classes included). */
const CLASSES: Array<[size: number, objSize: number, suffix: string]> = [
  [1, 8, '8'], [8, 8, '8'], [9, 16, '16'], [16, 16, '16'], [17, 32, '32'], [32, 32, '32'], [33, 64, '64'],
  [64, 64, '64'], [65, 96, '96'], [96, 96, '96'], [97, 128, '128'], [128, 128, '128'], [129, 192, '192'],
  [192, 192, '192'], [193, 256, '256'], [256, 256, '256'], [257, 512, '512'], [512, 512, '512'],
  [513, 1024, '1k'], [1024, 1024, '1k'], [1025, 2048, '2k'], [2048, 2048, '2k'], [2049, 4096, '4k'],
  [4096, 4096, '4k'], [4097, 8192, '8k'], [8192, 8192, '8k'],
];

const TYPES: Array<[gfp: number, prefix: string]> = [
  [GFP.KERNEL, 'kmalloc-'],
  [GFP.KERNEL | GFP.RECLAIMABLE, 'kmalloc-rcl-'],
  [GFP.KERNEL | GFP.DMA, 'dma-kmalloc-'],
  [GFP.KERNEL_ACCOUNT, 'kmalloc-cg-'],
];

describe('kmalloc size classes and types', () => {
  it.each(CLASSES)('kmalloc(%i) is served by the %i-byte class', (size, objSize, suffix) => {
    const m = boot();
    for (const [gfp, prefix] of TYPES) {
      const p = m.kmalloc(size, gfp);
      expect(p).toBeGreaterThan(16);
      expect(cacheName(m, p)).toBe(prefix + suffix);
      expect(m.ksize(p)).toBe(objSize);
      m.kfree(p);
    }
    expect(m.kmallocSizeRoundup(size)).toBe(objSize);
    m.checkInvariants();
  });

  it('DMA kmalloc objects live in ZONE_DMA; reclaimable ones count as SReclaimable', () => {
    const m = boot();
    const dma = m.kmalloc(200, GFP.KERNEL | GFP.DMA);
    expect(m.zones[m.mm.zoneIdx(m.virtToPage(dma))].name).toBe('DMA');
    const normal = m.kmalloc(200, GFP.KERNEL);
    expect(m.zones[m.mm.zoneIdx(m.virtToPage(normal))].name).not.toBe('DMA');
    const before = meminfoKb(m, 'SReclaimable');
    const rcl = m.kmalloc(3000, GFP.KERNEL | GFP.RECLAIMABLE); // kmalloc-rcl-4k: an order-3 slab
    expect(cacheName(m, rcl)).toBe('kmalloc-rcl-4k');
    expect(meminfoKb(m, 'SReclaimable')).toBe(before + 32);
    m.checkInvariants();
  });

  it('type priority: DMA over RECLAIMABLE over ACCOUNT (kmalloc_type)', () => {
    const m = boot();
    expect(cacheName(m, m.kmalloc(40, GFP.KERNEL | GFP.DMA | GFP.RECLAIMABLE | GFP.ACCOUNT))).toBe('dma-kmalloc-64');
    expect(cacheName(m, m.kmalloc(40, GFP.KERNEL | GFP.RECLAIMABLE | GFP.ACCOUNT))).toBe('kmalloc-rcl-64');
    expect(cacheName(m, m.kmalloc(40, GFP.ATOMIC))).toBe('kmalloc-64');
  });

  it('kmalloc_size_roundup above the caches: PAGE_SIZE << get_order(size) up to KMALLOC_MAX_SIZE, then size', () => {
    const m = boot();
    expect(m.kmallocSizeRoundup(8193)).toBe(16384);
    expect(m.kmallocSizeRoundup(16384)).toBe(16384);
    expect(m.kmallocSizeRoundup(16385)).toBe(32768);
    expect(m.kmallocSizeRoundup(100_000)).toBe(131072);
    expect(m.kmallocSizeRoundup(4 * MiB)).toBe(4 * MiB);
    expect(m.kmallocSizeRoundup(4 * MiB + 1)).toBe(4 * MiB + 1);
    expect(m.kmallocSizeRoundup(0)).toBe(0);
  });

  it('kmalloc(0) is ZERO_SIZE_PTR (16); kfree(16) and kfree(NULL) do nothing', () => {
    const m = boot();
    const free = freeAndPcp(m);
    const slabinfo = m.proc('slabinfo');
    const log = m.dmesg();
    expect(m.kmalloc(0, GFP.KERNEL)).toBe(16);
    expect(m.ksize(16)).toBe(0);
    m.kfree(16);
    m.kfree(0);
    expect(m.krealloc(16, 0, GFP.KERNEL)).toBe(16);
    expect(freeAndPcp(m)).toBe(free);
    expect(m.proc('slabinfo')).toBe(slabinfo);
    expect(m.dmesg()).toBe(log);
    m.checkInvariants();
  });
});

// --- large kmalloc ----------------------------------------------------------------------------------------

describe('large kmalloc (above 8 KiB): compound pages from the page allocator', () => {
  it.each([
    [8193, 2], [16384, 2], [16385, 3], [65536, 4], [100_000, 5], [4 * MiB, 10],
  ])('kmalloc(%i) takes an order-%i compound page, ksize is its size, kfree gives it back', (size, order) => {
    const m = boot();
    const free = freeAndPcp(m);
    const unreclaim = meminfoKb(m, 'SUnreclaim');
    const p = m.kmalloc(size, GFP.KERNEL);
    expect(p).not.toBe(0);
    const pfn = m.virtToPage(p);
    expect(m.pageAddress(pfn)).toBe(p);
    expect(m.mm.flags[pfn] & PG_HEAD).toBe(PG_HEAD);
    expect(compoundOrder(m.mm, pfn)).toBe(order);
    expect(m.slub.cacheOfPage(pfn)).toBeUndefined();
    expect(freeAndPcp(m)).toBe(free - (1 << order));
    expect(m.ksize(p)).toBe(4096 << order);
    expect(meminfoKb(m, 'SUnreclaim')).toBe(unreclaim + (4 << order));
    // The whole compound page is usable.
    m.write(p + (4096 << order) - 4, fill(4, () => 0x5a));
    m.checkInvariants();
    m.kfree(p);
    expect(freeAndPcp(m)).toBe(free);
    expect(meminfoKb(m, 'SUnreclaim')).toBe(unreclaim);
    m.checkInvariants();
  });

  it('above KMALLOC_MAX_SIZE (4 MiB) fails with the page allocator warning about the order', () => {
    const m = boot();
    const free = freeAndPcp(m);
    expect(m.kmalloc(4 * MiB + 1, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toMatch(/WARNING: CPU: 0 PID: 1 at mm\/page_alloc\.c:__alloc_pages_noprof: order 11 > MAX_PAGE_ORDER \(10\)/);
    expect(freeAndPcp(m)).toBe(free);
    const log = m.dmesg();
    expect(m.kmalloc(8 * MiB, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    expect(m.dmesg()).toBe(log);
    m.checkInvariants();
  });
});

// --- krealloc, ksize, kzalloc, kmalloc_array ------------------------------------------------------------------

describe('krealloc', () => {
  it('growth across classes and into a large kmalloc keeps the bytes', () => {
    const m = boot();
    const pattern = fill(40, (i) => i * 7 + 3);
    let p = m.kmalloc(40, GFP.KERNEL);
    m.write(p, pattern);
    for (const [size, cache] of [[100, 'kmalloc-128'], [300, 'kmalloc-512'], [3000, 'kmalloc-4k'], [8000, 'kmalloc-8k']] as const) {
      const q = m.krealloc(p, size, GFP.KERNEL);
      expect(q).not.toBe(p);
      expect(cacheName(m, q)).toBe(cache);
      expect(m.read(q, 40)).toEqual(pattern);
      p = q;
    }
    const tail = fill(100, (i) => 255 - i);
    m.write(p + 8000 - 100, tail);
    const big = m.krealloc(p, 20000, GFP.KERNEL);
    expect(m.ksize(big)).toBe(32768);
    expect(m.read(big, 40)).toEqual(pattern);
    expect(m.read(big + 8000 - 100, 100)).toEqual(tail);
    m.checkInvariants();
  });

  it('the old object is freed when krealloc moves it', () => {
    const m = boot();
    const p = m.kmalloc(100, GFP.KERNEL);
    const q = m.krealloc(p, 200, GFP.KERNEL);
    expect(q).not.toBe(p);
    // The fast path hands out the object freed last: the old one.
    expect(m.kmalloc(100, GFP.KERNEL)).toBe(p);
  });

  it('shrinking, or growing within ksize, keeps the address', () => {
    const m = boot();
    const p = m.kmalloc(100, GFP.KERNEL);
    const pattern = fill(100, (i) => i + 1);
    m.write(p, pattern);
    expect(m.krealloc(p, 128, GFP.KERNEL)).toBe(p);
    expect(m.krealloc(p, 20, GFP.KERNEL)).toBe(p);
    expect(m.ksize(p)).toBe(128);
    expect(m.read(p, 100)).toEqual(pattern);
    const big = m.kmalloc(20000, GFP.KERNEL);
    expect(m.krealloc(big, 9000, GFP.KERNEL)).toBe(big);
    expect(m.krealloc(big, 32768, GFP.KERNEL)).toBe(big);
  });

  it('krealloc(p, 0) frees p and returns ZERO_SIZE_PTR; krealloc(NULL, n) is kmalloc(n)', () => {
    const m = boot();
    const p = m.kmalloc(50, GFP.KERNEL);
    expect(m.krealloc(p, 0, GFP.KERNEL)).toBe(16);
    expect(m.kmalloc(50, GFP.KERNEL)).toBe(p);
    const q = m.krealloc(0, 300, GFP.KERNEL);
    expect(cacheName(m, q)).toBe('kmalloc-512');
    const large = m.kmalloc(10000, GFP.KERNEL);
    const free = freeAndPcp(m);
    expect(m.krealloc(large, 0, GFP.KERNEL)).toBe(16);
    expect(freeAndPcp(m)).toBe(free + 4);
  });

  it('with __GFP_ZERO, growth zeroes the new tail and shrinking zeroes past the new size', () => {
    const m = boot();
    // Leave a dirty object at the head of kmalloc-256's CPU freelist: the growth will land on it.
    const dirty = m.kmalloc(256, GFP.KERNEL);
    m.write(dirty, fill(256, () => 0xee));
    m.kfree(dirty);
    const p = m.kmalloc(64, GFP.KERNEL);
    m.write(p, fill(64, () => 0xff));
    const q = m.krealloc(p, 200, GFP.KERNEL | GFP.ZERO);
    expect(q).toBe(dirty);
    expect(m.read(q, 64)).toEqual(fill(64, () => 0xff));
    expect(m.read(q + 64, 136)).toEqual(new Uint8Array(136));
    // Shrink within the object: the bytes past the new size up to ksize are cleared.
    const r = m.kmalloc(128, GFP.KERNEL);
    m.write(r, fill(128, () => 0xab));
    expect(m.krealloc(r, 50, GFP.KERNEL | GFP.ZERO)).toBe(r);
    expect(m.read(r, 50)).toEqual(fill(50, () => 0xab));
    expect(m.read(r + 50, 78)).toEqual(new Uint8Array(78));
  });
});

describe('ksize, kzalloc, kmalloc_array', () => {
  it('ksize: the class size for kmalloc; object size with red zones or poison; inuse with tracking', () => {
    const m = boot();
    expect(m.ksize(m.kmalloc(100, GFP.KERNEL))).toBe(128);
    const hw = m.kmemCacheCreate('hw100', 100, { flags: SLAB_HWCACHE_ALIGN })!;
    expect(m.ksize(m.kmemCacheAlloc(hw, GFP.KERNEL))).toBe(128);
    const dbg = m.kmemCacheCreate('dbg100', 100, { flags: DEBUG })!;
    expect(m.ksize(m.kmemCacheAlloc(dbg, GFP.KERNEL))).toBe(100);
    const user = m.kmemCacheCreate('user100', 100, { flags: SLAB_STORE_USER })!;
    expect(m.ksize(m.kmemCacheAlloc(user, GFP.KERNEL))).toBe(104);
  });

  it('kzalloc and kcalloc return zeroed memory even where the object was dirty', () => {
    const m = boot();
    const p = m.kmalloc(300, GFP.KERNEL);
    m.write(p, fill(512, () => 0x77));
    m.kfree(p);
    const z = m.kzalloc(300, GFP.KERNEL);
    expect(z).toBe(p);
    expect(m.read(z, 300)).toEqual(new Uint8Array(300));
    m.write(z, fill(512, () => 0x77));
    m.kfree(z);
    const c = m.kcalloc(10, 30, GFP.KERNEL);
    expect(c).toBe(p);
    expect(m.read(c, 300)).toEqual(new Uint8Array(300));
  });

  it('kmalloc_array: NULL on size_t overflow (x86_64), otherwise n * size', () => {
    const m = boot();
    const log = m.dmesg();
    expect(m.kmallocArray(2 ** 40, 2 ** 30, GFP.KERNEL)).toBe(0);
    expect(m.kmallocArray(2 ** 33, 2 ** 31, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toBe(log); // refused before asking anyone: no warning
    const p = m.kmallocArray(3, 100, GFP.KERNEL);
    expect(m.ksize(p)).toBe(512);
    const q = m.kmallocArray(5, 4000, GFP.KERNEL);
    expect(m.ksize(q)).toBe(32768);
  });

  it('kmalloc_array on i386: 2^20 * 2^13 overflows a 32-bit size_t', () => {
    const m = boot({ arch: 'i386', mem: '96M', vmallocSize: '960M' });
    const log = m.dmesg();
    expect(m.kmallocArray(2 ** 20, 2 ** 13, GFP.KERNEL)).toBe(0);
    expect(m.kmallocArray(2 ** 16, 2 ** 16, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toBe(log);
    const p = m.kmallocArray(2 ** 10, 2 ** 3, GFP.KERNEL);
    expect(cacheName(m, p)).toBe('kmalloc-8k');
    m.checkInvariants();
  });
});

// --- huge sizes ---------------------------------------------------------------------------------------------

/**
 * A size above 1 GiB must fail like any order above MAX_PAGE_ORDER. The calls run in a child vitest with a
 * time limit, so that a model that never returns fails this test instead of hanging the whole file.
 */
const HUGE_CHILD = process.env.MMLAB_SLUB_HUGE_CHILD === '1';

describe.runIf(HUGE_CHILD)('huge kmalloc (child)', () => {
  it('huge kmalloc child: kmalloc above 1 GiB and kmalloc_array(2^20, 2^13) return NULL with the order warning', () => {
    const m = boot();
    expect(m.kmalloc(2 ** 31, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toMatch(/order 19 > MAX_PAGE_ORDER \(10\)/);
    // 2^33 bytes does not overflow a 64-bit size_t: it reaches the page allocator, which refuses the order.
    expect(m.kmallocArray(2 ** 20, 2 ** 13, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toMatch(/order 21 > MAX_PAGE_ORDER \(10\)/);
    expect(m.krealloc(m.kmalloc(100, GFP.KERNEL), 3 * 2 ** 30, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    m.checkInvariants();
  });
});

describe.skipIf(HUGE_CHILD)('huge kmalloc', () => {
  it('kmalloc of more than 1 GiB returns NULL with the page allocator\'s order warning (get_order does not overflow)', () => {
    const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(process.execPath, [vitest, 'run', self, '--pool=threads', '-t', 'huge kmalloc child'], {
      env: { ...process.env, MMLAB_SLUB_HUGE_CHILD: '1' }, encoding: 'utf8', timeout: 6000, killSignal: 'SIGKILL',
    });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    expect(r.error?.message ?? '', 'kmalloc(2 GiB) did not return within 6 s').not.toMatch(/ETIMEDOUT|SIGTERM/);
    expect(r.signal, 'kmalloc(2 GiB) did not return within 6 s (killed)').toBeNull();
    expect(r.status, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/1 passed/);
  });
});

// --- geometry against a real slabinfo -------------------------------------------------------------------------

/**
 * name:objsize:objperslab:pagesperslab of every cache in a real 6.18 /proc/slabinfo from a 2-CPU x86_64 guest
 * (shared/samples/proc/slabinfo).
 */
const REAL_SLABINFO = `
btrfs_delayed_node:312:13:1 btrfs_ordered_extent:416:19:2 bio-312:320:12:1 bio-376:384:21:2
btrfs_extent_buffer:240:17:1 btrfs_free_space:104:39:1 bio-392:448:18:2 btrfs_inode:1016:16:4 bio-448:512:16:2
fscrypt_inode_info:120:34:1 AF_VSOCK:1280:12:4 MPTCPv6:2112:15:8 request_sock_subflow_v6:392:20:2
RAWv6:1344:12:4 UDPv6:1472:22:8 tw_sock_TCPv6:256:16:1 request_sock_TCPv6:320:12:1 TCPv6:2496:13:8
xt_hashlimit:120:34:1 nf_conntrack:256:16:1 bio-120:128:32:1 io_kiocb:256:16:1 bfq_io_cq:1232:13:4
bio-248:256:16:1 mqueue_inode_cache:960:17:4 erofs_pcluster-257:4232:7:8 erofs_pcluster-128:2168:15:8
erofs_pcluster-64:1144:14:4 erofs_pcluster-16:376:21:2 erofs_pcluster-4:184:22:1 erofs_pcluster-1:136:30:1
erofs_inode:696:23:4 xfs_xmi_item:248:16:1 xfs_bui_item:208:19:1 xfs_rui_item:688:23:4 xfs_rud_item:176:23:1
xfs_icr:184:22:1 xfs_ili:208:19:1 xfs_inode:1024:16:4 xfs_efi_item:432:18:2 xfs_efd_item:440:18:2
xfs_buf_item:272:15:1 xfs_da_state:480:17:2 xfs_rtrmapbt_cur:456:17:2 xfs_rmapbt_cur:280:14:1
xfs_bmbt_cur:344:23:2 xfs_inobt_cur:216:18:1 xfs_bnobt_cur:232:17:1 xfs_buf:384:21:2 ovl_inode:704:23:4
fuse_request:168:24:1 fuse_inode:896:18:4 squashfs_inode_cache:704:23:4 jbd2_transaction_s:192:21:1
jbd2_journal_head:120:34:1 jbd2_revoke_table_s:16:256:1 ext4_inode_cache:1128:14:4
ext4_allocation_context:168:24:1 ext4_prealloc_space:112:36:1 ext4_io_end:64:64:1 bio_post_read_ctx:48:85:1
pending_reservation:32:128:1 extent_status:40:102:1 mb_cache_entry:56:73:1 kioctx:576:14:2
userfaultfd_ctx_cache:192:21:1 fanotify_perm_event:112:36:1 dnotify_struct:32:128:1 pid_namespace:344:23:2
kvm_vcpu:51488:1:16 kvm_mmu_page_header:184:22:1 x86_emulator:2672:12:8 ip4-frags:200:20:1 MPTCP:1984:16:8
request_sock_subflow_v4:392:20:2 xfrm_dst:320:12:1 xfrm_state:832:19:4 ip_fib_trie:48:85:1 ip_fib_alias:56:73:1
PING:1024:16:4 RAW:1152:14:4 UDP:1344:12:4 tw_sock_TCP:256:16:1 request_sock_TCP:320:12:1 TCP:2368:13:8
hugetlbfs_inode_cache:632:25:4 dquot:256:16:1 bio-264:320:12:1 ep_head:16:256:1 eventpoll_epi:128:32:1
dax_cache:768:21:4 request_queue:984:16:4 blkdev_ioc:88:46:1 bio-184:192:21:1 biovec-max:4096:8:8
biovec-128:2048:16:8 msg_msg-8k:8192:4:8 msg_msg-4k:4096:8:8 msg_msg-2k:2048:16:8 msg_msg-1k:1024:16:4
msg_msg-512:512:16:2 msg_msg-256:256:16:1 msg_msg-128:128:32:1 msg_msg-64:64:64:1 msg_msg-32:32:128:1
msg_msg-16:16:256:1 msg_msg-8:8:512:1 msg_msg-192:192:21:1 msg_msg-96:96:42:1 mm_slot:40:102:1
memdup_user-8k:8192:4:8 memdup_user-4k:4096:8:8 memdup_user-2k:2048:16:8 memdup_user-1k:1024:16:4
memdup_user-512:512:16:2 memdup_user-256:256:16:1 memdup_user-128:128:32:1 memdup_user-64:64:64:1
memdup_user-32:32:128:1 memdup_user-16:16:256:1 memdup_user-8:8:512:1 memdup_user-192:192:21:1
memdup_user-96:96:42:1 user_namespace:672:12:2 uid_cache:128:32:1 iommu_iova_magazine:1024:16:4
dmaengine-unmap-2:64:64:1 sock_inode_cache:832:19:4 skbuff_small_head:576:14:2 skbuff_head_cache:256:16:1
tracefs_inode_cache:656:12:2 debugfs_inode_cache:640:12:2 file_lease_cache:160:25:1 file_lock_cache:192:21:1
buffer_head:104:39:1 task_delay_info:256:16:1 taskstats:560:14:2 mem_cgroup:2240:14:8 pidfs_xattr_cache:16:256:1
pidfs_attr_cache:32:128:1 proc_dir_entry:192:21:1 pde_opener:40:102:1 proc_inode_cache:696:23:4
seq_file:120:34:1 sigqueue:80:51:1 bdev_cache:1536:21:8 shmem_inode_cache:752:21:4 kernfs_node_cache:136:30:1
mnt_cache:384:21:2 bfilp:256:16:1 filp:192:21:1 inode_cache:624:13:2 dentry:192:21:1 names_cache:4096:8:8
net_namespace:4288:7:8 lsm_inode_cache:32:128:1 lsm_file_cache:24:170:1 key_jar:256:16:1 uts_namespace:488:16:2
nsproxy:72:56:1 vm_area_struct:192:21:1 files_cache:704:23:4 signal_cache:1152:14:4 sighand_cache:2112:15:8
task_struct:5888:5:8 anon_vma_chain:64:64:1 anon_vma:104:39:1 pid:192:21:1 Acpi-State:80:51:1
shared_policy_node:48:85:1 numa_policy:288:14:1 perf_event:1352:12:4 trace_event_file:96:42:1
ftrace_event_field:56:73:1 pool_workqueue:512:16:2 radix_tree_node:584:14:2 task_group:704:23:4
maple_node:256:16:1 mm_struct:1600:20:8 vmap_area:72:56:1 kmalloc_buckets:112:36:1 kmalloc-cg-8k:8192:4:8
kmalloc-cg-4k:4096:8:8 kmalloc-cg-2k:2048:16:8 kmalloc-cg-1k:1024:16:4 kmalloc-cg-512:512:16:2
kmalloc-cg-256:256:16:1 kmalloc-cg-128:128:32:1 kmalloc-cg-64:64:64:1 kmalloc-cg-32:32:128:1
kmalloc-cg-16:16:256:1 kmalloc-cg-8:8:512:1 kmalloc-cg-192:192:21:1 kmalloc-cg-96:96:42:1
dma-kmalloc-8k:8192:4:8 dma-kmalloc-4k:4096:8:8 dma-kmalloc-2k:2048:16:8 dma-kmalloc-1k:1024:16:4
dma-kmalloc-512:512:16:2 dma-kmalloc-256:256:16:1 dma-kmalloc-128:128:32:1 dma-kmalloc-64:64:64:1
dma-kmalloc-32:32:128:1 dma-kmalloc-16:16:256:1 dma-kmalloc-8:8:512:1 dma-kmalloc-192:192:21:1
dma-kmalloc-96:96:42:1 kmalloc-rcl-8k:8192:4:8 kmalloc-rcl-4k:4096:8:8 kmalloc-rcl-2k:2048:16:8
kmalloc-rcl-1k:1024:16:4 kmalloc-rcl-512:512:16:2 kmalloc-rcl-256:256:16:1 kmalloc-rcl-128:128:32:1
kmalloc-rcl-64:64:64:1 kmalloc-rcl-32:32:128:1 kmalloc-rcl-16:16:256:1 kmalloc-rcl-8:8:512:1
kmalloc-rcl-192:192:21:1 kmalloc-rcl-96:96:42:1 kmalloc-8k:8192:4:8 kmalloc-4k:4096:8:8 kmalloc-2k:2048:16:8
kmalloc-1k:1024:16:4 kmalloc-512:512:16:2 kmalloc-256:256:16:1 kmalloc-128:128:32:1 kmalloc-64:64:64:1
kmalloc-32:32:128:1 kmalloc-16:16:256:1 kmalloc-8:8:512:1 kmalloc-192:192:21:1 kmalloc-96:96:42:1
kmem_cache_node:128:32:1 kmem_cache:256:16:1
`;

function realSlabinfo(): Array<{ name: string; size: number; objects: number; pages: number }> {
  return REAL_SLABINFO.trim().split(/\s+/).map((item) => {
    const [name, size, objects, pages] = item.split(':');
    return { name, size: Number(size), objects: Number(objects), pages: Number(pages) };
  });
}

/** The kmalloc rows of the same file, as printed. */
const REAL_KMALLOC_ROWS = `
vmap_area 72 56 1|kmalloc-cg-8k 8192 4 8|kmalloc-cg-4k 4096 8 8|kmalloc-cg-2k 2048 16 8|kmalloc-cg-1k 1024 16 4|kmalloc-cg-512 512 16 2
kmalloc-cg-256 256 16 1|kmalloc-cg-128 128 32 1|kmalloc-cg-64 64 64 1|kmalloc-cg-32 32 128 1|kmalloc-cg-16 16 256 1
kmalloc-cg-8 8 512 1|kmalloc-cg-192 192 21 1|kmalloc-cg-96 96 42 1|dma-kmalloc-8k 8192 4 8|dma-kmalloc-4k 4096 8 8
dma-kmalloc-2k 2048 16 8|dma-kmalloc-1k 1024 16 4|dma-kmalloc-512 512 16 2|dma-kmalloc-256 256 16 1
dma-kmalloc-128 128 32 1|dma-kmalloc-64 64 64 1|dma-kmalloc-32 32 128 1|dma-kmalloc-16 16 256 1
dma-kmalloc-8 8 512 1|dma-kmalloc-192 192 21 1|dma-kmalloc-96 96 42 1|kmalloc-rcl-8k 8192 4 8
kmalloc-rcl-4k 4096 8 8|kmalloc-rcl-2k 2048 16 8|kmalloc-rcl-1k 1024 16 4|kmalloc-rcl-512 512 16 2
kmalloc-rcl-256 256 16 1|kmalloc-rcl-128 128 32 1|kmalloc-rcl-64 64 64 1|kmalloc-rcl-32 32 128 1
kmalloc-rcl-16 16 256 1|kmalloc-rcl-8 8 512 1|kmalloc-rcl-192 192 21 1|kmalloc-rcl-96 96 42 1
kmalloc-8k 8192 4 8|kmalloc-4k 4096 8 8|kmalloc-2k 2048 16 8|kmalloc-1k 1024 16 4|kmalloc-512 512 16 2
kmalloc-256 256 16 1|kmalloc-128 128 32 1|kmalloc-64 64 64 1|kmalloc-32 32 128 1|kmalloc-16 16 256 1
kmalloc-8 8 512 1|kmalloc-192 192 21 1|kmalloc-96 96 42 1|kmem_cache_node 128 32 1|kmem_cache 256 16 1
`;

describe('slab geometry: a 2-CPU x86_64 machine against a real 6.18 /proc/slabinfo', () => {
  const rows = REAL_KMALLOC_ROWS.trim().split(/[|\n]/).map((r) => r.trim().split(' '));

  it('every kmalloc cache (and kmem_cache, kmem_cache_node) has the real objsize, objperslab and pagesperslab', () => {
    const m = boot({ nrCpus: 2 });
    for (const [name, size, objects, pages] of rows) {
      const s = m.kmemCache(name);
      expect(s, name).toBeDefined();
      expect([name, s!.size, s!.objects, 1 << s!.order]).toEqual([name, Number(size), Number(objects), Number(pages)]);
    }
    // The boot made exactly these caches (vmap_area last, by vmalloc_init), and slabinfo lists them in the real file's order (newest first).
    const listed = m.proc('slabinfo').split('\n').slice(2).filter(Boolean).map((l) => l.split(/\s+/));
    expect(listed.map((l) => l[0])).toEqual(rows.map((r) => r[0]));
    for (const l of listed) {
      const row = rows.find((r) => r[0] === l[0])!;
      expect([l[0], l[3], l[4], l[5]]).toEqual(row);
    }
  });

  it('caches made like dentry, inode_cache and buffer_head get the real geometry', () => {
    const m = boot({ nrCpus: 2 });
    const dentry = m.kmemCacheCreate('dentry', 192, { flags: SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN })!;
    expect([dentry.size, dentry.objects, 1 << dentry.order]).toEqual([192, 21, 1]);
    const inode = m.kmemCacheCreate('inode_cache', 624, { flags: SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT })!;
    expect([inode.size, inode.objects, 1 << inode.order]).toEqual([624, 13, 2]);
    const bh = m.kmemCacheCreate('buffer_head', 104, { flags: SLAB_RECLAIM_ACCOUNT })!;
    expect([bh.size, bh.objects, 1 << bh.order]).toEqual([104, 39, 1]);
    // Hardware-cache alignment halves the line while two objects still fit: 24 -> 32, 40 -> 64.
    expect(m.kmemCacheCreate('hw24', 24, { flags: SLAB_HWCACHE_ALIGN })!.size).toBe(32);
    expect(m.kmemCacheCreate('hw40', 40, { flags: SLAB_HWCACHE_ALIGN })!.size).toBe(64);
  });

  it('a cache of each real objsize gets that row\'s objperslab and pagesperslab (calculate_order)', () => {
    const m = boot({ nrCpus: 2 });
    const real = realSlabinfo();
    expect(real.length).toBeGreaterThan(150);
    for (const r of real) {
      const s = m.kmemCacheCreate(`x-${r.name}`, r.size)!;
      expect([r.name, s.size, s.objects, 1 << s.order]).toEqual([r.name, r.size, r.objects, r.pages]);
    }
  });

  it('the CPU count changes the order: min_objects = 4 * (fls(nr_cpus) + 1)', () => {
    // One CPU: min_objects 8, so kmalloc-1k needs only 2 pages (8 objects); 64 CPUs: 32 objects, 8 pages.
    expect(boot({ nrCpus: 1 }).kmemCache('kmalloc-1k')!.order).toBe(1);
    const big = boot({ nrCpus: 64 }).kmemCache('kmalloc-1k')!;
    expect([big.objects, 1 << big.order]).toEqual([32, 8]);
  });
});

// --- order fallback -------------------------------------------------------------------------------------------

describe('order fallback', () => {
  it('with no order-3 block left, kmalloc(4096) falls back to an order-0 slab of one object', () => {
    const m = boot();
    // Take every page (the reserves too), then give back every other one: only order-0 blocks are free.
    const held = [...exhaust(m), ...exhaust(m, GFP.KERNEL | GFP.NOWARN | GFP.MEMALLOC)];
    held.sort((a, b) => a - b);
    for (const pfn of held) if (pfn & 1) m.freePages(pfn, 0);
    m.drainAllPages();
    for (const z of m.zones) expect(Array.from(z.nrFree).slice(1).every((n) => n === 0)).toBe(true);
    const s = m.kmemCache('kmalloc-4k')!;
    expect(s.order).toBe(3);
    expect(s.minOrder).toBe(0);
    const log = m.dmesg();
    const p = m.kmalloc(4096, GFP.KERNEL);
    expect(p).not.toBe(0);
    expect(s.stat.orderFallback).toBe(1);
    const slab = m.slub.objToSlab(p);
    expect(m.slub.slabOrder(slab)).toBe(0);
    expect(m.slub.objectsOf(slab)).toBe(1);
    expect(m.ksize(p)).toBe(4096);
    expect(m.dmesg()).toBe(log); // the first, high-order attempt is __GFP_NOWARN
    // A second one needs another order-0 slab.
    const q = m.kmalloc(4096, GFP.KERNEL);
    expect(m.slub.objToSlab(q)).not.toBe(slab);
    expect(s.stat.orderFallback).toBe(2);
    expect(s.nrSlabs).toBe(2);
    expect(s.totalObjects).toBe(2);
    m.checkInvariants();
  });

  it('without fragmentation the same request gets the preferred order-3 slab of 8', () => {
    const m = boot();
    const p = m.kmalloc(4096, GFP.KERNEL);
    const slab = m.slub.objToSlab(p);
    expect([m.slub.slabOrder(slab), m.slub.objectsOf(slab)]).toEqual([3, 8]);
    expect(m.kmemCache('kmalloc-4k')!.stat.orderFallback).toBe(0);
  });
});

// --- partial lists and shrinking --------------------------------------------------------------------------------

describe('partial lists', () => {
  it('slabs join the partial list on a free, empty ones go back once min_partial are kept, shrink frees the rest', () => {
    const m = boot();
    const c = m.kmemCacheCreate('part64', 64)!;
    expect([c.objects, c.order, c.minPartial]).toEqual([64, 0, 5]);
    const objs = Array.from({ length: 64 * 8 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    const by = objectsBySlab(m, objs);
    expect(by.size).toBe(8);
    expect([c.nrSlabs, c.nrPartial, c.totalObjects]).toEqual([8, 0, 512]);
    const cpuSlab = c.cpuSlab[0];
    expect(by.has(cpuSlab)).toBe(true);
    const others = [...by.keys()].filter((s) => s !== cpuSlab);

    // A free to a full slab that is not the CPU's puts it on the partial list.
    m.kmemCacheFree(c, by.get(others[0])![0]);
    expect(c.nrPartial).toBe(1);
    expect(c.stat.freeSlowpath).toBe(1);
    // A free to the CPU slab goes to the head of the CPU freelist, without the slow path.
    const onCpu = by.get(cpuSlab)![0];
    m.kmemCacheFree(c, onCpu);
    expect(c.nrPartial).toBe(1);
    expect(c.cpuFreelist[0]).toBe(onCpu);
    expect(c.stat.freeSlowpath).toBe(1);

    // Emptied while fewer than min_partial slabs are partial: it stays, empty, on the list.
    for (const o of by.get(others[0])!.slice(1)) m.kmemCacheFree(c, o);
    expect([c.nrSlabs, c.nrPartial]).toEqual([8, 1]);
    expect(m.slub.inuseOf(others[0])).toBe(0);
    for (const s of others.slice(1, 5)) m.kmemCacheFree(c, by.get(s)![0]);
    expect(c.nrPartial).toBe(5);

    // Now an emptied slab goes back to the page allocator.
    m.drainAllPages();
    const free = freeAndPcp(m);
    for (const o of by.get(others[5])!) m.kmemCacheFree(c, o);
    expect([c.nrSlabs, c.nrPartial, c.totalObjects]).toEqual([7, 5, 448]);
    expect(m.slub.cacheOfPage(others[5])).toBeUndefined();
    expect(freeAndPcp(m)).toBe(free + 1);
    expect(c.stat.freeSlab).toBe(1);
    m.checkInvariants();

    // kmem_cache_shrink: the CPU slab goes to the node and the empty partial slab is freed.
    expect(m.kmemCacheShrink(c)).toBe(1);
    expect(c.cpuSlab[0]).toBe(NO_PAGE);
    expect(m.slub.cacheOfPage(others[0])).toBeUndefined();
    expect([c.nrSlabs, c.nrPartial]).toEqual([6, 5]);
    expect(freeAndPcp(m)).toBe(free + 2);
    m.checkInvariants();

    // The next allocations come from the partial slabs (one free object each), not from new slabs.
    const slabsBefore = c.stat.allocSlab;
    for (let i = 0; i < 5; i++) m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(c.stat.allocSlab).toBe(slabsBefore);
    expect(c.stat.allocFromPartial).toBe(5);
    expect([c.nrSlabs, c.nrPartial]).toEqual([6, 0]);
    m.checkInvariants();
  });

  it('an object freed on another CPU goes to its slab, and the owning CPU finds it when its freelist runs out', () => {
    const m = boot();
    const c = m.kmemCacheCreate('remote', 512)!; // 16 per 2-page slab
    const objs = Array.from({ length: 16 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    const slab = c.cpuSlab[0];
    expect(objectsBySlab(m, objs).size).toBe(1);
    const other = m.sched.createTask('kworker/1:0', 1);
    const init = m.current;
    m.sched.switchTo(other);
    m.kmemCacheFree(c, objs[3]);
    m.kmemCacheFree(c, objs[9]);
    expect(c.nrPartial).toBe(0); // the slab is still CPU 0's
    m.sched.switchTo(init);
    const again = [m.kmemCacheAlloc(c, GFP.KERNEL), m.kmemCacheAlloc(c, GFP.KERNEL)];
    expect(new Set(again)).toEqual(new Set([objs[3], objs[9]]));
    expect(c.cpuSlab[0]).toBe(slab);
    expect(c.nrSlabs).toBe(1);
    m.checkInvariants();
  });

  it('kmem_cache_shrink returns every page it freed, the CPU slabs\' included', () => {
    const m = boot();
    const c = m.kmemCacheCreate('shrink64', 64)!;
    const objs = Array.from({ length: 64 * 7 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    const by = objectsBySlab(m, objs);
    const cpuSlab = c.cpuSlab[0];
    const others = [...by.keys()].filter((s) => s !== cpuSlab);
    for (const s of others) m.kmemCacheFree(c, by.get(s)![0]); // six partial slabs, none empty
    for (const o of by.get(cpuSlab)!) m.kmemCacheFree(c, o); // the CPU slab is empty
    m.drainAllPages();
    const free = freeAndPcp(m);
    const freed = m.kmemCacheShrink(c);
    expect(freeAndPcp(m) - free).toBe(1);
    expect(freed).toBe(1);
  });
});

// --- destroy ----------------------------------------------------------------------------------------------------

describe('kmem_cache_destroy', () => {
  it('with live objects: false, the kernel report with each object, and the cache keeps working', () => {
    const m = boot({ strict: false });
    const c = m.kmemCacheCreate('leaky', 128)!;
    const live = [m.kmemCacheAlloc(c, GFP.KERNEL), m.kmemCacheAlloc(c, GFP.KERNEL), m.kmemCacheAlloc(c, GFP.KERNEL)];
    m.kmemCacheFree(c, live[1]);
    expect(m.kmemCacheDestroy(c)).toBe(false);
    const lines = dmesgLines(m);
    expect(lines).toContain('BUG leaky (Not tainted): Objects remaining on __kmem_cache_shutdown()');
    const base = m.pageAddress(m.slub.objToSlab(live[0]));
    for (const o of [live[0], live[2]]) expect(lines).toContain(`Object 0x${m.formatAddr(o)} @offset=${o - base}`);
    expect(lines.some((l) => l.includes(`Object 0x${m.formatAddr(live[1])}`))).toBe(false);
    expect(lines.some((l) => l.startsWith('kmem_cache_destroy leaky: Slab cache still has objects when called from'))).toBe(true);
    expect(m.kmemCache('leaky')).toBe(c);
    expect(m.proc('slabinfo')).toMatch(/^leaky /m);
    // Still a working cache.
    const more = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(cacheName(m, more)).toBe('leaky');
    m.checkInvariants();
    for (const o of [live[0], live[2], more]) m.kmemCacheFree(c, o);
    expect(m.kmemCacheDestroy(c)).toBe(true);
    expect(m.kmemCache('leaky')).toBeUndefined();
    expect(m.proc('slabinfo')).not.toMatch(/^leaky /m);
    m.checkInvariants();
  });

  it('in strict mode the report throws', () => {
    const m = boot();
    const c = m.kmemCacheCreate('leaky', 128)!;
    m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(() => m.kmemCacheDestroy(c)).toThrow(KernelReport);
    expect(m.kmemCache('leaky')).toBe(c);
    m.checkInvariants();
  });

  it('an emptied cache is destroyed, its slab pages and its struct go back', () => {
    const m = boot();
    m.drainAllPages();
    const free = freeAndPcp(m);
    const slabinfo = m.proc('slabinfo');
    const c = m.kmemCacheCreate('tmp', 700)!;
    const objs = Array.from({ length: 50 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    expect(c.nrSlabs).toBeGreaterThan(1);
    for (const o of objs) m.kmemCacheFree(c, o);
    expect(m.kmemCacheDestroy(c)).toBe(true);
    m.drainAllPages();
    expect(freeAndPcp(m)).toBe(free);
    expect(m.proc('slabinfo')).toBe(slabinfo);
    m.checkInvariants();
  });
});

// --- slub_debug ---------------------------------------------------------------------------------------------------

interface DebugSetup {
  label: string;
  boot: () => Machine;
  /** The cache under test, its object size, an allocation, a free, and a different cache for the wrong free. */
  make: (m: Machine) => { cache: string; size: number; alloc: () => number; free: (p: number) => void; wrong: (p: number) => void; wrongName: string };
}

const SETUPS: DebugSetup[] = [
  {
    label: 'a cache created with SLAB_RED_ZONE|SLAB_POISON|SLAB_STORE_USER|SLAB_CONSISTENCY_CHECKS',
    boot: () => boot(),
    make: (m) => {
      const c = m.kmemCacheCreate('dbg', 100, { flags: DEBUG })!;
      const other = m.kmemCacheCreate('other', 100, { flags: DEBUG })!;
      return {
        cache: 'dbg', size: 100, wrongName: 'other',
        alloc: () => m.kmemCacheAlloc(c, GFP.KERNEL), free: (p) => m.kmemCacheFree(c, p), wrong: (p) => m.kmemCacheFree(other, p),
      };
    },
  },
  {
    label: 'kmalloc-64 under slub_debug=FZPU',
    boot: () => boot({ slubDebug: 'FZPU' }),
    make: (m) => ({
      cache: 'kmalloc-64', size: 64, wrongName: 'kmalloc-128',
      alloc: () => m.kmalloc(64, GFP.KERNEL), free: (p) => m.kfree(p), wrong: (p) => m.kmemCacheFree(m.kmemCache('kmalloc-128')!, p),
    }),
  },
];

interface Misuse {
  what: string;
  /** Set up, then return the call that the allocator must catch, and the address the report must name. */
  prepare: (m: Machine, t: ReturnType<DebugSetup['make']>) => { bad: () => void; addr: number };
  /** The report's BUG line after 'BUG <cache> (Not tainted): ', or the whole warning line. */
  report: (t: ReturnType<DebugSetup['make']>, m: Machine, addr: number) => string;
}

const MISUSES: Misuse[] = [
  {
    what: 'double free',
    prepare: (m, t) => {
      const p = t.alloc();
      t.free(p);
      return { bad: () => t.free(p), addr: p };
    },
    report: (t) => `BUG ${t.cache} (Not tainted): Object already free`,
  },
  {
    what: 'free to the wrong cache',
    prepare: (m, t) => {
      const p = t.alloc();
      return { bad: () => t.wrong(p), addr: p };
    },
    report: (t) => `cache_from_obj: Wrong slab cache. ${t.wrongName} but object is from ${t.cache}`,
  },
  {
    what: 'a write past the object end, then free',
    prepare: (m, t) => {
      const p = t.alloc();
      m.write(p + t.size, Uint8Array.of(0x41));
      return { bad: () => t.free(p), addr: p };
    },
    report: (t) => `BUG ${t.cache} (Not tainted): Right Redzone overwritten`,
  },
  {
    what: 'a write before the object, then free',
    prepare: (m, t) => {
      const p = t.alloc();
      m.write(p - 1, Uint8Array.of(0x41));
      return { bad: () => t.free(p), addr: p };
    },
    report: (t) => `BUG ${t.cache} (Not tainted): Left Redzone overwritten`,
  },
  {
    what: 'a write into a freed object, then allocate',
    prepare: (m, t) => {
      const p = t.alloc();
      t.free(p);
      m.write(p + 8, Uint8Array.of(0x41));
      return { bad: () => void t.alloc(), addr: p };
    },
    report: (t) => `BUG ${t.cache} (Not tainted): Poison overwritten`,
  },
  {
    what: 'a pointer inside an object',
    prepare: (m, t) => {
      const p = t.alloc();
      return { bad: () => t.free(p + 8), addr: p + 8 };
    },
    report: (t, m, addr) => `BUG ${t.cache} (Not tainted): Invalid object pointer 0x${m.formatAddr(addr)}`,
  },
];

describe('slub_debug detections', () => {
  for (const setup of SETUPS) {
    describe(setup.label, () => {
      for (const mis of MISUSES) {
        it(`${mis.what}: reported in the kernel's words; strict mode throws and leaves the state as it was`, () => {
          const m = setup.boot();
          const t = setup.make(m);
          const keep = t.alloc(); // a neighbour that must survive
          m.write(keep, fill(t.size, (i) => i));
          const { bad, addr } = mis.prepare(m, t);
          const slabinfo = m.proc('slabinfo');
          const free = freeAndPcp(m);
          let thrown: unknown;
          try {
            bad();
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toBeInstanceOf(KernelReport);
          const want = mis.report(t, m, addr);
          expect((thrown as KernelReport).lines).toContain(want);
          expect(dmesgLines(m)).toContain(want);
          if (mis.what !== 'free to the wrong cache') {
            // The report names the object (or the bad pointer).
            expect(m.dmesg()).toContain(`0x${m.formatAddr(addr)}`);
          }
          expect(m.proc('slabinfo')).toBe(slabinfo);
          expect(freeAndPcp(m)).toBe(free);
          expect(m.read(keep, t.size)).toEqual(fill(t.size, (i) => i));
          m.checkInvariants();
        });

        it(`${mis.what}: in non-strict mode the report is logged and the allocator stays consistent and usable`, () => {
          const m = setup.boot();
          m.printk.strict = false;
          const t = setup.make(m);
          const { bad, addr } = mis.prepare(m, t);
          bad();
          expect(dmesgLines(m)).toContain(mis.report(t, m, addr));
          m.checkInvariants();
          const before = m.dmesg();
          const ps = Array.from({ length: 30 }, () => t.alloc());
          expect(ps.every((p) => p > 16)).toBe(true);
          for (const p of ps) t.free(p);
          expect(m.dmesg()).toBe(before); // no further reports: the corruption was repaired or refused
          m.checkInvariants();
        });
      }
    });
  }

  it('a freed object is poisoned 0x6b ... 0xa5 and its red zones hold 0xbb; a live one 0xcc', () => {
    const m = boot();
    const c = m.kmemCacheCreate('dbg', 100, { flags: DEBUG })!;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(m.read(p - 8, 8)).toEqual(fill(8, () => 0xcc));
    expect(m.read(p + 100, 4)).toEqual(fill(4, () => 0xcc));
    m.kmemCacheFree(c, p);
    expect(m.read(p, 99)).toEqual(fill(99, () => 0x6b));
    expect(m.read(p + 99, 1)).toEqual(Uint8Array.of(0xa5));
    expect(m.read(p - 8, 8)).toEqual(fill(8, () => 0xbb));
    expect(m.read(p + 100, 4)).toEqual(fill(4, () => 0xbb));
  });

  it('the alloc and free tracks record the CPU and pid of the caller (SLAB_STORE_USER)', () => {
    const m = boot({ strict: false });
    const c = m.kmemCacheCreate('dbg', 100, { flags: DEBUG })!;
    const task = m.sched.createTask('kworker/1:1', 1);
    m.sched.switchTo(task);
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    m.kmemCacheFree(c, p);
    m.kmemCacheFree(c, p);
    const lines = dmesgLines(m);
    expect(lines).toContain('BUG dbg (Not tainted): Object already free');
    // print_track(): "%s in %pS age=%lu cpu=%u pid=%d" (6.x prints it without the old "INFO: " prefix).
    const track = (what: string) => lines.find((l) => new RegExp(`^(INFO: )?${what} in `).test(l));
    expect(track('Allocated')).toMatch(new RegExp(`age=\\d+ cpu=1 pid=${task.pid}$`));
    expect(track('Freed')).toMatch(new RegExp(`age=\\d+ cpu=1 pid=${task.pid}$`));
  });

  it('a report on an object never freed has no "Freed in" track, and the tracks read as 6.x prints them', () => {
    // init_tracking() zeroes both tracks when the slab is set up and print_track() skips an empty one.
    const m = boot({ strict: false });
    const c = m.kmemCacheCreate('dbg', 100, { flags: DEBUG })!;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    m.write(p + 100, Uint8Array.of(0x41));
    m.kmemCacheFree(c, p);
    const lines = dmesgLines(m);
    expect(lines).toContain('BUG dbg (Not tainted): Right Redzone overwritten');
    expect(lines.filter((l) => l.includes('Freed in'))).toEqual([]);
    expect(lines.some((l) => /^Allocated in \S+ age=\d+ cpu=0 pid=1$/.test(l))).toBe(true);
  });

  it('a slab whose free object fails the allocation checks is taken out of use; the corrupted object is not handed out', () => {
    // alloc_debug_processing(): after "Poison overwritten" the slab is marked full ("Marking all objects
    // used") and the allocation is served from another slab.
    const m = boot({ strict: false });
    const c = m.kmemCacheCreate('dbg', 100, { flags: DEBUG })!;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    m.kmemCacheFree(c, p);
    m.write(p + 8, Uint8Array.of(0x41));
    const q = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(dmesgLines(m)).toContain('BUG dbg (Not tainted): Poison overwritten');
    expect(dmesgLines(m)).toContain('FIX dbg: Marking all objects used');
    expect(q).not.toBe(0);
    expect(q).not.toBe(p);
    expect(m.slub.objToSlab(q)).not.toBe(m.slub.objToSlab(p));
  });

  it('kmalloc keeps its alignment guarantee under slub_debug: power-of-two sizes are naturally aligned', () => {
    // create_boot_cache(): kmalloc caches align to the largest power-of-two divisor of their size, "regardless
    // of SL*B debugging options", so red zones and tracking must not shift the objects.
    for (const slubDebug of ['', 'FZPU', 'Z']) {
      const m = boot({ slubDebug });
      for (const size of [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]) {
        for (let i = 0; i < 3; i++) {
          const p = m.kmalloc(size, GFP.KERNEL);
          expect(p % size, `slub_debug='${slubDebug}' kmalloc(${size}) = 0x${p.toString(16)}`).toBe(0);
        }
      }
      const p96 = m.kmalloc(96, GFP.KERNEL);
      expect(p96 % 32, `slub_debug='${slubDebug}' kmalloc(96)`).toBe(0);
    }
  });
});

// --- pfmemalloc -------------------------------------------------------------------------------------------------

describe('pfmemalloc slabs', () => {
  /** A machine whose free memory is below every min watermark, and a cache made before that. */
  function belowMin(): { m: Machine; c: KmemCache; held: number[] } {
    const m = boot();
    const c = m.kmemCacheCreate('reserve256', 256)!;
    const held = exhaust(m);
    // GFP_KERNEL's first zone is at its min watermark; the lower ones are kept at min + lowmem_reserve.
    const top = m.zones.filter((z) => z.managed > 0).at(-1)!;
    expect(top.freePages).toBeLessThanOrEqual(top.wmarkMin());
    return { m, c, held };
  }

  it('a PF_MEMALLOC task below the min watermark fills a slab from the reserve: PG_PFMEMALLOC', () => {
    const { m, c } = belowMin();
    // An ordinary caller cannot get a slab now.
    const other = m.kmemCacheCreate('ordinary', 256);
    expect(other).toBeDefined();
    expect(m.kmemCacheAlloc(other!, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    const flags = m.memallocNoreclaimSave();
    const objs = Array.from({ length: 5 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    m.memallocNoreclaimRestore(flags);
    expect(objs.every((o) => o !== 0)).toBe(true);
    const slab = m.slub.objToSlab(objs[0]);
    expect(objectsBySlab(m, objs).size).toBe(1);
    expect(m.mm.flags[slab] & PG_PFMEMALLOC).toBe(PG_PFMEMALLOC);
    m.checkInvariants();
  });

  it('once the reserve slab is on the partial list, ordinary allocations on any CPU never get its objects', () => {
    const { m, c, held } = belowMin();
    const flags = m.memallocNoreclaimSave();
    const objs = Array.from({ length: 6 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    const reserve = m.slub.objToSlab(objs[0]);
    // The PF_MEMALLOC task gives some back.
    m.kmemCacheFree(c, objs[1]);
    m.kmemCacheFree(c, objs[4]);
    m.memallocNoreclaimRestore(flags);
    m.kmemCacheShrink(c); // flush the CPU slab: the reserve slab, with free objects, joins the partial list
    expect(c.nrPartial).toBe(1);
    for (const pfn of held.splice(0, 300)) m.freePages(pfn, 0);
    const cpu1 = m.sched.createTask('kworker/1:0', 1);
    const got: number[] = [];
    for (const task of [m.current, cpu1]) {
      m.sched.switchTo(task);
      for (let i = 0; i < 40; i++) got.push(m.kmemCacheAlloc(c, GFP.KERNEL));
    }
    expect(got.every((o) => o !== 0)).toBe(true);
    expect(got.filter((o) => m.slub.objToSlab(o) === reserve)).toEqual([]);
    expect(m.slub.inuseOf(reserve)).toBe(4);
    m.checkInvariants();
  });

  it('a PF_MEMALLOC context fills a reserve slab; ordinary GFP_KERNEL allocations afterwards never get its objects', () => {
    // The acceptance. Filling the slab empties the CPU freelist, so the next ordinary allocation
    // takes the slow path, where pfmemalloc_match() deactivates the reserve slab; objects freed to it later
    // land on the partial list, which ordinary callers skip.
    const { m, c, held } = belowMin();
    const flags = m.memallocNoreclaimSave();
    const first = m.kmemCacheAlloc(c, GFP.KERNEL);
    const reserve = m.slub.objToSlab(first);
    expect(m.mm.flags[reserve] & PG_PFMEMALLOC).toBe(PG_PFMEMALLOC);
    const objs = [first, ...Array.from({ length: m.slub.objectsOf(reserve) - 1 }, () => m.kmemCacheAlloc(c, GFP.KERNEL))];
    expect(objs.every((o) => m.slub.objToSlab(o) === reserve)).toBe(true);
    m.memallocNoreclaimRestore(flags);
    for (const pfn of held.splice(0, 300)) m.freePages(pfn, 0);
    const got = Array.from({ length: 40 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    // The PF_MEMALLOC task frees part of its slab back; ordinary traffic still never sees those objects.
    const again = m.memallocNoreclaimSave();
    for (const o of objs.slice(0, 5)) m.kmemCacheFree(c, o);
    m.memallocNoreclaimRestore(again);
    got.push(...Array.from({ length: 40 }, () => m.kmemCacheAlloc(c, GFP.KERNEL)));
    expect(got.every((o) => o !== 0)).toBe(true);
    expect(got.filter((o) => m.slub.objToSlab(o) === reserve).map((o) => `0x${m.formatAddr(o)}`)).toEqual([]);
    m.checkInvariants();
  });

  it('mainline\'s hole: free objects left on the CPU freelist of a reserve slab go to the next caller on that CPU', () => {
    // slab_alloc_node()'s lockless fast path does not look at pfmemalloc (mm/slub.c: "we are losing the
    // pfmemalloc information"); the model keeps that, so reserve designs can be compared against it.
    const { m, c } = belowMin();
    const flags = m.memallocNoreclaimSave();
    const objs = Array.from({ length: 3 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    const reserve = m.slub.objToSlab(objs[0]);
    m.memallocNoreclaimRestore(flags);
    const ordinary = m.kmemCacheAlloc(c, GFP.KERNEL);
    expect(m.slub.objToSlab(ordinary)).toBe(reserve);
  });

  it('an unentitled caller that gets a fresh pfmemalloc slab receives one object and the slab is deactivated', () => {
    const m = boot();
    const c = m.kmemCacheCreate('mismatch', 256)!;
    // The page allocator hands out a reserve page, as it would have under ALLOC_NO_WATERMARKS.
    const alloc = m.pa.allocPages.bind(m.pa);
    const spy = vi.spyOn(m.pa, 'allocPages').mockImplementation((gfp: number, order: number) => {
      const pfn = alloc(gfp, order);
      if (pfn !== NO_PAGE) m.mm.flags[pfn] |= PG_PFMEMALLOC;
      return pfn;
    });
    const p = m.kmemCacheAlloc(c, GFP.KERNEL);
    spy.mockRestore();
    const reserve = m.slub.objToSlab(p);
    expect(m.mm.flags[reserve] & PG_PFMEMALLOC).toBe(PG_PFMEMALLOC);
    expect(c.stat.pfmemallocMismatch).toBe(1);
    expect(c.cpuSlab[0]).toBe(NO_PAGE);
    expect(m.slub.inuseOf(reserve)).toBe(1);
    expect(c.nrPartial).toBe(1);
    // The next ordinary allocations skip it and build a normal slab.
    const next = Array.from({ length: 20 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    expect(next.filter((o) => m.slub.objToSlab(o) === reserve)).toEqual([]);
    expect(m.mm.flags[m.slub.objToSlab(next[0])] & PG_PFMEMALLOC).toBe(0);
    expect(m.slub.inuseOf(reserve)).toBe(1);
    // An entitled caller may use it.
    const flags = m.memallocNoreclaimSave();
    m.kmemCacheShrink(c);
    const own = Array.from({ length: 20 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    m.memallocNoreclaimRestore(flags);
    expect(own.some((o) => m.slub.objToSlab(o) === reserve)).toBe(true);
    m.checkInvariants();
  });
});

// --- failures ---------------------------------------------------------------------------------------------------

describe('slab allocation failure', () => {
  it('warns "SLUB: Unable to allocate memory" with the cache, unless __GFP_NOWARN', () => {
    const m = boot({ strict: false });
    exhaust(m);
    expect(m.kmalloc(1000, GFP.KERNEL)).toBe(0);
    const lines = dmesgLines(m);
    expect(lines).toContain('  cache: kmalloc-1k, object size: 1024, buffer size: 1024, default order: 2, min order: 0');
    const count = (re: RegExp) => (m.dmesg().match(re) ?? []).length;
    const warned = [count(/SLUB: Unable to allocate memory/g), count(/page allocation failure/g)];
    expect(m.kmalloc(1000, GFP.KERNEL | GFP.NOWARN)).toBe(0);
    // __GFP_NOWARN silences SLUB and warn_alloc(); the OOM killer's report is printed regardless, as in the kernel.
    expect([count(/SLUB: Unable to allocate memory/g), count(/page allocation failure/g)]).toEqual(warned);
    m.checkInvariants();
  });

  it('an order-0 cache retries at s->min with the caller\'s gfp too: the page allocator reports the failure', () => {
    // allocate_slab(): the first attempt is NORETRY|NOWARN; on failure it always retries with oo = s->min and
    // the caller's flags (no check that the orders differ), so a GFP_KERNEL failure shows warn_alloc().
    const m = boot({ strict: false });
    exhaust(m);
    expect(m.kmalloc(64, GFP.KERNEL)).toBe(0);
    expect(m.dmesg()).toMatch(/page allocation failure: order:0, mode:0x[0-9a-f]+\(GFP_KERNEL/);
    expect(m.dmesg()).toMatch(/cache: kmalloc-64, object size: 64/);
  });
});

// --- tracepoints ------------------------------------------------------------------------------------------------

describe('slab tracepoints', () => {
  function traced(): Machine {
    const m = boot({ seed: 3 });
    m.trace.enable(['kmalloc', 'kfree', 'kmem_cache_alloc', 'kmem_cache_free']);
    return m;
  }
  const fields = (line: string) => line.replace(/^.*?: (\w+): /, '$1 ');

  it('kmalloc(100, GFP_KERNEL): bytes_req=100 bytes_alloc=128, not accounted; kfree prints the same hashed pointer', () => {
    const m = traced();
    const p = m.kmalloc(100, GFP.KERNEL, 'seq_open+0x2e/0xb0');
    m.kfree(p, 'seq_release+0x1c/0x30');
    const [a, f] = m.trace.lines.map(fields);
    const ptr = /ptr=([0-9a-f]{16}) /.exec(a)![1];
    expect(a).toBe(`kmalloc call_site=seq_open+0x2e/0xb0 ptr=${ptr} bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL node=-1 accounted=false`);
    expect(f).toBe(`kfree call_site=seq_release+0x1c/0x30 ptr=${ptr}`);
    expect(ptr).not.toBe(p.toString(16).padStart(16, '0')); // %p is hashed
  });

  it('GFP_KERNEL_ACCOUNT is accounted=true; a large kmalloc reports its page size', () => {
    const m = traced();
    m.kmalloc(100, GFP.KERNEL_ACCOUNT);
    m.kmalloc(20000, GFP.KERNEL);
    const [a, l] = m.trace.lines.map(fields);
    expect(a).toMatch(/ bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL_ACCOUNT node=-1 accounted=true$/);
    expect(l).toMatch(/ bytes_req=20000 bytes_alloc=32768 gfp_flags=GFP_KERNEL node=-1 accounted=false$/);
  });

  it('kmem_cache_alloc names the cache and its sizes; kmem_cache_free the same pointer', () => {
    const m = traced();
    const c = m.kmemCacheCreate('anon_vma', 88, { flags: SLAB_ACCOUNT })!;
    const p = m.kmemCacheAlloc(c, GFP.KERNEL, '__anon_vma_prepare+0x11f/0x1e0');
    m.kmemCacheFree(c, p, '__put_anon_vma+0x44/0x90');
    const [a, f] = m.trace.lines.map(fields);
    const ptr = /ptr=([0-9a-f]{16}) /.exec(a)![1];
    expect(a).toBe(`kmem_cache_alloc call_site=__anon_vma_prepare+0x11f/0x1e0 ptr=${ptr} name=anon_vma bytes_req=88 bytes_alloc=88 gfp_flags=GFP_KERNEL node=-1 accounted=true`);
    expect(f).toBe(`kmem_cache_free call_site=__put_anon_vma+0x44/0x90 ptr=${ptr} name=anon_vma`);
  });

  it('a failed kmalloc traces a NULL pointer', () => {
    const m = traced();
    m.kmalloc(8 * MiB, GFP.KERNEL | GFP.NOWARN);
    expect(fields(m.trace.lines[0])).toBe('kmalloc call_site=0x0 ptr=0000000000000000 bytes_req=8388608 bytes_alloc=8388608 gfp_flags=GFP_KERNEL|__GFP_NOWARN node=-1 accounted=false');
  });
});

describe('validate (/sys/kernel/slab/<cache>/validate)', () => {
  const DEBUG = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_CONSISTENCY_CHECKS;

  it('finds a red zone overwritten in a live object and poison overwritten in a free one, without any free', () => {
    const m = Machine.boot({ mem: '128M', strict: false });
    const c = m.kmemCacheCreate('validated', 40, { flags: DEBUG })!;
    const objs = Array.from({ length: 10 }, () => m.kmemCacheAlloc(c, GFP.KERNEL));
    expect(m.kmemCacheValidate(c)).toBeGreaterThan(0);
    expect(m.dmesg()).not.toMatch(/overwritten/);
    m.write(objs[3] + 40, new Uint8Array([0x11])); // one byte past a live object
    m.kmemCacheFree(c, objs[7]);
    const obj7 = objs[7];
    m.mem.writeFrame(m.virtToPage(obj7), (obj7 - m.pageAddress(m.virtToPage(obj7))) + 2, new Uint8Array([0x22]), 0, 1); // a write after free
    m.kmemCacheValidate(c);
    const d = m.dmesg();
    expect(d).toMatch(/BUG validated \(Not tainted\): Right Redzone overwritten/);
    expect(d).toMatch(/BUG validated \(Not tainted\): Poison overwritten/);
    expect(d).toContain(`Object 0x${m.formatAddr(objs[3])}`);
    // Both patterns are restored: a second validation finds nothing new.
    const reports = (m.dmesg().match(/overwritten/g) ?? []).length;
    m.kmemCacheValidate(c);
    expect((m.dmesg().match(/overwritten/g) ?? []).length).toBe(reports);
    m.checkInvariants();
  });

  it('in strict mode the first corruption throws', () => {
    const m = Machine.boot({ mem: '128M', strict: true });
    const c = m.kmemCacheCreate('validated', 40, { flags: DEBUG })!;
    const o = m.kmemCacheAlloc(c, GFP.KERNEL);
    m.write(o - 1, new Uint8Array([0x33])); // one byte before the object
    expect(() => m.kmemCacheValidate(c)).toThrow(/Left Redzone overwritten/);
  });
});

describe('hot-path literals', () => {
  it('the literals kmalloc, kfree and compound_head use equal the constants they stand for', async () => {
    const page = await import('../src/mm/page.js');
    const common = await import('../src/mm/slab_common.js');
    expect(page.PGTY_MASK).toBe(0xf0000);
    expect(page.PGTY_SLAB).toBe(0x30000);
    expect(page.PG_TAIL).toBe(0x4000);
    expect(GFP.ZERO).toBe(0x100);
    expect(common.NOT_NORMAL_OR_BUG).toBe(0x400017);
    expect(common.KMALLOC_MAX_CACHE_SIZE).toBe(8192);
  });
});
