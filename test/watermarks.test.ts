/**
 * Event time: WatermarkStrategy (bounded out-of-orderness, monotonous, none, timestamp assigners)
 * and assignTimestampsAndWatermarks in the middle of a pipeline (TimestampsAndWatermarksOperator).
 * Expected watermarks follow Flink's definition: max timestamp seen − out-of-orderness − 1, never
 * decreasing. Watermarks across inputs, channels and ended inputs, through jobs:
 * test/integration/event-time.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { WatermarkStrategy } from '../src/runtime/core/watermark.js'
import { ManualClock } from '../src/runtime/clock.js'
import type { OperatorId } from '../src/runtime/ids.js'
import { TimestampsAndWatermarksOperator } from '../src/runtime/operators/watermark-operator.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'

describe('WatermarkStrategy', () => {
  it('bounded out-of-orderness: the largest timestamp seen minus the bound minus 1; late events do not lower it', () => {
    const g = WatermarkStrategy.forBoundedOutOfOrderness<string>(5).createGenerator!()
    assert.equal(g.currentWatermark(), Number.NEGATIVE_INFINITY, 'no watermark before the first event')
    g.onEvent('a', 100)
    assert.equal(g.currentWatermark(), 94)
    g.onEvent('b', 97) // out of order, within the bound
    assert.equal(g.currentWatermark(), 94)
    g.onEvent('c', 20) // late
    assert.equal(g.currentWatermark(), 94)
    g.onEvent('d', 120)
    assert.equal(g.currentWatermark(), 114)
  })

  it('monotonous timestamps: the largest timestamp seen minus 1', () => {
    const g = WatermarkStrategy.forMonotonousTimestamps<number>().createGenerator!()
    g.onEvent(1, 1000)
    assert.equal(g.currentWatermark(), 999)
    g.onEvent(2, 1000)
    assert.equal(g.currentWatermark(), 999)
  })

  it('each generator is independent (one per source subtask)', () => {
    const s = WatermarkStrategy.forBoundedOutOfOrderness<number>(0)
    const g1 = s.createGenerator!()
    const g2 = s.createGenerator!()
    g1.onEvent(0, 500)
    assert.equal(g1.currentWatermark(), 499)
    assert.equal(g2.currentWatermark(), Number.NEGATIVE_INFINITY)
  })

  it('no watermarks: no generator and no assigner, so event-time timers wait for the end of input', () => {
    const s = WatermarkStrategy.noWatermarks<number>()
    assert.equal(s.createGenerator, undefined)
    assert.equal(s.timestampAssigner, undefined)
    assert.equal(s.usesEventTime, false)
  })

  it('withTimestampAssigner takes a function or an object (called as a method), and keeps the generator', () => {
    const fn = WatermarkStrategy.forBoundedOutOfOrderness<{ t: number }>(10).withTimestampAssigner((e, prev) => e.t + (prev ?? 0))
    assert.equal(fn.timestampAssigner!({ t: 5 }, 1), 6)
    assert.ok(fn.createGenerator !== undefined)
    const obj = WatermarkStrategy.noWatermarks<{ t: number }>().withTimestampAssigner({
      offset: 1000,
      extractTimestamp(this: { offset: number }, e: { t: number }) {
        return e.t + this.offset
      },
    } as { extractTimestamp: (e: { t: number }) => number })
    assert.equal(obj.timestampAssigner!({ t: 5 }, undefined), 1005)
    assert.equal(obj.usesEventTime, true, 'timestamps alone are event time')
  })
})

/** Runs the operator alone: records in, records with timestamps and watermarks out, in order. */
async function harness<T>(strategy: WatermarkStrategy<T>) {
  const op = new TimestampsAndWatermarksOperator<T>(strategy)
  const timestamps: { ts: number | undefined } = { ts: undefined }
  const out: (['record', T, number | undefined] | ['watermark', number])[] = []
  op.setup({
    operatorId: '0'.repeat(32) as OperatorId, uid: null, name: 'wm', jobId: '0'.repeat(32), subtask: 0, parallelism: 1, maxParallelism: 128, attempt: 0,
    output: { collect: (r) => out.push(['record', r as T, timestamps.ts]), emitWatermark: (w) => out.push(['watermark', w]) },
    keyed: undefined, timers: undefined, operatorState: new OperatorStateBackend(),
    task: { clock: new ManualClock(), timestamps, checkpointingEnabled: false, scheduleAt: () => {} },
    restored: false,
  })
  await op.initializeState()
  await op.open()
  return {
    out,
    element(v: T, ts?: number) {
      timestamps.ts = ts
      op.processElement(v)
    },
    watermark: (w: number) => op.processWatermark(w),
  }
}

describe('assignTimestampsAndWatermarks (TimestampsAndWatermarksOperator)', () => {
  it('stamps each record, then emits a watermark only when it rises', async () => {
    const h = await harness(WatermarkStrategy.forBoundedOutOfOrderness<{ t: number }>(2).withTimestampAssigner((e) => e.t))
    for (const t of [10, 8, 11, 11, 20]) h.element({ t }, 999)
    assert.deepEqual(h.out, [
      ['record', { t: 10 }, 10], ['watermark', 7],
      ['record', { t: 8 }, 8],
      ['record', { t: 11 }, 11], ['watermark', 8],
      ['record', { t: 11 }, 11],
      ['record', { t: 20 }, 20], ['watermark', 17],
    ])
  })

  it('replaces upstream watermarks with its own, except the final one (end of input)', async () => {
    const h = await harness(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((e) => e))
    h.watermark(1000)
    h.element(5)
    h.watermark(2000)
    h.watermark(Number.POSITIVE_INFINITY)
    assert.deepEqual(h.out, [['record', 5, 5], ['watermark', 4], ['watermark', Number.POSITIVE_INFINITY]])
  })

  it('an assigner without a generator stamps records and emits no watermark; the record\'s own timestamp is offered', async () => {
    const h = await harness(WatermarkStrategy.noWatermarks<number>().withTimestampAssigner((e, prev) => e + (prev ?? -1)))
    h.element(1, 100)
    h.element(2)
    assert.deepEqual(h.out, [['record', 1, 101], ['record', 2, 1]])
  })
})
