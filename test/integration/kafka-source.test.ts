/**
 * The Kafka source against a real Apache Kafka broker: start offsets and bounded mode as in Flink's
 * KafkaSource, group offsets committed after checkpoints, partitions that appear while the job runs
 * or while it is stopped, read_committed isolation. Inputs are written and checked with plain kafkajs.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Kafka, logLevel } from 'kafkajs'
import {
  Configuration, KafkaSource, OffsetResetStrategy, RestartStrategies, OffsetsInitializer, StreamExecutionEnvironment, WatermarkStrategy, type KafkaRecord,
} from '../../src/index.js'
import type { KafkaSplit } from '../../src/runtime/connectors/kafka-source.js'
import type { SourceReader } from '../../src/runtime/connectors/source.js'
import { readRestorePoint } from '../../src/runtime/checkpoint/restore-point.js'
import { JobMaster } from '../../src/runtime/job/job-master.js'
import { systemClock } from '../../src/runtime/clock.js'
import { sleep, tmp } from '../helpers.js'
import { kafkaSkip, startKafka, type KafkaBroker } from '../servers/kafka.js'
import { executeWithin, produce, waitFor, waitSettled, within } from '../servers/kafka-client.js'

type Init = ReturnType<typeof OffsetsInitializer.earliest>

const cancelled = new WeakSet<JobMaster>()
/** Cancels a running job (once) and waits (bounded) until it ended. */
async function cancel(job: { master: JobMaster; result: Promise<unknown> }): Promise<void> {
  if (cancelled.has(job.master)) return
  cancelled.add(job.master)
  job.master.cancel()
  await within(20_000, 'the cancelled job ending', job.result.catch(() => {}))
}

/** Runs a job restored from a retained checkpoint, in this process (what `run -s` does). */
async function executeFrom(env: StreamExecutionEnvironment, from: string): Promise<{ master: JobMaster; result: Promise<unknown> }> {
  const spec = await env.prepare('restored')
  const point = await readRestorePoint(from, spec.storageFor(from))
  const master = new JobMaster({ ...spec, restore: { location: point.location, metadata: point.metadata, allowNonRestoredState: false, claimMode: 'no_claim' } })
  return { master, result: master.run() }
}

// Many retained: the checkpoint a test picks to restore is not deleted by the ones completing before the cancel takes effect.
const localEnv = (cp = join(tmp(), 'cp')): StreamExecutionEnvironment =>
  StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', cp).set('execution.checkpointing.externalized-checkpoint-retention', 'RETAIN_ON_CANCELLATION')
    .set('execution.checkpointing.num-retained', '1000'))

describe('Kafka source (real broker)', { skip: kafkaSkip() }, () => {
  let kafka: KafkaBroker
  before(async () => {
    kafka = await startKafka()
  })
  after(async () => kafka?.stop())

  /** Reads `topic` bounded, from `start` to `stop`, and returns the values sorted. */
  async function read(topic: string, start: Init, stop: Init = OffsetsInitializer.latest(), groupId = 'g'): Promise<string[]> {
    const seen: string[] = []
    const env = localEnv()
    env.enableCheckpointing(50)
    env.setRestartStrategy(RestartStrategies.noRestart())
    env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setGroupId(groupId).setStartingOffsets(start).setBounded(stop).build(),
      WatermarkStrategy.noWatermarks(), 'k').addSink((v: string) => void seen.push(v))
    await executeWithin(env, `read ${topic} from ${JSON.stringify(start)} to ${JSON.stringify(stop)}`, 30_000)
    return seen.sort((a, b) => Number(a) - Number(b))
  }

  it('starting offsets: earliest, latest, timestamp, specific (with reset), committed (with reset, NONE fails); bounded at latest, timestamp and specific offsets', async () => {
    const topic = 'offsets'
    await kafka.createTopic(topic, 2)
    await produce(kafka.brokers, topic, [0, 1, 2, 3, 4, 5], 0)
    await sleep(20)
    const middle = Date.now()
    await sleep(20)
    await produce(kafka.brokers, topic, [6, 7, 8, 9], 0)
    await produce(kafka.brokers, topic, [100, 101], 1)
    const all = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '100', '101']
    assert.deepEqual(await read(topic, OffsetsInitializer.earliest()), all)
    assert.deepEqual(await read(topic, OffsetsInitializer.latest()), [])
    assert.deepEqual(await read(topic, OffsetsInitializer.timestamp(middle)), ['6', '7', '8', '9', '100', '101'])
    assert.deepEqual(await read(topic, OffsetsInitializer.timestamp(Date.now() + 60_000)), [], 'a timestamp after every record starts at the end')
    // Partition 0 from offset 4; partition 1 not given: the reset strategy (earliest by default, or latest).
    assert.deepEqual(await read(topic, OffsetsInitializer.offsets([{ topic, partition: 0, offset: 4 }])), ['4', '5', '6', '7', '8', '9', '100', '101'])
    assert.deepEqual(await read(topic, OffsetsInitializer.offsets([{ topic, partition: 0, offset: 8 }], OffsetResetStrategy.LATEST)), ['8', '9'])
    assert.deepEqual(await read(topic, OffsetsInitializer.offsets([{ topic, partition: 0, offset: 99 }, { topic, partition: 1, offset: 1 }], OffsetResetStrategy.LATEST)), ['101'], 'an offset out of range resets')
    // Committed offsets of a group, else the reset strategy.
    // (Each read commits its group's offsets after its checkpoints, so each case has a group of its own.)
    const admin = await kafka.admin()
    for (const g of ['committed-a', 'committed-b', 'committed-c']) await admin.setOffsets({ groupId: g, topic, partitions: [{ partition: 0, offset: '7' }] })
    assert.deepEqual(await read(topic, OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST), OffsetsInitializer.latest(), 'committed-a'), ['7', '8', '9', '100', '101'])
    assert.deepEqual(await read(topic, OffsetsInitializer.committedOffsets(OffsetResetStrategy.LATEST), OffsetsInitializer.latest(), 'committed-b'), ['7', '8', '9'])
    await assert.rejects(read(topic, OffsetsInitializer.committedOffsets(), OffsetsInitializer.latest(), 'committed-c'), /offsets-1 has no committed offset and the reset strategy is NONE/)
    // Bounded: stop at a timestamp, or at given offsets.
    assert.deepEqual(await read(topic, OffsetsInitializer.earliest(), OffsetsInitializer.timestamp(middle)), ['0', '1', '2', '3', '4', '5'])
    assert.deepEqual(await read(topic, OffsetsInitializer.earliest(), OffsetsInitializer.offsets([{ topic, partition: 0, offset: 2 }, { topic, partition: 1, offset: 1 }])), ['0', '1', '100'])
  })

  it('latest() with a transaction open: the high watermark for read_uncommitted, the last stable offset for read_committed (start and bounded end)', async () => {
    const topic = 'latest-open-transaction'
    await kafka.createTopic(topic, 1)
    await produce(kafka.brokers, topic, ['c0', 'c1', 'c2', 'c3', 'c4'], 0) // offsets 0-4
    const producer = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
      .producer({ transactionalId: 'latest-open', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 300_000 })
    await producer.connect()
    const tx = await producer.transaction()
    try {
      await tx.send({ topic, messages: [{ value: 'u0', partition: 0 }, { value: 'u1', partition: 0 }, { value: 'u2', partition: 0 }] }) // offsets 5-7, open
      // The high watermark is 8, the last stable offset 5 (the first offset of the open transaction).
      const readWith = async (isolation: string, start: Init, stop: Init): Promise<string[]> => {
        const seen: string[] = []
        const env = localEnv()
        env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setProperty('isolation.level', isolation).setStartingOffsets(start).setBounded(stop).build(),
          WatermarkStrategy.noWatermarks(), 'k').addSink((v: string) => void seen.push(v))
        await executeWithin(env, `${isolation} bounded`, 30_000)
        return seen
      }
      // Bounded at latest(): read_uncommitted reads the open transaction's records; read_committed ends before them (it cannot read past the LSO).
      assert.deepEqual(await readWith('read_uncommitted', OffsetsInitializer.earliest(), OffsetsInitializer.latest()), ['c0', 'c1', 'c2', 'c3', 'c4', 'u0', 'u1', 'u2'])
      assert.deepEqual(await readWith('read_committed', OffsetsInitializer.earliest(), OffsetsInitializer.latest()), ['c0', 'c1', 'c2', 'c3', 'c4'])
      // Starting at latest(), bounded before offset 9: read_uncommitted starts after the open
      // transaction's records, read_committed at its first record (read once it commits).
      const readers = new Map<string, SourceReader<string, KafkaSplit>>()
      try {
        for (const isolation of ['read_uncommitted', 'read_committed']) {
          const source = KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setProperty('isolation.level', isolation)
            .setStartingOffsets(OffsetsInitializer.latest()).setBounded(OffsetsInitializer.offsets([{ topic, partition: 0, offset: 9 }])).build()
          const reader = source.createReader({ subtask: 0, parallelism: 1, attempt: 0, clock: systemClock })
          readers.set(isolation, reader)
          reader.addSplits(await within(30_000, 'the splits', source.createSplits()))
          await within(30_000, 'the reader starting', reader.start!())
        }
        assert.deepEqual(readers.get('read_uncommitted')!.snapshotState(1).map((s) => s.offset), ['8'], 'read_uncommitted starts at the high watermark')
        assert.deepEqual(readers.get('read_committed')!.snapshotState(1).map((s) => s.offset), ['5'], 'read_committed starts at the last stable offset')
        await produce(kafka.brokers, topic, ['late'], 0) // offset 8
        await tx.commit() // its marker at offset 9
        const seen = new Map<string, string[]>()
        for (const [isolation, reader] of readers) {
          const values: string[] = []
          seen.set(isolation, values)
          const output = { collect: (v: string) => void values.push(v) }
          await waitFor(`${isolation}: the end of the bounded input`, 30_000, () => reader.pollNext(output, 100) === 'END_OF_INPUT')
        }
        assert.deepEqual(seen.get('read_uncommitted'), ['late'])
        assert.deepEqual(seen.get('read_committed'), ['u0', 'u1', 'u2', 'late'])
      } finally {
        for (const r of readers.values()) await within(20_000, 'a reader closing', Promise.resolve(r.close?.()))
      }
    } finally {
      await tx.abort().catch(() => {}) // only if an assertion failed before the commit
      await producer.disconnect()
    }
  })

  it('commits the group offsets after each checkpoint (visible to admin.fetchOffsets), never before', async () => {
    const topic = 'group-commits'
    await kafka.createTopic(topic, 3)
    await produce(kafka.brokers, topic, Array.from({ length: 300 }, (_, i) => i))
    const admin = await kafka.admin()
    const committed = async (): Promise<Map<number, string>> =>
      new Map((await admin.fetchOffsets({ groupId: 'monitor', topics: [topic] }))[0]!.partitions.map((p) => [p.partition, p.offset]))
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]))
    let n = 0
    const env = localEnv()
    env.enableCheckpointing(60_000) // no periodic checkpoint: the test triggers them
    env.setParallelism(2)
    env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setGroupId('monitor').build(), WatermarkStrategy.noWatermarks(), 'k')
      .addSink(() => void n++)
    const job = await env.executeAsync('commits')
    try {
      await waitFor('300 records read', 30_000, () => n >= 300)
      assert.equal(n, 300)
      assert.deepEqual([...(await committed()).values()], ['-1', '-1', '-1'], 'nothing committed before a checkpoint')
      await within(30_000, 'the checkpoint', job.master.triggerCheckpoint())
      let got = await committed()
      await waitFor('the offsets committed after the checkpoint', 30_000, async () => ![...(got = await committed())].some(([p, o]) => o !== ends.get(p))).catch(() => {})
      assert.deepEqual(got, ends, 'after the checkpoint: every partition at its end')
    } finally {
      await cancel(job)
    }
  })

  it('a consumer replaced while records are buffered (a partition discovered) re-fetches them: each is emitted once', async () => {
    const topic = 'replaced-consumer'
    await kafka.createTopic(topic, 1)
    const values = Array.from({ length: 500 }, (_, i) => String(i))
    await produce(kafka.brokers, topic, values, 0)
    const source = KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setProperty('partition.discovery.interval.ms', '100').build()
    const reader = source.createReader({ subtask: 0, parallelism: 1, attempt: 0, clock: systemClock })
    reader.addSplits(await within(30_000, 'the splits', source.createSplits()))
    const seen: string[] = []
    const output = { collect: (v: string) => void seen.push(v) }
    try {
      await within(30_000, 'the reader starting', reader.start!())
      // Nothing is polled: the first consumer's records stay buffered. The new partition makes the
      // reader replace its consumer, which starts again at the position (offset 0 of partition 0).
      await sleep(1500)
      await kafka.addPartitions(topic, 2)
      await produce(kafka.brokers, topic, ['new'], 1)
      // Before any poll: both consumers' records are buffered, partition 0's twice (the reader's
      // count of buffered records; read from outside only to know the case is set up).
      const buffered = (): number => (reader as unknown as { buffered: number }).buffered
      await waitFor('the replacement consumer re-fetching partition 0 and reading the new one', 30_000, () => buffered() >= 2 * values.length + 1)
      while (reader.pollNext(output, 1000) === 'MORE_AVAILABLE');
      assert.ok(seen.includes('new'), 'the new partition is read')
      assert.deepEqual(seen.filter((v) => v !== 'new'), values, 'partition 0 once, in order')
    } finally {
      await within(20_000, 'the reader closing', Promise.resolve(reader.close?.()))
    }
  })

  it('group offset commits of overlapping checkpoint notifications all complete, and the newest wins', async () => {
    const topic = 'overlapping-commits'
    await kafka.createTopic(topic, 2)
    await produce(kafka.brokers, topic, Array.from({ length: 40 }, (_, i) => i))
    const source = KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setGroupId('overlap').build()
    const reader = source.createReader({ subtask: 0, parallelism: 1, attempt: 0, clock: systemClock })
    reader.addSplits(await within(30_000, 'the splits', source.createSplits()))
    try {
      await within(30_000, 'the reader starting', reader.start!())
      let n = 0
      const output = { collect: () => void n++ }
      await waitFor('20 records read', 30_000, () => (reader.pollNext(output, 20 - n), n >= 20)).catch(() => {})
      reader.snapshotState(1)
      await waitFor('40 records read', 30_000, () => (reader.pollNext(output, 100), n >= 40))
      reader.snapshotState(2)
      // Two checkpoints complete at about the same time (as when a notification is late).
      await within(30_000, 'both notifications', Promise.all([reader.notifyCheckpointComplete!(1), reader.notifyCheckpointComplete!(2)]).then(() => undefined))
      const admin = await kafka.admin()
      const [committed] = await admin.fetchOffsets({ groupId: 'overlap', topics: [topic] })
      const ends = await admin.fetchTopicOffsets(topic)
      assert.deepEqual(committed!.partitions.map((p) => [p.partition, p.offset]).sort(), ends.map((e) => [e.partition, e.high]).sort(), 'checkpoint 2\'s positions: every partition at its end')
    } finally {
      await within(20_000, 'the reader closing', Promise.resolve(reader.close?.()))
    }
  })

  it('reads partitions added while it runs, and partitions added while it is stopped, after restores (p=2 → 3 → 1)', async () => {
    const topic = 'growing'
    await kafka.createTopic(topic, 2)
    await produce(kafka.brokers, topic, [0, 1, 2, 3])
    const cp = join(tmp(), 'cp')
    const seen: string[] = []
    // Run 1 (p=2): the topic grows to 4 partitions while the job runs; the new ones are read.
    const first = localEnv(cp)
    first.enableCheckpointing(50)
    first.setParallelism(2)
    const source = (): KafkaSource<string> => KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setProperty('partition.discovery.interval.ms', '200').build()
    first.fromSource(source(), WatermarkStrategy.noWatermarks(), 'k').uid('k').addSink((v: string) => void seen.push(v)).uid('s')
    let job: { master: JobMaster; result: Promise<unknown> } = await first.executeAsync('grow')
    try {
      await waitFor('the first 4 records read', 30_000, () => seen.length >= 4)
      await kafka.addPartitions(topic, 4)
      await produce(kafka.brokers, topic, [10, 11, 12, 13, 14, 15, 16, 17])
      await waitFor('12 records read', 30_000, () => seen.length >= 12).catch(() => {})
      assert.deepEqual(seen.map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17], 'partitions added while running are read')
      // The second checkpoint to complete from now was triggered after what was read so far. Asked
      // of the coordinator, not read from the folder: a checkpoint whose `_metadata` is being
      // written as the cancel comes is discarded (as in Flink), though its folder looked complete.
      const waitCheckpointAfter = async (): Promise<string> => {
        const completed = (): string[] => job.master.coordinator.history.filter((c) => c.type === 'checkpoint').map((c) => c.location)
        const known = completed().length
        await waitFor('two new checkpoints', 30_000, () => completed().length >= known + 2)
        return completed().at(-1)!
      }
      let from = await waitCheckpointAfter()
      await cancel(job)
      // While stopped: two more partitions, and records everywhere.
      await kafka.addPartitions(topic, 6)
      await produce(kafka.brokers, topic, Array.from({ length: 24 }, (_, i) => 100 + i))
      const expected = [0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, ...Array.from({ length: 24 }, (_, i) => 100 + i)]
      // Run 2 (p=3, restored): reads what came while stopped, including the two new partitions.
      seen.length = 0
      const second = localEnv(cp)
      second.enableCheckpointing(50)
      second.setParallelism(3)
      second.fromSource(source(), WatermarkStrategy.noWatermarks(), 'k').uid('k').addSink((v: string) => void seen.push(v)).uid('s')
      job = await executeFrom(second, from)
      await waitFor('24 records read after the restore', 30_000, () => seen.length >= 24).catch(() => {})
      await sleep(300)
      assert.deepEqual(seen.map(Number).sort((a, b) => a - b), expected.slice(12), 'after the restore: exactly what came while stopped, new partitions included')
      // A partition added while run 2 runs, then a restore at p=1: its records are there exactly once.
      await kafka.addPartitions(topic, 7)
      await produce(kafka.brokers, topic, [200, 201, 202, 203, 204, 205, 206])
      await waitFor('31 records read', 30_000, () => seen.length >= 31).catch(() => {})
      assert.deepEqual(seen.map(Number).sort((a, b) => a - b), [...expected.slice(12), 200, 201, 202, 203, 204, 205, 206], 'the partition added while run 2 runs is read before its checkpoint')
      from = await waitCheckpointAfter()
      await cancel(job)
      await produce(kafka.brokers, topic, [300, 301, 302, 303, 304, 305, 306])
      seen.length = 0
      const third = localEnv(cp)
      third.enableCheckpointing(50)
      third.setParallelism(1)
      third.fromSource(source(), WatermarkStrategy.noWatermarks(), 'k').uid('k').addSink((v: string) => void seen.push(v)).uid('s')
      job = await executeFrom(third, from)
      await waitFor('7 records read after the restore', 30_000, () => seen.length >= 7).catch(() => {})
      await sleep(300)
      await cancel(job)
      assert.deepEqual(seen.map(Number).sort((a, b) => a - b), [300, 301, 302, 303, 304, 305, 306])
    } finally {
      await cancel(job) // a failed assertion leaves no job running
    }
  })

  it('read_committed (the default) skips aborted transactions; read_uncommitted sees them', async () => {
    const topic = 'isolation'
    await kafka.createTopic(topic, 2)
    const producer = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer({ transactionalId: 'isolation-test', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    let tx = await producer.transaction()
    await tx.send({ topic, messages: [{ value: 'c1' }, { value: 'c2' }] })
    await tx.commit()
    tx = await producer.transaction()
    await tx.send({ topic, messages: [{ value: 'aborted1' }, { value: 'aborted2' }] })
    await tx.abort()
    tx = await producer.transaction()
    await tx.send({ topic, messages: [{ value: 'c3' }] })
    await tx.commit()
    await producer.disconnect()
    await waitSettled(kafka.brokers, topic) // bounded at the latest offsets: the last commit's markers are written
    const readWith = async (isolation?: string): Promise<string[]> => {
      const seen: string[] = []
      const env = localEnv()
      let b = KafkaSource.builder<KafkaRecord>().setBootstrapServers(kafka.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).setDeserializer((r) => r)
      if (isolation !== undefined) b = b.setProperty('isolation.level', isolation)
      env.fromSource(b.build(), WatermarkStrategy.noWatermarks(), 'k').addSink((r: KafkaRecord) => void seen.push(String(r.value)))
      await executeWithin(env, 'isolation', 30_000)
      return seen.sort()
    }
    assert.deepEqual(await readWith(), ['c1', 'c2', 'c3'])
    assert.deepEqual(await readWith('read_committed'), ['c1', 'c2', 'c3'])
    assert.deepEqual(await readWith('read_uncommitted'), ['aborted1', 'aborted2', 'c1', 'c2', 'c3'])
    assert.throws(() => KafkaSource.builder().setProperty('isolation.level', 'dirty'), /isolation.level must be read_committed or read_uncommitted/)
  })

  it('read_committed: an aborted transaction larger than one fetch is skipped, not fetched again forever', async () => {
    const topic = 'isolation-large-abort'
    await kafka.createTopic(topic, 1)
    const producer = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).producer({ transactionalId: 'large-abort', idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const big = 'x'.repeat(1000)
    let tx = await producer.transaction()
    // 6 MB: more than one fetch carries for a partition (the source asks for 4 MB), so a fetch ends
    // before the abort marker and holds aborted records only.
    for (let i = 0; i < 6; i++) await tx.send({ topic, messages: Array.from({ length: 1000 }, () => ({ value: big })) })
    await tx.abort()
    tx = await producer.transaction()
    await tx.send({ topic, messages: [{ value: 'after' }] })
    await tx.commit()
    await producer.disconnect()
    await waitSettled(kafka.brokers, topic)
    const seen: string[] = []
    const env = localEnv()
    env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).build(), WatermarkStrategy.noWatermarks(), 'k')
      .addSink((v: string) => void seen.push(v))
    await executeWithin(env, 'large abort', 30_000)
    assert.deepEqual(seen, ['after'])
  })

  it('read_committed: transactions that interleave and abort in another order than they began stay hidden (kafkajs alone shows them)', async () => {
    const topic = 'isolation-interleaved'
    await kafka.createTopic(topic, 1)
    const client = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING })
    const a = client.producer({ transactionalId: 'interleaved-a', idempotent: true, maxInFlightRequests: 1 })
    const b = client.producer({ transactionalId: 'interleaved-b', idempotent: true, maxInFlightRequests: 1 })
    const c = client.producer({ transactionalId: 'interleaved-c', idempotent: true, maxInFlightRequests: 1 })
    for (const p of [a, b, c]) await p.connect()
    const ta = await a.transaction()
    await ta.send({ topic, messages: [{ value: 'a1' }] }) // A begins first...
    const tb = await b.transaction()
    await tb.send({ topic, messages: [{ value: 'b1' }] })
    await ta.send({ topic, messages: [{ value: 'a2' }] })
    await tb.abort() // ...B aborts first,
    await ta.abort() // then A
    const tc = await c.transaction()
    await tc.send({ topic, messages: [{ value: 'c1' }] })
    await tc.commit()
    for (const p of [a, b, c]) await p.disconnect()
    await waitSettled(kafka.brokers, topic)
    const seen: string[] = []
    const env = localEnv()
    env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(topic).setBounded(OffsetsInitializer.latest()).build(), WatermarkStrategy.noWatermarks(), 'k')
      .addSink((v: string) => void seen.push(v))
    await executeWithin(env, 'interleaved', 30_000)
    assert.deepEqual(seen, ['c1'])
  })
})
