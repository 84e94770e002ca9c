/**
 * Benchmark job: records → a CPU-heavy map (a fixed amount of arithmetic per record) → keyBy →
 * a keyed count over `keys` keys → discarded. Bounded: `records` records.
 *   cpu-keyed.ts <records> <keys> <workIterations>
 */
import { DataGeneratorSource, KeyedProcessFunction, StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState } from 'tsflink'

const [records = '2000000', keys = '100000', work = '400'] = process.argv.slice(2)
const iterations = Number(work)

class Count extends KeyedProcessFunction<number, number, number> {
  private c!: ValueState<number>
  override open(): void {
    this.c = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('c'))
  }
  processElement(_v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    const n = (this.c.value() ?? 0) + 1
    this.c.update(n)
    out.collect(n)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i, Number(records)), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
  .map((v: number) => {
    let x = v | 1
    for (let i = 0; i < iterations; i++) x = (x ^ (x << 13) ^ (x >>> 17) ^ (x << 5)) | 0
    return (x >>> 0) % Number(keys)
  }).uid('work')
  .keyBy((k: number) => k)
  .process(new Count()).uid('count')
  .addSink(() => {}).uid('sink')
await env.execute('cpu keyed')
