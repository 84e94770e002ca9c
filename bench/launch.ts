/**
 * Runs a job file the way `tsflink run` does (the program on this thread, its tasks in worker
 * threads), but hands the benchmark the JobMaster, so it can read the coordinator's statistics
 * and trigger savepoints without going through the CLI. It runs the compiled runtime (`npm run
 * bench` builds first), as `tsflink run` does: the JobMaster, the task slots and their helper
 * threads load compiled modules; only the job file goes through tsx, as a user's job file does.
 */
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
