/**
 * Disposing a savepoint: only a directory whose `_metadata` verifies as a savepoint is deleted,
 * `_metadata` first, so a failed or interrupted disposal never leaves something that looks valid.
 */
import { StateError } from '../errors.js'
import { basename, metadataLocation, normalizeLocation, parent, METADATA_FILE } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { parseMetadata } from './metadata.js'

export async function disposeSavepoint(path: string, storage: Storage): Promise<string> {
  let location = normalizeLocation(path)
  if (basename(location) === METADATA_FILE) location = parent(location)
  let data: Buffer
  try {
    data = await storage.read(metadataLocation(location))
  } catch {
    throw new StateError(`Cannot dispose '${path}': no _metadata there (not a savepoint)`)
  }
  const meta = parseMetadata(data, metadataLocation(location))
  if (meta.kind.type !== 'savepoint') throw new StateError(`Cannot dispose '${path}': it is a checkpoint, not a savepoint`)
  await storage.delete(metadataLocation(location))
  await storage.deleteTree(location)
  return location
}
