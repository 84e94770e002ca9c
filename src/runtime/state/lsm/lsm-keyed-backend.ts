/**
 * The embedded LSM state backend (`state.backend.type: rocksdb`): keyed state in immutable sorted
 * tables on local disk (sstable.ts), with a memtable of changes in front, as RocksDB keeps it.
 *
 * Reads look in the memtable, then in memtables being flushed, then in a bounded cache of clean
 * values, then in the tables, newest first (a bloom filter and a block index per table, decoded
 * blocks cached). Writes go to the memtable. A full memtable, and every checkpoint, is frozen in
 * O(number of states) and written as a new table in the background; a job queue keeps flushes and
 * compactions in order, so the set of tables at any point of the queue is exactly the state at
 * the matching point of processing.
 *
 * Checkpoints are native: the subtask's tables. Incremental checkpoints upload into
 * `<jobId>/shared/` the tables that the latest completed checkpoint this backend heard of did not
 * upload, and reference the rest: an upload is reused only once a completed checkpoint confirmed
 * it (notifyCheckpointComplete), never one of a pending or aborted checkpoint, whose files the
 * coordinator's shared-state registry may delete. Full checkpoints copy every table into the
 * checkpoint. Canonical savepoints use the key-group sections format, which the hashmap
 * backend reads too; this backend reads both formats, at any parallelism.
 *
 * Architecture Invariant: a table file is never modified; a local table stays on disk while a
 * snapshot that lists it is being persisted.
 * Tests: test/lsm.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { writeStateFile } from '../../checkpoint/file-check.js'
import type { CheckpointBarrier } from '../../checkpoint/options.js'
import type { FileReference, SstStateHandle } from '../../checkpoint/metadata.js'
import type { KeyedRestore } from '../../checkpoint/state-assignment.js'
import { isSstHandle } from '../../checkpoint/metadata.js'
import { join } from '../../storage/paths.js'
import type { Storage } from '../../storage/storage.js'
import { keyGroupForKey, type KeyGroupRange, type StateKey } from '../../core/key-groups.js'
import {
  KeyedStateBackend, cooperative, persistSections, readKeyGroupSections, readStateFile, serializeSections, type KeyValueTable, type KeyedSnapshotJob,
  type TimerEntry,
} from '../keyed-backend.js'
import { BlockCache, SstReader, encodeKey, writeSst, type SstEntry } from './sstable.js'

const TOMBSTONE: unique symbol = Symbol('deleted')
const ABSENT: unique symbol = Symbol('absent')
type Dirty = unknown
type Layer = Map<StateKey, Dirty>

export interface LsmOptions {
  /** Entries in memtables before a background flush. */
  memtableEntries: number
  /** Clean values kept in memory per state. */
  cacheEntries: number
  /** Tables that trigger a compaction into one. */
  compactAt: number
}

const DEFAULTS: LsmOptions = { memtableEntries: 500_000, cacheEntries: 2_000_000, compactAt: 6 }

interface StateData {
  name: string
  dirty: Layer
  /** Frozen memtables being flushed, newest first. */
  frozen: Layer[]
  clean: Map<StateKey, unknown>
}

class LsmTable implements KeyValueTable<unknown> {
  constructor(
    private readonly store: LsmKeyedStateBackend,
    private readonly d: StateData,
  ) {}

  get(key: StateKey): unknown {
    const v = this.d.dirty.get(key)
    if (v !== undefined) return v === TOMBSTONE ? undefined : v
    return this.store.readBelow(this.d, key)
  }

  getForUpdate(key: StateKey, copy: (v: unknown) => unknown): unknown {
    const v = this.d.dirty.get(key)
    if (v !== undefined) return v === TOMBSTONE ? undefined : v
    const below = this.store.readBelow(this.d, key)
    // Values below the memtable are shared (frozen memtables being written, cached blocks).
    if (below === undefined || below === null || typeof below !== 'object') return below
    const c = copy(below)
    this.put(key, c)
    return c
  }

  put(key: StateKey, value: unknown): void {
    this.d.dirty.set(key, value)
    this.store.touched()
  }

  remove(key: StateKey): void {
    this.d.dirty.set(key, TOMBSTONE)
    this.store.touched()
  }
}

export class LsmKeyedStateBackend extends KeyedStateBackend {
  private readonly dir: string
  private readonly data = new Map<string, StateData>()
  private ssts: SstReader[] = []
  private readonly cache = new BlockCache(16_384)
  private queue: Promise<unknown> = Promise.resolve()
  private compactionQueued = false
  private writes = 0
  private seq = 0
  /**
   * Local table path → its upload (path relative to a checkpoint directory, '../shared/…'): the
   * tables of the latest completed incremental checkpoint this backend heard of. Replaced, never
   * mutated, so a snapshot can hold on to it.
   */
  private confirmed: ReadonlyMap<string, FileReference> = new Map()
  /** The uploads each incremental checkpoint persisted here references, until it completes or is aborted. */
  private readonly uploadsOf = new Map<number, Map<string, FileReference>>()
  private readonly pins = new Map<string, number>()
  private readonly retired = new Set<SstReader>()
  private readonly opts: LsmOptions
  private disposed = false

  constructor(range: KeyGroupRange, maxParallelism: number, workDir?: string, opts: Partial<LsmOptions> = {}) {
    super(range, maxParallelism)
    this.opts = { ...DEFAULTS, ...opts }
    const base = workDir ?? joinPath(tmpdir(), 'tsflink-lsm')
    mkdirSync(base, { recursive: true })
    this.dir = mkdtempSync(joinPath(base, 'db-'))
  }

  get tableCount(): number {
    return this.ssts.length
  }

  /** How many compactions ran (observability, tests). */
  compactions = 0

  /** Resolves once every flush and compaction queued so far has run. */
  whenIdle(): Promise<void> {
    return this.queue.then(() => {})
  }

  protected table(name: string): KeyValueTable<unknown> {
    return new LsmTable(this, this.stateData(name))
  }

  private stateData(name: string): StateData {
    let d = this.data.get(name)
    if (d === undefined) this.data.set(name, (d = { name, dirty: new Map(), frozen: [], clean: new Map() }))
    return d
  }

  touched(): void {
    this.writes++
  }

  /** A value below the memtable (undefined when absent): frozen memtables, the clean cache, then the tables. */
  readBelow(d: StateData, key: StateKey): unknown {
    for (const f of d.frozen) {
      const v = f.get(key)
      if (v !== undefined) return v === TOMBSTONE ? undefined : v
    }
    const c = d.clean.get(key)
    if (c !== undefined) return c === ABSENT ? undefined : c
    const enc = encodeKey(keyGroupForKey(key, this.maxParallelism), d.name, key)
    let found: unknown = ABSENT
    for (let i = this.ssts.length - 1; i >= 0; i--) {
      const e = this.ssts[i]!.get(enc)
      if (e !== undefined) {
        found = e[4] === 1 ? ABSENT : e[5]
        break
      }
    }
    this.remember(d, key, found)
    return found === ABSENT ? undefined : found
  }

  private remember(d: StateData, key: StateKey, v: unknown): void {
    d.clean.set(key, v)
    if (d.clean.size > this.opts.cacheEntries) {
      let drop = d.clean.size - this.opts.cacheEntries + 1024
      for (const k of d.clean.keys()) {
        d.clean.delete(k)
        if (--drop === 0) break
      }
    }
  }

  /** Runs `job` after every job queued before it. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job)
    this.queue = run.catch(() => {})
    return run
  }

  /** Freezes every memtable (O(number of states)); returns what was frozen. */
  private freeze(): [StateData, Layer][] {
    const frozen: [StateData, Layer][] = []
    for (const d of this.data.values()) {
      if (d.dirty.size === 0) continue
      frozen.push([d, d.dirty])
      d.frozen.unshift(d.dirty)
      d.dirty = new Map()
    }
    this.writes = 0
    return frozen
  }

  /** Writes frozen memtables as one new table, then retires them into the clean cache. */
  private async flush(frozen: [StateData, Layer][]): Promise<void> {
    if (frozen.length === 0 || this.disposed) return
    const byGroup = new Map<number, SstEntry[]>()
    const maxP = this.maxParallelism
    for (const [d, layer] of frozen) {
      await cooperative(layer, ([k, v]) => {
        const kg = keyGroupForKey(k, maxP)
        let bucket = byGroup.get(kg)
        if (bucket === undefined) byGroup.set(kg, (bucket = []))
        bucket.push(v === TOMBSTONE ? [encodeKey(kg, d.name, k), kg, d.name, k, 1, null] : [encodeKey(kg, d.name, k), kg, d.name, k, 0, v])
      })
    }
    const entries: SstEntry[] = []
    await cooperative([...byGroup.keys()].sort((a, b) => a - b), (kg) => {
      const bucket = byGroup.get(kg)!
      bucket.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      for (const e of bucket) entries.push(e)
    })
    const path = joinPath(this.dir, `${String(this.seq++).padStart(6, '0')}.sst`)
    await writeSst(path, entries)
    if (this.disposed) return
    this.ssts.push(new SstReader(path, this.cache))
    for (const [d, layer] of frozen) {
      d.frozen.splice(d.frozen.indexOf(layer), 1)
      for (const [k, v] of layer) this.remember(d, k, v === TOMBSTONE ? ABSENT : v)
    }
  }

  /** Merges every table into one, newest values winning, tombstones dropped. */
  private async compact(): Promise<void> {
    if (this.ssts.length < this.opts.compactAt || this.disposed) return
    const inputs = this.ssts.slice()
    const seen = new Set<string>()
    const out: SstEntry[] = []
    for (let i = inputs.length - 1; i >= 0; i--) {
      await cooperative(inputs[i]!.entries(), (e) => {
        if (seen.has(e[0])) return
        seen.add(e[0])
        if (e[4] === 0) out.push(e)
      })
    }
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    const path = joinPath(this.dir, `${String(this.seq++).padStart(6, '0')}.sst`)
    await writeSst(path, out)
    if (this.disposed) return
    // Tables flushed meanwhile are newer: they stay on top.
    this.ssts = [new SstReader(path, this.cache), ...this.ssts.slice(inputs.length)]
    for (const r of inputs) this.retire(r)
    this.compactions++
  }

  private retire(r: SstReader): void {
    if ((this.pins.get(r.path) ?? 0) > 0) {
      this.retired.add(r)
      return
    }
    r.close()
    try {
      unlinkSync(r.path)
    } catch {
      // already gone
    }
  }

  private pin(rs: readonly SstReader[]): void {
    for (const r of rs) this.pins.set(r.path, (this.pins.get(r.path) ?? 0) + 1)
  }

  private unpin(rs: readonly SstReader[]): void {
    for (const r of rs) {
      const n = (this.pins.get(r.path) ?? 1) - 1
      if (n > 0) this.pins.set(r.path, n)
      else {
        this.pins.delete(r.path)
        if (this.retired.delete(r)) this.retire(r)
      }
    }
  }

  maintain(): boolean {
    if (this.writes >= this.opts.memtableEntries) {
      const frozen = this.freeze()
      void this.enqueue(() => this.flush(frozen))
    }
    // Queued behind flushes when they keep coming: a write-heavy job must not starve compaction.
    if (this.ssts.length >= this.opts.compactAt && !this.compactionQueued) {
      this.compactionQueued = true
      void this.enqueue(() => this.compact()).finally(() => (this.compactionQueued = false))
    }
    return false
  }

  override notifyCheckpointComplete(id: number): void {
    const uploads = this.uploadsOf.get(id)
    if (uploads !== undefined) this.confirmed = uploads
    for (const other of [...this.uploadsOf.keys()]) if (other <= id) this.uploadsOf.delete(other)
  }

  override notifyCheckpointAborted(id: number): void {
    this.uploadsOf.delete(id)
  }

  snapshot(timers: TimerEntry[], barrier: CheckpointBarrier): KeyedSnapshotJob {
    const frozen = this.freeze()
    // The uploads this snapshot may reuse: decided now, in barrier order, not when it persists.
    const base = this.confirmed
    // The tables once every earlier job and this flush ran: exactly the state at this barrier.
    const tables = this.enqueue(async () => {
      await this.flush(frozen)
      const live = this.ssts.slice()
      this.pin(live)
      return live
    })
    const { keyGroupRange: range, maxParallelism } = this
    return {
      persist: async (ctx) => {
        const live = await tables
        try {
          if (barrier.type === 'savepoint' && barrier.format === 'canonical') {
            return await persistSections(ctx, mergedEntries(live), timers, range, maxParallelism)
          }
          const incremental = barrier.type === 'checkpoint' && barrier.incremental
          const sstables: string[] = []
          const files: FileReference[] = []
          const uploads = new Map<string, FileReference>()
          for (const r of live) {
            let ref = incremental ? base.get(r.path) : undefined
            if (ref === undefined) {
              const rel = incremental ? `../shared/${randomBytes(8).toString('hex')}.sst` : `${ctx.fileName('sst')}.sst`
              ref = await writeStateFile(ctx.storage, ctx.location, rel, readFileSync(r.path))
            }
            uploads.set(r.path, ref)
            sstables.push(ref.path)
            files.push(ref)
          }
          if (incremental) this.uploadsOf.set(barrier.id, uploads)
          const handle: SstStateHandle = { type: 'sst', keyGroupRange: [range.start, range.end], sstables }
          if (timers.length > 0) {
            const t = await serializeSections([], timers, maxParallelism)
            const file = ctx.fileName('timers')
            files.push(await writeStateFile(ctx.storage, ctx.location, file, t!.data))
            handle.timers = { file, keyGroups: t!.keyGroups }
          }
          return { handle: sstables.length === 0 && handle.timers === undefined ? undefined : handle, files }
        } finally {
          this.unpin(live)
        }
      },
    }
  }

  async restore(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]> {
    const range = this.keyGroupRange
    const own = handles.length === 1 && isSstHandle(handles[0]!.handle)
      && handles[0]!.handle.keyGroupRange[0] === range.start && handles[0]!.handle.keyGroupRange[1] === range.end
    if (!own) return this.loadHandles(handles, storageFor)
    // Same key groups, native format: take the tables as they are.
    const k = handles[0]!
    const h = k.handle as SstStateHandle
    for (const rel of h.sstables) {
      const loc = join(k.checkpointDir, rel)
      const path = joinPath(this.dir, `${String(this.seq++).padStart(6, '0')}.sst`)
      writeFileSync(path, await readStateFile(k, storageFor, loc))
      this.ssts.push(new SstReader(path, this.cache))
    }
    const timers: TimerEntry[] = []
    if (h.timers !== undefined) {
      const loc = join(k.checkpointDir, h.timers.file)
      for (const [, s] of readKeyGroupSections(await readStateFile(k, storageFor, loc), h.timers.keyGroups, range, loc)) timers.push(...s.t)
    }
    return timers
  }

  override dispose(): void {
    this.disposed = true
    for (const r of [...this.ssts, ...this.retired]) {
      try {
        r.close()
      } catch {
        // closed already
      }
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Every live entry across tables (newest wins), as [state name, key, value]. */
function* mergedEntries(tables: readonly SstReader[]): Generator<[string, StateKey, unknown]> {
  const seen = new Set<string>()
  for (let i = tables.length - 1; i >= 0; i--) {
    for (const e of tables[i]!.entries()) {
      if (seen.has(e[0])) continue
      seen.add(e[0])
      if (e[4] === 0) yield [e[2], e[3], e[5]]
    }
  }
}
