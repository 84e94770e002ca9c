/**
 * The embedded LSM state backend (`state.backend.type: rocksdb`): keyed state in immutable sorted
 * tables on local disk (sstable.ts), with memtables in front, as RocksDB keeps it, within a memory
 * budget (memory.ts) and with leveled compaction in bounded steps.
 *
 * Memory. Writes go to the active memtable (one per state, memtable.ts: number values in numeric
 * columns, everything else and deletions in a Map). When the memtables reach half the
 * instance's write-buffer budget (`maintain()`, between batches) or a checkpoint starts, they are
 * frozen as one layer and flushed in the background as level-0 tables. A flushed layer stays
 * readable in memory as a cache while the read budget allows (at most 4; oldest dropped first, so the layers
 * kept are always the newest ones and "newest first" stays right); decoded blocks share the rest.
 * Reads look in the active memtable, the frozen layers, the level-0 tables the key's group is
 * pending in (a list per key group), newest first, then the one level-1 table owning the key's
 * group (bloom filter, block index, checksummed blocks).
 *
 * Compaction. Level 1 is a partition of the key groups: each table owns a contiguous range and is
 * written at most `targetFileBytes` (split at key-group boundaries; default 1/128 of the state). A step picks the next range
 * (round robin) that level-0 data is pending for and merges that data with the range's level-1
 * table into new level-1 tables (a k-way merge of sorted streams: one block per input in memory;
 * deletions dropped; from each level-0 table only the key groups still pending in it). A level-0 table is deleted once every key group it holds and every older
 * level-0 table was merged (so what remains of level 0 always shadows correctly). A table
 * that overlaps nothing older moves to level 1 without being rewritten. A step's merge (merge.ts)
 * runs on the compaction thread (compaction-pool.ts) by file path while the task goes on; the task
 * picks steps and installs each result at once (one step in flight). With `compactionThread:
 * false`, or for a merge too large for that thread's heap, it runs here in slices of a few
 * milliseconds between batches. Steps are paced by a credit earned by
 * flushes (`compactionCredit` × the bytes flushed, at most × 1/128 of the state, never saved up),
 * so the bytes compaction adds to an incremental checkpoint stay proportional to the bytes the
 * job changed; only when level 0 outgrows level 1 (or 256 tables) does compaction run unpaced.
 *
 * Checkpoints are native: the subtask's tables, level 1 then level 0 oldest first. Incremental
 * checkpoints upload into `<jobId>/shared/` the tables that the latest completed checkpoint this
 * backend heard of did not upload, and reference the rest: an upload is reused only once a
 * completed checkpoint confirmed it (notifyCheckpointComplete), never one of a pending or aborted
 * checkpoint, whose files the coordinator's shared-state registry may delete. Full checkpoints
 * copy every table. Canonical savepoints use the key-group sections format, which the hashmap
 * backend reads too, written and read as streams (sections.ts); this backend reads both formats,
 * at any parallelism, table by table or key group by key group into local level-0 tables (never
 * all keys in memory).
 *
 * Architecture Invariant: a frozen memtable is never written (a flush reads its columns in place);
 * a table file is never modified; a local table stays on disk while a snapshot that lists it is
 * being persisted (pinned as it joins the snapshot, before the flush is over); level-0 tables
 * leave oldest first, so for any key the newest level-0 table holding it holds its newest version
 * (or level 1 does, when none holds it).
 * Tests: test/lsm.test.ts, test/lsm-compaction.test.ts, test/lsm-memory.test.ts,
 * test/lsm-memtable.test.ts, test/keyed-backend.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { serialize } from 'node:v8'
import { threadId } from 'node:worker_threads'
import { writeStateFile } from '../../checkpoint/file-check.js'
import type { CheckpointBarrier } from '../../checkpoint/options.js'
import type { FileReference, SstStateHandle } from '../../checkpoint/metadata.js'
import type { KeyedRestore } from '../../checkpoint/state-assignment.js'
import { isSstHandle } from '../../checkpoint/metadata.js'
import { join } from '../../storage/paths.js'
import type { Storage } from '../../storage/storage.js'
import { keyGroupForKey, rangeContains, type KeyGroupRange, type StateKey } from '../../core/key-groups.js'
import {
  KeyedStateBackend, readKeyGroupSections, readStateFile, serializeSections, type KeyValueTable, type KeyedSnapshotJob,
  type TimerEntry,
} from '../keyed-backend.js'
import { MemoryShare, keyBytes } from './memory.js'
import { FlushPlan, Memtable, TOMBSTONE } from './memtable.js'
import { acquireCompactionThread } from './compaction-pool.js'
import { MergeHeap, mergeSteps, type MergeOutput, type MergeRequest } from './merge.js'
import { persistSectionStream, sectionGroups } from './sections.js'
import { BlockCache, SstReader, SstWriter, bloomHash, encodeKey, sstEntriesFromBuffer, type SstEntry, type SstMeta } from './sstable.js'

export interface LsmOptions {
  /** This instance's memory budget in bytes; unset: an equal share of the process-wide managed memory. */
  memoryBytes?: number
  /** Also flush once the memtables hold this many entries (tests). */
  memtableEntries?: number
  /** Upper bound of a level-1 table's size; default: 1/128 of the state, between 4 KB and 32 MB. */
  targetFileBytes?: number
  /** Bytes of compaction output allowed per byte flushed. */
  compactionCredit: number
  /** Milliseconds a flush (or an inline compaction) runs before yielding to processing. */
  sliceMs: number
  /** Merges run on the compaction thread (default); false: inline on this thread, in slices. */
  compactionThread: boolean
  /** Bounds of a section of a canonical savepoint (tests cut small ones). */
  sectionLimits?: { entries: number; bytes: number }
}

const DEFAULTS: LsmOptions = { compactionCredit: 2.5, sliceMs: 4, compactionThread: true }

interface StateData {
  name: string
  dirty: Memtable
  /** Frozen memtables of this state (being flushed, or flushed and kept as a cache), newest first. */
  frozen: Memtable[]
  /** Estimated memory of a value of this state, updated by flushes. */
  valueBytes: number
}

/** A frozen memtable across states: flushed in the background, then kept as a read cache while memory allows. */
interface Layer {
  parts: [StateData, Memtable][]
  bytes: number
  flushed: boolean
}

interface L0Table {
  r: SstReader
  /** Key groups of this table not yet merged into level 1. */
  pending: Set<number>
}

interface L1Table {
  r: SstReader
  lo: number
  hi: number
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
    // Values below the memtable are shared (frozen memtables, cached blocks).
    if (below === undefined || below === null || typeof below !== 'object') return below
    const c = copy(below)
    this.d.dirty.set(key, c)
    this.store.touched()
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

/** A cheap estimate of a value's memory from a sample of a flush. */
function valueBytes(sample: unknown[]): number {
  if (sample.length === 0) return 32
  let n = 0
  for (const v of sample) {
    if (v === TOMBSTONE || v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') n += 16
    else if (typeof v === 'string') n += 16 + 2 * v.length
    else n += 3 * serialize(v).length
  }
  return Math.ceil(n / sample.length)
}

/** Table uploads of a checkpoint in flight at once, at most, and their bytes (at least one upload runs). */
const UPLOADS = 8
const UPLOAD_BYTES = 32 << 20

/** Flushed memtables kept as read caches, at most. */
const MAX_CACHED_LAYERS = 4

const yieldNow = (): Promise<void> => new Promise<void>((r) => setImmediate(r))

export class LsmKeyedStateBackend extends KeyedStateBackend {
  private readonly dir: string
  private readonly data = new Map<string, StateData>()
  private readonly layers: Layer[] = []
  private l0: L0Table[] = []
  private l1: L1Table[] = []
  /**
   * Key group (minus the range's start) → the level-0 tables it is pending in, oldest first: a
   * read probes only these, not every level-0 table.
   */
  private readonly pendingIn: (L0Table[] | undefined)[] = []
  private readonly cache = new BlockCache(1 << 20)
  private readonly memory: MemoryShare
  private queue: Promise<unknown> = Promise.resolve()
  /** The compaction step in flight (one at a time). */
  private compacting: Promise<void> | undefined
  /** The compaction thread, or undefined when merges run inline (option `compactionThread: false`). */
  private readonly thread: ReturnType<typeof acquireCompactionThread> | undefined
  private credit = 0
  private cursor: number
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
  /** A background flush or compaction failed: the next maintain() or snapshot throws it. */
  private failure: unknown
  /** Writes since the budget was last checked. */
  private writes = 0

  /** Compaction steps that merged (observability, tests). */
  compactions = 0
  /** Merges that ran on another thread than this backend's (the compaction thread). */
  offThreadMerges = 0
  /** Tables moved to level 1 without being rewritten. */
  trivialMoves = 0
  /** Flushes the memory budget (not a checkpoint) started. */
  budgetFlushes = 0
  /** Reads that reached the tables, and the tables they probed (bloom filter first), both levels (observability, bench). */
  tableReads = 0
  tableProbes = 0
  /** Bytes written by flushes and by compaction (observability, bench). */
  flushedBytes = 0
  compactedBytes = 0

  constructor(range: KeyGroupRange, maxParallelism: number, workDir?: string, opts: Partial<LsmOptions> = {}) {
    super(range, maxParallelism)
    this.opts = { ...DEFAULTS, ...opts }
    const base = workDir ?? joinPath(tmpdir(), 'tsflink-lsm')
    mkdirSync(base, { recursive: true })
    this.dir = mkdtempSync(joinPath(base, 'db-'))
    this.cursor = range.start
    this.memory = new MemoryShare(() => this.trimCaches(), opts.memoryBytes)
    this.thread = this.opts.compactionThread ? acquireCompactionThread() : undefined
  }

  get tableCount(): number {
    return this.l0.length + this.l1.length
  }

  /**
   * Level-0 and level-1 table counts and bytes, and level 0's depth: the most level-0 tables any
   * key group is pending in, which is what a read that misses probes (tests, bench).
   */
  get levels(): { l0: number; l1: number; l1Bytes: number; l0Bytes: number; depth: number } {
    return {
      l0: this.l0.length, l1: this.l1.length,
      l1Bytes: this.l1.reduce((n, t) => n + t.r.size, 0), l0Bytes: this.l0.reduce((n, t) => n + t.r.size, 0),
      depth: this.depth(),
    }
  }

  private depth(): number {
    let d = 0
    for (const list of this.pendingIn) if (list !== undefined && list.length > d) d = list.length
    return d
  }

  /** Estimated bytes of the active memtables. */
  get memtableBytes(): number {
    let n = 0
    for (const d of this.data.values()) n += d.dirty.bytes(d.valueBytes)
    return n
  }

  /** Estimated bytes held for reads: flushed layers kept, decoded blocks, indexes. */
  get readBytes(): number {
    return this.layerBytes(true) + this.cache.bytes + this.indexBytes()
  }

  /** Resolves once every flush and compaction queued so far has run. */
  async whenIdle(): Promise<void> {
    for (;;) {
      const q = this.queue
      const c = this.compacting
      await q
      await c
      if (q === this.queue && c === this.compacting) return
    }
  }

  protected table(name: string): KeyValueTable<unknown> {
    return new LsmTable(this, this.stateData(name))
  }

  private stateData(name: string): StateData {
    let d = this.data.get(name)
    if (d === undefined) this.data.set(name, (d = { name, dirty: new Memtable(this.maxParallelism), frozen: [], valueBytes: 32 }))
    return d
  }

  /**
   * Counts a write; every 4096 writes checks the budget as maintain() does, so that memory stays
   * bounded also where nothing calls maintain() between batches (an operator chained to a source).
   */
  touched(): void {
    if (++this.writes >= 4096) this.maintain()
  }

  /** A value below the active memtable (undefined when absent): frozen layers, then the tables. */
  readBelow(d: StateData, key: StateKey): unknown {
    for (const f of d.frozen) {
      const v = f.get(key)
      if (v !== undefined) return v === TOMBSTONE ? undefined : v
    }
    const kg = keyGroupForKey(key, this.maxParallelism)
    // Only level-0 tables whose data of this key group is not merged yet: what a table held of it
    // once merged is in level 1, older than every table still pending for it.
    const pending = this.pendingIn[kg - this.keyGroupRange.start]
    const t = this.l1For(kg)
    // No table to probe (a new key before the first flush): no encoded key, no hash.
    if ((pending === undefined || pending.length === 0) && t === undefined) return undefined
    const enc = encodeKey(kg, d.name, key)
    const hash = bloomHash(enc)
    this.tableReads++
    if (pending !== undefined) for (let i = pending.length - 1; i >= 0; i--) {
      this.tableProbes++
      const e = pending[i]!.r.get(enc, hash)
      if (e !== undefined) return e[4] === 1 ? undefined : e[5]
    }
    if (t === undefined) return undefined
    this.tableProbes++
    const e = t.r.get(enc, hash)
    return e === undefined || e[4] === 1 ? undefined : e[5]
  }

  private l1For(kg: number): L1Table | undefined {
    const l1 = this.l1
    let lo = 0
    let hi = l1.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const t = l1[mid]!
      if (kg < t.lo) hi = mid - 1
      else if (kg > t.hi) lo = mid + 1
      else return t
    }
    return undefined
  }

  /** Runs `job` after every job queued before it. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job)
    this.queue = run.catch(() => {})
    return run
  }

  private newPath(): string {
    return joinPath(this.dir, `${String(this.seq++).padStart(6, '0')}.sst`)
  }

  private targetFileBytes(): number {
    if (this.opts.targetFileBytes !== undefined) return this.opts.targetFileBytes
    // Level 1 is the state once compacted; level 0 would count overwritten versions too.
    const total = this.levels.l1Bytes || this.totalBytes()
    return Math.min(32 << 20, Math.max(4 << 10, Math.floor(total / 128)))
  }

  private totalBytes(): number {
    let n = 0
    for (const t of this.l1) n += t.r.size
    for (const t of this.l0) n += t.r.size
    return n
  }

  /** Level 0 outgrew its share (writes faster than the credit pays for): compaction runs without credit. */
  private backlog(): boolean {
    if (this.l0.length > 256) return true
    let l0 = 0
    for (const t of this.l0) l0 += t.r.size
    let l1 = 0
    for (const t of this.l1) l1 += t.r.size
    return l0 > 32 << 20 && l0 > l1
  }

  /** Freezes every memtable as one layer (O(number of states)). */
  private freeze(): Layer | undefined {
    const parts: [StateData, Memtable][] = []
    let bytes = 0
    for (const d of this.data.values()) {
      if (d.dirty.size === 0) continue
      parts.push([d, d.dirty])
      bytes += d.dirty.bytes(d.valueBytes)
      d.frozen.unshift(d.dirty)
      d.dirty = new Memtable(this.maxParallelism)
    }
    if (parts.length === 0) return undefined
    const layer: Layer = { parts, bytes, flushed: false }
    this.layers.push(layer)
    return layer
  }

  /** Writes a frozen layer as level-0 tables (split by size at key-group boundaries); keeps it as a cache. */
  private async flush(layer: Layer | undefined, onTable?: (r: SstReader) => void): Promise<void> {
    if (layer === undefined || this.disposed) return
    const plan = new FlushPlan(layer.parts.map(([d, mem]) => ({ name: d.name, mem })), this.maxParallelism)
    let tables: SstReader[]
    try {
      let deadline = performance.now() + this.sliceMs()
      for (const _ of plan.prepare()) {
        if (performance.now() > deadline) {
          await yieldNow()
          deadline = performance.now() + this.sliceMs()
        }
      }
      // A Map entry's memory beyond ENTRY_OVERHEAD: its value and (a string) its key.
      for (const [d] of layer.parts) {
        const s = plan.samples.get(d.name)
        if (s === undefined) continue
        let keys = 0
        for (const k of s.keys) keys += keyBytes(k)
        d.valueBytes = valueBytes(s.values) + Math.ceil(keys / s.keys.length)
      }
      tables = await this.writeGroups((function* () {
        for (const [, write] of plan.groups()) yield write
      })(), { level: 0 }, onTable)
    } finally {
      plan.release()
    }
    if (this.disposed) return
    for (const r of tables) {
      this.addL0(r)
      this.flushedBytes += r.size
    }
    // Credit for compaction: proportional to the bytes flushed, at most what 1/128 of the state
    // earns, and never saved up, so one interval never carries a burst of compaction.
    const flushed = tables.reduce((s, r) => s + r.size, 0)
    const earned = this.opts.compactionCredit * Math.min(flushed, Math.max(4 << 10, (this.levels.l1Bytes || this.totalBytes()) / 128))
    this.credit = Math.min(this.credit + earned, earned)
    layer.flushed = true
    this.trimCaches()
  }

  /**
   * Writes key groups (ascending; each one's entries sorted, or a function adding them in order to
   * a writer) as tables split at group boundaries.
   */
  private async writeGroups(groups: Iterable<SstEntry[] | ((w: SstWriter) => void)>, meta: SstMeta, onTable?: (r: SstReader) => void): Promise<SstReader[]> {
    const out: SstReader[] = []
    const target = this.targetFileBytes()
    let w: SstWriter | undefined
    let deadline = performance.now() + this.sliceMs()
    try {
      for (const entries of groups) {
        if (w !== undefined && w.bytes >= target) {
          w.finish()
          out.push(new SstReader(w.path, this.cache))
          onTable?.(out[out.length - 1]!)
          w = undefined
        }
        if (typeof entries === 'function') {
          w ??= new SstWriter(this.newPath(), meta)
          entries(w)
        } else {
          for (const e of entries) {
            w ??= new SstWriter(this.newPath(), meta)
            w.add(e)
          }
        }
        if (performance.now() > deadline) {
          await yieldNow()
          deadline = performance.now() + this.sliceMs()
        }
      }
      if (w !== undefined) {
        w.finish()
        out.push(new SstReader(w.path, this.cache))
        onTable?.(out[out.length - 1]!)
      }
      return out
    } catch (e) {
      w?.abort()
      for (const r of out) this.retire(r)
      throw e
    }
  }

  /**
   * How long background work runs before yielding: a few milliseconds, longer the further frozen
   * memtables waiting for their flush exceed the write buffer (a write stall, as RocksDB's: the
   * task slows down instead of memory growing without bound).
   */
  private sliceMs(): number {
    const waiting = this.layerBytes(false) - this.layerBytes(true)
    const wb = this.memory.writeBufferBytes
    if (waiting <= wb / 2) return this.opts.sliceMs
    return Math.min(500, this.opts.sliceMs * 2 ** Math.min(7, Math.ceil((4 * waiting) / wb)))
  }

  private layerBytes(flushedOnly: boolean): number {
    let n = 0
    for (const l of this.layers) if (l.flushed || !flushedOnly) n += l.bytes
    return n
  }

  private indexBytes(): number {
    let n = 0
    for (const t of this.l0) n += t.r.indexBytes
    for (const t of this.l1) n += t.r.indexBytes
    return n
  }

  /** Drops the oldest flushed layers and sizes the block cache so reads stay within the read budget. */
  private trimCaches(): void {
    const budget = this.memory.readBytes
    const index = this.indexBytes()
    // Layers may use three quarters of what indexes leave; blocks get the rest. At most
    // MAX_CACHED_LAYERS are kept: a read that misses looks into every one.
    let layers = this.layerBytes(true)
    let kept = this.layers.reduce((n, l) => n + (l.flushed ? 1 : 0), 0)
    while (layers > (budget - index) * 0.75 || kept > MAX_CACHED_LAYERS) {
      const oldest = this.layers[0]
      if (oldest === undefined || !oldest.flushed) break
      kept--
      this.layers.shift()
      for (const [d, mem] of oldest.parts) {
        const i = d.frozen.lastIndexOf(mem)
        if (i >= 0) d.frozen.splice(i, 1)
      }
      layers -= oldest.bytes
    }
    this.cache.setCapacity(budget - index - layers)
  }

  /** Runs `job` in the background; a failure fails the task at its next maintain() or snapshot. */
  private background(job: () => Promise<void>): Promise<void> {
    return this.enqueue(job).catch((e: unknown) => {
      if (!this.disposed) this.failure ??= e
    })
  }

  maintain(): boolean {
    if (this.failure !== undefined) throw this.failure
    this.writes = 0
    const entries = this.opts.memtableEntries
    let size = 0
    if (entries !== undefined) for (const d of this.data.values()) size += d.dirty.size
    if (this.memtableBytes >= this.memory.writeBufferBytes / 2 || (entries !== undefined && size >= entries)) {
      this.budgetFlushes++
      const layer = this.freeze()
      void this.background(() => this.flush(layer))
      this.trimCaches()
    }
    this.scheduleCompaction()
    return false
  }

  /** Queues one compaction step when credit and work are there; a step queues the next one itself. */
  private scheduleCompaction(): void {
    if (this.compacting !== undefined || (this.credit <= 0 && !this.backlog()) || this.disposed || this.failure !== undefined || this.nextStep() === undefined) return
    // Not in the queue of flushes: a merge on the compaction thread must never hold a flush up.
    const step = this.thread !== undefined ? this.compactStep() : this.enqueue(() => this.compactStep())
    this.compacting = step.catch((e: unknown) => {
      if (!this.disposed) this.failure ??= e
    }).finally(() => {
      this.compacting = undefined
      this.scheduleCompaction()
    })
  }

  /** The next key-group range (at or after the cursor, wrapping) that level-0 data is pending for. */
  private nextStep(): { lo: number; hi: number; l1: L1Table[] } | undefined {
    const { start, end } = this.keyGroupRange
    const pendingAt = (lo: number, hi: number): boolean => {
      for (let g = lo; g <= hi; g++) if ((this.pendingIn[g - start]?.length ?? 0) > 0) return true
      return false
    }
    // Segments in key-group order: level-1 tables and the gaps between them.
    const segments: { lo: number; hi: number; l1: L1Table | undefined }[] = []
    let at = start
    for (const t of this.l1) {
      if (t.lo > at) segments.push({ lo: at, hi: t.lo - 1, l1: undefined })
      segments.push({ lo: t.lo, hi: t.hi, l1: t })
      at = t.hi + 1
    }
    if (at <= end) segments.push({ lo: at, hi: end, l1: undefined })
    const first = segments.findIndex((s) => s.hi >= this.cursor)
    for (let i = 0; i < segments.length; i++) {
      const s = segments[(Math.max(0, first) + i) % segments.length]!
      if (!pendingAt(s.lo, s.hi)) continue
      if (s.l1 !== undefined) {
        // A small table takes its small right neighbour along, so that level 1 does not fragment.
        const next = segments[(Math.max(0, first) + i + 1) % segments.length]
        const target = this.targetFileBytes()
        if (next?.l1 !== undefined && next.lo === s.hi + 1 && s.l1.r.size + next.l1.r.size < target) return { lo: s.lo, hi: next.hi, l1: [s.l1, next.l1] }
        return { lo: s.lo, hi: s.hi, l1: [s.l1] }
      }
      // A gap: the oldest pending table's groups in it, so that a step stays about one table's size.
      const oldest = this.l0.find((t) => { for (const g of t.pending) if (g >= s.lo && g <= s.hi) return true; return false })!
      const [min, max] = oldest.r.keyGroups
      return { lo: Math.max(s.lo, min), hi: Math.min(s.hi, max), l1: [] }
    }
    return undefined
  }

  /** One compaction step: a trivial move, or a merge of one range's pending level-0 data into level 1. */
  private async compactStep(): Promise<void> {
    if (this.disposed) return
    const step = this.nextStep()
    if (step === undefined) return
    const { lo, hi } = step
    this.cursor = hi + 1 > this.keyGroupRange.end ? this.keyGroupRange.start : hi + 1
    const inputs = this.l0.filter((t) => { for (const g of t.pending) if (g >= lo && g <= hi) return true; return false })
    // Trivial move: one pending table alone in a gap, under which nothing older lies.
    if (step.l1.length === 0 && inputs.length === 1) {
      const t = inputs[0]!
      const [min, max] = t.r.keyGroups
      const idx = this.l0.indexOf(t)
      const olderOverlap = this.l0.slice(0, idx).some((o) => o.r.groupsIn(min, max).length > 0)
      const newerOverlap = this.l0.slice(idx + 1).some((o) => { for (const g of o.pending) if (g >= min && g <= max) return true; return false })
      const wholeGap = this.l1.every((x) => x.hi < min || x.lo > max)
      if (t.pending.size === t.r.groupsIn(min, max).length && min >= lo && max <= hi && !olderOverlap && !newerOverlap && wholeGap) {
        this.l0.splice(idx, 1)
        for (const g of t.pending) this.unpend(t, g)
        this.l1.push({ r: t.r, lo: min, hi: max })
        this.l1.sort((a, b) => a.lo - b.lo)
        this.trivialMoves++
        return
      }
    }
    const written = await this.merge(lo, hi, inputs, step.l1)
    // Debt is bounded: unpaced work (a backlog) must not silence paced compaction afterwards.
    this.credit = Math.max(this.credit - written, -2 * this.targetFileBytes())
    this.compactedBytes += written
    this.compactions++
  }

  /**
   * Merges `inputs`' pending data in lo..hi with level-1 tables `base` into new level-1 tables: on
   * the compaction thread (by file path; this thread goes on processing meanwhile) or, inline, in
   * slices between batches. Then installs the result at once: nothing else changes level 1 or
   * retires a level-0 table meanwhile (one step at a time; flushes only add newer level-0 tables).
   */
  private async merge(lo: number, hi: number, inputs: L0Table[], base: L1Table[]): Promise<number> {
    const req: MergeRequest = {
      // Streams newest first: level 0 newest to oldest, then level 1.
      inputs: inputs.map((t) => t.r.path).reverse(), groups: pendingGroups(inputs, lo, hi).reverse(), base: base.map((b) => b.r.path), lo, hi,
      targetBytes: this.targetFileBytes(), outPrefix: joinPath(this.dir, `c${String(this.seq++).padStart(6, '0')}-`),
    }
    let written: MergeOutput[] | undefined
    if (this.thread !== undefined) {
      try {
        const r = await this.thread.merge(req)
        written = r.outputs
        if (r.threadId !== threadId) this.offThreadMerges++
      } catch (e) {
        // Values too large for the compaction thread's heap: this step runs here instead.
        if ((e as { code?: unknown }).code !== 'ERR_WORKER_OUT_OF_MEMORY') throw e
        const prefix = req.outPrefix.slice(this.dir.length + 1)
        for (const f of readdirSync(this.dir)) if (f.startsWith(prefix)) rmSync(joinPath(this.dir, f), { force: true })
      }
    }
    written ??= await this.mergeInline(req)
    if (written === undefined) return 0
    const out: L1Table[] = []
    try {
      for (const o of written) out.push({ r: new SstReader(o.path, this.cache), lo: o.lo, hi: o.hi })
    } catch (err) {
      for (const t of out) t.r.close()
      for (const o of written) rmSync(o.path, { force: true })
      if (this.disposed) return 0
      throw err
    }
    if (this.disposed) {
      for (const t of out) this.retire(t.r)
      return 0
    }
    // Install: the outputs replace `base`; the inputs' groups in lo..hi are merged.
    for (const b of base) {
      this.l1.splice(this.l1.indexOf(b), 1)
      this.retire(b.r)
    }
    // Ownership of the outputs covers lo..hi, so that no gap opens inside a former level-1 range.
    this.l1.push(...out)
    this.l1.sort((a, b) => a.lo - b.lo)
    for (const t of inputs) {
      for (const g of [...t.pending]) {
        if (g >= lo && g <= hi) {
          t.pending.delete(g)
          this.unpend(t, g)
        }
      }
    }
    // Oldest first only: a merged table whose older neighbour stays must stay too, as the newer
    // version of what the older one still holds (readers and restores take "newest wins").
    while (this.l0.length > 0 && this.l0[0]!.pending.size === 0) this.retire(this.l0.shift()!.r)
    this.trimCaches()
    return out.reduce((s, t) => s + t.r.size, 0)
  }

  /** Runs a merge on this thread, in slices between batches; undefined when the backend was disposed meanwhile. */
  private async mergeInline(req: MergeRequest): Promise<MergeOutput[] | undefined> {
    const it = mergeSteps(req)
    let deadline = performance.now() + this.sliceMs()
    for (let r = it.next(); ; r = it.next()) {
      if (r.done === true) return r.value
      if (performance.now() > deadline) {
        await yieldNow()
        deadline = performance.now() + this.sliceMs()
        if (this.disposed) {
          it.return([])
          return undefined
        }
      }
    }
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

  /** The tables in write order: level 1 (disjoint), then level 0 oldest first. */
  private liveTables(): SstReader[] {
    return [...this.l1.map((t) => t.r), ...this.l0.map((t) => t.r)]
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
    if (this.failure !== undefined) throw this.failure
    const layer = this.freeze()
    // The uploads this snapshot may reuse: decided now, in barrier order, not when it persists.
    const base = this.confirmed
    // The tables once every earlier job ran, then this flush's tables as it writes them: exactly
    // the state at this barrier, in write order. Each is pinned as it joins (compaction may retire
    // one meanwhile: its file stays until this snapshot is persisted), so uploads start while the
    // flush is still writing.
    const live: SstReader[] = []
    let complete = false
    let wake: (() => void) | undefined
    const joined = (): void => {
      wake?.()
      wake = undefined
    }
    const tables = this.enqueue(async () => {
      const before = this.liveTables()
      this.pin(before)
      live.push(...before)
      joined()
      await this.flush(layer, (r) => {
        this.pin([r])
        live.push(r)
        joined()
      })
    }).finally(() => {
      complete = true
      joined()
    })
    tables.catch(() => {}) // persist() rethrows it
    const { keyGroupRange: range, maxParallelism } = this
    return {
      persist: async (ctx) => {
        try {
          if (barrier.type === 'savepoint' && barrier.format === 'canonical') {
            await tables
            return await persistSectionStream(ctx, mergedEntries(live), timers, range, maxParallelism, joinPath(this.dir, `savepoint-${this.seq++}.tmp`), this.opts.sectionLimits)
          }
          const incremental = barrier.type === 'checkpoint' && barrier.incremental
          // Uploads run side by side (each is a write and an fsync: one after the other, a flush's
          // hundred small tables waited on a hundred fsyncs), within a count and a bytes bound.
          const refs: FileReference[] = []
          const uploading = new Set<Promise<void>>()
          let inFlight = 0
          try {
            for (let i = 0; ; i++) {
              // The next table of the snapshot, once it has joined; none when the flush is done.
              while (i >= live.length && !complete) await new Promise<void>((r) => { wake = r })
              if (i >= live.length) break
              const r = live[i]!
              const reused = incremental ? base.get(r.path) : undefined
              if (reused !== undefined) {
                refs[i] = reused
                continue
              }
              const rel = incremental ? `../shared/${randomBytes(8).toString('hex')}.sst` : `${ctx.fileName('sst')}.sst`
              while (uploading.size >= UPLOADS || (uploading.size > 0 && inFlight + r.size > UPLOAD_BYTES)) await Promise.race(uploading)
              const data = readFileSync(r.path)
              inFlight += data.length
              const upload: Promise<void> = writeStateFile(ctx.storage, ctx.location, rel, data).then((ref) => {
                refs[i] = ref
              }).finally(() => {
                inFlight -= data.length
                uploading.delete(upload)
              })
              upload.catch(() => {}) // awaited below; this only keeps a failure from being unhandled meanwhile
              uploading.add(upload)
            }
            await tables
            await Promise.all(uploading)
          } catch (e) {
            await Promise.allSettled(uploading)
            throw e
          }
          const sstables = refs.map((ref) => ref.path)
          const files: FileReference[] = [...refs]
          const uploads = new Map<string, FileReference>()
          live.forEach((r, i) => uploads.set(r.path, refs[i]!))
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
          // Tables still joining after a failure are unpinned too, once the flush is over.
          await tables.catch(() => {})
          this.unpin(live)
        }
      },
    }
  }

  async restore(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]> {
    const range = this.keyGroupRange
    const own = handles.length === 1 && isSstHandle(handles[0]!.handle)
      && handles[0]!.handle.keyGroupRange[0] === range.start && handles[0]!.handle.keyGroupRange[1] === range.end
    const timers: TimerEntry[] = []
    if (own) {
      // Same key groups, native format: take the tables as they are, one file at a time.
      const k = handles[0]!
      const h = k.handle as SstStateHandle
      const tables: SstReader[] = []
      for (const rel of h.sstables) {
        const loc = join(k.checkpointDir, rel)
        const path = this.newPath()
        writeFileSync(path, await readStateFile(k, storageFor, loc))
        tables.push(new SstReader(path, this.cache))
      }
      this.adopt(tables)
      if (h.timers !== undefined) {
        const loc = join(k.checkpointDir, h.timers.file)
        for (const [, s] of readKeyGroupSections(await readStateFile(k, storageFor, loc), h.timers.keyGroups, range, loc)) timers.push(...s.t)
      }
      this.trimCaches()
      return timers
    }
    // Another parallelism or the sections format: each source file, filtered to these key groups,
    // becomes local level-0 tables in write order; compaction levels them later.
    const tables: SstReader[] = []
    for (const k of handles) {
      const h = k.handle
      if (isSstHandle(h)) {
        for (const rel of h.sstables) {
          const loc = join(k.checkpointDir, rel)
          const buf = await readStateFile(k, storageFor, loc)
          // A table is sorted: its key groups come one after the other, each one's entries sorted.
          tables.push(...await this.writeGroups((function* () {
            let group: SstEntry[] = []
            for (const e of sstEntriesFromBuffer(buf, loc)) {
              if (!rangeContains(range, e[1])) continue
              if (group.length > 0 && group[0]![1] !== e[1]) {
                yield group
                group = []
              }
              group.push(e)
            }
            if (group.length > 0) yield group
          })(), { level: 0 }))
        }
        if (h.timers !== undefined) {
          const loc = join(k.checkpointDir, h.timers.file)
          for (const [, s] of readKeyGroupSections(await readStateFile(k, storageFor, loc), h.timers.keyGroups, range, loc)) timers.push(...s.t)
        }
      } else {
        // One section deserialized at a time, one key group in memory at a time.
        const data = await readStateFile(k, storageFor, k.location)
        const groups = sectionGroups(readKeyGroupSections(data, h.keyGroups, range, k.location), timers)
        tables.push(...await this.writeGroups((function* () {
          for (const [, entries] of groups) yield entries
        })(), { level: 0 }))
      }
    }
    for (const r of tables) this.addL0(r)
    // Restored data earns the credit to level itself.
    this.credit = this.opts.compactionCredit * tables.reduce((n, r) => n + r.size, 0)
    this.trimCaches()
    return timers
  }

  /**
   * Takes tables listed in write order: the longest prefix of tables with pairwise disjoint key
   * groups is level 1 (nothing older lies under any of them), the rest is level 0.
   */
  private adopt(tables: SstReader[]): void {
    let i = 0
    const taken: L1Table[] = []
    for (; i < tables.length; i++) {
      const r = tables[i]!
      const [lo, hi] = r.keyGroups
      if (r.count === 0 || taken.some((t) => !(hi < t.lo || lo > t.hi))) break
      taken.push({ r, lo, hi })
    }
    this.l1 = taken.sort((a, b) => a.lo - b.lo)
    for (const r of tables.slice(i)) this.addL0(r)
  }

  /** A new newest level-0 table: every key group it holds is pending. */
  private addL0(r: SstReader): void {
    const pending = new Set(r.groupsIn(0, Number.MAX_SAFE_INTEGER))
    const t: L0Table = { r, pending }
    const start = this.keyGroupRange.start
    for (const g of pending) (this.pendingIn[g - start] ??= []).push(t)
    this.l0.push(t)
  }

  /** Table `t`'s data of key group `g` is merged into level 1. */
  private unpend(t: L0Table, g: number): void {
    const list = this.pendingIn[g - this.keyGroupRange.start]
    const i = list?.indexOf(t) ?? -1
    if (i >= 0) list!.splice(i, 1)
  }

  override dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.memory.release()
    this.thread?.release()
    for (const r of [...this.liveTables(), ...this.retired]) {
      try {
        r.close()
      } catch {
        // closed already
      }
    }
    // A merge on the compaction thread may still be writing into the folder: its files appear
    // while it is removed (retried), and once it is gone the merge fails and is ignored. On a busy
    // machine the merge can outlast the retries: the folder is then removed a little later, never
    // failing the job that ended (and a folder a process left behind is removed by the next one,
    // local-dirs.ts).
    if (!removeTree(this.dir, 5)) {
      const later = setTimeout(() => removeTree(this.dir, 50), 1000)
      later.unref()
    }
  }
}

/** Removes a folder and what is in it, retrying while files appear in it; false when it could not. */
function removeTree(dir: string, retryDelay: number): boolean {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay })
    return true
  } catch {
    return false
  }
}

/**
 * Per table, its pending key groups in lo..hi when they are not all it holds there (undefined:
 * all). A step's range may take in a neighbour range merged earlier (a small level-1 table takes
 * its small neighbour along), whose data in this table is then older than level 1's.
 */
function pendingGroups(tables: readonly L0Table[], lo: number, hi: number): (number[] | undefined)[] {
  return tables.map((t) => {
    const held = t.r.groupsIn(lo, hi)
    const pending = held.filter((g) => t.pending.has(g))
    return pending.length === held.length ? undefined : pending
  })
}

/** Every live entry across tables listed in write order (newest wins), as [key group, state name, key, value], in key order, streamed. */
function* mergedEntries(tables: readonly SstReader[]): Generator<[number, string, StateKey, unknown]> {
  const heap = new MergeHeap([...tables].reverse().map((t) => t.entries()))
  let last: string | undefined
  for (let e = heap.next(); e !== undefined; e = heap.next()) {
    if (e[0] === last) continue
    last = e[0]
    if (e[4] === 0) yield [e[1], e[2], e[3], e[5]]
  }
}
