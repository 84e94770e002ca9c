/**
 * How a launcher (the CLI) hands settings to the environment that a job program creates, as
 * Flink's ContextEnvironment does: the launcher installs a context before loading the program;
 * `StreamExecutionEnvironment.getExecutionEnvironment()` picks it up, and `execute()` hands the
 * prepared job back to the launcher. Without a context, jobs run locally with defaults.
 * The context lives on globalThis so that a program which loaded its own copy of the library
 * still finds it.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../config/configuration.js'
import type { JobResult, JobSpec } from './job-master.js'
import type { JobMaster } from './job-master.js'

export interface RestoreRequest {
  /** A savepoint or checkpoint directory, or its `_metadata` file. */
  path: string
  allowNonRestoredState: boolean
  claimMode: 'claim' | 'no_claim'
}

export interface ExecutionContext {
  /** Configuration file merged with -D overrides. */
  readonly config: Configuration
  /** -p: the default parallelism (code may still override per operator or env). */
  readonly parallelism: number | undefined
  readonly restore: RestoreRequest | undefined
  readonly program: { file: string; args: string[] } | null
  /** Where print() writes. */
  readonly printStream: Writable
  /** Runs the prepared job (the launcher may serve it, register it, print progress). */
  submit(spec: JobSpec, start: (spec: JobSpec) => JobMaster): Promise<JobResult>
  /** Set by execute(): how many jobs the program executed. */
  executions: number
  /** The program is being loaded in a task slot (worker thread) to rebuild its job graph. */
  readonly worker?: boolean
  /** The program runs only to build its job (`run --dry-run`): nothing is created on storage. */
  readonly dryRun?: boolean
}

const KEY = Symbol.for('tsflink.execution-context')

export function installContext(ctx: ExecutionContext | undefined): void {
  ;(globalThis as Record<symbol, unknown>)[KEY] = ctx
}

export function currentContext(): ExecutionContext | undefined {
  return (globalThis as Record<symbol, unknown>)[KEY] as ExecutionContext | undefined
}
