/**
 * Dirty pages and writeback (mm/page-writeback.c folio_mark_dirty, folio_clear_dirty_for_io,
 * __folio_start_writeback, __folio_end_writeback; mm/swap.c folio_rotate_reclaimable; block devices as
 * queues with a cost per page).
 *
 * A page is written by copying its bytes to the backing store (the file's blocks, or a swap slot) when the
 * write starts; the write then takes the device's time per page, one page after another, and completes when
 * the model clock passes its end. Completions are collected whenever the machine looks (reclaim, a daemon
 * tick, an explicit `complete()`), in the order they finish. A page written because reclaim wanted it
 * (PG_reclaim) is rotated to the tail of its inactive list on completion, so the next scan frees it. A device
 * that ends its writes itself (swap over NFS: the server's reply) starts them with startPending and ends them
 * with endPending.
 * Departures: a device has one queue and no merging or plugging; reads cost time but are synchronous.
 */
import type { Clock } from './clock.js';
import { MemMap, PG_DIRTY, PG_LRU, PG_RECLAIM, PG_WRITEBACK } from './page.js';
import type { Lruvec } from './swap.js';
import type { NodeStats, VmEvents } from './vmstat.js';

/** A block device: the time it takes to read or write one page, and when its queue drains. */
export interface BlockDevice {
  readonly name: string;
  readNs: number;
  writeNs: number;
  /** Model time at which the last queued write completes. */
  busyUntil: number;
  /** Pages written and read. */
  written: number;
  read: number;
}

export function makeBlockDevice(name: string, readNs: number, writeNs: number): BlockDevice {
  if (!(readNs >= 0) || !(writeNs >= 0)) throw new Error(`block device ${name}: read and write costs must be >= 0 ns`);
  return { name, readNs, writeNs, busyUntil: 0, written: 0, read: 0 };
}

export class Writeback {
  private readonly mm: MemMap;
  private readonly clock: Clock;
  private readonly lru: Lruvec;
  private readonly node: NodeStats;
  private readonly events: VmEvents;
  // In-flight writes, in completion order (each device's queue is FIFO and completion times only grow per
  // device; across devices the list is kept sorted on insertion).
  private pfns: number[] = [];
  private ends: number[] = [];
  // Writes that end when their device says so (startPending/endPending).
  private readonly pending = new Set<number>();

  constructor(mm: MemMap, clock: Clock, lru: Lruvec, node: NodeStats, events: VmEvents) {
    this.mm = mm;
    this.clock = clock;
    this.lru = lru;
    this.node = node;
    this.events = events;
  }

  /** folio_mark_dirty(): a clean page becomes dirty (NR_FILE_DIRTY counts page cache pages only). */
  markDirty(pfn: number, countDirty: boolean): void {
    const f = this.mm.flags[pfn];
    if (f & PG_DIRTY) return;
    this.mm.flags[pfn] = f | PG_DIRTY;
    if (countDirty) {
      this.node.nrDirty++;
      this.node.nrDirtied++;
    }
  }

  /** folio_clear_dirty_for_io() without starting a write (truncation, or a page that leaves the cache). */
  cancelDirty(pfn: number, countDirty: boolean): void {
    if (!(this.mm.flags[pfn] & PG_DIRTY)) return;
    this.mm.flags[pfn] &= ~PG_DIRTY;
    if (countDirty) this.node.nrDirty--;
  }

  /**
   * Clear the dirty bit and start the write of one page to `dev` (the caller has copied the bytes to the
   * backing store). Returns the model time at which it completes.
   */
  start(pfn: number, dev: BlockDevice, countDirty: boolean): number {
    this.cancelDirty(pfn, countDirty);
    this.mm.flags[pfn] |= PG_WRITEBACK;
    this.node.nrWriteback++;
    const end = Math.max(dev.busyUntil, this.clock.ns) + dev.writeNs;
    dev.busyUntil = end;
    dev.written++;
    let i = this.ends.length;
    while (i > 0 && this.ends[i - 1] > end) i--;
    this.pfns.splice(i, 0, pfn);
    this.ends.splice(i, 0, end);
    return end;
  }

  /**
   * Start a write whose completion the caller reports (endPending): a device that completes by itself when
   * an event arrives, such as swap over the network, where the reply from the server ends the write.
   */
  startPending(pfn: number): void {
    this.mm.flags[pfn] |= PG_WRITEBACK;
    this.node.nrWriteback++;
    this.pending.add(pfn);
  }

  /** A pending write that its device could not start after all: the page is as before, but clean. */
  cancelPending(pfn: number): void {
    if (!this.pending.delete(pfn)) throw new Error(`writeback: pfn ${pfn} has no pending write`);
    this.mm.flags[pfn] &= ~PG_WRITEBACK;
    this.node.nrWriteback--;
  }

  /** The write of `pfn` started with startPending has completed. */
  endPending(pfn: number): void {
    if (!this.pending.delete(pfn)) throw new Error(`writeback: pfn ${pfn} has no pending write`);
    this.end(pfn);
  }

  /** Writes in flight. */
  get inFlight(): number {
    return this.pfns.length + this.pending.size;
  }

  /** The completion time of the earliest write in flight, or Infinity. */
  nextCompletion(): number {
    return this.ends.length ? this.ends[0] : Infinity;
  }

  /** Complete every write that has finished by now (folio_end_writeback). Returns how many completed. */
  complete(now = this.clock.ns): number {
    let n = 0;
    while (n < this.ends.length && this.ends[n] <= now) this.end(this.pfns[n++]);
    if (n) {
      this.pfns.splice(0, n);
      this.ends.splice(0, n);
    }
    return n;
  }

  /** Wait for `pfn`'s write (truncate, sync migration): the clock moves to its completion. */
  waitOn(pfn: number): void {
    const i = this.pfns.indexOf(pfn);
    if (i < 0) return;
    if (this.ends[i] > this.clock.ns) this.clock.ns = this.ends[i];
    this.complete();
  }

  /** folio_end_writeback(). */
  private end(pfn: number): void {
    const mm = this.mm;
    mm.flags[pfn] &= ~PG_WRITEBACK;
    this.node.nrWriteback--;
    this.node.nrWritten++;
    // folio_rotate_reclaimable(): reclaim wanted this page; put it where the next scan starts.
    if (mm.flags[pfn] & PG_RECLAIM) {
      mm.flags[pfn] &= ~PG_RECLAIM;
      if (mm.flags[pfn] & PG_LRU && !(mm.flags[pfn] & PG_DIRTY)) {
        this.lru.del(pfn);
        this.lru.addTail(pfn);
        this.events.pgrotated++;
      }
    }
  }

  /** Every page in flight has PG_writeback and the counter matches. */
  checkInvariants(errs: string[]): void {
    for (const p of [...this.pfns, ...this.pending]) if (!(this.mm.flags[p] & PG_WRITEBACK)) errs.push(`writeback: pfn ${p} in flight without PG_writeback`);
    if (this.inFlight !== this.node.nrWriteback) errs.push(`writeback: ${this.inFlight} in flight, NR_WRITEBACK says ${this.node.nrWriteback}`);
  }
}
