/**
 * Benchmark: Kafka on a real Apache Kafka broker (KRaft, started here), ratios against plain
 * kafkajs measured in the same run (median of 5 runs by default, with the spread, after an untimed
 * warm-up run of each):
 * - KafkaSource → sink function (p=1) vs a kafkajs `eachBatch` consumer loop over the same topic
 *   that decodes each value as the source does, both timed from the first record to the last,
 *   with the CPU time of the process per record;
 * - KafkaSink EXACTLY_ONCE at a 1 s checkpoint interval vs a kafkajs transactional producer that
 *   sends the same records in batches of 500 and commits once a second, each timed from its first
 *   record until its last transaction committed; both outputs are then read back read_committed
 *   and must hold every record.
 */
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { Kafka, logLevel } from 'kafkajs'
import {
  Configuration, DataGeneratorSource, DeliveryGuarantee, KafkaSink, KafkaSource, OffsetsInitializer, StreamExecutionEnvironment, WatermarkStrategy,
} from '../src/index.js'
import { startKafka, type KafkaBroker } from '../test/servers/kafka.js'
import { readTopic } from '../test/servers/kafka-client.js'

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const spread = (xs: number[]): string => `${fmt(Math.min(...xs) / 1000)}–${fmt(Math.max(...xs) / 1000)}`
const VALUE = 'x'.repeat(100)

/** Fetch settings both readers use (the source's defaults). */
const FETCH = { maxBytesPerPartition: 4 * 1024 * 1024, maxWaitTimeInMs: 500 }

interface Reading {
  /** Records per second, first record to last. */
  rate: number
  /** CPU time of this process (every thread) per record, in microseconds, over the same window. */
  cpuUs: number
}

/**
 * A plain kafkajs consumer doing what a user's own loop must do for the same result: read the
 * topic from the beginning with the same fetch settings, decode each value as UTF-8 text (the
 * source's default deserializer) and hand it to a function, until every record was seen.
 */
async function kafkajsRead(broker: KafkaBroker, topic: string, records: number): Promise<Reading> {
  const kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `bench-${Date.now()}-${Math.random()}`, ...FETCH })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let seen = 0
  let chars = 0
  const use = (v: string | null): void => {
    chars += v === null ? 0 : v.length
  }
  const reading = await new Promise<Reading>((resolve) => {
    let t0 = 0
    let cpu0 = process.cpuUsage()
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (t0 === 0) [t0, cpu0] = [performance.now(), process.cpuUsage()]
        for (const m of batch.messages) use(m.value === null ? null : m.value.toString('utf8'))
        seen += batch.messages.length
        if (seen === records) {
          const cpu = process.cpuUsage(cpu0)
          resolve({ rate: records / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / records })
        }
      },
    })
  })
  await consumer.disconnect()
  if (chars !== records * VALUE.length) throw new Error(`kafkajs read ${chars} characters, not ${records * VALUE.length}`)
  return reading
}

/** KafkaSource (bounded at the latest offsets) → a sink function, p=1, in this thread. */
async function sourceRead(broker: KafkaBroker, topic: string, records: number, dir: string): Promise<Reading> {
  const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, `cp-${Math.random()}`)))
  let n = 0
  let chars = 0
  let firstAt = 0
  let lastAt = 0
  let cpu0 = process.cpuUsage()
  let cpu = cpu0
  env.fromSource(KafkaSource.builder().setBootstrapServers(broker.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).build(), WatermarkStrategy.noWatermarks(), 'kafka')
    .addSink((v: string) => {
      if (n++ === 0) [firstAt, cpu0] = [performance.now(), process.cpuUsage()]
      chars += v.length
      if (n === records) [lastAt, cpu] = [performance.now(), process.cpuUsage(cpu0)]
    })
  await env.execute('kafka source bench')
  if (n !== records || chars !== records * VALUE.length) throw new Error(`KafkaSource read ${n} records (${chars} characters), not ${records}`)
  // First to last record, as the baseline is timed (the job's start and end are not the source's throughput).
  return { rate: records / ((lastAt - firstAt) / 1000), cpuUs: (cpu.user + cpu.system) / records }
}

async function sinkRun(broker: KafkaBroker, records: number, dir: string, run: number | string): Promise<[number, number]> {
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
  const ours = records / ((performance.now() - firstAt) / 1000)
  // Both outputs hold every record, committed (the final checkpoint commits the last transaction).
  for (const topic of [baseTopic, sinkTopic]) {
    const seen = (await readTopic(broker.brokers, topic, { readCommitted: true, timeoutMs: 120_000 })).length
    if (seen !== records) throw new Error(`${topic}: a read_committed reader sees ${seen} records, not ${records}`)
  }
  return [baseline, ours]
}

/**
 * `KAFKA_BENCH=source` or `=sink` runs one half; `KAFKA_BENCH_RECORDS` sets the record count;
 * `KAFKA_BENCH_RUNS` the number of timed runs (at least 3).
 */
export async function kafkaBench(records = Number(process.env.KAFKA_BENCH_RECORDS ?? 500_000), partitions = 4): Promise<void> {
  const only = process.env.KAFKA_BENCH
  const runs = Math.max(3, Number(process.env.KAFKA_BENCH_RUNS ?? 5))
  const broker = await startKafka({ fast: false })
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-bench-kafka-'))
  try {
    console.log(`Kafka ${broker.version} (KRaft, 127.0.0.1), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`)
    if (only !== 'sink') {
      const topic = 'bench'
      await broker.createTopic(topic, partitions)
      const producer = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING }).producer()
      await producer.connect()
      for (let i = 0; i < records; i += 5000) {
        await producer.send({ topic, messages: Array.from({ length: Math.min(5000, records - i) }, (_, j) => ({ key: String((i + j) % 64), value: VALUE })) })
      }
      await producer.disconnect()
      // One untimed pass each: the broker's page cache and JIT, and this process's, are warm for both.
      await kafkajsRead(broker, topic, records)
      await sourceRead(broker, topic, records, dir)
      const src: [Reading, Reading][] = []
      for (let r = 0; r < runs; r++) {
        // Alternating which goes first, so that neither always reads right after the other.
        const base = r % 2 === 0 ? await kafkajsRead(broker, topic, records) : undefined
        const ours = await sourceRead(broker, topic, records, dir)
        src.push([base ?? await kafkajsRead(broker, topic, records), ours])
        process.stderr.write(`  source run ${r + 1}/${runs}: baseline ${fmt(src[r]![0].rate / 1000)}, tsflink ${fmt(src[r]![1].rate / 1000)} k records/s; CPU ${fmt(src[r]![0].cpuUs)} vs ${fmt(src[r]![1].cpuUs)} µs/record\n`)
      }
      const ratios = src.map(([b, t]) => t.rate / b.rate)
      const cpuRatios = src.map(([b, t]) => t.cpuUs / b.cpuUs)
      const rates = (i: 0 | 1): number[] => src.map((x) => x[i].rate)
      const cpus = (i: 0 | 1): number[] => src.map((x) => x[i].cpuUs)
      console.log(`  source: ${records.toLocaleString('en-US')} records of ${VALUE.length} bytes, ${partitions} partitions, values decoded as UTF-8 by both; median of ${runs} runs (min–max)`)
      console.log(`    kafkajs eachBatch loop (baseline): ${fmt(median(rates(0)) / 1000)} k records/s (${spread(rates(0))}), CPU ${fmt(median(cpus(0)))} µs/record`)
      console.log(`    tsflink KafkaSource → sink:        ${fmt(median(rates(1)) / 1000)} k records/s (${spread(rates(1))}), CPU ${fmt(median(cpus(1)))} µs/record`)
      console.log(`    ratio ${fmt(median(ratios))}x (${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))}; target >= 0.8x); CPU per record ${fmt(median(cpuRatios))}x the baseline's`)
    }
    if (only !== 'source') {
      const sinkRecords = Math.min(records, 200_000)
      await sinkRun(broker, sinkRecords, dir, 'warm-up')
      const sink: [number, number][] = []
      for (let r = 0; r < runs; r++) {
        sink.push(await sinkRun(broker, sinkRecords, dir, r))
        process.stderr.write(`  sink run ${r + 1}/${runs}: baseline ${fmt(sink[r]![0] / 1000)}, tsflink ${fmt(sink[r]![1] / 1000)} k records/s\n`)
      }
      const sinkRatios = sink.map(([b, t]) => t / b)
      console.log(`  sink: ${sinkRecords.toLocaleString('en-US')} records of ${VALUE.length} bytes, ${partitions} partitions; median of ${runs} runs (min–max)`)
      console.log(`    kafkajs transactional producer, commit every 1 s (baseline): ${fmt(median(sink.map((x) => x[0])) / 1000)} k records/s (${spread(sink.map((x) => x[0]))})`)
      console.log(`    tsflink KafkaSink EXACTLY_ONCE, checkpoint every 1 s:       ${fmt(median(sink.map((x) => x[1])) / 1000)} k records/s (${spread(sink.map((x) => x[1]))})`)
      console.log(`    ratio ${fmt(median(sinkRatios))}x (${fmt(Math.min(...sinkRatios))}–${fmt(Math.max(...sinkRatios))}; target >= 0.7x)`)
    }
    console.log(`  load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await broker.stop()
  }
}
