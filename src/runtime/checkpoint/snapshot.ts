/**
 * What a task reports when it acknowledges a checkpoint: the state handles of each operator of its
 * chain, and the checkpoint a job restores from. Pure types (nothing to test on their own); must
 * not import the task or the CLI.
 */
import type { CheckpointId, OperatorId } from '../ids.js'
import type { ChannelStateHandle, CheckpointMetadata, FileReference, KeyedStateHandle, OperatorStateHandle } from './metadata.js'

export interface OperatorSubtaskSnapshot {
  operatorId: OperatorId
  uid: string | null
  name: string
  parallelism: number
  maxParallelism: number
  subtask: number
  keyed?: KeyedStateHandle
  operator?: OperatorStateHandle
  channel?: ChannelStateHandle
  /** Files written for this snapshot, relative to the checkpoint directory. */
  files: FileReference[]
}

/** A checkpoint or savepoint whose `_metadata` has been written. */
export interface CompletedCheckpoint {
  id: CheckpointId
  /** The directory holding `_metadata`. */
  location: string
  metadata: CheckpointMetadata
}
