/**
 * Kafka to Kafka exactly-once, end to end on a real Apache Kafka broker: kill -9 and restore with
 * rescaling through the real CLI, and a broker that goes away while a job runs (in this process). The oracle
 * is a plain kafkajs read_committed consumer and the counts a failure-free run must produce. A job
 * that rode out the outage, and a closed Kafka client, must leave no timer or socket holding the
 * event loop (what would keep a finished job's process alive).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  Configuration, DeliveryGuarantee, KafkaSink, KafkaSource, KeyedProcessFunction, OffsetsInitializer, RateLimiterStrategy, RestartStrategies,
  StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from '../../src/index.js'
import { CLI, ROOT, expectedCounts, sleep, tmp } from '../helpers.js'
import { kafkaSkip, startKafka, trackHandles, type KafkaBroker } from '../servers/kafka.js'
import { KafkaClient } from '../../src/runtime/connectors/kafka-client.js'
import { latestCheckpoint, produce, readTopic, runCliWithin, waitFor, within } from '../servers/kafka-client.js'

const JOB = join(ROOT, 'test', 'jobs', 'kafka-exactly-once.ts')

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

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with KAFKA_TEST_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('Kafka exactly-once end to end (real broker, real CLI)', { skip: kafkaSkip() }, () => {
  let kafka: KafkaBroker
  before(async () => {
    kafka = await startKafka()
  })
  after(async () => kafka?.stop())

  it('6 rounds of kill -9 and restore at parallelism 1, 2, 3: a read_committed consumer sees every count exactly once', async () => {
    const seed = Number(process.env.KAFKA_TEST_SEED ?? Date.now() % 1_000_000)
    console.log(`kill -9 rounds: seed ${seed} (replay with KAFKA_TEST_SEED=${seed})`)
    const random = prng(seed)
    const [input, output] = ['eo-in', 'eo-out']
    await kafka.createTopic(input, 4)
    await kafka.createTopic(output, 3)
    const values = Array.from({ length: 6000 }, (_, i) => i)
    await produce(kafka.brokers, input, values)
    const home = tmp()
    const cp = join(home, 'cp')
    const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.num-retained=2']
    const job = [JOB, kafka.brokers.join(','), input, output, 'eo-test']
    let from: string | undefined
    const parallelism = [1, 2, 3, 2, 3, 1]
    for (const [round, p] of parallelism.entries()) {
      const args = ['run', ...conf, ...(from === undefined ? [] : ['-s', from]), '-p', String(p), ...job, '800']
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      // Kill after this run completed a checkpoint of its own, at a random moment after it
      // (often between a checkpoint's completion and its transactions' commit).
      try {
        await waitFor(`round ${round}: a checkpoint of this run`, 45_000, () => latestCheckpoint(cp) !== from)
        await sleep(Math.floor(random() * 400))
      } finally {
        child.kill('SIGKILL')
        await within(10_000, 'the killed CLI exiting', exited)
      }
      const latest = latestCheckpoint(cp)
      assert.ok(latest !== undefined && latest !== from, `round ${round}: a new checkpoint completed`)
      from = latest
    }
    // Transactions the kills left open hold read_committed readers back: what they see now.
    const visible = await readTopic(kafka.brokers, output, { upTo: 'stable' })
    assert.ok(visible.length < values.length, `the kills happened before the end (${visible.length} of ${values.length} visible)`)
    const last = await runCliWithin(CLI, ['run', ...conf, '-s', from!, '-p', '2', ...job, '0'], { TSFLINK_HOME: home }, 90_000)
    assert.equal(last.code, 0, last.stderr)
    const got = (await readTopic(kafka.brokers, output)).sort()
    const want = expectedCounts(values)
    assert.equal(got.length, want.length, 'as many records as a failure-free run')
    assert.deepEqual(got, want)
  })

  it('the broker is killed for 3 s and restarted while the job runs: the job fails over and the output is exactly-once', async () => {
    const [input, output] = ['outage-in', 'outage-out']
    await kafka.createTopic(input, 3)
    await kafka.createTopic(output, 2)
    const values = Array.from({ length: 3000 }, (_, i) => i)
    await produce(kafka.brokers, input, values)
    const cp = join(tmp(), 'cp')
    // The job of test/jobs/kafka-exactly-once.ts, in this process (the CLI runs it in the first test).
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', cp)
      .set('execution.checkpointing.tolerable-failed-checkpoints', '100'))
    env.enableCheckpointing(100)
    env.setRestartStrategy(RestartStrategies.fixedDelayRestart(100, 500))
    env.setParallelism(2)
    env.fromSource(KafkaSource.builder().setBootstrapServers(kafka.brokers).setTopics(input).setBounded(OffsetsInitializer.latest())
      .setRateLimiter(RateLimiterStrategy.perSecond(600)).build(), WatermarkStrategy.noWatermarks(), 'kafka').uid('kafka')
      .map((s: string) => Number(s)).uid('parse')
      .keyBy((v: number) => v % 7)
      .process(new CountPerKey()).uid('count')
      .sinkTo(KafkaSink.builder<string>().setBootstrapServers(kafka.brokers).setRecordSerializer({ topic: output, key: (s) => s.split(':')[0]!, value: (s) => s })
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE).setTransactionalIdPrefix('outage-test').build()).uid('kafka-sink')
    // What the job creates (its Kafka clients' sockets, kafkajs's timers) must be gone once it
    // ended: a leftover would keep a finished job's process (the CLI's, a test file's) alive.
    const handles = trackHandles()
    const { master, result } = await env.executeAsync('outage')
    try {
      await waitFor('a checkpoint before the outage', 30_000, () => latestCheckpoint(cp) !== undefined)
      await sleep(300)
      await kafka.kill()
      await sleep(3000)
      await within(50_000, 'the broker starting again', kafka.restart())
      await within(50_000, 'the job ending after the broker came back', result)
    } catch (e) {
      master.cancel()
      await within(20_000, 'the cancelled job ending', result.catch(() => {})).catch(() => {})
      throw e
    } finally {
      handles.stop()
    }
    await waitFor('the job\'s sockets and timers gone', 15_000, () => handles.leftover().length === 0).catch(() => {})
    assert.deepEqual(handles.leftover(), [], 'nothing the job created holds the event loop 15 s after it ended')
    assert.deepEqual((await readTopic(kafka.brokers, output)).sort(), expectedCounts(values))
  })

  it('a closed Kafka client leaves no socket or timer behind, also of clients it never disconnected', async () => {
    const topic = 'closed-client'
    await kafka.createTopic(topic, 2)
    const handles = trackHandles()
    const client = new KafkaClient(kafka.brokers, 'closed-client-test')
    try {
      // Connected and used, never disconnected: close() alone must end them.
      const admin = client.kafka.admin()
      await within(30_000, 'the admin connecting', admin.connect())
      await within(30_000, 'the offsets', admin.fetchTopicOffsets(topic))
      const producer = client.kafka.producer({ allowAutoTopicCreation: false })
      await within(30_000, 'the producer connecting', producer.connect())
      await within(30_000, 'a send', producer.send({ topic, messages: [{ value: 'x' }] }))
      await within(30_000, 'the offsets at an isolation level', client.listOffsets(topic, -1, false))
      assert.ok(handles.leftover().length > 0, 'the connected clients hold sockets and timers (or this test sees nothing)')
    } finally {
      client.close()
      handles.stop()
    }
    await waitFor('the closed client\'s sockets and timers gone', 10_000, () => handles.leftover().length === 0).catch(() => {})
    assert.deepEqual(handles.leftover(), [], 'nothing of the closed client holds the event loop 10 s after close()')
  })
})
