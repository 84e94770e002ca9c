/**
 * A test job: reads a Kafka topic (bounded at the offsets of its first start), counts per key
 * (n mod 7) into an exactly-once file sink, reading at most `rate` records per second (0: no limit).
 *   kafka-counter.ts <brokers> <topic> <outDir> [rate]
 */
import {
  FileSink, KafkaSource, KeyedProcessFunction, OffsetsInitializer, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy,
  type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [brokers, topic, out, rate = '0'] = process.argv.slice(2)
if (brokers === undefined || topic === undefined || out === undefined) throw new Error('usage: kafka-counter.ts <brokers> <topic> <outDir> [rate]')

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
env
  .fromSource(
    KafkaSource.builder().setBootstrapServers(brokers).setTopics(topic).setGroupId('kafka-counter')
      .setStartingOffsets(OffsetsInitializer.earliest()).setBounded(OffsetsInitializer.latest())
      .setRateLimiter(Number(rate) > 0 ? RateLimiterStrategy.perSecond(Number(rate)) : RateLimiterStrategy.noOp()).build(),
    WatermarkStrategy.noWatermarks(),
    'kafka',
  )
  .uid('kafka')
  .map((s: string) => Number(s))
  .uid('parse')
  .keyBy((v: number) => v % 7)
  .process(new CountPerKey())
  .uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')
await env.execute('kafka counter')
