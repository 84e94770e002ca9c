/**
 * The keyed-state reader `savepoint inspect` uses (checkpoint/inspect.ts): every entry and timer of
 * one subtask's keyed handle, of either format (key-group sections or the LSM's sorted tables),
 * read exactly as a restore reads it (`readHandle`, files checked against `_metadata`), over the
 * handle's whole key-group range. Reads only; never imports the CLI.
 * Tests: test/inspect.test.ts.
 */
import type { KeyedItem, KeyedReader } from '../checkpoint/inspect.js'
import type { KeyedRestore } from '../checkpoint/state-assignment.js'
import type { Storage } from '../storage/storage.js'
import { readHandle } from './keyed-backend.js'

export function keyedReader(storageFor: (location: string) => Storage): KeyedReader {
  return (restore: KeyedRestore): AsyncIterable<KeyedItem> => {
    const [start, end] = restore.handle.keyGroupRange
    return readHandle(restore, storageFor, { start, end })
  }
}
