/**
 * Benchmark: a keyed count (N records, K distinct keys, hashmap state, parallelism 1), three ways
 * in one process: a hand-written loop (the baseline), tsflink without checkpoints, tsflink with a
 * checkpoint every second. Then the processing pauses a checkpoint of 1 M keys causes.
 * Figures are ratios against the baseline measured in the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  Configuration, DataGeneratorSource, EmbeddedRocksDBStateBackend, KeyedProcessFunction, RestartStrategies, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from '../dist/index.js'

/** The keyed count every keyed-count bench runs (also bench/jobs/lsm-count.ts). */
export class Count extends KeyedProcessFunction<number, number, number> {
  private state!: ValueState<number>
  override open(): void {
    this.state = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(_v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    const c = (this.state.value() ?? 0) + 1
    this.state.update(c)
    out.collect(c)
  }
}

/** The hand-written keyed count every keyed-count figure is a ratio of (ms). */
export function baseline(records: number, keys: number): number {
  const start = performance.now()
  const counts = new Map<number, number>()
  let sink = 0
  for (let i = 0; i < records; i++) {
    const k = i % keys
    const c = (counts.get(k) ?? 0) + 1
    counts.set(k, c)
    sink += c
  }
  if (sink === -1) console.log(sink)
  return performance.now() - start
}

interface RunStats {
  ms: number
  checkpoints: number
  /** Gaps between samples of processing progress (every 1024th record), ms. */
  gaps: number[]
}

async function tsflink(records: number, keys: number, intervalMs: number | undefined, backend: 'hashmap' | 'rocksdb' = 'hashmap'): Promise<RunStats> {
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-bench-'))
  try {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', dir))
    env.setRestartStrategy(RestartStrategies.noRestart())
    if (intervalMs !== undefined) env.enableCheckpointing(intervalMs)
    if (backend === 'rocksdb') env.setStateBackend(new EmbeddedRocksDBStateBackend(true))
    const gaps: number[] = []
    let n = 0
    let last = 0
    env
      .fromSource(new DataGeneratorSource((i) => i % keys, records), WatermarkStrategy.noWatermarks(), 'keys')
      .keyBy((k: number) => k)
      .process(new Count())
      .addSink(() => {
        if ((++n & 1023) === 0) {
          const now = performance.now()
          if (last !== 0) gaps.push(now - last)
          last = now
        }
      })
    const start = performance.now()
    const result = await env.execute('keyed count')
    return { ms: performance.now() - start, checkpoints: result.checkpoints, gaps }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })
const rate = (records: number, ms: number): string => `${fmt(records / ms / 1000)} M records/s`

export async function keyedCount(records = 10_000_000, keys = 100_000): Promise<void> {
  console.log(`keyed count: ${records.toLocaleString()} records, ${keys.toLocaleString()} keys, parallelism 1`)
  baseline(records / 10, keys) // warm-up
  await tsflink(records / 10, keys, undefined)
  const base = baseline(records, keys)
  const off = await tsflink(records, keys, undefined)
  const on = await tsflink(records, keys, 1000)
  console.log(`  hand-written loop          ${rate(records, base)}  (baseline 1.00x)`)
  console.log(`  tsflink, no checkpoints    ${rate(records, off.ms)}  ${fmt(base / off.ms)}x baseline`)
  console.log(`  tsflink, checkpoint each 1 s ${rate(records, on.ms)}  ${fmt(base / on.ms)}x baseline, ${fmt(off.ms / on.ms)}x of no-checkpoint throughput (${on.checkpoints} checkpoints)`)
}

export async function lsmVsHashmap(records = 5_000_000, keys = 100_000): Promise<void> {
  console.log(`state backends: keyed count, ${records.toLocaleString()} records, ${keys.toLocaleString()} keys, checkpoint each 1 s (incremental for the LSM)`)
  await tsflink(records / 10, keys, 1000, 'rocksdb') // warm-up
  const heap = await tsflink(records, keys, 1000, 'hashmap')
  const lsm = await tsflink(records, keys, 1000, 'rocksdb')
  console.log(`  hashmap (baseline)   ${rate(records, heap.ms)}  1.00x`)
  console.log(`  rocksdb (LSM)        ${rate(records, lsm.ms)}  ${fmt(heap.ms / lsm.ms)}x hashmap (target >= 0.3x)`)
}
