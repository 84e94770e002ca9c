/**
 * The hashmap state backend: keyed state of one operator subtask on the heap, in StateTables
 * (copy-on-write layers, O(1) synchronous snapshot), with timers kept beside it.
 *
 * Snapshot file format (one file per operator subtask): for each key group with state, in
 * ascending order, one v8-serialized section `{ s: { [stateName]: [k0, v0, k1, v1, …] }, t: [[domain, ts, key], …] }`.
 * The handle lists [keyGroup, offset, length] per section, so a restore at another parallelism
 * reads only the key groups it now owns.
 *
 * Must not import the task or the CLI. Tests: test/keyed-backend.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import type { KeyedStateHandle } from '../checkpoint/metadata.js'
import type {
  KeyedStateStore, ListState, ListStateDescriptor, MapState, MapStateDescriptor, ReducingState,
  ReducingStateDescriptor, StateDescriptor, StateKind, ValueState, ValueStateDescriptor,
} from '../api/state.js'
import { keyGroupForKey, rangeContains, type KeyGroupRange, type StateKey } from './key-groups.js'
import { StateTable, type TableSnapshot } from './state-table.js'

interface RegisteredTable {
  kind: StateKind | undefined
  table: StateTable<unknown>
}

/** A timer as persisted: domain 0 = event time, 1 = processing time. */
export type TimerEntry = [domain: 0 | 1, timestamp: number, key: StateKey]

/** What a synchronous snapshot captured; serialize it with `writeKeyedSnapshot`. */
export interface KeyedSnapshot {
  tables: [string, TableSnapshot<unknown>][]
  timers: TimerEntry[]
  keyGroupRange: KeyGroupRange
  maxParallelism: number
}

const clone = <T>(v: T): T => structuredClone(v)

export class HeapKeyedStateBackend implements KeyedStateStore {
  /** Set by the task before each record (or timer) is processed. */
  currentKey: StateKey = ''
  private readonly tables = new Map<string, RegisteredTable>()
  private readonly states = new Map<string, unknown>()

  constructor(
    readonly keyGroupRange: KeyGroupRange,
    readonly maxParallelism: number,
  ) {}

  private table(d: StateDescriptor): StateTable<unknown> {
    let t = this.tables.get(d.name)
    if (t === undefined) {
      t = { kind: d.kind, table: new StateTable() }
      this.tables.set(d.name, t)
    } else if (t.kind === undefined) {
      t.kind = d.kind
    } else if (t.kind !== d.kind) {
      throw new Error(`State '${d.name}' is registered as ${t.kind} state and cannot be used as ${d.kind} state`)
    }
    return t.table
  }

  private cached<S>(d: StateDescriptor, make: (t: StateTable<unknown>) => S): S {
    const hit = this.states.get(d.name)
    if (hit !== undefined) return hit as S
    const s = make(this.table(d))
    this.states.set(d.name, s)
    return s
  }

  getState<T>(d: ValueStateDescriptor<T>): ValueState<T> {
    return this.cached(d, (t) => {
      const backend = this
      const table = t as StateTable<T>
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
      const table = t as StateTable<T[]>
      const forUpdate = (): T[] | undefined => table.getForUpdate(backend.currentKey, (a) => a.slice())
      return {
        get: () => table.get(backend.currentKey)?.slice() ?? [],
        add(v: T): void {
          const l = forUpdate()
          if (l === undefined) table.put(backend.currentKey, [v])
          else l.push(v)
        },
        addAll(vs: Iterable<T>): void {
          const add = [...vs]
          if (add.length === 0) return
          const l = forUpdate()
          if (l === undefined) table.put(backend.currentKey, add)
          else l.push(...add)
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
      const table = t as StateTable<Map<K, V>>
      const read = (): Map<K, V> | undefined => table.get(backend.currentKey)
      const forUpdate = (): Map<K, V> => {
        const m = table.getForUpdate(backend.currentKey, (x) => new Map(x))
        if (m !== undefined) return m
        const fresh = new Map<K, V>()
        table.put(backend.currentKey, fresh)
        return fresh
      }
      const empty = new Map<K, V>()
      return {
        get: (k: K) => read()?.get(k),
        put: (k: K, v: V) => void forUpdate().set(k, v),
        putAll(entries: Iterable<[K, V]> | Map<K, V>): void {
          const m = forUpdate()
          for (const [k, v] of entries) m.set(k, v)
        },
        remove(k: K): void {
          if (read()?.has(k) !== true) return
          const m = forUpdate()
          m.delete(k)
          if (m.size === 0) table.remove(backend.currentKey)
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
      const table = t as StateTable<T>
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

  /** Folds copy-on-write layers a chunk at a time; call between batches. True while work remains. */
  maintain(budget = 8192): boolean {
    let more = false
    for (const t of this.tables.values()) if (t.table.maintain(budget)) more = true
    return more
  }

  /** The synchronous part of a checkpoint: O(number of states), no copying. */
  snapshot(timers: TimerEntry[]): KeyedSnapshot {
    const tables: [string, TableSnapshot<unknown>][] = []
    for (const [name, t] of this.tables) tables.push([name, t.table.snapshot()])
    return { tables, timers, keyGroupRange: this.keyGroupRange, maxParallelism: this.maxParallelism }
  }

  /** Loads key groups from a snapshot section (restore). Keys outside this subtask's range are skipped. */
  restoreSection(section: KeyGroupSection): void {
    for (const [name, flat] of Object.entries(section.s)) {
      let t = this.tables.get(name)
      if (t === undefined) {
        t = { kind: undefined, table: new StateTable() }
        this.tables.set(name, t)
      }
      for (let i = 0; i < flat.length; i += 2) t.table.put(flat[i] as StateKey, flat[i + 1])
    }
  }

  stateNames(): string[] {
    return [...this.tables.keys()]
  }
}

export interface KeyGroupSection {
  s: Record<string, unknown[]>
  t: TimerEntry[]
}

/** Yields to the event loop every `sliceMs` so that serializing big state never stalls processing. */
async function cooperative<T>(items: Iterable<T>, each: (item: T) => void, sliceMs = 4): Promise<void> {
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

/**
 * The asynchronous part of a checkpoint: groups the snapshot by key group and serializes it,
 * yielding to the event loop as it goes. Releases the snapshot's pinned layers when done.
 */
export async function serializeKeyedSnapshot(snap: KeyedSnapshot): Promise<{ data: Buffer; keyGroups: [number, number, number][] } | undefined> {
  const sections = new Map<number, KeyGroupSection>()
  const section = (kg: number): KeyGroupSection => {
    let s = sections.get(kg)
    if (s === undefined) {
      s = { s: {}, t: [] }
      sections.set(kg, s)
    }
    return s
  }
  const maxP = snap.maxParallelism
  try {
    for (const [name, table] of snap.tables) {
      await cooperative(table.entries(), ([k, v]) => {
        const s = section(keyGroupForKey(k, maxP))
        const flat = (s.s[name] ??= [])
        flat.push(k, v)
      })
    }
  } finally {
    for (const [, t] of snap.tables) t.release()
  }
  for (const timer of snap.timers) section(keyGroupForKey(timer[2], maxP)).t.push(timer)
  if (sections.size === 0) return undefined
  const parts: Buffer[] = []
  const keyGroups: [number, number, number][] = []
  let offset = 0
  const ordered = [...sections.keys()].sort((a, b) => a - b)
  await cooperative(ordered, (kg) => {
    const buf = serialize(sections.get(kg))
    parts.push(buf)
    keyGroups.push([kg, offset, buf.length])
    offset += buf.length
  }, 4)
  return { data: Buffer.concat(parts), keyGroups }
}

/** Reads the sections of `handle` whose key groups fall in `range`. */
export function* readKeyGroupSections(data: Buffer, handle: KeyedStateHandle, range: KeyGroupRange): Generator<[number, KeyGroupSection]> {
  for (const [kg, offset, length] of handle.keyGroups) {
    if (!rangeContains(range, kg)) continue
    if (offset + length > data.length) throw new Error(`State file ${handle.file} is truncated (key group ${kg})`)
    yield [kg, deserialize(data.subarray(offset, offset + length)) as KeyGroupSection]
  }
}
