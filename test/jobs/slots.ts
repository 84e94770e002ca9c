/**
 * A test job for the task slots (worker threads): numbers 0..count-1 go through a map that may
 * misbehave on the first attempt, then are counted per key (n mod 7) into an exactly-once file
 * sink, as counter.ts does; every record also notes the thread it was mapped on.
 *   slots.ts <outDir> <count> <mode> [threadsFile]
 * mode: 'ok'; 'throw' (an exception on attempt 0); 'exit' (the worker thread exits on attempt 0);
 * 'oom' (the worker thread runs out of memory on attempt 0); 'spin' (never returns);
 * 'spin-once' (never returns on attempt 0); 'burn' (about 20 µs of CPU per record, never ending: for cancellation tests); 'shape' (the
 * pipeline's shape differs between threads, which must fail the job).
 */
import { appendFileSync } from 'node:fs'
import { isMainThread, threadId } from 'node:worker_threads'
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, RichMapFunction, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [out, count, mode = 'ok', threadsFile] = process.argv.slice(2)
if (out === undefined || count === undefined) throw new Error('usage: slots.ts <outDir> <count> <mode> [threadsFile]')

class Misbehave extends RichMapFunction<number, number> {
  private seen = 0
  private hog: unknown[] = []
  override open(): void {
    if (threadsFile !== undefined) appendFileSync(threadsFile, `${isMainThread ? 'main' : threadId} ${this.getRuntimeContext().getIndexOfThisSubtask()}\n`)
  }
  map(v: number): number {
    const attempt = this.getRuntimeContext().getAttemptNumber()
    if (++this.seen === 50 && attempt === 0) {
      if (mode === 'throw') throw new Error('bad record 50')
      if (mode === 'exit') process.exit(3)
      if (mode === 'oom') for (;;) this.hog.push(new Array(100_000).fill(v))
    }
    if (mode === 'spin' && this.seen === 50) for (;;);
    if (mode === 'spin-once' && this.seen === 50 && attempt === 0) for (;;);
    if (mode === 'burn') {
      const until = performance.now() + 0.02
      while (performance.now() < until);
    }
    return v
  }
}

class CountPerKey extends KeyedProcessFunction<number, number, string> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, c: Collector<string>): void {
    const n = (this.n.value() ?? 0) + 1
    this.n.update(n)
    c.collect(`${ctx.getCurrentKey()}:${n}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
const total = mode === 'burn' || mode === 'spin' ? Number.POSITIVE_INFINITY : Number(count)
let s = env.fromSource(new DataGeneratorSource((i) => i, total), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
  .map(new Misbehave()).uid('misbehave')
if (mode === 'shape' && !isMainThread) s = s.filter(() => true).uid('only-in-slots')
s.keyBy((v: number) => v % 7).process(new CountPerKey()).uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build()).uid('sink')
await env.execute('slots')
