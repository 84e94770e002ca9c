/**
 * Reads the checkpoint or savepoint a job is asked to restore from (`run -s`, `checkpoints
 * restore`): a directory or its `_metadata` file (a path, a `file:` URI or an s3:// location).
 * The metadata must parse and verify, and every file it lists must exist with its recorded size
 * and, where `_metadata` records one, its checksum; otherwise the restore is refused before the
 * job starts, naming the file.
 * Never imports the CLI. Tests: test/integration/cli-checkpoints.test.ts, test/integration/cli-run.test.ts.
 */
import { StateError, describeError } from '../errors.js'
import { basename, metadataLocation, normalizeLocation, parent, METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { checkFiles } from './inventory.js'
import { parseMetadata, type CheckpointMetadata } from './metadata.js'

export interface RestorePoint {
  location: string
  metadata: CheckpointMetadata
}

export async function readRestorePoint(path: string, storage: Storage, opts: { checksums?: boolean } = {}): Promise<RestorePoint> {
  let location = normalizeLocation(path)
  if (basename(location) === METADATA_FILE) location = parent(location)
  const metaLoc = metadataLocation(location)
  let data: Buffer
  try {
    data = await storage.read(metaLoc)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'NoSuchKey') {
      throw new StateError(`Cannot restore from '${path}': no _metadata there (not a completed checkpoint or savepoint)`)
    }
    if (code === 'EISDIR') throw new StateError(`Cannot restore from '${path}': its _metadata is a directory, not a file`)
    throw new StateError(`Cannot restore from '${path}': ${describeError(err)}`, { cause: err })
  }
  const metadata = parseMetadata(data, metaLoc)
  await verifyFiles(location, metadata, storage, { checksums: opts.checksums ?? true })
  return { location, metadata }
}

/** Every referenced file exists with the size (and, with `checksums`, the checksum) `_metadata` recorded. */
export async function verifyFiles(location: string, metadata: CheckpointMetadata, storage: Storage, opts: { checksums?: boolean } = {}): Promise<void> {
  const problems = await checkFiles(location, metadata, storage, { deep: opts.checksums === true })
  const first = problems[0]
  if (first === undefined) return
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''
  if (first.kind === 'missing') throw new StateError(`Checkpoint ${location} is incomplete: ${first.problem}${more}`)
  // Name the damaged file by its full location, so it can be found (and restored from a copy).
  const what = first.kind === 'checksum' ? 'is corrupt: its content fails the checksum' : 'has the wrong size'
  throw new StateError(`Checkpoint ${location} is damaged: state file ${first.location} ${what} (${first.problem})${more}`)
}
