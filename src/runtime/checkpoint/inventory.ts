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
  const out: { path: string; mtimeMs: number; size: number }[] = []
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return out
  }
  for (const n of names) {
    const p = join(dir, n)
    const st = await lstat(p)
    if (st.isSymbolicLink()) continue
    if (st.isDirectory()) {
      if (recursive) out.push(...(await filesIn(p, true)))
    } else if (st.isFile()) out.push({ path: p, mtimeMs: st.mtimeMs, size: st.size })
  }
  return out
}

/** Reads one checkpoint or savepoint directory. */
export async function inspectSnapshotDir(path: string, storage: Storage, jobId: string | undefined, type: 'checkpoint' | 'savepoint'): Promise<SnapshotEntry> {
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
  const references: string[] = []
  let size = 0
  for (const f of meta.files) {
    const abs = join(path, f.path)
    references.push(abs)
    size += f.size
    const st = await storage.stat(abs).catch(() => undefined)
    if (st === undefined) return { ...base, status: 'incomplete', problem: `referenced file ${f.path} is missing`, metadata: meta, references, checkpointId: meta.checkpointId, jobId: meta.jobId }
    if (st.size !== f.size) return { ...base, status: 'corrupt', problem: `${f.path} has ${st.size} bytes, _metadata says ${f.size}`, metadata: meta, references, checkpointId: meta.checkpointId, jobId: meta.jobId }
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
    for (const n of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const p = join(dir, n)
      if (parseCheckpointDirName(n) !== undefined && (await isDir(p))) entries.push(await inspectSnapshotDir(p, storage, jobId, 'checkpoint'))
    }
    const shared = [...(await filesIn(join(dir, 'shared'), true)), ...(await filesIn(join(dir, 'taskowned'), true))]
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
