/**
 * `checkpoints prune`, the acting part: takes the root's lock, scans (inventory.ts), plans
 * (prune-plan.ts), then deletes: each checkpoint's `_metadata` first (a half-deleted checkpoint
 * never looks valid), then the directory, then unreferenced shared files. Killed at any point, a
 * re-run converges. A deletion that fails is reported and the rest goes on.
 * On local disks nothing is deleted through a symbolic link: right before each deletion every
 * folder between the root and the target is checked again (lstat), so a link swapped in after the
 * scan is refused, not followed.
 * The lock is `<root>/.tsflink-prune.lock` (for a job folder: in the checkpoints root holding it);
 * a lock whose process (on this host) is gone is taken over.
 * Other roots given as `alsoRead` are scanned too and only read (their checkpoints' references stay).
 * Never imports the CLI, never writes to stdout. Tests: test/prune.test.ts, test/integration/cli-checkpoints.test.ts,
 * test/integration/flink-cluster.test.ts (alsoRead, with real Flink).
 */
import { hostname } from 'node:os'
import { createHash } from 'node:crypto'
import { lstat, readdir, rmdir } from 'node:fs/promises'
import { StateError } from '../errors.js'
import { isJobId } from '../ids.js'
import { basename, isRemote, join, parent, parseCheckpointDirName, relativeTo, METADATA_FILE } from '../storage/paths.js'
import { FsStorage } from '../storage/fs-storage.js'
import { tsflinkHome } from '../config/defaults.js'
import { isAlive } from '../core/process.js'
import type { Storage } from '../storage/storage.js'
import { describeIoError, mapLimit, scanRoot, type Inventory } from './inventory.js'
import { inside, isRunning, planPrune, type PrunePlan, type PrunePolicy } from './prune-plan.js'

export const LOCK_FILE = '.tsflink-prune.lock'

interface LockHolder {
  pid?: number
  host?: string
  since?: string
}

/** The folder whose lock a prune of `root` takes: a job folder's parent, so a whole-root prune excludes it. */
export function lockRootFor(root: string): string {
  return isJobId(basename(root)) ? parent(root) : root
}

/**
 * Takes the prune lock of `root` (an object created only if absent: a local file, or on S3 the
 * claim protocol of S3Storage.createExclusive), or throws if a live prune holds it. A lock left by
 * a process of this host that is gone is taken over.
 */
export async function acquirePruneLock(root: string, storage: Storage): Promise<() => Promise<void>> {
  if (!isRemote(root)) return acquireLock(root, storage)
  // Other prunes of this host wait on a local lock first, so they do not race on the store.
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
      throw new StateError(`Cannot lock ${root}: ${describeIoError(err)}`)
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

export interface PruneProgress {
  dirsDone: number
  dirsTotal: number
  filesDone: number
  filesTotal: number
  bytesFreed: number
}

export interface PruneOptions {
  dryRun?: boolean
  /**
   * Other roots (checkpoint roots or job folders) whose checkpoints may reference files below the
   * root: e.g. a job restored in claim mode that writes its checkpoints into another checkpoint
   * directory. They are read, never pruned: what their checkpoints reference stays, a running job
   * there protects the folders it uses, and an unreadable `_metadata` there stops as one below the
   * root does.
   */
  alsoRead?: readonly { root: string; storage: Storage }[]
  /** Called after the plan is made (all zero done) and after each deletion. */
  onProgress?: (p: PruneProgress) => void
}

export interface PruneResult {
  plan: PrunePlan
  /** What was deleted (with dryRun: what would be). */
  deleted: string[]
  /** Deletions that failed, with the reason; everything else went on. */
  failed: { path: string; reason: string }[]
  bytesFreed: number
}

/** The first symbolic link between `root` (excluded) and `path` (included), or undefined. Local paths only. */
async function linkOnTheWay(root: string, path: string): Promise<string | undefined> {
  const rel = relativeTo(root, path)
  if (rel === undefined) return path
  let p = root
  for (const seg of rel.split('/')) {
    p = join(p, seg)
    const s = await lstat(p).catch(() => undefined)
    if (s === undefined) return undefined // gone already: nothing to follow
    if (s.isSymbolicLink()) return p
  }
  return undefined
}

export async function prune(root: string, storage: Storage, policy: PrunePolicy, opts: PruneOptions | boolean = {}): Promise<PruneResult> {
  const { dryRun = false, onProgress } = typeof opts === 'boolean' ? { dryRun: opts } : opts
  if (typeof opts === 'boolean') opts = { dryRun: opts }
  const release = await acquirePruneLock(lockRootFor(root), storage)
  try {
    const inv = await withOtherRoots(await scanRoot(root, storage, { context: true }), opts)
    const plan = planPrune(inv, policy)
    if (plan.refused !== undefined) return { plan, deleted: [], failed: [], bytesFreed: 0 }
    if (dryRun) return { plan, deleted: [...plan.deleteDirs.map((e) => e.path), ...plan.deleteFiles.map((f) => f.path)], failed: [], bytesFreed: plan.bytesFreed }
    const local = !isRemote(root)
    const deleted: string[] = []
    const failed: PruneResult['failed'] = []
    const progress: PruneProgress = { dirsDone: 0, dirsTotal: plan.deleteDirs.length, filesDone: 0, filesTotal: plan.deleteFiles.length, bytesFreed: 0 }
    onProgress?.({ ...progress })
    const attempt = async (path: string, bytes: number, work: () => Promise<void>): Promise<boolean> => {
      try {
        const link = local ? await linkOnTheWay(root, path) : undefined
        if (link !== undefined) throw new StateError(`${link} is a symbolic link (swapped in after the scan?): not followed`)
        await work()
        deleted.push(path)
        progress.bytesFreed += bytes
        return true
      } catch (err) {
        failed.push({ path, reason: err instanceof StateError ? err.message : describeIoError(err) })
        return false
      }
    }
    await mapLimit(plan.deleteDirs, 32, async (e) => {
      await attempt(e.path, e.ownBytes, async () => {
        await storage.delete(join(e.path, METADATA_FILE))
        await storage.deleteTree(e.path)
      })
      progress.dirsDone++
      onProgress?.({ ...progress })
    })
    await mapLimit(plan.deleteFiles, 32, async (f) => {
      await attempt(f.path, f.size, () => storage.delete(f.path))
      progress.filesDone++
      onProgress?.({ ...progress })
    })
    if (local) await removeEmptyCheckpointDirs(inv, policy)
    deleted.sort((a, b) => a.localeCompare(b))
    return { plan, deleted, failed, bytesFreed: progress.bytesFreed }
  } finally {
    await release()
  }
}

/**
 * The inventory of the root with what the other roots hold added (read only: everything of theirs
 * lies outside the root, and prune-plan.ts deletes only inside it). An entry or job folder read
 * twice (a root inside another) is taken once, from the root's own scan.
 */
async function withOtherRoots(inv: Inventory, opts: PruneOptions): Promise<Inventory> {
  const others = opts.alsoRead ?? []
  if (others.length === 0) return inv
  const scans = await mapLimit(others, 4, (o) => scanRoot(o.root, o.storage, { context: true }))
  const entries = new Map(inv.entries.map((e) => [e.path, e]))
  const jobs = new Map(inv.jobs.map((j) => [j.path, j]))
  for (const scan of scans) {
    for (const e of scan.entries) if (!entries.has(e.path)) entries.set(e.path, e)
    for (const j of scan.jobs) if (!jobs.has(j.path)) jobs.set(j.path, j)
  }
  return { root: inv.root, entries: [...entries.values()], jobs: [...jobs.values()].sort((a, b) => a.path.localeCompare(b.path)) }
}

/**
 * A prune killed during a directory's deletion can leave it empty; listings see only files, so
 * empty chk-* folders of the recognised job folders of a local root are removed here (rmdir never
 * removes a non-empty folder; links are not followed; a running job's folders are left to it).
 */
async function removeEmptyCheckpointDirs(inv: Inventory, policy: PrunePolicy): Promise<void> {
  for (const j of inv.jobs) {
    if (!j.recognized || !(inside(inv.root, j.path) || j.path === inv.root) || isRunning(j, policy)) continue
    if (j.path !== inv.root && (await linkOnTheWay(inv.root, j.path)) !== undefined) continue
    const names = await readdir(j.path, { withFileTypes: true }).catch(() => [])
    for (const d of names) {
      if (d.isDirectory() && parseCheckpointDirName(d.name) !== undefined) await rmdir(join(j.path, d.name)).catch(() => {})
    }
  }
}
