/**
 * Kafka transactions as Flink's two-phase-commit KafkaSink needs them, on kafkajs's protocol layer
 * (kafkajs's public producer hides the producer id and epoch and cannot resume a transaction):
 *
 * - `TransactionalProducer`: a transactional producer whose producer id and epoch are readable, so
 *   a prepared (pre-committed) transaction can be recorded in a checkpoint as a `PreparedTransaction`;
 *   `reinit()` bumps its epoch between two transactions, so one (producerId, epoch) names exactly
 *   one transaction.
 * - `commitPrepared`: commits a transaction another producer (another attempt, another process)
 *   prepared, from its (transactionalId, producerId, epoch) alone: an EndTxn to the transaction
 *   coordinator, as Flink's committer does after a restore.
 * - `fence`: InitProducerId on a transactional id: aborts a transaction left open on it and fences
 *   every producer that still holds an older epoch (zombies of earlier attempts).
 * - `openTransactions`: the transactional ids with an ongoing transaction (ListTransactions,
 *   Kafka 3.0+; kafkajs lacks it, so it is encoded here), to abort what a crashed attempt left open.
 *
 * Uses kafkajs internals (its cluster, transaction manager and message producer modules) through
 * `createRequire`; pinned to kafkajs 2.2.4 (package.json). Must not import the task or the CLI.
 * Tests: test/integration/kafka-sink.test.ts.
 */
import { createRequire } from 'node:module'
import type { Kafka, Message } from 'kafkajs'

const require = createRequire(import.meta.url)

/** A pre-committed transaction, as kept in the sink's checkpointed state. */
export interface PreparedTransaction {
  transactionalId: string
  /** An int64, as kafkajs gives it (a decimal string). */
  producerId: string
  epoch: number
}

export type CommitOutcome = 'committed' | 'already-ended'

interface Broker {
  versions: Record<number, { minVersion: number; maxVersion: number } | undefined>
  connectionPool: { send(a: { request: ProtocolRequest; response: ProtocolResponse }): Promise<unknown> }
  initProducerId(a: { transactionalId: string; transactionTimeout: number }): Promise<{ producerId: string; producerEpoch: number }>
  endTxn(a: { transactionalId: string; producerId: string; producerEpoch: number; transactionResult: boolean }): Promise<unknown>
}

interface ProtocolRequest {
  apiKey: number
  apiVersion: number
  apiName: string
  encode(): Promise<unknown>
}

interface ProtocolResponse {
  decode(raw: Buffer): Promise<unknown>
  parse(data: unknown): Promise<unknown>
}

interface Cluster {
  retry: Record<string, unknown>
  getNodeIds(): number[]
  findBroker(a: { nodeId: number }): Promise<Broker>
  refreshMetadata(): Promise<void>
  connect(): Promise<void>
  disconnect(): Promise<void>
  refreshMetadataIfNecessary(): Promise<void>
  findGroupCoordinator(a: { groupId: string; coordinatorType: number }): Promise<Broker>
}

interface EosManager {
  initProducerId(): Promise<void>
  beginTransaction(): void
  commit(): Promise<void>
  abort(): Promise<void>
  getProducerId(): string
  getProducerEpoch(): number
  isInTransaction(): boolean
}

interface MessageProducer {
  send(a: { topic: string; messages: Message[]; acks?: number }): Promise<unknown>
}

interface KafkaInternals {
  createEosManager(a: { logger: unknown; cluster: Cluster; transactionTimeout: number; transactional: true; transactionalId: string }): EosManager
  createMessageProducer(a: {
    logger: unknown
    cluster: Cluster
    partitioner: unknown
    eosManager: EosManager
    idempotent: true
    retrier: unknown
    getConnectionStatus: () => string
  }): MessageProducer
  createRetry(config: Record<string, unknown>): unknown
  DefaultPartitioner: () => unknown
  Encoder: new () => Encoder
  Decoder: new (raw: Buffer) => Decoder
  createErrorFromCode(code: number): Error
}

interface Encoder {
  writeInt32(v: number): Encoder
  writeUVarIntBytes(v?: Buffer): Encoder
  writeUVarIntArray(a: Encoder[] | null): Encoder
  writeUVarIntString(v: string): Encoder
}

interface Decoder {
  readInt16(): number
  readInt32(): number
  readInt64(): { toString(): string }
  readUVarIntString(): string
  readUVarIntArray<R>(reader: (d: Decoder) => R): R[]
  readTaggedFields(): void
}

let internals: KafkaInternals | undefined
function kafkajsInternals(): KafkaInternals {
  internals ??= {
    createEosManager: require('kafkajs/src/producer/eosManager/index.js') as KafkaInternals['createEosManager'],
    createMessageProducer: require('kafkajs/src/producer/messageProducer.js') as KafkaInternals['createMessageProducer'],
    createRetry: require('kafkajs/src/retry/index.js') as KafkaInternals['createRetry'],
    DefaultPartitioner: (require('kafkajs/src/producer/partitioners/index.js') as { DefaultPartitioner: () => unknown }).DefaultPartitioner,
    Encoder: require('kafkajs/src/protocol/encoder.js') as KafkaInternals['Encoder'],
    Decoder: require('kafkajs/src/protocol/decoder.js') as KafkaInternals['Decoder'],
    createErrorFromCode: (require('kafkajs/src/protocol/error.js') as { createErrorFromCode: KafkaInternals['createErrorFromCode'] }).createErrorFromCode,
  }
  return internals
}

const TRANSACTION_COORDINATOR = 1
const LIST_TRANSACTIONS = 66

/**
 * ListTransactions v0 (KIP-664), a flexible version: kafkajs writes request header v1, so the
 * payload starts with the header's empty tagged fields, as kafkajs's own flexible requests do.
 *   Request  => [state_filters: COMPACT_STRING] [producer_id_filters: INT64] TAG_BUFFER
 *   Response => throttle_time_ms error_code [unknown_state_filters] [transactional_id producer_id transaction_state TAG_BUFFER] TAG_BUFFER
 */
function listTransactionsRequest(states: string[]): { request: ProtocolRequest; response: ProtocolResponse } {
  const k = kafkajsInternals()
  return {
    request: {
      apiKey: LIST_TRANSACTIONS,
      apiVersion: 0,
      apiName: 'ListTransactions',
      encode: async () =>
        new k.Encoder().writeUVarIntBytes()
          .writeUVarIntArray(states.map((s) => new k.Encoder().writeUVarIntString(s)))
          .writeUVarIntArray([])
          .writeUVarIntBytes(),
    },
    response: {
      decode: async (raw) => {
        const d = new k.Decoder(raw)
        d.readTaggedFields()
        d.readInt32()
        const errorCode = d.readInt16()
        d.readUVarIntArray((x) => x.readUVarIntString())
        const transactions = d.readUVarIntArray((x) => {
          const t = { transactionalId: x.readUVarIntString(), producerId: x.readInt64().toString(), state: x.readUVarIntString() }
          x.readTaggedFields()
          return t
        })
        return { errorCode, transactions }
      },
      parse: async (data) => {
        const { errorCode } = data as { errorCode: number }
        if (errorCode !== 0) throw k.createErrorFromCode(errorCode)
        return data
      },
    },
  }
}

/** Errors worth retrying while a coordinator loads, moves, or finishes a previous transaction. */
const RETRIABLE = new Set([
  'CONCURRENT_TRANSACTIONS', 'COORDINATOR_LOAD_IN_PROGRESS', 'GROUP_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'NOT_COORDINATOR_FOR_GROUP', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION',
])
/** The transactional id moved on to a newer epoch: the transaction of the older epoch has ended. */
const ENDED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING'])

const errorType = (e: unknown): string | undefined => (e as { type?: string }).type
/** Broker unreachable, metadata or coordinator not there yet, or kafkajs's own retries ran out on such errors. */
const isTransient = (e: unknown): boolean => {
  const err = e as { name?: string; code?: string; retriable?: boolean }
  return err.retriable === true || err.code === 'ECONNREFUSED' || [
    'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSNumberOfRetriesExceeded', 'KafkaJSRequestTimeoutError',
    'KafkaJSBrokerNotFound', 'KafkaJSMetadataNotLoaded', 'KafkaJSLockTimeout',
  ].includes(err.name ?? '')
}

async function retrying<R>(what: string, deadlineMs: number, fn: () => Promise<R>, closed: () => boolean): Promise<R> {
  const until = Date.now() + deadlineMs
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    if (closed()) throw new Error(`${what}: the connection was closed`)
    try {
      return await fn()
    } catch (e) {
      const type = errorType(e)
      if ((type === undefined || !RETRIABLE.has(type)) && !isTransient(e)) throw e
      if (Date.now() + delay > until) throw new Error(`${what}: gave up after ${deadlineMs} ms`, { cause: e })
      await new Promise((r) => setTimeout(r, delay))
    }
  }
}

/**
 * One connection to the cluster for one sink subtask: its transactional producers share it.
 * `timeoutMs` bounds each coordinator operation (retries included).
 */
export class KafkaTransactions {
  private readonly cluster: Cluster
  private readonly logger: unknown
  private connected: Promise<void> | undefined
  private closed = false

  constructor(
    kafka: Kafka,
    readonly transactionTimeoutMs: number,
    private readonly timeoutMs = 30_000,
  ) {
    // kafkajs builds clusters through a private method of its client; we use it for our own.
    const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')
    if (create === undefined) throw new Error('kafkajs internals changed: no createCluster (tsflink needs kafkajs 2.2.x)')
    const factory = (kafka as unknown as Record<symbol, (a: object) => Cluster>)[create]!
    this.cluster = factory({ allowAutoTopicCreation: false, maxInFlightRequests: 1 })
    this.logger = kafka.logger()
  }

  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('Kafka transactions: the connection was closed'))
    this.connected ??= this.cluster.connect()
    return this.connected
  }

  /** Operations under way; kafkajs may reconnect for them, so the last one to end disconnects again. */
  private readonly inflight = new Set<Promise<unknown>>()

  track<R>(p: Promise<R>): Promise<R> {
    this.inflight.add(p)
    const done = (): void => {
      this.inflight.delete(p)
      if (this.closed && this.inflight.size === 0) void this.cluster.disconnect().catch(() => {})
    }
    p.then(done, done)
    return p
  }

  /** Closes the connection for good: operations still retrying give up. */
  async disconnect(): Promise<void> {
    this.closed = true
    await this.cluster.disconnect().catch(() => {})
  }

  private async coordinator(transactionalId: string): Promise<Broker> {
    await this.connect()
    await this.cluster.refreshMetadataIfNecessary()
    return this.cluster.findGroupCoordinator({ groupId: transactionalId, coordinatorType: TRANSACTION_COORDINATOR })
  }

  /**
   * InitProducerId: aborts a transaction left open on this id and fences older epochs. Returns the
   * new epoch and producer id; epoch 0 means the id had never been used (or had expired).
   */
  async fence(transactionalId: string): Promise<{ producerId: string; epoch: number }> {
    return this.track(retrying(`fencing transactional id '${transactionalId}'`, this.timeoutMs, async () => {
      const broker = await this.coordinator(transactionalId)
      const r = await broker.initProducerId({ transactionalId, transactionTimeout: this.transactionTimeoutMs })
      return { producerId: r.producerId, epoch: r.producerEpoch }
    }, () => this.closed))
  }

  /** Transactional ids with an ongoing transaction, on every broker of the cluster (Kafka 3.0+). */
  async openTransactions(): Promise<string[]> {
    return this.track(retrying('listing open transactions', this.timeoutMs, async () => {
      await this.connect()
      await this.cluster.refreshMetadata()
      const ids: string[] = []
      for (const nodeId of this.cluster.getNodeIds()) {
        const broker = await this.cluster.findBroker({ nodeId })
        if (broker.versions[LIST_TRANSACTIONS] === undefined) {
          throw new Error(`Kafka broker ${nodeId} does not support ListTransactions (Kafka 3.0+), which the exactly-once KafkaSink needs to abort transactions a failed attempt left open`)
        }
        const r = (await broker.connectionPool.send(listTransactionsRequest(['Ongoing']))) as { transactions: { transactionalId: string }[] }
        for (const t of r.transactions) ids.push(t.transactionalId)
      }
      return ids
    }, () => this.closed))
  }

  /**
   * Commits a prepared transaction by its identity (Flink's recovery commit). 'already-ended': the
   * id has a newer epoch, so that transaction was finished before (committed by the attempt that
   * prepared it, which re-initializes an id only after a commit) — or aborted by the coordinator
   * because it outlived the transaction timeout, which the coordinator does not tell apart.
   */
  async commitPrepared(t: PreparedTransaction): Promise<CommitOutcome> {
    return this.track(retrying(`committing transaction '${t.transactionalId}'`, this.timeoutMs, async () => {
      const broker = await this.coordinator(t.transactionalId)
      try {
        await broker.endTxn({ transactionalId: t.transactionalId, producerId: t.producerId, producerEpoch: t.epoch, transactionResult: true })
        return 'committed' as const
      } catch (e) {
        if (ENDED.has(errorType(e) ?? '')) return 'already-ended' as const
        if (errorType(e) === 'INVALID_TXN_STATE') {
          throw new Error(`Kafka transaction '${t.transactionalId}' (producer ${t.producerId}, epoch ${t.epoch}) of a completed checkpoint was aborted, not committed: its records are lost`, { cause: e })
        }
        throw e
      }
    }, () => this.closed))
  }

  /** A transactional producer on this connection, initialized (InitProducerId done). */
  async producer(transactionalId: string): Promise<TransactionalProducer> {
    await this.connect()
    const p = new TransactionalProducer(this.cluster, this.logger, transactionalId, this.transactionTimeoutMs, (op) => this.track(op))
    await this.track(retrying(`initializing transactional id '${transactionalId}'`, this.timeoutMs, () => p.reinit(), () => this.closed))
    return p
  }
}

/** A transactional producer with a readable identity; one transaction at a time. */
export class TransactionalProducer {
  private readonly eos: EosManager
  private readonly messages: MessageProducer
  private status = 'connected'

  constructor(
    cluster: Cluster,
    logger: unknown,
    readonly transactionalId: string,
    transactionTimeoutMs: number,
    private readonly track: <R>(op: Promise<R>) => Promise<R> = (op) => op,
  ) {
    const k = kafkajsInternals()
    this.eos = k.createEosManager({ logger, cluster, transactionTimeout: transactionTimeoutMs, transactional: true, transactionalId })
    // kafkajs's default for producers: five retries, about 10 s, then the send fails (and the job fails over).
    const retrier = k.createRetry({ ...cluster.retry, retries: 5 })
    this.messages = k.createMessageProducer({
      logger, cluster, partitioner: k.DefaultPartitioner(), eosManager: this.eos, idempotent: true, retrier, getConnectionStatus: () => this.status,
    })
  }

  /** InitProducerId again: a new epoch, so the previous transaction's identity is never reused. */
  reinit(): Promise<void> {
    return this.eos.initProducerId()
  }

  get identity(): PreparedTransaction {
    return { transactionalId: this.transactionalId, producerId: this.eos.getProducerId(), epoch: this.eos.getProducerEpoch() }
  }

  begin(): void {
    this.eos.beginTransaction()
  }

  get inTransaction(): boolean {
    return this.eos.isInTransaction()
  }

  send(topic: string, messages: Message[]): Promise<unknown> {
    return this.track(this.messages.send({ topic, messages, acks: -1 }))
  }

  commit(): Promise<void> {
    return this.track(this.eos.commit())
  }

  abort(): Promise<void> {
    return this.track(this.eos.abort())
  }

  /** No more sends (they fail); the shared connection stays open. */
  close(): void {
    this.status = 'disconnected'
  }
}
