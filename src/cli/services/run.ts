/**
 * The `run` service: runs a job program in this process, serves each job's REST API and lists it
 * in the registry of running jobs while it runs. Knows nothing of flags; reports through `io`.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../../runtime/config/configuration.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { JobRestServer } from '../../runtime/control/rest-server.js'
import { restSettingsFrom } from '../../runtime/control/rest-options.js'
import type { ExecutionContext, RestoreRequest } from '../../runtime/job/context.js'
import type { FailureRecord } from '../../runtime/job/failure-history.js'
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
  submitted(jobId: string, jobName: string, endpoint: string): void
  /** The job's tasks are deployed (and their state restored): it runs. */
  running?(jobId: string): void
  finished(result: JobResult): void
}

export interface RunResult {
  jobs: { jobId: string; jobName: string; status: string; runtimeMs: number; restarts: number; checkpoints: number }[]
}

export async function runJob(opts: RunOptions, io: RunIo): Promise<RunResult> {
  const file = checkProgramFile(opts.file)
  // REST settings (ports, authentication, TLS key stores) are checked before the program runs.
  const rest = restSettingsFrom(opts.config)
  const jobs: Promise<unknown>[] = []
  const results: RunResult['jobs'] = []
  const masters: JobMaster[] = []
  const registry = new JobRegistry()
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
      reportFailures(master, process.stderr)
      const server = new JobRestServer(master, { ...rest, storageFor: spec.storageFor })
      const endpoint = await server.start()
      registry.register({
        jobId: spec.jobId, jobName: spec.jobName, pid: process.pid, rest: endpoint, startTime: master.startTime,
        ...(server.secret === undefined ? {} : { secret: server.secret }),
        ...(server.fingerprint256 === undefined ? {} : { tls: { fingerprint256: server.fingerprint256 } }),
      })
      io.submitted(spec.jobId, spec.jobName, endpoint)
      master.onStatus((status) => {
        if (status === 'RUNNING') io.running?.(spec.jobId)
      })
      const run = master.run()
      jobs.push(run.catch(() => {}))
      try {
        const result = await run
        results.push({
          jobId: result.jobId, jobName: result.jobName, status: result.status,
          runtimeMs: result.netRuntimeMs, restarts: result.restarts, checkpoints: result.checkpoints,
        })
        io.finished(result)
        return result
      } finally {
        registry.unregister(spec.jobId)
        await server.drain(2000)
        await server.stop()
      }
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

// ---- Failure reporting: one line per failure and restart on stderr (the job's log with run -d) ----
// A failure the job does not restart from ends the run with the error itself ("Error: Job failed: …").

function reportFailures(master: JobMaster, err: Writable): void {
  master.failures.onFailure((f) => {
    if (f.restart) err.write(`${failureLine(master.jobId, f)}\n`)
  })
}

/** `Job <id> failed (failure 2, attempt 1): <cause>. Restarting in 1500 ms (restart-strategy exponential-delay).` */
export function failureLine(jobId: string, f: FailureRecord): string {
  // eslint-disable-next-line no-control-regex
  const cause = (f.message.split('\n')[0] ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return `Job ${jobId} failed (failure ${f.failureNumber}, attempt ${f.attempt}): ${cause}. Restarting in ${f.delayMs} ms (restart-strategy ${f.strategy}).`
}
