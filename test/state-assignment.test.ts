/**
 * Restore planning (pure) and loading operator list state (read through storage, every file
 * checked against its reference in _metadata).
 */
import assert from 'node:assert/strict'
import { serialize } from 'node:v8'
import { describe, it } from 'node:test'
import { checksumOf, type CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'
import { loadOperatorLists, planRestore, splitEvenly } from '../src/runtime/checkpoint/state-assignment.js'
import { StateError } from '../src/runtime/errors.js'
import type { OperatorId } from '../src/runtime/ids.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'

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

  it('every handle carries the checkpoint\'s files by full location', () => {
    const m = metadata(2)
    m.files = [{ path: 'keyed-0', size: 10, checksum: 'crc32:00000000' }, { path: 'keyed-1', size: 11, checksum: 'crc32:00000001' }]
    const plan = planRestore('/sp', m, [{ operatorId: op('counts'), name: 'count', parallelism: 1, maxParallelism: 128 }], false)
    const counts = plan.operators.get(op('counts'))!
    assert.deepEqual([...counts.files.keys()], ['/sp/keyed-0', '/sp/keyed-1'])
    assert.equal(counts.files.get('/sp/keyed-1')!.size, 11)
    for (const k of counts.subtasks[0]!.keyed) assert.equal(k.files, counts.files)
  })
})

describe('loading operator list state', () => {
  function withOperatorState(): { metadata: CheckpointMetadata; storage: MemoryStorage } {
    const storage = new MemoryStorage()
    const m = metadata(1)
    const files = [0, 1].map((i) => {
      const data = serialize({ splits: [`s${i}a`, `s${i}b`], offsets: [i] })
      storage.objects.set(`/sp/op-${i}`, { data, mtimeMs: 0 })
      return { path: `op-${i}`, size: data.length, checksum: checksumOf(data) }
    })
    m.operators.push({
      operatorId: op('source'), uid: 'source', name: 'source', parallelism: 2, maxParallelism: 128,
      subtasks: [0, 1].map((i) => ({ subtask: i, operator: { file: `op-${i}`, states: { splits: 'split' as const, offsets: 'union' as const } } })),
    })
    m.files = files
    return { metadata: m, storage }
  }
  const target = (parallelism: number) => [{ operatorId: op('source'), name: 'source', parallelism, maxParallelism: 128 }, { operatorId: op('counts'), name: 'count', parallelism: 1, maxParallelism: 128 }]

  it('splits split-state evenly and gives union-state to everyone', async () => {
    const { metadata: m, storage } = withOperatorState()
    const plan = planRestore('/sp', m, target(3), false).operators.get(op('source'))!
    await loadOperatorLists(plan, '/sp', storage)
    assert.deepEqual(plan.subtasks.map((s) => s.lists.get('splits')), [['s0a', 's0b'], ['s1a'], ['s1b']])
    assert.deepEqual(plan.subtasks.map((s) => s.lists.get('offsets')), [[0, 1], [0, 1], [0, 1]])
  })

  it('an operator state file overwritten with bytes of the same size fails, naming it', async () => {
    const { metadata: m, storage } = withOperatorState()
    const o = storage.objects.get('/sp/op-1')!
    const evil = Buffer.from(o.data)
    evil[evil.length - 2] = evil[evil.length - 2]! ^ 1
    storage.objects.set('/sp/op-1', { data: evil, mtimeMs: 0 })
    const plan = planRestore('/sp', m, target(2), false).operators.get(op('source'))!
    await assert.rejects(loadOperatorLists(plan, '/sp', storage), (e: unknown) => e instanceof StateError && /State file \/sp\/op-1 is corrupt/.test(e.message))
  })
})
