/**
 * Benchmark job: counts 1 M distinct keys as fast as it can, then keeps running on a slow stream.
 * Writes `<marker>.loaded` once every key is in state and `<marker>.first` at its first record.
 *   million-keys.ts <markerPrefix> [keys]
 */
import { writeFileSync } from 'node:fs'
import { DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'

const [marker, keysArg = '1000000'] = process.argv.slice(2)
const keys = Number(keysArg)
const env = StreamExecutionEnvironment.getExecutionEnvironment()
const fast = env.fromSource(new DataGeneratorSource((i) => i, keys), WatermarkStrategy.noWatermarks(), 'load').uid('load')
const slow = env.fromSource(new DataGeneratorSource((i) => -1 - (i % 10), Infinity, RateLimiterStrategy.perSecond(100)), WatermarkStrategy.noWatermarks(), 'trickle').uid('trickle')
let seen = 0
let first = true
fast.union(slow)
  .keyBy((k: number) => k)
  .reduce((a: number, b: number) => a + b)
  .uid('counts')
  .addSink(() => {
    if (first) {
      first = false
      writeFileSync(`${marker}.first`, String(Date.now()))
    }
    if (++seen === keys) writeFileSync(`${marker}.loaded`, String(Date.now()))
  })
  .uid('sink')
await env.execute('million keys')
