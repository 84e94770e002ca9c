/**
 * Running a command as another local user (nobody), for the tests of issue "Hostile neighbours":
 * `setpriv --reuid=nobody --regid=nogroup --clear-groups node …`. The tests need root (they run
 * as root in CI); without root or setpriv they are skipped loudly, except in CI where that fails.
 * Also: stopping a detached job and waiting for its process to end.
 */
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { isAlive } from '../src/runtime/core/process.js'
import { CLI, runCli, sleep, type CliResult } from './helpers.js'

export const NOBODY = { uid: 65534, gid: 65534 }

/** Why the other-user tests cannot run here, or undefined when they can. */
export function otherUserUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the tests are not running as root'
  if (spawnSync('setpriv', ['--version']).error !== undefined) return 'setpriv (util-linux) is not installed'
  return undefined
}

/** Skips the test (loudly) when another user cannot be used; in CI that is a failure instead. */
export function requireOtherUser(t: TestContext): boolean {
  const why = otherUserUnavailable()
  if (why === undefined) return true
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') throw new Error(`Cannot run as another user in CI: ${why}`)
  process.stderr.write(`WARNING: skipping a test that runs as another user: ${why}\n`)
  t.skip(`cannot run as another user: ${why}`)
  return false
}

/** Makes a folder (and what is in it) nobody's, traversable by everyone. */
export function giveToNobody(...paths: string[]): void {
  for (const p of paths) {
    chownSync(p, NOBODY.uid, NOBODY.gid)
    chmodSync(p, 0o755)
  }
}

/** Runs `node <args>` as nobody; resolves with its output. */
export function runAsNobody(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** The real CLI as nobody. */
export function runCliAsNobody(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runAsNobody([CLI, ...args], env)
}

/** Cancels a job started with `run -d` and waits (bounded) until its process has exited. */
export async function stopJob(home: string, jobId: string | undefined): Promise<void> {
  if (jobId === undefined) return
  let pid: number | undefined
  try {
    pid = (JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { pid: number }).pid
  } catch {
    return // already gone
  }
  await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
  for (const deadline = Date.now() + 30_000; isAlive(pid) && Date.now() < deadline;) await sleep(50)
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
}
