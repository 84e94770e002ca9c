/**
 * Test helpers: temporary folders, the committed output of a file sink, running the real CLI,
 * a seeded random generator.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after } from 'node:test'

export const ROOT = resolve(import.meta.dirname, '..')
export const CLI = join(ROOT, 'bin', 'run.js')

/**
 * A fresh folder, removed when the test file ends (retried a few times: a job of the test that is
 * still stopping may write one last file into it while it is removed).
 */
export function tmp(prefix = 'tsflink-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  after(() => rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }))
  return d
}

/** Every committed (visible) line a file sink wrote, sorted. */
export function committedLines(dir: string): string[] {
  const lines: string[] = []
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('part-')) continue
    for (const l of readFileSync(join(dir, name), 'utf8').split('\n')) if (l !== '') lines.push(l)
  }
  return lines.sort()
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the real CLI as a subprocess. */
export function runCli(args: string[], opts: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { ...opts, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }))
  })
}

/** A CLI subprocess left running: its output so far, and its exit. */
export interface CliProcess {
  child: ChildProcess
  readonly stdout: string
  readonly stderr: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the JobID once `Job has been submitted with JobID <id>` was printed, or undefined if it exits first. */
  jobId: Promise<string | undefined>
}

/** Starts the real CLI as a subprocess and returns at once; it is killed when the test ends, if still running. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  let onJobId: (id: string | undefined) => void = () => {}
  const jobId = new Promise<string | undefined>((r) => (onJobId = r))
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
    const m = /Job has been submitted with JobID ([0-9a-f]{32})/.exec(stdout)
    if (m !== null) onJobId(m[1])
  })
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => {
    child.on('close', (code, signal) => {
      onJobId(undefined)
      r({ code, signal })
    })
  })
  return { child, get stdout() { return stdout }, get stderr() { return stderr }, exited, jobId }
}

/**
 * Waits until `tsflink list` shows the job RUNNING (every task deployed and started: with worker
 * threads that takes a while after submission); fails after `timeoutMs`.
 */
export async function untilRunning(jobId: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const l = await runCli(['list'], { env })
    last = l.stdout + l.stderr
    if (l.stdout.split('\n').some((line) => line.includes(jobId) && line.includes('(RUNNING)'))) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`job ${jobId} was not RUNNING within ${timeoutMs} ms; last list: ${last.trim()}`)
}

/**
 * Runs a job detached (`run -d` with `args`), lets it run `runMs` once RUNNING, then stops it with a
 * savepoint into `savepointDir`; returns the savepoint's path as `stop` printed it.
 */
export async function savepointByStop(args: string[], env: NodeJS.ProcessEnv, savepointDir: string, runMs = 500): Promise<string> {
  const r = await runCli(['run', '-d', ...args], { env })
  if (r.code !== 0) throw new Error(`run failed (${r.code}): ${r.stderr}`)
  const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)![1]!
  await untilRunning(jobId, env)
  await sleep(runMs)
  const stop = await runCli(['stop', '-p', savepointDir, jobId], { env })
  if (stop.code !== 0) throw new Error(`stop failed (${stop.code}): ${stop.stderr}`)
  return /^Savepoint completed\. Path: (.+)$/m.exec(stop.stdout)![1]!
}

/**
 * Kills a detached job's process when the test ends, whatever happened (a failed assertion leaves
 * a detached job running, and the test's TSFLINK_HOME may already be gone by then).
 */
export function killWhenDone(t: { after: (fn: () => void) => void }, home: string, jobId: string): void {
  const { pid } = JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { pid: number }
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  })
}

/**
 * A seeded pseudo-random generator (mulberry32): numbers in [0, 1). The same seed gives the
 * same sequence, so a failing run can be replayed from its seed.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The sorted lines test/jobs/counter.ts and kafka-counter.ts write for the numbers 0..n-1 (or the given values). */
export function expectedCounts(n: number | number[]): string[] {
  const values = typeof n === 'number' ? Array.from({ length: n }, (_, i) => i) : n
  const per = new Map<number, number>()
  return values.map((v) => {
    const c = (per.get(v % 7) ?? 0) + 1
    per.set(v % 7, c)
    return `${v % 7}:${c}`
  }).sort()
}
