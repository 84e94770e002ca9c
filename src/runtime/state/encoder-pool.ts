/**
 * The snapshot encoder: encodes numeric column images (section-encoder.ts) on a thread of its own,
 * started on first use and kept unreferenced while idle, so that serializing a big heap snapshot
 * takes no time from the task's thread. Tables below `inlineBelow` slots are encoded inline: for
 * them a round trip costs more than the work; the thread starts once a snapshot has a quarter of
 * that, so jobs with small state never start it. A failed or exited encoder thread fails the
 * requests in flight (their checkpoints are declined) and the next request starts a new one
 * (core/request-thread.ts).
 * Tests: test/section-encoder.test.ts.
 */
import { RequestThread } from '../core/request-thread.js'
import { siblingModule } from '../core/worker-entry.js'
import type { NumericImage } from './numeric-columns.js'
import { encodeImages, type EncodedSections, type WrittenSections } from './section-encoder.js'

/** What the encoder thread is asked (section-encoder-worker.ts answers it). */
export interface EncodeRequest {
  images: NumericImage[]
  other?: EncodedSections
  /** Write the sections to this local file (durably) instead of answering with their bytes. */
  target?: string
}

export class SectionEncoder {
  private readonly thread = new RequestThread<EncodeRequest, EncodedSections | WrittenSections | undefined>(
    siblingModule('./section-encoder-worker', import.meta.url), 'tsflink-snapshot-encoder', 'the snapshot encoder', 'Encoding a snapshot failed',
  )

  constructor(readonly inlineBelow = 32_768) {}

  /**
   * Encodes `images` merged with `other` (sections the task serialized itself: they are
   * transferred, so the caller must not use `other.data` afterwards). The images are read in place
   * (shared memory): release them only once the returned promise has settled. With `target` (a
   * local file path, see Storage.durableLocalPath), a snapshot encoded on the thread is written
   * there by the thread, durably, as it is encoded: the answer says where, not what.
   */
  encode(images: NumericImage[], other?: EncodedSections): Promise<EncodedSections | undefined>
  encode(images: NumericImage[], other: EncodedSections | undefined, target: string | undefined): Promise<EncodedSections | WrittenSections | undefined>
  encode(images: NumericImage[], other?: EncodedSections, target?: string): Promise<EncodedSections | WrittenSections | undefined> {
    let slots = 0
    for (const im of images) slots += im.count
    if (slots === 0) return Promise.resolve(other)
    if (slots < this.inlineBelow) {
      // State on its way to needing the thread: start it now, so the first big snapshot does not wait for it.
      if (slots >= this.inlineBelow >> 2) this.thread.warm()
      return Promise.resolve(encodeImages(images, other))
    }
    // The images are shared memory (posted, not copied); the task's own sections are moved.
    const transfer: ArrayBuffer[] = []
    if (other !== undefined && other.data.byteOffset === 0 && other.data.byteLength === other.data.buffer.byteLength) transfer.push(other.data.buffer as ArrayBuffer)
    return this.thread.request({ images, ...(other === undefined ? {} : { other }), ...(target === undefined ? {} : { target }) }, transfer)
  }

  /**
   * Starts the encoder thread now (it stays unreferenced while idle), so that the first big
   * snapshot does not wait for the thread to load.
   */
  warm(): void {
    this.thread.warm()
  }

  /** Whether the encoder thread runs (started by a big snapshot or by `warm()`). */
  get started(): boolean {
    return this.thread.started
  }

  /** Stops the encoder thread; requests in flight fail. */
  close(): Promise<void> {
    return this.thread.close()
  }
}

/** The thread's shared encoder (one encoder thread per task slot, whatever its number of backends). */
export const sharedEncoder = new SectionEncoder()
