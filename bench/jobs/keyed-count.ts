/**
 * Benchmark job: a keyed count of `records` records over `keys` keys (record i has key i mod
 * keys), hashmap state. The sink notes the time at every 1024th record; when the job ends it
 * writes the gaps between those marks (processing pauses), the time from the first mark to the
 * last (`span`: processing alone, without start-up and the final checkpoint), the first mark's
 * wall-clock time (`firstEpoch`, ms since 1970 with a fraction, comparable across threads: marks
 * are at `firstEpoch` plus the running sum of the gaps) and the task thread's heap to
 * `<statsFile>` as JSON.
 *   keyed-count.ts <records> <keys> <statsFile>
 */
import { writeFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import { DataGeneratorSource, KeyedProcessFunction, RichSinkFunction, StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState } from 'tsflink'

const [records = '10000000', keys = '100000', statsFile] = process.argv.slice(2)
const k = Number(keys)

class Count extends KeyedProcessFunction<number, number, number> {
  private c!: ValueState<number>
  override open(): void {
    this.c = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(_v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    const n = (this.c.value() ?? 0) + 1
    this.c.update(n)
    out.collect(n)
  }
}

class Marks extends RichSinkFunction<number> {
  private n = 0
  private first = 0
  private last = 0
  private readonly gaps: number[] = []
  private heapMb = 0
  invoke(): void {
    if ((++this.n & 1023) !== 0) return
    const now = performance.now()
    if (this.last !== 0) this.gaps.push(now - this.last)
    else this.first = now
    this.last = now
    if ((this.n & 0xfffff) === 0) this.heapMb = Math.max(this.heapMb, getHeapStatistics().used_heap_size / 2 ** 20)
  }
  override close(): void {
    if (statsFile !== undefined) writeFileSync(statsFile, JSON.stringify({ gaps: this.gaps, span: this.last - this.first, firstEpoch: performance.timeOrigin + this.first, heapMb: this.heapMb }))
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i % k, Number(records)), WatermarkStrategy.noWatermarks(), 'keys').uid('keys')
  .keyBy((x: number) => x)
  .process(new Count()).uid('count')
  .addSink(new Marks()).uid('sink')
await env.execute('keyed count')
