/**
 * Benchmark (P7): the Kafka source's records/s through a job (source → discarding sink, p=1), as a
 * ratio of a plain kafkajs `eachBatch` consumer loop reading the same topic in the same run.
 * The broker is the test broker (librdkafka's mock cluster) on 127.0.0.1.
 */
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { Kafka, logLevel } from 'kafkajs'
import { Configuration, KafkaSource, OffsetsInitializer, StreamExecutionEnvironment, WatermarkStrategy } from '../src/index.js'
import { startKafka } from '../test/servers/kafka.js'

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

export async function kafkaBench(records = 100_000, partitions = 4): Promise<void> {
  const broker = await startKafka()
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-bench-kafka-'))
  try {
    const topic = 'bench'
    await broker.createTopic(topic, partitions)
    const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    const value = 'x'.repeat(100)
    for (let i = 0; i < records; i += 5000) {
      await producer.send({ topic, messages: Array.from({ length: Math.min(5000, records - i) }, (_, j) => ({ key: String((i + j) % 64), value })) })
    }
    await producer.disconnect()

    // Baseline: a plain kafkajs consumer loop with eachBatch.
    const consumer = kafka.consumer({ groupId: `bench-${Date.now()}`, maxWaitTimeInMs: 500 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    let seen = 0
    const joinedAt = await new Promise<number>((resolve) => {
      let first = 0
      void consumer.run({
        eachBatch: async ({ batch }) => {
          if (first === 0) first = performance.now()
          seen += batch.messages.length
          if (seen >= records) resolve(first)
        },
      })
    })
    const baseMs = performance.now() - joinedAt
    await consumer.disconnect()

    // tsflink: KafkaSource (bounded) → discarding sink.
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', dir))
    let n = 0
    let firstAt = 0
    env.fromSource(KafkaSource.builder().setBootstrapServers(broker.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).build(), WatermarkStrategy.noWatermarks(), 'kafka')
      .addSink(() => {
        if (n++ === 0) firstAt = performance.now()
      })
    await env.execute('kafka bench')
    const ms = performance.now() - firstAt
    console.log(`Kafka source: ${records.toLocaleString()} records of 100 bytes, ${partitions} partitions (from the first record on)`)
    console.log(`  kafkajs eachBatch loop (baseline): ${fmt(records / baseMs / 1000)} M records/s`)
    console.log(`  tsflink KafkaSource → sink:        ${fmt(records / ms / 1000)} M records/s (${fmt(baseMs / ms)}x baseline; target >= 0.8x)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await broker.stop()
  }
}
