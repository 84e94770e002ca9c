/**
 * What every keyed state backend shares: the state objects a user function sees (Value, List,
 * Map, Reducing) over a backend's tables, the key-group sections format (canonical snapshots),
 * and reading any snapshot handle back as entries. Backends: heap-keyed-backend.ts (hashmap) and
 * lsm/lsm-keyed-backend.ts (rocksdb, the embedded LSM).
 *
 * Sections format: for each key group with state, ascending, one v8-serialized
 * `{ s: { [stateName]: [k0, v0, k1, v1, …] }, t: [[domain, ts, key], …] }`; the handle lists
 * [keyGroup, offset, length] per section. A key group may also be cut into several consecutive
 * sections (the LSM backend writes bounded ones, lsm/sections.ts): readers take every listed
 * section in turn, never one per key group.
 * Must not import the task or the CLI. Tests: test/keyed-backend.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import type { CheckpointBarrier } from '../checkpoint/options.js'
import { readListed, writeStateFile } from '../checkpoint/file-check.js'
import { isSstHandle, type FileReference, type KeyGroupsStateHandle, type KeyedStateHandle } from '../checkpoint/metadata.js'
import type { KeyedRestore } from '../checkpoint/state-assignment.js'
import type {
  KeyedStateStore, ListState, ListStateDescriptor, MapState, MapStateDescriptor, ReducingState,
  ReducingStateDescriptor, StateDescriptor, StateKind, ValueState, ValueStateDescriptor,
} from '../core/state.js'
import { join } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { keyGroupForKey, rangeContains, type KeyGroupRange, type StateKey } from '../core/key-groups.js'
import { sstEntriesFromBuffer } from './lsm/sstable.js'

/** A timer as persisted: domain 0 = event time, 1 = processing time. */
export type TimerEntry = [domain: 0 | 1, timestamp: number, key: StateKey]

/** One state's values by key, as a backend stores them. */
export interface KeyValueTable<V> {
  get(key: StateKey): V | undefined
  /** Like get, but the result may be mutated in place (objects shared with a snapshot are copied first). */
  getForUpdate(key: StateKey, copy: (v: V) => V): V | undefined
  put(key: StateKey, value: V): void
  remove(key: StateKey): void
}

export interface PersistContext {
  /** The checkpoint or savepoint directory. */
  location: string
  storage: Storage
  /** A unique file name for this operator subtask's main state file. */
  fileName(kind: string): string
}

export interface PersistedKeyedState {
  handle: KeyedStateHandle | undefined
  /** Every file the handle references, relative to the checkpoint directory. */
  files: FileReference[]
}

/** The asynchronous half of a keyed snapshot. */
export interface KeyedSnapshotJob {
  persist(ctx: PersistContext): Promise<PersistedKeyedState>
}

export interface KeyGroupSection {
  s: Record<string, unknown[]>
  t: TimerEntry[]
}

const clone = <T>(v: T): T => structuredClone(v)

export abstract class KeyedStateBackend implements KeyedStateStore {
  /** Set by the task before each record (or timer) is processed. */
  currentKey: StateKey = ''
  private readonly kinds = new Map<string, StateKind>()
  private readonly states = new Map<string, unknown>()

  constructor(
    readonly keyGroupRange: KeyGroupRange,
    readonly maxParallelism: number,
  ) {}

  /** The table of state `name`, created on first use (also by restore). */
  protected abstract table(name: string): KeyValueTable<unknown>

  /** Folds or compacts a bounded amount of work; call between batches. True while work remains. */
  abstract maintain(): boolean

  /** The synchronous half of a checkpoint: cheap, and never shares mutable state with the async half. */
  abstract snapshot(timers: TimerEntry[], barrier: CheckpointBarrier): KeyedSnapshotJob

  /** Loads this subtask's key groups from snapshot handles; returns the timers found. */
  abstract restore(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]>

  /**
   * Checkpoint `id` completed (the task hears it before any later snapshot): an incremental backend
   * may now reuse the files that checkpoint uploaded, and only those.
   */
  notifyCheckpointComplete(_id: number): void {}

  /** Checkpoint `id` was aborted: what it uploaded is never reused. */
  notifyCheckpointAborted(_id: number): void {}

  /** Releases local resources (files, descriptors). */
  dispose(): void {}

  private register(d: StateDescriptor): KeyValueTable<unknown> {
    const known = this.kinds.get(d.name)
    if (known !== undefined && known !== d.kind) throw new Error(`State '${d.name}' is registered as ${known} state and cannot be used as ${d.kind} state`)
    this.kinds.set(d.name, d.kind)
    return this.table(d.name)
  }

  private cached<S>(d: StateDescriptor, make: (t: KeyValueTable<unknown>) => S): S {
    const hit = this.states.get(d.name)
    if (hit !== undefined) {
      this.register(d)
      return hit as S
    }
    const s = make(this.register(d))
    this.states.set(d.name, s)
    return s
  }

  getState<T>(d: ValueStateDescriptor<T>): ValueState<T> {
    return this.cached(d, (t) => {
      const backend = this
      const table = t as KeyValueTable<T>
      return {
        value(): T | null {
          const v = table.getForUpdate(backend.currentKey, clone)
          return v === undefined ? d.defaultValue : v
        },
        update(v: T | null | undefined): void {
          if (v === null || v === undefined) table.remove(backend.currentKey)
          else table.put(backend.currentKey, v)
        },
        clear(): void {
          table.remove(backend.currentKey)
        },
      }
    })
  }

  getListState<T>(d: ListStateDescriptor<T>): ListState<T> {
    return this.cached(d, (t) => {
      const backend = this
      const table = t as KeyValueTable<T[]>
      const forUpdate = (): T[] | undefined => table.getForUpdate(backend.currentKey, (a) => a.slice())
      return {
        get: () => table.get(backend.currentKey)?.slice() ?? [],
        add(v: T): void {
          const l = forUpdate()
          if (l === undefined) table.put(backend.currentKey, [v])
          else {
            l.push(v)
            table.put(backend.currentKey, l)
          }
        },
        addAll(vs: Iterable<T>): void {
          const add = [...vs]
          if (add.length === 0) return
          const l = forUpdate()
          if (l === undefined) table.put(backend.currentKey, add)
          else {
            l.push(...add)
            table.put(backend.currentKey, l)
          }
        },
        update(vs: Iterable<T>): void {
          const l = [...vs]
          if (l.length === 0) table.remove(backend.currentKey)
          else table.put(backend.currentKey, l)
        },
        clear: () => table.remove(backend.currentKey),
      }
    })
  }

  getMapState<K, V>(d: MapStateDescriptor<K, V>): MapState<K, V> {
    return this.cached(d, (t) => {
      const backend = this
      const table = t as KeyValueTable<Map<K, V>>
      const read = (): Map<K, V> | undefined => table.get(backend.currentKey)
      const forUpdate = (): Map<K, V> => table.getForUpdate(backend.currentKey, (x) => new Map(x)) ?? new Map<K, V>()
      const store = (m: Map<K, V>): void => {
        if (m.size === 0) table.remove(backend.currentKey)
        else table.put(backend.currentKey, m)
      }
      const empty = new Map<K, V>()
      return {
        get: (k: K) => read()?.get(k),
        put(k: K, v: V): void {
          const m = forUpdate()
          m.set(k, v)
          store(m)
        },
        putAll(entries: Iterable<[K, V]> | Map<K, V>): void {
          const m = forUpdate()
          for (const [k, v] of entries) m.set(k, v)
          store(m)
        },
        remove(k: K): void {
          if (read()?.has(k) !== true) return
          const m = forUpdate()
          m.delete(k)
          store(m)
        },
        contains: (k: K) => read()?.has(k) === true,
        entries: () => (read() ?? empty).entries(),
        keys: () => (read() ?? empty).keys(),
        values: () => (read() ?? empty).values(),
        isEmpty: () => (read()?.size ?? 0) === 0,
        clear: () => table.remove(backend.currentKey),
      }
    })
  }

  getReducingState<T>(d: ReducingStateDescriptor<T>): ReducingState<T> {
    return this.cached(d, (t) => {
      const backend = this
      const table = t as KeyValueTable<T>
      return {
        get: () => table.get(backend.currentKey) ?? null,
        add(v: T): void {
          const cur = table.getForUpdate(backend.currentKey, clone)
          table.put(backend.currentKey, cur === undefined ? v : d.reduceFunction(cur, v))
        },
        clear: () => table.remove(backend.currentKey),
      }
    })
  }

  /**
   * Reads every handle and loads the entries of this subtask's key groups. Entries come in write
   * order (a handle's tables oldest to newest), so a deletion (tombstone) removes whatever an older
   * table put: replaying must never bring deleted state back.
   */
  protected async loadHandles(handles: readonly KeyedRestore[], storageFor: (location: string) => Storage): Promise<TimerEntry[]> {
    const timers: TimerEntry[] = []
    for (const k of handles) {
      for await (const item of readHandle(k, storageFor, this.keyGroupRange)) {
        if (item.kind === 'timer') timers.push(item.timer)
        else if (item.deleted) this.table(item.name).remove(item.key)
        else this.table(item.name).put(item.key, item.value)
      }
    }
    return timers
  }
}

/** Yields to the event loop every `sliceMs`, so that serializing big state never stalls processing. */
export async function cooperative<T>(items: Iterable<T>, each: (item: T) => void, sliceMs = 4): Promise<void> {
  let deadline = performance.now() + sliceMs
  let n = 0
  for (const item of items) {
    each(item)
    if ((++n & 1023) === 0 && performance.now() > deadline) {
      await new Promise<void>((r) => setImmediate(r))
      deadline = performance.now() + sliceMs
    }
  }
}

/** Groups entries by key group and serializes them in the sections format. */
export async function serializeSections(
  entries: Iterable<[name: string, key: StateKey, value: unknown]>, timers: readonly TimerEntry[], maxParallelism: number,
): Promise<{ data: Buffer; keyGroups: [number, number, number][] } | undefined> {
  const sections = new Map<number, KeyGroupSection>()
  const section = (kg: number): KeyGroupSection => {
    let s = sections.get(kg)
    // No prototype: a state's name ('toString', '__proto__') is an own property like any other.
    if (s === undefined) sections.set(kg, (s = { s: Object.create(null) as Record<string, unknown[]>, t: [] }))
    return s
  }
  await cooperative(entries, ([name, k, v]) => {
    const flat = (section(keyGroupForKey(k, maxParallelism)).s[name] ??= [])
    flat.push(k, v)
  })
  for (const timer of timers) section(keyGroupForKey(timer[2], maxParallelism)).t.push(timer)
  if (sections.size === 0) return undefined
  const parts: Buffer[] = []
  const keyGroups: [number, number, number][] = []
  let offset = 0
  await cooperative([...sections.keys()].sort((a, b) => a - b), (kg) => {
    const buf = serialize(sections.get(kg))
    parts.push(buf)
    keyGroups.push([kg, offset, buf.length])
    offset += buf.length
  })
  return { data: Buffer.concat(parts), keyGroups }
}

/**
 * Writes serialized sections (`serializeSections`, or merged by the snapshot encoder) as one
 * sections file of the snapshot named `file`; sections the encoder already wrote there (`written`)
 * are only referenced.
 */
export async function persistSections(
  ctx: PersistContext,
  serialized: { data: Uint8Array; keyGroups: [number, number, number][] } | { written: { size: number; checksum: string }; keyGroups: [number, number, number][] } | undefined,
  range: KeyGroupRange,
  file = ctx.fileName('keyed'),
): Promise<PersistedKeyedState> {
  if (serialized === undefined) return { handle: undefined, files: [] }
  const ref: FileReference = 'written' in serialized
    ? { path: file, size: serialized.written.size, checksum: serialized.written.checksum }
    : await writeStateFile(ctx.storage, ctx.location, file, serialized.data)
  const handle: KeyGroupsStateHandle = { file, keyGroupRange: [range.start, range.end], keyGroups: serialized.keyGroups }
  return { handle, files: [ref] }
}

/** Reads the sections of a sections file whose key groups fall in `range`. */
export function* readKeyGroupSections(data: Buffer, keyGroups: readonly [number, number, number][], range: KeyGroupRange, file: string): Generator<[number, KeyGroupSection]> {
  for (const [kg, offset, length] of keyGroups) {
    if (!rangeContains(range, kg)) continue
    if (offset + length > data.length) throw new Error(`State file ${file} is truncated (key group ${kg})`)
    yield [kg, deserialize(data.subarray(offset, offset + length)) as KeyGroupSection]
  }
}

export type HandleItem =
  | { kind: 'entry'; name: string; key: StateKey; value: unknown; deleted: boolean }
  | { kind: 'timer'; timer: TimerEntry }

/**
 * Reads a file a restore handle references, checked against its reference in `_metadata` (size,
 * content checksum) when the handle carries the checkpoint's file list: a corrupt or missing file
 * fails the restore with an error naming it.
 */
export function readStateFile(k: KeyedRestore, storageFor: (location: string) => Storage, location: string): Promise<Buffer> {
  return readListed(storageFor(location), location, k.files)
}

/** Every entry and timer of a handle within `range`, in write order (later entries win). */
export async function* readHandle(k: KeyedRestore, storageFor: (location: string) => Storage, range: KeyGroupRange): AsyncGenerator<HandleItem> {
  const h = k.handle
  if (isSstHandle(h)) {
    for (const rel of h.sstables) {
      const loc = join(k.checkpointDir, rel)
      for (const e of sstEntriesFromBuffer(await readStateFile(k, storageFor, loc), loc)) {
        if (rangeContains(range, e[1])) yield { kind: 'entry', name: e[2], key: e[3], value: e[5], deleted: e[4] === 1 }
      }
    }
    if (h.timers !== undefined) {
      const loc = join(k.checkpointDir, h.timers.file)
      for (const [, section] of readKeyGroupSections(await readStateFile(k, storageFor, loc), h.timers.keyGroups, range, loc)) {
        for (const t of section.t) yield { kind: 'timer', timer: t }
      }
    }
    return
  }
  const data = await readStateFile(k, storageFor, k.location)
  for (const [, section] of readKeyGroupSections(data, h.keyGroups, range, k.location)) {
    for (const [name, flat] of Object.entries(section.s)) {
      for (let i = 0; i < flat.length; i += 2) yield { kind: 'entry', name, key: flat[i] as StateKey, value: flat[i + 1], deleted: false }
    }
    for (const t of section.t) yield { kind: 'timer', timer: t }
  }
}
