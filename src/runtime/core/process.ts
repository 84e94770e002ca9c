/**
 * Whether a local process is alive (signal 0, and not a zombie), for the registry of running jobs
 * and the prune lock. Imports nothing of the runtime.
 * Tests: test/security.test.ts (through the registry), test/prune.test.ts (the lock).
 */
import { readFileSync } from 'node:fs'

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
