/**
 * The one interface through which checkpoints and savepoints reach durable storage.
 *
 * Locations are strings: an absolute filesystem path or `s3://bucket/prefix`. Implementations
 * promise:
 * - `writeAtomic` makes the object visible whole or not at all (a reader never sees it half-written);
 *   this is how `_metadata` is written, last, to mark a checkpoint complete.
 * - `list` returns every object below a prefix (recursively), with its size.
 * - `delete` of an absent object succeeds (deletion is re-runnable).
 * Tests: test/storage.test.ts runs the same contract against every implementation.
 */

export interface StoredObject {
  /** Full location of the object. */
  location: string
  size: number
  /** Modification time, ms since the epoch (0 if unknown). */
  mtimeMs: number
}

export interface Storage {
  /** Writes an object; parent folders are created as needed. Not atomic. */
  write(location: string, data: Uint8Array): Promise<void>
  /** Writes an object so that it is never visible half-written. */
  writeAtomic(location: string, data: Uint8Array): Promise<void>
  read(location: string): Promise<Buffer>
  /** Size of the object, or undefined when it does not exist. */
  stat(location: string): Promise<StoredObject | undefined>
  /** Every object below `prefix`, recursively. */
  list(prefix: string): Promise<StoredObject[]>
  delete(location: string): Promise<void>
  /** Removes everything below `prefix` (and the folder itself where folders exist). */
  deleteTree(prefix: string): Promise<void>
  /** Creates the object only if it does not exist yet; false when it did (locks). */
  createExclusive(location: string, data: Uint8Array): Promise<boolean>
  /**
   * The file path at which another thread may write `location` itself, durably, with synchronous
   * system calls (durable-write.ts) instead of through `write`: defined only for local files that
   * `write` would fsync the same way. A big snapshot's encoder streams it to disk there.
   */
  durableLocalPath?(location: string): string | undefined
  /**
   * After another thread wrote `location` at its durableLocalPath: resolves once the folders above
   * it that this storage's own writes created are durable too (that thread made durable only the
   * folders it created itself).
   */
  localWriteDone?(location: string): Promise<void>
}
