/**
 * `checkpoints prune`, the acting part: takes the root's lock, scans, plans (prune-plan.ts),
 * then deletes: each checkpoint's `_metadata` first (a half-deleted checkpoint never looks valid),
 * then the directory, then unreferenced shared files. Killed at any point, a re-run converges.
 * The lock is `<root>/.tsflink-prune.lock`; a lock whose process (on this host) is gone is taken over.
 */
import { hostname } from 'node:os'
import { StateError, describeError } from '../errors.js'
import { createHash } from 'node:crypto'
import { readdir, rmdir } from 'node:fs/promises'
import { isJobId } from '../ids.js'
import { basename, isRemote, join, parseCheckpointDirName } from '../storage/paths.js'
import { FsStorage } from '../storage/fs-storage.js'
import { tsflinkHome } from '../job/defaults.js'
import { isAlive } from '../control/registry.js'
import { METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { mapLimit, scanRoot } from './inventory.js'
import { planPrune, type PrunePlan, type PrunePolicy } from './prune-plan.js'

export const LOCK_FILE = '.tsflink-prune.lock'

interface LockHolder {
  pid?: number
  host?: string
  since?: string
}

/**
 * Takes the prune lock of `root` (an object created only if absent: a local file, or a
 * conditional PUT on S3), or throws if a live prune holds it. A lock left by a process of this
 * host that is gone is taken over.
 */
export async function acquirePruneLock(root: string, storage: Storage): Promise<() => Promise<void>> {
  if (!isRemote(root)) return acquireLock(root, storage)
  // Object stores may not honour conditional writes: hold a lock on this host as well.
  const local = join(tsflinkHome(), 'locks', createHash('sha256').update(root).digest('hex').slice(0, 32))
  const releaseLocal = await acquireLock(local, new FsStorage(), root)
  try {
    const releaseRemote = await acquireLock(root, storage)
    return async () => {
      await releaseRemote()
      await releaseLocal()
    }
  } catch (err) {
    await releaseLocal()
    throw err
  }
}

async function acquireLock(dir: string, storage: Storage, shownAs = dir): Promise<() => Promise<void>> {
  const root = shownAs
  const lock = join(dir, LOCK_FILE)
  const me = Buffer.from(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }))
  for (let attempt = 0; attempt < 2; attempt++) {
    let created: boolean
    try {
      created = await storage.createExclusive(lock, me)
    } catch (err) {
      throw new StateError(`Cannot lock ${root}: ${describeError(err)}`)
    }
    if (created) return () => storage.delete(lock).catch(() => {})
    let holder: LockHolder = {}
    try {
      holder = JSON.parse((await storage.read(lock)).toString()) as LockHolder
    } catch {
      // unreadable: a crash while writing it; treat as stale
    }
    const stale = holder.pid === undefined || (holder.host === hostname() && !isAlive(holder.pid))
    if (!stale) {
      throw new StateError(`Another prune is running on ${root} (pid ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host ?? 'another host'}`}); refusing to run twice at once`, {
        hint: `If no prune is running, remove ${lock}.`,
      })
    }
    await storage.delete(lock)
  }
  throw new StateError(`Cannot lock ${root}`)
}

export interface PruneResult {
  plan: PrunePlan
  deleted: string[]
}

export async function prune(root: string, storage: Storage, policy: PrunePolicy, dryRun: boolean): Promise<PruneResult> {
  const release = await acquirePruneLock(root, storage)
  try {
    const plan = planPrune(await scanRoot(root, storage), policy)
    const deleted = [...plan.deleteDirs.map((e) => e.path), ...plan.deleteFiles.map((f) => f.path)]
    if (dryRun) return { plan, deleted }
    await mapLimit(plan.deleteDirs, 32, async (e) => {
      await storage.delete(join(e.path, METADATA_FILE))
      await storage.deleteTree(e.path)
    })
    await mapLimit(plan.deleteFiles, 32, (f) => storage.delete(f.path))
    if (!isRemote(root)) await removeEmptyCheckpointDirs(root)
    return { plan, deleted }
  } finally {
    await release()
  }
}

/**
 * A prune killed during a directory's deletion can leave it empty; listings see only files, so
 * empty chk-* folders of a local root are removed here (rmdir never removes a non-empty one).
 */
async function removeEmptyCheckpointDirs(root: string): Promise<void> {
  const jobDirs = isJobId(basename(root)) ? [root] : (await readdir(root).catch(() => [] as string[])).filter(isJobId).map((n) => join(root, n))
  for (const dir of jobDirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (parseCheckpointDirName(name) !== undefined) await rmdir(join(dir, name)).catch(() => {})
    }
  }
}
