/**
 * The OOM killer (mm/oom_kill.c out_of_memory, select_bad_process, oom_badness, dump_header, dump_tasks,
 * oom_kill_process, __oom_kill_process, oom_reap_task_mm).
 *
 * When reclaim and compaction have failed a small request, the task with the highest badness dies: its
 * resident pages plus swap entries plus page-table pages, plus oom_score_adj in thousandths of all memory
 * (RAM + swap). Tasks with oom_score_adj -1000, init and kernel threads (no mm) are never chosen; ties go to
 * the task seen last, as the kernel's `points < chosen_points` skip leaves them. The victim's memory is torn
 * down at once (the oom_reaper's work), and the report is the kernel's text.
 * out_of_memory() refuses to kill for a request without __GFP_FS (it "does not compensate for IO-less
 * reclaim") and claims progress instead, which is the slow path's business (page_alloc.ts).
 * Departures: no memcg or cpuset constraints, no oom_kill_allocating_task, no panic_on_oom; with nobody to
 * kill the kernel panics ("System is deadlocked on memory"); the model logs that and fails the allocation.
 */
import { formatGfpMode, GFP } from '../gfp.js';
import type { Anon, AnonMm } from './anon.js';
import { PAGE_SIZE } from './page.js';
import type { OomResult } from './page_alloc.js';
import type { Printk } from './printk.js';
import type { Sched } from './sched.js';
import { showFreeAreas, type ShowMemState } from './show_mem.js';
import type { SwapInfo } from './swapfile.js';
import type { VmEvents } from './vmstat.js';
import type { Zone } from './zone.js';

export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

export interface OomDeps {
  anon: Anon;
  sched: Sched;
  printk: Printk;
  events: VmEvents;
  zones: Zone[];
  swap: SwapInfo | undefined;
  totalramPages: number;
  showMemState: () => ShowMemState;
}

export interface OomVictim {
  pid: number;
  comm: string;
  points: number;
  anonRssKb: number;
}

export class OomKiller {
  private readonly d: OomDeps;
  /** Everyone killed so far, in order. */
  readonly victims: OomVictim[] = [];

  constructor(d: OomDeps) {
    this.d = d;
  }

  /** mm_pgtables_bytes(): the PTE pages the task has. */
  pgtablesBytes(am: AnonMm): number {
    return am.nrPtes * PAGE_SIZE;
  }

  /** oom_badness(): null for a task that must not be chosen. */
  badness(am: AnonMm, totalpages: number): number | null {
    const adj = am.task.oomScoreAdj ?? 0;
    if (adj === OOM_SCORE_ADJ_MIN || am.dead || am.task.pid === 1) return null;
    let points = am.rssAnon + am.swapents + this.pgtablesBytes(am) / PAGE_SIZE;
    points += adj * Math.trunc(totalpages / 1000);
    return points;
  }

  /** select_bad_process(): the highest badness wins; later tasks win ties. */
  selectBadProcess(): { am: AnonMm; points: number } | undefined {
    const totalpages = this.totalpages();
    let chosen: { am: AnonMm; points: number } | undefined;
    for (const am of this.d.anon.mms) {
      const points = this.badness(am, totalpages);
      if (points === null || (chosen && points < chosen.points)) continue;
      chosen = { am, points };
    }
    return chosen;
  }

  private totalpages(): number {
    return this.d.totalramPages + (this.d.swap?.total ?? 0);
  }

  /** out_of_memory() for a global OOM. */
  outOfMemory(gfp: number, order: number): OomResult {
    if (!(gfp & GFP.FS)) return 'no_fs';
    const d = this.d;
    const chosen = this.selectBadProcess();
    const header = this.dumpHeader(gfp, order);
    if (!chosen) {
      d.printk.warn('oom', [...header, 'Out of memory and no killable processes...',
        'Kernel panic - not syncing: System is deadlocked on memory (mmlab: the allocation fails instead)']);
      return 'none';
    }
    const { am, points } = chosen;
    const t = am.task;
    const adj = t.oomScoreAdj ?? 0;
    const kb = (pages: number) => pages * (PAGE_SIZE / 1024);
    const anonRss = am.rssAnon;
    const lines = [
      ...header,
      `oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=${t.comm},pid=${t.pid},uid=0`,
      `Out of memory: Killed process ${t.pid} (${t.comm}) total-vm:${kb(am.totalVm)}kB, anon-rss:${kb(anonRss)}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:${this.pgtablesBytes(am) / 1024}kB oom_score_adj:${adj}`,
    ];
    d.anon.exitMmap(am);
    d.events.oomKill++;
    lines.push(`oom_reaper: reaped process ${t.pid} (${t.comm}), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB`);
    d.printk.warn('oom-kill', lines);
    this.victims.push({ pid: t.pid, comm: t.comm, points, anonRssKb: kb(anonRss) });
    return 'killed';
  }

  /** dump_header(): who asked, the memory state, and dump_tasks(). */
  private dumpHeader(gfp: number, order: number): string[] {
    const d = this.d;
    const cur = d.sched.current;
    const out = [
      `${cur.comm} invoked oom-killer: gfp_mask=${formatGfpMode(gfp)}, order=${order}, oom_score_adj=${cur.oomScoreAdj ?? 0}`,
      `CPU: ${cur.cpu} UID: 0 PID: ${cur.pid} Comm: ${cur.comm} Not tainted 6.18.0-mmlab #1`,
      ...showFreeAreas(d.zones, d.zones.length - 1, d.showMemState()),
      'Tasks state (memory values in pages):',
      '[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name',
    ];
    for (const am of d.anon.mms) {
      if (am.task.pid === 1) continue;
      const t = am.task;
      // dump_task(): "[%7d] %5d %5d %8lu %8lu %8lu %8lu %9lu %8ld %8lu         %5hd %s"
      const n = (v: number, w: number) => String(v).padStart(w);
      out.push(`[${n(t.pid, 7)}] ${n(0, 5)} ${n(t.pid, 5)} ${n(am.totalVm, 8)} ${n(am.rssAnon, 8)} ${n(am.rssAnon, 8)} ${n(0, 8)} ` +
        `${n(0, 9)} ${n(this.pgtablesBytes(am), 8)} ${n(am.swapents, 8)}         ${n(t.oomScoreAdj ?? 0, 5)} ${t.comm}`);
    }
    return out;
  }
}
