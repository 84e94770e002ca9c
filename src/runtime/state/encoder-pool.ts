/**
 * The snapshot encoder: encodes numeric column images (section-encoder.ts) on a thread of its own,
 * started on first use and kept unreferenced while idle, so that serializing a big heap snapshot
 * takes no time from the task's thread. Tables below `inlineBelow` slots are encoded inline: for
 * them a round trip costs more than the work. A failed or exited encoder thread fails the requests
 * in flight (their checkpoints are declined) and the next request starts a new one.
 * Tests: test/section-encoder.test.ts.
 */
import { Worker } from 'node:worker_threads'
import { siblingModule, workerEntry } from '../core/worker-entry.js'
import type { NumericImage } from './numeric-columns.js'
import { encodeImages, type EncodedSections } from './section-encoder.js'

interface Pending {
  resolve(r: EncodedSections | undefined): void
  reject(e: Error): void
}

type Reply = { id: number; result?: EncodedSections; error?: string }

export class SectionEncoder {
  private worker: Worker | undefined
  private nextId = 1
  private readonly pending = new Map<number, Pending>()

  constructor(readonly inlineBelow = 32_768) {}

  /**
   * Encodes `images` merged with `other` (sections the task serialized itself: they are
   * transferred, so the caller must not use `other.data` afterwards). The images are read in place
   * (shared memory): release them only once the returned promise has settled.
   */
  encode(images: NumericImage[], other?: EncodedSections): Promise<EncodedSections | undefined> {
    let slots = 0
    for (const im of images) slots += im.count
    if (slots === 0) return Promise.resolve(other)
    if (slots < this.inlineBelow) return Promise.resolve(encodeImages(images, other))
    const worker = this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      if (this.pending.size === 1) worker.ref()
      // The images are shared memory (posted, not copied); the task's own sections are moved.
      const transfer: ArrayBuffer[] = []
      if (other !== undefined && other.data.byteOffset === 0 && other.data.byteLength === other.data.buffer.byteLength) transfer.push(other.data.buffer as ArrayBuffer)
      worker.postMessage({ id, images, other }, transfer)
    })
  }

  /**
   * Starts the encoder thread now (it stays unreferenced while idle), so that the first big
   * snapshot does not wait for the thread to load.
   */
  warm(): void {
    this.start()
  }

  /** Stops the encoder thread; requests in flight fail. */
  async close(): Promise<void> {
    const w = this.worker
    this.worker = undefined
    this.failAll(new Error('The snapshot encoder was closed'))
    if (w !== undefined) await w.terminate()
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker
    const { entry, evaluate } = workerEntry(siblingModule('./section-encoder-worker', import.meta.url))
    const worker = new Worker(entry, { eval: evaluate, name: 'tsflink-snapshot-encoder' })
    worker.unref()
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) worker.unref()
      if (m.error !== undefined) p.reject(new Error(`Encoding a snapshot failed: ${m.error}`))
      else p.resolve(m.result)
    })
    const lost = (err: Error): void => {
      if (this.worker !== worker) return
      this.worker = undefined
      this.failAll(err)
    }
    worker.on('error', (e) => lost(new Error(`The snapshot encoder thread failed: ${e.message}`)))
    worker.on('exit', (code) => lost(new Error(`The snapshot encoder thread exited with code ${code}`)))
    this.worker = worker
    return worker
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()]
    this.pending.clear()
    for (const p of all) p.reject(err)
  }
}

/** The thread's shared encoder (one encoder thread per task slot, whatever its number of backends). */
export const sharedEncoder = new SectionEncoder()
