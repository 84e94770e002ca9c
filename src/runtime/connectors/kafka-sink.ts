/**
 * A Kafka sink like Flink's KafkaSink, on kafkajs.
 *
 * - AT_LEAST_ONCE: records are sent in batches; a checkpoint completes only once every record sent
 *   before its barrier is acknowledged by the broker (all sends still pending at the barrier).
 * - EXACTLY_ONCE: Flink's two-phase commit. Records go into one Kafka transaction per checkpoint
 *   interval, on a pool of transactional ids `<prefix>-<subtask>-<attempt>-<n>`. At the barrier the
 *   transaction is flushed (pre-commit) and its identity (transactional id, producer id, epoch)
 *   goes into the checkpoint; it is committed when the checkpoint completes. After a failure, the
 *   restored subtasks commit every prepared transaction of the checkpoint they restore (an EndTxn
 *   by identity: `kafka-transactions.ts`), then abort every transaction that is still open on an id
 *   of this prefix (listed with ListTransactions), which fences the producers of older attempts.
 *   A producer is re-initialized (new epoch) before each new transaction, so an identity in a
 *   checkpoint names one transaction only. Readers with isolation.level=read_committed see records
 *   only once their checkpoint completed.
 *
 * Limits (kafkajs, Kafka): the EXACTLY_ONCE sink needs Kafka 3.0+ (ListTransactions); a prepared
 * transaction must be committed before `transaction.timeout.ms` (default here 15 min, the brokers'
 * default transaction.max.timeout.ms) runs out, or the broker aborts it: a job that stays down
 * longer than that after a checkpoint completed loses that checkpoint's records (as in Flink).
 * Tests: test/integration/kafka-sink.test.ts, test/integration/kafka-exactly-once.test.ts.
 */
import type { Message, Producer } from 'kafkajs'
import { ListStateDescriptor, type ListState } from '../core/state.js'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'
import { KafkaClient } from './kafka-client.js'
import { parseBrokers } from './kafka-source.js'
import { KafkaTransactions, type PreparedTransaction, type TransactionalProducer } from './kafka-transactions.js'

export const DeliveryGuarantee = {
  NONE: 'NONE',
  AT_LEAST_ONCE: 'AT_LEAST_ONCE',
  EXACTLY_ONCE: 'EXACTLY_ONCE',
} as const
export type DeliveryGuarantee = (typeof DeliveryGuarantee)[keyof typeof DeliveryGuarantee]

export interface KafkaRecordSerializer<T> {
  topic: string | ((record: T) => string)
  key?: (record: T) => string | Buffer | null
  value?: (record: T) => string | Buffer | null
}

interface KafkaSinkConfig<T> {
  brokers: string[]
  serializer: KafkaRecordSerializer<T>
  guarantee: DeliveryGuarantee
  transactionalIdPrefix: string
  transactionTimeoutMs: number
}

export interface KafkaSinkSpec<T> {
  readonly kind: 'kafka-sink'
  createOperator(): StreamOperator<T, never>
}

export class KafkaSinkBuilder<T> {
  private c: Partial<KafkaSinkConfig<T>> = {}

  setBootstrapServers(servers: string | string[]): this {
    this.c.brokers = parseBrokers(servers)
    return this
  }

  setRecordSerializer(serializer: KafkaRecordSerializer<T>): this {
    this.c.serializer = serializer
    return this
  }

  setDeliveryGuarantee(guarantee: DeliveryGuarantee): this {
    this.c.guarantee = guarantee
    return this
  }

  /** Unique per job (and stable across its restores): transactional ids are `<prefix>-<subtask>-<attempt>-<n>`. */
  setTransactionalIdPrefix(prefix: string): this {
    this.c.transactionalIdPrefix = prefix
    return this
  }

  /** Kafka producer properties: transaction.timeout.ms. */
  setProperty(key: string, value: string): this {
    if (key === 'transaction.timeout.ms') this.c.transactionTimeoutMs = Number(value)
    else throw new Error(`KafkaSink: unsupported property '${key}' (supported: transaction.timeout.ms)`)
    return this
  }

  build(): KafkaSinkSpec<T> {
    const c = this.c
    if (c.brokers === undefined || c.brokers.length === 0) throw new Error('KafkaSink: setBootstrapServers is required')
    if (c.serializer === undefined) throw new Error('KafkaSink: setRecordSerializer is required')
    if (c.guarantee === 'EXACTLY_ONCE' && c.transactionalIdPrefix === undefined) throw new Error('KafkaSink: EXACTLY_ONCE needs setTransactionalIdPrefix')
    if (c.transactionTimeoutMs !== undefined && !(c.transactionTimeoutMs > 0)) throw new Error('KafkaSink: transaction.timeout.ms must be a positive number of milliseconds')
    const config: KafkaSinkConfig<T> = {
      brokers: c.brokers, serializer: c.serializer, guarantee: c.guarantee ?? 'NONE', transactionalIdPrefix: c.transactionalIdPrefix ?? 'tsflink',
      transactionTimeoutMs: c.transactionTimeoutMs ?? 900_000,
    }
    return { kind: 'kafka-sink', createOperator: () => (config.guarantee === 'EXACTLY_ONCE' ? new ExactlyOnceKafkaSink<T>(config) : new KafkaSinkOperator<T>(config)) }
  }
}

export const KafkaSink = {
  builder<T>(): KafkaSinkBuilder<T> {
    return new KafkaSinkBuilder<T>()
  },
}

const BATCH = 500

/** Turns records into Kafka messages, batched per topic. */
abstract class BatchingSink<T> extends StreamOperator<T, never> {
  protected buffer = new Map<string, Message[]>()
  protected failure: unknown

  constructor(protected readonly config: KafkaSinkConfig<T>) {
    super()
  }

  processElement(record: T): void {
    if (this.failure !== undefined) throw this.failure
    const s = this.config.serializer
    const topic = typeof s.topic === 'function' ? s.topic(record) : s.topic
    const value = s.value === undefined ? (typeof record === 'string' ? record : JSON.stringify(record)) : s.value(record)
    const message: Message = { value, key: s.key?.(record) ?? null }
    let list = this.buffer.get(topic)
    if (list === undefined) this.buffer.set(topic, (list = []))
    list.push(message)
    if (list.length >= BATCH) this.flushTopic(topic)
  }

  override processWatermark(): void {}

  protected abstract flushTopic(topic: string): void

  protected flushAll(): void {
    for (const topic of [...this.buffer.keys()]) this.flushTopic(topic)
  }

  protected client: KafkaClient | undefined

  protected kafka(): KafkaClient {
    this.client ??= new KafkaClient(this.config.brokers, `tsflink-sink-${this.ctx.subtask}`)
    return this.client
  }
}

/** NONE and AT_LEAST_ONCE. */
class KafkaSinkOperator<T> extends BatchingSink<T> {
  private producer: Producer | undefined
  /** Sends not yet acknowledged by the broker. */
  private readonly pending = new Set<Promise<unknown>>()
  /** AT_LEAST_ONCE: the sends each checkpoint waits for (those pending at its barrier). */
  private readonly beforeBarrier = new Map<number, Promise<unknown>[]>()

  override async open(): Promise<void> {
    const atLeastOnce = this.config.guarantee === 'AT_LEAST_ONCE'
    this.producer = this.kafka().kafka.producer({ idempotent: atLeastOnce, maxInFlightRequests: atLeastOnce ? 1 : 5, allowAutoTopicCreation: false })
    await this.producer.connect()
  }

  protected flushTopic(topic: string): void {
    const messages = this.buffer.get(topic)
    if (messages === undefined || messages.length === 0) return
    this.buffer.set(topic, [])
    const send = this.producer!.send({ topic, messages })
    this.pending.add(send)
    send.then(
      () => this.pending.delete(send),
      (e: unknown) => {
        this.pending.delete(send)
        this.failure ??= e
      },
    )
  }

  override snapshotState(ctx: SnapshotContext): void {
    this.flushAll()
    if (this.config.guarantee === 'AT_LEAST_ONCE') this.beforeBarrier.set(ctx.checkpointId, [...this.pending])
  }

  override async snapshotStateAsync(ctx: SnapshotContext): Promise<void> {
    const sends = this.beforeBarrier.get(ctx.checkpointId)
    this.beforeBarrier.delete(ctx.checkpointId)
    if (sends !== undefined) await Promise.allSettled(sends)
    if (this.failure !== undefined) throw this.failure
  }

  override finish(): void {
    this.flushAll()
  }

  override async close(): Promise<void> {
    this.flushAll()
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, 10_000).unref())])
    await this.producer?.disconnect().catch(() => {})
    this.client?.close()
  }
}

/** One transaction pre-committed for a checkpoint, waiting for the checkpoint to complete. */
interface Prepared {
  producer: TransactionalProducer
  identity: PreparedTransaction
  checkpointId: number
  sends: Promise<unknown>[]
}

/** What one subtask keeps in a checkpoint (union list state: every restored subtask sees all). */
interface SinkSubtaskState {
  subtask: number
  /** Transactions pre-committed for this or earlier checkpoints and not yet known to be committed. */
  prepared: (PreparedTransaction & { checkpointId: number })[]
  /** Records before the barrier that had no transaction yet (its producer was initializing): re-sent after a restore. */
  carried: { topic: string; messages: Message[] }[]
}

const STATE = new ListStateDescriptor<SinkSubtaskState>('kafka-sink-transactions')

/** Buffers come back from state as Uint8Array (structured clone); kafkajs wants Buffer or string. */
const asBuffer = (v: unknown): string | Buffer | null =>
  v === null || v === undefined ? null : typeof v === 'string' || Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array)

/** EXACTLY_ONCE: a Kafka transaction per checkpoint, two-phase committed. */
class ExactlyOnceKafkaSink<T> extends BatchingSink<T> {
  private tx!: KafkaTransactions
  private state!: ListState<SinkSubtaskState>
  /** The transaction records go into now; undefined only while no spare was ready. */
  private current: TransactionalProducer | undefined
  private currentSends: Promise<unknown>[] = []
  private acquiring = false
  /** Transactional ids of this subtask with no transaction in flight, ready for the next. */
  private readonly idle: string[] = []
  private next = 0
  private readonly prepared: Prepared[] = []
  /** Commits run one after another, in checkpoint order, whatever order notifications overlap in. */
  private commits: Promise<void> = Promise.resolve()
  private finished = false

  override async initializeState(): Promise<void> {
    const { subtask, parallelism, restored } = this.ctx
    this.tx = new KafkaTransactions(this.kafka().kafka, this.config.transactionTimeoutMs)
    this.state = this.ctx.operatorState.getUnionListState(STATE)
    // Old subtask s is recovered by new subtask s mod parallelism: it commits s's prepared
    // transactions, then aborts what s left open, in that order (no other subtask touches s's ids).
    const owned = (s: number): boolean => s % parallelism === subtask
    if (restored) {
      for (const entry of this.state.get()) {
        if (!owned(entry.subtask)) continue
        for (const t of entry.prepared) await this.tx.commitPrepared(t)
        for (const c of entry.carried) for (const m of c.messages) this.buffered(c.topic).push({ key: asBuffer(m.key), value: asBuffer(m.value) })
      }
    }
    this.state.clear()
    const prefix = `${this.config.transactionalIdPrefix}-`
    for (const id of await this.tx.openTransactions()) {
      if (!id.startsWith(prefix)) continue
      const m = /^(\d+)-\d+-\d+$/.exec(id.slice(prefix.length))
      if (m !== null && owned(Number(m[1]))) await this.tx.fence(id)
    }
  }

  private buffered(topic: string): Message[] {
    let list = this.buffer.get(topic)
    if (list === undefined) this.buffer.set(topic, (list = []))
    return list
  }

  override async open(): Promise<void> {
    this.spare = await this.tx.producer(this.nextId())
    this.promote()
  }

  private nextId(): string {
    // The attempt is part of the id: requests of a failed attempt still under way (an InitProducerId
    // retried at the broker) can never fence the transactions of the attempt that replaced it.
    return this.idle.pop() ?? `${this.config.transactionalIdPrefix}-${this.ctx.subtask}-${this.ctx.attempt}-${this.next++}`
  }

  /**
   * Keeps the next transaction's producer initialized ahead of time (a fresh InitProducerId on an
   * idle transactional id of this subtask, or a new one: the id gets a new epoch, so the identity
   * of its previous transaction, kept in a checkpoint, names no other). At a barrier the switch to
   * it is then immediate, and records rarely wait without a transaction.
   */
  private ensureSpare(): void {
    if (this.spare !== undefined || this.acquiring || this.closed) return
    this.acquiring = true
    this.tx.producer(this.nextId()).then(
      (p) => {
        this.acquiring = false
        if (this.closed) return p.close()
        this.spare = p
        this.promote()
      },
      (e: unknown) => {
        this.acquiring = false
        this.failure ??= e
      },
    )
  }

  /** The spare becomes the current transaction (if there is none). */
  private promote(): void {
    if (this.current === undefined && this.spare !== undefined) {
      this.current = this.spare
      this.spare = undefined
      this.current.begin()
      this.currentSends = []
      this.flushAll()
    }
    this.ensureSpare()
  }

  private spare: TransactionalProducer | undefined
  private closed = false

  protected flushTopic(topic: string): void {
    const current = this.current
    if (current === undefined) return // kept until the next transaction is ready
    const messages = this.buffer.get(topic)
    if (messages === undefined || messages.length === 0) return
    this.buffer.set(topic, [])
    const send = current.send(topic, messages)
    send.catch((e: unknown) => (this.failure ??= e))
    this.currentSends.push(send)
  }

  override snapshotState(ctx: SnapshotContext): void {
    if (this.failure !== undefined) throw this.failure
    this.flushAll()
    const current = this.current
    if (current !== undefined && this.currentSends.length > 0) {
      this.prepared.push({ producer: current, identity: current.identity, checkpointId: ctx.checkpointId, sends: this.currentSends })
      this.current = undefined
      this.currentSends = []
      this.promote()
    }
    // What is still buffered had no transaction at the barrier: it goes into the checkpoint.
    const carried = [...this.buffer].filter(([, ms]) => ms.length > 0).map(([topic, messages]) => ({ topic, messages: messages.slice() }))
    this.state.update([{
      subtask: this.ctx.subtask,
      prepared: this.prepared.map((p) => ({ ...p.identity, checkpointId: p.checkpointId })),
      carried,
    }])
  }

  override async snapshotStateAsync(ctx: SnapshotContext): Promise<void> {
    for (const p of this.prepared) if (p.checkpointId === ctx.checkpointId) await Promise.all(p.sends)
    if (this.failure !== undefined) throw this.failure
    // The last checkpoint of a finished input must hold every record in a transaction: after it the
    // job ends and its state is gone (records carried in state would be lost).
    if (this.finished && [...this.buffer.values()].some((ms) => ms.length > 0)) {
      throw new Error('KafkaSink: the input ended while records were waiting for a Kafka transaction (is the broker reachable?)')
    }
  }

  override async notifyCheckpointComplete(checkpointId: number, isSavepoint: boolean): Promise<void> {
    // Savepoints do not commit (as in Flink): the next checkpoint's completion does.
    if (isSavepoint) return
    const run = this.commits.then(() => this.commitUpTo(checkpointId))
    this.commits = run.catch(() => {})
    await run
  }

  private async commitUpTo(checkpointId: number): Promise<void> {
    while (this.prepared.length > 0 && this.prepared[0]!.checkpointId <= checkpointId) {
      const t = this.prepared[0]!
      await Promise.all(t.sends)
      // By identity, retried and idempotent: a commit cut off by a broker outage is simply repeated.
      const outcome = await this.tx.commitPrepared(t.identity)
      if (outcome !== 'committed') throw new Error(`Kafka transaction '${t.identity.transactionalId}' was fenced before its commit: a newer attempt of this job (or another job with the same transactional id prefix) took over`)
      this.prepared.shift()
      t.producer.close()
      this.idle.push(t.identity.transactionalId)
    }
    if (!this.finished) this.promote()
  }

  override finish(): void {
    this.flushAll()
    this.finished = true
  }

  override async close(): Promise<void> {
    if (this.finished && !this.ctx.task.checkpointingEnabled && this.failure === undefined) {
      // Without checkpoints, the end of the input commits (as the file sink does).
      for (let i = 0; i < 600 && this.current === undefined && this.failure === undefined; i++) await new Promise((r) => setTimeout(r, 50))
      this.flushAll()
      const current = this.current
      if (current !== undefined && this.currentSends.length > 0) {
        await Promise.all(this.currentSends)
        await this.tx.commitPrepared(current.identity)
        this.current = undefined
      }
    }
    this.closed = true
    // Prepared transactions are left alone: the checkpoint that holds them may have completed, and
    // a restore commits them. The open transaction is aborted (a restore would abort it too).
    const open = this.current
    if (open !== undefined && open.inTransaction) {
      await Promise.race([Promise.allSettled(this.currentSends).then(() => open.abort()).catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())])
    }
    open?.close()
    this.spare?.close()
    for (const p of this.prepared) p.producer.close()
    await this.tx?.disconnect()
    this.client?.close()
  }
}
