/**
 * The REST server's settings from the configuration, as Flink reads them: the bind address
 * (`rest.bind-address`, else `rest.address`, else 127.0.0.1), the ports to try (`rest.bind-port`:
 * a port, a range `50100-50200`, or a list of both; else `rest.port`; else any free port),
 * authentication (`rest.authentication`: `token` by default, `none` to opt out), TLS
 * (`security.ssl.rest.*`) and how long operation results are kept (`rest.async.store-duration`,
 * 5 min as in Flink). Reads key store files; writes nothing. Tests: test/security.test.ts.
 */
import type { Configuration } from '../config/configuration.js'
import { ConfigError } from '../errors.js'
import { restTlsFrom, type RestTls } from './tls.js'

export interface RestSettings {
  address: string
  /** Candidate ports, tried in order; 0 means any free port. */
  ports: number[]
  authentication: 'token' | 'none'
  tls: RestTls | undefined
  operationTtlMs: number
}

/** `50100-50200,50300` → [50100, …, 50200, 50300]. */
export function parseBindPorts(spec: string, key = 'rest.bind-port'): number[] {
  const ports: number[] = []
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part)
    const from = m === null ? NaN : Number(m[1])
    const to = m?.[2] === undefined ? from : Number(m[2])
    if (!Number.isInteger(from) || !Number.isInteger(to) || from > to || to > 65535) {
      throw new ConfigError(`Invalid value for '${key}': '${spec}' is not a port, a range (50100-50200) or a list of them`)
    }
    for (let p = from; p <= to; p++) ports.push(p)
  }
  if (ports.length === 0) throw new ConfigError(`Invalid value for '${key}': '${spec}' names no port`)
  return ports
}

export function restSettingsFrom(c: Configuration): RestSettings {
  const bindPort = c.getString('rest.bind-port')
  return {
    address: c.getString('rest.bind-address') ?? c.getString('rest.address') ?? '127.0.0.1',
    ports: bindPort !== undefined ? parseBindPorts(bindPort) : [c.getInt('rest.port') ?? 0],
    authentication: c.getEnum('rest.authentication', ['token', 'none'] as const) ?? 'token',
    tls: restTlsFrom(c),
    operationTtlMs: c.getDuration('rest.async.store-duration') ?? 5 * 60_000,
  }
}
