/**
 * A RabbitMQ sink like Flink's RMQSink, on amqplib: `stream.addSink(new RMQSink(connectionConfig,
 * queueName, serializationSchema, publishOptions?))` publishes each record as a persistent message
 * to a durable queue (declared if missing), or where the publish options send it.
 *
 * Publishes go through a confirm channel: a checkpoint completes only once the broker confirmed
 * every message published before its barrier, so a restore never loses one (at-least-once; a
 * replay after a failure publishes again, which an RMQSource with correlation ids skips when the
 * publish options give each record a stable correlation id).
 * Tests: test/integration/rabbitmq.test.ts.
 */
import { connect, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'
import type { RMQConnectionConfig, SerializationSchema } from './rmq-connection.js'

/** Where and how each record is published (Flink's RMQSinkPublishOptions). */
export interface RMQSinkPublishOptions<T> {
  computeRoutingKey?(record: T): string
  computeExchange?(record: T): string
  computeProperties?(record: T): Options.Publish
}

type Serializer<T> = SerializationSchema<T> | ((record: T) => Buffer | string)

export class RMQSink<T> {
  readonly kind = 'rmq-sink'
  readonly name = 'RMQ Sink'
  private readonly schema: SerializationSchema<T>

  constructor(
    readonly connectionConfig: RMQConnectionConfig,
    readonly queueName: string | undefined,
    serializationSchema: Serializer<T>,
    readonly publishOptions: RMQSinkPublishOptions<T> = {},
  ) {
    if (queueName === undefined && publishOptions.computeRoutingKey === undefined) throw new Error('RMQSink: give a queue name or publish options with computeRoutingKey')
    this.schema = typeof serializationSchema === 'function' ? { serialize: serializationSchema } : serializationSchema
  }

  createOperator(): StreamOperator<T, never> {
    return new RMQSinkOperator<T>(this, this.schema)
  }
}

class RMQSinkOperator<T> extends StreamOperator<T, never> {
  private connection: ChannelModel | undefined
  private channel: ConfirmChannel | undefined
  private failure: unknown
  private closed = false
  private unconfirmed = 0
  private readonly settled: (() => void)[] = []

  constructor(
    private readonly sink: RMQSink<T>,
    private readonly schema: SerializationSchema<T>,
  ) {
    super()
  }

  override async open(): Promise<void> {
    const config = this.sink.connectionConfig
    this.connection = await connect(config.url(), { timeout: config.connectionTimeout, clientProperties: { connection_name: `tsflink-rmq-sink-${this.ctx.subtask}` } })
      .catch((e: unknown) => {
        throw new Error(`RMQSink: cannot connect to ${config.toString()}: ${(e as Error).message}`, { cause: e })
      })
    const fail = (e: unknown): void => {
      if (!this.closed) this.failure ??= e
      this.release()
    }
    this.connection.on('error', fail)
    this.connection.on('close', () => fail(new Error(`RMQSink: the connection to ${config.toString()} closed`)))
    this.channel = await this.connection.createConfirmChannel()
    this.channel.on('error', fail)
    if (this.sink.queueName !== undefined) await this.channel.assertQueue(this.sink.queueName, { durable: true, exclusive: false, autoDelete: false })
  }

  processElement(record: T): void {
    if (this.failure !== undefined) throw this.failure
    const o = this.sink.publishOptions
    const body = this.schema.serialize(record)
    const content = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
    const props: Options.Publish = { persistent: true, ...o.computeProperties?.(record) }
    const exchange = o.computeExchange?.(record) ?? ''
    const routingKey = o.computeRoutingKey?.(record) ?? this.sink.queueName!
    this.unconfirmed++
    this.channel!.publish(exchange, routingKey, content, props, (err) => {
      this.unconfirmed--
      if (err !== null && err !== undefined) this.failure ??= new Error(`RMQSink: the broker rejected a message for '${routingKey}'`, { cause: err })
      if (this.unconfirmed === 0) this.release()
    })
  }

  private release(): void {
    for (const r of this.settled.splice(0)) r()
  }

  /** Resolves when every message published so far is confirmed (or the channel failed). */
  private async confirmed(): Promise<void> {
    while (this.unconfirmed > 0 && this.failure === undefined) await new Promise<void>((r) => this.settled.push(r))
    if (this.failure !== undefined) throw this.failure
  }

  override processWatermark(): void {}

  override async snapshotStateAsync(_ctx: SnapshotContext): Promise<void> {
    await this.confirmed()
  }

  override async close(): Promise<void> {
    if (this.failure === undefined && this.unconfirmed > 0) await Promise.race([this.confirmed().catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())])
    this.closed = true
    await Promise.race([this.connection?.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())])
  }
}
