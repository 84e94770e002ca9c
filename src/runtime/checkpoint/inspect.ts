/**
 * What is inside a checkpoint or savepoint (`savepoint inspect`), and what changed between two
 * (`savepoint diff`). `inspectSnapshot` reads a `_metadata` (tsflink's JSON format, or Apache
 * Flink's binary one through flink-metadata.ts) and the state files it lists: per operator its
 * uid, hashed id, name, parallelism, max parallelism, files with sizes, and per state its name,
 * kind, number of keys (keyed state) or elements (operator lists) and bytes. Reading keyed state
 * files needs the state layer (sections and sorted tables), so the caller passes a reader
 * (state/inspect-keyed.ts). `diffSnapshots` is pure.
 * Keyed state kinds are not recorded in `_metadata`: they are told from the stored values (a Map
 * is map state, an array list state, anything else value or reducing state, which look alike).
 * Flink's `_metadata` gives operators, operator state names and modes and files, not keyed state
 * names (those live inside Flink's state files).
 * Never writes, never imports the CLI or the state layer. Tests: test/inspect.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import { StateError } from '../errors.js'
import { basename, join, metadataLocation, normalizeLocation, parent, METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { readListed } from './file-check.js'
import { isFlinkMetadata, parseFlinkMetadata, referencedFiles, type FlinkCheckpointMetadata, type FlinkFileReference, type FlinkOperatorStateHandle } from './flink-metadata.js'
import { parseMetadata, type CheckpointMetadata, type FileReference, type OperatorStateEntry } from './metadata.js'
import { fileReferences, type KeyedRestore } from './state-assignment.js'

export type StateKindLabel = 'value/reducing' | 'list' | 'map' | 'keyed' | 'operator list' | 'union list' | 'broadcast'

export interface InspectedState {
  name: string
  /** keyed state: value/reducing, list, map (told from the values; `keyed` for Flink's, whose names and kinds are in its files) */
  kind: StateKindLabel
  scope: 'keyed' | 'operator'
  /** Keyed state: distinct keys with a value. */
  keys?: number
  /** Operator state: list elements over all subtasks. */
  elements?: number
  /** The state's entries (key and value) v8-serialized, summed; for Flink's, the recorded size of its handles. */
  bytes: number
}

export interface InspectedFile {
  path: string
  size: number
}

export interface InspectedOperator {
  operatorId: string
  uid: string | null
  name: string | null
  parallelism: number
  maxParallelism: number
  states: InspectedState[]
  /** Timers stored with the keyed state (tsflink). */
  timers: number
  /** Files its subtasks' state handles reference (relative to the snapshot directory, or as Flink recorded them). */
  files: InspectedFile[]
  bytes: number
}

export interface InspectReport {
  path: string
  format: 'tsflink' | 'flink'
  formatVersion: number
  jobId: string | null
  jobName: string | null
  checkpointId: number
  /** Trigger time (tsflink), ISO 8601; null when unknown. */
  triggeredAt: string | null
  /** When `_metadata` was written (tsflink) or its file's modification time (Flink), ISO 8601. */
  completedAt: string | null
  kind: { type: 'checkpoint' | 'savepoint'; incremental: boolean | null; format: string | null }
  backend: string | null
  operators: InspectedOperator[]
  files: InspectedFile[]
  totalBytes: number
}

/** One item of a keyed handle (the state layer's HandleItem, structurally). */
export type KeyedItem =
  | { kind: 'entry'; name: string; key: unknown; value: unknown; deleted: boolean }
  | { kind: 'timer'; timer: unknown }

/** Reads every entry and timer of a keyed handle, in write order (state/inspect-keyed.ts). */
export type KeyedReader = (restore: KeyedRestore) => AsyncIterable<KeyedItem>

/** The snapshot directory of a user's path (a directory or its `_metadata`). */
export function snapshotLocation(path: string): string {
  const location = normalizeLocation(path)
  return basename(location) === METADATA_FILE ? parent(location) : location
}

async function readMetadataBytes(path: string, location: string, storage: Storage): Promise<Buffer> {
  try {
    return await storage.read(metadataLocation(location))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'NoSuchKey') throw new StateError(`'${path}' holds no _metadata (not a completed checkpoint or savepoint)`)
    if (code === 'EISDIR') throw new StateError(`'${path}': its _metadata is a directory, not a file`)
    throw err
  }
}

/** Inspects the checkpoint or savepoint at `path`. */
export async function inspectSnapshot(path: string, storage: Storage, readKeyed: KeyedReader): Promise<InspectReport> {
  const location = snapshotLocation(path)
  const bytes = await readMetadataBytes(path, location, storage)
  if (isFlinkMetadata(bytes)) {
    const meta = parseFlinkMetadata(bytes, metadataLocation(location))
    const stat = await storage.stat(metadataLocation(location))
    return inspectFlink(location, meta, stat?.mtimeMs)
  }
  const meta = parseMetadata(bytes, metadataLocation(location))
  // parseMetadata verified the envelope; its version is read from the same bytes.
  const version = (JSON.parse(bytes.toString()) as { version: number }).version
  return inspectTsflink(location, meta, version, storage, readKeyed)
}

/** Files of one operator's handles, relative to the snapshot directory as `_metadata` lists them. */
function operatorFiles(entry: OperatorStateEntry, listed: ReadonlyMap<string, FileReference>): InspectedFile[] {
  const paths = new Set<string>()
  for (const s of entry.subtasks) {
    const k = s.keyed
    if (k !== undefined) {
      if ('file' in k) paths.add(k.file)
      else {
        for (const t of k.sstables) paths.add(t)
        if (k.timers !== undefined) paths.add(k.timers.file)
      }
    }
    if (s.operator !== undefined) paths.add(s.operator.file)
    if (s.channel !== undefined) paths.add(s.channel.file)
  }
  return [...paths].sort().map((p) => ({ path: p, size: listed.get(p)?.size ?? 0 }))
}

/** A keyed state's kind, told from one of its values. */
function kindOfValue(v: unknown): StateKindLabel {
  if (v instanceof Map) return 'map'
  if (Array.isArray(v)) return 'list'
  return 'value/reducing'
}

/** Map key of a state key: keys of different types never collide ('1' and 1). */
const keyId = (k: unknown): string => `${typeof k}:${String(k)}`

async function inspectTsflink(location: string, meta: CheckpointMetadata, formatVersion: number, storage: Storage, readKeyed: KeyedReader): Promise<InspectReport> {
  const byPath = new Map(meta.files.map((f) => [f.path, f]))
  const files = fileReferences(location, meta)
  const operators: InspectedOperator[] = []
  for (const entry of meta.operators) {
    const keyed = new Map<string, { kind: StateKindLabel | undefined; live: Map<string, number> }>()
    let timers = 0
    for (const s of entry.subtasks) {
      const h = s.keyed
      if (h === undefined) continue
      // Per subtask: a key lives in one key group, so in one subtask's handle; newer entries win.
      const restore: KeyedRestore = { checkpointDir: location, location: 'file' in h ? join(location, h.file) : location, handle: h, files }
      for await (const item of readKeyed(restore)) {
        if (item.kind === 'timer') {
          timers++
          continue
        }
        let st = keyed.get(item.name)
        if (st === undefined) keyed.set(item.name, (st = { kind: undefined, live: new Map() }))
        const id = keyId(item.key)
        if (item.deleted) st.live.delete(id)
        else {
          st.live.set(id, serialize([item.key, item.value]).length)
          const k = kindOfValue(item.value)
          if (st.kind === undefined || st.kind === 'value/reducing') st.kind = k
        }
      }
    }
    const states: InspectedState[] = []
    for (const [name, st] of keyed) {
      let b = 0
      for (const n of st.live.values()) b += n
      states.push({ name, kind: st.kind ?? 'value/reducing', scope: 'keyed', keys: st.live.size, bytes: b })
    }
    const lists = new Map<string, { mode: 'split' | 'union'; elements: number; bytes: number }>()
    for (const s of entry.subtasks) {
      const h = s.operator
      if (h === undefined) continue
      const body = deserialize(await readListed(storage, join(location, h.file), files)) as Record<string, unknown[]>
      for (const [name, mode] of Object.entries(h.states)) {
        const elements = body[name] ?? []
        const l = lists.get(name) ?? { mode, elements: 0, bytes: 0 }
        l.elements += elements.length
        l.bytes += elements.length === 0 ? 0 : serialize(elements).length
        lists.set(name, l)
      }
    }
    for (const [name, l] of lists) states.push({ name, kind: l.mode === 'union' ? 'union list' : 'operator list', scope: 'operator', elements: l.elements, bytes: l.bytes })
    states.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    const opFiles = operatorFiles(entry, byPath)
    operators.push({
      operatorId: entry.operatorId, uid: entry.uid, name: entry.name, parallelism: entry.parallelism, maxParallelism: entry.maxParallelism,
      states, timers, files: opFiles, bytes: opFiles.reduce((n, f) => n + f.size, 0),
    })
  }
  const all = meta.files.map((f) => ({ path: f.path, size: f.size }))
  return {
    path: location,
    format: 'tsflink',
    formatVersion,
    jobId: meta.jobId,
    jobName: meta.jobName,
    checkpointId: meta.checkpointId,
    triggeredAt: new Date(meta.timestamp).toISOString(),
    completedAt: meta.completedAt,
    kind: { type: meta.kind.type, incremental: meta.kind.incremental, format: meta.kind.format },
    backend: meta.backend,
    operators,
    files: all,
    totalBytes: all.reduce((n, f) => n + f.size, 0),
  }
}

const FLINK_MODE: Record<string, StateKindLabel> = { SPLIT_DISTRIBUTE: 'operator list', UNION: 'union list', BROADCAST: 'broadcast' }

function flinkFile(f: FlinkFileReference): InspectedFile {
  return { path: f.path, size: f.size ?? f.minSize ?? 0 }
}

function inspectFlink(location: string, meta: FlinkCheckpointMetadata, mtimeMs: number | undefined): InspectReport {
  // Flink's _metadata does not name the job: its folder does (<jobId>/chk-N), a savepoint's does not.
  const jobFolder = basename(parent(location))
  const jobId = /^[0-9a-f]{32}$/.test(jobFolder) ? jobFolder : null
  const operators: InspectedOperator[] = meta.operators.map((op) => {
    const opFiles = referencedFiles({ ...meta, operators: [op] }).map(flinkFile)
    const states = new Map<string, InspectedState>()
    let keyedBytes = 0
    let hasKeyed = false
    for (const s of op.subtasks) {
      for (const h of [s.managedOperatorState, s.rawOperatorState]) addFlinkOperatorStates(h, states)
      for (const k of [s.managedKeyedState, s.rawKeyedState]) {
        if (k === null) continue
        hasKeyed = true
        keyedBytes += flinkKeyedSize(k)
      }
    }
    const list = [...states.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    if (hasKeyed) list.push({ name: '(keyed state)', kind: 'keyed', scope: 'keyed', bytes: keyedBytes })
    return {
      operatorId: op.operatorId, uid: op.uid ?? null, name: op.name ?? null, parallelism: op.parallelism, maxParallelism: op.maxParallelism,
      states: list, timers: 0, files: opFiles, bytes: opFiles.reduce((n, f) => n + f.size, 0),
    }
  })
  const all = referencedFiles(meta).map(flinkFile)
  const p = meta.properties
  return {
    path: location,
    format: 'flink',
    formatVersion: meta.version,
    jobId,
    jobName: null,
    checkpointId: meta.checkpointId,
    triggeredAt: null,
    completedAt: mtimeMs === undefined ? null : new Date(mtimeMs).toISOString(),
    kind: {
      type: p?.type ?? (basename(location).startsWith('savepoint-') ? 'savepoint' : 'checkpoint'),
      incremental: p === undefined || p.type === 'savepoint' ? (p === undefined ? null : false) : p.sharingFilesStrategy === 'FORWARD_BACKWARD',
      format: p?.formatType === undefined ? null : p.formatType.toLowerCase(),
    },
    backend: null,
    operators,
    files: all,
    totalBytes: all.reduce((n, f) => n + f.size, 0),
  }
}

function addFlinkOperatorStates(h: FlinkOperatorStateHandle | null, into: Map<string, InspectedState>): void {
  if (h === null) return
  const size = h.delegate !== null && 'size' in h.delegate ? h.delegate.size : 0
  const per = h.states.length === 0 ? 0 : Math.floor(size / h.states.length)
  for (const s of h.states) {
    const seen = into.get(s.name)
    if (seen === undefined) into.set(s.name, { name: s.name, kind: FLINK_MODE[s.mode] ?? 'operator list', scope: 'operator', elements: s.offsets.length, bytes: per })
    else {
      seen.elements = (seen.elements ?? 0) + s.offsets.length
      seen.bytes += per
    }
  }
}

function flinkKeyedSize(k: NonNullable<FlinkCheckpointMetadata['operators'][number]['subtasks'][number]['managedKeyedState']>): number {
  const size = (h: { size?: number } | null | undefined): number => (h !== null && h !== undefined && typeof h.size === 'number' ? h.size : 0)
  if (k.type === 'key-groups') return size(k.delegate as { size?: number } | null)
  return size(k.metaState as { size?: number } | null) + [...k.shared, ...k.private].reduce((n, s) => n + size(s.handle as { size?: number } | null), 0)
}

// ---- diff ----

export interface StateChange {
  name: string
  kind: StateKindLabel
  /** Present in a only, b only, or both. */
  change: 'added' | 'removed' | 'changed' | 'same'
  keysBefore?: number
  keysAfter?: number
  elementsBefore?: number
  elementsAfter?: number
  bytesBefore?: number
  bytesAfter?: number
}

export interface OperatorChange {
  /** The uid, or the hashed id for an operator without one. */
  key: string
  uid: string | null
  operatorId: string
  change: 'added' | 'removed' | 'changed' | 'same'
  nameBefore?: string | null
  nameAfter?: string | null
  renamed: boolean
  parallelism?: { before: number; after: number }
  maxParallelism?: { before: number; after: number }
  states: StateChange[]
  bytesBefore?: number
  bytesAfter?: number
}

export interface SnapshotDiff {
  a: { path: string; jobId: string | null; checkpointId: number }
  b: { path: string; jobId: string | null; checkpointId: number }
  operators: OperatorChange[]
  /** Whether anything differs (operators, states, parallelism, key counts or sizes). */
  changed: boolean
  totalBytes: { before: number; after: number }
}

const opKey = (o: InspectedOperator): string => o.uid ?? o.operatorId

function diffStates(before: readonly InspectedState[], after: readonly InspectedState[]): StateChange[] {
  const a = new Map(before.map((s) => [s.name, s]))
  const b = new Map(after.map((s) => [s.name, s]))
  const names = [...new Set([...a.keys(), ...b.keys()])].sort()
  return names.map((name): StateChange => {
    const x = a.get(name)
    const y = b.get(name)
    const kind = (y ?? x)!.kind
    const out: StateChange = { name, kind, change: x === undefined ? 'added' : y === undefined ? 'removed' : 'same' }
    if (x !== undefined) {
      if (x.keys !== undefined) out.keysBefore = x.keys
      if (x.elements !== undefined) out.elementsBefore = x.elements
      out.bytesBefore = x.bytes
    }
    if (y !== undefined) {
      if (y.keys !== undefined) out.keysAfter = y.keys
      if (y.elements !== undefined) out.elementsAfter = y.elements
      out.bytesAfter = y.bytes
    }
    if (x !== undefined && y !== undefined && (x.keys !== y.keys || x.elements !== y.elements || x.bytes !== y.bytes || x.kind !== y.kind)) out.change = 'changed'
    return out
  })
}

/** What changed from snapshot `a` to snapshot `b`; operators are matched by uid (by hashed id without one). */
export function diffSnapshots(a: InspectReport, b: InspectReport): SnapshotDiff {
  const before = new Map(a.operators.map((o) => [opKey(o), o]))
  const after = new Map(b.operators.map((o) => [opKey(o), o]))
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort()
  const operators = keys.map((key): OperatorChange => {
    const x = before.get(key)
    const y = after.get(key)
    const any = (y ?? x)!
    const states = diffStates(x?.states ?? [], y?.states ?? [])
    const out: OperatorChange = {
      key, uid: any.uid, operatorId: any.operatorId,
      change: x === undefined ? 'added' : y === undefined ? 'removed' : 'same',
      renamed: x !== undefined && y !== undefined && x.name !== y.name,
      states,
    }
    if (x !== undefined) {
      out.nameBefore = x.name
      out.bytesBefore = x.bytes
    }
    if (y !== undefined) {
      out.nameAfter = y.name
      out.bytesAfter = y.bytes
    }
    if (x !== undefined && y !== undefined) {
      if (x.parallelism !== y.parallelism) out.parallelism = { before: x.parallelism, after: y.parallelism }
      if (x.maxParallelism !== y.maxParallelism) out.maxParallelism = { before: x.maxParallelism, after: y.maxParallelism }
      if (out.renamed || out.parallelism !== undefined || out.maxParallelism !== undefined || x.bytes !== y.bytes || states.some((s) => s.change !== 'same')) out.change = 'changed'
    }
    return out
  })
  return {
    a: { path: a.path, jobId: a.jobId, checkpointId: a.checkpointId },
    b: { path: b.path, jobId: b.jobId, checkpointId: b.checkpointId },
    operators,
    changed: operators.some((o) => o.change !== 'same'),
    totalBytes: { before: a.totalBytes, after: b.totalBytes },
  }
}
