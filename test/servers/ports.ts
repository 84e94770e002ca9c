/**
 * A free TCP port on 127.0.0.1 for a test server to listen on (the OS picks one, the probe closes
 * it again). Used by every harness in test/servers/.
 */
import { createServer } from 'node:net'

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer()
    srv.once('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => ok(port))
    })
  })
}
