/**
 * Plain kafkajs helpers for the Kafka tests: they write inputs and read outputs independently of
 * tsflink's own Kafka source and sink (which are what the tests check). Reading read_committed
 * uses the corrected aborted-transaction filter (kafkajs's own shows aborted records when
 * transactions abort out of order: see src/runtime/connectors/kafka-read-committed.ts).
 */
import { spawn } from 'node:child_process'
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

/** Polls `condition` every 50 ms until it holds; fails after `ms`, saying what did not happen. */
export async function waitFor(what: string, ms: number, condition: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms / 1000} s`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Runs the CLI (`bin/run.js`) to its end, killed with -9 and failing if it takes longer than `ms`. */
export function runCliWithin(cli: string, args: string[], env: NodeJS.ProcessEnv, ms: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tsflink ${args[0]} did not end within ${ms / 1000} s; its stderr:\n${stderr}`))
    }, ms)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr })
    })
  })
}

/** Runs a job (a StreamExecutionEnvironment) to its end; cancels it and fails if it takes longer than `ms`. */
export async function executeWithin<R>(
  env: { executeAsync(name: string): Promise<{ master: { cancel(): void }; result: Promise<R> }> },
  name: string,
  ms: number,
): Promise<R> {
  const { master, result } = await env.executeAsync(name)
  return settleWithin(master, result, ms, `job '${name}' ending`)
}

/** Waits for a running job's result; cancels the job and fails if it takes longer than `ms`. */
export async function settleWithin<R>(master: { cancel(): void }, result: Promise<R>, ms: number, what = 'the job ending'): Promise<R> {
  try {
    return await within(ms, what, result)
  } catch (e) {
    master.cancel()
    await within(20_000, 'the cancelled job ending', result).catch(() => {})
    throw e
  }
}

/** Rejects with "<what> did not happen within <n> s" if `p` has not settled by then (so no test waits forever). */
export function within<R>(ms: number, what: string, p: Promise<R>): Promise<R> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

export interface PartitionEnd {
  /** The high watermark: the end of the log, records of open and aborted transactions and markers included. */
  high: bigint
  /** The last stable offset: read_committed readers see nothing at or after it (the first open transaction's first record, or the high watermark). */
  stable: bigint
}

/**
 * The high watermark and the last stable offset of every partition of `topic` (ListOffsets with
 * isolation read_uncommitted and read_committed). After a transaction's commit returns, its markers
 * are written asynchronously: the last stable offset stays before its records a while longer.
 */
export async function partitionEnds(brokers: string[], topic: string): Promise<Map<number, PartitionEnd>> {
  const kafka = client(brokers)
  // kafkajs's admin asks for offsets read_committed only; a cluster of our own asks read_uncommitted.
  const create = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster')!
  type Cluster = {
    connect(): Promise<void>
    disconnect(): Promise<void>
    addTargetTopic(t: string): Promise<void>
    refreshMetadata(): Promise<void>
    findTopicPartitionMetadata(t: string): { partitionId: number }[]
    fetchTopicsOffset(t: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[]): Promise<{ partitions: { partition: number; offset: string }[] }[]>
  }
  const clusterWith = (isolationLevel: number): Cluster =>
    (kafka as unknown as Record<symbol, (a: object) => Cluster>)[create]!({ allowAutoTopicCreation: false, isolationLevel })
  const [uncommitted, committed] = [clusterWith(0), clusterWith(1)]
  try {
    const ends = new Map<number, PartitionEnd>()
    for (const [cluster, field] of [[uncommitted, 'high'], [committed, 'stable']] as const) {
      await cluster.connect()
      await cluster.addTargetTopic(topic)
      await cluster.refreshMetadata()
      const partitions = cluster.findTopicPartitionMetadata(topic).map((p) => ({ partition: p.partitionId }))
      const [offsets] = await cluster.fetchTopicsOffset([{ topic, fromBeginning: false, partitions }])
      for (const o of offsets!.partitions) {
        const e = ends.get(o.partition) ?? { high: 0n, stable: 0n }
        e[field] = BigInt(o.offset)
        ends.set(o.partition, e)
      }
    }
    return ends
  } finally {
    await uncommitted.disconnect().catch(() => {})
    await committed.disconnect().catch(() => {})
  }
}

/**
 * Waits until every transaction written to `topic` is decided and its markers are in the log (last
 * stable offset = high watermark everywhere): a commit returns before its markers are written, and
 * `OffsetsInitializer.latest()` of a read_committed reader is the last stable offset.
 */
export async function waitSettled(brokers: string[], topic: string, ms = 30_000): Promise<void> {
  await waitFor(`the transactions of ${topic} settling`, ms, async () => [...(await partitionEnds(brokers, topic)).values()].every((e) => e.stable === e.high))
}

/**
 * Every record value of `topic`, as a consumer with the given isolation sees it (read_committed by
 * default), up to `upTo`:
 * - 'end' (the default): the high watermark now. Read read_committed, this waits until every
 *   transaction in the log is decided and its markers are written (a commit that just returned
 *   becomes visible a moment later), so what is read is final: committed records, never aborted
 *   ones. Fails after `timeoutMs` if a transaction stays open (naming where it holds readers back).
 * - 'stable': what read_committed readers may see at this moment (the last stable offset now),
 *   for a look at a topic while transactions are open.
 */
export async function readTopic(brokers: string[], topic: string, opts: { readCommitted?: boolean; upTo?: 'end' | 'stable'; timeoutMs?: number } = {}): Promise<string[]> {
  fixReadCommitted()
  const timeoutMs = opts.timeoutMs ?? 30_000
  const readCommitted = opts.readCommitted !== false
  const at = await within(timeoutMs, `reading the offsets of ${topic}`, partitionEnds(brokers, topic))
  const ends = new Map([...at].map(([p, e]) => [p, opts.upTo === 'stable' && readCommitted ? e.stable : e.high]))
  /** Per partition, the next offset to read. */
  const position = new Map([...ends.keys()].map((p) => [p, 0n]))
  const done = (): boolean => [...ends].every(([p, end]) => position.get(p)! >= end)
  const values: string[] = []
  if (done()) return values
  const consumer = client(brokers).consumer({ groupId: `test-reader-${Math.random().toString(16).slice(2)}`, readUncommitted: !readCommitted, maxWaitTimeInMs: 100 })
  try {
    await within(timeoutMs, `a reader of ${topic} connecting`, (async () => {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
    })())
    let finished!: () => void
    const reached = new Promise<void>((r) => (finished = r))
    // Emitted after each batch, also one with control records or aborted records only (which kafkajs
    // does not hand to eachBatch): its last offset is how far the reader got.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.firstOffset === null) return
      position.set(payload.partition, BigInt(payload.lastOffset) + 1n)
      if (done()) finished()
    })
    const crashed = new Promise<never>((_, reject) => consumer.on(consumer.events.CRASH, ({ payload }) => void (payload.restart ? undefined : reject(payload.error))))
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) if (BigInt(m.offset) < ends.get(batch.partition)!) values.push(m.value === null ? '' : m.value.toString())
      },
    })
    try {
      await within(timeoutMs, `reading ${topic} to its end`, Promise.race([reached, crashed]))
    } catch (e) {
      const now = await partitionEnds(brokers, topic).catch(() => undefined)
      const stuck = [...ends].filter(([p, end]) => position.get(p)! < end).map(([p, end]) => {
        const e2 = now?.get(p)
        const open = e2 !== undefined && e2.stable < end ? ` (last stable offset ${e2.stable}: a transaction is still open)` : ''
        return `partition ${p} at ${position.get(p)} of ${end}${open}`
      })
      throw new Error(`${(e as Error).message}: ${stuck.join('; ')}`, { cause: e })
    }
  } finally {
    await within(10_000, `a reader of ${topic} disconnecting`, consumer.disconnect()).catch(() => {})
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
