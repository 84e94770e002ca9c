/**
 * The local registry of running jobs: one JSON file per job in `<TSFLINK_HOME>/jobs/`, written by
 * the process that runs the job and removed when it ends. Entries whose process is gone are
 * ignored (and cleaned up), so a job killed with -9 disappears from `tsflink list`.
 *
 * An entry carries the job's REST secret, so the folder is the owner's alone (0700) and each
 * entry is readable by the owner only (0600): whoever can read an entry may act on the job.
 * Entries another user wrote, or that cannot be read, are skipped.
 * Tests: test/security.test.ts, test/integration/cli-run.test.ts.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { registryDir } from '../config/defaults.js'
import { isAlive } from '../core/process.js'

export interface RegistryEntry {
  jobId: string
  jobName: string
  pid: number
  /** host:port of the job's REST endpoint. */
  rest: string
  startTime: number
  /** The bearer secret the job's REST API asks for; absent when its authentication is `none`. */
  secret?: string
  /** Present when the endpoint speaks TLS: the SHA-256 fingerprint of its certificate, to pin it. */
  tls?: { fingerprint256: string }
}


/** host:port with `localhost` and `[::1]`-style spellings made comparable. */
export function sameEndpoint(a: string, b: string): boolean {
  const norm = (e: string): string => e.replace(/^https?:\/\//, '').replace(/\/+$/, '').replace(/^localhost:/, '127.0.0.1:').toLowerCase()
  return norm(a) === norm(b)
}

export class JobRegistry {
  constructor(readonly dir: string = registryDir()) {}

  /** Creates the folder owner-only, and narrows it if it exists with wider permissions. */
  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const st = lstatSync(this.dir)
    const uid = process.getuid?.()
    if ((st.mode & 0o077) !== 0 && (uid === undefined || st.uid === uid)) chmodSync(this.dir, 0o700)
  }

  register(entry: RegistryEntry): void {
    this.ensureDir()
    const file = join(this.dir, `${entry.jobId}.json`)
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    // mode applies when the file is created; the temporary file is new, so it is 0600 from the start.
    writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600, flag: 'wx' })
    renameSync(tmp, file)
  }

  unregister(jobId: string): void {
    try {
      unlinkSync(join(this.dir, `${jobId}.json`))
    } catch {
      // already gone
    }
  }

  /** Entries of live processes. */
  list(): RegistryEntry[] {
    let names: string[]
    try {
      names = readdirSync(this.dir)
    } catch {
      return []
    }
    const out: RegistryEntry[] = []
    for (const name of names) {
      if (!/^[0-9a-f]{32}\.json$/.test(name)) continue
      let entry: RegistryEntry
      try {
        entry = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as RegistryEntry
      } catch {
        continue
      }
      if (isAlive(entry.pid)) out.push(entry)
      else this.unregister(entry.jobId)
    }
    return out.sort((a, b) => a.startTime - b.startTime)
  }

  find(jobId: string): RegistryEntry | undefined {
    return this.list().find((e) => e.jobId === jobId)
  }

  /** The entry of the job serving at `endpoint` (host:port), if this user can read it. */
  findByEndpoint(endpoint: string): RegistryEntry | undefined {
    return this.list().find((e) => sameEndpoint(e.rest, endpoint))
  }
}
