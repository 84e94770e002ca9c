/**
 * Benchmark: how fast the CLI starts, the cost scripts pay per call. Each case runs the real
 * bin/run.js as a new process, interleaved with the baseline (`node -e 0`, bare Node on this
 * machine in the same run) so that a busy machine slows both alike:
 * - `tsflink --help`, and `tsflink list` with no jobs: spawn to exit;
 * - `tsflink savepoint <jobId>` and `tsflink cancel <jobId>`: spawn to the first REST request, as
 *   a tiny HTTP server registered as the job's endpoint sees it (it then answers as a job would).
 * Prints median and spread (min–max) per case and the ratio of medians to bare Node, in wall time
 * and in CPU time (user + system, reported by each process through bench/cli-start-probe.mjs,
 * also loaded into the baseline; for savepoint and cancel, at their first request): CPU time
 * barely moves when the machine is busy, wall time does.
 * Targets (wall): --help ≤ 200 ms and ≤ 2.2x bare node; list ≤ 250 ms; savepoint/cancel ≤ 250 ms.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const ROOT = resolve(import.meta.dirname, '..')
const CLI = join(ROOT, 'bin', 'run.js')
const JOB_ID = '0123456789abcdef0123456789abcdef'
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 })

/** A job endpoint that notes when its first request of a run arrived and answers like a job. */
class FakeJob {
  private server: Server
  firstRequestAt: number | undefined
  endpoint = ''

  constructor() {
    this.server = createServer((req, res) => {
      this.firstRequestAt ??= performance.now()
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      req.resume()
      req.on('end', () => {
        const url = req.url ?? '/'
        if (req.method === 'POST' && url.endsWith('/savepoints')) return send(202, { 'request-id': 't1' })
        if (url.includes('/savepoints/')) return send(200, { status: { id: 'COMPLETED' }, operation: { location: '/tmp/savepoint-012345-bench' } })
        if (req.method === 'PATCH') return send(202, {})
        if (url === `/jobs/${JOB_ID}`) return send(200, { jid: JOB_ID, state: 'CANCELED' })
        return send(404, { errors: ['not found'] })
      })
    })
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.endpoint = `127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }
}

const PROBE = pathToFileURL(join(ROOT, 'bench', 'cli-start-probe.mjs')).href

interface Timing {
  /** ms from spawn to exit, or to the first request. */
  wall: number
  /** CPU ms the process used until its exit, or until its first fetch() call. */
  cpu: number
}

/** Runs a process to its end; times it to its exit, or to the first request when `until()` gives a time. */
async function timed(args: string[], env: NodeJS.ProcessEnv, until?: () => number | undefined): Promise<Timing> {
  const start = performance.now()
  const child = spawn(process.execPath, ['--import', PROBE, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number | null>((r) => child.on('close', r))
  const end = until?.() ?? performance.now()
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}: ${stderr}`)
  const probe = (what: string): number | undefined => {
    const m = new RegExp(`^cli-start-probe ${what} ([\\d.]+)$`, 'm').exec(stderr)
    return m === null ? undefined : Number(m[1])
  }
  const cpu = until === undefined ? probe('exit') : probe('request')
  if (cpu === undefined) throw new Error(`${args.join(' ')}: no CPU time reported: ${stderr}`)
  return { wall: end - start, cpu }
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)! }
}

export async function cliStartBench(runs = Number(process.env.BENCH_RUNS ?? 11)): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'tsflink-bench-start-'))
  const emptyHome = join(home, 'empty')
  const jobHome = join(home, 'job')
  mkdirSync(emptyHome)
  mkdirSync(join(jobHome, 'jobs'), { recursive: true })
  const job = new FakeJob()
  await job.start()
  // The fake endpoint is registered as a running job of this (living) process.
  writeFileSync(join(jobHome, 'jobs', `${JOB_ID}.json`), JSON.stringify({ jobId: JOB_ID, jobName: 'bench', pid: process.pid, rest: job.endpoint, startTime: Date.now() }))
  const firstRequest = (): number | undefined => job.firstRequestAt
  const cases: [string, () => Promise<Timing>][] = [
    ['node -e 0 (baseline)', () => timed(['-e', '0'], {})],
    ['tsflink --help', () => timed([CLI, '--help'], {})],
    ['tsflink list (no jobs)', () => timed([CLI, 'list'], { TSFLINK_HOME: emptyHome })],
    ['tsflink savepoint: to 1st request', () => {
      job.firstRequestAt = undefined
      return timed([CLI, 'savepoint', JOB_ID, join(home, 'sp')], { TSFLINK_HOME: jobHome }, firstRequest)
    }],
    ['tsflink cancel: to 1st request', () => {
      job.firstRequestAt = undefined
      return timed([CLI, 'cancel', JOB_ID], { TSFLINK_HOME: jobHome }, firstRequest)
    }],
  ]
  const times = new Map<string, Timing[]>(cases.map(([n]) => [n, []]))
  const loadBefore = loadavg()[0]!
  try {
    for (const [, run] of cases) await run() // warm the file cache
    for (let i = 0; i < runs; i++) {
      for (const [name, run] of cases) times.get(name)!.push(await run())
    }
  } finally {
    await job.stop()
    rmSync(home, { recursive: true, force: true })
  }
  const wall = (name: string) => stats(times.get(name)!.map((t) => t.wall))
  const cpu = (name: string) => stats(times.get(name)!.map((t) => t.cpu))
  const base = wall(cases[0]![0]).median
  const baseCpu = cpu(cases[0]![0]).median
  const targets: Record<string, (median: number) => string> = {
    'tsflink --help': (m) => `target <= 200 ms and <= 2.2x: ${m <= 200 && m / base <= 2.2 ? 'met' : 'MISSED'}`,
    'tsflink list (no jobs)': (m) => `target <= 250 ms: ${m <= 250 ? 'met' : 'MISSED'}`,
    'tsflink savepoint: to 1st request': (m) => `target <= 250 ms: ${m <= 250 ? 'met' : 'MISSED'}`,
    'tsflink cancel: to 1st request': (m) => `target <= 250 ms: ${m <= 250 ? 'met' : 'MISSED'}`,
  }
  console.log(`CLI start-up, ${runs} runs each, interleaved; median (min-max) and ratio of medians to bare node`)
  console.log(`  machine: ${cpus().length} cores, load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (above the core count: busy, wall times inflated)`)
  const range = (s: { median: number; min: number; max: number }): string => `${fmt(s.median).padStart(5)} ms (${fmt(s.min)}-${fmt(s.max)})`.padEnd(22)
  console.log(`  ${''.padEnd(36)} ${'wall'.padEnd(30)} ${'CPU (to exit or 1st request)'}`)
  for (const [name] of cases) {
    const w = wall(name)
    const c = cpu(name)
    console.log(`  ${name.padEnd(36)} ${range(w)} ${(w.median / base).toFixed(2)}x   ${range(c)} ${(c.median / baseCpu).toFixed(2)}x  ${targets[name]?.(w.median) ?? ''}`)
  }
}
