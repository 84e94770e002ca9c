/**
 * `_metadata` formats against their golden fixtures: version 2 (written today, with content
 * checksums) and version 1 (still read). What we write must read each fixture and write it byte
 * for byte; damaged, foreign or incomplete files are refused with a reason.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  METADATA_VERSION, checksumOf, isSstHandle, parseMetadata, serializeMetadata, type CheckpointMetadata, type KeyedStateHandle,
} from '../src/runtime/checkpoint/metadata.js'
import { StateError } from '../src/runtime/errors.js'
import { ROOT } from './helpers.js'

const FIXTURE_V1 = join(ROOT, 'test', 'fixtures', 'metadata-v1', '_metadata')
const FIXTURE_V2 = join(ROOT, 'test', 'fixtures', 'metadata-v2', '_metadata')

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

/** Version 2: an incremental checkpoint of the LSM backend (shared tables, timers) with content checksums. */
export const GOLDEN_V2: CheckpointMetadata = {
  jobId: 'fedcba9876543210fedcba9876543210' as never,
  jobName: 'golden job v2',
  checkpointId: 12 as never,
  timestamp: 1767000000000,
  completedAt: '2025-12-29T09:20:00.125Z',
  kind: { type: 'checkpoint', incremental: true, format: 'native' },
  backend: 'rocksdb',
  program: { file: '/jobs/sessions.ts', args: [] },
  operators: [
    {
      operatorId: '2a0e4f6a0d1c2b3a4958677685940313' as never,
      uid: 'sessions',
      name: 'sessions',
      parallelism: 1,
      maxParallelism: 128,
      subtasks: [{
        subtask: 0,
        keyed: {
          type: 'sst', keyGroupRange: [0, 127], sstables: ['../shared/0a1b2c3d4e5f6a7b.sst', '../shared/8c9d0e1f2a3b4c5d.sst'],
          timers: { file: 'timers-2a0e4f6a0d1c-0-11223344', keyGroups: [[5, 0, 33]] },
        },
        operator: { file: 'op-2a0e4f6a0d1c-0-55667788', states: { 'pending-files': 'split' } },
      }],
    },
  ],
  files: [
    { path: '../shared/0a1b2c3d4e5f6a7b.sst', size: 4096, checksum: 'crc32:1c291ca3' },
    { path: '../shared/8c9d0e1f2a3b4c5d.sst', size: 812, checksum: 'crc32:8a9136aa' },
    { path: 'op-2a0e4f6a0d1c-0-55667788', size: 40, checksum: 'crc32:00000000' },
    { path: 'timers-2a0e4f6a0d1c-0-11223344', size: 33, checksum: 'crc32:ffffffff' },
  ],
}

const body = (version: number, b: Record<string, unknown>): string => serializeMetadata(b as never, version).toString()

describe('_metadata v2 (written today)', () => {
  it('is the version written', () => {
    assert.equal(METADATA_VERSION, 2)
    assert.match(serializeMetadata(GOLDEN_V2).toString(), /^\{"format":"tsflink-checkpoint","version":2,"checksum":"sha256:[0-9a-f]{64}","body":\{/)
  })

  it('reads the golden fixture', () => {
    const m = parseMetadata(readFileSync(FIXTURE_V2), FIXTURE_V2)
    assert.deepEqual(m, GOLDEN_V2)
    const keyed: KeyedStateHandle = m.operators[0]!.subtasks[0]!.keyed!
    assert.ok(isSstHandle(keyed), 'an LSM handle')
  })

  it('writes the golden fixture byte for byte', () => {
    assert.equal(serializeMetadata(GOLDEN_V2).toString(), readFileSync(FIXTURE_V2, 'utf8'))
  })

  it('refuses a file listed without a content checksum, naming it', () => {
    const files = GOLDEN_V2.files.map((f, i) => (i === 1 ? { path: f.path, size: f.size } : f))
    assert.throws(() => parseMetadata(body(2, { ...GOLDEN_V2, files }), 'x'), /x lists \.\.\/shared\/8c9d0e1f2a3b4c5d\.sst without a content checksum/)
  })

  it('refuses a malformed checksum', () => {
    for (const checksum of ['crc32:1234567', 'crc32:1C291CA3', 'sha1:1c291ca3', 'crc32:1c291ca3 ', 'xcrc32:1c291ca3', 'crc32:1c291ca30', 42, null]) {
      const files = GOLDEN_V2.files.map((f, i) => (i === 0 ? { ...f, checksum } : f))
      assert.throws(() => parseMetadata(body(2, { ...GOLDEN_V2, files }), 'x'), /without a content checksum/, String(checksum))
    }
  })

  it('refuses a file entry without path or size', () => {
    for (const bad of [null, 'f', { size: 1, checksum: 'crc32:00000000' }, { path: 'f', checksum: 'crc32:00000000' }, { path: 1, size: 1 }, { path: 'f', size: '1' }]) {
      assert.throws(() => parseMetadata(body(2, { ...GOLDEN_V2, files: [bad] }), 'x'), /x lists a file without path or size/, JSON.stringify(bad))
      assert.throws(() => parseMetadata(body(1, { ...GOLDEN, files: [bad] }), 'x'), /x lists a file without path or size/, JSON.stringify(bad))
    }
  })
})

describe('_metadata v1 (still read)', () => {
  it('reads the golden fixture', () => {
    const m = parseMetadata(readFileSync(FIXTURE_V1), FIXTURE_V1)
    assert.deepEqual(m, GOLDEN)
    assert.ok(m.files.every((f) => f.checksum === undefined), 'no file of a v1 _metadata has a content checksum')
    // The hashmap backend's keyed state is one key-group sections file per subtask, not LSM tables.
    for (const s of m.operators[0]!.subtasks) assert.equal(isSstHandle(s.keyed!), false, `subtask ${s.subtask}`)
  })

  it('writes the golden fixture byte for byte when asked for version 1', () => {
    assert.equal(serializeMetadata(GOLDEN, 1).toString(), readFileSync(FIXTURE_V1, 'utf8'))
  })

  it('v1 files need no content checksum; v2 files do', () => {
    assert.deepEqual(parseMetadata(serializeMetadata(GOLDEN, 1), 'x'), GOLDEN)
    assert.throws(() => parseMetadata(serializeMetadata(GOLDEN, 2), 'x'), /without a content checksum/)
  })
})

describe('_metadata refusals', () => {
  it('refuses a truncated file', () => {
    for (const f of [FIXTURE_V1, FIXTURE_V2]) {
      const data = readFileSync(f)
      assert.throws(() => parseMetadata(data.subarray(0, data.length - 20), 'x'), /x is not a tsflink _metadata file \(not JSON; truncated or foreign\)/)
    }
  })

  it('refuses an edited file (checksum)', () => {
    for (const [f, id] of [[FIXTURE_V1, 7], [FIXTURE_V2, 12]] as const) {
      const data = readFileSync(f, 'utf8').replace(`"checkpointId":${id}`, `"checkpointId":${id + 1}`)
      assert.throws(() => parseMetadata(data, 'x'), /x fails its checksum \(corrupt or edited\)/)
    }
  })

  it('refuses a foreign file and unknown versions', () => {
    assert.throws(() => parseMetadata('{"hello":"world"}', 'x'), /x is not a tsflink _metadata file \(format 'undefined'\)/)
    assert.throws(() => parseMetadata('null', 'x'), /x is not a tsflink _metadata file$/)
    assert.throws(() => parseMetadata('7', 'x'), /x is not a tsflink _metadata file$/)
    assert.throws(() => parseMetadata(Buffer.from([0xca, 0xfe, 0xba, 0xbe]), 'x'), /not a tsflink _metadata file/)
    for (const v of [3, 0, '2', null]) {
      assert.throws(() => parseMetadata(`{"format":"tsflink-checkpoint","version":${JSON.stringify(v)},"checksum":"","body":{}}`, 'x'),
        new RegExp(`x has metadata format version ${String(v)}; this tsflink reads versions 1 and 2`))
    }
  })

  it('refuses a file without a body, even with the checksum of nothing', () => {
    const empty = createHash('sha256').update('').digest('hex')
    for (const b of ['', ',"body":null', ',"body":7']) {
      assert.throws(() => parseMetadata(`{"format":"tsflink-checkpoint","version":2,"checksum":"sha256:${empty}"${b}}`, 'x'), /x lacks required fields/)
    }
  })

  it('refuses a body without the required fields', () => {
    const base = { jobId: 'j', checkpointId: 1, operators: [], files: [] }
    assert.doesNotThrow(() => parseMetadata(body(2, base), 'x'))
    for (const [k, v] of [['jobId', 1], ['checkpointId', '1'], ['operators', {}], ['files', 'f']] as const) {
      assert.throws(() => parseMetadata(body(2, { ...base, [k]: v }), 'x'), /x lacks required fields/, k)
    }
  })

  it('every error is a StateError', () => {
    assert.throws(() => parseMetadata('{', 'x'), StateError)
  })
})

describe('checksumOf', () => {
  it('is CRC-32 (IEEE) as 8 lower-case hex digits', () => {
    assert.equal(checksumOf(Buffer.from('123456789')), 'crc32:cbf43926')
    assert.equal(checksumOf(Buffer.alloc(0)), 'crc32:00000000')
    assert.equal(checksumOf(Buffer.from('a')), 'crc32:e8b7be43')
  })
})
