/**
 * Benchmark: Kafka on a real Apache Kafka broker (KRaft, started here), ratios against plain
 * kafkajs measured in the same run (median of 3 runs, with the spread):
 * - KafkaSource → discarding sink (p=1) vs a kafkajs `eachBatch` consumer loop over the same topic,
 *   both timed from the first record to the last;
 * - KafkaSink EXACTLY_ONCE at a 1 s checkpoint interval vs a kafkajs transactional producer that
 *   sends the same records in batches of 500 and commits once a second.
 */
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Kafka, logLevel } from 'kafkajs'
import {
  Configuration, DataGeneratorSource, DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer, StreamExecutionEnvironment, WatermarkStrategy,
} from '../src/index.js'
import { startKafka, type KafkaBroker } from '../test/servers/kafka.js'

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const spread = (xs: number[]): string => `${fmt(Math.min(...xs) / 1000)}–${fmt(Math.max(...xs) / 1000)}`
const RUNS = 3
const VALUE = 'x'.repeat(100)

async function sourceRun(broker: KafkaBroker, topic: string, records: number, dir: string): Promise<[number, number]> {
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `bench-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let seen = 0
  const [first, last] = await new Promise<[number, number]>((resolve) => {
    let t0 = 0
    void consumer.run({
      eachBatch: async ({ batch }) => {
        if (t0 === 0) t0 = performance.now()
        seen += batch.messages.length
        if (seen >= records) resolve([t0, performance.now()])
      },
    })
  })
  await consumer.disconnect()
  const baseline = records / ((last - first) / 1000)

  const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, `cp-${Math.random()}`)))
  let n = 0
  let firstAt = 0
  let lastAt = 0
  env.fromSource(KafkaSource.builder().setBootstrapServers(broker.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).build(), WatermarkStrategy.noWatermarks(), 'kafka')
    .addSink(() => {
      if (n++ === 0) firstAt = performance.now()
      if (n === records) lastAt = performance.now()
    })
  await env.execute('kafka source bench')
  // First to last record, as the baseline is timed (the job's start and end are not the source's throughput).
  return [baseline, records / ((lastAt - firstAt) / 1000)]
}

async function sinkRun(broker: KafkaBroker, records: number, dir: string, run: number): Promise<[number, number]> {
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
  const baseTopic = `bench-tx-base-${run}`
  const sinkTopic = `bench-tx-sink-${run}`
  await broker.createTopic(baseTopic, 4)
  await broker.createTopic(sinkTopic, 4)
  const producer = kafka.producer({ transactionalId: `bench-base-${run}`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const t0 = performance.now()
  let tx = await producer.transaction()
  let lastCommit = performance.now()
  for (let i = 0; i < records; i += 500) {
    await tx.send({ topic: baseTopic, messages: Array.from({ length: Math.min(500, records - i) }, (_, j) => ({ key: String((i + j) % 64), value: VALUE })) })
    if (performance.now() - lastCommit >= 1000) {
      await tx.commit()
      tx = await producer.transaction()
      lastCommit = performance.now()
    }
  }
  await tx.commit()
  const baseline = records / ((performance.now() - t0) / 1000)
  await producer.disconnect()

  const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, `cp-sink-${run}`)))
  env.enableCheckpointing(1000)
  let firstAt = 0
  env.fromSource(new DataGeneratorSource((i) => i, records), WatermarkStrategy.noWatermarks(), 'numbers')
    .map((i: number) => {
      if (firstAt === 0) firstAt = performance.now()
      return i
    })
    .sinkTo(KafkaSink.builder<number>().setBootstrapServers(broker.brokers).setRecordSerializer({ topic: sinkTopic, key: (i) => String(i % 64), value: () => VALUE })
      .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).setTransactionalIdPrefix(`bench-sink-${run}`).build())
  await env.execute('kafka sink bench')
  return [baseline, records / ((performance.now() - firstAt) / 1000)]
}

export async function kafkaBench(records = 200_000, partitions = 4): Promise<void> {
  const broker = await startKafka({ fast: false })
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-bench-kafka-'))
  try {
    const topic = 'bench'
    await broker.createTopic(topic, partitions)
    const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer()
    await producer.connect()
    for (let i = 0; i < records; i += 5000) {
      await producer.send({ topic, messages: Array.from({ length: Math.min(5000, records - i) }, (_, j) => ({ key: String((i + j) % 64), value: VALUE })) })
    }
    await producer.disconnect()

    const src: [number, number][] = []
    for (let r = 0; r < RUNS; r++) {
      src.push(await sourceRun(broker, topic, records, dir))
      process.stderr.write(`  source run ${r + 1}/${RUNS}: baseline ${fmt(src[r]![0] / 1000)}, tsflink ${fmt(src[r]![1] / 1000)} k records/s\n`)
    }
    const srcRatios = src.map(([b, t]) => t / b)
    console.log(`Kafka ${broker.version} (KRaft, 127.0.0.1), ${records.toLocaleString()} records of 100 bytes, ${partitions} partitions; median of ${RUNS} runs (min–max)`)
    console.log(`  source, kafkajs eachBatch loop (baseline): ${fmt(median(src.map((x) => x[0])) / 1000)} k records/s (${spread(src.map((x) => x[0]))})`)
    console.log(`  source, tsflink KafkaSource → sink:        ${fmt(median(src.map((x) => x[1])) / 1000)} k records/s (${spread(src.map((x) => x[1]))})`)
    console.log(`  ratio ${fmt(median(srcRatios))}x (${fmt(Math.min(...srcRatios))}–${fmt(Math.max(...srcRatios))}; target >= 0.8x)`)

    const sink: [number, number][] = []
    for (let r = 0; r < RUNS; r++) {
      sink.push(await sinkRun(broker, records, dir, r))
      process.stderr.write(`  sink run ${r + 1}/${RUNS}: baseline ${fmt(sink[r]![0] / 1000)}, tsflink ${fmt(sink[r]![1] / 1000)} k records/s\n`)
    }
    const sinkRatios = sink.map(([b, t]) => t / b)
    console.log(`  sink, kafkajs transactional producer, commit every 1 s (baseline): ${fmt(median(sink.map((x) => x[0])) / 1000)} k records/s (${spread(sink.map((x) => x[0]))})`)
    console.log(`  sink, tsflink KafkaSink EXACTLY_ONCE, checkpoint every 1 s:       ${fmt(median(sink.map((x) => x[1])) / 1000)} k records/s (${spread(sink.map((x) => x[1]))})`)
    console.log(`  ratio ${fmt(median(sinkRatios))}x (${fmt(Math.min(...sinkRatios))}–${fmt(Math.max(...sinkRatios))}; target >= 0.7x)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await broker.stop()
  }
}
