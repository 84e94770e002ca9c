/**
 * Built-in operators with timers, one operator at a time on a ManualClock (as Flink's keyed
 * operator test harness does): KeyedProcessOperator fires event-time timers when a watermark
 * reaches them and processing-time timers when the clock does, with the timer's key as the
 * current key (its state in reach), the timer's time as the timestamp, the right time domain, and
 * its output ahead of the watermark it forwards; ProcessOperator sees timestamps and watermarks.
 * Timers across checkpoints, savepoints and drains, through jobs: test/integration/event-time.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeyedProcessFunction, ProcessFunction, type Collector, type KeyedProcessContext, type OnTimerContext, type ProcessContext } from '../src/runtime/core/functions.js'
import { ValueStateDescriptor, type ValueState } from '../src/runtime/core/state.js'
import { ManualClock } from '../src/runtime/clock.js'
import type { OperatorId } from '../src/runtime/ids.js'
import type { StreamOperator } from '../src/runtime/operators/operator.js'
import { InternalTimerService } from '../src/runtime/operators/timer-service.js'
import { KeyedProcessOperator, ProcessOperator } from '../src/runtime/operators/udf-operators.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import type { StateKey } from '../src/runtime/core/key-groups.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'

type Out = string | ['watermark', number]

/** One operator with keyed state, timers and a manual clock; `scheduleAt` runs like a task mail when the clock reaches it. */
async function harness(op: StreamOperator<unknown, string>, keyed: boolean, restoredTimers: [0 | 1, number, StateKey][] = []) {
  const clock = new ManualClock(1_000)
  const timestamps: { ts: number | undefined } = { ts: undefined }
  const backend = keyed ? new HeapKeyedStateBackend({ start: 0, end: 127 }, 128) : undefined
  const timers = keyed ? new InternalTimerService() : undefined
  // As a task restores them: into the timer service, before the operator opens.
  timers?.restore(restoredTimers)
  const out: Out[] = []
  op.setup({
    operatorId: '0'.repeat(32) as OperatorId, uid: 'op', name: 'op', jobId: '0'.repeat(32), subtask: 0, parallelism: 1, maxParallelism: 128, attempt: 0,
    output: { collect: (r) => out.push(r as string), emitWatermark: (w) => out.push(['watermark', w]) },
    keyed: backend, timers, operatorState: new OperatorStateBackend(),
    task: { clock, timestamps, checkpointingEnabled: false, scheduleAt: (at, fn) => void clock.schedule(at - clock.now(), fn) },
    restored: false,
  })
  await op.initializeState()
  await op.open()
  return {
    out,
    clock,
    timers,
    element(value: unknown, key?: StateKey, ts?: number) {
      if (backend !== undefined) backend.currentKey = key!
      timestamps.ts = ts
      op.processElement(value)
    },
    watermark: (w: number) => op.processWatermark(w),
  }
}

interface Event {
  ts: number
  /** Register a processing-time timer this many ms from now instead of an event-time timer at ts+10. */
  proc?: number
  delete?: boolean
}

/** Counts per key; a record registers an event-time timer at ts+10, or a processing-time timer at now+proc. */
class CountWithTimers extends KeyedProcessFunction<string, Event, string> {
  private count!: ValueState<number>
  override open(): void {
    this.count = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(e: Event, ctx: KeyedProcessContext<string>, out: Collector<string>): void {
    this.count.update((this.count.value() ?? 0) + 1)
    const ts = ctx.timerService()
    if (e.delete === true) {
      ts.deleteEventTimeTimer(e.ts + 10)
      return
    }
    if (e.proc !== undefined) ts.registerProcessingTimeTimer(ts.currentProcessingTime() + e.proc)
    else ts.registerEventTimeTimer(e.ts + 10)
    out.collect(`in ${ctx.getCurrentKey()} ts=${String(ctx.timestamp())} wm=${ts.currentWatermark()}`)
  }
  override onTimer(t: number, ctx: OnTimerContext<string>, out: Collector<string>): void {
    out.collect(`timer ${ctx.getCurrentKey()} ${ctx.timeDomain()} at=${t} ts=${String(ctx.timestamp())} count=${this.count.value()}`)
  }
}

describe('KeyedProcessOperator: event-time timers', () => {
  it('fire when the watermark reaches them, in time order, with their key, state and timestamp, before the watermark goes on', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true)
    h.element({ ts: 50 }, 'b', 50)
    h.element({ ts: 20 }, 'a', 20)
    h.element({ ts: 21 }, 'a', 21)
    h.element({ ts: 20 }, 'c', 20)
    h.out.length = 0
    h.watermark(29)
    assert.deepEqual(h.out, [['watermark', 29]], 'no timer before its time')
    h.out.length = 0
    h.watermark(31)
    // Two timers at 30 (their order is not specified, as in Flink), then the one at 31.
    assert.deepEqual(new Set(h.out.slice(0, 2)), new Set(['timer a EVENT_TIME at=30 ts=30 count=2', 'timer c EVENT_TIME at=30 ts=30 count=1']))
    assert.deepEqual(h.out.slice(2), ['timer a EVENT_TIME at=31 ts=31 count=2', ['watermark', 31]], 'timers first, then the watermark')
    h.out.length = 0
    h.element({ ts: 40 }, 'a', 40)
    assert.deepEqual(h.out, ['in a ts=40 wm=31'], 'the current watermark is visible to processElement')
    h.out.length = 0
    h.watermark(Number.POSITIVE_INFINITY)
    assert.deepEqual(h.out, ['timer a EVENT_TIME at=50 ts=50 count=3', 'timer b EVENT_TIME at=60 ts=60 count=1', ['watermark', Number.POSITIVE_INFINITY]])
  })

  it('a deleted timer does not fire', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true)
    h.element({ ts: 5 }, 'k', 5)
    h.element({ ts: 7 }, 'k', 7)
    h.element({ ts: 5, delete: true }, 'k', 5)
    h.out.length = 0
    h.watermark(100)
    assert.deepEqual(h.out, ['timer k EVENT_TIME at=17 ts=17 count=3', ['watermark', 100]])
  })
})

describe('KeyedProcessOperator: processing-time timers', () => {
  it('fire when the clock reaches them, with PROCESSING_TIME, the key\'s state, in time order', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true)
    h.element({ ts: 0, proc: 100 }, 'a', 0) // at 1100
    h.element({ ts: 0, proc: 100 }, 'a', 0) // the same timer: fires once
    h.clock.advance(50)
    h.element({ ts: 0, proc: 100 }, 'b', 0) // at 1150
    h.out.length = 0
    h.clock.advance(49) // 1099
    assert.deepEqual(h.out, [])
    h.clock.advance(1) // 1100
    assert.deepEqual(h.out, ['timer a PROCESSING_TIME at=1100 ts=1100 count=2'])
    h.clock.advance(1000)
    assert.deepEqual(h.out, ['timer a PROCESSING_TIME at=1100 ts=1100 count=2', 'timer b PROCESSING_TIME at=1150 ts=1150 count=1'])
  })

  it('an earlier timer registered after a later one fires at its own time', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true)
    h.element({ ts: 0, proc: 300 }, 'late', 0) // at 1300
    h.element({ ts: 0, proc: 100 }, 'early', 0) // at 1100
    h.out.length = 0
    h.clock.advance(100) // 1100
    assert.deepEqual(h.out, ['timer early PROCESSING_TIME at=1100 ts=1100 count=1'])
    h.clock.advance(199) // 1299
    assert.equal(h.out.length, 1)
    h.clock.advance(1) // 1300
    assert.deepEqual(h.out, ['timer early PROCESSING_TIME at=1100 ts=1100 count=1', 'timer late PROCESSING_TIME at=1300 ts=1300 count=1'])
  })

  it('restored processing-time timers are scheduled when the operator opens; overdue ones fire at once', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true, [[1, 900, 'overdue'], [1, 1500, 'later'], [0, 10, 'event']])
    h.clock.advance(0)
    assert.deepEqual(h.out, ['timer overdue PROCESSING_TIME at=900 ts=900 count=null'])
    h.clock.advance(500)
    assert.deepEqual(h.out, ['timer overdue PROCESSING_TIME at=900 ts=900 count=null', 'timer later PROCESSING_TIME at=1500 ts=1500 count=null'])
    h.watermark(10)
    assert.equal(h.out[2], 'timer event EVENT_TIME at=10 ts=10 count=null')
  })

  it('a watermark fires no processing-time timer, and the clock fires no event-time timer', async () => {
    const h = await harness(new KeyedProcessOperator(new CountWithTimers()) as StreamOperator<unknown, string>, true)
    h.element({ ts: 10, proc: 100 }, 'p', 10)
    h.element({ ts: 10 }, 'e', 10)
    h.out.length = 0
    h.clock.advance(10_000)
    assert.deepEqual(h.out, ['timer p PROCESSING_TIME at=1100 ts=1100 count=1'])
    h.out.length = 0
    h.watermark(Number.POSITIVE_INFINITY)
    assert.deepEqual(h.out, ['timer e EVENT_TIME at=20 ts=20 count=1', ['watermark', Number.POSITIVE_INFINITY]])
  })
})

describe('ProcessOperator', () => {
  it('sees each record\'s timestamp and the current watermark, and forwards watermarks', async () => {
    class Show extends ProcessFunction<number, string> {
      processElement(v: number, ctx: ProcessContext, out: Collector<string>): void {
        out.collect(`${v} ts=${String(ctx.timestamp())} wm=${ctx.timerService().currentWatermark()}`)
      }
    }
    const h = await harness(new ProcessOperator(new Show()) as StreamOperator<unknown, string>, false)
    h.element(1, undefined, 100)
    h.watermark(90)
    h.element(2)
    assert.deepEqual(h.out, ['1 ts=100 wm=-Infinity', ['watermark', 90], '2 ts=null wm=90'])
  })
})
