/**
 * What is stored below a checkpoint root (a local folder or s3://bucket/prefix): every checkpoint
 * and savepoint directory, whether its `_metadata` verifies and every file it references exists
 * with its recorded size, and the files of `shared/` and `taskowned/`. Reads only, through one
 * listing of the root; symbolic links are neither listed nor followed.
 * Used by `checkpoints list | restore | prune`. Tests: test/prune.test.ts.
 */
import { describeError } from '../errors.js'
import { isJobId } from '../ids.js'
import { basename, join, METADATA_FILE, parseCheckpointDirName, relativeTo } from '../storage/paths.js'
import type { Storage, StoredObject } from '../storage/storage.js'
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
  /** Locations of every file the metadata references. */
  references: string[]
  /** Bytes: referenced files for valid entries, files in the directory otherwise. */
  sizeBytes: number
  /** Files inside the directory. */
  ownFiles: string[]
  mtimeMs: number
}

export interface JobFolder {
  jobId: string
  path: string
  /** Files in shared/ and taskowned/. */
  sharedFiles: { path: string; mtimeMs: number; size: number }[]
}

export interface Inventory {
  root: string
  entries: SnapshotEntry[]
  jobs: JobFolder[]
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

/** Reads one checkpoint or savepoint directory, given the objects inside it and the sizes of all objects listed. */
async function inspect(
  path: string, own: StoredObject[], storage: Storage, jobId: string | undefined, type: 'checkpoint' | 'savepoint', known: ReadonlyMap<string, number>,
): Promise<SnapshotEntry> {
  const base: SnapshotEntry = {
    path, jobId, type, status: 'incomplete', problem: 'no _metadata', metadata: undefined, references: [],
    sizeBytes: own.reduce((n, f) => n + f.size, 0), ownFiles: own.map((f) => f.location), mtimeMs: own.reduce((m, f) => Math.max(m, f.mtimeMs), 0),
    checkpointId: type === 'checkpoint' ? parseCheckpointDirName(basename(path)) : undefined,
  }
  const metaPath = join(path, METADATA_FILE)
  if (!own.some((f) => f.location === metaPath)) return base
  let meta: CheckpointMetadata
  try {
    meta = parseMetadata(await storage.read(metaPath), metaPath)
  } catch (err) {
    return { ...base, status: 'corrupt', problem: describeError(err) }
  }
  const references = meta.files.map((f) => join(path, f.path))
  const sizes = await Promise.all(references.map(async (loc) => known.get(loc) ?? (await storage.stat(loc).catch(() => undefined))?.size))
  const withMeta = { ...base, metadata: meta, references, checkpointId: meta.checkpointId, jobId: jobId ?? meta.jobId }
  for (let i = 0; i < meta.files.length; i++) {
    const f = meta.files[i]!
    const actual = sizes[i]
    if (actual === undefined) return { ...withMeta, status: 'incomplete', problem: `referenced file ${f.path} is missing` }
    if (actual !== f.size) return { ...withMeta, status: 'corrupt', problem: `${f.path} has ${actual} bytes, _metadata says ${f.size}` }
  }
  return { ...withMeta, status: 'valid', problem: undefined, sizeBytes: meta.files.reduce((n, f) => n + f.size, 0), type: meta.kind.type }
}

/**
 * Scans `root`: a checkpoints root (job folders inside), one job folder (chk-* inside), a
 * savepoints folder (savepoint-* inside), or a single checkpoint or savepoint directory.
 */
export async function scanRoot(root: string, storage: Storage): Promise<Inventory> {
  const objects = await storage.list(root)
  const known = new Map(objects.map((o) => [o.location, o.size]))
  const entries: SnapshotEntry[] = []
  const jobs = new Map<string, JobFolder>()
  const dirs = new Map<string, { own: StoredObject[]; jobId: string | undefined; type: 'checkpoint' | 'savepoint' }>()

  const name = basename(root)
  const single = known.has(join(root, METADATA_FILE))
  const rootIsJob = !single && isJobId(name)
  const dir = (path: string, jobId: string | undefined, type: 'checkpoint' | 'savepoint'): StoredObject[] => {
    let d = dirs.get(path)
    if (d === undefined) dirs.set(path, (d = { own: [], jobId, type }))
    return d.own
  }
  const job = (jobId: string, path: string): JobFolder => {
    let j = jobs.get(jobId)
    if (j === undefined) jobs.set(jobId, (j = { jobId, path, sharedFiles: [] }))
    return j
  }

  for (const o of objects) {
    const rel = relativeTo(root, o.location)
    if (rel === undefined) continue
    const seg = rel.split('/')
    if (single) {
      dir(root, undefined, name.startsWith('savepoint-') ? 'savepoint' : 'checkpoint').push(o)
      continue
    }
    let jobId: string | undefined
    let jobPath: string
    let rest: string[]
    if (rootIsJob) {
      jobId = name
      jobPath = root
      rest = seg
    } else if (isJobId(seg[0]!) && seg.length > 1) {
      jobId = seg[0]!
      jobPath = join(root, jobId)
      rest = seg.slice(1)
    } else {
      if (seg[0]!.startsWith('savepoint-') && seg.length > 1) dir(join(root, seg[0]!), undefined, 'savepoint').push(o)
      continue
    }
    const head = rest[0]!
    if (rest.length > 1 && parseCheckpointDirName(head) !== undefined) dir(join(jobPath, head), jobId, 'checkpoint').push(o)
    else if (rest.length > 1 && (head === 'shared' || head === 'taskowned')) job(jobId, jobPath).sharedFiles.push({ path: o.location, mtimeMs: o.mtimeMs, size: o.size })
    else job(jobId, jobPath)
  }
  const list = [...dirs].sort((a, b) => a[0].localeCompare(b[0]))
  entries.push(...(await mapLimit(list, 32, ([path, d]) => inspect(path, d.own, storage, d.jobId, d.type, known))))
  return { root, entries, jobs: [...jobs.values()] }
}
