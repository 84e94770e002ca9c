// A local S3-protocol server for tests: s3rver on 127.0.0.1 at a free port, with one bucket.
// Run it under `node --openssl-legacy-provider` (its request signing needs the legacy provider).
// Prints {"port": n} once it listens; stops on SIGTERM.
// s3rver checks SigV4 streaming uploads (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, the AWS SDK for
// Java's default, which Flink's S3 file system uses) but would store their `aws-chunked` body as
// is: such bodies are decoded here first (chunk signatures are not checked).
import { Transform } from 'node:stream'
import S3rver from 's3rver'

/** Decodes `aws-chunked`: `<hex size>;chunk-signature=…\r\n<data>\r\n`, …, `0;…\r\n\r\n`. */
function awsChunkedDecoder() {
  let buf = Buffer.alloc(0)
  let remaining = 0
  let state = 'header'
  return new Transform({
    transform(chunk, _encoding, callback) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      for (;;) {
        if (state === 'header') {
          const eol = buf.indexOf('\r\n')
          if (eol < 0) break
          const size = parseInt(buf.subarray(0, eol).toString('latin1').split(';')[0], 16)
          buf = buf.subarray(eol + 2)
          if (!(size > 0)) { state = 'done'; continue }
          remaining = size
          state = 'data'
        } else if (state === 'data') {
          if (buf.length === 0) break
          const n = Math.min(remaining, buf.length)
          this.push(buf.subarray(0, n))
          buf = buf.subarray(n)
          remaining -= n
          if (remaining === 0) state = 'crlf'
        } else if (state === 'crlf') {
          if (buf.length < 2) break
          buf = buf.subarray(2)
          state = 'header'
        } else {
          buf = Buffer.alloc(0) // trailers after the last chunk
          break
        }
      }
      callback()
    },
  })
}

const [directory, bucket] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] })
server.middleware.unshift((ctx, next) => {
  const req = ctx.req
  if (req.headers['x-amz-content-sha256'] !== 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD') return next()
  const decoded = req.pipe(awsChunkedDecoder())
  req.on('error', (err) => decoded.destroy(err))
  for (const k of ['headers', 'rawHeaders', 'method', 'url', 'httpVersion', 'httpVersionMajor', 'httpVersionMinor', 'socket', 'connection', 'complete', 'trailers']) {
    Object.defineProperty(decoded, k, { get: () => req[k], configurable: true })
  }
  ctx.req = decoded
  ctx.request.req = decoded
  return next()
})
const { port } = await server.run()
process.stdout.write(`${JSON.stringify({ port })}\n`)
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
