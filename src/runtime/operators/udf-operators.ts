/**
 * Operators that run a user function: map, flatMap, filter, process, keyed process, reduce, sink.
 * A user function's optional open/close/getRuntimeContext, CheckpointedFunction and
 * CheckpointListener methods are honoured.
 */
import {
  asFunction, isCheckpointListener, isCheckpointedFunction,
  type Collector, type FilterFunction, type FlatMapFunction, type KeyedProcessContext, type KeyedProcessFunction,
  type MapFunction, type OnTimerContext, type ProcessFunction, type ReduceFunction, type RichFunction,
  type RuntimeContext, type SinkFunction, type TaskInfo, type TimeDomain, type TimerService,
} from '../core/functions.js'
import type { KeyedStateStore, ValueState } from '../core/state.js'
import { ValueStateDescriptor } from '../core/state.js'
import type { StateKey } from '../core/key-groups.js'
import { StreamOperator, type SnapshotContext } from './operator.js'

export abstract class UdfOperator<IN, OUT, F> extends StreamOperator<IN, OUT> {
  constructor(protected readonly userFunction: F) {
    super()
  }

  protected taskInfo(): TaskInfo {
    const c = this.ctx
    return {
      getTaskName: () => c.name,
      getIndexOfThisSubtask: () => c.subtask,
      getNumberOfParallelSubtasks: () => c.parallelism,
      getMaxNumberOfParallelSubtasks: () => c.maxParallelism,
      getAttemptNumber: () => c.attempt,
    }
  }

  protected keyedStore(): KeyedStateStore {
    const k = this.ctx.keyed
    if (k !== undefined) return k
    const fail = (): never => {
      throw new Error(`Keyed state is only available on a keyed stream (after keyBy); operator '${this.ctx.name}' is not keyed`)
    }
    return { getState: fail, getListState: fail, getMapState: fail, getReducingState: fail }
  }

  override async initializeState(): Promise<void> {
    const f = this.userFunction as RichFunction
    if (typeof f.setRuntimeContext === 'function') {
      const info = this.taskInfo()
      const store = this.keyedStore()
      const rc: RuntimeContext = {
        ...info,
        getTaskInfo: () => info,
        getJobId: () => this.ctx.jobId,
        getState: (d) => store.getState(d),
        getListState: (d) => store.getListState(d),
        getMapState: (d) => store.getMapState(d),
        getReducingState: (d) => store.getReducingState(d),
      }
      f.setRuntimeContext(rc)
    }
    if (isCheckpointedFunction(f)) {
      await f.initializeState({
        isRestored: () => this.ctx.restored,
        getOperatorStateStore: () => this.ctx.operatorState,
        getKeyedStateStore: () => this.ctx.keyed,
      })
    }
  }

  override async open(): Promise<void> {
    const f = this.userFunction as RichFunction
    if (typeof f.open === 'function') await f.open({ getTaskInfo: () => this.taskInfo() })
  }

  override snapshotState(ctx: SnapshotContext): void {
    const f = this.userFunction
    if (isCheckpointedFunction(f)) f.snapshotState({ getCheckpointId: () => ctx.checkpointId, getCheckpointTimestamp: () => ctx.timestamp })
  }

  override async notifyCheckpointComplete(id: number): Promise<void> {
    const f = this.userFunction
    if (isCheckpointListener(f)) await f.notifyCheckpointComplete(id)
  }

  override notifyCheckpointAborted(id: number): void {
    const f = this.userFunction
    if (isCheckpointListener(f)) f.notifyCheckpointAborted?.(id)
  }

  override async close(): Promise<void> {
    const f = this.userFunction as RichFunction
    if (typeof f.close === 'function') await f.close()
  }
}

export class MapOperator<I, O> extends UdfOperator<I, O, MapFunction<I, O>> {
  private fn!: (v: I) => O
  override async open(): Promise<void> {
    this.fn = asFunction(this.userFunction as (v: I) => O, 'map')
    await super.open()
  }
  processElement(value: I): void {
    this.output.collect(this.fn(value))
  }
}

export class FlatMapOperator<I, O> extends UdfOperator<I, O, FlatMapFunction<I, O>> {
  private fn!: (v: I, out: Collector<O>) => void
  override async open(): Promise<void> {
    this.fn = asFunction(this.userFunction as (v: I, out: Collector<O>) => void, 'flatMap')
    await super.open()
  }
  processElement(value: I): void {
    this.fn(value, this.output)
  }
}

export class FilterOperator<I> extends UdfOperator<I, I, FilterFunction<I>> {
  private fn!: (v: I) => boolean
  override async open(): Promise<void> {
    this.fn = asFunction(this.userFunction as (v: I) => boolean, 'filter')
    await super.open()
  }
  processElement(value: I): void {
    if (this.fn(value)) this.output.collect(value)
  }
}

export class SinkOperator<I> extends UdfOperator<I, never, SinkFunction<I>> {
  private fn!: (v: I) => void
  override async open(): Promise<void> {
    this.fn = asFunction(this.userFunction as (v: I) => void, 'invoke')
    await super.open()
  }
  processElement(value: I): void {
    this.fn(value)
  }
  override processWatermark(): void {}
  override finish(): void {
    const f = this.userFunction as { finish?: () => void }
    if (typeof f.finish === 'function') f.finish()
  }
}

export class ProcessOperator<I, O> extends UdfOperator<I, O, ProcessFunction<I, O>> {
  private pctx!: Parameters<ProcessFunction<I, O>['processElement']>[1]
  override async open(): Promise<void> {
    const task = this.ctx.task
    let wm = Number.NEGATIVE_INFINITY
    this.pctx = {
      timestamp: () => task.timestamps.ts ?? null,
      timerService: () => ({ currentProcessingTime: () => task.clock.now(), currentWatermark: () => wm }),
    }
    this.trackWatermark = (t) => { wm = t }
    await super.open()
  }
  private trackWatermark: (t: number) => void = () => {}
  processElement(value: I): void {
    this.userFunction.processElement(value, this.pctx, this.output)
  }
  override processWatermark(timestamp: number): void {
    this.trackWatermark(timestamp)
    this.output.emitWatermark(timestamp)
  }
}

export class KeyedProcessOperator<K, I, O> extends UdfOperator<I, O, KeyedProcessFunction<K, I, O>> {
  private elementCtx!: KeyedProcessContext<K>
  private timerCtx!: OnTimerContext<K>
  private domain: TimeDomain = 'EVENT_TIME'
  private scheduledWakeUp: number | undefined

  override async open(): Promise<void> {
    const { keyed, timers, task } = this.ctx
    if (keyed === undefined || timers === undefined) throw new Error(`process(KeyedProcessFunction) needs a keyed stream: call keyBy first (operator '${this.ctx.name}')`)
    const ts: TimerService = {
      currentProcessingTime: () => task.clock.now(),
      currentWatermark: () => timers.currentWatermark,
      registerEventTimeTimer: (t) => timers.registerEventTimeTimer(keyed.currentKey, t),
      deleteEventTimeTimer: (t) => timers.deleteEventTimeTimer(keyed.currentKey, t),
      registerProcessingTimeTimer: (t) => {
        if (timers.registerProcessingTimeTimer(keyed.currentKey, t)) this.scheduleWakeUp()
      },
      deleteProcessingTimeTimer: (t) => timers.deleteProcessingTimeTimer(keyed.currentKey, t),
    }
    this.elementCtx = {
      timestamp: () => task.timestamps.ts ?? null,
      timerService: () => ts,
      getCurrentKey: () => keyed.currentKey as K,
    }
    this.timerCtx = { ...this.elementCtx, timeDomain: () => this.domain }
    this.scheduleWakeUp()
    await super.open()
  }

  processElement(value: I): void {
    this.userFunction.processElement(value, this.elementCtx, this.output)
  }

  private fire = (ts: number, key: StateKey): void => {
    this.ctx.keyed!.currentKey = key
    const saved = this.ctx.task.timestamps.ts
    this.ctx.task.timestamps.ts = ts
    this.userFunction.onTimer(ts, this.timerCtx, this.output)
    this.ctx.task.timestamps.ts = saved
  }

  override processWatermark(timestamp: number): void {
    this.domain = 'EVENT_TIME'
    this.ctx.timers!.advanceWatermark(timestamp, this.fire)
    this.output.emitWatermark(timestamp)
  }

  private scheduleWakeUp(): void {
    const next = this.ctx.timers!.nextProcessingTime()
    if (next === undefined || (this.scheduledWakeUp !== undefined && this.scheduledWakeUp <= next)) return
    this.scheduledWakeUp = next
    this.ctx.task.scheduleAt(next, () => {
      this.scheduledWakeUp = undefined
      this.domain = 'PROCESSING_TIME'
      this.ctx.timers!.advanceProcessingTime(this.ctx.task.clock.now(), this.fire)
      this.scheduleWakeUp()
    })
  }
}

/** Rolling reduce per key (Flink's StreamGroupedReduceOperator): emits every new aggregate. */
export class ReduceOperator<T> extends UdfOperator<T, T, ReduceFunction<T>> {
  private fn!: (a: T, b: T) => T
  private state!: ValueState<T>

  override async open(): Promise<void> {
    this.fn = asFunction(this.userFunction as (a: T, b: T) => T, 'reduce')
    this.state = this.keyedStore().getState(new ValueStateDescriptor<T>('_reduce'))
    await super.open()
  }

  processElement(value: T): void {
    const cur = this.state.value()
    const next = cur === null ? value : this.fn(cur, value)
    this.state.update(next)
    this.output.collect(next)
  }
}
