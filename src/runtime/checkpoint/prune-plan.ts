/**
 * Deciding what `checkpoints prune` deletes: pure, no I/O. Tests: test/prune.test.ts (a table of
 * cases, and a property test against an oracle written from the rules below).
 *
 * The rules (README "Pruning from cron" says the same to users):
 * 1. Only what is inside the root is ever deleted; a job folder or savepoint directory counts
 *    only when recognised by its content (see inventory.ts); other folders are left alone.
 * 2. A job is *running* when its folder holds a live `_lease` (lease.ts: not ended, renewed within
 *    its ttl plus the clock-skew allowance; an unparsable lease counts as live), or when the local
 *    registry lists it. The registry can only add protection; modification times are not used.
 * 3. Per job, its valid checkpoints, newest first: the first `max(1, keep)` stay; older ones go when
 *    older than `olderThanMs` (or always, when it is unset). So the latest valid one always stays.
 * 4. A running job additionally keeps what its lease names: its latest completed checkpoint and
 *    its checkpoints and savepoints in progress; and a directory of it without `_metadata` stays (it
 *    may be a checkpoint in progress). A directory without `_metadata` of a job that is not
 *    running is a leftover and goes.
 * 5. A directory whose `_metadata` cannot be read, or whose files are missing or damaged, stays.
 * 6. Savepoints: a savepoint whose `_in_progress` is live (or unparsable) never goes. Others stay
 *    unless `includeSavepoints`; then valid ones follow rule 3 per job, and one without `_metadata`
 *    (its `_in_progress` expired or ended) is a leftover and goes.
 * 7. A directory chosen to go that holds a file a kept checkpoint references stays (and then what
 *    it references stays too). For a running job, what its deleted checkpoints reference outside
 *    their own directory stays as well: the job may reuse those files in a checkpoint in progress.
 * 8. A file in a job's shared/ or taskowned/ goes only when all of these hold: every `_metadata`
 *    below the root could be read; no kept checkpoint references it; its job is not running; and
 *    no checkpoint of a running job references anything in that job's folder (a job restored in
 *    claim mode uploads nothing there, but reuses what is there). A running job may be uploading
 *    files that no `_metadata` names yet, so nothing in its own shared/ or taskowned/ is deleted.
 * 9. Apache Flink's own job folders (recognised by Flink's `_metadata`; Flink writes no lease): a
 *    Flink job counts as running until its latest completed checkpoint is older than the checkpoint
 *    timeout (`checkpointTimeoutMs`, Flink's execution.checkpointing.timeout), and for as long as
 *    any file in its folder is newer than that (something still writes there). A checkpoint
 *    started after the latest completed one has then either completed or expired, so what it left
 *    is garbage; files newer than latest completed + timeout are never deleted.
 * 10. Fail closed on Flink's format: a Flink `_metadata` below the root (or next to a job folder
 *    given as the root) that cannot be read with certainty (unknown version or handle type), or
 *    a Flink checkpoint that references a file outside the folders read (another spelling of the
 *    path, a link, another root), means nothing at all is deleted (`refused` says why).
 */
import { join, normalizeLocation } from '../storage/paths.js'
import type { Inventory, JobFolder, SnapshotEntry } from './inventory.js'
import { isLeaseLive } from './lease.js'

export interface PrunePolicy {
  /** Valid checkpoints to keep per job (at least 1 is always kept). */
  keep: number
  olderThanMs: number | undefined
  includeSavepoints: boolean
  now: number
  /** Jobs the local registry lists as running: protected as if they held a live lease. */
  runningJobs: ReadonlySet<string>
  /** Flink job folders (rule 9): the checkpoint timeout of their jobs; Flink's default, 10 min, when unset. */
  checkpointTimeoutMs?: number | undefined
}

/** Flink's default execution.checkpointing.timeout. */
export const FLINK_CHECKPOINT_TIMEOUT_MS = 10 * 60_000

export interface PrunePlan {
  deleteDirs: SnapshotEntry[]
  deleteFiles: { path: string; size: number }[]
  /** Checkpoints and savepoints inside the root that stay. */
  keep: SnapshotEntry[]
  /** Things left alone that a user may want to look at, with the reason. */
  notes: { path: string; reason: string }[]
  bytesFreed: number
  /** Why nothing at all may be deleted (rule 10); then deleteDirs and deleteFiles are empty. */
  refused?: string
}

/** Strictly below `root` (`/x/ck2` is not inside `/x/ck`). */
export const inside = (root: string, p: string): boolean => p.startsWith(root.endsWith('/') ? root : `${root}/`)

function completedAt(e: SnapshotEntry): number {
  return Date.parse(e.metadata!.completedAt)
}

/** Whether the job of a folder is running (rule 2). */
export function isRunning(j: JobFolder, policy: Pick<PrunePolicy, 'now' | 'runningJobs' | 'checkpointTimeoutMs'>): boolean {
  return (j.lease !== undefined && isLeaseLive(j.lease.parsed, policy.now)) || policy.runningJobs.has(j.jobId) || (j.flink === true && flinkMayRun(j, policy))
}

/** Rule 9: whether a Flink job may still be running (or have a checkpoint in flight). */
function flinkMayRun(j: JobFolder, policy: Pick<PrunePolicy, 'now' | 'checkpointTimeoutMs'>): boolean {
  if (j.latestCompletedMs === undefined) return true
  const quietFrom = j.latestCompletedMs + (policy.checkpointTimeoutMs ?? FLINK_CHECKPOINT_TIMEOUT_MS)
  return policy.now <= quietFrom || (j.newestFileMs ?? 0) > quietFrom
}

/** Rule 10: why no deletion is safe below this inventory, if one is not. */
function refusal(inv: Inventory, folders: ReadonlyMap<string, JobFolder>): string | undefined {
  const broken = inv.entries.find((e) => e.format === 'flink' && e.unreadable)
  if (broken !== undefined) return `${String(broken.problem)}; nothing was deleted`
  for (const e of inv.entries) {
    if (e.format !== 'flink') continue
    const outside = e.references.find((r) => !inside(e.path, r) && !inside(inv.root, r) && folderOf(r, folders) === undefined)
    if (outside !== undefined) {
      return `${e.path} references ${outside}, outside the folders read: tsflink cannot tell whether it is a file here under another name; nothing was deleted (prune the root that holds both)`
    }
  }
  return undefined
}

/** The job folder (among `folders`) a location lies in, if any: its prefixes are tried, longest first. */
function folderOf(location: string, folders: ReadonlyMap<string, JobFolder>): JobFolder | undefined {
  for (let i = location.lastIndexOf('/'); i > 0; i = location.lastIndexOf('/', i - 1)) {
    const f = folders.get(location.slice(0, i))
    if (f !== undefined) return f
  }
  return undefined
}

export function planPrune(inv: Inventory, policy: PrunePolicy): PrunePlan {
  const kept = new Set<SnapshotEntry>()
  const remove = new Set<SnapshotEntry>()
  const notes: PrunePlan['notes'] = []
  const note = (path: string, reason: string): void => void notes.push({ path, reason })
  const keepN = Math.max(1, Math.floor(policy.keep))
  const root = inv.root

  const folders = new Map(inv.jobs.map((j) => [j.path, j]))
  const refused = refusal(inv, folders)
  if (refused !== undefined) {
    return { deleteDirs: [], deleteFiles: [], keep: inv.entries.filter((e) => inside(root, e.path) || e.path === root), notes: [], bytesFreed: 0, refused }
  }
  // Keyed by job folder; entries outside any job folder look up `undefined`, which is never there.
  const running = new Set<string | undefined>()
  const named = new Set<string>()
  for (const j of inv.jobs) {
    const mine = inside(root, j.path) || j.path === root
    if (mine && !j.recognized) note(j.path, 'named like a job folder, but no _lease or _metadata in it names that job: not ours, left alone')
    if (!isRunning(j, policy)) continue
    running.add(j.path)
    if (j.lease === undefined) continue
    if (!j.lease.parsed.ok) {
      if (mine) note(j.lease.location, `unreadable lease (${j.lease.parsed.reason}): its job counts as running`)
      continue
    }
    const lease = j.lease.parsed.lease
    for (const id of [lease.latestCompleted, ...lease.inProgress]) if (id !== null) named.add(join(j.path, `chk-${id}`))
    for (const sp of lease.savepointsInProgress) named.add(normalizeLocation(sp))
  }

  // Rules 1–6: each directory stays, goes, or joins its job's list of valid ones.
  const groups = new Map<string, SnapshotEntry[]>()
  for (const e of inv.entries) {
    if (!inside(root, e.path)) {
      kept.add(e)
      continue
    }
    if (named.has(e.path)) {
      // Stays; a valid one still counts among its job's newest.
      kept.add(e)
      note(e.path, 'named by the live lease of its running job (its latest checkpoint, or one in progress)')
      if (e.status !== 'valid') continue
    }
    if (e.jobPath !== undefined ? folders.get(e.jobPath)?.recognized !== true : !e.recognized) {
      kept.add(e)
      if (e.jobPath === undefined) note(e.path, 'neither _metadata nor _in_progress: not a savepoint directory tsflink recognises, left alone')
      continue
    }
    if (e.inProgress !== undefined && isLeaseLive(e.inProgress.parsed, policy.now)) {
      kept.add(e)
      note(e.path, `a savepoint in progress (${e.inProgress.parsed.ok ? 'live _in_progress' : `unreadable _in_progress: ${e.inProgress.parsed.reason}`}): never deleted`)
      continue
    }
    if (e.type === 'savepoint' && !policy.includeSavepoints) {
      kept.add(e)
      if (e.status !== 'valid') note(e.path, `an incomplete savepoint (${e.problem ?? e.status}); pass --include-savepoints to remove it`)
      continue
    }
    if (e.status === 'valid') {
      const key = `${e.type}:${e.jobPath ?? e.metadata!.jobId}`
      const list = groups.get(key) ?? []
      list.push(e)
      groups.set(key, list)
    } else if (e.metadata === undefined && !e.unreadable) {
      if (running.has(e.jobPath)) {
        kept.add(e)
        note(e.path, 'no _metadata, but its job is running: a checkpoint in progress')
      } else {
        remove.add(e)
      }
    } else {
      kept.add(e)
      note(e.path, `not valid, left alone: ${e.problem ?? e.status}`)
    }
  }
  for (const list of groups.values()) {
    list.sort((a, b) => b.checkpointId! - a.checkpointId! || completedAt(b) - completedAt(a))
    list.forEach((e, i) => {
      const old = policy.olderThanMs === undefined || completedAt(e) < policy.now - policy.olderThanMs
      if (i >= keepN && old && !kept.has(e)) remove.add(e)
      else kept.add(e)
    })
  }

  // Rule 7: what kept checkpoints reference stays, even inside a directory chosen to go.
  const referenced = new Set<string>()
  for (const e of kept) for (const r of e.references) referenced.add(r)
  for (const e of remove) {
    if (!running.has(e.jobPath)) continue
    for (const r of e.references) if (!inside(e.path, r)) referenced.add(r)
  }
  for (let changed = true; changed;) {
    changed = false
    for (const e of remove) {
      const held = e.ownFiles.find((f) => referenced.has(f))
      if (held === undefined) continue
      remove.delete(e)
      kept.add(e)
      note(e.path, `kept: a kept checkpoint references ${held}`)
      for (const r of e.references) referenced.add(r)
      changed = true
    }
  }

  // Rule 8: shared files.
  const deleteFiles: PrunePlan['deleteFiles'] = []
  const unreadable = inv.entries.find((e) => e.unreadable)
  if (unreadable !== undefined) {
    note(root, `${unreadable.path} has an unreadable _metadata (${String(unreadable.problem)}): no shared file is deleted, since none can be proven unreferenced`)
  } else {
    const busy = new Set(running)
    for (const e of inv.entries) {
      if (!running.has(e.jobPath)) continue
      for (const r of e.references) {
        const f = folderOf(r, folders)
        if (f !== undefined) busy.add(f.path)
      }
    }
    for (const j of inv.jobs) {
      if (!j.recognized) continue
      const candidates = j.sharedFiles.filter((f) => !referenced.has(f.path) && inside(root, f.path))
      if (busy.has(j.path)) {
        if (candidates.length > 0) note(j.path, `${running.has(j.path) ? 'its job is running' : 'a running job uses its files'}: no file in its shared/ or taskowned/ is deleted`)
        continue
      }
      for (const f of candidates) deleteFiles.push({ path: f.path, size: f.size })
    }
  }

  const deleteDirs = [...remove].sort((a, b) => a.path.localeCompare(b.path))
  const bytesFreed = deleteDirs.reduce((n, e) => n + e.ownBytes, 0) + deleteFiles.reduce((n, f) => n + f.size, 0)
  return {
    deleteDirs,
    deleteFiles: deleteFiles.sort((a, b) => a.path.localeCompare(b.path)),
    keep: [...kept].filter((e) => inside(root, e.path) || e.path === root).sort((a, b) => a.path.localeCompare(b.path)),
    notes,
    bytesFreed,
  }
}
