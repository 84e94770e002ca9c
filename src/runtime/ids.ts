/**
 * Branded identifiers. A brand makes the compiler refuse a checkpoint id where a job id is expected.
 * Pure: imports nothing.
 */
import { randomBytes } from 'node:crypto'

/** A job's identity: 32 lower-case hex digits, as Flink's JobID prints. */
export type JobId = string & { readonly __brand: 'JobId' }
/** A checkpoint's sequence number within one job; savepoints draw from the same sequence. */
export type CheckpointId = number & { readonly __brand: 'CheckpointId' }
/** An operator's stable identity: 32 hex digits hashed from its uid, or from the graph's shape without one. */
export type OperatorId = string & { readonly __brand: 'OperatorId' }

const JOB_ID = /^[0-9a-f]{32}$/

export function newJobId(): JobId {
  return randomBytes(16).toString('hex') as JobId
}

export function isJobId(s: string): s is JobId {
  return JOB_ID.test(s)
}

export function checkpointId(n: number): CheckpointId {
  return n as CheckpointId
}
