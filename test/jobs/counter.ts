/**
 * A test job: numbers 0..count-1 at `rate` per second, counted per key (n mod 7) into an
 * exactly-once file sink. Each output line is `key:count`, so a record processed twice or lost
 * changes the output.
 *   counter.ts <outDir> <count> <rate> [variant]
 * variant: 'default'; 'no-counter' drops the stateful counter (its state has no operator any more);
 * 'extra' adds a new stateful operator (uid 'extra') that starts empty.
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [out, count, rate, variant = 'default'] = process.argv.slice(2)
if (out === undefined || count === undefined || rate === undefined) throw new Error('usage: counter.ts <outDir> <count> <rate>')

class CountPerKey extends KeyedProcessFunction<number, number, string> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, collector: Collector<string>): void {
    const c = (this.n.value() ?? 0) + 1
    this.n.update(c)
    collector.collect(`${ctx.getCurrentKey()}:${c}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
let numbers = env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), RateLimiterStrategy.perSecond(Number(rate))), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
if (variant === 'extra') {
  numbers = numbers.keyBy((v: number) => v % 3).process(new (class extends KeyedProcessFunction<number, number, number> {
    private seen!: ValueState<number>
    override open(): void {
      this.seen = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('seen'))
    }
    processElement(v: number, _ctx: KeyedProcessContext<number>, c: Collector<number>): void {
      this.seen.update((this.seen.value() ?? 0) + 1)
      c.collect(v)
    }
  })()).uid('extra')
}
const counted = variant === 'no-counter'
  ? numbers.map((v: number) => `${v % 7}:-`).uid('no-count')
  : numbers.keyBy((v: number) => v % 7).process(new CountPerKey()).uid('count')
counted.sinkTo(FileSink.forRowFormat<string>(out).build()).uid('sink')
await env.execute('counter')
