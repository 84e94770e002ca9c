/**
 * The hashmap state backend: keyed state on the heap, in StateTables (copy-on-write layers, so the
 * synchronous part of a snapshot is O(number of states)); snapshots are written in the key-group
 * sections format (keyed-backend.ts), which is also the canonical savepoint format.
 * Tests: test/keyed-backend.test.ts, test/state-table.test.ts.
 */
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { KeyedRestore } from '../checkpoint/state-assignment.js'
import type { Storage } from '../storage/storage.js'
import type { StateKey } from '../core/key-groups.js'
import { KeyedStateBackend, persistSections, type KeyValueTable, type KeyedSnapshotJob, type TimerEntry } from './keyed-backend.js'
import { StateTable, type TableSnapshot } from './state-table.js'

export class HeapKeyedStateBackend extends KeyedStateBackend {
  private readonly tables = new Map<string, StateTable<unknown>>()

  protected table(name: string): KeyValueTable<unknown> {
    let t = this.tables.get(name)
    if (t === undefined) this.tables.set(name, (t = new StateTable()))
    return t
  }

  maintain(budget = 8192): boolean {
    let more = false
    for (const t of this.tables.values()) if (t.maintain(budget)) more = true
    return more
  }

  snapshot(timers: TimerEntry[], _barrier: CheckpointBarrier): KeyedSnapshotJob {
    const views: [string, TableSnapshot<unknown>][] = [...this.tables].map(([name, t]) => [name, t.snapshot()])
    const { keyGroupRange, maxParallelism } = this
    return {
      async persist(ctx) {
        function* entries(): Generator<[string, StateKey, unknown]> {
          for (const [name, view] of views) for (const [k, v] of view.entries()) yield [name, k, v]
        }
        try {
          return await persistSections(ctx, entries(), timers, keyGroupRange, maxParallelism)
        } finally {
          for (const [, v] of views) v.release()
        }
      },
    }
  }

  restore(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]> {
    return this.loadHandles(handles, storageFor)
  }
}
