/**
 * The source contract (after Flink's FLIP-27, simplified): a Source makes splits and readers; a
 * reader emits records from the splits it owns and reports their positions as splits again, so
 * that a restored or rescaled job resumes exactly where the checkpoint was.
 * Splits must be structured-cloneable. Tests: test/sources.test.ts.
 */
import type { Clock } from '../clock.js'

export type InputStatus = 'MORE_AVAILABLE' | 'NOTHING_AVAILABLE' | 'END_OF_INPUT'

export interface ReaderOutput<T> {
  /** Emits a record, with its event timestamp if the source knows one. */
  collect(record: T, timestamp?: number): void
  /**
   * The output of one split (Flink's per-split watermarks): records emitted through it feed a
   * watermark generator of that split, and the reader's watermark is the minimum over its
   * splits', so a split that is ahead in event time never makes another split's records late.
   * Readers with several splits should emit through these, and create the output of every split
   * they own before emitting from any (a split without an output does not hold the watermark back).
   * Asking again for the same split returns the same output.
   */
  createOutputForSplit?(splitId: string): ReaderOutput<T>
  /** The split is finished: its watermark no longer holds the others back. */
  releaseOutputForSplit?(splitId: string): void
}

export interface SourceReaderContext {
  readonly subtask: number
  readonly parallelism: number
  readonly attempt: number
  readonly clock: Clock
}

export interface SourceReader<T, S> {
  /** Called once before the first poll, with the splits this subtask owns. */
  addSplits(splits: S[]): void
  start?(): Promise<void>
  /** Emits up to `max` records; never blocks. */
  pollNext(output: ReaderOutput<T>, max: number): InputStatus
  /** After NOTHING_AVAILABLE: resolves when a poll may find records. */
  isAvailable(): Promise<void>
  /** Current positions, as splits; called synchronously at the barrier. */
  snapshotState(checkpointId: number): S[]
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>
  close?(): void | Promise<void>
}

export interface Source<T, S> {
  readonly boundedness: 'BOUNDED' | 'CONTINUOUS_UNBOUNDED'
  /** Splits of a fresh start; split j goes to subtask j mod parallelism. */
  createSplits(parallelism: number): S[] | Promise<S[]>
  createReader(ctx: SourceReaderContext): SourceReader<T, S>
  /** Most subtasks that can do useful work (e.g. 1 for a collection). */
  readonly maxParallelism?: number
  /**
   * When true, every reader is handed every split (all of createSplits on a fresh start, all
   * splits of all subtasks on a restore: they are kept as union list state) and keeps those it
   * owns, remembering the others as known; as Flink's split enumerator keeps the assignment in its
   * own checkpoint, so that a split missing from it can be told apart as new.
   * Default: split j goes to subtask j mod parallelism, restored splits are spread evenly.
   */
  readonly readersPickSplits?: boolean
}
