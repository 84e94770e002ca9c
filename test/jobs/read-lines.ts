/**
 * A test job for the file source (test/integration/file-source.test.ts): `readTextFile` of a file
 * or a folder, keyed by the line's file tag (the text before the first ':'), a running count per
 * tag in keyed state, into the exactly-once file sink.
 *   read-lines.ts in=<file|folder> out=<dir> [pauseEvery=<n>]
 * Each line `<tag>:<rest>` writes `<tag>:<rest> #<count>`. With pauseEvery, the job waits 1 ms
 * every n lines, so a test can kill it in the middle of a file.
 */
import {
  FileSink, KeyedProcessFunction, RichMapFunction, StreamExecutionEnvironment, ValueStateDescriptor,
  type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

// name=value arguments: each one distinct, so their order on the command line does not matter.
const arg = Object.fromEntries(process.argv.slice(2).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]))
const { in: input, out, pauseEvery = '0' } = arg
if (input === undefined || out === undefined) throw new Error('usage: read-lines.ts in=<file|folder> out=<dir> [pauseEvery=<n>]')

class Pause extends RichMapFunction<string, string> {
  private n = 0
  private readonly cell = new Int32Array(new SharedArrayBuffer(4))
  map(line: string): string {
    if (Number(pauseEvery) > 0 && ++this.n % Number(pauseEvery) === 0) Atomics.wait(this.cell, 0, 0, 1)
    return line
  }
}

class CountPerTag extends KeyedProcessFunction<string, string, string> {
  private count!: ValueState<number>
  override open(): void {
    this.count = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('count'))
  }
  processElement(line: string, _ctx: KeyedProcessContext<string>, collector: Collector<string>): void {
    const c = (this.count.value() ?? 0) + 1
    this.count.update(c)
    collector.collect(`${line} #${c}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env
  .readTextFile(input)
  .uid('lines')
  .map(new Pause())
  .uid('pause')
  .keyBy((line: string) => line.slice(0, line.indexOf(':')))
  .process(new CountPerTag())
  .uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')
await env.execute('read-lines')
