// A local S3-protocol server for tests: s3rver on 127.0.0.1 at a free port, with one bucket.
// Run it under `node --openssl-legacy-provider` (its request signing needs the legacy provider).
// Prints {"port": n} once it listens; stops on SIGTERM.
import S3rver from 's3rver'

const [directory, bucket] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] })
const { port } = await server.run()
process.stdout.write(`${JSON.stringify({ port })}\n`)
process.on('SIGTERM', () => server.close().then(() => process.exit(0)))
