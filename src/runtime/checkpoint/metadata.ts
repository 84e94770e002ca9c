/**
 * The `_metadata` file, format version 1 (documented in docs/metadata-format.md, golden fixture in
 * test/fixtures/metadata-v1/). It is JSON:
 *   {"format":"tsflink-checkpoint","version":1,"checksum":"sha256:<hex of the body's JSON>","body":{…}}
 * Every file a checkpoint needs is listed in body.files with a path relative to the checkpoint's
 * own directory (savepoints keep all files inside, so they can be moved).
 * Pure (no I/O). Tests: test/metadata.test.ts.
 */
import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { StateError } from '../errors.js'
import type { CheckpointId, JobId, OperatorId } from '../ids.js'

export const METADATA_FORMAT = 'tsflink-checkpoint'
export const METADATA_VERSION = 1

export type SnapshotType = 'checkpoint' | 'savepoint'
export type SnapshotFormat = 'canonical' | 'native'
export type StateBackendName = 'hashmap' | 'rocksdb'

export interface SnapshotKind {
  type: SnapshotType
  incremental: boolean
  format: SnapshotFormat
}

/** Keyed state of one subtask: one file, a section per non-empty key group (canonical format). */
export interface KeyGroupsStateHandle {
  file: string
  keyGroupRange: [number, number]
  /** [keyGroup, offset, length] for every key group with state, ascending. */
  keyGroups: [number, number, number][]
}

/** Keyed state of one subtask of the LSM backend: its immutable tables (native format). */
export interface SstStateHandle {
  type: 'sst'
  keyGroupRange: [number, number]
  /** The subtask's tables, oldest first, relative to the checkpoint directory ('../shared/…' when incremental). */
  sstables: string[]
  /** Timers, in the key-group sections format. */
  timers?: { file: string; keyGroups: [number, number, number][] }
}

export type KeyedStateHandle = KeyGroupsStateHandle | SstStateHandle

export function isSstHandle(h: KeyedStateHandle): h is SstStateHandle {
  return (h as SstStateHandle).type === 'sst'
}

/** Operator (non-keyed) list state of one subtask. */
export interface OperatorStateHandle {
  file: string
  /** State name → how it is redistributed on restore. */
  states: Record<string, 'split' | 'union'>
}

/** Records that were in flight into a subtask at an unaligned checkpoint (see channel-state.ts). */
export interface ChannelStateHandle {
  file: string
  /** Number of persisted batches. */
  batches: number
}

export interface SubtaskStateHandle {
  subtask: number
  keyed?: KeyedStateHandle
  operator?: OperatorStateHandle
  channel?: ChannelStateHandle
}

export interface OperatorStateEntry {
  operatorId: OperatorId
  uid: string | null
  name: string
  parallelism: number
  maxParallelism: number
  subtasks: SubtaskStateHandle[]
}

export interface FileReference {
  /** Relative to the checkpoint directory, '/'-separated. */
  path: string
  size: number
  /** Content checksum, `crc32:<8 lower-case hex>` (see checksumOf); absent in files listed by format v1. */
  checksum?: string
}

/** The content checksum recorded for a state file: CRC-32 (IEEE), as `crc32:<8 lower-case hex>`. */
export function checksumOf(data: Uint8Array): string {
  return `crc32:${crc32(data).toString(16).padStart(8, '0')}`
}

export interface CheckpointMetadata {
  jobId: JobId
  jobName: string
  checkpointId: CheckpointId
  /** When the checkpoint was triggered, ms since the epoch. */
  timestamp: number
  /** When `_metadata` was written, ISO 8601. */
  completedAt: string
  kind: SnapshotKind
  backend: StateBackendName
  /** The program that produced the state, so `checkpoints restore` can run it again. */
  program: { file: string; args: string[] } | null
  operators: OperatorStateEntry[]
  files: FileReference[]
}

export function serializeMetadata(meta: CheckpointMetadata): Buffer {
  const body = JSON.stringify(meta)
  const checksum = `sha256:${createHash('sha256').update(body).digest('hex')}`
  return Buffer.from(`{"format":"${METADATA_FORMAT}","version":${METADATA_VERSION},"checksum":"${checksum}","body":${body}}\n`)
}

/** Parses and verifies `_metadata`; throws a StateError saying what is wrong. */
export function parseMetadata(data: Buffer | string, origin: string): CheckpointMetadata {
  let doc: unknown
  try {
    doc = JSON.parse(data.toString())
  } catch {
    throw new StateError(`${origin} is not a tsflink _metadata file (not JSON; truncated or foreign)`)
  }
  if (doc === null || typeof doc !== 'object') throw new StateError(`${origin} is not a tsflink _metadata file`)
  const d = doc as Record<string, unknown>
  if (d.format !== METADATA_FORMAT) throw new StateError(`${origin} is not a tsflink _metadata file (format '${String(d.format)}')`)
  if (d.version !== METADATA_VERSION) {
    throw new StateError(`${origin} has metadata format version ${String(d.version)}; this tsflink reads version ${METADATA_VERSION}`)
  }
  const body = JSON.stringify(d.body)
  const expected = `sha256:${createHash('sha256').update(body ?? '').digest('hex')}`
  if (d.checksum !== expected) throw new StateError(`${origin} fails its checksum (corrupt or edited)`)
  const m = d.body as CheckpointMetadata
  if (typeof m.jobId !== 'string' || typeof m.checkpointId !== 'number' || !Array.isArray(m.operators) || !Array.isArray(m.files)) {
    throw new StateError(`${origin} lacks required fields`)
  }
  return m
}
