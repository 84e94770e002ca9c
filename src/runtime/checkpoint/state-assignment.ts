/**
 * Restore: matches a checkpoint's operator states to the operators of a (possibly changed) job and
 * decides what each new subtask reads (Flink's StateAssignmentOperation):
 * - operators are matched by operator id (hashed from the uid);
 * - keyed state moves by key group: a new subtask reads every old handle whose key-group range
 *   overlaps its own, and keeps only its key groups;
 * - operator list state is split evenly (split) or given whole to everyone (union).
 * State without a matching operator fails the restore unless non-restored state is allowed.
 * `planRestore` is pure; `loadOperatorLists` reads files. Tests: test/state-assignment.test.ts.
 */
import { deserialize } from 'node:v8'
import { StateError } from '../errors.js'
import type { OperatorId } from '../ids.js'
import { keyGroupRangeForSubtask, type KeyGroupRange } from '../core/key-groups.js'
import type { Storage } from '../storage/storage.js'
import { join } from '../storage/paths.js'
import { readListed } from './file-check.js'
import type { CheckpointMetadata, FileReference, KeyedStateHandle, OperatorStateEntry } from './metadata.js'

export interface RestoreTarget {
  operatorId: OperatorId
  name: string
  parallelism: number
  maxParallelism: number
}

export interface KeyedRestore {
  /** The checkpoint directory the handle's paths are relative to. */
  checkpointDir: string
  /** Location of the sections file (for a key-group sections handle). */
  location: string
  handle: KeyedStateHandle
  /**
   * The checkpoint's files by full location, as `_metadata` lists them: every file read for the
   * restore is checked against its reference (size, checksum). Absent: files are read unchecked.
   */
  files?: ReadonlyMap<string, FileReference>
}

export interface SubtaskRestore {
  keyGroupRange: KeyGroupRange
  keyed: KeyedRestore[]
  /** Operator list state for this subtask, by state name (filled by loadOperatorLists). */
  lists: Map<string, unknown[]>
}

export interface OperatorRestorePlan {
  entry: OperatorStateEntry
  subtasks: SubtaskRestore[]
  /** The checkpoint's files by full location (see KeyedRestore.files). */
  files: ReadonlyMap<string, FileReference>
}

export interface RestorePlan {
  /** The checkpoint directory the state came from. */
  location: string
  metadata: CheckpointMetadata
  operators: Map<OperatorId, OperatorRestorePlan>
  /** Operator ids whose state was skipped (allowNonRestoredState). */
  skipped: OperatorId[]
}

const hasState = (e: OperatorStateEntry): boolean => e.subtasks.some((s) => s.keyed !== undefined || s.operator !== undefined)

export function planRestore(location: string, metadata: CheckpointMetadata, targets: readonly RestoreTarget[], allowNonRestoredState: boolean): RestorePlan {
  const byId = new Map(targets.map((t) => [t.operatorId, t]))
  const files = fileReferences(location, metadata)
  const operators = new Map<OperatorId, OperatorRestorePlan>()
  const skipped: OperatorId[] = []
  for (const entry of metadata.operators) {
    const target = byId.get(entry.operatorId)
    if (target === undefined) {
      if (!hasState(entry)) continue
      if (allowNonRestoredState) {
        skipped.push(entry.operatorId)
        continue
      }
      const named = entry.uid === null ? `${entry.operatorId} (${entry.name})` : `${entry.operatorId} (uid '${entry.uid}')`
      throw new StateError(
        `Failed to rollback to checkpoint/savepoint ${location}. Cannot map checkpoint/savepoint state for operator ${named} to the new program, because the operator is not available in the new program.`,
        { hint: 'If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.' },
      )
    }
    if (target.maxParallelism !== entry.maxParallelism && hasState(entry)) {
      throw new StateError(
        `The maximum parallelism (${target.maxParallelism}) of operator '${target.name}' differs from the maximum parallelism (${entry.maxParallelism}) its state was written with. This is not supported: keep max parallelism (setMaxParallelism) unchanged.`,
      )
    }
    const subtasks: SubtaskRestore[] = []
    for (let i = 0; i < target.parallelism; i++) {
      const range = keyGroupRangeForSubtask(target.maxParallelism, target.parallelism, i)
      const keyed: KeyedRestore[] = []
      for (const s of entry.subtasks) {
        const h = s.keyed
        if (h === undefined) continue
        if (h.keyGroupRange[1] < range.start || h.keyGroupRange[0] > range.end) continue
        keyed.push({ checkpointDir: location, location: 'file' in h ? join(location, h.file) : location, handle: h, files })
      }
      subtasks.push({ keyGroupRange: range, keyed, lists: new Map() })
    }
    operators.set(entry.operatorId, { entry, subtasks, files })
  }
  return { location, metadata, operators, skipped }
}

/** Every file a checkpoint lists, by full location. */
export function fileReferences(location: string, metadata: CheckpointMetadata): Map<string, FileReference> {
  return new Map(metadata.files.map((f) => [join(location, f.path), f]))
}

/** Splits `items` into `n` contiguous parts whose sizes differ by at most one. */
export function splitEvenly<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = []
  const base = Math.floor(items.length / n)
  const extra = items.length % n
  let pos = 0
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0)
    out.push(items.slice(pos, pos + size))
    pos += size
  }
  return out
}

/** Reads every old subtask's operator state and redistributes it over the new subtasks. */
export async function loadOperatorLists(plan: OperatorRestorePlan, location: string, storage: Storage): Promise<void> {
  const merged = new Map<string, { mode: 'split' | 'union'; elements: unknown[] }>()
  for (const s of plan.entry.subtasks) {
    const h = s.operator
    if (h === undefined) continue
    const file = join(location, h.file)
    const body = deserialize(await readListed(storage, file, plan.files)) as Record<string, unknown[]>
    for (const [name, mode] of Object.entries(h.states)) {
      let m = merged.get(name)
      if (m === undefined) {
        m = { mode, elements: [] }
        merged.set(name, m)
      }
      m.elements.push(...(body[name] ?? []))
    }
  }
  const n = plan.subtasks.length
  for (const [name, { mode, elements }] of merged) {
    const parts = mode === 'union' ? plan.subtasks.map(() => elements.slice()) : splitEvenly(elements, n)
    plan.subtasks.forEach((st, i) => st.lists.set(name, parts[i] ?? []))
  }
}
