/**
 * Page migration (mm/migrate.c migrate_pages, migrate_folio_move, folio_migrate_mapping,
 * folio_migrate_flags, remove_migration_ptes).
 *
 * Moving an isolated LRU page: its bytes are copied to the new page, its state (flags, owner, index, swap
 * slot) moves with it, the owner's one reference is rewritten (rmap.ts), and the new page goes on the LRU
 * in the old one's place. The old page is then freed. Only pages on the LRU, not under writeback, move;
 * anything else fails (-EBUSY) and stays where it is, which is what keeps slab, page tables and every other
 * unmovable user safe from compaction.
 * Departures: no migration entries (nothing can race with the move in a single-threaded model), writeback
 * pages are never waited for, one page at a time.
 */
import type { PhysMem } from './memory.js';
import { ALLOC_ORDER_MASK, MemMap, PG_FLAGS_MASK, PG_LRU, PG_WRITEBACK, ZONE_MASK } from './page.js';
import type { Rmap } from './rmap.js';
import type { Lruvec } from './swap.js';
import type { VmEvents } from './vmstat.js';

export class Migrate {
  private readonly mm: MemMap;
  private readonly mem: PhysMem;
  private readonly rmap: Rmap;
  private readonly lru: Lruvec;
  private readonly events: VmEvents;

  constructor(mm: MemMap, mem: PhysMem, rmap: Rmap, lru: Lruvec, events: VmEvents) {
    this.mm = mm;
    this.mem = mem;
    this.rmap = rmap;
    this.lru = lru;
    this.events = events;
  }

  /** Can this isolated page be moved now? */
  movable(pfn: number): boolean {
    return this.mm.mapping[pfn] !== 0 && !(this.mm.flags[pfn] & (PG_WRITEBACK | PG_LRU)) && this.rmap.ownerOf(pfn) !== undefined;
  }

  /**
   * Move isolated page `from` to `to`, a page the caller took off the free lists (refcount 0, no state).
   * Returns false (-EBUSY) when the page cannot move; `from` then stays isolated for the caller to put back.
   * On success `to` is on the LRU and `from` holds one reference for the caller to drop (freePages).
   */
  migrateFolio(from: number, to: number): boolean {
    if (!this.movable(from)) {
      this.events.pgmigrateFail++;
      return false;
    }
    const mm = this.mm;
    this.mem.copyFrame(from, to);
    this.mem.zero(from, 1);
    // folio_migrate_flags(): the page flags travel; the new page keeps its own zone.
    mm.flags[to] = (mm.flags[to] & ZONE_MASK) | (mm.flags[from] & PG_FLAGS_MASK);
    mm.refcount[to] = 1;
    mm.mapping[to] = mm.mapping[from];
    mm.index[to] = mm.index[from];
    mm.private_[to] = mm.private_[from];
    this.rmap.replace(from, to);
    this.lru.putback(to);
    // The old page is now a plain order-0 allocation the caller frees.
    mm.mapping[from] = 0;
    mm.index[from] = 0;
    mm.private_[from] = 0;
    mm.flags[from] &= ZONE_MASK | ALLOC_ORDER_MASK;
    this.events.pgmigrateSuccess++;
    return true;
  }
}
