/**
 * The current task and its context, as the allocator sees them (include/linux/sched.h task flags,
 * include/linux/sched/mm.h memalloc_*_save/restore and current_gfp_context, include/linux/preempt.h
 * preempt_count, kernel/sched/core.c __might_resched).
 *
 * One task runs at a time; a workload switches `current` explicitly. Interrupt context is entered and left
 * explicitly (irqEnter/irqExit, softirqEnter/softirqExit), as are preempt-disabled regions and irq-off
 * regions, and the preempt_count is kept as the kernel lays it out, so in_interrupt(), in_serving_softirq()
 * and in_atomic() mean what they mean in the kernel.
 */
import { GFP } from '../gfp.js';
import type { Printk } from './printk.js';

// Task flags (include/linux/sched.h).
export const PF_MEMALLOC = 0x00000800;
export const PF_KSWAPD = 0x00020000;
export const PF_KTHREAD = 0x00200000;
export const PF_MEMALLOC_NOFS = 0x00040000;
export const PF_MEMALLOC_NOIO = 0x00080000;
/**
 * Model-only task flags: the task holds a filesystem lock, or is on the block IO path (fs_reclaim's
 * lockdep annotations in the kernel). They send its allocations off the fast path so they can be checked.
 */
export const PF_MODEL_FS_LOCK = 1 << 29;
export const PF_MODEL_IO_PATH = 1 << 30;

// preempt_count layout (include/linux/preempt.h).
export const PREEMPT_OFFSET = 1 << 0;
export const SOFTIRQ_OFFSET = 1 << 8;
export const HARDIRQ_OFFSET = 1 << 16;
export const NMI_OFFSET = 1 << 20;
const SOFTIRQ_MASK = 0xff << 8;
const HARDIRQ_MASK = 0xf << 16;
const NMI_MASK = 0xf << 20;

export interface Task {
  pid: number;
  comm: string;
  cpu: number;
  flags: number;
  /** Locks the task holds, innermost last (lockdep's held_locks): filesystem locks and IO-path markers. */
  locks?: Array<{ name: string; io: boolean }>;
  /** oom_score_adj (-1000..1000). */
  oomScoreAdj?: number;
}

export class Sched {
  private running: Task;
  /**
   * The CPU the running context is on (smp_processor_id()), kept beside `current` so that the allocator's
   * per-CPU lookups take one load instead of two. A task's CPU changes only through `migrate`.
   */
  cpu = 0;
  /** preempt_count() of the running context. */
  preemptCount = 0;
  /** irqs_disabled(). */
  irqsDisabled = false;
  private readonly tasks = new Map<number, Task>();
  private nextPid = 1000;
  readonly nrCpus: number;
  private readonly saved: Array<{ task: Task; preemptCount: number; irqsDisabled: boolean }> = [];

  constructor(nrCpus: number) {
    // PID 1 starts on CPU 0; swapper tasks are not modelled as separate tasks.
    this.running = { pid: 1, comm: 'init', cpu: 0, flags: 0 };
    this.tasks.set(1, this.running);
    this.nrCpus = nrCpus;
  }

  /** The task whose context runs (the kernel's `current`). */
  get current(): Task {
    return this.running;
  }
  set current(t: Task) {
    this.running = t;
    this.cpu = t.cpu;
  }

  /** Move `task` to `cpu` (the scheduler migrating it); the running context follows if it is that task. */
  migrate(task: Task, cpu: number): void {
    if (cpu < 0 || cpu >= this.nrCpus) throw new Error(`migrate: cpu ${cpu} out of range 0..${this.nrCpus - 1}`);
    task.cpu = cpu;
    if (task === this.running) this.cpu = cpu;
  }

  /** Create a task (a kernel thread or a process) that workloads can switch to. */
  createTask(comm: string, cpu = 0, pid?: number): Task {
    if (cpu < 0 || cpu >= this.nrCpus) throw new Error(`createTask: cpu ${cpu} out of range 0..${this.nrCpus - 1}`);
    const t: Task = { pid: pid ?? this.nextPid++, comm, cpu, flags: 0 };
    this.tasks.set(t.pid, t);
    return t;
  }

  /** Context switch: the task runs on its CPU from now on. Only legal outside interrupts and atomic regions. */
  switchTo(task: Task): void {
    if (this.preemptCount !== 0 || this.irqsDisabled) throw new Error('switchTo: cannot schedule in atomic context');
    this.current = task;
  }

  task(pid: number): Task | undefined {
    return this.tasks.get(pid);
  }

  /** Every task, in pid order of creation (for_each_process). */
  allTasks(): Task[] {
    return [...this.tasks.values()];
  }

  /**
   * Run `fn` as `task` on its own CPU in task context (a kernel thread such as kswapd doing its work), then
   * return to whatever was running, interrupted context included.
   */
  runAs<T>(task: Task, fn: () => T): T {
    const saved = { task: this.current, preemptCount: this.preemptCount, irqsDisabled: this.irqsDisabled };
    this.current = task;
    this.preemptCount = 0;
    this.irqsDisabled = false;
    try {
      return fn();
    } finally {
      this.current = saved.task;
      this.preemptCount = saved.preemptCount;
      this.irqsDisabled = saved.irqsDisabled;
    }
  }

  /**
   * Take a filesystem lock (an inode's i_rwsem, a transaction) or, with `io`, enter the block IO path.
   * Returns a token for fsUnlock. Lockdep's fs_reclaim checks the task's allocations while it holds one.
   */
  fsLock(name: string, io = false): number {
    const t = this.current;
    (t.locks ??= []).push({ name, io });
    t.flags |= io ? PF_MODEL_IO_PATH : PF_MODEL_FS_LOCK;
    return t.locks.length;
  }

  /** Release the lock fsLock returned `token` for (and any taken after it). */
  fsUnlock(token: number): void {
    const t = this.current;
    if (!t.locks || token < 1 || token > t.locks.length) throw new Error(`fsUnlock: ${t.comm} does not hold lock #${token}`);
    t.locks.length = token - 1;
    t.flags &= ~(PF_MODEL_FS_LOCK | PF_MODEL_IO_PATH);
    for (const l of t.locks) t.flags |= l.io ? PF_MODEL_IO_PATH : PF_MODEL_FS_LOCK;
  }

  // memalloc scopes: each save returns the old flag bit for the matching restore (include/linux/sched/mm.h).
  memallocNofsSave(): number {
    return this.scopeSave(PF_MEMALLOC_NOFS);
  }
  memallocNofsRestore(flags: number): void {
    this.scopeRestore(PF_MEMALLOC_NOFS, flags);
  }
  memallocNoioSave(): number {
    return this.scopeSave(PF_MEMALLOC_NOIO);
  }
  memallocNoioRestore(flags: number): void {
    this.scopeRestore(PF_MEMALLOC_NOIO, flags);
  }
  memallocNoreclaimSave(): number {
    return this.scopeSave(PF_MEMALLOC);
  }
  memallocNoreclaimRestore(flags: number): void {
    this.scopeRestore(PF_MEMALLOC, flags);
  }

  private scopeSave(bit: number): number {
    const old = this.current.flags & bit;
    this.current.flags |= bit;
    return old;
  }

  private scopeRestore(bit: number, old: number): void {
    this.current.flags = (this.current.flags & ~bit) | (old & bit);
  }

  /**
   * current_gfp_context(): the task's NOIO scope clears __GFP_IO and __GFP_FS, else its NOFS scope clears
   * __GFP_FS. Only task context has a scope; in interrupts the mask is used as given.
   */
  currentGfpContext(gfp: number): number {
    const pf = this.current.flags;
    if ((pf & (PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS)) !== 0 && !this.inInterrupt()) {
      if (pf & PF_MEMALLOC_NOIO) gfp &= ~(GFP.IO | GFP.FS);
      else gfp &= ~GFP.FS;
    }
    return gfp;
  }

  inInterrupt(): boolean {
    return (this.preemptCount & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) !== 0;
  }
  inHardirq(): boolean {
    return (this.preemptCount & HARDIRQ_MASK) !== 0;
  }
  inServingSoftirq(): boolean {
    return (this.preemptCount & SOFTIRQ_OFFSET) !== 0;
  }
  inTask(): boolean {
    return (this.preemptCount & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)) === 0;
  }
  inAtomic(): boolean {
    return this.preemptCount !== 0;
  }

  /** Hard interrupt on `cpu` (default: the current task's CPU): current stays the interrupted task. */
  irqEnter(cpu?: number): void {
    this.saved.push({ task: this.current, preemptCount: this.preemptCount, irqsDisabled: this.irqsDisabled });
    if (cpu !== undefined && cpu !== this.current.cpu) this.current = { ...this.current, cpu };
    this.preemptCount += HARDIRQ_OFFSET;
    this.irqsDisabled = true;
  }
  irqExit(): void {
    this.restore('irqExit');
  }
  /** Serving softirqs (net RX, timers) on the current CPU. */
  softirqEnter(cpu?: number): void {
    this.saved.push({ task: this.current, preemptCount: this.preemptCount, irqsDisabled: this.irqsDisabled });
    if (cpu !== undefined && cpu !== this.current.cpu) this.current = { ...this.current, cpu };
    this.preemptCount += SOFTIRQ_OFFSET;
  }
  softirqExit(): void {
    this.restore('softirqExit');
  }
  preemptDisable(): void {
    this.preemptCount += PREEMPT_OFFSET;
  }
  preemptEnable(): void {
    if ((this.preemptCount & 0xff) === 0) throw new Error('preemptEnable: preempt_count underflow');
    this.preemptCount -= PREEMPT_OFFSET;
  }
  localIrqDisable(): boolean {
    const was = this.irqsDisabled;
    this.irqsDisabled = true;
    return was;
  }
  localIrqRestore(was: boolean): void {
    this.irqsDisabled = was;
  }

  private restore(what: string): void {
    const s = this.saved.pop();
    if (!s) throw new Error(`${what}: not in that context`);
    this.current = s.task;
    this.preemptCount = s.preemptCount;
    this.irqsDisabled = s.irqsDisabled;
  }
}

/**
 * __might_resched(): a function that may sleep was called in atomic context; `at` is the kernel's
 * file:line (or file:function) of the might_sleep() that caught it.
 */
export function reportMightSleep(s: Sched, printk: Printk, at: string): void {
  const t = s.current;
  printk.bug('sleeping function called from invalid context', [
    `BUG: sleeping function called from invalid context at ${at}`,
    `in_atomic(): ${s.inAtomic() ? 1 : 0}, irqs_disabled(): ${s.irqsDisabled ? 1 : 0}, non_block: 0, pid: ${t.pid}, name: ${t.comm}`,
    `preempt_count: ${s.preemptCount.toString(16)}, expected: 0`,
    'RCU nest depth: 0, expected: 0',
  ]);
}
