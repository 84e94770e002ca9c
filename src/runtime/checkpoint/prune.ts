/**
 * `checkpoints prune`, the acting part: takes the root's lock, scans, plans (prune-plan.ts),
 * then deletes: each checkpoint's `_metadata` first (a half-deleted checkpoint never looks valid),
 * then the directory, then unreferenced shared files. Killed at any point, a re-run converges.
 * The lock is `<root>/.tsflink-prune.lock`; a lock whose process is gone is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { StateError } from '../errors.js'
import { isAlive } from '../control/registry.js'
import { METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { mapLimit, scanRoot } from './inventory.js'
import { planPrune, type PrunePlan, type PrunePolicy } from './prune-plan.js'

export const LOCK_FILE = '.tsflink-prune.lock'

/** Takes the prune lock of `root`, or throws if a live prune holds it. */
export function acquirePruneLock(root: string): () => void {
  const lock = join(root, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx')
      writeSync(fd, JSON.stringify({ pid: process.pid, since: new Date().toISOString() }))
      closeSync(fd)
      return () => {
        try {
          unlinkSync(lock)
        } catch {
          // already gone
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StateError(`Cannot lock ${root}: ${(err as Error).message}`)
      let holder: { pid?: number } = {}
      try {
        holder = JSON.parse(readFileSync(lock, 'utf8')) as { pid?: number }
      } catch {
        // unreadable: a crash while writing it; treat as stale
      }
      if (typeof holder.pid === 'number' && isAlive(holder.pid)) {
        throw new StateError(`Another prune is running on ${root} (pid ${holder.pid}); refusing to run twice at once`, {
          hint: `If no prune is running, remove ${lock}.`,
        })
      }
      unlinkSync(lock) // stale: its process is gone
    }
  }
  throw new StateError(`Cannot lock ${root}`)
}

export interface PruneResult {
  plan: PrunePlan
  deleted: string[]
}

export async function prune(root: string, storage: Storage, policy: PrunePolicy, dryRun: boolean): Promise<PruneResult> {
  const release = acquirePruneLock(root)
  try {
    const plan = planPrune(await scanRoot(root, storage), policy)
    const deleted = [...plan.deleteDirs.map((e) => e.path), ...plan.deleteFiles.map((f) => f.path)]
    if (dryRun) return { plan, deleted }
    await mapLimit(plan.deleteDirs, 32, async (e) => {
      await storage.delete(join(e.path, METADATA_FILE))
      await storage.deleteTree(e.path)
    })
    await mapLimit(plan.deleteFiles, 32, (f) => storage.delete(f.path))
    return { plan, deleted }
  } finally {
    release()
  }
}
