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
import { serveRequests } from '../core/request-thread.js'
import type { EncodeRequest } from './encoder-pool.js'
import { encodeImages, encodeImagesToFile, type EncodedSections, type WrittenSections } from './section-encoder.js'

setFlagsFromString('--expose-gc')
const collect = runInNewContext('gc') as () => void
setFlagsFromString('--no-expose-gc')

serveRequests<EncodeRequest, EncodedSections | WrittenSections | undefined>((m) => {
  if (m.target !== undefined) return { result: encodeImagesToFile(m.images, m.other, m.target) }
  const result = encodeImages(m.images, m.other)
  return { result, transfer: result === undefined ? [] : [result.data.buffer as ArrayBuffer] }
}, collect)
