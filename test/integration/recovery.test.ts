/**
 * Recovery: a job that fails at a chosen record, after several checkpoints, ends with exactly the
 * output of a run without failure (state and the exactly-once file sink), at parallelism 1 and 3,
 * with a shuffle and a keyed stage in between.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  Configuration, DataGeneratorSource, FileSink, RateLimiterStrategy, RestartStrategies, RichMapFunction,
  StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, KeyedProcessFunction,
  type Collector, type KeyedProcessContext, type ValueState,
} from '../../src/index.js'
import { committedLines, tmp } from '../helpers.js'

const RECORDS = 3000

/** Throws once, on the first attempt, when it sees record `failAt`. */
class FailOnce extends RichMapFunction<number, number> {
  constructor(private readonly failAt: number | undefined) {
    super()
  }
  map(v: number): number {
    if (v === this.failAt && this.getRuntimeContext().getAttemptNumber() === 0) throw new Error(`injected failure at record ${v}`)
    return v
  }
}

class CountPerKey extends KeyedProcessFunction<number, number, string> {
  private count!: ValueState<number>
  override open(): void {
    this.count = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(v: number, ctx: KeyedProcessContext<number>, out: Collector<string>): void {
    const c = (this.count.value() ?? 0) + 1
    this.count.update(c)
    // Order within a key depends on the shuffle, so the line names the key and its count only:
    // a record processed twice or lost shows up as a count that should not exist or is missing.
    void v
    out.collect(`${ctx.getCurrentKey()}:${c}`)
  }
}

async function runJob(parallelism: number, failAt: number | undefined): Promise<{ lines: string[]; restarts: number; checkpoints: number }> {
  const dir = tmp()
  const config = new Configuration().set('execution.checkpointing.dir', join(dir, 'checkpoints'))
  const env = StreamExecutionEnvironment.createLocalEnvironment(config)
  env.setParallelism(parallelism)
  env.enableCheckpointing(50)
  env.setRestartStrategy(RestartStrategies.fixedDelayRestart(3, 10))
  env
    .fromSource(new DataGeneratorSource((i) => i, RECORDS, RateLimiterStrategy.perSecond(6000)), WatermarkStrategy.noWatermarks(), 'numbers')
    .uid('numbers')
    .shuffle()
    .map(new FailOnce(failAt))
    .uid('fail-once')
    .keyBy((v: number) => v % 17)
    .process(new CountPerKey())
    .uid('count')
    .sinkTo(FileSink.forRowFormat<string>(join(dir, 'out')).build())
    .uid('sink')
  const result = await env.execute('recovery')
  return { lines: committedLines(join(dir, 'out')), restarts: result.restarts, checkpoints: result.checkpoints }
}

describe('recovery from the latest checkpoint', () => {
  for (const parallelism of [1, 3]) {
    it(`gives failure-free output at parallelism ${parallelism}`, async () => {
      const clean = await runJob(parallelism, undefined)
      assert.equal(clean.lines.length, RECORDS)
      assert.equal(clean.restarts, 0)
      const failed = await runJob(parallelism, 2100)
      assert.equal(failed.restarts, 1, 'the job restarted once')
      assert.ok(failed.checkpoints >= 3, `several checkpoints completed (${failed.checkpoints})`)
      assert.deepEqual(failed.lines, clean.lines)
    })
  }
})
