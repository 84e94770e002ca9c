/**
 * Hashmap state under frequent checkpoints while it grows: a keyed count that first updates a few
 * keys (its columns are one small chunk, copied on write while snapshots read it), then adds
 * enough new keys to fill several full-size chunks, which are copied on write in turn. The job
 * must finish with the counts a first-principles sum predicts.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  Configuration, DataGeneratorSource, KeyedProcessFunction, RestartStrategies, StreamExecutionEnvironment,
  ValueStateDescriptor, WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from '../../src/index.js'
import { tmp } from '../helpers.js'

class Count extends KeyedProcessFunction<number, number, number> {
  private c!: ValueState<number>
  override open(): void {
    this.c = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(_v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    const n = (this.c.value() ?? 0) + 1
    this.c.update(n)
    out.collect(n)
  }
}

describe('hashmap state growing under checkpoints', () => {
  it('a state copied on write while small keeps its values once it outgrows its first chunk', async () => {
    const few = 50
    const perKey = 40_000
    const fresh = 1_000_000 // about fifteen chunks of 64 Ki slots
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(tmp('heap-grow'), 'cp')))
    env.setRestartStrategy(RestartStrategies.noRestart())
    env.enableCheckpointing(10)
    let sum = 0
    let seen = 0
    env.fromSource(new DataGeneratorSource((i) => (i < few * perKey ? i % few : i), few * perKey + fresh), WatermarkStrategy.noWatermarks(), 'keys')
      .keyBy((k: number) => k)
      .process(new Count())
      .addSink((n: number) => {
        sum += n
        seen++
      })
    const r = await env.execute('growing keyed count')
    assert.ok(r.checkpoints >= 2, `${r.checkpoints} checkpoints: too few to copy chunks on write`)
    // Each of the few keys counts 1..perKey; each fresh key counts 1.
    assert.equal(seen, few * perKey + fresh)
    assert.equal(sum, few * (perKey * (perKey + 1)) / 2 + fresh)
  })
})
