/**
 * A test job for the AT_LEAST_ONCE KafkaSink: numbers 0..n-1 from a generator; 0 goes to
 * `firstTopic`, every other number to `restTopic`; at most `rate` per second (0: no limit).
 *   kafka-at-least-once.ts <brokers> <firstTopic> <restTopic> <n> [rate]
 */
import { DataGeneratorSource, DeliveryGuarantee, KafkaSink, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'

const [brokers, first, rest, n, rate = '0'] = process.argv.slice(2)
if (brokers === undefined || first === undefined || rest === undefined || n === undefined) throw new Error('usage: kafka-at-least-once.ts <brokers> <firstTopic> <restTopic> <n>')

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i) => i, Number(n), Number(rate) > 0 ? RateLimiterStrategy.perSecond(Number(rate)) : RateLimiterStrategy.noOp()), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
  .sinkTo(KafkaSink.builder<number>().setBootstrapServers(brokers)
    .setRecordSerializer({ topic: (v) => (v === 0 ? first : rest), value: (v) => String(v) })
    .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())
  .uid('kafka-sink')
await env.execute('kafka at-least-once')
