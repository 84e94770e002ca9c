/**
 * The durable writer thread's entry: performs durable local writes with synchronous system calls
 * (durable-write.ts) and answers when they are on stable storage. Started by durable-writer.ts; a
 * worker entry is the one kind of module that acts when loaded. Tests: test/durable-write.test.ts.
 */
import { serveRequests } from '../core/request-thread.js'
import { NODE_FS_OPS, writeDurablySync } from './durable-write.js'
import type { WriteRequest } from './durable-writer.js'

serveRequests((m: WriteRequest) => {
  writeDurablySync(NODE_FS_OPS, m.location, m.data, m.atomic)
  return { result: undefined }
})
