/**
 * Who is asking: the REST API's credentials. A job's secret is 32 random bytes that only its
 * registry entry (readable by the job's user alone) holds; clients present it as
 * `Authorization: Bearer <secret>`. For loopback connections the kernel's socket table tells which
 * local user opened the connection (Linux: /proc/net/tcp), which the API uses to confine what an
 * unauthenticated caller may name when authentication is off. Reads /proc; writes nothing.
 * Tests: test/security.test.ts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

export function newSecret(): string {
  return randomBytes(32).toString('hex')
}

/** Whether the request carries `Authorization: Bearer <secret>`, compared in constant time. */
export function hasBearer(req: IncomingMessage, secret: string): boolean {
  const h = req.headers.authorization
  if (typeof h !== 'string') return false
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  if (m === null) return false
  const given = Buffer.from(m[1]!)
  const expected = Buffer.from(secret)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** `127.0.0.1:8081` as /proc/net/tcp spells it: `0100007F:1F91`. */
function procAddress(ip: string, port: number): string | undefined {
  const parts = ip.replace(/^::ffff:/, '').split('.')
  if (parts.length !== 4) return undefined
  const hex = parts.map((p) => Number(p).toString(16).padStart(2, '0').toUpperCase()).reverse().join('')
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`
}

/**
 * The uid of the local process at the other end of a loopback TCP connection, or undefined when
 * it cannot be told (not loopback, not IPv4, no /proc).
 */
export function loopbackPeerUid(socket: Socket): number | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return undefined
  if (!/^(::ffff:)?127\./.test(remoteAddress)) return undefined
  const peer = procAddress(remoteAddress, remotePort)
  const us = procAddress(localAddress, localPort)
  if (peer === undefined || us === undefined) return undefined
  let table: string
  try {
    table = readFileSync('/proc/net/tcp', 'utf8')
  } catch {
    return undefined
  }
  // The peer's own socket: its local address is our remote one and the other way round.
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[1] === peer && f[2] === us) {
      const uid = Number(f[7])
      return Number.isInteger(uid) ? uid : undefined
    }
  }
  return undefined
}
