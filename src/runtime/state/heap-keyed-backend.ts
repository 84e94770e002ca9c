/**
 * The hashmap state backend: keyed state on the heap. Each state is a HeapTable: entries whose
 * value is a number (and whose key is a number or a string) live in NumericColumns (typed arrays
 * in shared memory, copy-on-write by chunk), every other entry in a StateTable (copy-on-write
 * layers). The synchronous part of a snapshot pins both (O(chunks + layers), no copy).
 * The asynchronous part serializes the other entries and the timers on the task's thread in short
 * slices, then the snapshot encoder thread (encoder-pool.ts) encodes the numeric images, merges
 * them into those sections (one section per key group) and hands back the file's bytes, in the
 * key-group sections format (keyed-backend.ts), which is also the canonical savepoint format.
 *
 * Architecture Invariant: a key lives in at most one of a HeapTable's two stores; a snapshot sees
 * every store as it was at snapshot time.
 * Tests: test/keyed-backend.test.ts, test/heap-table.test.ts, test/shared-state.test.ts (its stores:
 * test/state-table.test.ts, test/numeric-columns.test.ts, test/section-encoder.test.ts).
 */
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { KeyedRestore } from '../checkpoint/state-assignment.js'
import { join } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import type { StateKey } from '../core/key-groups.js'
import { sharedEncoder, type SectionEncoder } from './encoder-pool.js'
import { KeyedStateBackend, persistSections, serializeSections, type KeyValueTable, type KeyedSnapshotJob, type TimerEntry } from './keyed-backend.js'
import { NumericColumns, columnKey } from './numeric-columns.js'
import { StateTable, type TableSnapshot } from './state-table.js'

/** One keyed state: numeric entries in columns, the others in a copy-on-write StateTable. */
export class HeapTable implements KeyValueTable<unknown> {
  readonly numbers: NumericColumns
  readonly objects = new StateTable<unknown>()
  /** False until the first non-numeric entry: until then reads never look at `objects`. */
  hasObjects = false

  constructor(maxParallelism: number) {
    this.numbers = new NumericColumns(maxParallelism)
  }

  get(key: StateKey): unknown {
    const slot = this.numbers.slotOf(key)
    if (slot !== undefined) return this.numbers.valueAt(slot)
    return this.hasObjects ? this.objects.get(key) : undefined
  }

  getForUpdate(key: StateKey, copy: (v: unknown) => unknown): unknown {
    const slot = this.numbers.slotOf(key)
    if (slot !== undefined) return this.numbers.valueAt(slot)
    return this.hasObjects ? this.objects.getForUpdate(key, copy) : undefined
  }

  put(key: StateKey, value: unknown): void {
    if (typeof value === 'number') {
      const slot = this.numbers.slotOf(key)
      if (slot !== undefined) {
        this.numbers.setAt(slot, value)
        return
      }
      if (columnKey(key)) {
        if (this.hasObjects && this.objects.get(key) !== undefined) this.objects.remove(key)
        this.numbers.insert(key, value)
        return
      }
    } else if (this.numbers.size > 0) this.numbers.remove(key)
    this.hasObjects = true
    this.objects.put(key, value)
  }

  remove(key: StateKey): void {
    if (this.numbers.remove(key)) return
    if (this.hasObjects) this.objects.remove(key)
  }

  /** Every live entry, numeric ones first (for tests and tools; snapshots do not use it). */
  *entries(): Generator<[StateKey, unknown]> {
    yield* this.numbers.entries()
    if (!this.hasObjects) return
    const view = this.objects.snapshot()
    try {
      yield* view.entries()
    } finally {
      view.release()
    }
  }
}

export interface HeapBackendOptions {
  /** Where numeric images are encoded; the thread's shared encoder by default. */
  encoder?: SectionEncoder
  /**
   * Periodic snapshots will be taken (checkpointing is on): start the encoder thread as the
   * numeric state grows toward what it takes, so no snapshot waits for it to load. Off, a thread
   * start costs a job that may never snapshot (two slots at 100 k keys lost ~15% of a run to it).
   */
  snapshots?: boolean
}

export class HeapKeyedStateBackend extends KeyedStateBackend {
  private readonly tables = new Map<string, HeapTable>()
  private readonly encoder: SectionEncoder
  private encoderWarm: boolean

  constructor(range: KeyedStateBackend['keyGroupRange'], maxParallelism: number, options: HeapBackendOptions = {}) {
    super(range, maxParallelism)
    this.encoder = options.encoder ?? sharedEncoder
    this.encoderWarm = options.snapshots !== true
  }

  protected table(name: string): KeyValueTable<unknown> {
    let t = this.tables.get(name)
    if (t === undefined) this.tables.set(name, (t = new HeapTable(this.maxParallelism)))
    return t
  }

  maintain(budget = 8192): boolean {
    let more = false
    for (const t of this.tables.values()) if (t.hasObjects && t.objects.maintain(budget)) more = true
    if (!this.encoderWarm) this.warmEncoderWhenBig()
    return more
  }

  /**
   * With checkpoints, state on its way to snapshots that the encoder thread takes: start the thread
   * before the first of them (a job's last checkpoint would otherwise wait for it to load).
   */
  private warmEncoderWhenBig(): void {
    let slots = 0
    for (const t of this.tables.values()) slots += t.numbers.size
    if (slots < this.encoder.inlineBelow >> 2) return
    this.encoderWarm = true
    this.encoder.warm()
  }

  snapshot(timers: TimerEntry[], _barrier: CheckpointBarrier): KeyedSnapshotJob {
    const images: ReturnType<NumericColumns['image']>[] = []
    const views: [string, TableSnapshot<unknown>][] = []
    for (const [name, t] of this.tables) {
      if (t.numbers.size > 0) images.push(t.numbers.image(name))
      if (t.hasObjects) views.push([name, t.objects.snapshot()])
    }
    const { keyGroupRange, maxParallelism, encoder } = this
    return {
      async persist(ctx) {
        function* entries(): Generator<[string, StateKey, unknown]> {
          for (const [name, view] of views) for (const [k, v] of view.entries()) yield [name, k, v]
        }
        try {
          const other = await serializeSections(entries(), timers, maxParallelism)
          // A big snapshot of a local checkpoint is written by the encoder thread as it encodes it.
          const file = ctx.fileName('keyed')
          const target = ctx.storage.durableLocalPath?.(join(ctx.location, file))
          const encoded = await encoder.encode(images.map((x) => x.image), other, target)
          if (target !== undefined && encoded !== undefined && 'written' in encoded) await ctx.storage.localWriteDone?.(target)
          return await persistSections(ctx, encoded, keyGroupRange, file)
        } finally {
          for (const [, v] of views) v.release()
          for (const x of images) x.release()
        }
      },
    }
  }

  restore(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]> {
    return this.loadHandles(handles, storageFor)
  }
}
