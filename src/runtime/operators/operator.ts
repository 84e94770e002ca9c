/**
 * The operator lifecycle, with do-nothing defaults. Call order, per attempt of a subtask:
 *   setup → initializeState → open → (processElement | processWatermark | snapshotState
 *   | notifyCheckpoint*)* → endInput → finish → (snapshotState | notifyCheckpoint*)* → close
 * `snapshotState` runs synchronously while the task holds still; what it returns is immutable.
 * Operators never write to stdout and never import the CLI. Tests: test/operators.test.ts.
 */
import type { Clock } from '../clock.js'
import type { OperatorId } from '../ids.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import type { OperatorStateBackend } from '../state/operator-state-backend.js'
import type { InternalTimerService } from './timer-service.js'

/** Where an operator sends its results: the next chained operator, or the network. */
export interface Output<T> {
  collect(record: T): void
  emitWatermark(timestamp: number): void
}

/** The record currently being processed carries this timestamp (event time), shared by a chain. */
export interface TimestampContext {
  ts: number | undefined
}

/** What a task offers its operators. */
export interface TaskServices {
  readonly clock: Clock
  readonly timestamps: TimestampContext
  readonly checkpointingEnabled: boolean
  /** Runs `fn` in the task (between records) at or after time `at`. */
  scheduleAt(at: number, fn: () => void): void
}

export interface OperatorContext {
  readonly operatorId: OperatorId
  readonly uid: string | null
  readonly name: string
  readonly jobId: string
  readonly subtask: number
  readonly parallelism: number
  readonly maxParallelism: number
  readonly attempt: number
  readonly output: Output<unknown>
  readonly keyed: KeyedStateBackend | undefined
  readonly operatorState: OperatorStateBackend
  readonly timers: InternalTimerService | undefined
  readonly task: TaskServices
  readonly restored: boolean
}

export interface SnapshotContext {
  readonly checkpointId: number
  readonly timestamp: number
  readonly isSavepoint: boolean
}

export abstract class StreamOperator<IN = unknown, OUT = unknown> {
  protected ctx!: OperatorContext

  setup(ctx: OperatorContext): void {
    this.ctx = ctx
  }

  protected get output(): Output<OUT> {
    return this.ctx.output as Output<OUT>
  }

  async initializeState(): Promise<void> {}
  async open(): Promise<void> {}
  abstract processElement(value: IN): void

  processWatermark(timestamp: number): void {
    this.output.emitWatermark(timestamp)
  }

  /** All input has been processed (bounded input). */
  endInput(): void {}
  /** Flush what is buffered; no more records will arrive. */
  finish(): void {}
  prepareSnapshotPreBarrier(_checkpointId: number): void {}
  /** Write operator state into ctx.operatorState (keyed state is snapshotted by the task). */
  snapshotState(_ctx: SnapshotContext): void {}
  /**
   * The asynchronous part of this operator's snapshot, awaited before the task acknowledges the
   * checkpoint: e.g. a sink waiting until what it sent before the barrier is durable.
   */
  async snapshotStateAsync(_ctx: SnapshotContext): Promise<void> {}
  async notifyCheckpointComplete(_checkpointId: number, _isSavepoint: boolean): Promise<void> {}
  notifyCheckpointAborted(_checkpointId: number): void {}
  async close(): Promise<void> {}
}
