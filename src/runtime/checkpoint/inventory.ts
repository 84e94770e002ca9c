/**
 * What is stored below a checkpoint root (a local folder or s3://bucket/prefix): every checkpoint
 * and savepoint directory, whether its `_metadata` verifies and every file it references exists
 * with its recorded size (and, when asked for a deep scan, its recorded checksum), the files of
 * `shared/` and `taskowned/`, and the leases running jobs and savepoints in progress leave.
 * Reads only; symbolic links are neither listed nor followed.
 *
 * Folders are recognised by what they hold, never by their name alone:
 * - a job folder is a folder named by a JobID that holds a `_lease` naming that job, or a
 *   `chk-<n>/_metadata` that reads and names that job, or (Apache Flink's own directories) a
 *   `chk-<n>/_metadata` in Flink's binary format that reads as checkpoint n;
 * - a savepoint directory is a `savepoint-*` folder holding a `_metadata` or an `_in_progress`.
 * Anything else is listed for the user to see but is not ours to delete.
 *
 * Flink's `_metadata` (flink-metadata.ts) is read to the files it references: relative ones, and
 * `file:` and `s3://` (`s3a://`, `s3p://`) URIs as locations of this storage. A Flink `_metadata`
 * that cannot be read with certainty (unknown version or handle, or a reference to another file
 * system) makes its entry unreadable, which stops prune from deleting anything (prune-plan.ts).
 *
 * For prune, a job folder given as the root is read together with the job folders next to it
 * (read only): a job restored in claim mode references the files of the job it was restored from.
 *
 * Never imports the CLI. Used by `checkpoints list | restore | prune | verify`.
 * Tests: test/prune.test.ts, test/integration/cli-checkpoints.test.ts.
 */
import { readdir } from 'node:fs/promises'
import { StateError, describeError } from '../errors.js'
import { isJobId } from '../ids.js'
import { basename, isRemote, join, METADATA_FILE, normalizeLocation, parent, parseCheckpointDirName, relativeTo } from '../storage/paths.js'
import { FsStorage } from '../storage/fs-storage.js'
import type { Storage, StoredObject } from '../storage/storage.js'
import { JOB_LEASE_FILE, SAVEPOINT_LEASE_FILE, parseLease, type ParsedLease } from './lease.js'
import { FlinkMetadataError, isFlinkMetadata, parseFlinkMetadata, referencedFiles } from './flink-metadata.js'
import { checksumOf, parseMetadata, type CheckpointMetadata } from './metadata.js'

export type EntryStatus = 'valid' | 'incomplete' | 'corrupt'

/** A lease file found on storage, parsed (an unparsable one is kept as such: it protects). */
export interface LeaseEvidence {
  location: string
  parsed: ParsedLease
}

/** One referenced file that does not check out. */
export interface FileProblem {
  /** As `_metadata` lists it (relative to the checkpoint directory). */
  file: string
  location: string
  kind: 'missing' | 'size' | 'checksum'
  problem: string
}

export interface SnapshotEntry {
  /** The directory. */
  path: string
  /** The job folder holding a checkpoint directory; undefined for savepoints and single directories. */
  jobPath: string | undefined
  jobId: string | undefined
  checkpointId: number | undefined
  type: 'checkpoint' | 'savepoint'
  status: EntryStatus
  /** Why it is not valid (the first problem). */
  problem: string | undefined
  /** A `_metadata` exists but cannot be read (unparsable, or a directory): what it references is unknown. */
  unreadable: boolean
  metadata: CheckpointMetadata | undefined
  /** Locations of every file the metadata references. */
  references: string[]
  /** Every referenced file that is missing, has another size, or fails its checksum (deep scans). */
  fileProblems: FileProblem[]
  /** Bytes: referenced files for valid entries, files in the directory otherwise. */
  sizeBytes: number
  /** Files inside the directory. */
  ownFiles: string[]
  /** Bytes of the files inside the directory (what deleting it frees). */
  ownBytes: number
  mtimeMs: number
  /** Checkpoints: whether its folder is a recognised job folder. Savepoints: whether it holds `_metadata` or `_in_progress`. */
  recognized: boolean
  /** Savepoints: the `_in_progress` lease of a savepoint being written, when present. */
  inProgress: LeaseEvidence | undefined
  /** Whose `_metadata` it is: tsflink's (JSON) or Apache Flink's (binary); undefined without a readable one. */
  format?: 'tsflink' | 'flink' | undefined
}

export interface JobFolder {
  jobId: string
  path: string
  /** Holds a `_lease` naming this job, or a `_metadata` that names it. */
  recognized: boolean
  lease: LeaseEvidence | undefined
  /** Files in shared/ and taskowned/. */
  sharedFiles: { path: string; mtimeMs: number; size: number }[]
  /** Recognised by an Apache Flink `_metadata` (Flink writes no lease: see prune-plan.ts for when its job counts as running). */
  flink?: boolean
  /** The newest modification time of any file in the folder (its checkpoint directories included). */
  newestFileMs?: number
  /** Flink job folders: when its latest valid checkpoint completed (its `_metadata` was written). */
  latestCompletedMs?: number | undefined
}

export interface Inventory {
  /** The location asked for; entries and job folders outside it were read for context only. */
  root: string
  entries: SnapshotEntry[]
  jobs: JobFolder[]
}

export interface ScanOptions {
  /** Also read every referenced file and compare its checksum, where `_metadata` records one. */
  deep?: boolean
  /**
   * For a job folder as the root: also read the job folders next to it (outside the root, for
   * what their checkpoints reference and whether their jobs run). Prune needs this; listing does not.
   */
  context?: boolean
}

/** At most this many files are read at once for checksums (each is read whole). */
const CHECKSUM_READS = 4

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

const errCode = (err: unknown): string | undefined => (err as { code?: string }).code

function isAbsent(err: unknown): boolean {
  const c = errCode(err)
  return c === 'ENOENT' || c === 'ENOTDIR' || c === 'NoSuchKey'
}

const CODE_TEXT: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', ENOENT: 'no such file or directory', ENOTDIR: 'not a directory',
  EISDIR: 'is a directory', ELOOP: 'too many symbolic links', EIO: 'input/output error', EMFILE: 'too many open files',
}

/** One line for an I/O error: what could not be done where, without a raw errno dump. */
export function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (typeof e.code === 'string' && typeof e.path === 'string') return `'${e.path}': ${CODE_TEXT[e.code] ?? e.code}`
  return describeError(err)
}

/** Names of the folders directly inside `location` (not symbolic links). */
async function childFolders(storage: Storage, location: string): Promise<string[]> {
  if (storage instanceof FsStorage && !isRemote(location)) {
    const entries = await readdir(location, { withFileTypes: true }).catch(() => [])
    return entries.filter((e) => e.isDirectory()).map((e) => e.name)
  }
  const s = storage as Storage & { listChildren?: (prefix: string) => Promise<string[]> }
  if (typeof s.listChildren === 'function') return s.listChildren(location)
  const names = new Set<string>()
  for (const o of await storage.list(location)) {
    const rel = relativeTo(location, o.location)
    if (rel !== undefined && rel.includes('/')) names.add(rel.slice(0, rel.indexOf('/')))
  }
  return [...names]
}

async function readLease(location: string, storage: Storage, expectJobId: string | undefined): Promise<LeaseEvidence | undefined> {
  let data: Buffer
  try {
    data = await storage.read(location)
  } catch (err) {
    if (isAbsent(err)) return undefined // gone since the listing: its job ended and cleaned up
    return { location, parsed: { ok: false, reason: `cannot be read: ${describeIoError(err)}` } }
  }
  const parsed = parseLease(data)
  if (parsed.ok && expectJobId !== undefined && parsed.lease.jobId !== expectJobId) {
    return { location, parsed: { ok: false, reason: `names job ${parsed.lease.jobId}, not ${expectJobId}` } }
  }
  return { location, parsed }
}

interface DirSpec {
  own: StoredObject[]
  jobPath: string | undefined
  jobId: string | undefined
  type: 'checkpoint' | 'savepoint'
}

/** Checksums computed during one scan (a file shared by many checkpoints is read once), and the reads in flight. */
interface Checksums {
  sums: Map<string, Promise<string | undefined>>
  reading: number
  waiting: (() => void)[]
}

const newChecksums = (): Checksums => ({ sums: new Map(), reading: 0, waiting: [] })

async function checksumOfFile(storage: Storage, location: string, c: Checksums): Promise<string | undefined> {
  if (c.reading >= CHECKSUM_READS) await new Promise<void>((ok) => c.waiting.push(ok))
  c.reading++
  try {
    return checksumOf(await storage.read(location))
  } catch {
    return undefined
  } finally {
    c.reading--
    c.waiting.shift()?.()
  }
}

/**
 * Checks every file `meta` references from the directory `path`: it exists, has the recorded
 * size, and (deep) the recorded checksum where `_metadata` records one (format v1 records none).
 * Sizes come from `known` (a listing) when there, else from a stat. Problems in `_metadata` order.
 */
export async function checkFiles(
  path: string, meta: CheckpointMetadata, storage: Storage,
  opts: { known?: ReadonlyMap<string, number>; deep?: boolean; checksums?: Checksums } = {},
): Promise<FileProblem[]> {
  return checkReferences(meta.files.map((f) => ({ ...f, location: join(path, f.path) })), storage, opts)
}

/** A referenced file: as `_metadata` names it, where it is, its recorded size (or, for a segment of a merged file, the least size). */
interface Reference { path: string; location: string; size?: number; minSize?: number; checksum?: string }

async function checkReferences(
  refs: Reference[], storage: Storage,
  opts: { known?: ReadonlyMap<string, number>; deep?: boolean; checksums?: Checksums } = {},
): Promise<FileProblem[]> {
  const checksums = opts.checksums ?? newChecksums()
  const problems: FileProblem[] = []
  await mapLimit(refs, 8, async (f) => {
    const location = f.location
    const size = opts.known?.get(location) ?? (await storage.stat(location).catch(() => undefined))?.size
    if (size === undefined) {
      problems.push({ file: f.path, location, kind: 'missing', problem: `referenced file ${f.path} is missing` })
      return
    }
    if (f.size !== undefined && size !== f.size) {
      problems.push({ file: f.path, location, kind: 'size', problem: `${f.path} has ${size} bytes, _metadata says ${f.size}` })
      return
    }
    if (f.minSize !== undefined && size < f.minSize) {
      problems.push({ file: f.path, location, kind: 'size', problem: `${f.path} has ${size} bytes, _metadata references bytes up to ${f.minSize}` })
      return
    }
    if (opts.deep !== true || f.checksum === undefined) return
    let sum = checksums.sums.get(location)
    if (sum === undefined) checksums.sums.set(location, (sum = checksumOfFile(storage, location, checksums)))
    const actual = await sum
    if (actual === undefined) problems.push({ file: f.path, location, kind: 'missing', problem: `referenced file ${f.path} cannot be read` })
    else if (actual !== f.checksum) problems.push({ file: f.path, location, kind: 'checksum', problem: `${f.path} fails its checksum (${actual}, _metadata says ${f.checksum})` })
  })
  const order = new Map(refs.map((f, i) => [f.path, i]))
  return problems.sort((a, b) => order.get(a.file)! - order.get(b.file)!)
}

/**
 * Where a file a Flink `_metadata` references lies, as a location of this storage: relative paths
 * from the checkpoint directory; `file:` URIs as local paths; `s3a://` and `s3p://` as `s3://`.
 * Another file system (hdfs://, …) throws: tsflink cannot check it, so nothing may be decided.
 */
function flinkLocation(dir: string, ref: { path: string; relative: boolean }): string {
  if (ref.relative) return join(dir, ref.path)
  const p = ref.path
  if (/^file:/i.test(p)) return normalizeLocation(p)
  const s3 = /^s3[ap]?:\/\/(.*)$/i.exec(p)
  if (s3 !== null) return `s3://${s3[1]!}`
  if (!isRemote(p) && p.startsWith('/')) return normalizeLocation(p)
  throw new FlinkMetadataError('malformed', `references ${p}, on a file system tsflink does not read (local paths and s3:// only)`)
}

/**
 * Apache Flink's `_metadata` read into the shape the inventory works with: the checkpoint id, the
 * kind, the completion time (the file's modification time; Flink records none) and every
 * referenced file. `jobId` is the folder's when the checkpoint id matches `chk-<n>`, which is what
 * recognises a Flink job folder; Flink's `_metadata` does not name its job.
 */
function fromFlink(path: string, data: Buffer, d: DirSpec, mtimeMs: number): { meta: CheckpointMetadata; refs: Reference[] } {
  const flink = parseFlinkMetadata(data, join(path, METADATA_FILE))
  const refs = referencedFiles(flink).map((r) => ({
    path: r.path, location: flinkLocation(path, r),
    ...(r.size === undefined ? {} : { size: r.size }), ...(r.minSize === undefined ? {} : { minSize: r.minSize }),
  }))
  const props = flink.properties
  const type = props?.type ?? (basename(path).startsWith('savepoint-') ? 'savepoint' : 'checkpoint')
  const named = d.jobId !== undefined && parseCheckpointDirName(basename(path)) === flink.checkpointId
  const meta: CheckpointMetadata = {
    jobId: (named ? d.jobId : '') as CheckpointMetadata['jobId'],
    jobName: '',
    checkpointId: flink.checkpointId as CheckpointMetadata['checkpointId'],
    timestamp: mtimeMs,
    completedAt: new Date(mtimeMs).toISOString(),
    kind: {
      type,
      incremental: props?.sharingFilesStrategy === 'FORWARD_BACKWARD' || refs.length > 0 && referencedFiles(flink).some((r) => r.shared),
      format: props?.formatType === 'NATIVE' ? 'native' : 'canonical',
    },
    backend: 'rocksdb',
    program: null,
    operators: [],
    files: refs.map((r) => ({ path: r.path, size: r.size ?? r.minSize ?? 0 })),
  }
  return { meta, refs }
}

/** Reads one checkpoint or savepoint directory, given the objects inside it and the sizes of all objects listed. */
async function inspect(path: string, d: DirSpec, storage: Storage, known: ReadonlyMap<string, number>, deep: boolean, checksums: Checksums): Promise<SnapshotEntry> {
  const base: SnapshotEntry = {
    path, jobPath: d.jobPath, jobId: d.jobId, type: d.type, status: 'incomplete', problem: 'no _metadata', unreadable: false, metadata: undefined,
    references: [], fileProblems: [], sizeBytes: d.own.reduce((n, f) => n + f.size, 0), ownFiles: d.own.map((f) => f.location), ownBytes: d.own.reduce((n, f) => n + f.size, 0),
    mtimeMs: d.own.reduce((m, f) => Math.max(m, f.mtimeMs), 0),
    checkpointId: d.type === 'checkpoint' ? parseCheckpointDirName(basename(path)) : undefined, recognized: false, inProgress: undefined,
    format: undefined,
  }
  const metaPath = join(path, METADATA_FILE)
  const unreadable = (problem: string): SnapshotEntry => ({ ...base, status: 'corrupt', problem, unreadable: true })
  if (d.own.some((f) => f.location.startsWith(`${metaPath}/`))) return unreadable('_metadata is a directory, not a file')
  let data: Buffer
  try {
    // Also probed when the listing showed none: a checkpoint may have completed since.
    data = await storage.read(metaPath)
  } catch (err) {
    if (isAbsent(err)) return base
    if (errCode(err) === 'EISDIR') return unreadable('_metadata is a directory, not a file')
    return unreadable(`_metadata cannot be read: ${describeIoError(err)}`)
  }
  let meta: CheckpointMetadata
  let refs: Reference[]
  const format = isFlinkMetadata(data) ? 'flink' : 'tsflink'
  try {
    if (format === 'flink') {
      const mtimeMs = d.own.find((f) => f.location === metaPath)?.mtimeMs ?? (await storage.stat(metaPath))?.mtimeMs ?? Date.now()
      ;({ meta, refs } = fromFlink(path, data, d, mtimeMs))
    } else {
      meta = parseMetadata(data, metaPath)
      refs = meta.files.map((f) => ({ ...f, location: join(path, f.path) }))
    }
  } catch (err) {
    return { ...unreadable(err instanceof FlinkMetadataError ? `${metaPath}: ${err.message}` : describeError(err)), format }
  }
  const references = refs.map((f) => f.location)
  const problems = await checkReferences(refs, storage, { known, deep, checksums })
  const withMeta: SnapshotEntry = {
    ...base, metadata: meta, references, checkpointId: meta.checkpointId, jobId: d.jobId ?? (meta.jobId === '' ? undefined : meta.jobId), type: meta.kind.type, fileProblems: problems, format,
  }
  if (problems.length > 0) {
    return { ...withMeta, status: problems.some((p) => p.kind === 'missing') ? 'incomplete' : 'corrupt', problem: problems[0]!.problem }
  }
  return { ...withMeta, status: 'valid', problem: undefined, sizeBytes: refs.reduce((n, f) => n + (f.size ?? f.minSize ?? 0), 0) }
}

/** Lists `root`, turning errors into one line that names the place. */
async function listAll(root: string, storage: Storage): Promise<StoredObject[]> {
  try {
    return await storage.list(root)
  } catch (err) {
    const where = (err as NodeJS.ErrnoException).path === undefined ? `'${root}': ${describeIoError(err)}` : describeIoError(err)
    throw new StateError(`Cannot read ${where}`, { cause: err })
  }
}

/**
 * Scans `root`: a checkpoints root (job folders and maybe savepoints inside), one job folder
 * (chk-* inside; the job folders next to it are read too, for context), a savepoints folder
 * (savepoint-* inside), or a single checkpoint or savepoint directory.
 */
export async function scanRoot(root: string, storage: Storage, opts: ScanOptions = {}): Promise<Inventory> {
  let objects = await listAll(root, storage)
  const name = basename(root)
  const has = (rel: string): boolean => objects.some((o) => o.location === join(root, rel) || o.location.startsWith(`${join(root, rel)}/`))
  const single = has(METADATA_FILE) || (!isJobId(name) && has(SAVEPOINT_LEASE_FILE))
  const rootIsJob = !single && isJobId(name) && objects.some((o) => {
    const head = relativeTo(root, o.location)?.split('/')[0] ?? ''
    return head === JOB_LEASE_FILE || head === 'shared' || head === 'taskowned' || parseCheckpointDirName(head) !== undefined
  })

  const dirs = new Map<string, DirSpec>()
  const jobs = new Map<string, { jobId: string; path: string; lease: string | undefined; leaseIsDir: boolean; sharedFiles: JobFolder['sharedFiles'] }>()
  const dir = (path: string, spec: Omit<DirSpec, 'own'>): StoredObject[] => {
    let d = dirs.get(path)
    if (d === undefined) dirs.set(path, (d = { own: [], ...spec }))
    return d.own
  }
  const job = (jobId: string, path: string): { lease: string | undefined; leaseIsDir: boolean; sharedFiles: JobFolder['sharedFiles'] } => {
    let j = jobs.get(path)
    if (j === undefined) jobs.set(path, (j = { jobId, path, lease: undefined, leaseIsDir: false, sharedFiles: [] }))
    return j
  }

  let base = root
  if (single) {
    for (const o of objects) dir(root, { jobPath: undefined, jobId: undefined, type: name.startsWith('savepoint-') ? 'savepoint' : 'checkpoint' }).push(o)
  } else {
    if (rootIsJob) base = parent(root)
    if (rootIsJob && opts.context === true) {
      // The folders next to it may hold checkpoints that reference this job's files (claim mode).
      const siblings = (await childFolders(storage, base)).filter((n) => isJobId(n) && n !== name)
      const more = await mapLimit(siblings, 8, (n) => listAll(join(base, n), storage))
      objects = [...objects, ...more.flat()]
    }
    for (const o of objects) {
      const rel = relativeTo(base, o.location)
      if (rel === undefined) continue
      const seg = rel.split('/')
      const head = seg[0]!
      if (seg.length < 2) continue
      if (isJobId(head)) {
        const jobPath = join(base, head)
        const j = job(head, jobPath)
        const sub = seg[1]!
        if (sub === JOB_LEASE_FILE) {
          if (seg.length === 2) j.lease = o.location
          else j.leaseIsDir = true
        } else if (seg.length > 2 && parseCheckpointDirName(sub) !== undefined) {
          dir(join(jobPath, sub), { jobPath, jobId: head, type: 'checkpoint' }).push(o)
        } else if (seg.length > 2 && (sub === 'shared' || sub === 'taskowned')) {
          j.sharedFiles.push({ path: o.location, mtimeMs: o.mtimeMs, size: o.size })
        }
      } else if (head.startsWith('savepoint-') && !rootIsJob) {
        dir(join(base, head), { jobPath: undefined, jobId: undefined, type: 'savepoint' }).push(o)
      }
    }
  }

  const known = new Map(objects.map((o) => [o.location, o.size]))
  const checksums = newChecksums()
  const list = [...dirs].sort((a, b) => a[0].localeCompare(b[0]))
  const entries = await mapLimit(list, 32, async ([path, d]) => {
    const e = await inspect(path, d, storage, known, opts.deep === true, checksums)
    if (d.type === 'savepoint' || single) {
      const leaseLoc = join(path, SAVEPOINT_LEASE_FILE)
      const leaseDir = d.own.some((o) => o.location.startsWith(`${leaseLoc}/`))
      e.inProgress = leaseDir
        ? { location: leaseLoc, parsed: { ok: false, reason: '_in_progress is a directory' } }
        : d.own.some((o) => o.location === leaseLoc) ? await readLease(leaseLoc, storage, undefined) : undefined
      e.recognized = single || e.metadata !== undefined || e.unreadable || e.inProgress !== undefined
    }
    return e
  })

  const folders: JobFolder[] = await mapLimit([...jobs.values()], 16, async (j) => {
    const lease = j.leaseIsDir
      ? { location: join(j.path, JOB_LEASE_FILE), parsed: { ok: false as const, reason: '_lease is a directory' } }
      : j.lease === undefined ? undefined : await readLease(j.lease, storage, j.jobId)
    const namedByLease = lease?.parsed.ok === true
    const namedByMetadata = entries.some((e) => e.jobPath === j.path && e.metadata?.jobId === j.jobId)
    const flink = entries.some((e) => e.jobPath === j.path && e.format === 'flink' && e.metadata?.jobId === j.jobId)
    const newestFileMs = Math.max(0, ...j.sharedFiles.map((f) => f.mtimeMs), ...entries.filter((e) => e.jobPath === j.path).map((e) => e.mtimeMs))
    const completed = entries.filter((e) => e.jobPath === j.path && e.format === 'flink' && e.status === 'valid' && e.type === 'checkpoint').map((e) => e.metadata!.timestamp)
    return {
      jobId: j.jobId, path: j.path, recognized: namedByLease || namedByMetadata, lease, sharedFiles: j.sharedFiles, flink, newestFileMs,
      ...(completed.length > 0 ? { latestCompletedMs: Math.max(...completed) } : {}),
    }
  })
  const recognized = new Set(folders.filter((f) => f.recognized).map((f) => f.path))
  for (const e of entries) if (e.jobPath !== undefined) e.recognized = recognized.has(e.jobPath)
  return { root, entries, jobs: folders.sort((a, b) => a.path.localeCompare(b.path)) }
}
