/**
 * The chaos test's job (test/integration/chaos.test.ts): records 0..count-1 from a deterministic,
 * replayable, rate-limited generator, keyed by `i mod keys`, a running count and sum per key in
 * keyed state, written to the exactly-once file sink.
 *   chaos-counter.ts <outDir> <count> <rate> <keys> [padBytes] [resetEvery]
 * Each record writes `<i> <key> <count> <sum>`; when a key's count reaches `resetEvery` its state
 * is cleared (deleted state must stay deleted across restores). At the end of input an event-time
 * timer per key (registered with the key's first record, fired by the final watermark) writes
 * `<key> total <count> <sum>`.
 * `padBytes` adds a string of that length to every key's state, so snapshots take longer to
 * persist (a wider window for a kill during persist).
 *
 * The generator's splits stride the index space by the first run's parallelism, and a split moves
 * between subtasks only whole; with `keys` a multiple of that parallelism every record of a key
 * comes from one split, in index order, so each line is exactly predictable.
 * Checkpointing, the state backend and retention come from the command line (-D), not from here.
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type OnTimerContext, type ValueState,
} from 'tsflink'

const [out, count, rate, keys, padBytes = '0', resetEvery = '0'] = process.argv.slice(2)
if (out === undefined || count === undefined || rate === undefined || keys === undefined) {
  throw new Error('usage: chaos-counter.ts <outDir> <count> <rate> <keys> [padBytes] [resetEvery]')
}
const K = Number(keys)
const RESET = Number(resetEvery)
const PAD = 'x'.repeat(Number(padBytes))
/** Fires only with the final watermark at the end of input. */
const AT_END = Number.MAX_SAFE_INTEGER

interface Totals {
  count: number
  sum: number
  pad: string
}

class RunningTotals extends KeyedProcessFunction<number, number, string> {
  private totals!: ValueState<Totals>
  override open(): void {
    this.totals = this.getRuntimeContext().getState(new ValueStateDescriptor<Totals>('totals'))
  }
  processElement(i: number, ctx: KeyedProcessContext<number>, collector: Collector<string>): void {
    const t = this.totals.value() ?? { count: 0, sum: 0, pad: PAD }
    const next = { count: t.count + 1, sum: t.sum + i, pad: t.pad }
    if (next.count === RESET) this.totals.clear()
    else this.totals.update(next)
    // Once per key (again after a reset, a no-op): a timer lost on a restore means a missing total.
    if (t.count === 0) ctx.timerService().registerEventTimeTimer(AT_END)
    collector.collect(`${i} ${ctx.getCurrentKey()} ${next.count} ${next.sum}`)
  }
  override onTimer(_ts: number, ctx: OnTimerContext<number>, collector: Collector<string>): void {
    const t = this.totals.value()
    collector.collect(`${ctx.getCurrentKey()} total ${t?.count ?? 0} ${t?.sum ?? 0}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), RateLimiterStrategy.perSecond(Number(rate))), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
  .keyBy((i: number) => i % K)
  .process(new RunningTotals())
  .uid('totals')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')
await env.execute('chaos-counter')
