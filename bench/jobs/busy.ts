/**
 * Benchmark job: keeps every core busy: an endless stream over `keys` keys, keyed and counted
 * (hashmap state), at full speed.
 *   busy.ts <keys>
 */
import { DataGeneratorSource, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'

const keys = Number(process.argv[2] ?? '200000')
const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i % keys, Infinity), WatermarkStrategy.noWatermarks(), 'keys').uid('keys')
  .keyBy((k: number) => k)
  .reduce((a: number, b: number) => a + b).uid('sums')
  .addSink(() => {}).uid('sink')
await env.execute('busy')
