/**
 * The `_metadata` file, format version 2 (documented in docs/metadata-format.md, golden fixtures
 * in test/fixtures/metadata-v1/ and metadata-v2/). It is JSON:
 *   {"format":"tsflink-checkpoint","version":2,"checksum":"sha256:<hex of the body's JSON>","body":{…}}
 * Every file a checkpoint needs is listed in body.files with a path relative to the checkpoint's
 * own directory (savepoints keep all files inside, so they can be moved), its size and, from
 * version 2 on, a content checksum (CRC-32) that restore and `checkpoints verify` check.
 * Version 1 (no content checksums) still reads. Pure (no I/O). Tests: test/metadata.test.ts.
 */
import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { StateError } from '../errors.js'
import type { CheckpointId, JobId, OperatorId } from '../ids.js'

export const METADATA_FORMAT = 'tsflink-checkpoint'
/** The version this tsflink writes. */
export const METADATA_VERSION = 2
/** The versions this tsflink reads. */
export const READABLE_METADATA_VERSIONS: readonly number[] = [1, 2]

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
  /** [keyGroup, offset, length] for every section, key groups ascending (a key group may have several consecutive sections). */
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
  /** Content checksum, `crc32:<8 lower-case hex>` (see checksumOf); present from format v2 on, absent in v1. */
  checksum?: string
}

/** The content checksum recorded for a state file: CRC-32 (IEEE), as `crc32:<8 lower-case hex>`. */
export function checksumOf(data: Uint8Array): string {
  return crcChecksum(crc32(data))
}

/** The checksum of content whose CRC-32 (zlib's) is `crc`, computed as it was written. */
export function crcChecksum(crc: number): string {
  return `crc32:${crc.toString(16).padStart(8, '0')}`
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

/** Serializes `_metadata` (this version unless an older one is asked for, e.g. for its golden fixture). */
export function serializeMetadata(meta: CheckpointMetadata, version = METADATA_VERSION): Buffer {
  const body = JSON.stringify(meta)
  const checksum = `sha256:${createHash('sha256').update(body).digest('hex')}`
  return Buffer.from(`{"format":"${METADATA_FORMAT}","version":${version},"checksum":"${checksum}","body":${body}}\n`)
}

const CHECKSUM = /^crc32:[0-9a-f]{8}$/

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
  const version = d.version as number
  if (!READABLE_METADATA_VERSIONS.includes(version)) {
    throw new StateError(`${origin} has metadata format version ${String(d.version)}; this tsflink reads versions ${READABLE_METADATA_VERSIONS.join(' and ')}`)
  }
  if (d.body === null || typeof d.body !== 'object') throw new StateError(`${origin} lacks required fields`)
  const expected = `sha256:${createHash('sha256').update(JSON.stringify(d.body)).digest('hex')}`
  if (d.checksum !== expected) throw new StateError(`${origin} fails its checksum (corrupt or edited)`)
  const m = d.body as CheckpointMetadata
  if (typeof m.jobId !== 'string' || typeof m.checkpointId !== 'number' || !Array.isArray(m.operators) || !Array.isArray(m.files)) {
    throw new StateError(`${origin} lacks required fields`)
  }
  for (const f of m.files as unknown[]) {
    // A primitive or null has no string path (null is caught before it is read).
    const r = f as Partial<FileReference> | null
    if (r === null || typeof r.path !== 'string' || typeof r.size !== 'number') throw new StateError(`${origin} lists a file without path or size`)
    if (version >= 2 && !CHECKSUM.test(String(r.checksum))) {
      throw new StateError(`${origin} lists ${r.path} without a content checksum (format version ${version} requires one)`)
    }
  }
  return m
}
