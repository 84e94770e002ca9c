/**
 * The checkpoint statistics' figures (src/runtime/control/checkpoint-stats.ts and
 * src/runtime/checkpoint/snapshot-sizes.ts): percentiles as Apache Commons Math estimates them
 * (values worked out by hand from its definition, position p(n+1)/100), min/max/avg over all
 * values and quantiles over the latest window, and the sizes of a chain of incremental
 * checkpoints whose files are listed here.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkpointSummary, percentile, statsSummary } from '../src/runtime/control/checkpoint-stats.js'
import { snapshotSizes } from '../src/runtime/checkpoint/snapshot-sizes.js'
import type { CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'

describe('percentile (Commons Math, legacy estimation)', () => {
  it('interpolates at p(n+1)/100 and clamps to the ends', () => {
    const v = [10, 20, 30, 40]
    assert.equal(percentile(v, 50), 25) // position 2.5: between 20 and 30
    assert.equal(percentile(v, 25), 12.5) // position 1.25
    assert.equal(percentile(v, 10), 10) // position 0.5 < 1: the first
    assert.equal(percentile(v, 90), 40) // position 4.5 >= n: the last
    assert.equal(percentile([1, 2, 3, 4, 5], 50), 3)
    assert.equal(percentile([7], 99.9), 7)
    assert.ok(Number.isNaN(percentile([], 50)))
  })
})

describe('statsSummary', () => {
  it('min, max and the integer mean over all; quantiles over the latest window only', () => {
    const s = statsSummary([5, 1, 4, 100], 3)
    assert.equal(s.min, 1)
    assert.equal(s.max, 100)
    assert.equal(s.avg, 27) // 110 / 4 = 27.5, truncated as Java's long division
    // Window [1, 4, 100] (the latest three): median 4.
    assert.equal(s.p50, 4)
    assert.equal(s.p999, 100)
  })
  it('nothing completed: all zeros', () => {
    assert.deepEqual(statsSummary([]), { min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 })
    const all = checkpointSummary([])
    assert.deepEqual(Object.keys(all).sort(), ['alignment_buffered', 'checkpointed_size', 'end_to_end_duration', 'persisted_data', 'processed_data', 'state_size'])
  })
  it('end_to_end_duration is completed - triggered', () => {
    const s = checkpointSummary([{ triggeredAt: 100, completedAt: 130, stateSize: 1, checkpointedSize: 1, persistedData: 0 }, { triggeredAt: 200, completedAt: 290, stateSize: 3, checkpointedSize: 2, persistedData: 7 }])
    assert.deepEqual([s.end_to_end_duration!.min, s.end_to_end_duration!.max, s.end_to_end_duration!.avg], [30, 90, 60])
    assert.deepEqual([s.state_size!.min, s.state_size!.max], [1, 3])
    assert.deepEqual([s.checkpointed_size!.min, s.checkpointed_size!.max], [1, 2])
    assert.deepEqual([s.persisted_data!.min, s.persisted_data!.max], [0, 7])
  })
})

function meta(id: number, files: [string, number][], channel?: string): CheckpointMetadata {
  return {
    jobId: 'j' as never, jobName: 'j', checkpointId: id as never, timestamp: 0, completedAt: '', kind: { type: 'checkpoint', incremental: true, format: 'native' },
    backend: 'rocksdb', program: null, files: files.map(([path, size]) => ({ path, size })),
    operators: channel === undefined ? [] : [{ operatorId: 'o' as never, uid: 'o', name: 'o', parallelism: 1, maxParallelism: 128, subtasks: [{ subtask: 0, channel: { file: channel, batches: 1 } }] }],
  }
}

describe('snapshotSizes', () => {
  it('an incremental chain: state size is all it references, checkpointed size what the previous one did not', () => {
    const root = '/cp/job'
    const c1 = meta(1, [['../shared/a', 100], ['../shared/b', 50], ['op-1', 7]])
    const c2 = meta(2, [['../shared/a', 100], ['../shared/b', 50], ['../shared/c', 30], ['op-2', 8]])
    const c3 = meta(3, [['../shared/c', 30], ['../shared/d', 200], ['op-3', 9], ['channel-0', 40]], 'channel-0')
    assert.deepEqual(snapshotSizes(c1, `${root}/chk-1`), { stateSize: 157, checkpointedSize: 157, persistedData: 0 })
    assert.deepEqual(snapshotSizes(c2, `${root}/chk-2`, { location: `${root}/chk-1`, metadata: c1 }), { stateSize: 188, checkpointedSize: 38, persistedData: 0 })
    assert.deepEqual(snapshotSizes(c3, `${root}/chk-3`, { location: `${root}/chk-2`, metadata: c2 }), { stateSize: 279, checkpointedSize: 249, persistedData: 40 })
    // A file listed twice counts once.
    assert.deepEqual(snapshotSizes(meta(4, [['x', 5], ['./x', 5]]), `${root}/chk-4`), { stateSize: 5, checkpointedSize: 5, persistedData: 0 })
  })
})
