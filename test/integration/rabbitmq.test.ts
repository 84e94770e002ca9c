/**
 * The RabbitMQ connectors on a real RabbitMQ broker (test/servers/rabbitmq.ts): kill -9 and restore
 * rounds of a real CLI job while messages are published, with correlation ids (exactly-once: the
 * keyed counts a failure-free run gives) and without (at-least-once: no number missing); auto-ack
 * without checkpointing; the RMQSink's messages. Oracles: the numbers the test published, and the
 * queue's own message count.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib'
import { RMQConnectionConfig, RMQSink, RMQSource, StreamExecutionEnvironment } from '../../src/index.js'
import { CLI, ROOT, committedLines, expectedCounts, runCli, seededRandom, sleep, tmp } from '../helpers.js'
import { latestCheckpoint } from '../servers/kafka-client.js'
import { rabbitmqSkip, startRabbitMQ, type RabbitMQBroker } from '../servers/rabbitmq.js'

const JOB = join(ROOT, 'test', 'jobs', 'rmq-counter.ts')

/** Publishes numbers as persistent messages (correlation id `n-<number>`), waiting for the broker's confirms. */
class Publisher {
  private constructor(private readonly conn: ChannelModel, private readonly ch: ConfirmChannel, readonly queue: string) {}
  static async open(url: string, queue: string): Promise<Publisher> {
    const conn = await connect(url)
    conn.on('error', () => {}) // a broker killed on purpose
    const ch = await conn.createConfirmChannel()
    ch.on('error', () => {})
    await ch.assertQueue(queue, { durable: true })
    return new Publisher(conn, ch, queue)
  }
  async publish(values: (number | string)[]): Promise<void> {
    for (const v of values) this.ch.sendToQueue(this.queue, Buffer.from(String(v)), { persistent: true, correlationId: `n-${v}` })
    await this.ch.waitForConfirms()
  }
  async messageCount(): Promise<number> {
    return (await this.ch.checkQueue(this.queue)).messageCount
  }
  async close(): Promise<void> {
    await Promise.race([this.conn.close().catch(() => {}), sleep(2000)])
  }
}

/**
 * A TCP proxy in front of the broker that can hold back what clients send (a network that loses
 * the job's acknowledgements): `hold` queues client bytes instead of forwarding them; dropAll()
 * discards them and closes every connection.
 */
class Proxy {
  hold = false
  private readonly conns = new Set<{ client: Socket; upstream: Socket }>()
  private constructor(private readonly server: Server, readonly port: number) {}
  static async start(target: number): Promise<Proxy> {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const proxy = new Proxy(server, (server.address() as AddressInfo).port)
    server.on('connection', (client) => {
      const upstream = netConnect(target, '127.0.0.1')
      const c = { client, upstream }
      proxy.conns.add(c)
      client.on('data', (d) => void (proxy.hold ? undefined : upstream.write(d)))
      upstream.on('data', (d) => void client.write(d))
      const end = (): void => {
        proxy.conns.delete(c)
        client.destroy()
        upstream.destroy()
      }
      for (const s of [client, upstream]) {
        s.on('error', end)
        s.on('close', end)
      }
    })
    return proxy
  }
  dropAll(): void {
    for (const c of this.conns) {
      c.client.destroy()
      c.upstream.destroy()
    }
    this.conns.clear()
    this.hold = false
  }
  close(): void {
    this.dropAll()
    this.server.close()
  }
}

describe('RabbitMQ connectors (real broker, real CLI)', { skip: rabbitmqSkip() }, () => {
  let rmq: RabbitMQBroker
  before(async () => {
    rmq = await startRabbitMQ()
  })
  after(async () => rmq?.stop())

  /**
   * Runs the job 5 times, killing each run (kill -9) a random moment after it completed a
   * checkpoint of its own while a publisher adds numbers, then once more to the END message.
   * Returns every number published and the committed output lines.
   */
  async function killRounds(queue: string, ids: 'correlation' | 'no-correlation', mode: 'counts' | 'values'): Promise<{ values: number[]; lines: string[] }> {
    const seed = Number(process.env.RMQ_TEST_SEED ?? Date.now() % 1_000_000)
    console.log(`${queue}: seed ${seed} (replay with RMQ_TEST_SEED=${seed})`)
    const random = seededRandom(seed)
    const values: number[] = []
    let next = 0
    const home = tmp()
    const cp = join(home, 'cp')
    const out = join(home, 'out')
    const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.num-retained=2']
    const proxy = await Proxy.start(rmq.port)
    const job = [JOB, String(proxy.port), queue, out, ids, mode]
    let from: string | undefined
    const publisher = await Publisher.open(rmq.url, queue)
    const publish = async (n: number | (number | string)[]): Promise<void> => {
      const batch = typeof n === 'number' ? Array.from({ length: n }, () => next++) : n
      await publisher.publish(batch)
      values.push(...batch.filter((v) => typeof v === 'number'))
    }
    await publish(500)
    for (let round = 0; round < 5; round++) {
      const args = ['run', ...conf, ...(from === undefined ? [] : ['-s', from]), '-p', '2', ...job]
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      // Messages keep coming while the job runs, so that some are always between delivery and acknowledgement.
      let publishing = true
      const publishingDone = (async () => {
        while (publishing) {
          await publish(25)
          await sleep(10)
        }
      })()
      for (let i = 0; i < 1500 && latestCheckpoint(cp) === from; i++) await sleep(20)
      await sleep(100 + Math.floor(random() * 400))
      if (round === 1 || round === 3) {
        // The job's traffic to the broker is held back: the next checkpoint completes in the job,
        // but its acknowledgements never reach the broker, which redelivers, after the kill,
        // messages whose effect is in the checkpoint the job restores: only the deduplication by
        // correlation id keeps them from being counted twice.
        const before = latestCheckpoint(cp)
        proxy.hold = true
        for (let i = 0; i < 500 && latestCheckpoint(cp) === before; i++) await sleep(20)
        await sleep(200)
        child.kill('SIGKILL')
        await exited
        proxy.dropAll()
      } else {
        child.kill('SIGKILL')
        await exited
      }
      publishing = false
      await publishingDone
      const latest = latestCheckpoint(cp)
      assert.ok(latest !== undefined && latest !== from, `round ${round}: a new checkpoint completed`)
      from = latest
    }
    await publish(300)
    await publish(['END'])
    const last = await runCli(['run', ...conf, '-s', from!, '-p', '2', ...job], { env: { TSFLINK_HOME: home } })
    assert.equal(last.code, 0, last.stderr)
    await publisher.close()
    proxy.close()
    return { values, lines: committedLines(out) }
  }

  it('with correlation ids: 5 rounds of kill -9 and restore while publishing, the keyed counts are exactly those of a failure-free run', async () => {
    const { values, lines } = await killRounds('eo-in', 'correlation', 'counts')
    const want = expectedCounts(values)
    assert.equal(lines.length, want.length, `as many counts (${lines.length}) as numbers published (${values.length})`)
    assert.deepEqual(lines, want)
  })

  it('without correlation ids: 5 rounds of kill -9 and restore while publishing, no number is lost', async () => {
    const { values, lines } = await killRounds('alo-in', 'no-correlation', 'values')
    const got = new Set(lines.map(Number))
    const missing = values.filter((v) => !got.has(v))
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${values.length} numbers lost`)
    const published = new Set(values)
    assert.deepEqual(lines.filter((l) => !published.has(Number(l))), [], 'only published numbers')
  })

  it('without checkpointing, deliveries are acknowledged at once; RMQSink publishes every record', async () => {
    const config = new RMQConnectionConfig.Builder().setHost(rmq.host).setPort(rmq.port).setPrefetchCount(10).build()
    // RMQSink: 300 records into a queue, each with its correlation id.
    const sinkEnv = StreamExecutionEnvironment.createLocalEnvironment()
    sinkEnv.fromSequence(0, 299).addSink(new RMQSink<number>(config, 'sink-out', (n) => String(n), {
      computeProperties: (n) => ({ correlationId: `n-${n}` }),
    }))
    await sinkEnv.execute('rmq sink')
    const pub = await Publisher.open(rmq.url, 'sink-out')
    assert.equal(await pub.messageCount(), 300, 'the sink published 300 messages')
    await pub.publish(['END'])
    // RMQSource without checkpointing (prefetch 10: only acknowledged deliveries let more come).
    const got: string[] = []
    const env = StreamExecutionEnvironment.createLocalEnvironment()
    env.addSource(new RMQSource<string>(config, 'sink-out', false, { deserialize: (b) => b.toString(), isEndOfStream: (s) => s === 'END' }), 'rabbitmq')
      .addSink((s: string) => void got.push(s))
    await env.execute('rmq auto-ack')
    assert.deepEqual(got.map(Number).sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i))
    await sleep(200)
    assert.equal(await pub.messageCount(), 0, 'nothing went back to the queue: every delivery was acknowledged')
    await pub.close()
  })
})
