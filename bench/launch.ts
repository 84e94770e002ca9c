/**
 * Runs a job file the way `tsflink run` does (the program on this thread, its tasks in worker
 * threads), but hands the benchmark the JobMaster, so it can read the coordinator's statistics
 * and trigger savepoints without going through the CLI. It runs the compiled runtime (`npm run
 * bench` builds first), as `tsflink run` does: the JobMaster, the task slots and their helper
 * threads load compiled modules; only the job file goes through tsx, as a user's job file does.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { Configuration } from '../dist/runtime/config/configuration.js'
import { currentContext, installContext, type ExecutionContext } from '../dist/runtime/job/context.js'
import type { JobMaster, JobResult } from '../dist/runtime/job/job-master.js'
import { importProgram } from '../dist/runtime/job/program.js'

export interface Launched {
  master: JobMaster
  result: Promise<JobResult>
}

export async function launch(file: string, args: string[], config: Record<string, string | number>, parallelism?: number): Promise<Launched> {
  return new Promise<Launched>((resolve, reject) => {
    const sink = new PassThrough()
    sink.resume()
    const ctx: ExecutionContext = {
      config: new Configuration(Object.entries(config).map(([k, v]) => [k, String(v)])),
      parallelism,
      restore: undefined,
      program: { file, args },
      printStream: sink,
      executions: 0,
      submit: (spec, start) => {
        const master = start(spec)
        const result = master.run()
        resolve({ master, result })
        return result
      },
    }
    installContext(ctx)
    importProgram(file, args).catch(reject).finally(() => {
      if (currentContext() === ctx) installContext(undefined)
    })
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50)
}

export const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

/** "median (min–max)" of several runs. */
export function spread(xs: readonly number[], unit = ''): string {
  return `${fmt(median(xs))}${unit} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}${unit}, ${xs.length} runs)`
}

/**
 * CPU time per thread of this process (Linux: /proc/self/task), sampled every 20 ms so that a
 * thread that ends is counted up to its last sample (it may lose up to 20 ms). `stop()` gives the
 * CPU milliseconds each thread used since `start()` (or since it began), largest first. CPU time
 * does not grow while a thread waits for a core, so these figures hold on a busy machine where
 * wall times do not. Empty where /proc is missing. Sampling must not take the CPU it measures
 * (at -p 2 every core runs a slot): each thread's stat file stays open and is re-read in place,
 * and the folder is listed for new threads only every 10th sample.
 */
export function threadCpu(): { start(): void; stop(): number[] } {
  const seen = new Map<string, number>()
  const files = new Map<string, number>()
  const buf = Buffer.alloc(1024)
  let base = new Map<string, number>()
  let samples = 0
  const list = (): void => {
    let tids: string[]
    try {
      tids = readdirSync('/proc/self/task')
    } catch {
      return
    }
    for (const tid of tids) {
      if (files.has(tid)) continue
      try {
        files.set(tid, openSync(`/proc/self/task/${tid}/stat`, 'r'))
      } catch {
        // The thread ended between the listing and the open.
      }
    }
  }
  const sample = (): void => {
    if (samples++ % 10 === 0) list()
    for (const [tid, fd] of files) {
      try {
        const stat = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0))
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        // utime and stime, in clock ticks of 10 ms.
        seen.set(tid, Math.max(seen.get(tid) ?? 0, (Number(f[11]) + Number(f[12])) * 10))
      } catch {
        // The thread ended: its last sample stands.
        closeSync(fd)
        files.delete(tid)
      }
    }
  }
  const timer = setInterval(sample, 20)
  return {
    start(): void {
      list()
      sample()
      base = new Map(seen)
    },
    stop(): number[] {
      clearInterval(timer)
      sample()
      for (const fd of files.values()) closeSync(fd)
      files.clear()
      return [...seen].map(([tid, ms]) => ms - (base.get(tid) ?? 0)).filter((ms) => ms > 0).sort((a, b) => b - a)
    },
  }
}
