/**
 * `checkpoints list | restore | prune`: where to look (a JobID, --dir, or the configured
 * checkpoints directory), which jobs are running, and what to restore from.
 */
import { existsSync } from 'node:fs'
import type { Configuration } from '../../runtime/config/configuration.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { scanRoot, type SnapshotEntry } from '../../runtime/checkpoint/inventory.js'
import { prune, type PruneResult } from '../../runtime/checkpoint/prune.js'
import { TsflinkError } from '../../runtime/errors.js'
import { isJobId } from '../../runtime/ids.js'
import { defaultCheckpointsDir } from '../../runtime/job/defaults.js'
import { isRemote, join as joinLocation, normalizeLocation } from '../../runtime/storage/paths.js'
import { storageFor } from '../../runtime/storage/resolve.js'

export interface ListedCheckpoint {
  jobId: string | null
  checkpointId: number | null
  kind: 'checkpoint' | 'savepoint'
  incremental: boolean
  path: string
  completedAt: string | null
  sizeBytes: number
  status: 'valid' | 'incomplete' | 'orphan'
  problem?: string
}

export function checkpointsRoot(config: Configuration): string {
  return normalizeLocation(config.getString('execution.checkpointing.dir') ?? defaultCheckpointsDir())
}

/** The folder a command works on: --dir, a JobID's folder, or the whole checkpoints root. */
export function resolveTarget(target: { jobId?: string | undefined; dir?: string | undefined }, config: Configuration): string {
  if (target.dir !== undefined && target.jobId !== undefined) throw new TsflinkError('Give either a JobID or --dir, not both', { kind: 'usage' })
  if (target.dir !== undefined) {
    const dir = normalizeLocation(target.dir)
    if (!isRemote(dir) && !existsSync(dir)) throw new TsflinkError(`Directory '${target.dir}' does not exist`)
    return dir
  }
  const root = checkpointsRoot(config)
  if (target.jobId === undefined) return root
  if (!isJobId(target.jobId)) throw new TsflinkError(`Invalid JobID '${target.jobId}': a JobID is 32 hexadecimal characters (0-9, a-f)`, { kind: 'usage' })
  const dir = joinLocation(root, target.jobId)
  if (!isRemote(dir) && !existsSync(dir)) throw new TsflinkError(`No checkpoints of job ${target.jobId} in ${root}`)
  return dir
}

export function runningJobs(): Set<string> {
  return new Set(new JobRegistry().list().map((e) => e.jobId))
}

function toListed(e: SnapshotEntry, latestOfJob: Map<string, number>, running: Set<string>): ListedCheckpoint {
  const jobId = e.jobId ?? e.metadata?.jobId ?? null
  let status: ListedCheckpoint['status'] = e.status === 'valid' ? 'valid' : 'incomplete'
  if (status === 'valid' && e.type === 'checkpoint' && jobId !== null && !running.has(jobId) && latestOfJob.get(jobId) !== e.checkpointId) status = 'orphan'
  return {
    jobId,
    checkpointId: e.checkpointId ?? null,
    kind: e.type,
    incremental: e.metadata?.kind.incremental ?? false,
    path: e.path,
    completedAt: e.metadata?.completedAt ?? null,
    sizeBytes: e.sizeBytes,
    status,
    ...(e.problem === undefined ? {} : { problem: e.problem }),
  }
}

export async function listCheckpoints(root: string, config: Configuration): Promise<ListedCheckpoint[]> {
  const inv = await scanRoot(root, storageFor(root, config))
  const latest = new Map<string, number>()
  for (const e of inv.entries) {
    if (e.status !== 'valid' || e.type !== 'checkpoint' || e.jobId === undefined) continue
    latest.set(e.jobId, Math.max(latest.get(e.jobId) ?? -1, e.checkpointId ?? -1))
  }
  const running = runningJobs()
  return inv.entries.map((e) => toListed(e, latest, running))
}

/** The latest valid checkpoint of a job folder, or the checkpoint a path names. */
export async function restoreTarget(pathOrJobId: string, config: Configuration): Promise<string> {
  const dir = isJobId(pathOrJobId) && !existsSync(pathOrJobId) ? resolveTarget({ jobId: pathOrJobId }, config) : resolveTarget({ dir: pathOrJobId }, config)
  const inv = await scanRoot(dir, storageFor(dir, config))
  const valid = inv.entries.filter((e) => e.status === 'valid').sort((a, b) => (b.checkpointId ?? 0) - (a.checkpointId ?? 0))
  const best = valid[0]
  if (best === undefined) {
    const why = inv.entries.find((e) => e.problem !== undefined)?.problem
    throw new TsflinkError(`No valid checkpoint in ${dir}${why === undefined ? '' : ` (${why})`}`)
  }
  return best.path
}

export function pruneCheckpoints(root: string, config: Configuration, opts: { keep: number; olderThanMs: number | undefined; includeSavepoints: boolean; dryRun: boolean }): Promise<PruneResult> {
  return prune(root, storageFor(root, config), {
    keep: opts.keep, olderThanMs: opts.olderThanMs, includeSavepoints: opts.includeSavepoints, now: Date.now(), runningJobs: runningJobs(),
  }, opts.dryRun)
}
