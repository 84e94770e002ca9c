/**
 * Deciding what `checkpoints prune` deletes: pure, no I/O, a table of cases in test/prune.test.ts.
 *
 * Rules:
 * - per job, the newest `keep` valid checkpoints stay (never fewer than one: the latest valid
 *   checkpoint of a job is never deleted); older ones go if they are older than `olderThanMs`
 *   (when given);
 * - savepoints stay unless `includeSavepoints`, and then follow the same policy per job;
 * - a directory without `_metadata` is a leftover and goes, unless its job is running (it may be
 *   a checkpoint in progress); a directory whose `_metadata` is unreadable or whose files are
 *   damaged stays (nothing about it can be proven);
 * - a directory holding a file that a kept checkpoint references stays;
 * - a file in shared/ or taskowned/ goes only when no kept checkpoint references it, when every
 *   `_metadata` in the root could be read, and, for a running job, when it is older than the
 *   trigger time of that job's latest checkpoint (so it cannot belong to one in progress);
 * - nothing outside the root is ever chosen.
 */
import type { Inventory, SnapshotEntry } from './inventory.js'

export interface PrunePolicy {
  /** Valid checkpoints to keep per job (at least 1 is always kept). */
  keep: number
  olderThanMs: number | undefined
  includeSavepoints: boolean
  now: number
  runningJobs: ReadonlySet<string>
}

export interface PrunePlan {
  deleteDirs: SnapshotEntry[]
  deleteFiles: { path: string; size: number }[]
  keep: SnapshotEntry[]
  /** Things left alone that a user may want to look at, with the reason. */
  notes: { path: string; reason: string }[]
  bytesFreed: number
}

const inside = (root: string, p: string): boolean => p.startsWith(root.endsWith('/') ? root : `${root}/`)

function completedAt(e: SnapshotEntry): number {
  const iso = e.metadata?.completedAt
  return iso === undefined ? e.mtimeMs : Date.parse(iso)
}

export function planPrune(inv: Inventory, policy: PrunePolicy): PrunePlan {
  const keep = new Set<SnapshotEntry>()
  const remove = new Set<SnapshotEntry>()
  const notes: PrunePlan['notes'] = []
  const keepN = Math.max(1, Math.floor(policy.keep))

  // Valid checkpoints (and, when asked, savepoints) by job: newest first.
  const byJob = new Map<string, SnapshotEntry[]>()
  for (const e of inv.entries) {
    if (!inside(inv.root, e.path) && e.path !== inv.root) {
      keep.add(e)
      continue
    }
    if (e.status === 'valid') {
      if (e.type === 'savepoint' && !policy.includeSavepoints) {
        keep.add(e)
        continue
      }
      const key = `${e.type}:${e.jobId ?? e.metadata?.jobId ?? ''}`
      const list = byJob.get(key) ?? []
      list.push(e)
      byJob.set(key, list)
    } else if (e.metadata === undefined && e.problem === 'no _metadata') {
      if (e.jobId !== undefined && policy.runningJobs.has(e.jobId)) {
        keep.add(e)
        notes.push({ path: e.path, reason: 'no _metadata, but its job is running (a checkpoint in progress)' })
      } else if (e.type === 'savepoint' && !policy.includeSavepoints) {
        keep.add(e)
        notes.push({ path: e.path, reason: 'an incomplete savepoint directory (pass --include-savepoints to remove it)' })
      } else {
        remove.add(e)
      }
    } else {
      keep.add(e)
      notes.push({ path: e.path, reason: `not valid, left alone: ${e.problem ?? e.status}` })
    }
  }
  for (const list of byJob.values()) {
    list.sort((a, b) => (b.checkpointId ?? 0) - (a.checkpointId ?? 0) || completedAt(b) - completedAt(a))
    list.forEach((e, i) => {
      const old = policy.olderThanMs === undefined || completedAt(e) < policy.now - policy.olderThanMs
      if (i >= keepN && old) remove.add(e)
      else keep.add(e)
    })
  }

  // Everything kept checkpoints reference stays, even inside a directory chosen for deletion.
  const referenced = new Set<string>()
  for (const e of keep) for (const r of e.references) referenced.add(r)
  for (const e of [...remove]) {
    const held = e.ownFiles.find((f) => referenced.has(f))
    if (held !== undefined) {
      remove.delete(e)
      keep.add(e)
      notes.push({ path: e.path, reason: `kept: a kept checkpoint references ${held}` })
      for (const r of e.references) referenced.add(r)
    }
  }

  const unreadable = inv.entries.some((e) => e.status === 'corrupt' && e.metadata === undefined)
  const deleteFiles: PrunePlan['deleteFiles'] = []
  if (unreadable) {
    notes.push({ path: inv.root, reason: 'an unreadable _metadata exists below the root: no shared file is deleted' })
  } else {
    for (const job of inv.jobs) {
      let before = Number.POSITIVE_INFINITY
      if (policy.runningJobs.has(job.jobId)) {
        const latest = inv.entries
          .filter((e) => e.jobId === job.jobId && e.status === 'valid' && e.type === 'checkpoint')
          .reduce((m, e) => Math.max(m, e.metadata!.timestamp), Number.NEGATIVE_INFINITY)
        before = latest
      }
      for (const f of job.sharedFiles) {
        if (referenced.has(f.path) || !inside(inv.root, f.path)) continue
        if (f.mtimeMs >= before) continue
        deleteFiles.push({ path: f.path, size: f.size })
      }
    }
  }

  const deleteDirs = [...remove].sort((a, b) => a.path.localeCompare(b.path))
  const bytesFreed = deleteDirs.reduce((n, e) => n + ownBytes(e), 0) + deleteFiles.reduce((n, f) => n + f.size, 0)
  return { deleteDirs, deleteFiles: deleteFiles.sort((a, b) => a.path.localeCompare(b.path)), keep: [...keep].sort((a, b) => a.path.localeCompare(b.path)), notes, bytesFreed }
}

/** Bytes of the files inside the directory itself (shared files are counted separately). */
function ownBytes(e: SnapshotEntry): number {
  if (e.status !== 'valid') return e.sizeBytes
  const own = new Set(e.ownFiles)
  const sizes = new Map(e.metadata!.files.map((f) => [`${e.path}/${f.path}`, f.size]))
  let n = 0
  for (const f of own) n += sizes.get(f) ?? 0
  return n
}
