/**
 * `run -d`: starts the same run command in a background process that outlives this one, waits
 * until it reports the submitted JobID (over an IPC channel), and returns. The job's own output
 * goes to a log file in $TSFLINK_HOME/log/.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, openSync, closeSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TsflinkError } from '../../runtime/errors.js'
import { tsflinkHome } from '../../runtime/config/defaults.js'

export const DETACHED_CHILD_ENV = 'TSFLINK_DETACHED_CHILD'

export type ChildMessage = { type: 'submitted'; jobId: string } | { type: 'error'; message: string; hint?: string; exitCode: number }

export function isDetachedChild(): boolean {
  return process.env[DETACHED_CHILD_ENV] === '1' && typeof process.send === 'function'
}

/** In the background process: tell the launcher. */
export function tellLauncher(msg: ChildMessage): void {
  if (!isDetachedChild() || process.connected !== true) return
  process.send!(msg)
  if (msg.type === 'submitted') process.disconnect()
}

export async function runDetached(runArgs: string[]): Promise<{ jobId: string; log: string }> {
  const logDir = join(tsflinkHome(), 'log')
  mkdirSync(logDir, { recursive: true })
  const pending = join(logDir, `run-${Date.now()}-${process.pid}.log`)
  const fd = openSync(pending, 'a')
  const bin = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
  const child = spawn(process.execPath, [bin, 'run', ...runArgs], {
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
    env: { ...process.env, [DETACHED_CHILD_ENV]: '1' },
  })
  closeSync(fd)
  const msg = await new Promise<ChildMessage>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildMessage))
    child.once('exit', (code) => reject(new TsflinkError(`The job process exited (code ${code}) before the job was submitted; see ${pending}`)))
    child.once('error', reject)
  })
  child.removeAllListeners('exit')
  if (child.connected) child.disconnect()
  child.unref()
  if (msg.type === 'error') throw new TsflinkError(msg.message, { kind: msg.exitCode === 2 ? 'usage' : 'operation', ...(msg.hint === undefined ? {} : { hint: msg.hint }) })
  const log = join(logDir, `${msg.jobId}.log`)
  renameSync(pending, log)
  return { jobId: msg.jobId, log }
}
