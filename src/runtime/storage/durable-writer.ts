/**
 * Durable local writes on a thread of their own (durable-writer-worker.ts): FsStorage hands its
 * small writes here, so a task thread busy with records, or the JobMaster, waits one message round
 * trip for a state file or `_metadata` to be on stable storage, not one event-loop turn per system
 * call. One thread per thread that asks (each task slot, the JobMaster), started on first use and
 * unreferenced while idle (core/request-thread.ts).
 * Tests: test/durable-write.test.ts.
 */
import { RequestThread } from '../core/request-thread.js'
import { siblingModule } from '../core/worker-entry.js'

/** What the writer thread is asked. */
export interface WriteRequest {
  location: string
  data: Uint8Array
  atomic: boolean
}

export class DurableWriter {
  private readonly thread = new RequestThread<WriteRequest, undefined>(
    siblingModule('./durable-writer-worker', import.meta.url), 'tsflink-durable-writer', 'the durable writer', 'Writing a file failed',
  )
  /** Writes asked so far (tests check which writes went through the thread). */
  requests = 0

  /** Writes `data` to `location` and fsyncs it and its folders; `atomic`: via a temporary sibling renamed over it. The data is copied. */
  async write(location: string, data: Uint8Array, atomic: boolean): Promise<void> {
    this.requests++
    await this.thread.request({ location, data, atomic })
  }

  /** Whether the thread has loaded: until then, FsStorage writes itself rather than wait for it. */
  get ready(): boolean {
    return this.thread.ready
  }

  /** Starts the thread now (a job with checkpoints does this as it deploys), so the first checkpoint does not wait for it. */
  warm(): void {
    this.thread.warm()
  }

  close(): Promise<void> {
    return this.thread.close()
  }
}

/**
 * The thread's shared writer, kept on the thread's global object: a task slot holds two copies of
 * the runtime's modules (its own, and the one the program imported), and both must share one
 * writer thread, the one warmed as the job deploys.
 */
export const sharedDurableWriter: DurableWriter = ((globalThis as Record<symbol, unknown>)[Symbol.for('tsflink.durable-writer')] ??= new DurableWriter()) as DurableWriter
