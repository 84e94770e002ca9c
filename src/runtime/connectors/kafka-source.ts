/**
 * A Kafka source like Flink's KafkaSource, on kafkajs.
 *
 * Splits are partitions: { topic, partition, offset (next to read), stop (bounded end) }. A
 * partition belongs to the subtask `owner()` names (Flink's KafkaSourceEnumerator.getSplitOwner);
 * every reader is handed every split (`readersPickSplits`), fresh or restored, keeps its own and
 * remembers the rest as known. The splits live in operator state, so the checkpoint holds the
 * whole assignment (as Flink's enumerator state does): a partition missing from it appeared after
 * that checkpoint (while the job ran, or while it was stopped) and is read from its earliest
 * offset by its owner, found by the discovery that runs at start and every
 * `partition.discovery.interval.ms`. Recovery, savepoint restores and rescaling resume exactly.
 *
 * kafkajs has no manual assignment: each reader joins a consumer group of its own, with an
 * assigner that hands it exactly its partitions, then seeks each to its position. Offsets are
 * committed to the configured group id only after a checkpoint completes, for monitoring; they
 * are never read back for recovery (only for a fresh start with `committedOffsets()`).
 *
 * Hot path: the consumer's fetch loop hands each decoded batch over whole (the buffer holds at most
 * BUFFER_LIMIT records, then the fetch loop waits); the task's bounded steps emit from it, a batch
 * inside a partition's range without per-record offset checks. Start and stop offsets are listed at
 * the source's isolation level (the end is the high watermark or the last stable offset).
 * Tests: test/integration/kafka-source.test.ts, test/integration/kafka.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { AssignerProtocol, type Admin, type Consumer, type KafkaMessage, type PartitionAssigner } from 'kafkajs'
import { stringHash } from '../core/key-groups.js'
import { KafkaClient } from './kafka-client.js'
import { fixReadCommitted } from './kafka-read-committed.js'
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

/** What to do where a committed or given offset is missing or out of range (Kafka's auto.offset.reset). */
export const OffsetResetStrategy = {
  EARLIEST: 'earliest',
  LATEST: 'latest',
  NONE: 'none',
} as const
export type OffsetResetStrategy = (typeof OffsetResetStrategy)[keyof typeof OffsetResetStrategy]

/** A topic partition and its offset, for `OffsetsInitializer.offsets`. */
export interface TopicPartitionOffset {
  topic: string
  partition: number
  offset: number | bigint | string
}

type Initializer =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'timestamp'; timestamp: number }
  | { kind: 'committed'; reset: OffsetResetStrategy }
  | { kind: 'specific'; offsets: Map<string, string>; reset: OffsetResetStrategy }

/** Where reading starts on a fresh start, or stops in bounded mode (Flink's OffsetsInitializer). */
export const OffsetsInitializer = {
  earliest: (): Initializer => ({ kind: 'earliest' }),
  latest: (): Initializer => ({ kind: 'latest' }),
  /** The first offset whose record timestamp is >= `timestamp` (ms), or the end if there is none. */
  timestamp: (timestamp: number): Initializer => ({ kind: 'timestamp', timestamp }),
  /** The group's committed offsets (setGroupId); where there is none, or it is out of range, `reset`. */
  committedOffsets: (reset: OffsetResetStrategy = 'none'): Initializer => ({ kind: 'committed', reset }),
  /** Given offsets per partition; partitions not given, or given out of range, use `reset`. */
  offsets: (offsets: TopicPartitionOffset[], reset: OffsetResetStrategy = 'earliest'): Initializer => ({
    kind: 'specific',
    offsets: new Map(offsets.map((o) => [splitKey(o.topic, o.partition), BigInt(o.offset).toString()])),
    reset,
  }),
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
  /** Set when only the value is deserialized: the reader then builds no KafkaRecord per record. */
  deserializeValue: ((value: Buffer | null) => T) | undefined
  discoveryIntervalMs: number
  rateLimiter: RateLimiterStrategy
  /** Longest time a fetch waits for data (Kafka's fetch.max.wait.ms). */
  fetchMaxWaitMs: number
  /** isolation.level: read_committed (kafkajs's default, and ours) skips aborted transactions. */
  readCommitted: boolean
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
    next.c.deserializeValue = fn
    return next
  }

  setDeserializer<R>(fn: (record: KafkaRecord) => R): KafkaSourceBuilder<R> {
    const next = this as unknown as KafkaSourceBuilder<R>
    next.c.deserialize = fn
    next.c.deserializeValue = undefined
    return next
  }

  /** Caps how fast the source reads (records per second across all subtasks), e.g. for a backfill. */
  setRateLimiter(strategy: RateLimiterStrategy): this {
    this.c.rateLimiter = strategy
    return this
  }

  /** Flink's and Kafka's property names: partition.discovery.interval.ms, fetch.max.wait.ms, isolation.level. */
  setProperty(key: string, value: string): this {
    const ms = (): number => {
      const n = Number(value)
      if (value.trim() === '' || !Number.isInteger(n)) throw new Error(`KafkaSource: ${key} must be a whole number of milliseconds, not '${value}'`)
      return n
    }
    if (key === 'partition.discovery.interval.ms') this.c.discoveryIntervalMs = ms()
    else if (key === 'fetch.max.wait.ms') this.c.fetchMaxWaitMs = ms()
    else if (key === 'isolation.level' && (value === 'read_committed' || value === 'read_uncommitted')) this.c.readCommitted = value === 'read_committed'
    else if (key === 'isolation.level') throw new Error(`KafkaSource: isolation.level must be read_committed or read_uncommitted, not '${value}'`)
    else throw new Error(`KafkaSource: unsupported property '${key}' (supported: partition.discovery.interval.ms, fetch.max.wait.ms, isolation.level)`)
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
      deserialize: c.deserialize ?? ((r: KafkaRecord) => utf8(r.value) as T),
      deserializeValue: c.deserialize === undefined ? (utf8 as (v: Buffer | null) => T) : c.deserializeValue,
      discoveryIntervalMs: c.discoveryIntervalMs ?? 5000,
      rateLimiter: c.rateLimiter ?? RateLimiterStrategy.noOp(),
      fetchMaxWaitMs: c.fetchMaxWaitMs ?? 500,
      readCommitted: c.readCommitted ?? true,
    })
  }
}

const utf8 = (value: Buffer | null): string | null => (value === null ? null : value.toString('utf8'))

/** `host:port,host:port` or a list, as Kafka clients take bootstrap servers. */
export function parseBrokers(servers: string | string[]): string[] {
  return (typeof servers === 'string' ? servers.split(',') : servers).map((s) => s.trim()).filter((s) => s !== '')
}

const splitKey = (topic: string, partition: number): string => `${topic}:${partition}`

/** Every partition of the source's topics (the fixed list, or all topics matching the pattern), sorted. */
async function fetchPartitions(admin: Admin, config: KafkaSourceConfig<unknown>): Promise<{ topic: string; partition: number }[]> {
  const names = config.topicPattern === undefined ? config.topics : (await admin.listTopics()).filter((t) => config.topicPattern!.test(t))
  if (names.length === 0) return []
  const { topics } = await admin.fetchTopicMetadata({ topics: names })
  const out: { topic: string; partition: number }[] = []
  for (const t of topics) for (const p of t.partitions) out.push({ topic: t.name, partition: p.partitionId })
  return out.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
}

/**
 * The subtask that reads a partition: Flink's KafkaSourceEnumerator.getSplitOwner, so that a
 * topic's partitions are spread round-robin from a start that depends on the topic's name.
 */
export function owner(topic: string, partition: number, parallelism: number): number {
  const start = (Math.imul(stringHash(topic), 31) & 0x7fffffff) % parallelism
  return (start + partition) % parallelism
}

export class KafkaSource<T> implements Source<T, KafkaSplit> {
  readonly boundedness: 'BOUNDED' | 'CONTINUOUS_UNBOUNDED'
  readonly readersPickSplits = true

  constructor(readonly config: KafkaSourceConfig<T>) {
    this.boundedness = config.bounded === undefined ? 'CONTINUOUS_UNBOUNDED' : 'BOUNDED'
  }

  static builder<T = string>(): KafkaSourceBuilder<T> {
    return new KafkaSourceBuilder<T>()
  }

  async createSplits(): Promise<KafkaSplit[]> {
    const client = new KafkaClient(this.config.brokers, this.config.clientId)
    const admin = client.kafka.admin()
    try {
      await admin.connect()
      return (await fetchPartitions(admin, this.config as KafkaSourceConfig<unknown>)).map((p) => ({ ...p, offset: null, stop: null }))
    } finally {
      await admin.disconnect().catch(() => {})
      client.close()
    }
  }

  createReader(ctx: SourceReaderContext): SourceReader<T, KafkaSplit> {
    return new KafkaReader(this.config, ctx)
  }
}

/**
 * What the consumer handed over, in order: a fetched batch of one partition as kafkajs decoded it
 * (records from `next` on are still to emit; offsets increase, maybe with gaps), or a move of the
 * position over offsets that carry no record.
 */
type Buffered =
  | { key: string; messages: KafkaMessage[]; next: number; topic: string; partition: number; advanceTo?: undefined }
  /** The consumer moved past `advanceTo - 1` (e.g. over transaction markers, which carry no record). */
  | { key: string; advanceTo: string; messages?: undefined; next?: undefined; topic?: undefined; partition?: undefined }

const BUFFER_LIMIT = 20_000
/** Restarts in a row of a consumer that crashed on retriable errors, before the reader fails. */
const CONSUMER_RESTARTS = 5
/** How long a checkpoint's notification waits for its group offset commit (which goes on after). */
const COMMIT_WAIT_MS = 10_000

class KafkaReader<T> implements SourceReader<T, KafkaSplit> {
  private readonly splits = new Map<string, KafkaSplit>()
  private admin: Admin | undefined
  private adminOps = 0
  private readonly client: KafkaClient
  private readonly adminClient: KafkaClient
  private consumer: Consumer | undefined
  private buffer: Buffered[] = []
  private head = 0
  /** Records in the buffer not yet emitted or skipped. */
  private buffered = 0
  private waiting: (() => void) | undefined
  private space: (() => void) | undefined
  private failure: unknown
  private closed = false
  private discovery: NodeJS.Timeout | undefined
  private readonly committed = new Map<number, KafkaSplit[]>()
  private readonly limiter: RateLimiter
  /** Every partition of the assignment (this reader's and the others'): what discovery need not take. */
  private readonly known = new Set<string>()
  private discoveryFailures = 0
  /** Restarts of the consumer since it last delivered a batch. */
  private consumerRestarts = 0

  constructor(
    private readonly config: KafkaSourceConfig<T>,
    private readonly ctx: SourceReaderContext,
  ) {
    if (config.readCommitted) fixReadCommitted()
    this.client = new KafkaClient(config.brokers, `${config.clientId}-${ctx.subtask}`)
    this.adminClient = new KafkaClient(config.brokers, `${config.clientId}-${ctx.subtask}-admin`)
    this.limiter = config.rateLimiter.forSubtask(ctx.parallelism, ctx.clock)
  }

  /** Every split of the assignment: keeps those `owner()` gives this subtask, knows the rest. */
  addSplits(splits: KafkaSplit[]): void {
    const { subtask, parallelism } = this.ctx
    for (const s of splits) {
      const key = splitKey(s.topic, s.partition)
      this.known.add(key)
      if (owner(s.topic, s.partition, parallelism) === subtask) this.splits.set(key, { ...s })
    }
  }

  async start(): Promise<void> {
    this.admin = this.adminClient.kafka.admin()
    await this.withAdmin((a) => a.connect())
    if (this.closed) return
    await this.resolveOffsets([...this.splits.values()])
    if (this.config.bounded === undefined && this.config.discoveryIntervalMs >= 0) {
      // Partitions that appeared since the assignment was made (e.g. while the job was stopped).
      await this.discover(false)
    }
    await this.startConsumer()
    if (this.config.bounded === undefined && this.config.discoveryIntervalMs > 0) {
      this.discovery = setInterval(() => void this.discover(true).then(
        () => (this.discoveryFailures = 0),
        (e: unknown) => {
          // A broker that is briefly away is not a reason to fail; five failures in a row are.
          if (++this.discoveryFailures >= 5) this.failure = e
        },
      ), this.config.discoveryIntervalMs)
      this.discovery.unref()
    }
  }

  /**
   * Runs an admin request. kafkajs reconnects for a request still retrying after disconnect(), so
   * the last request to end after close() disconnects again: a closed reader holds no connection.
   */
  private async withAdmin<R>(fn: (admin: Admin) => Promise<R>): Promise<R> {
    const admin = this.admin
    if (this.closed || admin === undefined) throw new Error('KafkaSource: the reader is closed')
    this.adminOps++
    try {
      return await fn(admin)
    } finally {
      if (--this.adminOps === 0 && this.closed) void admin.disconnect().catch(() => {})
    }
  }

  private offsetsFor(topic: string, init: Initializer, stop = false): Promise<Map<number, string>> {
    return this.withAdmin((admin) => this.offsetsWith(admin, topic, init, stop))
  }

  /**
   * The offsets `init` names in each partition of `topic`, as Flink's KafkaSource resolves them
   * through a consumer of the source's isolation level: the end of a partition ("latest", and
   * where a timestamp finds nothing) is the high watermark for read_uncommitted and the last
   * stable offset for read_committed (records of a transaction still open are read once it
   * commits, not skipped). A committed or given offset to start from is in range anywhere in the
   * log; a given offset to stop at (`stop`) is taken as it is, also beyond the end (as Flink's
   * SpecifiedOffsetsInitializer does): reading stops there once the records up to it arrived.
   */
  private async offsetsWith(admin: Admin, topic: string, init: Initializer, stop: boolean): Promise<Map<number, string>> {
    const list = (at: number, readCommitted = this.config.readCommitted): Promise<Map<number, string>> => this.adminClient.listOffsets(topic, at, readCommitted)
    const [EARLIEST, LATEST] = [-2, -1]
    if (init.kind === 'earliest') return list(EARLIEST)
    if (init.kind === 'latest') return list(LATEST)
    if (init.kind === 'timestamp') {
      const found = await list(init.timestamp)
      const ends = await list(LATEST)
      return new Map([...found].map(([p, o]) => [p, BigInt(o) >= 0n ? o : ends.get(p)!]))
    }
    const [low, high, end] = await Promise.all([list(EARLIEST), list(LATEST, false), list(LATEST)])
    const given = new Map<number, string>()
    if (init.kind === 'specific') {
      for (const p of low.keys()) {
        const o = init.offsets.get(splitKey(topic, p))
        if (o !== undefined) given.set(p, o)
      }
    } else {
      if (this.config.groupId === undefined) throw new Error('KafkaSource: committedOffsets() needs setGroupId')
      for (const t of await admin.fetchOffsets({ groupId: this.config.groupId, topics: [topic] })) {
        for (const p of t.partitions) if (BigInt(p.offset) >= 0n) given.set(p.partition, p.offset)
      }
    }
    const out = new Map<number, string>()
    for (const [p, l] of low) {
      const o = given.get(p)
      const h = high.get(p)!
      if (o !== undefined && (init.kind === 'specific' && stop || BigInt(o) >= BigInt(l) && BigInt(o) <= BigInt(h))) out.set(p, o)
      else if (init.reset === 'earliest') out.set(p, l)
      else if (init.reset === 'latest') out.set(p, end.get(p)!)
      else {
        const what = o === undefined ? (init.kind === 'committed' ? 'no committed offset' : 'no offset given') : `offset ${o} is out of range [${l}, ${h}]`
        throw new Error(`KafkaSource: ${topic}-${p} has ${what} and the reset strategy is NONE`)
      }
    }
    return out
  }

  private async resolveOffsets(splits: KafkaSplit[]): Promise<void> {
    for (const topic of new Set(splits.filter((s) => s.offset === null || (this.config.bounded !== undefined && s.stop === null)).map((s) => s.topic))) {
      const start = await this.offsetsFor(topic, this.config.starting)
      const stop = this.config.bounded === undefined ? undefined : await this.offsetsFor(topic, this.config.bounded, true)
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
    if (this.closed) return
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
    const consumer = this.client.kafka.consumer({
      groupId: `tsflink-reader-${randomBytes(8).toString('hex')}`,
      partitionAssigners: [assigner],
      allowAutoTopicCreation: false,
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxWaitTimeInMs: this.config.fetchMaxWaitMs,
      readUncommitted: !this.config.readCommitted,
      // kafkajs restarts a consumer that crashed on a retriable error (a busy or restarting broker:
      // a group join or fetch that timed out), a few times in a row at most and never after
      // close(); then, or on any other error, the reader fails and the job fails over per its
      // restart strategy.
      retry: { restartOnFailure: async () => !this.closed && this.consumer === consumer && ++this.consumerRestarts <= CONSUMER_RESTARTS },
    })
    this.consumer = consumer
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: unknown; restart: boolean }
      if (!restart && !this.closed && this.consumer === consumer) this.failure ??= error
    })
    // Positions are set on every join: after a restart the consumer would start over from the
    // earliest offsets (the records before a position are skipped in pollNext anyway).
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (this.consumer === consumer && !this.closed) this.seekOwned(consumer)
    })
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const { topic, partition, lastOffset } = e.payload as { topic: string; partition: number; lastOffset: string }
      this.buffer.push({ key: splitKey(topic, partition), advanceTo: (BigInt(lastOffset) + 1n).toString() })
      this.wake()
    })
    await consumer.connect()
    // close() may have come while connecting: it disconnected this consumer; do not revive it.
    if (this.closed) return void (await consumer.disconnect().catch(() => {}))
    await consumer.subscribe({ topics: Object.keys(assignment), fromBeginning: true })
    if (this.closed) return void (await consumer.disconnect().catch(() => {}))
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isRunning }) => {
        this.consumerRestarts = 0
        if (batch.messages.length > 0) {
          this.buffer.push({ key: splitKey(batch.topic, batch.partition), messages: batch.messages, next: 0, topic: batch.topic, partition: batch.partition })
          this.buffered += batch.messages.length
        }
        this.wake()
        while (this.buffered > BUFFER_LIMIT && isRunning() && !this.closed) {
          await new Promise<void>((r) => {
            this.space = r
            setTimeout(r, 1000).unref()
          })
          await heartbeat()
        }
      },
    })
    if (this.closed) return void (await consumer.disconnect().catch(() => {}))
    this.seekOwned(consumer)
  }

  /** Seeks every unfinished partition of this reader to its position (unless the consumer is restarting). */
  private seekOwned(consumer: Consumer): void {
    try {
      for (const s of this.unfinished()) consumer.seek({ topic: s.topic, partition: s.partition, offset: s.offset! })
    } catch {
      // The consumer crashed and is not running: its restart joins again and seeks then (or the
      // crash fails the reader).
    }
  }

  private wake(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  /**
   * Emits up to `max` buffered records. A batch whose records all lie between the split's position
   * and its stop is emitted without a per-record check, and the position moves once per batch; a
   * batch that straddles either (a seek not yet applied, the bounded end) is checked record by record.
   */
  pollNext(output: ReaderOutput<T>, max: number): InputStatus {
    if (this.failure !== undefined) throw this.failure
    let n = 0
    const allowed = this.limiter.take(Math.min(max, this.buffered))
    // Moves of the position are taken even when no record may go (they emit nothing, and may be
    // all that is left before the end of bounded input).
    while (this.head < this.buffer.length) {
      const b = this.buffer[this.head]!
      const split = this.splits.get(b.key)
      if (b.advanceTo === undefined && n >= allowed) break
      if (b.advanceTo !== undefined) {
        this.head++
        if (split !== undefined && BigInt(b.advanceTo) > BigInt(split.offset!)) split.offset = split.stop !== null && BigInt(b.advanceTo) > BigInt(split.stop) ? split.stop : b.advanceTo
        continue
      }
      const messages = b.messages
      let i = b.next
      if (split === undefined) {
        this.buffered -= messages.length - i
        this.head++
        continue
      }
      const end = Math.min(messages.length, i + allowed - n)
      const last = BigInt(messages[end - 1]!.offset)
      if (BigInt(messages[i]!.offset) >= BigInt(split.offset!) && (split.stop === null || last < BigInt(split.stop))) {
        for (; i < end; i++) this.emit(output, b.topic, b.partition, messages[i]!)
        split.offset = (last + 1n).toString()
        n += end - b.next
      } else {
        for (; i < messages.length && n < allowed; i++) {
          const offset = BigInt(messages[i]!.offset)
          if (offset < BigInt(split.offset!)) continue // before the position (a seek not yet applied)
          if (split.stop !== null && offset >= BigInt(split.stop)) continue
          split.offset = (offset + 1n).toString()
          this.emit(output, b.topic, b.partition, messages[i]!)
          n++
        }
      }
      this.buffered -= i - b.next
      b.next = i
      if (i === messages.length) this.head++
    }
    if (this.head >= this.buffer.length) {
      this.buffer = []
      this.head = 0
    } else if (this.head > 4096) {
      this.buffer = this.buffer.slice(this.head)
      this.head = 0
    }
    if (this.buffered <= BUFFER_LIMIT) {
      const s = this.space
      this.space = undefined
      s?.()
    }
    this.limiter.giveBack(allowed - n)
    if (this.config.bounded !== undefined && this.unfinished().length === 0) return 'END_OF_INPUT'
    if (this.head < this.buffer.length) return this.limiter.limited ? 'NOTHING_AVAILABLE' : 'MORE_AVAILABLE'
    return 'NOTHING_AVAILABLE'
  }

  private emit(output: ReaderOutput<T>, topic: string, partition: number, m: KafkaMessage): void {
    const timestamp = Number(m.timestamp)
    const valueOnly = this.config.deserializeValue
    output.collect(
      valueOnly !== undefined
        ? valueOnly(m.value)
        : this.config.deserialize({ topic, partition, offset: m.offset, timestamp, key: m.key, value: m.value, headers: m.headers ?? {} }),
      timestamp,
    )
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
    if (splits === undefined || this.config.groupId === undefined || this.closed) return
    const byTopic = new Map<string, { partition: number; offset: string }[]>()
    for (const s of splits) if (s.offset !== null) (byTopic.get(s.topic) ?? byTopic.set(s.topic, []).get(s.topic)!).push({ partition: s.partition, offset: s.offset })
    if (byTopic.size === 0) return
    const offsets = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
    // For monitoring only: a failure here never fails the job, and never holds it up for long (the
    // task waits for its notifications, e.g. before a finished job ends). One commit at a time, in
    // checkpoint order.
    const groupId = this.config.groupId
    const commit = this.commits.then(() => (this.closed ? undefined : this.adminClient.commitGroupOffsets(groupId, offsets)))
    this.commits = commit.catch(() => {})
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.commits, new Promise((r) => (timer = setTimeout(r, COMMIT_WAIT_MS)))])
    clearTimeout(timer)
  }

  private commits: Promise<unknown> = Promise.resolve()

  /**
   * Partitions not in the assignment are new: their owner reads them from the earliest offset
   * (as Flink does for partitions discovered after the start). `restart`: a running consumer is
   * replaced by one that also reads the new partitions.
   */
  private async discover(restart: boolean): Promise<void> {
    if (this.closed || this.admin === undefined) return
    const fresh: KafkaSplit[] = []
    const found = await this.withAdmin((a) => fetchPartitions(a, this.config as KafkaSourceConfig<unknown>))
    for (const p of found) {
      if (!this.known.has(splitKey(p.topic, p.partition)) && owner(p.topic, p.partition, this.ctx.parallelism) === this.ctx.subtask) fresh.push({ ...p, offset: null, stop: null })
    }
    const earliest: Initializer = { kind: 'earliest' }
    const offsets = new Map<string, Map<number, string>>()
    for (const s of fresh) {
      if (!offsets.has(s.topic)) offsets.set(s.topic, await this.offsetsFor(s.topic, earliest))
      const o = offsets.get(s.topic)!.get(s.partition)
      if (o === undefined) throw new Error(`KafkaSource: no offsets yet for new partition ${s.topic}-${s.partition}`)
      s.offset = o
    }
    // Only now, with every offset known, do the partitions join the assignment.
    for (const p of found) this.known.add(splitKey(p.topic, p.partition))
    for (const s of fresh) this.splits.set(splitKey(s.topic, s.partition), s)
    if (fresh.length === 0 || !restart || this.closed) return
    await this.consumer?.disconnect()
    this.consumer = undefined
    // Records of the old consumer still buffered are kept; positions filter out any repeats.
    await this.startConsumer()
  }


  async close(): Promise<void> {
    this.closed = true
    if (this.discovery !== undefined) clearInterval(this.discovery)
    this.space?.()
    const bounded = (p: Promise<unknown> | undefined): Promise<unknown> =>
      Promise.race([p?.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])
    await bounded(this.consumer?.disconnect())
    await bounded(this.admin?.disconnect())
    this.client.close()
    this.adminClient.close()
  }
}
