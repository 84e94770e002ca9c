/**
 * The `run` service: runs a job program attached, reporting progress through `io`. Knows nothing
 * of flags. Returns what the command prints.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../../runtime/config/configuration.js'
import type { ExecutionContext, RestoreRequest } from '../../runtime/job/context.js'
import type { JobMaster, JobResult } from '../../runtime/job/job-master.js'
import { checkProgramFile, runProgram } from '../program-loader.js'

export interface RunOptions {
  file: string
  args: string[]
  config: Configuration
  parallelism: number | undefined
  restore: RestoreRequest | undefined
  printStream: Writable
}

export interface RunIo {
  submitted(jobId: string, jobName: string): void
  finished(result: JobResult): void
}

export interface RunResult {
  jobs: { jobId: string; jobName: string; status: string; runtimeMs: number; restarts: number; checkpoints: number }[]
}

export async function runJob(opts: RunOptions, io: RunIo): Promise<RunResult> {
  const file = checkProgramFile(opts.file)
  const jobs: Promise<unknown>[] = []
  const results: RunResult['jobs'] = []
  const masters: JobMaster[] = []
  const onSignal = (): void => {
    for (const m of masters) m.cancel()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const ctx: ExecutionContext = {
    config: opts.config,
    parallelism: opts.parallelism,
    restore: opts.restore,
    program: { file, args: opts.args },
    printStream: opts.printStream,
    executions: 0,
    submit: async (spec, start) => {
      const master = start(spec)
      masters.push(master)
      io.submitted(spec.jobId, spec.jobName)
      const run = master.run()
      jobs.push(run.catch(() => {}))
      const result = await run
      results.push({
        jobId: result.jobId, jobName: result.jobName, status: result.status,
        runtimeMs: result.netRuntimeMs, restarts: result.restarts, checkpoints: result.checkpoints,
      })
      io.finished(result)
      return result
    },
  }
  try {
    await runProgram(file, opts.args, ctx, jobs)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  return { jobs: results }
}
