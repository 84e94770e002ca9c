/**
 * A test job: numbers 0..count-1 at `rate` per second, counted per key (n mod 7) into an
 * exactly-once file sink. Each output line is `key:count`, so a record processed twice or lost
 * changes the output.
 *   counter.ts <outDir> <count> <rate> [parallelism]
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [out, count, rate] = process.argv.slice(2)
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
env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), RateLimiterStrategy.perSecond(Number(rate))), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
  .keyBy((v: number) => v % 7)
  .process(new CountPerKey())
  .uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')
await env.execute('counter')
