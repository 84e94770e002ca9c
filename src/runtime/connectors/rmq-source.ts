/**
 * A RabbitMQ source like Flink's RMQSource, on amqplib: `new RMQSource(connectionConfig, queueName,
 * usesCorrelationId, deserializationSchema)` consumes a durable queue (declared if missing).
 *
 * - Without checkpointing, deliveries are acknowledged automatically (no guarantee).
 * - With checkpointing, a delivery is acknowledged only when the checkpoint that covers it (the
 *   first barrier after it was emitted) completes: a failure before that makes the broker
 *   redeliver it, so nothing is lost (at-least-once).
 * - With `usesCorrelationId`, every message must carry a correlation id; the ids of messages that
 *   were processed but not yet acknowledged are kept in the checkpoint, and a restored source skips
 *   redelivered messages whose id is among them (exactly-once, as in Flink; the publisher must
 *   give each message a unique id). Every subtask is handed every restored id, so a redelivery that
 *   reaches another subtask is skipped there too. A queue keeps its order, also for what it
 *   redelivers: a restored id is forgotten once its message came back and was acknowledged, or
 *   once a message with another id arrives (what did not come back before it never will). An id
 *   is kept until the broker has surely processed its acknowledgement (a later request on the
 *   channel was answered), not only sent it: an acknowledgement lost with the connection is
 *   covered too.
 *
 * The source learns whether the job checkpoints when the job is prepared (setCheckpointingEnabled).
 * Tests: test/integration/rabbitmq.test.ts.
 */
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib'
import type { RMQConnectionConfig, DeserializationSchema } from './rmq-connection.js'
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from './source.js'

/** What a subtask keeps in a checkpoint: the correlation ids processed and not yet acknowledged. */
export interface RMQSplit {
  ids: string[]
}

type Deserializer<T> = DeserializationSchema<T> | ((message: Buffer) => T)

export class RMQSource<T> implements Source<T, RMQSplit> {
  readonly boundedness = 'CONTINUOUS_UNBOUNDED' as const
  readonly readersPickSplits = true
  private checkpointing = false
  private readonly schema: DeserializationSchema<T>

  constructor(
    readonly connectionConfig: RMQConnectionConfig,
    readonly queueName: string,
    readonly usesCorrelationId: boolean,
    deserializationSchema: Deserializer<T>,
  ) {
    if (typeof queueName !== 'string' || queueName === '') throw new Error('RMQSource: the queue name must be a non-empty string')
    this.schema = typeof deserializationSchema === 'function' ? { deserialize: deserializationSchema } : deserializationSchema
  }

  /** Called when the job is prepared: with checkpointing, deliveries are acknowledged on checkpoint completion. */
  setCheckpointingEnabled(enabled: boolean): void {
    this.checkpointing = enabled
  }

  createSplits(): RMQSplit[] {
    return []
  }

  createReader(ctx: SourceReaderContext): SourceReader<T, RMQSplit> {
    return new RMQReader(this, this.schema, this.checkpointing, ctx)
  }
}

/** Deliveries emitted between two barriers. */
interface Pending {
  checkpointId: number
  ids: string[]
  /** The highest delivery tag handled before the barrier (0: none). */
  lastTag: number
}

class RMQReader<T> implements SourceReader<T, RMQSplit> {
  private connection: ChannelModel | undefined
  private channel: Channel | undefined
  private buffer: ConsumeMessage[] = []
  private head = 0
  private waiting: (() => void) | undefined
  private failure: unknown
  private closed = false
  private ended = false
  /** Ids restored from the checkpoint whose messages have not come back (yet). */
  private readonly restored = new Set<string>()
  /** Every id processed and not yet acknowledged: restored ones, pending ones, current ones. */
  private readonly seen = new Set<string>()
  private readonly pending: Pending[] = []
  private current: Omit<Pending, 'checkpointId'> = { ids: [], lastTag: 0 }
  private ackedUpTo = 0
  /** Acknowledgements whose processing by the broker is not yet known, in order. */
  private acks: Promise<void> = Promise.resolve()
  private readonly autoAck: boolean

  constructor(
    private readonly source: RMQSource<T>,
    private readonly schema: DeserializationSchema<T>,
    checkpointing: boolean,
    private readonly ctx: SourceReaderContext,
  ) {
    this.autoAck = !checkpointing
  }

  addSplits(splits: RMQSplit[]): void {
    if (!this.source.usesCorrelationId) return
    for (const s of splits) {
      for (const id of s.ids) {
        this.restored.add(id)
        this.seen.add(id)
      }
    }
  }

  async start(): Promise<void> {
    const config = this.source.connectionConfig
    const connection = await connect(config.url(), { timeout: config.connectionTimeout, clientProperties: { connection_name: `tsflink-rmq-source-${this.ctx.subtask}` } })
      .catch((e: unknown) => {
        throw new Error(`RMQSource: cannot connect to ${config.toString()}: ${(e as Error).message}`, { cause: e })
      })
    this.connection = connection
    const fail = (e: unknown): void => {
      if (!this.closed) this.failure ??= e
      this.wake()
    }
    connection.on('error', fail)
    connection.on('close', () => fail(new Error(`RMQSource: the connection to ${config.toString()} closed`)))
    if (this.closed) return void (await connection.close().catch(() => {}))
    const channel = await connection.createChannel()
    this.channel = channel
    channel.on('error', fail)
    channel.on('close', () => fail(new Error(`RMQSource: the channel on queue '${this.source.queueName}' closed`)))
    if (config.prefetchCount !== undefined) await channel.prefetch(config.prefetchCount)
    // As Flink's RMQSource.setupQueue: a durable, shared queue.
    await channel.assertQueue(this.source.queueName, { durable: true, exclusive: false, autoDelete: false })
    if (this.closed) return
    await channel.consume(this.source.queueName, (m) => {
      if (m === null) return fail(new Error(`RMQSource: the broker canceled the consumer of queue '${this.source.queueName}'`))
      this.buffer.push(m)
      this.wake()
    }, { noAck: this.autoAck })
  }

  private wake(): void {
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  pollNext(output: ReaderOutput<T>, max: number): InputStatus {
    if (this.failure !== undefined) throw this.failure
    if (this.ended) return 'END_OF_INPUT'
    // Without checkpoints nothing is redelivered after a restore: no ids are kept.
    const dedup = this.source.usesCorrelationId && !this.autoAck
    let n = 0
    while (n < max && this.head < this.buffer.length) {
      const m = this.buffer[this.head++]!
      const cur = this.current
      cur.lastTag = m.fields.deliveryTag
      if (dedup) {
        const id = m.properties.correlationId as string | undefined
        if (id === undefined || id === null || id === '') {
          throw new Error(`RMQSource: usesCorrelationId is set but a message on queue '${this.source.queueName}' has no correlation id`)
        }
        if (this.seen.has(id)) {
          // Processed before (its effect is in the restored state): skipped, acknowledged with this checkpoint.
          if (this.restored.delete(id)) cur.ids.push(id)
          continue
        }
        if (this.restored.size > 0) {
          // The queue keeps its order, so redeliveries of restored ids come before any other
          // message: restored ids that did not come back by now were acknowledged and never will.
          for (const r of this.restored) this.seen.delete(r)
          this.restored.clear()
        }
        this.seen.add(id)
        cur.ids.push(id)
      }
      const record = this.schema.deserialize(m.content)
      if (this.schema.isEndOfStream?.(record) === true) {
        this.ended = true
        break
      }
      output.collect(record, m.properties.timestamp === undefined ? undefined : Number(m.properties.timestamp))
      n++
    }
    if (this.head >= this.buffer.length) {
      this.buffer = []
      this.head = 0
    } else if (this.head > 4096) {
      this.buffer = this.buffer.slice(this.head)
      this.head = 0
    }
    if (this.ended) return 'END_OF_INPUT'
    return this.head < this.buffer.length ? 'MORE_AVAILABLE' : 'NOTHING_AVAILABLE'
  }

  isAvailable(): Promise<void> {
    if (this.failure !== undefined || this.head < this.buffer.length) return Promise.resolve()
    return new Promise((r) => {
      this.waiting = r
      setTimeout(() => this.wake(), 200).unref()
    })
  }

  snapshotState(checkpointId: number): RMQSplit[] {
    if (!this.autoAck) {
      this.pending.push({ checkpointId, ...this.current })
      this.current = { ids: [], lastTag: 0 }
    }
    return this.source.usesCorrelationId ? [{ ids: [...this.seen] }] : []
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    let lastTag = 0
    const ids: string[] = []
    while (this.pending.length > 0 && this.pending[0]!.checkpointId <= checkpointId) {
      const p = this.pending.shift()!
      lastTag = Math.max(lastTag, p.lastTag)
      for (const id of p.ids) ids.push(id)
    }
    const channel = this.channel
    if (lastTag <= this.ackedUpTo || channel === undefined || this.failure !== undefined) return
    // Every delivery up to lastTag was handled before the barrier: one cumulative ack.
    channel.ack({ fields: { deliveryTag: lastTag } } as ConsumeMessage, true)
    this.ackedUpTo = lastTag
    if (ids.length === 0) return
    // An ack has no reply: the ids stay (and go into the next checkpoints) until a request sent
    // after it on the same channel is answered, so the broker has surely processed the ack. Were
    // it lost on the way, its messages come back and are skipped.
    this.acks = this.acks.then(() => channel.checkQueue(this.source.queueName)).then(
      () => {
        for (const id of ids) this.seen.delete(id)
      },
      (e: unknown) => {
        if (!this.closed) this.failure ??= e
      },
    )
  }

  async close(): Promise<void> {
    this.closed = true
    this.wake()
    // Unacknowledged deliveries go back to the queue when the connection closes.
    await Promise.race([this.connection?.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])
  }
}
