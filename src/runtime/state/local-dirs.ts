/**
 * Where an on-disk state backend keeps its working files: `<home>/tmp/<host>-<pid>/`, one folder
 * per process. A process killed with -9 cannot remove its folder, so each new process first
 * removes the folders of processes of this host that are gone (never another host's: a home
 * folder may be shared). Imports only core/.
 * Tests: test/local-dirs.test.ts.
 */
import { readdirSync, rmSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { isAlive } from '../core/process.js'

/** This process's folder under `tmpRoot`, after removing those of dead processes of this host. */
export function processStateDir(tmpRoot: string, host = hostname(), pid = process.pid, alive: (pid: number) => boolean = isAlive): string {
  const prefix = `${host}-`
  let names: string[] = []
  try {
    names = readdirSync(tmpRoot)
  } catch {
    // no folder yet: nothing to clean
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const rest = name.slice(prefix.length)
    if (!/^\d+$/.test(rest)) continue
    const other = Number(rest)
    if (other === pid || alive(other)) continue
    rmSync(join(tmpRoot, name), { recursive: true, force: true })
  }
  return join(tmpRoot, `${host}-${pid}`)
}
