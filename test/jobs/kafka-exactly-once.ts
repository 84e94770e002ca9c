/**
 * A test job, Kafka to Kafka exactly-once: reads a topic (bounded at the offsets of its first
 * start), counts per key (n mod 7) and writes `key:count` lines into a topic through the
 * EXACTLY_ONCE KafkaSink, reading at most `rate` records per second (0: no limit).
 *   kafka-exactly-once.ts <brokers> <inputTopic> <outputTopic> <transactionalIdPrefix> [rate]
 */
import {
  DeliveryGuarantee, KafkaSink, KafkaSource, KeyedProcessFunction, OffsetsInitializer, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [brokers, input, output, prefix, rate = '0'] = process.argv.slice(2)
if (brokers === undefined || input === undefined || output === undefined || prefix === undefined) {
  throw new Error('usage: kafka-exactly-once.ts <brokers> <inputTopic> <outputTopic> <transactionalIdPrefix> [rate]')
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
env
  .fromSource(
    KafkaSource.builder().setBootstrapServers(brokers).setTopics(input).setGroupId(`${prefix}-group`)
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
  .sinkTo(KafkaSink.builder<string>().setBootstrapServers(brokers).setRecordSerializer({ topic: output, key: (s) => s.split(':')[0]!, value: (s) => s })
    .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).setTransactionalIdPrefix(prefix).build())
  .uid('kafka-sink')
await env.execute('kafka exactly-once')
