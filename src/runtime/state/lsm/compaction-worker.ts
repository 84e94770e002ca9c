/**
 * The entry module of the LSM compaction thread (started by compaction-pool.ts, one per thread
 * that runs LSM backends): runs merges (merge.ts) one at a time, reading input tables and writing
 * output tables by file path, and answers each request with the tables written or the error.
 * Unlike other modules it acts when loaded, as a worker's main module must: it serves its parent
 * port. Must not import the task, the checkpoint coordinator or the CLI.
 * Tests: test/lsm-compaction.test.ts.
 */
import { parentPort, threadId } from 'node:worker_threads'
import { runMerge, type MergeOutput, type MergeRequest } from './merge.js'

export type CompactionReply =
  | { id: number; ok: true; outputs: MergeOutput[]; threadId: number }
  | { id: number; ok: false; message: string }

const port = parentPort
if (port !== null) {
  port.on('message', (m: { id: number; req: MergeRequest }) => {
    let reply: CompactionReply
    try {
      reply = { id: m.id, ok: true, outputs: runMerge(m.req), threadId }
    } catch (e) {
      reply = { id: m.id, ok: false, message: e instanceof Error ? e.message : String(e) }
    }
    port.postMessage(reply)
  })
}
