/**
 * Reads the checkpoint or savepoint a job is asked to restore from (`run -s`): a directory or its
 * `_metadata` file. The metadata must parse and verify, and every file it lists must exist with its
 * recorded size, or the restore is refused before the job starts.
 */
import { StateError, describeError } from '../errors.js'
import { basename, join, metadataLocation, normalizeLocation, parent, METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { parseMetadata, type CheckpointMetadata } from './metadata.js'

export interface RestorePoint {
  location: string
  metadata: CheckpointMetadata
}

export async function readRestorePoint(path: string, storage: Storage): Promise<RestorePoint> {
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
    throw new StateError(`Cannot restore from '${path}': ${describeError(err)}`, { cause: err })
  }
  const metadata = parseMetadata(data, metaLoc)
  await verifyFiles(location, metadata, storage)
  return { location, metadata }
}

/** Every referenced file exists with the size `_metadata` recorded. */
export async function verifyFiles(location: string, metadata: CheckpointMetadata, storage: Storage): Promise<void> {
  for (const f of metadata.files) {
    const st = await storage.stat(join(location, f.path))
    if (st === undefined) throw new StateError(`Checkpoint ${location} is incomplete: referenced file ${f.path} is missing`)
    if (st.size !== f.size) throw new StateError(`Checkpoint ${location} is damaged: ${f.path} has ${st.size} bytes, _metadata says ${f.size}`)
  }
}
