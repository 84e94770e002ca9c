/**
 * A test job for event time (test/integration/event-time.test.ts): two sources, unioned and
 * keyed, counted per key in tumbling event-time windows that a timer closes.
 *   event-time.ts out=<dir> fast=<n> rate=<n/s> keys=<n> window=<ms> ooo=<ms> slow=<n> watermarks=<bounded|none>
 * - 'fast' (default parallelism): record i has timestamp 10·i + (i·7919 mod ooo), so
 *   records arrive out of order within the bound;
 * - 'slow' (parallelism 1): record i has timestamp i: its event time moves 10× slower, so the
 *   watermark downstream (the minimum over inputs) is held back by it until it ends.
 * Watermarks: forBoundedOutOfOrderness(ooo) on both, or none at all ('none').
 * Lines: `rec <src> <i>` per record; `win <key> <windowStart> <count> <live|end>` when a window's
 * timer fires (`end`: fired by the final watermark); `late <src> <i> <ts> <watermark>` for a
 * record at or behind the watermark (none must appear: the bound holds within each source).
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, MapStateDescriptor, RateLimiterStrategy, StreamExecutionEnvironment,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type MapState, type OnTimerContext,
} from 'tsflink'

// name=value arguments: each one distinct, so their order on the command line does not matter.
const arg = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]))
const { out, fast: fastCount, rate, keys, window: windowMs, ooo: oooMs, slow: slowCount, watermarks: strategy } = arg
if (out === undefined || strategy === undefined || !['bounded', 'none'].includes(strategy)) {
  throw new Error('usage: event-time.ts out=<dir> fast=<n> rate=<n/s> keys=<n> window=<ms> ooo=<ms> slow=<n> watermarks=<bounded|none>')
}
const K = Number(keys)
const W = Number(windowMs)
const OOO = Number(oooMs)

type Rec = [src: 'a' | 'b', i: number]
const timestampOf = ([src, i]: Rec): number => (src === 'a' ? 10 * i + (OOO > 0 ? (i * 7919) % OOO : 0) : i)
const watermarks = (): WatermarkStrategy<Rec> =>
  (strategy === 'bounded' ? WatermarkStrategy.forBoundedOutOfOrderness<Rec>(OOO) : WatermarkStrategy.noWatermarks<Rec>()).withTimestampAssigner(timestampOf)

class WindowCounts extends KeyedProcessFunction<number, Rec, string> {
  private counts!: MapState<number, number>
  override open(): void {
    this.counts = this.getRuntimeContext().getMapState(new MapStateDescriptor<number, number>('counts'))
  }
  processElement(r: Rec, ctx: KeyedProcessContext<number>, collector: Collector<string>): void {
    const ts = ctx.timestamp()!
    const wm = ctx.timerService().currentWatermark()
    if (ts <= wm) {
      collector.collect(`late ${r[0]} ${r[1]} ${ts} ${wm}`)
      return
    }
    const start = ts - (ts % W)
    this.counts.put(start, (this.counts.get(start) ?? 0) + 1)
    ctx.timerService().registerEventTimeTimer(start + W - 1)
    collector.collect(`rec ${r[0]} ${r[1]}`)
  }
  override onTimer(t: number, ctx: OnTimerContext<number>, collector: Collector<string>): void {
    const start = t - W + 1
    const live = Number.isFinite(ctx.timerService().currentWatermark())
    collector.collect(`win ${ctx.getCurrentKey()} ${start} ${this.counts.get(start) ?? 0} ${live ? 'live' : 'end'}`)
    this.counts.remove(start)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
const limit = RateLimiterStrategy.perSecond(Number(rate))
const fast = env.fromSource(new DataGeneratorSource((i): Rec => ['a', i], Number(fastCount), limit), watermarks(), 'fast').uid('fast')
const slow = env.fromSource(new DataGeneratorSource((i): Rec => ['b', i], Number(slowCount), limit), watermarks(), 'slow').uid('slow').setParallelism(1)
fast
  .union(slow)
  .keyBy((r: Rec) => r[1] % K)
  .process(new WindowCounts())
  .uid('windows')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')
await env.execute('event-time')
