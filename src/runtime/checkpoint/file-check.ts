/**
 * State files and the references `_metadata` records for them (path, size, content checksum):
 * `writeStateFile` writes one and returns its reference; the checks tell whether a file exists
 * with its recorded size and, when asked (or when reading it for a restore), whether its content
 * matches its checksum. The coordinator checks every acknowledged file before writing `_metadata`
 * and again before subsuming the previous checkpoint; restore reads every state file through
 * `readVerified`; `verifyFile`/`verifyFiles` serve tools that check a checkpoint on demand.
 * Never deletes. Must not import the task, the job or the CLI.
 * Tests: test/file-check.test.ts, test/coordinator.test.ts.
 */
import { StateError } from '../errors.js'
import { join } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { checksumOf, type FileReference } from './metadata.js'

/** Writes a state file into a checkpoint directory; returns its reference (size and content checksum). */
export async function writeStateFile(storage: Storage, dir: string, path: string, data: Uint8Array): Promise<FileReference> {
  await storage.write(join(dir, path), data)
  return { path, size: data.length, checksum: checksumOf(data) }
}

export interface FileProblem {
  /** The file's full location. */
  location: string
  /** What is wrong, for a person: "missing", "size 10, recorded 12", "content does not match its checksum …". */
  problem: string
}

/**
 * Checks one file against its reference: size always, content too when `content` is set and the
 * reference carries a checksum. Undefined when the file is as recorded.
 */
export async function verifyFile(storage: Storage, location: string, ref: FileReference, content = false): Promise<FileProblem | undefined> {
  if (content && ref.checksum !== undefined) {
    let data: Buffer
    try {
      data = await storage.read(location)
    } catch (e) {
      if (isMissing(e)) return { location, problem: 'missing' }
      throw e
    }
    return contentProblem(location, ref, data)
  }
  const s = await storage.stat(location)
  if (s === undefined) return { location, problem: 'missing' }
  if (s.size !== ref.size) return { location, problem: `size ${s.size}, recorded ${ref.size}` }
  return undefined
}

/**
 * Checks every file of a checkpoint (paths relative to `dir`), a few at a time; returns the
 * problems found, in the order of `refs`.
 */
export async function verifyFiles(
  storageFor: (location: string) => Storage, dir: string, refs: readonly FileReference[], content = false, concurrency = 16,
): Promise<FileProblem[]> {
  const found: (FileProblem | undefined)[] = new Array(refs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < refs.length; i = next++) {
      const location = join(dir, refs[i]!.path)
      found[i] = await verifyFile(storageFor(location), location, refs[i]!, content)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, refs.length) }, worker))
  return found.filter((p): p is FileProblem => p !== undefined)
}

/** One line naming the files, at most `max` of them. */
export function describeProblems(problems: readonly FileProblem[], max = 5): string {
  const shown = problems.slice(0, max).map((p) => `${p.location} (${p.problem})`).join(', ')
  return problems.length > max ? `${shown} and ${problems.length - max} more` : shown
}

/**
 * Reads a state file for a restore and checks it against its reference (size, and checksum when
 * recorded); a file that does not match fails with a StateError naming it. Without a reference
 * (nothing recorded for this path) the data is returned as read.
 */
export async function readVerified(storage: Storage, location: string, ref: FileReference | undefined): Promise<Buffer> {
  let data: Buffer
  try {
    data = await storage.read(location)
  } catch (e) {
    if (isMissing(e)) throw new StateError(`State file ${location} is missing`, { cause: e })
    throw e
  }
  if (ref === undefined) return data
  const p = contentProblem(location, ref, data)
  if (p !== undefined) {
    throw new StateError(`State file ${location} is corrupt: ${p.problem}`, {
      hint: 'The checkpoint or savepoint cannot be restored as it is; restore an older one.',
    })
  }
  return data
}

/**
 * Reads a state file of a restore: checked against its entry in `files` (the checkpoint's file list
 * by full location) when that list is given, so a file the handle names but `_metadata` does not
 * list fails too; read unchecked when no list is given.
 */
export function readListed(storage: Storage, location: string, files: ReadonlyMap<string, FileReference> | undefined): Promise<Buffer> {
  if (files === undefined) return readVerified(storage, location, undefined)
  const ref = files.get(location)
  if (ref === undefined) return Promise.reject(new StateError(`State file ${location} is not listed in the checkpoint's _metadata`))
  return readVerified(storage, location, ref)
}

function contentProblem(location: string, ref: FileReference, data: Buffer): FileProblem | undefined {
  if (data.length !== ref.size) return { location, problem: `size ${data.length}, recorded ${ref.size}` }
  if (ref.checksum === undefined) return undefined
  const actual = checksumOf(data)
  return actual === ref.checksum ? undefined : { location, problem: `content does not match its checksum (${actual}, recorded ${ref.checksum})` }
}

/** Every Storage reports a missing object with code ENOENT. */
function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
}
