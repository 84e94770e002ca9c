/**
 * Starts a real Apache Kafka broker for a test file: KRaft mode, one JVM that is broker and
 * controller, on 127.0.0.1 with free ports, from the jars scripts/install-kafka.sh resolves from
 * Maven Central (run here if they are missing). The storage is formatted once per Kafka version
 * (kafka.tools.StorageTool format) into a template that each broker copies.
 *
 * Without Java or Maven the Kafka tests skip, naming what is missing; in CI (CI=true) they fail.
 * `kill()` / `restart()` stop the broker hard and start it again on the same ports and data.
 * The JVM dies with the test process (its wrapper shell watches our stdin).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createHook } from 'node:async_hooks'
import { createInterface } from 'node:readline'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import { freePort } from './ports.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
/** The Kafka version the tests run: the install script's default, or KAFKA_VERSION (see README, Kafka). */
export const KAFKA_VERSION = process.env.KAFKA_VERSION ?? /version=\$\{KAFKA_VERSION:-([^}]+)\}/.exec(readFileSync(join(ROOT, 'scripts', 'install-kafka.sh'), 'utf8'))![1]!

export interface KafkaBroker {
  readonly brokers: string[]
  readonly version: string
  createTopic(name: string, partitions: number): Promise<void>
  /** Grows a topic to `count` partitions. */
  addPartitions(topic: string, count: number): Promise<void>
  /** An admin client on this broker (connected; disconnected by stop()). */
  admin(): Promise<Admin>
  /** SIGKILL: the broker is gone, its ports closed, its data kept. */
  kill(): Promise<void>
  /** Starts the killed broker again on the same ports and data; resolves when it serves. */
  restart(): Promise<void>
  /** Stops the broker and deletes its data. */
  stop(): Promise<void>
}

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
}

const libsDir = (): string => join(ROOT, '.cache', 'kafka', KAFKA_VERSION, 'libs')
const installed = (): boolean => existsSync(join(ROOT, '.cache', 'kafka', KAFKA_VERSION, '.complete'))

let checked: string | false | undefined
/**
 * Why the Kafka tests cannot run here (a reason to skip), or false when they can. In CI this is
 * always false: a missing Java or Kafka must fail the run, not skip it.
 */
export function kafkaSkip(): string | false {
  if (checked !== undefined) return checked
  if (process.env.CI === 'true' || installed() && has('java', ['-version'])) return (checked = false)
  const missing = [has('java', ['-version']) ? undefined : 'java (17+)', installed() || has('mvn', ['-v']) ? undefined : 'mvn (Maven, to fetch Kafka from Maven Central)'].filter((m) => m !== undefined)
  checked = missing.length === 0 ? false : `Kafka tests skipped: ${missing.join(' and ')} not found; install them or run scripts/install-kafka.sh`
  if (checked !== false) process.stderr.write(`\n*** ${checked} ***\n\n`)
  return checked
}

function install(): void {
  if (!installed()) execFileSync('bash', [join(ROOT, 'scripts', 'install-kafka.sh')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KAFKA_VERSION } })
}


const jvm = (fast: boolean): string[] => [
  '-Xms256m', '-Xmx768m', '-XX:+UseSerialGC', '-Xshare:auto', '-XX:-UsePerfData', '-Djava.awt.headless=true',
  // The tests want a broker that starts fast; the benchmarks want one that runs fast.
  ...(fast ? ['-XX:TieredStopAtLevel=1'] : []),
  '-cp', `${libsDir()}/*`,
]

function properties(dataDir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'num.partitions=1',
    // A killed and restarted broker serves again after its old session expired.
    'broker.session.timeout.ms=2000',
    'broker.heartbeat.interval.ms=500',
    '',
  ].join('\n')
}

/** A storage folder formatted once per version (StorageTool format), copied for each broker. */
function template(): string {
  const dir = join(ROOT, '.cache', 'kafka', KAFKA_VERSION, 'formatted')
  if (existsSync(join(dir, 'meta.properties'))) return dir
  const work = mkdtempSync(join(tmpdir(), 'tsflink-kafka-format-'))
  try {
    const data = join(work, 'data')
    const conf = join(work, 'server.properties')
    writeFileSync(conf, properties(data, 9092, 9093))
    const clusterId = randomBytes(16).toString('base64url')
    execFileSync('java', [...jvm(true), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] })
    try {
      renameSync(data, dir)
    } catch (e) {
      if (!existsSync(join(dir, 'meta.properties'))) throw e // another test file won the race
    }
    return dir
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export async function startKafka(opts: { fast?: boolean } = {}): Promise<KafkaBroker> {
  install()
  const formatted = template()
  const home = mkdtempSync(join(tmpdir(), 'tsflink-kafka-'))
  const data = join(home, 'data')
  cpSync(formatted, data, { recursive: true })
  const [port, controllerPort] = [await freePort(), await freePort()]
  const conf = join(home, 'server.properties')
  writeFileSync(conf, properties(data, port, controllerPort))
  const brokers = [`127.0.0.1:${port}`]
  const args = [...jvm(opts.fast ?? true), 'kafka.Kafka', conf]

  let child: ChildProcess | undefined
  let javaPid = 0
  let output = ''
  const kill = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    try {
      process.kill(javaPid, 'SIGKILL')
    } catch {
      // already gone
    }
    await gone
    c.stdin!.end()
  }
  const launch = async (): Promise<void> => {
    // The wrapper kills the JVM when our end of its stdin closes (this process ended, however).
    const script = 'exec 3<&0; java "$@" </dev/null & pid=$!; echo "$pid"; { cat <&3 >/dev/null; kill -9 "$pid" 2>/dev/null; } & wait "$pid"'
    const c = spawn('bash', ['-c', script, 'kafka', ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    child = c
    c.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)))
    const lines = createInterface({ input: c.stdout! })
    javaPid = await new Promise<number>((ok, fail) => {
      lines.once('line', (l) => ok(Number(l)))
      c.once('exit', (code) => fail(new Error(`Kafka wrapper exited with ${code}`)))
    })
    lines.on('line', (l) => (output = (output + l + '\n').slice(-20_000)))
    const exited = new Promise<never>((_, fail) => c.once('exit', (code) => fail(new Error(`Kafka ${KAFKA_VERSION} exited with ${code} while starting:\n${output}`))))
    exited.catch(() => {})
    try {
      await Promise.race([ready(brokers), exited])
    } catch (e) {
      // A broker that did not come up must not outlive the failure (it would hold the test process).
      await kill()
      throw e
    }
  }
  await launch()

  const admins: Admin[] = []
  const admin = async (): Promise<Admin> => {
    const a = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin()
    await a.connect()
    admins.push(a)
    return a
  }
  let shared: Admin | undefined
  return {
    brokers,
    version: KAFKA_VERSION,
    async createTopic(name, partitions) {
      shared ??= await admin()
      // kafkajs's own wait for leaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy broker
      // answers for a while after the creation: served() waits for the partitions instead.
      await shared.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: false })
      await served(shared, name, partitions)
    },
    async addPartitions(topic, count) {
      shared ??= await admin()
      await shared.createPartitions({ topicPartitions: [{ topic, count }] })
      await served(shared, topic, count)
    },
    admin,
    kill,
    async restart() {
      await kill()
      await launch()
    },
    async stop() {
      // Bounded: a client still retrying against a broker that went away must not hold the test.
      for (const a of admins) await Promise.race([a.disconnect().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])
      await kill()
      rmSync(home, { recursive: true, force: true })
    },
  }
}

/** Waits (2 min at most, the machine may be busy) until every partition of `topic` answers offset requests. */
async function served(admin: Admin, topic: string, partitions: number): Promise<void> {
  const until = Date.now() + 120_000
  for (;;) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic)
      if (offsets.length === partitions) return
    } catch (e) {
      if (Date.now() > until) throw e
    }
    if (Date.now() > until) throw new Error(`topic ${topic}: ${partitions} partitions not served within 2 min`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Resolves once the broker answers metadata requests (3 min at most: a busy machine starts a JVM slowly). */
async function ready(brokers: string[]): Promise<void> {
  const until = Date.now() + 180_000
  for (;;) {
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 500 }).admin()
    try {
      await admin.connect()
      const { brokers: live } = await admin.describeCluster()
      if (live.length > 0) return
    } catch (e) {
      if (Date.now() > until) throw new Error(`Kafka ${KAFKA_VERSION} did not start within 3 min`, { cause: e })
    } finally {
      await admin.disconnect().catch(() => {})
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * Watches the timers and TCP sockets this process creates from now until `stop()`; `leftover()`
 * names those still alive and holding the event loop (ref'd), with where each was created: what
 * would keep a process that has nothing else to do from exiting.
 */
export function trackHandles(): { stop(): void; leftover(): string[] } {
  const live = new Map<number, { resource: { hasRef?: () => boolean }; type: string; stack: string }>()
  let recording = true
  const hook = createHook({
    init(asyncId, type, _trigger, resource) {
      if (!recording || (type !== 'Timeout' && type !== 'TCPWRAP')) return
      const stack = (new Error().stack ?? '').split('\n').slice(2).filter((l) => !l.includes('node:internal')).slice(0, 4).join(' <- ')
      live.set(asyncId, { resource: resource as { hasRef?: () => boolean }, type, stack })
    },
    destroy(asyncId) {
      live.delete(asyncId)
    },
  })
  hook.enable()
  return {
    stop: () => void (recording = false),
    leftover: () => {
      const out: string[] = []
      for (const { resource, type, stack } of live.values()) {
        const ref = typeof resource.hasRef === 'function' ? resource.hasRef() : true
        if (ref) out.push(`${type} from ${stack.trim()}`)
      }
      return out
    },
  }
}
