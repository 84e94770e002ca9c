/**
 * RabbitMQ connection settings like Flink's RMQConnectionConfig (host, port, virtual host, user,
 * password, prefetch count, or a URI), and the (de)serialization schemas the RMQ source and sink
 * take. Imports nothing of the runtime; never imports the CLI.
 * Tests: test/integration/rabbitmq.test.ts.
 */

/** Turns a message body into a record (Flink's DeserializationSchema). */
export interface DeserializationSchema<T> {
  deserialize(message: Buffer): T
  /** True for the record that ends the stream: it is not emitted, and the source finishes. */
  isEndOfStream?(nextElement: T): boolean
}

/** Turns a record into a message body (Flink's SerializationSchema). */
export interface SerializationSchema<T> {
  serialize(element: T): Buffer | string
}

/** UTF-8 text both ways (Flink's SimpleStringSchema). */
export class SimpleStringSchema implements DeserializationSchema<string>, SerializationSchema<string> {
  deserialize(message: Buffer): string {
    return message.toString('utf8')
  }
  serialize(element: string): Buffer {
    return Buffer.from(element, 'utf8')
  }
  isEndOfStream(): boolean {
    return false
  }
}

export interface RMQConnectionSettings {
  readonly host: string
  readonly port: number
  readonly virtualHost: string
  readonly userName: string
  readonly password: string
  /** Unacknowledged deliveries a consumer may hold (basic.qos); undefined: no limit. */
  readonly prefetchCount: number | undefined
  /** Heartbeat in seconds; undefined: the server's. */
  readonly requestedHeartbeat: number | undefined
  /** TCP connect timeout in ms. */
  readonly connectionTimeout: number
  readonly uri: string | undefined
}

class RMQConnectionConfigBuilder {
  private host: string | undefined
  private port: number | undefined
  private virtualHost = '/'
  private userName = 'guest'
  private password = 'guest'
  private prefetchCount: number | undefined
  private requestedHeartbeat: number | undefined
  private connectionTimeout = 60_000
  private uri: string | undefined

  setHost(host: string): this {
    this.host = host
    return this
  }

  setPort(port: number): this {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`RMQConnectionConfig: the port must be 1..65535, not ${port}`)
    this.port = port
    return this
  }

  setVirtualHost(virtualHost: string): this {
    this.virtualHost = virtualHost
    return this
  }

  setUserName(userName: string): this {
    this.userName = userName
    return this
  }

  setPassword(password: string): this {
    this.password = password
    return this
  }

  /** `amqp://user:password@host:port/vhost`, instead of host, port, virtual host, user and password. */
  setUri(uri: string): this {
    if (!/^amqps?:\/\//.test(uri)) throw new Error(`RMQConnectionConfig: the URI must start with amqp:// or amqps://, not '${uri}'`)
    this.uri = uri
    return this
  }

  /** At most this many unacknowledged deliveries per consumer (RabbitMQ's basic.qos prefetch count). */
  setPrefetchCount(prefetchCount: number): this {
    if (!Number.isInteger(prefetchCount) || prefetchCount < 1 || prefetchCount > 65535) throw new Error(`RMQConnectionConfig: the prefetch count must be 1..65535, not ${prefetchCount}`)
    this.prefetchCount = prefetchCount
    return this
  }

  setRequestedHeartbeat(seconds: number): this {
    this.requestedHeartbeat = seconds
    return this
  }

  setConnectionTimeout(ms: number): this {
    this.connectionTimeout = ms
    return this
  }

  build(): RMQConnectionConfig {
    if (this.uri === undefined && (this.host === undefined || this.port === undefined)) {
      throw new Error('RMQConnectionConfig: setHost and setPort (or setUri) are required')
    }
    return new RMQConnectionConfig({
      host: this.host ?? '', port: this.port ?? 5672, virtualHost: this.virtualHost, userName: this.userName, password: this.password,
      prefetchCount: this.prefetchCount, requestedHeartbeat: this.requestedHeartbeat, connectionTimeout: this.connectionTimeout, uri: this.uri,
    })
  }
}

/** How to reach a RabbitMQ broker: `new RMQConnectionConfig.Builder().setHost(...).setPort(...).build()`. */
export class RMQConnectionConfig implements RMQConnectionSettings {
  static readonly Builder = RMQConnectionConfigBuilder
  readonly host: string
  readonly port: number
  readonly virtualHost: string
  readonly userName: string
  readonly password: string
  readonly prefetchCount: number | undefined
  readonly requestedHeartbeat: number | undefined
  readonly connectionTimeout: number
  readonly uri: string | undefined

  constructor(s: RMQConnectionSettings) {
    this.host = s.host
    this.port = s.port
    this.virtualHost = s.virtualHost
    this.userName = s.userName
    this.password = s.password
    this.prefetchCount = s.prefetchCount
    this.requestedHeartbeat = s.requestedHeartbeat
    this.connectionTimeout = s.connectionTimeout
    this.uri = s.uri
  }

  /** The AMQP URL amqplib connects to. */
  url(): string {
    if (this.uri !== undefined) return this.uri
    const e = encodeURIComponent
    const heartbeat = this.requestedHeartbeat === undefined ? '' : `?heartbeat=${this.requestedHeartbeat}`
    return `amqp://${e(this.userName)}:${e(this.password)}@${this.host}:${this.port}/${e(this.virtualHost)}${heartbeat}`
  }

  /** For messages: the broker without the password. */
  toString(): string {
    return this.uri !== undefined ? this.uri.replace(/:[^:@/]*@/, ':***@') : `amqp://${this.userName}@${this.host}:${this.port}/${this.virtualHost}`
  }
}
