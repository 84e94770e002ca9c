/**
 * kafkajs clients that can be closed for good. kafkajs reconnects for requests still retrying
 * after `disconnect()` (a consumer's fetch loop, an admin request, a producer's retries), which can
 * keep a finished job's process alive. Every socket a `KafkaClient` opens is tracked; `close()`
 * destroys them and any opened later, so a closed source or sink holds no connection.
 * Must not import the task or the CLI. Tests: test/integration/kafka-exactly-once.test.ts (the
 * CLI exits after a broker outage).
 */
import { connect, type Socket } from 'node:net'
import { Kafka, logLevel } from 'kafkajs'

export class KafkaClient {
  readonly kafka: Kafka
  private readonly sockets = new Set<Socket>()
  private closed = false

  constructor(brokers: string[], clientId: string) {
    this.kafka = new Kafka({
      brokers,
      clientId,
      logLevel: logLevel.NOTHING,
      socketFactory: ({ host, port, onConnect }) => {
        const socket = connect({ host, port }, onConnect)
        socket.setKeepAlive(true, 60_000)
        if (this.closed) {
          socket.destroy(new Error('Kafka client closed'))
        } else {
          this.sockets.add(socket)
          socket.once('close', () => this.sockets.delete(socket))
        }
        return socket
      },
    })
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Destroys every connection, now and from now on (after a graceful disconnect was tried). */
  close(): void {
    this.closed = true
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
  }
}
