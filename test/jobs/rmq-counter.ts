/**
 * A test job, RabbitMQ to files: reads numbers from a queue through an RMQSource (one subtask),
 * and writes into an exactly-once file sink either `key:count` lines (n mod 7, counted per key:
 * a message processed twice or lost changes the output) or, with mode `values`, the numbers.
 * A message `END` ends the stream.
 *   rmq-counter.ts <amqpPort> <queue> <outDir> <correlation|no-correlation> [counts|values]
 */
import {
  FileSink, KeyedProcessFunction, RMQConnectionConfig, RMQSource, StreamExecutionEnvironment, ValueStateDescriptor,
  type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [port, queue, out, ids, mode = 'counts'] = process.argv.slice(2)
if (port === undefined || queue === undefined || out === undefined || (ids !== 'correlation' && ids !== 'no-correlation')) {
  throw new Error('usage: rmq-counter.ts <amqpPort> <queue> <outDir> <correlation|no-correlation> [counts|values]')
}

class CountPerKey extends KeyedProcessFunction<number, number, string> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, c: Collector<string>): void {
    const next = (this.n.value() ?? 0) + 1
    this.n.update(next)
    c.collect(`${ctx.getCurrentKey()}:${next}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
const config = new RMQConnectionConfig.Builder().setHost('127.0.0.1').setPort(Number(port)).setVirtualHost('/')
  .setUserName('guest').setPassword('guest').setPrefetchCount(500).build()
const numbers = env
  .addSource(new RMQSource(config, queue, ids === 'correlation', {
    deserialize: (body: Buffer) => body.toString('utf8'),
    isEndOfStream: (s: string) => s === 'END',
  }), 'rabbitmq')
  .uid('rabbitmq')
  .setParallelism(1)
  .map((s: string) => Number(s))
  .uid('parse')
const lines = mode === 'values'
  ? numbers.map((v: number) => String(v)).uid('format')
  : numbers.keyBy((v: number) => v % 7).process(new CountPerKey()).uid('count')
lines.sinkTo(FileSink.forRowFormat<string>(out).build()).uid('sink')
await env.execute('rabbitmq counter')
