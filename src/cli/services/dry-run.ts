/**
 * `run --dry-run -s <path>`: runs the job program only as far as its env.execute() (as `info`
 * does, with the restore request installed, so the snapshot is read and checked exactly as for a
 * real run, and without creating the job's storage), takes the job graph, and asks the runtime's
 * restore planner (checkpoint/restore-plan.ts) what a restore onto it would do. No task, no
 * worker, no checkpoint directory, no output. Knows nothing of flags or output formats; never
 * imports oclif or the commands.
 * Tests: test/dry-run.test.ts.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../../runtime/config/configuration.js'
import { restorePlan, type PlanOperator, type RestorePlanReport } from '../../runtime/checkpoint/restore-plan.js'
import type { ExecutionContext, RestoreRequest } from '../../runtime/job/context.js'
import type { JobSpec } from '../../runtime/job/job-master.js'
import { runProgram } from '../program-loader.js'

export interface DryRunOptions {
  file: string
  args: string[]
  config: Configuration
  parallelism: number | undefined
  restore: RestoreRequest
  /** Where anything the program prints goes. */
  printStream: Writable
}

export async function dryRun(opts: DryRunOptions): Promise<RestorePlanReport & { jobName: string }> {
  let captured!: (spec: JobSpec) => void
  const planned = new Promise<JobSpec>((resolve) => (captured = resolve))
  const ctx: ExecutionContext = {
    config: opts.config,
    parallelism: opts.parallelism,
    restore: opts.restore,
    program: { file: opts.file, args: opts.args },
    printStream: opts.printStream,
    executions: 0,
    dryRun: true,
    // As `info`: take the job, and never return from execute(), so the program goes no further.
    submit: (spec) => {
      captured(spec)
      return new Promise(() => {})
    },
  }
  const program = runProgram(opts.file, opts.args, ctx, [])
  const spec = await Promise.race([planned, program.then(() => planned)])
  const restore = spec.restore
  if (restore === undefined) throw new Error('the program did not take the restore request')
  const heads = new Set(spec.graph.vertices.map((v) => v.nodes[0]!))
  const operators: PlanOperator[] = spec.graph.nodes.map((n) => ({
    operatorId: n.operatorId, uid: n.uid, name: n.name, parallelism: n.parallelism, maxParallelism: n.maxParallelism, isHead: heads.has(n.index), keyed: n.keyed,
  }))
  const report = await restorePlan(restore.location, restore.metadata, operators, restore.allowNonRestoredState, spec.storageFor(restore.location))
  return { ...report, jobName: spec.jobName }
}
