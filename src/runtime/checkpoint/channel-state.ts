/**
 * In-flight records of unaligned checkpoints (Flink's channel state): which new subtask replays
 * which persisted records on restore, and reading them.
 *
 * Each subtask of a vertex head that took an unaligned snapshot persisted the records that were
 * still in front of its channels' barriers (a `channel` handle on the head operator's subtask
 * state). On restore, before any new input:
 * - same parallelism: subtask i replays what old subtask i persisted;
 * - keyed input, other parallelism: every new subtask reads every old file and keeps the records
 *   whose key falls in its key-group range (the keys travel with the records), so a key's records
 *   stay in order and reach the subtask that owns the key's state;
 * - other input, other parallelism: old subtask j's records go to new subtask j mod parallelism
 *   (round-robin edges promise no placement).
 * Savepoints are always aligned and carry no channel state.
 * `planReplay` is pure; `loadReplay` reads files. Tests: test/unaligned.test.ts.
 */
import { deserialize } from 'node:v8'
import { StateError } from '../errors.js'
import { keyGroupForKey, keyGroupRangeForSubtask, rangeContains, type StateKey } from '../core/key-groups.js'
import { join } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { readVerified } from './file-check.js'
import type { CheckpointMetadata, FileReference } from './metadata.js'

/** One persisted batch of in-flight records (the file holds an array of these). */
export interface ChannelStateBatch {
  channel: number
  records: unknown[]
  keys: unknown[] | null
  timestamps: number[] | null
}

export interface ReplaySource {
  location: string
  /** The file as `_metadata` lists it (size, checksum): checked when read; absent, the file is not listed and the read fails. */
  ref: FileReference | undefined
  /** Keep only records whose key group is in [start, end] (keyed input at another parallelism). */
  keyGroups: { start: number; end: number; maxParallelism: number } | undefined
}

/** Per vertex-head operator id: per new subtask, the files to replay. */
export interface ReplayPlan {
  operators: Map<string, ReplaySource[][]>
}

export interface ReplayTarget {
  operatorId: string
  name: string
  parallelism: number
  maxParallelism: number
  /** Whether the operator heads its task (in-flight records can only be replayed into a head). */
  isHead: boolean
  keyed: boolean
}

export function planReplay(location: string, metadata: CheckpointMetadata, targets: readonly ReplayTarget[]): ReplayPlan | undefined {
  const byId = new Map(targets.map((t) => [t.operatorId, t]))
  const operators = new Map<string, ReplaySource[][]>()
  const listed = new Map(metadata.files.map((f) => [join(location, f.path), f]))
  for (const entry of metadata.operators) {
    const withChannel = entry.subtasks.filter((s) => s.channel !== undefined)
    if (withChannel.length === 0) continue
    const t = byId.get(entry.operatorId)
    if (t === undefined) continue // the operator is gone: its state was dropped (allowNonRestoredState) or the restore fails elsewhere
    if (!t.isHead) {
      throw new StateError(
        `Cannot restore the in-flight records of unaligned checkpoint ${location} into operator '${t.name}': it no longer heads its task (the operator chain changed).`,
        { hint: 'Restore with the previous program, take a savepoint (savepoints are always aligned), and start the new program from it.' },
      )
    }
    const perSubtask: ReplaySource[][] = Array.from({ length: t.parallelism }, () => [])
    for (const s of withChannel) {
      const loc = join(location, s.channel!.file)
      const ref = listed.get(loc)
      if (t.parallelism === entry.parallelism) perSubtask[s.subtask]!.push({ location: loc, ref, keyGroups: undefined })
      else if (t.keyed) {
        for (let i = 0; i < t.parallelism; i++) {
          const r = keyGroupRangeForSubtask(t.maxParallelism, t.parallelism, i)
          perSubtask[i]!.push({ location: loc, ref, keyGroups: { start: r.start, end: r.end, maxParallelism: t.maxParallelism } })
        }
      } else perSubtask[s.subtask % t.parallelism]!.push({ location: loc, ref, keyGroups: undefined })
    }
    operators.set(entry.operatorId, perSubtask)
  }
  return operators.size === 0 ? undefined : { operators }
}

/** Reads the records one subtask replays, in order. */
export async function loadReplay(sources: readonly ReplaySource[], storageFor: (location: string) => Storage): Promise<ChannelStateBatch[]> {
  const out: ChannelStateBatch[] = []
  for (const src of sources) {
    if (src.ref === undefined) throw new StateError(`State file ${src.location} is not listed in the checkpoint's _metadata`)
    const batches = deserialize(await readVerified(storageFor(src.location), src.location, src.ref)) as ChannelStateBatch[]
    const kg = src.keyGroups
    if (kg === undefined) {
      out.push(...batches)
      continue
    }
    const range = { start: kg.start, end: kg.end }
    for (const b of batches) {
      if (b.keys === null) continue
      const keep: number[] = []
      for (let i = 0; i < b.records.length; i++) if (rangeContains(range, keyGroupForKey(b.keys[i] as StateKey, kg.maxParallelism))) keep.push(i)
      if (keep.length === 0) continue
      out.push({
        channel: b.channel,
        records: keep.map((i) => b.records[i]),
        keys: keep.map((i) => b.keys![i]),
        timestamps: b.timestamps === null ? null : keep.map((i) => b.timestamps![i]!),
      })
    }
  }
  return out
}
