/**
 * The snapshot encoder thread's entry: encodes numeric column images (section-encoder.ts) off the
 * task's thread and sends the bytes back, transferred. Started by encoder-pool.ts; a worker entry
 * is the one kind of module that acts when loaded.
 *
 * After each request the thread collects its garbage at once: a request leaves tens of MB of
 * buffers behind (the key-group order, the serialized sections), which would otherwise wait for
 * the next full collection of an isolate that hardly allocates between requests. `gc` is taken
 * from V8 for this thread only (the flag is switched off again right after).
 * Tests: test/section-encoder.test.ts.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { parentPort } from 'node:worker_threads'
import type { NumericImage } from './numeric-columns.js'
import { encodeImages, type EncodedSections } from './section-encoder.js'

setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void
setFlagsFromString('--no-expose-gc')

parentPort?.on('message', (m: { id: number; images: NumericImage[]; other?: EncodedSections }) => {
  try {
    const r = encodeImages(m.images, m.other)
    parentPort!.postMessage({ id: m.id, result: r }, r === undefined ? [] : [r.data.buffer as ArrayBuffer])
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) })
  }
  setImmediate(collect)
})
