/**
 * kafkajs clients that can be closed for good. kafkajs reconnects for requests still retrying
 * after `disconnect()` (a consumer's fetch loop, an admin request, a producer's retries), which can
 * keep a finished job's process alive. Every socket a `KafkaClient` opens is tracked; `close()`
 * destroys them and any opened later, so a closed source or sink holds no connection.
 * `commitGroupOffsets` commits a consumer group's offsets with one OffsetCommit request, as Flink's
 * source does (kafkajs's admin.setOffsets joins the group as a consumer instead, and never returns
 * when another member holds the partitions). `listOffsets` asks for offsets at an isolation level
 * (kafkajs's admin always asks read_committed: its "latest" is the last stable offset even for a
 * read_uncommitted reader).
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

  /** kafkajs clusters of our own, per isolation level (0 read_uncommitted, 1 read_committed), connected once. */
  private readonly clusters = new Map<number, { cluster: GroupCluster; connected: Promise<void> | undefined }>()

  private async clusterFor(isolationLevel: 0 | 1): Promise<GroupCluster> {
    if (this.closed) throw new Error('Kafka client closed')
    let c = this.clusters.get(isolationLevel)
    if (c === undefined) {
      // kafkajs builds clusters through a private method of its client; we use it for our own.
      const create = Object.getOwnPropertySymbols(this.kafka).find((s) => s.description === 'private:Kafka:createCluster')
      if (create === undefined) throw new Error('kafkajs internals changed: no createCluster (tsflink needs kafkajs 2.2.x)')
      const cluster = (this.kafka as unknown as Record<symbol, (a: object) => GroupCluster>)[create]!({ allowAutoTopicCreation: false, isolationLevel })
      this.clusters.set(isolationLevel, (c = { cluster, connected: undefined }))
    }
    try {
      await (c.connected ??= c.cluster.connect())
    } catch (e) {
      c.connected = undefined
      throw e
    }
    return c.cluster
  }

  /**
   * The offset of every partition of `topic` for a ListOffsets `at`: -2 the log start, -1 the end
   * (the high watermark for read_uncommitted, the last stable offset for read_committed), or a
   * timestamp (the first offset at or after it below that end, '-1' where there is none). Retries
   * what a moving leader or a briefly absent broker fails, a few times.
   */
  async listOffsets(topic: string, at: number, readCommitted: boolean): Promise<Map<number, string>> {
    for (let attempt = 1; ; attempt++) {
      try {
        const cluster = await this.clusterFor(readCommitted ? 1 : 0)
        await cluster.addTargetTopic(topic)
        await cluster.refreshMetadataIfNecessary()
        const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId }))
        const [result] = await cluster.fetchTopicsOffset([{ topic, fromTimestamp: at, partitions }])
        return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]))
      } catch (e) {
        if (this.closed || attempt >= 5 || (e as { retriable?: boolean }).retriable === false) throw e
        await new Promise((r) => setTimeout(r, 300 * attempt))
        await this.clusters.get(readCommitted ? 1 : 0)?.cluster.refreshMetadata().catch(() => {})
      }
    }
  }

  /**
   * Commits `offsets` (the next offset to read, per partition) to consumer group `groupId`: one
   * OffsetCommit to the group's coordinator, as a client outside the group (generation -1), which
   * the broker accepts while the group has no active members. Throws on any error (the caller
   * decides whether it matters); never waits longer than kafkajs's request timeout and retries.
   */
  async commitGroupOffsets(groupId: string, offsets: { topic: string; partitions: { partition: number; offset: string }[] }[]): Promise<void> {
    const cluster = await this.clusterFor(1)
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
    for (const c of this.clusters.values()) void c.cluster.disconnect().catch(() => {})
    // With an error: kafkajs listens for a socket's 'error' and 'end' only, not 'close'. A socket
    // destroyed without one stays "connected" to kafkajs, whose request queue then keeps a 100 ms
    // interval running for good: the process never exits on its own.
    for (const s of this.sockets) s.destroy(new Error('Kafka client closed'))
    this.sockets.clear()
  }
}

/** The part of kafkajs's cluster (and broker) that committing group offsets and listing offsets use. */
interface GroupCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  refreshMetadataIfNecessary(): Promise<void>
  refreshMetadata(): Promise<void>
  addTargetTopic(topic: string): Promise<void>
  findTopicPartitionMetadata(topic: string): { partitionId: number }[]
  fetchTopicsOffset(topics: { topic: string; fromTimestamp: number; partitions: { partition: number }[] }[]): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>
  findGroupCoordinator(a: { groupId: string; coordinatorType: number }): Promise<{
    offsetCommit(a: { groupId: string; groupGenerationId: number; memberId: string; retentionTime: number; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<unknown>
  }>
}
