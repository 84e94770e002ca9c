/**
 * The compaction thread of the LSM backends: one worker thread per thread that runs LSM backends
 * (a shared pool of one), started with the first backend that compacts and stopped a moment after
 * the last one is disposed. Merges are posted to it by file path (merge.ts) and run there, so that
 * processing never waits for them; the backend installs the result when it arrives. The worker
 * runs compaction-worker.ts: the compiled `.js` next to this module, or, when this module itself
 * runs from TypeScript sources (tsx), the `.ts` file with tsx registered first in the worker.
 * The worker holds the event loop open only while a merge is in flight.
 * Must not import the task, the checkpoint coordinator or the CLI. Tests: test/lsm-compaction.test.ts.
 */
import { Worker } from 'node:worker_threads'
import type { CompactionReply } from './compaction-worker.js'
import type { MergeOutput, MergeRequest } from './merge.js'

/**
 * The compaction thread's heap limit: a merge holds a block (32 entries) per input and one output
 * block; a merge of values too large for it fails with ERR_WORKER_OUT_OF_MEMORY and the backend
 * runs it on its own thread. TSFLINK_LSM_COMPACTION_HEAP_MB overrides it (tests).
 */
const WORKER_HEAP_MB = Number(process.env.TSFLINK_LSM_COMPACTION_HEAP_MB ?? 64)

let worker: Worker | undefined
let users = 0
let nextId = 0
let stopTimer: NodeJS.Timeout | undefined
const pending = new Map<number, { resolve: (o: MergeResult) => void; reject: (e: Error) => void }>()

/** The tables a merge wrote, and the thread it ran on. */
export interface MergeResult {
  outputs: MergeOutput[]
  threadId: number
}

function entry(): { entry: URL | string; evaluate: boolean } {
  const ts = new URL(import.meta.url).pathname.endsWith('.ts')
  const main = new URL(ts ? './compaction-worker.ts' : './compaction-worker.js', import.meta.url)
  if (!ts) return { entry: main, evaluate: false }
  const tsx = import.meta.resolve('tsx/esm/api')
  return { entry: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(main.href)}) })`, evaluate: true }
}

function failAll(err: Error): void {
  const all = [...pending.values()]
  pending.clear()
  for (const p of all) p.reject(err)
}

function start(): Worker {
  const { entry: e, evaluate } = entry()
  // No flags of this process (--input-type, --import …): the worker runs only this package's code.
  const w = new Worker(e, { eval: evaluate, execArgv: [], name: 'tsflink-lsm-compaction', resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB }, stdout: false, stderr: false })
  w.unref()
  w.on('message', (m: CompactionReply) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (pending.size === 0) w.unref()
    if (m.ok) p.resolve({ outputs: m.outputs, threadId: m.threadId })
    else p.reject(new Error(m.message))
  })
  w.on('error', (err) => {
    if (worker === w) worker = undefined
    // A merge whose blocks did not fit the thread's heap keeps the code: the backend runs it itself.
    failAll(Object.assign(new Error(`The LSM compaction thread failed: ${err.message}`, { cause: err }), { code: (err as { code?: unknown }).code }))
  })
  w.on('exit', (code) => {
    if (worker === w) worker = undefined
    if (pending.size > 0) failAll(new Error(`The LSM compaction thread exited with code ${code}`))
  })
  return w
}

/** A backend's hold on the compaction thread; `release()` when the backend is disposed. */
export function acquireCompactionThread(): { merge(req: MergeRequest): Promise<MergeResult>; release(): void } {
  users++
  if (stopTimer !== undefined) {
    clearTimeout(stopTimer)
    stopTimer = undefined
  }
  let released = false
  return {
    merge(req: MergeRequest): Promise<MergeResult> {
      worker ??= start()
      const w = worker
      const id = nextId++
      return new Promise<MergeResult>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        w.ref()
        w.postMessage({ id, req })
      })
    },
    release(): void {
      if (released) return
      released = true
      if (--users > 0) return
      stopTimer = setTimeout(() => {
        stopTimer = undefined
        if (users === 0 && pending.size === 0) {
          const w = worker
          worker = undefined
          void w?.terminate()
        }
      }, 1000)
      stopTimer.unref()
    },
  }
}
