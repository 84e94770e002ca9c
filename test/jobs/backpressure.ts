/**
 * A test job under backpressure: numbers 0..count-1, as fast as the source can go, through a
 * keyed counter that burns `burnUs` of CPU per record (n mod 7 → `key:count` lines into an
 * exactly-once file sink, as counter.ts writes them). The counter's input queues stay full, so
 * aligned barriers wait behind records and unaligned ones overtake them.
 *   backpressure.ts <outDir> <count> <burnUs>
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy,
  type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [out, count, burnUs = '20'] = process.argv.slice(2)
if (out === undefined || count === undefined) throw new Error('usage: backpressure.ts <outDir> <count> <burnUs>')
const burnMs = Number(burnUs) / 1000

class SlowCount extends KeyedProcessFunction<number, number, string> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, c: Collector<string>): void {
    const until = performance.now() + burnMs
    while (performance.now() < until);
    const n = (this.n.value() ?? 0) + 1
    this.n.update(n)
    c.collect(`${ctx.getCurrentKey()}:${n}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i, Number(count)), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
  .keyBy((v: number) => v % 7).process(new SlowCount()).uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build()).uid('sink')
await env.execute('backpressure')
