/**
 * The sizes Flink's checkpoint statistics report for a completed checkpoint or savepoint, from
 * what its `_metadata` lists: `stateSize`, every byte it references (its full state);
 * `checkpointedSize`, the bytes it wrote itself (for an incremental checkpoint, the files the
 * previous completed checkpoint did not reference already; for a full one or a savepoint, all);
 * `persistedData`, the bytes of in-flight records an unaligned checkpoint persisted (channel
 * state files).
 * Pure: never imports storage, tasks or the CLI. Tests: test/checkpoint-stats.test.ts.
 */
import { join } from '../storage/paths.js'
import type { CheckpointMetadata } from './metadata.js'

export interface SnapshotSizes {
  stateSize: number
  checkpointedSize: number
  persistedData: number
}

/** `location`: the snapshot's directory; `previous`: the completed checkpoint before it, if any. */
export function snapshotSizes(metadata: CheckpointMetadata, location: string, previous?: { location: string; metadata: CheckpointMetadata }): SnapshotSizes {
  const before = new Set(previous === undefined ? [] : previous.metadata.files.map((f) => join(previous.location, f.path)))
  const sizeOf = new Map<string, number>()
  let stateSize = 0
  let checkpointedSize = 0
  for (const f of metadata.files) {
    const at = join(location, f.path)
    if (sizeOf.has(at)) continue
    sizeOf.set(at, f.size)
    stateSize += f.size
    if (!before.has(at)) checkpointedSize += f.size
  }
  let persistedData = 0
  const channels = new Set<string>()
  for (const op of metadata.operators) {
    for (const s of op.subtasks) {
      if (s.channel === undefined) continue
      const at = join(location, s.channel.file)
      if (channels.has(at)) continue
      channels.add(at)
      persistedData += sizeOf.get(at) ?? 0
    }
  }
  return { stateSize, checkpointedSize, persistedData }
}
