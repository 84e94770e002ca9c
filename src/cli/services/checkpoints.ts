/**
 * `checkpoints list | restore | prune | verify`: where to look (a JobID, a path or file: URI,
 * --dir, or the configured checkpoints directory), which jobs are running (a live lease in their
 * folder, or the local registry), what to restore from and why, and the small formatting these
 * commands need beyond cli/formatters.ts.
 * Knows nothing of flags. Tests: test/integration/cli-checkpoints.test.ts.
 */
import { lstatSync } from 'node:fs'
import type { Configuration } from '../../runtime/config/configuration.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { scanRoot, type FileProblem, type Inventory, type SnapshotEntry } from '../../runtime/checkpoint/inventory.js'
import { prune, type PruneProgress, type PruneResult } from '../../runtime/checkpoint/prune.js'
import { inside, isRunning } from '../../runtime/checkpoint/prune-plan.js'
import { TsflinkError } from '../../runtime/errors.js'
import { isJobId } from '../../runtime/ids.js'
import { defaultCheckpointsDir } from '../../runtime/config/defaults.js'
import { basename, isRemote, join as joinLocation, normalizeLocation, parent, METADATA_FILE } from '../../runtime/storage/paths.js'
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

/** `ab…` (any case) → the JobID in Flink's lower-case form, when it is one. */
function asJobId(s: string): string | undefined {
  return /^[0-9a-fA-F]{32}$/.test(s) ? s.toLowerCase() : undefined
}

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p)
  } catch {
    return undefined
  }
}

/** A location the user gave: canonical, and not the filesystem root. */
function userLocation(given: string): string {
  const dir = normalizeLocation(given)
  if (dir === '/') {
    throw new TsflinkError(`Refusing to use '${given}' (the filesystem root) as a checkpoints folder: give the folder that holds the job folders, e.g. --dir /var/lib/tsflink/checkpoints`, { kind: 'usage' })
  }
  return dir
}

/** The folder a command works on: --dir, a JobID's folder, or the whole checkpoints root. */
export function resolveTarget(target: { jobId?: string | undefined; dir?: string | undefined }, config: Configuration): string {
  if (target.dir !== undefined && target.jobId !== undefined) throw new TsflinkError('Give either a JobID or --dir, not both', { kind: 'usage' })
  if (target.dir !== undefined) {
    const dir = userLocation(target.dir)
    if (!isRemote(dir) && lstatOrUndefined(dir) === undefined) throw new TsflinkError(`Directory '${target.dir}' does not exist`)
    return dir
  }
  const root = checkpointsRoot(config)
  if (target.jobId === undefined) return userLocation(root)
  const jobId = asJobId(target.jobId)
  if (jobId === undefined) throw new TsflinkError(`Invalid JobID '${target.jobId}': a JobID is 32 hexadecimal characters (0-9, a-f)`, { kind: 'usage' })
  const dir = joinLocation(root, jobId)
  if (!isRemote(dir)) {
    const st = lstatOrUndefined(dir)
    if (st === undefined) throw new TsflinkError(`No checkpoints of job ${jobId} in ${root}`)
    if (st.isSymbolicLink()) throw new TsflinkError(`${dir} is a symbolic link: tsflink does not follow links below the checkpoints root`)
  }
  return dir
}

/** A path, file: URI, s3:// location or `_metadata` file; or a JobID when no such path exists. */
export function resolvePathOrJob(pathOrJobId: string, config: Configuration): string {
  const jobId = asJobId(pathOrJobId)
  if (jobId !== undefined && lstatOrUndefined(pathOrJobId) === undefined) return resolveTarget({ jobId }, config)
  let dir = userLocation(pathOrJobId)
  if (basename(dir) === METADATA_FILE) dir = parent(dir)
  if (!isRemote(dir) && lstatOrUndefined(dir) === undefined) throw new TsflinkError(`'${pathOrJobId}' does not exist`)
  return dir
}

export function registryRunningJobs(): Set<string> {
  return new Set(new JobRegistry().list().map((e) => e.jobId))
}

const mine = (inv: Inventory, e: SnapshotEntry): boolean => e.path === inv.root || inside(inv.root, e.path)

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

/** JobIDs whose folder holds a live lease, or that the local registry lists. */
function runningJobsOf(inv: Inventory, config: Configuration): Set<string> {
  const registry = registryRunningJobs()
  const now = Date.now()
  const out = new Set(registry)
  for (const j of inv.jobs) if (isRunning(j, { now, runningJobs: registry, ...checkpointTimeout(config) })) out.add(j.jobId)
  return out
}

export async function listCheckpoints(root: string, config: Configuration, opts: { deep?: boolean } = {}): Promise<ListedCheckpoint[]> {
  const inv = await scanRoot(root, storageFor(root, config), { deep: opts.deep === true })
  const entries = inv.entries.filter((e) => mine(inv, e))
  const latest = new Map<string, number>()
  for (const e of entries) {
    if (e.status !== 'valid' || e.type !== 'checkpoint' || e.jobId === undefined) continue
    latest.set(e.jobId, Math.max(latest.get(e.jobId) ?? -1, e.checkpointId ?? -1))
  }
  const running = runningJobsOf(inv, config)
  return entries.map((e) => toListed(e, latest, running))
}

export interface RestoreChoice {
  path: string
  /** Lines to print on stderr: why this one, when it is not simply the newest. */
  warnings: string[]
}

const order = (a: SnapshotEntry, b: SnapshotEntry): number =>
  (b.checkpointId ?? -1) - (a.checkpointId ?? -1) || Date.parse(b.metadata?.completedAt ?? '0') - Date.parse(a.metadata?.completedAt ?? '0')

/**
 * What `checkpoints restore <target>` restores from: the checkpoint a path names, or for a job
 * folder or JobID the newest checkpoint whose `_metadata` and every file (size and checksum)
 * check out. Newer ones that do not are named in warnings. Several jobs under the target: an
 * error listing them.
 */
export async function restoreTarget(pathOrJobId: string, config: Configuration): Promise<RestoreChoice> {
  const dir = resolvePathOrJob(pathOrJobId, config)
  const storage = storageFor(dir, config)
  const inv = await scanRoot(dir, storage)
  const entries = inv.entries.filter((e) => mine(inv, e))
  if (entries.some((e) => e.path === dir)) return { path: dir, warnings: [] } // one checkpoint, named: no choice to make
  const byJob = new Map<string, SnapshotEntry[]>()
  for (const e of entries) {
    const job = e.metadata?.jobId ?? e.jobId
    if (e.status !== 'valid' || job === undefined) continue
    byJob.set(job, [...(byJob.get(job) ?? []), e])
  }
  if (byJob.size > 1) {
    const jobs = [...byJob].map(([job, list]) => `${job} (newest: ${basename(list.sort(order)[0]!.path)})`).sort()
    throw new TsflinkError(`${dir} holds checkpoints of ${byJob.size} jobs: ${jobs.join(', ')}. Say which: tsflink checkpoints restore <jobId> or <job folder>`)
  }
  const candidates = [...byJob.values()].flat().sort(order)
  if (candidates.length === 0) {
    const why = entries.find((e) => e.problem !== undefined)?.problem
    throw new TsflinkError(`No valid checkpoint in ${dir}${why === undefined ? '' : ` (${why})`}`)
  }
  // Checksums are read only for the candidates tried, newest first.
  const skipped: string[] = []
  for (const c of candidates) {
    const deep = await scanRoot(c.path, storage, { deep: true })
    const e = deep.entries.find((x) => x.path === c.path)
    if (e?.status === 'valid') {
      const newer = entries.filter((x) => x.status !== 'valid' && (x.metadata !== undefined || x.unreadable) && order(x, c) < 0)
      const bad = [...newer.map((x) => `${x.path}: ${x.problem ?? x.status}`), ...skipped]
      if (bad.length === 0) return { path: c.path, warnings: [] }
      return {
        path: c.path,
        warnings: [
          ...bad.map((b) => `Warning: newer checkpoint not usable: ${b}`),
          `Warning: restoring from ${c.path}, the newest checkpoint that checks out; output committed after it may be written again.`,
        ],
      }
    }
    skipped.push(`${c.path}: ${e?.problem ?? 'changed while reading'}`)
  }
  throw new TsflinkError(`No valid checkpoint in ${dir}: ${skipped.join('; ')}`)
}

export interface PruneRequest {
  keep: number
  olderThanMs: number | undefined
  includeSavepoints: boolean
  dryRun: boolean
  onProgress?: (p: PruneProgress) => void
  /** Other roots whose checkpoints may reference files below the root: read, never pruned. */
  alsoRead?: string[]
}

/** For Flink's job folders (prune-plan.ts rule 9): the configured execution.checkpointing.timeout, if any. */
function checkpointTimeout(config: Configuration): { checkpointTimeoutMs?: number } {
  const ms = config.getDuration('execution.checkpointing.timeout')
  return ms === undefined ? {} : { checkpointTimeoutMs: ms }
}

export function pruneCheckpoints(root: string, config: Configuration, opts: PruneRequest): Promise<PruneResult> {
  return prune(root, storageFor(root, config), {
    keep: opts.keep, olderThanMs: opts.olderThanMs, includeSavepoints: opts.includeSavepoints, now: Date.now(), runningJobs: registryRunningJobs(),
    ...checkpointTimeout(config),
  }, {
    dryRun: opts.dryRun, ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
    alsoRead: (opts.alsoRead ?? []).map((dir) => {
      const other = resolveTarget({ dir }, config)
      return { root: other, storage: storageFor(other, config) }
    }),
  })
}

export interface VerifiedCheckpoint {
  path: string
  jobId: string | null
  checkpointId: number | null
  kind: 'checkpoint' | 'savepoint'
  ok: boolean
  files: number
  sizeBytes: number
  /** Why `_metadata` itself cannot be used, when it cannot. */
  problem?: string
  problems: { file: string; kind: FileProblem['kind']; problem: string }[]
}

export interface VerifyResult {
  ok: boolean
  checked: VerifiedCheckpoint[]
  /** Directories without `_metadata`: not completed checkpoints, so nothing to verify. */
  skipped: { path: string; reason: string }[]
}

/** `checkpoints verify`: every checkpoint and savepoint below the target, deeply (sizes and checksums). */
export async function verifyCheckpoints(dir: string, config: Configuration): Promise<VerifyResult> {
  const inv = await scanRoot(dir, storageFor(dir, config), { deep: true })
  const checked: VerifiedCheckpoint[] = []
  const skipped: VerifyResult['skipped'] = []
  for (const e of inv.entries.filter((x) => mine(inv, x))) {
    if (e.metadata === undefined && !e.unreadable) {
      skipped.push({ path: e.path, reason: 'no _metadata (not a completed checkpoint)' })
      continue
    }
    checked.push({
      path: e.path, jobId: e.metadata?.jobId ?? e.jobId ?? null, checkpointId: e.checkpointId ?? null, kind: e.type,
      ok: e.status === 'valid', files: e.metadata?.files.length ?? 0, sizeBytes: e.sizeBytes,
      ...(e.unreadable ? { problem: e.problem ?? 'unreadable _metadata' } : {}),
      problems: e.fileProblems.map((p) => ({ file: p.file, kind: p.kind, problem: p.problem })),
    })
  }
  const single = inv.entries.some((e) => e.path === dir)
  return { ok: checked.length > 0 && checked.every((c) => c.ok) && !(single && skipped.length > 0), checked, skipped }
}

/**
 * oclif reports a bad flag value over two lines ("Parsing --keep" / "Expected …"); the error
 * path prints the first line only. One line with the reason, for the commands of this topic.
 */
export function oneLineParseError<E extends Error>(err: E): E {
  const lines = err.message.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^See more help with/.test(l))
  if (lines.length > 1) err.message = `${lines[0]!.replace(/[\s:]+$/, '')}: ${lines.slice(1).join(' ')}`
  return err
}
