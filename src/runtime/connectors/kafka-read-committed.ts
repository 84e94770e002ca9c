/**
 * Correct read_committed filtering for kafkajs 2.2.4 consumers. kafkajs drops the records of
 * aborted transactions with a filter that assumes the fetch response lists aborted transactions
 * by first offset and activates at most one per record; brokers list them in the order of their
 * abort markers. When transactions interleave in a partition and abort in another order than they
 * began (as when a restored job aborts what a failed attempt left open), kafkajs shows aborted
 * records to read_committed consumers. `fixReadCommitted()` filters each decoded fetch response
 * the way Kafka's Java consumer does (aborted transactions by first offset; a producer's records
 * are dropped from its aborted transaction's first offset up to its abort marker) and leaves
 * kafkajs nothing to filter. Dropped records are marked as control records, which kafkajs skips
 * but counts for the position. Idempotent; applies to every kafkajs consumer of this process.
 * Must not import the task or the CLI. Tests: test/integration/kafka-source.test.ts (read_committed).
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

interface DecodedMessage {
  offset: string
  key: Buffer | null
  isControlRecord?: boolean
  batchContext?: { producerId: string; inTransaction: boolean }
}

interface DecodedPartition {
  abortedTransactions?: { producerId: string; firstOffset: string }[] | null
  messages: DecodedMessage[]
}

const ABORT_MARKER = Buffer.from([0, 0, 0, 0])

/** Drops the records of aborted transactions from one partition of a fetch response (Java's algorithm). */
export function dropAborted(partition: DecodedPartition): void {
  const aborted = [...(partition.abortedTransactions ?? [])].sort((a, b) => (BigInt(a.firstOffset) < BigInt(b.firstOffset) ? -1 : BigInt(a.firstOffset) > BigInt(b.firstOffset) ? 1 : 0))
  if (aborted.length === 0) return
  const active = new Set<string>()
  let next = 0
  for (const m of partition.messages) {
    const offset = BigInt(m.offset)
    while (next < aborted.length && offset >= BigInt(aborted[next]!.firstOffset)) active.add(aborted[next++]!.producerId)
    const pid = m.batchContext?.producerId
    if (m.isControlRecord === true) {
      if (pid !== undefined && m.key !== null && Buffer.from(m.key).equals(ABORT_MARKER)) active.delete(pid)
      continue
    }
    // An aborted record is kept as a control record: kafkajs hands it to no one, but still moves
    // the position past it. Removed, a fetch of aborted records only (the abort marker beyond the
    // fetch size) would look empty, and kafkajs would fetch the same offset again forever.
    if (m.batchContext?.inTransaction === true && pid !== undefined && active.has(pid)) m.isControlRecord = true
  }
  partition.abortedTransactions = []
}

let fixed = false
export function fixReadCommitted(): void {
  if (fixed) return
  fixed = true
  // Fetch versions 4 and later carry aborted transactions.
  for (let v = 4; v <= 11; v++) {
    const response = require(`kafkajs/src/protocol/requests/fetch/v${v}/response.js`) as { decode: (raw: Buffer) => Promise<unknown> }
    const decode = response.decode
    response.decode = async (raw: Buffer) => {
      const data = (await decode(raw)) as { responses: { partitions: DecodedPartition[] }[] }
      for (const r of data.responses) for (const p of r.partitions) dropAborted(p)
      return data
    }
  }
}
