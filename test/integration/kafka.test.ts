/**
 * The Kafka source into the exactly-once file sink, through the real CLI, killed with -9 and
 * resumed at another parallelism, on a real Apache Kafka broker.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CLI, ROOT, committedLines, sleep, tmp, expectedCounts } from '../helpers.js'
import { kafkaSkip, startKafka, type KafkaBroker } from '../servers/kafka.js'
import { produce, runCliWithin, waitFor, within } from '../servers/kafka-client.js'

const JOB = join(ROOT, 'test', 'jobs', 'kafka-counter.ts')


describe('Kafka source → file sink through the CLI (real broker)', { skip: kafkaSkip() }, () => {
  let kafka: KafkaBroker
  before(async () => {
    kafka = await startKafka()
  })
  after(async () => kafka?.stop())

  it('killed with -9 several times and resumed, produces exactly the failure-free output (4 partitions)', async () => {
    const topic = 'numbers'
    await kafka.createTopic(topic, 4)
    const values = Array.from({ length: 12_000 }, (_, i) => i)
    await produce(kafka.brokers, topic, values)
    const home = tmp()
    const out = join(home, 'out')
    const cp = join(home, 'cp')
    const conf = ['-D', 'execution.checkpointing.interval=50ms', '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.num-retained=2']
    const latestCheckpoint = (): string | undefined => {
      if (!existsSync(cp)) return undefined
      let best: [number, string] | undefined
      for (const j of readdirSync(cp)) {
        for (const c of readdirSync(join(cp, j))) {
          const n = Number(c.slice(4))
          if (c.startsWith('chk-') && existsSync(join(cp, j, c, '_metadata')) && (best === undefined || n > best[0])) best = [n, join(cp, j, c)]
        }
      }
      return best?.[1]
    }
    let from: string | undefined
    for (let round = 0; round < 3; round++) {
      const args = ['run', ...conf, ...(from === undefined ? [] : ['-s', from]), '-p', String(1 + (round % 2)), JOB, kafka.brokers.join(','), topic, out, '1500']
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      const before = latestCheckpoint()
      try {
        await waitFor(`round ${round}: a checkpoint of this run`, 45_000, () => latestCheckpoint() !== before)
        await sleep(150)
      } finally {
        child.kill('SIGKILL')
        await within(10_000, 'the killed CLI exiting', exited)
      }
      from = latestCheckpoint()
      assert.ok(from !== undefined, `round ${round}: a checkpoint completed`)
      assert.ok(committedLines(out).length < values.length, `round ${round}: killed before the end`)
    }
    assert.ok(committedLines(out).length < values.length, 'the kills happened before the end')
    const last = await runCliWithin(CLI, ['run', ...conf, '-s', from!, JOB, kafka.brokers.join(','), topic, out, '0'], { TSFLINK_HOME: home }, 90_000)
    assert.equal(last.code, 0, last.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(values))
  })
})
