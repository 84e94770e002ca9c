/**
 * What is on disk below a checkpoint root: every checkpoint and savepoint directory, whether its
 * `_metadata` verifies and every file it references exists with its recorded size, and the
 * files of `shared/` and `taskowned/`. Reads only; symbolic links are never followed.
 * Used by `checkpoints list | restore | prune`. Tests: test/prune.test.ts.
 */
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describeError } from '../errors.js'
import { isJobId } from '../ids.js'
import { METADATA_FILE, parseCheckpointDirName } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { parseMetadata, type CheckpointMetadata } from './metadata.js'

export type EntryStatus = 'valid' | 'incomplete' | 'corrupt'

export interface SnapshotEntry {
  /** The directory. */
  path: string
  jobId: string | undefined
  checkpointId: number | undefined
  type: 'checkpoint' | 'savepoint'
  status: EntryStatus
  /** Why it is not valid. */
  problem: string | undefined
  metadata: CheckpointMetadata | undefined
  /** Absolute paths of every file the metadata references (valid entries). */
  references: string[]
  /** Bytes: referenced files for valid entries, files in the directory otherwise. */
  sizeBytes: number
  /** Files directly inside the directory. */
  ownFiles: string[]
  mtimeMs: number
}

export interface JobFolder {
  jobId: string
  path: string
  /** Files in shared/ and taskowned/ with their modification times. */
  sharedFiles: { path: string; mtimeMs: number; size: number }[]
}

export interface Inventory {
  root: string
  entries: SnapshotEntry[]
  jobs: JobFolder[]
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isDirectory()
  } catch {
    return false
  }
}

async function filesIn(dir: string, recursive: boolean): Promise<{ path: string; mtimeMs: number; size: number }[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return []
  }
  const found = await mapLimit(names, 32, async (n) => {
    const p = join(dir, n)
    const st = await lstat(p).catch(() => undefined)
    if (st === undefined || st.isSymbolicLink()) return []
    if (st.isDirectory()) return recursive ? filesIn(p, true) : []
    return st.isFile() ? [{ path: p, mtimeMs: st.mtimeMs, size: st.size }] : []
  })
  return found.flat()
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * Reads one checkpoint or savepoint directory. `known` holds sizes of files already listed
 * (shared files), which then need no separate stat.
 */
export async function inspectSnapshotDir(
  path: string, storage: Storage, jobId: string | undefined, type: 'checkpoint' | 'savepoint', known: ReadonlyMap<string, number> = new Map(),
): Promise<SnapshotEntry> {
  const own = await filesIn(path, true)
  const mtimeMs = own.reduce((m, f) => Math.max(m, f.mtimeMs), 0)
  const base: SnapshotEntry = {
    path, jobId, type, status: 'incomplete', problem: 'no _metadata', metadata: undefined, references: [],
    sizeBytes: own.reduce((n, f) => n + f.size, 0), ownFiles: own.map((f) => f.path), mtimeMs,
    checkpointId: type === 'checkpoint' ? parseCheckpointDirName(path.slice(path.lastIndexOf('/') + 1)) : undefined,
  }
  const metaPath = join(path, METADATA_FILE)
  const metaStat = await lstat(metaPath).catch(() => undefined)
  if (metaStat === undefined || !metaStat.isFile()) return base
  let meta: CheckpointMetadata
  try {
    meta = parseMetadata(await storage.read(metaPath), metaPath)
  } catch (err) {
    return { ...base, status: 'corrupt', problem: describeError(err) }
  }
  const references = meta.files.map((f) => join(path, f.path))
  const size = meta.files.reduce((n, f) => n + f.size, 0)
  const ownSizes = new Map(own.map((f) => [f.path, f.size]))
  const sizes = await Promise.all(references.map(async (abs) => known.get(abs) ?? ownSizes.get(abs) ?? (await storage.stat(abs).catch(() => undefined))?.size))
  for (let i = 0; i < meta.files.length; i++) {
    const f = meta.files[i]!
    const actual = sizes[i]
    if (actual === undefined) return { ...base, status: 'incomplete', problem: `referenced file ${f.path} is missing`, metadata: meta, references, checkpointId: meta.checkpointId, jobId: meta.jobId }
    if (actual !== f.size) return { ...base, status: 'corrupt', problem: `${f.path} has ${actual} bytes, _metadata says ${f.size}`, metadata: meta, references, checkpointId: meta.checkpointId, jobId: meta.jobId }
  }
  return {
    ...base, status: 'valid', problem: undefined, metadata: meta, references, sizeBytes: size,
    checkpointId: meta.checkpointId, jobId: meta.jobId, type: meta.kind.type,
  }
}

/**
 * Scans `root`: a checkpoints root (job folders inside), one job folder (chk-* inside), a
 * savepoints folder (savepoint-* inside), or a single checkpoint or savepoint directory.
 */
export async function scanRoot(root: string, storage: Storage): Promise<Inventory> {
  const entries: SnapshotEntry[] = []
  const jobs: JobFolder[] = []
  const scanJob = async (dir: string, jobId: string): Promise<void> => {
    const shared = [...(await filesIn(join(dir, 'shared'), true)), ...(await filesIn(join(dir, 'taskowned'), true))]
    const known = new Map(shared.map((f) => [f.path, f.size]))
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => parseCheckpointDirName(n) !== undefined).sort()
    const found = await mapLimit(names, 32, async (n) => {
      const p = join(dir, n)
      return (await isDir(p)) ? inspectSnapshotDir(p, storage, jobId, 'checkpoint', known) : undefined
    })
    for (const e of found) if (e !== undefined) entries.push(e)
    jobs.push({ jobId, path: dir, sharedFiles: shared })
  }
  const name = root.slice(root.lastIndexOf('/') + 1)
  const rootMeta = await lstat(join(root, METADATA_FILE)).catch(() => undefined)
  if (rootMeta?.isFile() === true) {
    entries.push(await inspectSnapshotDir(root, storage, undefined, name.startsWith('savepoint-') ? 'savepoint' : 'checkpoint'))
    return { root, entries, jobs }
  }
  if (isJobId(name)) {
    await scanJob(root, name)
    return { root, entries, jobs }
  }
  for (const n of (await readdir(root).catch(() => [] as string[])).sort()) {
    const p = join(root, n)
    if (!(await isDir(p))) continue
    if (isJobId(n)) await scanJob(p, n)
    else if (n.startsWith('savepoint-')) entries.push(await inspectSnapshotDir(p, storage, undefined, 'savepoint'))
  }
  return { root, entries, jobs }
}
