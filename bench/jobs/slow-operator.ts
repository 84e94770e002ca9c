/**
 * Benchmark job: an endless stream through keyBy into an operator that burns 6 ms of CPU every
 * 100 records (60 µs per record on average), so its input stays backpressured.
 *   slow-operator.ts
 */
import { DataGeneratorSource, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'

let seen = 0
const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i, Infinity), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
  .keyBy((v: number) => v % 1000)
  .map((v: number) => {
    if (++seen % 100 === 0) {
      const until = performance.now() + 6
      while (performance.now() < until);
    }
    return v
  }).uid('slow')
  .addSink(() => {}).uid('sink')
await env.execute('slow operator')
