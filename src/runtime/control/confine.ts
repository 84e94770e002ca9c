/**
 * What a REST caller may name as a savepoint target or a savepoint to dispose.
 *
 * The rule (README, "Security"):
 * 1. A location must be canonical: an absolute path (or `s3://bucket/…`) without `.` or `..`
 *    segments and without empty ones (`//`); `file:` prefixes are accepted. Anything else is a 400.
 * 2. A caller who acts as the job's owner — it presented the job's secret (only the job's user and
 *    root can read it), a client certificate the job trusts, or (authentication `none`) it is the
 *    job's own user or root, as the loopback socket table tells — may name any location: the job
 *    writes and deletes only with its user's permissions, as that caller could.
 * 3. Anyone else (authentication `none`) may name only locations inside the job's savepoint or
 *    checkpoint directory, or inside a directory the caller's own user owns; symbolic links are
 *    resolved before deciding. Anything else is a 403.
 * Reads the filesystem (realpath, lstat); writes nothing. Tests: test/security.test.ts.
 */
import type { Stats } from 'node:fs'
import { lstat, realpath } from 'node:fs/promises'
import { TsflinkError } from '../errors.js'
import { isRemote } from '../storage/paths.js'

/** A location the REST API refuses: 400 when malformed, 403 when not the caller's to name. */
export class LocationRefused extends TsflinkError {
  constructor(message: string, readonly status: 400 | 403) {
    super(message, { kind: status === 400 ? 'usage' : 'operation' })
  }
}

export interface Requester {
  /** Acts as the job's owner (secret, trusted certificate, or the job's own user or root). */
  owner: boolean
  /** The local user on the other end of a loopback connection, when known. */
  uid: number | undefined
}

/** Rule 1: the canonical form of a location, or a LocationRefused (400). */
export function canonicalLocation(raw: string, what = 'location'): string {
  let p = raw.trim()
  if (/^file:/i.test(p)) p = p.replace(/^file:(\/\/)?/i, '')
  let prefix = ''
  if (isRemote(p)) {
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]+)(\/.*)?$/i.exec(p)
    if (m === null) throw new LocationRefused(`The ${what} '${raw}' is not a valid location`, 400)
    prefix = m[1]!
    p = m[2] ?? ''
  } else if (!p.startsWith('/')) {
    throw new LocationRefused(`The ${what} '${raw}' is not an absolute path`, 400)
  }
  const body = p.replace(/\/+$/, '')
  const segments = body === '' ? [] : body.slice(1).split('/')
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new LocationRefused(`The ${what} '${raw}' is not canonical: it must not contain '.', '..' or empty segments`, 400)
  }
  return `${prefix}${body === '' ? (prefix === '' ? '/' : '') : body}`
}

function within(location: string, root: string): boolean {
  const r = root.replace(/\/+$/, '')
  return location === r || location.startsWith(`${r}/`)
}

/** The path with symbolic links resolved in its longest existing prefix. */
async function resolveExisting(path: string): Promise<{ resolved: string; existing: string }> {
  const parts = path.split('/').filter((s) => s !== '')
  for (let n = parts.length; n >= 0; n--) {
    const head = `/${parts.slice(0, n).join('/')}`
    try {
      const real = await realpath(head)
      const rest = parts.slice(n)
      return { resolved: rest.length === 0 ? real : `${real === '/' ? '' : real}/${rest.join('/')}`, existing: real }
    } catch {
      // go up
    }
  }
  return { resolved: path, existing: '/' }
}

/**
 * Rules 2 and 3 for a canonical location. `stat`, when given, is the status of the very directory
 * that will be acted on (disposal opens it first); otherwise the nearest existing ancestor's owner counts.
 */
export async function checkConfined(location: string, who: Requester, roots: readonly string[], stat?: Stats): Promise<void> {
  if (who.owner) return
  const refuse = (): never => {
    throw new LocationRefused(`'${location}' is outside the job's savepoint and checkpoint directories and not owned by the requesting user`, 403)
  }
  if (isRemote(location)) {
    if (roots.some((r) => isRemote(r) && within(location, r))) return
    return refuse()
  }
  const { resolved, existing } = await resolveExisting(location)
  for (const root of roots) {
    if (isRemote(root)) continue
    if (within(resolved, (await resolveExisting(root)).resolved)) return
  }
  if (who.uid !== undefined) {
    const owner = stat?.uid ?? (await lstat(existing).catch(() => undefined))?.uid
    if (owner === who.uid) return
  }
  refuse()
}
