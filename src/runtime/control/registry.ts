/**
 * The local registry of running jobs: one JSON file per job in `<TSFLINK_HOME>/jobs/`, written by
 * the process that runs the job and removed when it ends. Entries whose process is gone are
 * ignored (and cleaned up), so a job killed with -9 disappears from `tsflink list`.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { registryDir } from '../job/defaults.js'

export interface RegistryEntry {
  jobId: string
  jobName: string
  pid: number
  /** host:port of the job's REST endpoint. */
  rest: string
  startTime: number
}

/** Whether a process exists and is not a zombie (a killed process nobody has reaped yet). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no /proc: trust kill(0)
  }
}

export class JobRegistry {
  constructor(readonly dir: string = registryDir()) {}

  register(entry: RegistryEntry): void {
    mkdirSync(this.dir, { recursive: true })
    const file = join(this.dir, `${entry.jobId}.json`)
    const tmp = `${file}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(entry))
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
}
