/**
 * What crosses between the JobMaster (main thread) and the task slots (worker threads). Every
 * message is structured-cloneable; records never travel here (they go slot to slot, see
 * task/remote-channel.ts). Messages about an attempt name it, so late messages of an attempt that
 * was cancelled are recognised and dropped. Pure types.
 */
import type { CheckpointBarrier, CheckpointSettings } from '../checkpoint/options.js'
import type { OperatorSubtaskSnapshot } from '../checkpoint/snapshot.js'
import type { RestorePlan } from '../checkpoint/state-assignment.js'
import type { StateBackendName } from '../checkpoint/metadata.js'
import type { ReplayPlan } from '../checkpoint/channel-state.js'

/** What a worker needs to start: it loads the program itself and builds the same graph. */
export interface WorkerInit {
  jobId: string
  slot: number
  slots: number
  program: { file: string; args: string[] }
  /** Which env.execute() call of the program this job is (1-based). */
  executionIndex: number
  config: [string, string][]
  parallelism: number | undefined
  printTo: 'stdout' | 'stderr'
  checkpoint: CheckpointSettings & { unaligned: boolean; alignedTimeoutMs: number | undefined }
  backend: StateBackendName
  localStateDir: string
  /** Ports to the other slots, by slot index (undefined for this slot). */
  peers: (import('node:worker_threads').MessagePort | undefined)[]
}

export const HEARTBEAT_INTERVAL_MS = 500

/** A serializable description of an error. */
export interface ErrorInfo {
  name: string
  message: string
  stack: string | undefined
}

export type ToWorker =
  | { t: 'deploy'; attempt: number; restore: RestorePlan | undefined; replay: ReplayPlan | undefined }
  | { t: 'start'; attempt: number }
  | { t: 'checkpoint'; attempt: number; barrier: CheckpointBarrier }
  | { t: 'complete'; attempt: number; id: number; isSavepoint: boolean }
  | { t: 'abort'; attempt: number; id: number }
  | { t: 'settle'; attempt: number; req: number }
  | { t: 'cancel'; attempt: number; req: number }
  | { t: 'close'; attempt: number; req: number }

export type FromWorker =
  | { t: 'ready'; fingerprint: string }
  | { t: 'deployed'; attempt: number; tasks: string[] }
  | { t: 'started'; attempt: number }
  | { t: 'ack'; attempt: number; id: number; task: string; ops: OperatorSubtaskSnapshot[] }
  | { t: 'decline'; attempt: number; id: number; task: string; error: ErrorInfo }
  | { t: 'finished'; attempt: number; task: string }
  | { t: 'failed'; attempt: number; task: string; error: ErrorInfo }
  | { t: 'done'; req: number; error?: ErrorInfo }
  | { t: 'fatal'; error: ErrorInfo }
  /** Sent every HEARTBEAT_INTERVAL_MS while the slot's thread runs JavaScript at all. */
  | { t: 'heartbeat' }

export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack }
  return { name: 'Error', message: String(err), stack: undefined }
}

export function errorFrom(info: ErrorInfo): Error {
  const e = new Error(info.message)
  e.name = info.name
  if (info.stack !== undefined) e.stack = info.stack
  return e
}
