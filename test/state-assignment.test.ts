import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'
import { planRestore, splitEvenly } from '../src/runtime/checkpoint/state-assignment.js'
import type { OperatorId } from '../src/runtime/ids.js'

const op = (id: string) => id as OperatorId

function metadata(parallelism: number): CheckpointMetadata {
  const subtasks = Array.from({ length: parallelism }, (_, i) => {
    const start = Math.floor((i * 128 + parallelism - 1) / parallelism)
    const end = Math.floor(((i + 1) * 128 - 1) / parallelism)
    return { subtask: i, keyed: { file: `keyed-${i}`, keyGroupRange: [start, end] as [number, number], keyGroups: [[start, 0, 10]] as [number, number, number][] } }
  })
  return {
    jobId: 'a'.repeat(32) as never, jobName: 'j', checkpointId: 3 as never, timestamp: 0, completedAt: '', backend: 'hashmap', program: null,
    kind: { type: 'savepoint', incremental: false, format: 'canonical' },
    operators: [
      { operatorId: op('counts'), uid: 'counts', name: 'count', parallelism, maxParallelism: 128, subtasks },
      { operatorId: op('stateless'), uid: null, name: 'map', parallelism, maxParallelism: 128, subtasks: [] },
    ],
    files: [],
  }
}

describe('restore planning', () => {
  it('gives each new subtask the old handles that overlap its key groups', () => {
    const plan = planRestore('/sp', metadata(3), [{ operatorId: op('counts'), name: 'count', parallelism: 2, maxParallelism: 128 }], false)
    const subs = plan.operators.get(op('counts'))!.subtasks
    assert.deepEqual(subs.map((s) => [s.keyGroupRange.start, s.keyGroupRange.end]), [[0, 63], [64, 127]])
    assert.deepEqual(subs[0]!.keyed.map((k) => ('file' in k.handle ? k.handle.file : '')), ['keyed-0', 'keyed-1'])
    assert.deepEqual(subs[1]!.keyed.map((k) => ('file' in k.handle ? k.handle.file : '')), ['keyed-1', 'keyed-2'])
    assert.equal(subs[0]!.keyed[0]!.location, '/sp/keyed-0')
  })

  it('scales up: every old handle is read by the subtasks covering its range', () => {
    const plan = planRestore('/sp', metadata(1), [{ operatorId: op('counts'), name: 'count', parallelism: 4, maxParallelism: 128 }], false)
    for (const s of plan.operators.get(op('counts'))!.subtasks) assert.deepEqual(s.keyed.map((k) => ('file' in k.handle ? k.handle.file : '')), ['keyed-0'])
  })

  it('refuses unmapped state unless allowed; stateless operators may vanish', () => {
    assert.throws(() => planRestore('/sp', metadata(1), [], false), /Cannot map checkpoint\/savepoint state for operator counts \(uid 'counts'\)/)
    const plan = planRestore('/sp', metadata(1), [], true)
    assert.deepEqual(plan.skipped, [op('counts')])
  })

  it('refuses a changed max parallelism', () => {
    assert.throws(() => planRestore('/sp', metadata(2), [{ operatorId: op('counts'), name: 'count', parallelism: 2, maxParallelism: 256 }], false), /maximum parallelism \(256\)/)
  })

  it('splits lists evenly, in order', () => {
    assert.deepEqual(splitEvenly([1, 2, 3, 4, 5], 2), [[1, 2, 3], [4, 5]])
    assert.deepEqual(splitEvenly([1], 3), [[1], [], []])
  })
})
