/**
 * `_metadata` format version 1 against its golden fixture: what we write today must read the
 * fixture and write it byte for byte; damaged or foreign files are refused with a reason.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseMetadata, serializeMetadata, type CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'
import { ROOT } from './helpers.js'

const FIXTURE = join(ROOT, 'test', 'fixtures', 'metadata-v1', '_metadata')

export const GOLDEN: CheckpointMetadata = {
  jobId: '0123456789abcdef0123456789abcdef' as never,
  jobName: 'golden job',
  checkpointId: 7 as never,
  timestamp: 1764000000000,
  completedAt: '2025-11-24T16:00:00.250Z',
  kind: { type: 'checkpoint', incremental: false, format: 'native' },
  backend: 'hashmap',
  program: { file: '/jobs/word-count.ts', args: ['--input', 'x.txt'] },
  operators: [
    {
      operatorId: '1f0e4f6a0d1c2b3a4958677685940312' as never,
      uid: 'counts',
      name: 'count',
      parallelism: 2,
      maxParallelism: 128,
      subtasks: [
        { subtask: 0, keyed: { file: 'keyed-1f0e4f6a0d1c-0-aa11bb22', keyGroupRange: [0, 63], keyGroups: [[3, 0, 40], [17, 40, 52]] } },
        { subtask: 1, keyed: { file: 'keyed-1f0e4f6a0d1c-1-cc33dd44', keyGroupRange: [64, 127], keyGroups: [[99, 0, 61]] } },
      ],
    },
    {
      operatorId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' as never,
      uid: 'sentences',
      name: 'sentences',
      parallelism: 1,
      maxParallelism: 128,
      subtasks: [{ subtask: 0, operator: { file: 'op-a1b2c3d4e5f6-0-ee55ff66', states: { 'source-splits': 'split' } } }],
    },
  ],
  files: [
    { path: 'keyed-1f0e4f6a0d1c-0-aa11bb22', size: 92 },
    { path: 'keyed-1f0e4f6a0d1c-1-cc33dd44', size: 61 },
    { path: 'op-a1b2c3d4e5f6-0-ee55ff66', size: 24 },
  ],
}

describe('_metadata v1', () => {
  it('reads the golden fixture', () => {
    const m = parseMetadata(readFileSync(FIXTURE), FIXTURE)
    assert.deepEqual(m, GOLDEN)
  })

  it('writes the golden fixture byte for byte', () => {
    assert.equal(serializeMetadata(GOLDEN).toString(), readFileSync(FIXTURE, 'utf8'))
  })

  it('refuses a truncated file', () => {
    const data = readFileSync(FIXTURE)
    assert.throws(() => parseMetadata(data.subarray(0, data.length - 20), 'x'), /not a tsflink _metadata file/)
  })

  it('refuses an edited file (checksum)', () => {
    const data = readFileSync(FIXTURE, 'utf8').replace('"checkpointId":7', '"checkpointId":8')
    assert.throws(() => parseMetadata(data, 'x'), /checksum/)
  })

  it('refuses a foreign file and a future version', () => {
    assert.throws(() => parseMetadata('{"hello":"world"}', 'x'), /not a tsflink _metadata file/)
    assert.throws(() => parseMetadata(Buffer.from([0xca, 0xfe, 0xba, 0xbe]), 'x'), /not a tsflink _metadata file/)
    assert.throws(() => parseMetadata('{"format":"tsflink-checkpoint","version":2,"checksum":"","body":{}}', 'x'), /version 2/)
  })
})
