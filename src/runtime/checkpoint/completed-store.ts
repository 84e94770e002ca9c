/**
 * Keeps the last `numRetained` completed checkpoints of a job (Flink's CompletedCheckpointStore).
 * Adding one returns the checkpoints it subsumes, for the caller to discard. Savepoints are never
 * added: they belong to the user. Pure; imports nothing with I/O.
 * Tests: test/coordinator.test.ts (retention and subsumption).
 */
import type { CompletedCheckpoint } from './snapshot.js'

export class CompletedCheckpointStore {
  private readonly checkpoints: CompletedCheckpoint[] = []

  constructor(private readonly numRetained: number) {
    if (numRetained < 1) throw new Error('num-retained must be at least 1')
  }

  /** Adds a checkpoint; returns those now beyond the retention, oldest first. */
  add(c: CompletedCheckpoint): CompletedCheckpoint[] {
    this.checkpoints.push(c)
    this.checkpoints.sort((a, b) => a.id - b.id)
    return this.checkpoints.splice(0, Math.max(0, this.checkpoints.length - this.numRetained))
  }

  latest(): CompletedCheckpoint | undefined {
    return this.checkpoints[this.checkpoints.length - 1]
  }

  all(): readonly CompletedCheckpoint[] {
    return this.checkpoints
  }

  /** Empties the store and returns what it held. */
  drain(): CompletedCheckpoint[] {
    return this.checkpoints.splice(0)
  }
}
