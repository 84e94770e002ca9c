/**
 * A Kafka source like Flink's KafkaSource, on kafkajs.
 *
 * Splits are partitions: { topic, partition, offset (next to read), stop (bounded end) }. Split j of
 * the sorted partition list goes to subtask j mod parallelism; the positions live in operator
 * state, so recovery, savepoints and rescaling resume exactly. Partitions that appear later are
 * picked up by the subtask that `owner()` names (the same on every subtask).
 *
 * kafkajs has no manual assignment: each reader joins a consumer group of its own, with an
 * assigner that hands it exactly its partitions, then seeks each to its position. Offsets are
 * committed to the configured group id only after a checkpoint completes, for monitoring; they
 * are never read back for recovery (only for a fresh start with `committedOffsets()`).
 * Tests: test/integration/kafka.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { AssignerProtocol, Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type PartitionAssigner } from 'kafkajs'
import { murmurHash, stringHash } from '../state/key-groups.js'
import { RateLimiterStrategy, type RateLimiter } from './rate-limiter.js'
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from './source.js'

export interface KafkaSplit {
  topic: string
  partition: number
  /** Next offset to read; null until the starting offsets are resolved. */
  offset: string | null
  /** Bounded reading stops before this offset; null for unbounded. */
  stop: string | null
}

export interface KafkaRecord {
  topic: string
  partition: number
  offset: string
  timestamp: number
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, unknown>
}

type Initializer =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'timestamp'; timestamp: number }
  | { kind: 'committed'; fallback: 'earliest' | 'latest' }

/** Where a fresh start begins (Flink's OffsetsInitializer). */
export const OffsetsInitializer = {
  earliest: (): Initializer => ({ kind: 'earliest' }),
  latest: (): Initializer => ({ kind: 'latest' }),
  timestamp: (timestamp: number): Initializer => ({ kind: 'timestamp', timestamp }),
  committedOffsets: (fallback: 'earliest' | 'latest' = 'earliest'): Initializer => ({ kind: 'committed', fallback }),
}

interface KafkaSourceConfig<T> {
  brokers: string[]
  topics: string[]
  /** Every topic whose name matches (also topics created later), instead of a fixed list. */
  topicPattern: RegExp | undefined
  groupId: string | undefined
  clientId: string
  starting: Initializer
  bounded: Initializer | undefined
  deserialize: (r: KafkaRecord) => T
  discoveryIntervalMs: number
  rateLimiter: RateLimiterStrategy
  /** Longest time a fetch waits for data (Kafka's fetch.max.wait.ms). */
  fetchMaxWaitMs: number
}

export class KafkaSourceBuilder<T> {
  private c: Partial<KafkaSourceConfig<T>> = {}

  setBootstrapServers(servers: string | string[]): this {
    this.c.brokers = parseBrokers(servers)
    return this
  }

  setTopics(...topics: string[]): this {
    this.c.topics = topics.flat()
    return this
  }

  /** Reads every topic whose name matches, including topics created while the job runs. */
  setTopicPattern(pattern: RegExp): this {
    this.c.topicPattern = pattern
    return this
  }

  setGroupId(groupId: string): this {
    this.c.groupId = groupId
    return this
  }

  setClientIdPrefix(prefix: string): this {
    this.c.clientId = prefix
    return this
  }

  setStartingOffsets(init: Initializer): this {
    this.c.starting = init
    return this
  }

  /** Reads up to the offsets `init` gives at the first start, then ends (a bounded source). */
  setBounded(init: Initializer): this {
    this.c.bounded = init
    return this
  }

  /** Record values as text (the default) or through your function. */
  setValueOnlyDeserializer<R>(fn: (value: Buffer | null) => R): KafkaSourceBuilder<R> {
    const next = this as unknown as KafkaSourceBuilder<R>
    next.c.deserialize = (r) => fn(r.value)
    return next
  }

  setDeserializer<R>(fn: (record: KafkaRecord) => R): KafkaSourceBuilder<R> {
    const next = this as unknown as KafkaSourceBuilder<R>
    next.c.deserialize = fn
    return next
  }

  /** Caps how fast the source reads (records per second across all subtasks), e.g. for a backfill. */
  setRateLimiter(strategy: RateLimiterStrategy): this {
    this.c.rateLimiter = strategy
    return this
  }

  /** Flink's and Kafka's property names: partition.discovery.interval.ms, fetch.max.wait.ms. */
  setProperty(key: string, value: string): this {
    if (key === 'partition.discovery.interval.ms') this.c.discoveryIntervalMs = Number(value)
    else if (key === 'fetch.max.wait.ms') this.c.fetchMaxWaitMs = Number(value)
    else throw new Error(`KafkaSource: unsupported property '${key}' (supported: partition.discovery.interval.ms, fetch.max.wait.ms)`)
    return this
  }

  build(): KafkaSource<T> {
    const c = this.c
    if (c.brokers === undefined || c.brokers.length === 0) throw new Error('KafkaSource: setBootstrapServers is required')
    if ((c.topics === undefined || c.topics.length === 0) && c.topicPattern === undefined) throw new Error('KafkaSource: setTopics or setTopicPattern is required')
    return new KafkaSource<T>({
      brokers: c.brokers,
      topics: c.topics ?? [],
      topicPattern: c.topicPattern,
      groupId: c.groupId,
      clientId: c.clientId ?? 'tsflink',
      starting: c.starting ?? OffsetsInitializer.earliest(),
      bounded: c.bounded,
      deserialize: c.deserialize ?? ((r: KafkaRecord) => (r.value === null ? null : r.value.toString('utf8')) as T),
      discoveryIntervalMs: c.discoveryIntervalMs ?? 5000,
      rateLimiter: c.rateLimiter ?? RateLimiterStrategy.noOp(),
      fetchMaxWaitMs: c.fetchMaxWaitMs ?? 500,
    })
  }
}

/** `host:port,host:port` or a list, as Kafka clients take bootstrap servers. */
export function parseBrokers(servers: string | string[]): string[] {
  return (typeof servers === 'string' ? servers.split(',') : servers).map((s) => s.trim()).filter((s) => s !== '')
}

const splitKey = (topic: string, partition: number): string => `${topic}:${partition}`
const quiet = { logLevel: logLevel.NOTHING }

/** Every partition of the source's topics (the fixed list, or all topics matching the pattern), sorted. */
async function fetchPartitions(admin: Admin, config: KafkaSourceConfig<unknown>): Promise<{ topic: string; partition: number }[]> {
  const names = config.topicPattern === undefined ? config.topics : (await admin.listTopics()).filter((t) => config.topicPattern!.test(t))
  if (names.length === 0) return []
  const { topics } = await admin.fetchTopicMetadata({ topics: names })
  const out: { topic: string; partition: number }[] = []
  for (const t of topics) for (const p of t.partitions) out.push({ topic: t.name, partition: p.partitionId })
  return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
}

/** The subtask that takes a partition discovered while running. */
export function owner(topic: string, partition: number, parallelism: number): number {
  return murmurHash(stringHash(splitKey(topic, partition))) % parallelism
}

export class KafkaSource<T> implements Source<T, KafkaSplit> {
  readonly boundedness: 'BOUNDED' | 'CONTINUOUS_UNBOUNDED'

  constructor(readonly config: KafkaSourceConfig<T>) {
    this.boundedness = config.bounded === undefined ? 'CONTINUOUS_UNBOUNDED' : 'BOUNDED'
  }

  static builder<T = string>(): KafkaSourceBuilder<T> {
    return new KafkaSourceBuilder<T>()
  }

  async createSplits(): Promise<KafkaSplit[]> {
    const admin = new Kafka({ brokers: this.config.brokers, clientId: this.config.clientId, ...quiet }).admin()
    await admin.connect()
    try {
      return (await fetchPartitions(admin, this.config as KafkaSourceConfig<unknown>)).map((p) => ({ ...p, offset: null, stop: null }))
    } finally {
      await admin.disconnect()
    }
  }

  createReader(ctx: SourceReaderContext): SourceReader<T, KafkaSplit> {
    return new KafkaReader(this.config, ctx)
  }
}

type Buffered =
  | { key: string; message: KafkaMessage; topic: string; partition: number; advanceTo?: undefined }
  /** The consumer moved past `advanceTo - 1` (e.g. over transaction markers, which carry no record). */
  | { key: string; advanceTo: string; message?: undefined; topic?: undefined; partition?: undefined }

const BUFFER_LIMIT = 20_000

class KafkaReader<T> implements SourceReader<T, KafkaSplit> {
  private readonly splits = new Map<string, KafkaSplit>()
  private readonly kafka: Kafka
  private admin: Admin | undefined
  private consumer: Consumer | undefined
  private buffer: Buffered[] = []
  private head = 0
  private waiting: (() => void) | undefined
  private space: (() => void) | undefined
  private failure: unknown
  private closed = false
  private discovery: NodeJS.Timeout | undefined
  private readonly committed = new Map<number, KafkaSplit[]>()
  private readonly limiter: RateLimiter
  /** Partitions that existed when this reader started (owned by some subtask). */
  private readonly known = new Set<string>()

  constructor(
    private readonly config: KafkaSourceConfig<T>,
    private readonly ctx: SourceReaderContext,
  ) {
    this.kafka = new Kafka({ brokers: config.brokers, clientId: `${config.clientId}-${ctx.subtask}`, ...quiet })
    this.limiter = config.rateLimiter.forSubtask(ctx.parallelism, ctx.clock)
  }

  addSplits(splits: KafkaSplit[]): void {
    for (const s of splits) this.splits.set(splitKey(s.topic, s.partition), { ...s })
  }

  async start(): Promise<void> {
    this.admin = this.kafka.admin()
    await this.admin.connect()
    // Partitions that exist now belong to some subtask already; discovery takes only newer ones.
    for (const p of await fetchPartitions(this.admin, this.config as KafkaSourceConfig<unknown>)) this.known.add(splitKey(p.topic, p.partition))
    await this.resolveOffsets([...this.splits.values()])
    await this.startConsumer()
    if (this.config.bounded === undefined && this.config.discoveryIntervalMs > 0) {
      this.discovery = setInterval(() => void this.discover().catch((e: unknown) => (this.failure = e)), this.config.discoveryIntervalMs)
      this.discovery.unref()
    }
  }

  private async offsetsFor(topic: string, init: Initializer): Promise<Map<number, string>> {
    const admin = this.admin!
    const out = new Map<number, string>()
    const ends = await admin.fetchTopicOffsets(topic)
    if (init.kind === 'earliest' || init.kind === 'latest') {
      for (const e of ends) out.set(e.partition, init.kind === 'earliest' ? e.low : e.high)
    } else if (init.kind === 'timestamp') {
      for (const e of await admin.fetchTopicOffsetsByTimestamp(topic, init.timestamp)) out.set(e.partition, e.offset)
    } else {
      const fallback = new Map(ends.map((e) => [e.partition, init.fallback === 'earliest' ? e.low : e.high]))
      const committed = this.config.groupId === undefined ? [] : await admin.fetchOffsets({ groupId: this.config.groupId, topics: [topic] })
      for (const [p, f] of fallback) out.set(p, f)
      for (const t of committed) for (const p of t.partitions) if (Number(p.offset) >= 0) out.set(p.partition, p.offset)
    }
    return out
  }

  private async resolveOffsets(splits: KafkaSplit[]): Promise<void> {
    for (const topic of new Set(splits.filter((s) => s.offset === null || (this.config.bounded !== undefined && s.stop === null)).map((s) => s.topic))) {
      const start = await this.offsetsFor(topic, this.config.starting)
      const stop = this.config.bounded === undefined ? undefined : await this.offsetsFor(topic, this.config.bounded)
      for (const s of splits) {
        if (s.topic !== topic) continue
        if (s.offset === null) s.offset = start.get(s.partition) ?? '0'
        if (stop !== undefined && s.stop === null) s.stop = stop.get(s.partition) ?? s.offset
      }
    }
  }

  private unfinished(): KafkaSplit[] {
    return [...this.splits.values()].filter((s) => s.stop === null || BigInt(s.offset!) < BigInt(s.stop))
  }

  private async startConsumer(): Promise<void> {
    const owned = this.unfinished()
    if (owned.length === 0) return
    const assignment: Record<string, number[]> = {}
    for (const s of owned) (assignment[s.topic] ??= []).push(s.partition)
    const assigner: PartitionAssigner = () => ({
      name: 'TsflinkOwnedPartitions',
      version: 1,
      async assign({ members }) {
        return members.map((m, i) => ({
          memberId: m.memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: i === 0 ? assignment : {}, userData: Buffer.alloc(0) }),
        }))
      },
      protocol({ topics }) {
        return { name: 'TsflinkOwnedPartitions', metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }) }
      },
    })
    const consumer = this.kafka.consumer({
      groupId: `tsflink-reader-${randomBytes(8).toString('hex')}`,
      partitionAssigners: [assigner],
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxWaitTimeInMs: this.config.fetchMaxWaitMs,
    })
    this.consumer = consumer
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { topic, partition, lastOffset } = e.payload as { topic: string; partition: number; lastOffset: string }
      this.buffer.push({ key: splitKey(topic, partition), advanceTo: (BigInt(lastOffset) + 1n).toString() })
      this.wake()
    })
    await consumer.connect()
    await consumer.subscribe({ topics: Object.keys(assignment), fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        const key = splitKey(batch.topic, batch.partition)
        for (const message of batch.messages) this.buffer.push({ key, message, topic: batch.topic, partition: batch.partition })
        this.wake()
        while (this.buffer.length - this.head > BUFFER_LIMIT && isRunning() && !this.closed) {
          await new Promise<void>((r) => {
            this.space = r
            setTimeout(r, 1000).unref()
          })
          await heartbeat()
        }
      },
    })
    for (const s of owned) consumer.seek({ topic: s.topic, partition: s.partition, offset: s.offset! })
  }

  private wake(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  pollNext(output: ReaderOutput<T>, max: number): InputStatus {
    if (this.failure !== undefined) throw this.failure
    let n = 0
    const deserialize = this.config.deserialize
    const allowed = this.limiter.take(Math.min(max, this.buffer.length - this.head))
    while (n < allowed && this.head < this.buffer.length) {
      const b = this.buffer[this.head++]!
      const split = this.splits.get(b.key)
      if (split === undefined) continue
      if (b.advanceTo !== undefined) {
        if (BigInt(b.advanceTo) > BigInt(split.offset!)) split.offset = split.stop !== null && BigInt(b.advanceTo) > BigInt(split.stop) ? split.stop : b.advanceTo
        continue
      }
      const offset = BigInt(b.message.offset)
      if (offset < BigInt(split.offset!)) continue // before the position (a seek not yet applied)
      if (split.stop !== null && offset >= BigInt(split.stop)) continue
      split.offset = (offset + 1n).toString()
      const m = b.message
      output.collect(deserialize({ topic: b.topic, partition: b.partition, offset: m.offset, timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers ?? {} }), Number(m.timestamp))
      n++
    }
    if (this.head >= this.buffer.length) {
      this.buffer = []
      this.head = 0
    } else if (this.head > 4096) {
      this.buffer = this.buffer.slice(this.head)
      this.head = 0
    }
    if (this.buffer.length - this.head <= BUFFER_LIMIT) {
      const s = this.space
      this.space = undefined
      s?.()
    }
    this.limiter.giveBack(allowed - n)
    if (this.config.bounded !== undefined && this.unfinished().length === 0) return 'END_OF_INPUT'
    if (this.head < this.buffer.length) return this.limiter.limited ? 'NOTHING_AVAILABLE' : 'MORE_AVAILABLE'
    return 'NOTHING_AVAILABLE'
  }

  isAvailable(): Promise<void> {
    if (this.failure !== undefined) return Promise.resolve()
    if (this.head < this.buffer.length) return this.limiter.available()
    return new Promise((r) => {
      this.waiting = r
      // Wake up now and then, so that the end of bounded input and failures are noticed.
      setTimeout(() => this.wake(), 200).unref()
    })
  }

  snapshotState(checkpointId: number): KafkaSplit[] {
    const splits = [...this.splits.values()].map((s) => ({ ...s }))
    this.committed.set(checkpointId, splits)
    return splits
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    const splits = this.committed.get(checkpointId)
    for (const id of [...this.committed.keys()]) if (id <= checkpointId) this.committed.delete(id)
    if (splits === undefined || this.config.groupId === undefined || this.admin === undefined) return
    const byTopic = new Map<string, { partition: number; offset: string }[]>()
    for (const s of splits) if (s.offset !== null) (byTopic.get(s.topic) ?? byTopic.set(s.topic, []).get(s.topic)!).push({ partition: s.partition, offset: s.offset })
    // For monitoring only: a failure here never fails the job.
    for (const [topic, partitions] of byTopic) await this.admin.setOffsets({ groupId: this.config.groupId, topic, partitions }).catch(() => {})
  }

  /** New partitions of the topics go to the subtask `owner()` names. */
  private async discover(): Promise<void> {
    if (this.closed || this.admin === undefined) return
    const fresh: KafkaSplit[] = []
    for (const p of await fetchPartitions(this.admin, this.config as KafkaSourceConfig<unknown>)) {
      const key = splitKey(p.topic, p.partition)
      if (this.splits.has(key) || this.known.has(key)) continue
      this.known.add(key)
      if (owner(p.topic, p.partition, this.ctx.parallelism) === this.ctx.subtask) fresh.push({ ...p, offset: null, stop: null })
    }
    if (fresh.length === 0) return
    const earliest: Initializer = { kind: 'earliest' }
    for (const s of fresh) {
      s.offset = (await this.offsetsFor(s.topic, earliest)).get(s.partition) ?? '0'
      this.splits.set(splitKey(s.topic, s.partition), s)
    }
    await this.consumer?.disconnect()
    this.consumer = undefined
    // Records of the old consumer still buffered are kept; positions filter out any repeats.
    await this.startConsumer()
  }


  async close(): Promise<void> {
    this.closed = true
    if (this.discovery !== undefined) clearInterval(this.discovery)
    this.space?.()
    await this.consumer?.disconnect().catch(() => {})
    await this.admin?.disconnect().catch(() => {})
  }
}
