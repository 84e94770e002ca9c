/**
 * The snapshot encoder thread's entry: encodes numeric column images (section-encoder.ts) off the
 * task's thread and sends the bytes back, transferred. Started by encoder-pool.ts; a worker entry
 * is the one kind of module that acts when loaded.
 * Tests: test/section-encoder.test.ts.
 */
import { parentPort } from 'node:worker_threads'
import type { NumericImage } from './numeric-columns.js'
import { encodeImages, type EncodedSections } from './section-encoder.js'

parentPort?.on('message', (m: { id: number; images: NumericImage[]; other?: EncodedSections }) => {
  try {
    const r = encodeImages(m.images, m.other)
    parentPort!.postMessage({ id: m.id, result: r }, r === undefined ? [] : [r.data.buffer as ArrayBuffer])
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) })
  }
})
