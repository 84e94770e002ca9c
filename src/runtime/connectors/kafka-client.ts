/**
 * kafkajs clients that can be closed for good. kafkajs reconnects for requests still retrying
 * after `disconnect()` (a consumer's fetch loop, an admin request, a producer's retries), which can
 * keep a finished job's process alive. Every socket a `KafkaClient` opens is tracked; `close()`
 * destroys them and any opened later, so a closed source or sink holds no connection.
 * `commitGroupOffsets` commits a consumer group's offsets with one OffsetCommit request, as Flink's
 * source does (kafkajs's admin.setOffsets joins the group as a consumer instead, and never returns
 * when another member holds the partitions).
 * Must not import the task or the CLI. Tests: test/integration/kafka-exactly-once.test.ts (the
 * CLI exits after a broker outage), test/integration/kafka-source.test.ts (group offsets).
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

  private cluster: GroupCluster | undefined
  private connected: Promise<void> | undefined

  /**
   * Commits `offsets` (the next offset to read, per partition) to consumer group `groupId`: one
   * OffsetCommit to the group's coordinator, as a client outside the group (generation -1), which
   * the broker accepts while the group has no active members. Throws on any error (the caller
   * decides whether it matters); never waits longer than kafkajs's request timeout and retries.
   */
  async commitGroupOffsets(groupId: string, offsets: { topic: string; partitions: { partition: number; offset: string }[] }[]): Promise<void> {
    if (this.closed) throw new Error('Kafka client closed')
    if (this.cluster === undefined) {
      // kafkajs builds clusters through a private method of its client; we use it for our own.
      const create = Object.getOwnPropertySymbols(this.kafka).find((s) => s.description === 'private:Kafka:createCluster')
      if (create === undefined) throw new Error('kafkajs internals changed: no createCluster (tsflink needs kafkajs 2.2.x)')
      this.cluster = (this.kafka as unknown as Record<symbol, (a: object) => GroupCluster>)[create]!({ allowAutoTopicCreation: false })
    }
    const cluster = this.cluster
    try {
      await (this.connected ??= cluster.connect())
    } catch (e) {
      this.connected = undefined
      throw e
    }
    await cluster.refreshMetadataIfNecessary()
    const coordinator = await cluster.findGroupCoordinator({ groupId, coordinatorType: 0 })
    await coordinator.offsetCommit({ groupId, groupGenerationId: -1, memberId: '', retentionTime: -1, topics: offsets })
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Destroys every connection, now and from now on (after a graceful disconnect was tried). */
  close(): void {
    this.closed = true
    void this.cluster?.disconnect().catch(() => {})
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
  }
}

/** The part of kafkajs's cluster (and broker) that committing group offsets uses. */
interface GroupCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  refreshMetadataIfNecessary(): Promise<void>
  findGroupCoordinator(a: { groupId: string; coordinatorType: number }): Promise<{
    offsetCommit(a: { groupId: string; groupGenerationId: number; memberId: string; retentionTime: number; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<unknown>
  }>
}
