/**
 * Counts consecutive failed checkpoints (Flink's CheckpointFailureManager). A success resets the
 * count; more than `tolerable` failures in a row fail the job. Savepoints never count. Pure;
 * imports nothing. Tests: test/coordinator.test.ts (timeouts and failures).
 */

export type CheckpointFailureReason =
  | 'CHECKPOINT_EXPIRED'
  | 'CHECKPOINT_DECLINED'
  | 'IO_EXCEPTION'
  | 'FINALIZE_CHECKPOINT_FAILURE'
  | 'JOB_FAILOVER'
  | 'SUBSUMED'

/** Reasons that say nothing about the checkpoint mechanism's health are not counted. */
const COUNTED: ReadonlySet<CheckpointFailureReason> = new Set(['CHECKPOINT_EXPIRED', 'CHECKPOINT_DECLINED', 'IO_EXCEPTION', 'FINALIZE_CHECKPOINT_FAILURE'])

export class CheckpointFailureManager {
  private consecutive = 0

  constructor(private readonly tolerable: number) {}

  /** Returns true when this failure exceeds the tolerable number. */
  onFailure(reason: CheckpointFailureReason, isSavepoint: boolean): boolean {
    if (isSavepoint || !COUNTED.has(reason)) return false
    this.consecutive++
    return this.consecutive > this.tolerable
  }

  onSuccess(): void {
    this.consecutive = 0
  }

  get failures(): number {
    return this.consecutive
  }
}
