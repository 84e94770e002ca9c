/**
 * `savepoint inspect` and `savepoint diff`: reads a checkpoint or savepoint (a directory or its
 * `_metadata`; a path, file: URI or s3:// location) through the runtime's inspector, with the
 * state layer's reader for keyed state. Knows nothing of flags or output formats; never imports
 * oclif or the commands.
 * Tests: test/inspect.test.ts.
 */
import type { Configuration } from '../../runtime/config/configuration.js'
import { diffSnapshots, inspectSnapshot, snapshotLocation, type InspectReport, type SnapshotDiff } from '../../runtime/checkpoint/inspect.js'
import { keyedReader } from '../../runtime/state/inspect-keyed.js'
import { storageFor } from '../../runtime/storage/resolve.js'

export async function inspect(path: string, config: Configuration): Promise<InspectReport> {
  const location = snapshotLocation(path)
  return inspectSnapshot(location, storageFor(location, config), keyedReader((l) => storageFor(l, config)))
}

export async function diff(a: string, b: string, config: Configuration): Promise<SnapshotDiff> {
  const [x, y] = await Promise.all([inspect(a, config), inspect(b, config)])
  return diffSnapshots(x, y)
}
