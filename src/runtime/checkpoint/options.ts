/**
 * What a checkpoint request carries from the coordinator to the tasks (Flink's CheckpointOptions),
 * and the coordinator's settings. Pure types and defaults (nothing to test on their own); must not
 * import the task or the CLI.
 */
import type { CheckpointId } from '../ids.js'
import type { SnapshotFormat, SnapshotType } from './metadata.js'

export type CheckpointingMode = 'EXACTLY_ONCE' | 'AT_LEAST_ONCE'
export type RetentionMode = 'NO_EXTERNALIZED_CHECKPOINTS' | 'RETAIN_ON_CANCELLATION' | 'DELETE_ON_CANCELLATION'

/** The barrier: it travels with the records and tells every task what to snapshot and where. */
export interface CheckpointBarrier {
  readonly id: CheckpointId
  readonly timestamp: number
  readonly type: SnapshotType
  readonly format: SnapshotFormat
  /** Directory the tasks write their state files into (chk-<n>/ or the savepoint directory). */
  readonly location: string
  /** Whether the snapshot may reference files of earlier checkpoints (incremental). */
  readonly incremental: boolean
  /**
   * Stop-with-savepoint: sources emit nothing after this barrier (after a final watermark when
   * draining), and the job ends once the savepoint completed.
   */
  readonly stop?: { readonly drain: boolean }
}

export interface CheckpointSettings {
  /** Periodic interval; undefined means periodic checkpoints are off. */
  intervalMs: number | undefined
  mode: CheckpointingMode
  timeoutMs: number
  maxConcurrent: number
  minPauseMs: number
  tolerableFailures: number
  numRetained: number
  retention: RetentionMode
  incremental: boolean
  /** execution.checkpointing.unaligned.enabled: barriers overtake in-flight records (EXACTLY_ONCE checkpoints only). */
  unaligned: boolean
  /** execution.checkpointing.aligned-checkpoint-timeout: an aligned checkpoint goes unaligned after this long; undefined: never. */
  alignedTimeoutMs: number | undefined
}

export const DEFAULT_CHECKPOINT_SETTINGS: CheckpointSettings = {
  intervalMs: undefined,
  mode: 'EXACTLY_ONCE',
  timeoutMs: 10 * 60_000,
  maxConcurrent: 1,
  minPauseMs: 0,
  tolerableFailures: 0,
  numRetained: 1,
  retention: 'NO_EXTERNALIZED_CHECKPOINTS',
  incremental: false,
  unaligned: false,
  alignedTimeoutMs: undefined,
}
