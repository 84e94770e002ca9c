/**
 * The evidence a running job leaves on its checkpoint storage, so that tools on any host
 * (`checkpoints prune` from cron, another machine sharing an S3 root) can tell that a job is alive
 * without asking the local registry or trusting object modification times.
 *
 * - A job lease: `<checkpoints-dir>/<jobId>/_lease`, written when the job starts, renewed every
 *   `renewIntervalMs` while it runs, naming its latest completed checkpoint and the checkpoints in
 *   progress; marked `ended` when the job ends normally.
 * - A savepoint lease: `<savepoint-dir>/_in_progress`, written before any state file of a savepoint
 *   in progress and deleted once its `_metadata` is written (or the directory is discarded).
 *
 * A lease is live while `now < renewedAt + ttlMs + CLOCK_SKEW_ALLOWANCE_MS` (by the reader's
 * clock) and it is not marked ended. A reader that cannot parse a lease treats it as live (fail
 * closed). Writers keep `ttlMs` several renewal intervals long, so one slow write does not expire it.
 * The writer (lease-keeper.ts) rewrites the job lease as soon as what it names changes, but a
 * checkpoint can start between a change and the write landing: while a job lease is live, a
 * reader treats every `chk-N` with N greater than `latestCompleted` as in progress too.
 * Pure: no I/O. Tests: test/lease-keeper.test.ts.
 */

export const JOB_LEASE_FILE = '_lease'
export const SAVEPOINT_LEASE_FILE = '_in_progress'

/** How far apart the clocks of a job's host and a reader's host may be, at most. */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60_000

export const DEFAULT_LEASE_RENEW_MS = 10_000
export const DEFAULT_LEASE_TTL_MS = 60_000

export interface LeaseOwner {
  host: string
  pid: number
  /** When the owner (the job attempt's process) started, ms since the epoch. */
  startedAt: number
}

export interface Lease {
  format: 'tsflink-lease'
  version: 1
  kind: 'job' | 'savepoint'
  jobId: string
  owner: LeaseOwner
  /** Writer's clock, ms since the epoch. */
  renewedAt: number
  ttlMs: number
  /** Job leases: the id of the latest completed checkpoint, or null. */
  latestCompleted: number | null
  /** Job leases: ids of checkpoints in progress (their chk-N folders are being written). */
  inProgress: number[]
  /** Job leases: locations of savepoints in progress. */
  savepointsInProgress: string[]
  /** The job ended (finished, cancelled, failed for good): the lease protects nothing any more. */
  ended: boolean
}

export function serializeLease(lease: Lease): Buffer {
  return Buffer.from(`${JSON.stringify(lease)}\n`)
}

export type ParsedLease = { ok: true; lease: Lease } | { ok: false; reason: string }

/** Parses a lease; never throws. */
export function parseLease(data: Buffer | string): ParsedLease {
  let doc: unknown
  try {
    doc = JSON.parse(data.toString())
  } catch {
    return { ok: false, reason: 'not JSON' }
  }
  if (doc === null || typeof doc !== 'object') return { ok: false, reason: 'not an object' }
  const d = doc as Partial<Lease>
  if (d.format !== 'tsflink-lease') return { ok: false, reason: `format '${String(d.format)}'` }
  if (d.version !== 1) return { ok: false, reason: `version ${String(d.version)}` }
  if (typeof d.renewedAt !== 'number' || typeof d.ttlMs !== 'number' || typeof d.jobId !== 'string') return { ok: false, reason: 'missing fields' }
  return {
    ok: true,
    lease: {
      format: 'tsflink-lease', version: 1,
      kind: d.kind === 'savepoint' ? 'savepoint' : 'job',
      jobId: d.jobId,
      owner: d.owner ?? { host: '', pid: 0, startedAt: 0 },
      renewedAt: d.renewedAt,
      ttlMs: d.ttlMs,
      latestCompleted: typeof d.latestCompleted === 'number' ? d.latestCompleted : null,
      inProgress: Array.isArray(d.inProgress) ? d.inProgress.filter((x): x is number => typeof x === 'number') : [],
      savepointsInProgress: Array.isArray(d.savepointsInProgress) ? d.savepointsInProgress.filter((x): x is string => typeof x === 'string') : [],
      ended: d.ended === true,
    },
  }
}

/** Whether a lease still protects what it names at reader time `now`. Unparsable leases do (fail closed). */
export function isLeaseLive(parsed: ParsedLease, now: number, skewMs = CLOCK_SKEW_ALLOWANCE_MS): boolean {
  if (!parsed.ok) return true
  const l = parsed.lease
  if (l.ended) return false
  return now < l.renewedAt + l.ttlMs + skewMs
}
