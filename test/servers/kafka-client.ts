/**
 * Plain kafkajs helpers for the Kafka tests: they write inputs and read outputs independently of
 * tsflink's own Kafka source and sink (which are what the tests check). Reading read_committed
 * uses the corrected aborted-transaction filter (kafkajs's own shows aborted records when
 * transactions abort out of order: see src/runtime/connectors/kafka-read-committed.ts).
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { fixReadCommitted } from '../../src/runtime/connectors/kafka-read-committed.js'

const client = (brokers: string[]): Kafka => new Kafka({ brokers, logLevel: logLevel.NOTHING })

/** Writes `values` (key: value mod 13), in order, 1000 per request. */
export async function produce(brokers: string[], topic: string, values: (number | string)[], partition?: number): Promise<void> {
  const producer = client(brokers).producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    for (let i = 0; i < values.length; i += 1000) {
      await producer.send({
        topic,
        messages: values.slice(i, i + 1000).map((v) => ({ key: String(Number(v) % 13), value: String(v), ...(partition === undefined ? {} : { partition }) })),
      })
    }
  } finally {
    await producer.disconnect()
  }
}

/**
 * Every record value of `topic` up to its current end, as a consumer with the given isolation
 * sees it (read_committed by default). Fails if the end is not reached within `timeoutMs` (e.g. a
 * transaction that stays open holds read_committed readers back).
 */
export async function readTopic(brokers: string[], topic: string, opts: { readCommitted?: boolean; timeoutMs?: number } = {}): Promise<string[]> {
  fixReadCommitted()
  const kafka = client(brokers)
  const admin = kafka.admin()
  await admin.connect()
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]))
  await admin.disconnect()
  const done = new Map([...ends].filter(([, high]) => high === 0n).map(([p]) => [p, true]))
  const values: string[] = []
  if (done.size === ends.size) return values
  const consumer = kafka.consumer({ groupId: `test-reader-${Math.random().toString(16).slice(2)}`, readUncommitted: opts.readCommitted === false, maxWaitTimeInMs: 100 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic}: the end was not reached in time (partitions done: ${[...done.keys()].join(',')} of ${ends.size})`)), opts.timeoutMs ?? 30_000)
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) if (BigInt(m.offset) < ends.get(batch.partition)!) values.push(m.value === null ? '' : m.value.toString())
          if (BigInt(batch.lastOffset()) + 1n >= ends.get(batch.partition)!) done.set(batch.partition, true)
          if (done.size === ends.size) {
            clearTimeout(timer)
            resolve()
          }
        },
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return values
}

/** The newest completed checkpoint (`chk-n` with `_metadata`) under a checkpoint root, if any. */
export function latestCheckpoint(root: string): string | undefined {
  if (!existsSync(root)) return undefined
  let best: [number, string] | undefined
  for (const job of readdirSync(root, { withFileTypes: true })) {
    if (!job.isDirectory()) continue
    for (const c of readdirSync(join(root, job.name))) {
      const n = Number(c.slice(4))
      if (c.startsWith('chk-') && existsSync(join(root, job.name, c, '_metadata')) && (best === undefined || n > best[0])) best = [n, join(root, job.name, c)]
    }
  }
  return best?.[1]
}
