/**
 * The model's tracepoints against the real kernel's: each event's fields must match the `print fmt` of the
 * event's format file captured from a 6.18 kernel (test/fixtures/real/formats), and the line envelope and
 * header must be laid out as in a real `trace` file captured on the same kernel.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GFP, Machine, NO_PAGE } from '../src/index.js';
import { TRACE_EVENTS } from '../src/trace/buffer.js';
import { COMPACTION_STATUS_NAMES, EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, EV_MM_VMSCAN_DIRECT_RECLAIM_END, EV_MM_VMSCAN_KSWAPD_WAKE } from '../src/trace/events.js';

const FIX = new URL('./fixtures/real/', import.meta.url);

/** The tracefs system an event belongs to (events/<system>/<event>). */
function systemOf(event: string): string {
  if (/vmap/.test(event)) return 'vmalloc';
  if (event.startsWith('mm_compaction_')) return 'compaction';
  if (event.startsWith('mm_vmscan_')) return 'vmscan';
  return 'kmem';
}

function formatFile(event: string): string {
  return readFileSync(new URL(`formats/${systemOf(event)}/${event}/format`, FIX), 'utf8');
}

/** The print fmt's format string of a real event, as a regex over the printed fields. */
function fieldRegex(event: string): RegExp {
  const text = formatFile(event);
  const fmt = /print fmt: "([^"]*)"/.exec(text)![1];
  const conv: Record<string, string> = {
    '%p': '[0-9a-f]{16}', '%pS': '\\S+', '%lx': '[0-9a-f]+', '%d': '-?\\d+', '%u': '\\d+', '%s': '\\S+',
    '%lu': '\\d+', '%zu': '\\d+',
  };
  let re = '';
  for (let i = 0; i < fmt.length; ) {
    const m = /^%(pS|zu|l?[xdus]|p)/.exec(fmt.slice(i));
    if (m) {
      re += conv[m[0]];
      i += m[0].length;
    } else {
      re += fmt[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(`^${re}$`);
}

/** ftrace's envelope: comm right-aligned in 16, pid left-aligned in 7, [cpu], 5 flag chars, %12.6f time. */
const ENVELOPE = /^(.{16})-(\d+) *\[(\d{3})\] ([d.b][N.][hsH.][0-9a-f.][0-9.]) ([ \d]{4}\d\.\d{6}): (\w+): (.*)$/;

function realLines(file: string): string[] {
  return readFileSync(new URL(file, FIX), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
}

/** Run a workload that makes every page-allocator event fire. */
function traced(): Machine {
  const m = Machine.boot({ mem: '256M', strict: true, seed: 7 });
  m.trace.enable('all');
  const pfns: number[] = [];
  for (let i = 0; i < 3000; i++) pfns.push(m.allocPages(GFP.HIGHUSER_MOVABLE, 0)); // refills: zone_locked
  const k = m.allocPages(GFP.KERNEL | GFP.RECLAIMABLE, 0); // the first reclaimable page falls back: extfrag
  m.releasePages(pfns.splice(0, 100)); // free_batched
  for (const p of pfns) m.freePages(p, 0); // frees, and drains past high: pcpu_drain
  m.freePages(k, 0);
  m.inSoftirq(() => m.freePages(m.allocPages(GFP.ATOMIC, 1), 1));
  expect(m.allocPages(GFP.KERNEL | GFP.NOWARN, 10 + 1)).toBe(NO_PAGE);
  // Slab events: kmalloc of small and large sizes, kfree (also of NULL), a cache of its own.
  const objs = [8, 96, 200, 5000, 20000].map((n) => m.kmalloc(n, GFP.KERNEL, 'ext4_htree_store_dirent+0x34/0x120'));
  for (const o of objs) m.kfree(o, 'free_rb_tree_fname+0x3f/0x70');
  m.kfree(0, 'fscrypt_fname_free_buffer+0x16/0x30');
  // Compaction: echo 1 > /proc/sys/vm/compact_memory runs compact_zone over every zone (begin and end).
  m.compactNode();
  // vmscan.ts emits these when it reclaims; this workload never needs to, so record their fields directly.
  m.trace.record(EV_MM_VMSCAN_KSWAPD_WAKE, 0, 2, 3);
  m.trace.record(EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, 2, GFP.KERNEL | GFP.COMP);
  m.trace.record(EV_MM_VMSCAN_DIRECT_RECLAIM_END, 32);
  const c = m.kmemCacheCreate('anon_vma', 88)!;
  const a = m.kmemCacheAlloc(c, GFP.KERNEL | GFP.ACCOUNT, '__anon_vma_prepare+0x11f/0x1e0');
  m.kmemCacheFree(c, a, '__put_anon_vma+0x44/0x90');
  // vmalloc events: areas allocated (one that cannot fit fails), freed lazily, purged.
  const v = [m.vmalloc(16384), m.vmalloc(8192)];
  const start = m.vmallocLayer.start;
  expect(m.vmallocNodeRange(1 << 20, { gfp: GFP.KERNEL | GFP.NOWARN, start, end: start + (64 << 10) })).toBe(0);
  for (const a of v) m.vfree(a);
  expect(m.purgeVmapAreaLazy()).toBe(true);
  return m;
}

describe('tracepoints match the kernel\'s format files', () => {
  const m = traced();
  const byEvent = new Map<string, string[]>();
  for (const line of m.trace.lines) {
    const e = ENVELOPE.exec(line);
    expect(e, line).not.toBeNull();
    byEvent.set(e![6], [...(byEvent.get(e![6]) ?? []), e![7]]);
  }

  for (const event of TRACE_EVENTS) {
    it(`${event}: every line's fields match the real print fmt`, () => {
      const lines = byEvent.get(event) ?? [];
      expect(lines.length, `no ${event} line was emitted`).toBeGreaterThan(0);
      const re = fieldRegex(event);
      for (const l of lines) expect(l).toMatch(re);
    });
  }

  it('the real captured lines match the same regexes (the regexes are not vacuous)', () => {
    const real = [...realLines('page-alloc.txt'), ...realLines('page-alloc.pipe.txt'), ...realLines('slab.txt'), ...realLines('vmalloc.txt')];
    const seen = new Set<string>();
    for (const line of real) {
      const e = ENVELOPE.exec(line);
      expect(e, line).not.toBeNull();
      expect(e![7]).toMatch(fieldRegex(e![6]));
      seen.add(e![6]);
    }
    // Every kmem and vmalloc event has real lines (the compaction and vmscan events were not captured).
    const captured = TRACE_EVENTS.filter((e) => systemOf(e) === 'kmem' || systemOf(e) === 'vmalloc');
    expect([...seen].sort()).toEqual([...captured].sort());
    // And a model line is not accepted for another event.
    expect('page=0000000012345678 pfn=0x10 order=0').not.toMatch(fieldRegex('mm_page_alloc'));
  });

  it('compaction and vmscan events print as their print fmt says', () => {
    const lines = m.trace.lines.map((l) => ENVELOPE.exec(l)!).filter((e) => /^mm_(compaction|vmscan)_/.test(e[6])).map((e) => `${e[6]}: ${e[7]}`);
    // The 256M machine's zones as compact_memory walks them: DMA (pfn 1..4095), DMA32, Normal, all MIGRATE_SYNC.
    expect(lines).toContain('mm_compaction_begin: zone_start=0x1 migrate_pfn=0x1 free_pfn=0xe00 zone_end=0x1000, mode=sync');
    expect(lines.some((l) => /^mm_compaction_end: zone_start=0x1 migrate_pfn=0x[0-9a-f]+ free_pfn=0x[0-9a-f]+ zone_end=0x1000, mode=sync status=complete$/.test(l))).toBe(true);
    expect(lines).toContain('mm_vmscan_kswapd_wake: nid=0 order=3');
    expect(lines).toContain('mm_vmscan_direct_reclaim_begin: order=2 gfp_flags=GFP_KERNEL|__GFP_COMP');
    expect(lines).toContain('mm_vmscan_direct_reclaim_end: nr_reclaimed=32');
    // status=%s is __print_symbolic over enum compact_result: the model's names are the kernel's, value for value.
    const sym = /__print_symbolic\(REC->status, (.*)\)$/m.exec(formatFile('mm_compaction_end'))![1];
    const pairs = [...sym.matchAll(/\{(\d+), "(\w+)"\}/g)].map((p) => [Number(p[1]), p[2]] as const);
    expect(pairs).toHaveLength(COMPACTION_STATUS_NAMES.length);
    for (const [value, name] of pairs) expect(COMPACTION_STATUS_NAMES[value]).toBe(name);
    // mode=%s is REC->sync ? "sync" : "async".
    expect(formatFile('mm_compaction_begin')).toContain('REC->sync ? "sync" : "async"');
  });

  it('the envelope has the real column layout', () => {
    const real = realLines('page-alloc.txt')[0];
    const model = m.trace.lines[0];
    // Same offsets of '[', of the flags and of the ': event:' separator for pids of the same width.
    const cols = (l: string) => [l.indexOf('['), l.indexOf(']'), l.indexOf(': mm_')];
    expect(cols(model)).toEqual(cols(real));
  });

  it('switching events on and off reaches the fast paths at once; an unknown name switches nothing', () => {
    const m2 = Machine.boot({ mem: '32M' });
    const pfn = m2.allocPages(GFP.KERNEL, 0);
    m2.freePages(pfn, 0);
    expect(() => m2.trace.enable(['mm_page_alloc', 'mm_page_bogus'])).toThrow(/unknown event 'mm_page_bogus'/);
    expect(m2.trace.on.mm_page_alloc).toBe(false);
    expect(m2.allocPages(GFP.KERNEL, 0)).toBe(pfn); // the order-0 fast path, untraced
    expect(m2.trace.lines).toHaveLength(0);
    m2.trace.enable(['mm_page_alloc', 'mm_page_free']);
    m2.freePages(pfn, 0);
    expect(m2.allocPages(GFP.KERNEL, 0)).toBe(pfn);
    expect(m2.trace.lines.map((l) => l.split(': ')[1])).toEqual(['mm_page_free', 'mm_page_alloc']);
    m2.trace.enable('all', false);
    m2.freePages(pfn, 0);
    expect(m2.trace.lines).toHaveLength(2);
  });

  it('a failed allocation prints a NULL page and pfn 0', () => {
    const fail = m.trace.lines.filter((l) => / mm_page_alloc: .*order=11 /.test(l));
    expect(fail).toHaveLength(0); // order > MAX_PAGE_ORDER is refused before the tracepoint, as in the kernel
    const m2 = Machine.boot({ mem: '32M' });
    m2.trace.enable(['mm_page_alloc']);
    while (m2.allocPages(GFP.KERNEL | GFP.NOWARN, 6) !== NO_PAGE);
    expect(m2.trace.lines.at(-1)).toMatch(/mm_page_alloc: page=0000000000000000 pfn=0x0 order=6 migratetype=0 gfp_flags=GFP_KERNEL\|__GFP_NOWARN$/);
  });

  it('context flags: softirq and irqs-off show as in the kernel', () => {
    const soft = m.trace.lines.find((l) => / mm_page_alloc: .*GFP_ATOMIC/.test(l))!;
    expect(ENVELOPE.exec(soft)![4]).toBe('..s..');
    const m2 = Machine.boot({ mem: '64M' });
    m2.trace.enable(['mm_page_alloc']);
    m2.inIrq(() => m2.allocPages(GFP.ATOMIC, 0));
    expect(ENVELOPE.exec(m2.trace.lines[0])![4]).toBe('d.h..');
  });

  it('the same page prints the same hashed pointer at alloc and free; different pages differ', () => {
    const m2 = Machine.boot({ mem: '64M', seed: 3 });
    m2.trace.enable(['mm_page_alloc', 'mm_page_free']);
    const a = m2.allocPages(GFP.KERNEL, 0);
    const b = m2.allocPages(GFP.KERNEL, 0);
    m2.freePages(a, 0);
    const ptr = (l: string) => /page=([0-9a-f]+)/.exec(l)![1];
    expect(ptr(m2.trace.lines[0])).toBe(ptr(m2.trace.lines[2]));
    expect(ptr(m2.trace.lines[0])).not.toBe(ptr(m2.trace.lines[1]));
    void b;
  });

  it('the trace file header is the kernel\'s', () => {
    const realHeader = readFileSync(new URL('page-alloc.txt', FIX), 'utf8').split('\n').filter((l) => l.startsWith('#'));
    const modelHeader = m.trace.text().split('\n').filter((l) => l.startsWith('#'));
    expect(modelHeader.filter((l) => !l.includes('entries-in-buffer'))).toEqual(realHeader.filter((l) => !l.includes('entries-in-buffer')));
    expect(modelHeader.find((l) => l.includes('entries-in-buffer'))).toMatch(/^# entries-in-buffer\/entries-written: \d+\/\d+   #P:2$/);
  });

  it('is deterministic: same seed, same trace, byte for byte', () => {
    expect(traced().trace.text()).toBe(m.trace.text());
  });
});
