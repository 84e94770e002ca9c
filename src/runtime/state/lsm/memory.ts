/**
 * The memory budget of the embedded LSM backends, after Flink's managed memory for RocksDB
 * (`state.backend.rocksdb.memory.managed: true`): `taskmanager.memory.managed.size`, divided
 * among the task slots (a worker thread each, with its own budget, kept on the thread's global
 * object so that every copy of this module in the thread sees it), then shared by
 * every LSM backend instance alive in the thread (each gets an equal share), and within an
 * instance split by
 * `state.backend.rocksdb.memory.write-buffer-ratio` between memtables (active and being flushed)
 * and the read side (flushed memtables kept as caches, decoded blocks, table indexes and blooms).
 *
 * Memory of JavaScript values is estimated, not measured: a memtable entry in a Map is charged a
 * fixed overhead plus its value's serialized size as last seen by a flush of that state; entries
 * in numeric columns are charged what the columns' typed arrays hold (memtable.ts).
 * Does nothing when imported; must not import the task or the CLI. Tests: test/lsm-memory.test.ts.
 */
import type { Configuration } from '../../config/configuration.js'
import { ConfigError } from '../../errors.js'

export interface LsmMemorySettings {
  /** Bytes shared by all LSM backends of the process. */
  managedBytes: number
  /** Share of an instance's budget for memtables (the rest: caches and indexes). */
  writeBufferRatio: number
}

/** Flink's defaults: 0.5 write buffer ratio; our managed size default is 512 MB. */
export const DEFAULT_MEMORY: LsmMemorySettings = { managedBytes: 512 << 20, writeBufferRatio: 0.5 }

/**
 * The thread's budget and its members. Kept on the thread's global object, not in this module:
 * a program loaded by the CLI imports the runtime under its own module URLs (a loader namespace),
 * so its copy of this module, which the job's configuration reaches, is not the copy the task
 * slot's backends import; both must see one budget per thread.
 */
interface ThreadBudget {
  settings: LsmMemorySettings
  members: number
  listeners: Set<() => void>
}

const KEY = Symbol.for('tsflink.lsm.memory-budget')

function budget(): ThreadBudget {
  const g = globalThis as { [KEY]?: ThreadBudget }
  return (g[KEY] ??= { settings: { ...DEFAULT_MEMORY }, members: 0, listeners: new Set() })
}

/** Sets the thread's budget (called when a job that uses the rocksdb backend is prepared). */
export function configureLsmMemory(s: Partial<LsmMemorySettings>): void {
  const b = budget()
  b.settings = { ...b.settings, ...s }
  for (const l of b.listeners) l()
}

export function lsmMemorySettings(): LsmMemorySettings {
  return budget().settings
}

/** An instance's share of the budget; `onChange` runs when the share changes (instances come and go). */
export class MemoryShare {
  private released = false

  constructor(private readonly onChange: () => void, private readonly fixed?: number) {
    const b = budget()
    b.members++
    b.listeners.add(onChange)
    for (const l of b.listeners) if (l !== onChange) l()
  }

  /** This instance's budget, bytes. */
  get bytes(): number {
    const b = budget()
    return this.fixed ?? Math.floor(b.settings.managedBytes / Math.max(1, b.members))
  }

  get writeBufferBytes(): number {
    return Math.floor(this.bytes * budget().settings.writeBufferRatio)
  }

  get readBytes(): number {
    return this.bytes - this.writeBufferBytes
  }

  release(): void {
    if (this.released) return
    this.released = true
    const b = budget()
    b.members--
    b.listeners.delete(this.onChange)
    for (const l of b.listeners) l()
  }
}

/** Fixed memory a memtable entry costs beyond its value (map slot, key, bookkeeping). */
export const ENTRY_OVERHEAD = 80

/** A cheap estimate of a key's memory beyond ENTRY_OVERHEAD (a string's characters; numbers are in the overhead). */
export function keyBytes(k: unknown): number {
  return typeof k === 'string' ? 16 + k.length : 0
}

/**
 * Reads the budget from a job's configuration: `taskmanager.memory.managed.size` (divided by
 * `slots` when this thread is one task slot of several, each with its own budget) and
 * `state.backend.rocksdb.memory.write-buffer-ratio`; `state.backend.rocksdb.memory.managed: false`
 * (unmanaged, unbounded memory) is refused, naming the key.
 */
export function configureLsmMemoryFrom(config: Configuration, slots = 1): void {
  if (config.getBool('state.backend.rocksdb.memory.managed') === false) {
    throw new ConfigError("Invalid value for 'state.backend.rocksdb.memory.managed': false is not supported; the rocksdb backend always stays within taskmanager.memory.managed.size")
  }
  configureLsmMemory({
    managedBytes: Math.floor((config.getMemorySize('taskmanager.memory.managed.size') ?? DEFAULT_MEMORY.managedBytes) / Math.max(1, slots)),
    writeBufferRatio: config.getNumber('state.backend.rocksdb.memory.write-buffer-ratio') ?? DEFAULT_MEMORY.writeBufferRatio,
  })
}
