/**
 * The `run` service: runs a job program in this process, serves each job's REST API and lists it
 * in the registry of running jobs while it runs. Knows nothing of flags; reports through `io`.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../../runtime/config/configuration.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { JobRestServer } from '../../runtime/control/rest-server.js'
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
      const server = new JobRestServer(master, {
        address: opts.config.getString('rest.address') ?? '127.0.0.1',
        port: opts.config.getInt('rest.port') ?? 0,
        storageFor: spec.storageFor,
      })
      const endpoint = await server.start()
      registry.register({ jobId: spec.jobId, jobName: spec.jobName, pid: process.pid, rest: endpoint, startTime: master.startTime })
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
