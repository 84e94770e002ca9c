/**
 * A Kafka sink like Flink's KafkaSink, on kafkajs.
 *
 * - AT_LEAST_ONCE: records are sent in batches; a checkpoint completes only once every record sent
 *   before its barrier is acknowledged by the broker.
 * - EXACTLY_ONCE: one Kafka transaction per checkpoint interval, on a pool of transactional
 *   producers (`<prefix>-<subtask>-<n>`); at the barrier the transaction is flushed (pre-commit),
 *   and it is committed when the checkpoint completes. Readers with isolation.level=read_committed
 *   see records only then.
 *
 * What exactly-once with kafkajs cannot do: kafkajs has no way to resume another process's
 * transaction, so a transaction that was pre-committed for a checkpoint which completed, but was
 * not yet committed when the job crashed, cannot be committed after the restore; re-initializing
 * its transactional id aborts it. Those records are then lost (never duplicated). The window is
 * the time between the checkpoint's completion and the commit, normally milliseconds. Flink's
 * Java client closes it by resuming the transaction; kafkajs does not expose that.
 * Tests: test/integration/kafka.test.ts.
 */
import { Kafka, logLevel, type Message, type Producer, type Transaction } from 'kafkajs'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'
import { parseBrokers } from './kafka-source.js'

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

  setTransactionalIdPrefix(prefix: string): this {
    this.c.transactionalIdPrefix = prefix
    return this
  }

  build(): KafkaSinkSpec<T> {
    const c = this.c
    if (c.brokers === undefined || c.brokers.length === 0) throw new Error('KafkaSink: setBootstrapServers is required')
    if (c.serializer === undefined) throw new Error('KafkaSink: setRecordSerializer is required')
    if (c.guarantee === 'EXACTLY_ONCE' && c.transactionalIdPrefix === undefined) throw new Error('KafkaSink: EXACTLY_ONCE needs setTransactionalIdPrefix')
    const config: KafkaSinkConfig<T> = { brokers: c.brokers, serializer: c.serializer, guarantee: c.guarantee ?? 'NONE', transactionalIdPrefix: c.transactionalIdPrefix ?? 'tsflink' }
    return { kind: 'kafka-sink', createOperator: () => new KafkaSinkOperator<T>(config) }
  }
}

export const KafkaSink = {
  builder<T>(): KafkaSinkBuilder<T> {
    return new KafkaSinkBuilder<T>()
  },
}

const BATCH = 500

interface OpenTransaction {
  producer: Producer
  tx: Promise<Transaction>
  sends: Promise<unknown>[]
  checkpointId: number | undefined
}

class KafkaSinkOperator<T> extends StreamOperator<T, never> {
  private kafka!: Kafka
  private producer: Producer | undefined
  private buffer = new Map<string, Message[]>()
  private inflight: Promise<unknown>[] = []
  private failure: unknown
  /** EXACTLY_ONCE: the transaction records go into now, and those pre-committed, by checkpoint. */
  private current: OpenTransaction | undefined
  private readonly precommitted: OpenTransaction[] = []
  private readonly idle: Producer[] = []
  private next = 0

  constructor(private readonly config: KafkaSinkConfig<T>) {
    super()
  }

  override async open(): Promise<void> {
    this.kafka = new Kafka({ brokers: this.config.brokers, clientId: `tsflink-sink-${this.ctx.subtask}`, logLevel: logLevel.NOTHING })
    if (this.config.guarantee !== 'EXACTLY_ONCE') {
      this.producer = this.kafka.producer({ idempotent: this.config.guarantee === 'AT_LEAST_ONCE', maxInFlightRequests: this.config.guarantee === 'AT_LEAST_ONCE' ? 1 : 5 })
      await this.producer.connect()
    }
  }

  private async transactionalProducer(): Promise<Producer> {
    const idle = this.idle.pop()
    if (idle !== undefined) return idle
    const producer = this.kafka.producer({ transactionalId: `${this.config.transactionalIdPrefix}-${this.ctx.subtask}-${this.next++}`, idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    return producer
  }

  private openTransaction(): OpenTransaction {
    const producerP = this.transactionalProducer()
    const open: OpenTransaction = { producer: undefined as unknown as Producer, tx: producerP.then((p) => { open.producer = p; return p.transaction() }), sends: [], checkpointId: undefined }
    open.tx.catch((e: unknown) => (this.failure = e))
    return open
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

  private flushTopic(topic: string): void {
    const messages = this.buffer.get(topic)
    if (messages === undefined || messages.length === 0) return
    this.buffer.set(topic, [])
    if (this.config.guarantee === 'EXACTLY_ONCE') {
      this.current ??= this.openTransaction()
      const send = this.current.tx.then((tx) => tx.send({ topic, messages }))
      send.catch((e: unknown) => (this.failure = e))
      this.current.sends.push(send)
    } else {
      const send = this.producer!.send({ topic, messages })
      send.catch((e: unknown) => (this.failure = e))
      this.inflight.push(send)
      if (this.inflight.length > 64) this.inflight = this.inflight.slice(-64)
    }
  }

  private flushAll(): void {
    for (const topic of this.buffer.keys()) this.flushTopic(topic)
  }

  override snapshotState(ctx: SnapshotContext): void {
    this.flushAll()
    if (this.config.guarantee === 'EXACTLY_ONCE' && this.current !== undefined) {
      this.current.checkpointId = ctx.checkpointId
      this.precommitted.push(this.current)
      this.current = undefined
    }
  }

  override async snapshotStateAsync(ctx: SnapshotContext): Promise<void> {
    if (this.config.guarantee === 'EXACTLY_ONCE') {
      for (const t of this.precommitted) if (t.checkpointId === ctx.checkpointId) await Promise.all(t.sends)
    } else if (this.config.guarantee === 'AT_LEAST_ONCE') {
      await Promise.all(this.inflight)
    }
    if (this.failure !== undefined) throw this.failure
  }

  override async notifyCheckpointComplete(checkpointId: number, isSavepoint: boolean): Promise<void> {
    if (isSavepoint || this.config.guarantee !== 'EXACTLY_ONCE') return
    while (this.precommitted.length > 0 && this.precommitted[0]!.checkpointId! <= checkpointId) {
      const t = this.precommitted.shift()!
      await Promise.all(t.sends)
      await (await t.tx).commit()
      this.idle.push(t.producer)
    }
  }

  override finish(): void {
    this.flushAll()
  }

  override async close(): Promise<void> {
    this.flushAll()
    if (this.config.guarantee === 'EXACTLY_ONCE') {
      for (const t of [...this.precommitted, ...(this.current === undefined ? [] : [this.current])]) {
        await (await t.tx.catch(() => undefined))?.abort().catch(() => {})
        await t.producer?.disconnect().catch(() => {})
      }
      for (const p of this.idle) await p.disconnect().catch(() => {})
    } else {
      await Promise.all(this.inflight).catch(() => {})
      await this.producer?.disconnect().catch(() => {})
    }
  }
}
