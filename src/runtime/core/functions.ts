/**
 * User function types, as in Flink's DataStream API. Every function may be a plain lambda or an
 * object (or class instance) with the method; Rich* base classes add open/close and
 * getRuntimeContext(). Pure types.
 */
import type { KeyedStateStore, OperatorStateStore } from './state.js'

export interface Collector<T> {
  collect(record: T): void
}

export interface TaskInfo {
  getTaskName(): string
  getIndexOfThisSubtask(): number
  getNumberOfParallelSubtasks(): number
  getMaxNumberOfParallelSubtasks(): number
  /** 0 on the first run of the job, then +1 on every restart after a failure. */
  getAttemptNumber(): number
}

export interface RuntimeContext extends KeyedStateStore, TaskInfo {
  getTaskInfo(): TaskInfo
  getJobId(): string
}

/** Handed to `open`. */
export interface OpenContext {
  getTaskInfo(): TaskInfo
}

export interface RichFunction {
  open?(ctx: OpenContext): void | Promise<void>
  close?(): void | Promise<void>
  setRuntimeContext?(ctx: RuntimeContext): void
}

export abstract class AbstractRichFunction implements RichFunction {
  private runtimeContext: RuntimeContext | undefined

  setRuntimeContext(ctx: RuntimeContext): void {
    this.runtimeContext = ctx
  }

  getRuntimeContext(): RuntimeContext {
    if (this.runtimeContext === undefined) throw new Error('The runtime context is available from open() on, not in the constructor')
    return this.runtimeContext
  }

  open(_ctx: OpenContext): void | Promise<void> {}
  close(): void | Promise<void> {}
}

export type MapFunction<I, O> = ((value: I) => O) | { map(value: I): O }
export type FlatMapFunction<I, O> = ((value: I, out: Collector<O>) => void) | { flatMap(value: I, out: Collector<O>): void }
export type FilterFunction<I> = ((value: I) => boolean) | { filter(value: I): boolean }
export type ReduceFunction<T> = ((a: T, b: T) => T) | { reduce(a: T, b: T): T }
export type KeySelector<T, K> = ((value: T) => K) | { getKey(value: T): K }
export type SinkFunction<T> = ((value: T) => void) | { invoke(value: T): void }

export abstract class RichMapFunction<I, O> extends AbstractRichFunction {
  abstract map(value: I): O
}

export abstract class RichFlatMapFunction<I, O> extends AbstractRichFunction {
  abstract flatMap(value: I, out: Collector<O>): void
}

export abstract class RichFilterFunction<I> extends AbstractRichFunction {
  abstract filter(value: I): boolean
}

export abstract class RichSinkFunction<T> extends AbstractRichFunction {
  abstract invoke(value: T): void
}

export interface TimerService {
  currentProcessingTime(): number
  currentWatermark(): number
  registerEventTimeTimer(time: number): void
  registerProcessingTimeTimer(time: number): void
  deleteEventTimeTimer(time: number): void
  deleteProcessingTimeTimer(time: number): void
}

export type TimeDomain = 'EVENT_TIME' | 'PROCESSING_TIME'

export interface KeyedProcessContext<K> {
  /** The timestamp of the record being processed, or null when it has none. */
  timestamp(): number | null
  timerService(): TimerService
  getCurrentKey(): K
}

export interface OnTimerContext<K> extends KeyedProcessContext<K> {
  timeDomain(): TimeDomain
}

export abstract class KeyedProcessFunction<K, I, O> extends AbstractRichFunction {
  abstract processElement(value: I, ctx: KeyedProcessContext<K>, out: Collector<O>): void
  onTimer(_timestamp: number, _ctx: OnTimerContext<K>, _out: Collector<O>): void {}
}

export interface ProcessContext {
  timestamp(): number | null
  timerService(): Pick<TimerService, 'currentProcessingTime' | 'currentWatermark'>
}

export abstract class ProcessFunction<I, O> extends AbstractRichFunction {
  abstract processElement(value: I, ctx: ProcessContext, out: Collector<O>): void
}

export interface FunctionInitializationContext {
  isRestored(): boolean
  getOperatorStateStore(): OperatorStateStore
  getKeyedStateStore(): KeyedStateStore | undefined
}

export interface FunctionSnapshotContext {
  getCheckpointId(): number
  getCheckpointTimestamp(): number
}

/** Functions that keep operator state implement this (Flink's CheckpointedFunction). */
export interface CheckpointedFunction {
  initializeState(ctx: FunctionInitializationContext): void | Promise<void>
  snapshotState(ctx: FunctionSnapshotContext): void
}

/** Functions told when checkpoints complete (Flink's CheckpointListener). */
export interface CheckpointListener {
  notifyCheckpointComplete(checkpointId: number): void | Promise<void>
  notifyCheckpointAborted?(checkpointId: number): void
}

export function isCheckpointedFunction(f: unknown): f is CheckpointedFunction {
  return typeof (f as CheckpointedFunction | null)?.initializeState === 'function' && typeof (f as CheckpointedFunction).snapshotState === 'function'
}

export function isCheckpointListener(f: unknown): f is CheckpointListener {
  return typeof (f as CheckpointListener | null)?.notifyCheckpointComplete === 'function'
}

/** Turns `fn | {method}` into a bound function. */
export function asFunction<F extends (...args: never[]) => unknown>(f: F | Record<string, unknown>, method: string): F {
  if (typeof f === 'function') return f
  const m = (f as Record<string, unknown>)[method]
  if (typeof m !== 'function') throw new Error(`Expected a function or an object with a '${method}' method`)
  return (m as F).bind(f) as F
}
