/**
 * Disposing a savepoint: only a directory whose `_metadata` verifies as a savepoint is deleted,
 * `_metadata` first, so a failed or interrupted disposal never leaves something that looks valid.
 * On the local filesystem the directory is opened without following links, checked through the open
 * directory and deleted through it (storage/safe-delete.ts): a symbolic link swapped in after the
 * check can never redirect the deletion. Tests: test/security.test.ts, test/integration/savepoints.test.ts.
 */
import type { Stats } from 'node:fs'
import { StateError } from '../errors.js'
import { FsStorage } from '../storage/fs-storage.js'
import { basename, metadataLocation, normalizeLocation, parent, METADATA_FILE } from '../storage/paths.js'
import { canDeleteWithoutFollowing, deleteTreeNoFollow } from '../storage/safe-delete.js'
import type { Storage } from '../storage/storage.js'
import { parseMetadata } from './metadata.js'

export interface DisposeOptions {
  /**
   * Called with the directory about to be deleted (its canonical path and, locally, its status)
   * before anything is deleted; throws to refuse (the REST API confines what callers may dispose).
   */
  confine?: (dir: { path: string; stat: Stats | undefined }) => Promise<void>
}

export async function disposeSavepoint(path: string, storage: Storage, opts: DisposeOptions = {}): Promise<string> {
  let location = normalizeLocation(path)
  if (basename(location) === METADATA_FILE) location = parent(location)
  const verify = (data: Buffer): void => {
    const meta = parseMetadata(data, metadataLocation(location))
    if (meta.kind.type !== 'savepoint') throw new StateError(`Cannot dispose '${path}': it is a checkpoint, not a savepoint`)
  }
  if (storage instanceof FsStorage && canDeleteWithoutFollowing()) {
    try {
      await deleteTreeNoFollow(location, {
        first: METADATA_FILE,
        check: async (tree) => {
          await opts.confine?.({ path: tree.path, stat: tree.stat })
          let data: Buffer
          try {
            data = await tree.read(METADATA_FILE)
          } catch {
            throw new StateError(`Cannot dispose '${path}': no _metadata there (not a savepoint)`)
          }
          verify(data)
        },
      })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') throw new StateError(`Cannot dispose '${path}': no such directory`)
      if (code === 'ELOOP' || code === 'ENOTDIR') {
        throw new StateError(`Cannot dispose '${path}': it is not a directory, or a symbolic link appeared in its path; nothing was deleted`)
      }
      throw err
    }
    return location
  }
  await opts.confine?.({ path: location, stat: undefined })
  let data: Buffer
  try {
    data = await storage.read(metadataLocation(location))
  } catch {
    throw new StateError(`Cannot dispose '${path}': no _metadata there (not a savepoint)`)
  }
  verify(data)
  await storage.delete(metadataLocation(location))
  await storage.deleteTree(location)
  return location
}
