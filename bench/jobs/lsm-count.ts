/**
 * One keyed count run for bench/lsm.ts, in its own process so that its peak RSS is its own:
 * `node --import tsx bench/jobs/lsm-count.ts <keys> <records per key> <hashmap|rocksdb> <checkpoint ms|0> [managed memory]`.
 * Prints one JSON line: { ms, rss, sampledRss, checkpoints }: `rss` is the process's peak resident
 * set (getrusage maxrss: every thread, the compaction thread included, and every allocator), and
 * `sampledRss` the largest process.memoryUsage.rss() seen by a 100 ms sampler (the same figure as
 * seen from inside, for a cross-check). LSM_BENCH_TRACE=1 prints memory every 2 s to stderr.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Configuration, DataGeneratorSource, RestartStrategies, StreamExecutionEnvironment, WatermarkStrategy } from '../../dist/index.js'
import { Count } from '../keyed-count.js'

const [keysArg, perKeyArg, backend, intervalArg, managed] = process.argv.slice(2)
const keys = Number(keysArg)
const records = keys * Number(perKeyArg)
const interval = Number(intervalArg)
const dir = mkdtempSync(join(tmpdir(), 'tsflink-bench-lsm-'))
try {
  let config = new Configuration().set('execution.checkpointing.dir', join(dir, 'cp')).set('state.backend.type', backend!)
    .set('execution.checkpointing.incremental', 'true')
  if (managed !== undefined) config = config.set('taskmanager.memory.managed.size', managed)
  const env = StreamExecutionEnvironment.createLocalEnvironment(config)
  env.setRestartStrategy(RestartStrategies.noRestart())
  if (interval > 0) env.enableCheckpointing(interval)
  let total = 0
  let seen = 0
  env.fromSource(new DataGeneratorSource((i) => i % keys, records), WatermarkStrategy.noWatermarks(), 'keys')
    .keyBy((k: number) => k)
    .process(new Count())
    .addSink((c: number) => {
      total += c
      seen++
    })
  const trace = process.env.LSM_BENCH_TRACE === undefined ? undefined : setInterval(() => {
    const m = process.memoryUsage()
    console.error(`${(seen / 1e6).toFixed(1)} M records, rss ${(m.rss / 2 ** 20).toFixed(0)} MB, heap used ${(m.heapUsed / 2 ** 20).toFixed(0)} of ${(m.heapTotal / 2 ** 20).toFixed(0)} MB, external ${(m.external / 2 ** 20).toFixed(0)} MB, array buffers ${(m.arrayBuffers / 2 ** 20).toFixed(0)} MB`)
  }, 2000)
  let sampledRss = 0
  const sampler = setInterval(() => {
    sampledRss = Math.max(sampledRss, process.memoryUsage.rss())
  }, 100)
  sampler.unref()
  const start = performance.now()
  const result = await env.execute('lsm keyed count')
  const ms = performance.now() - start
  if (trace !== undefined) clearInterval(trace)
  clearInterval(sampler)
  sampledRss = Math.max(sampledRss, process.memoryUsage.rss())
  // Each key counts 1..perKey: the sum of all emitted counts is known in advance.
  const per = Number(perKeyArg)
  const expected = keys * (per * (per + 1)) / 2
  if (total !== expected) throw new Error(`wrong result: ${total} != ${expected}`)
  console.log(JSON.stringify({ ms, rss: process.resourceUsage().maxRSS * 1024, sampledRss, checkpoints: result.checkpoints }))
} finally {
  rmSync(dir, { recursive: true, force: true })
}
