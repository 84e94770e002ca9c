/**
 * Kafka to Kafka exactly-once, end to end on a real Apache Kafka broker, through the real CLI:
 * kill -9 and restore with rescaling, and a broker that goes away while the job runs. The oracle
 * is a plain kafkajs read_committed consumer and the counts a failure-free run must produce.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CLI, ROOT, expectedCounts, runCli, sleep, tmp } from '../helpers.js'
import { kafkaSkip, startKafka, type KafkaBroker } from '../servers/kafka.js'
import { latestCheckpoint, produce, readTopic } from '../servers/kafka-client.js'

const JOB = join(ROOT, 'test', 'jobs', 'kafka-exactly-once.ts')

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
      for (let i = 0; i < 1500 && latestCheckpoint(cp) === from; i++) await sleep(20)
      await sleep(Math.floor(random() * 400))
      child.kill('SIGKILL')
      await exited
      const latest = latestCheckpoint(cp)
      assert.ok(latest !== undefined && latest !== from, `round ${round}: a new checkpoint completed`)
      from = latest
    }
    const visible = await readTopic(kafka.brokers, output)
    assert.ok(visible.length < values.length, `the kills happened before the end (${visible.length} of ${values.length} visible)`)
    const last = await runCli(['run', ...conf, '-s', from!, '-p', '2', ...job, '0'], { env: { TSFLINK_HOME: home } })
    assert.equal(last.code, 0, last.stderr)
    const got = (await readTopic(kafka.brokers, output)).sort()
    const want = expectedCounts(values)
    assert.equal(got.length, want.length, 'as many records as a failure-free run')
    assert.deepEqual(got, want)
  })

  it('the broker is killed for 3 s and restarted while the job runs: the job recovers and the output is exactly-once', async () => {
    const [input, output] = ['outage-in', 'outage-out']
    await kafka.createTopic(input, 3)
    await kafka.createTopic(output, 2)
    const values = Array.from({ length: 3000 }, (_, i) => i)
    await produce(kafka.brokers, input, values)
    const home = tmp()
    const cp = join(home, 'cp')
    const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.num-retained=2',
      '-D', 'restart-strategy.type=fixed-delay', '-D', 'restart-strategy.fixed-delay.attempts=100', '-D', 'restart-strategy.fixed-delay.delay=500ms',
      '-D', 'execution.checkpointing.tolerable-failed-checkpoints=100']
    const run = runCli(['run', ...conf, '-p', '2', JOB, kafka.brokers.join(','), input, output, 'outage-test', '600'], { env: { TSFLINK_HOME: home } })
    for (let i = 0; i < 1500 && latestCheckpoint(cp) === undefined; i++) await sleep(20)
    assert.ok(latestCheckpoint(cp) !== undefined, 'a checkpoint completed before the outage')
    await sleep(300)
    await kafka.kill()
    await sleep(3000)
    await kafka.restart()
    const result = await run
    assert.equal(result.code, 0, result.stderr)
    const got = (await readTopic(kafka.brokers, output)).sort()
    assert.deepEqual(got, expectedCounts(values))
  })
})
