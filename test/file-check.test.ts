/**
 * Checking state files against their references: existence, size, content checksum; reading a
 * state file for a restore fails naming a corrupt or missing file.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeProblems, readVerified, verifyFile, verifyFiles } from '../src/runtime/checkpoint/file-check.js'
import { checksumOf, type FileReference } from '../src/runtime/checkpoint/metadata.js'
import { StateError } from '../src/runtime/errors.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'

const data = Buffer.from('some state bytes')
const ref = (over: Partial<FileReference> = {}): FileReference => ({ path: 'f', size: data.length, checksum: checksumOf(data), ...over })

function storageWith(content: Buffer | undefined): MemoryStorage {
  const s = new MemoryStorage()
  if (content !== undefined) s.objects.set('/c/f', { data: content, mtimeMs: 0 })
  return s
}

describe('verifyFile', () => {
  it('accepts a file as recorded, by size and by content', async () => {
    assert.equal(await verifyFile(storageWith(data), '/c/f', ref()), undefined)
    assert.equal(await verifyFile(storageWith(data), '/c/f', ref(), true), undefined)
  })

  it('reports a missing file', async () => {
    assert.deepEqual(await verifyFile(storageWith(undefined), '/c/f', ref()), { location: '/c/f', problem: 'missing' })
    assert.deepEqual(await verifyFile(storageWith(undefined), '/c/f', ref(), true), { location: '/c/f', problem: 'missing' })
  })

  it('reports a size mismatch', async () => {
    assert.deepEqual(await verifyFile(storageWith(data.subarray(1)), '/c/f', ref()), { location: '/c/f', problem: `size ${data.length - 1}, recorded ${data.length}` })
    assert.deepEqual(await verifyFile(storageWith(data.subarray(1)), '/c/f', ref(), true), { location: '/c/f', problem: `size ${data.length - 1}, recorded ${data.length}` })
  })

  it('same size, other bytes: only the content check sees it', async () => {
    const evil = Buffer.from(data)
    evil[3] = evil[3]! ^ 0xff
    assert.equal(await verifyFile(storageWith(evil), '/c/f', ref()), undefined, 'size alone cannot tell')
    const p = await verifyFile(storageWith(evil), '/c/f', ref(), true)
    assert.equal(p?.location, '/c/f')
    assert.match(p!.problem, new RegExp(`content does not match its checksum \\(${checksumOf(evil)}, recorded ${checksumOf(data)}\\)`))
  })

  it('a reference without a checksum (format v1) is checked by size only', async () => {
    const evil = Buffer.from(data)
    evil[0] = evil[0]! ^ 1
    const { checksum: _drop, ...v1 } = ref()
    assert.equal(await verifyFile(storageWith(evil), '/c/f', v1, true), undefined)
  })

  it('other read errors propagate', async () => {
    const s = storageWith(data)
    s.read = async () => { throw Object.assign(new Error('EIO'), { code: 'EIO' }) }
    await assert.rejects(verifyFile(s, '/c/f', ref(), true), /EIO/)
  })
})

describe('verifyFiles', () => {
  it('checks every file relative to the directory, reports problems in reference order', async () => {
    const s = new MemoryStorage()
    const refs: FileReference[] = []
    for (let i = 0; i < 40; i++) {
      const d = Buffer.from(`file ${i}`)
      refs.push({ path: i % 2 === 0 ? `f${i}` : `../shared/f${i}`, size: d.length, checksum: checksumOf(d) })
      if (i % 7 !== 3) s.objects.set(i % 2 === 0 ? `/job/chk-1/f${i}` : `/job/shared/f${i}`, { data: d, mtimeMs: 0 })
    }
    const problems = await verifyFiles(() => s, '/job/chk-1', refs, false, 3)
    assert.deepEqual(problems.map((p) => p.location), ['/job/shared/f3', '/job/chk-1/f10', '/job/shared/f17', '/job/chk-1/f24', '/job/shared/f31', '/job/chk-1/f38'])
    assert.ok(problems.every((p) => p.problem === 'missing'))
    assert.deepEqual(await verifyFiles(() => s, '/job/chk-1', []), [])
  })
})

describe('describeProblems', () => {
  it('names up to five files, then counts the rest', () => {
    const ps = Array.from({ length: 7 }, (_, i) => ({ location: `/f${i}`, problem: 'missing' }))
    assert.equal(describeProblems(ps.slice(0, 2)), '/f0 (missing), /f1 (missing)')
    assert.equal(describeProblems(ps.slice(0, 5)), '/f0 (missing), /f1 (missing), /f2 (missing), /f3 (missing), /f4 (missing)')
    assert.equal(describeProblems(ps), '/f0 (missing), /f1 (missing), /f2 (missing), /f3 (missing), /f4 (missing) and 2 more')
  })
})

describe('readVerified', () => {
  it('returns the bytes of a file as recorded', async () => {
    assert.deepEqual(await readVerified(storageWith(data), '/c/f', ref()), data)
    assert.deepEqual(await readVerified(storageWith(data), '/c/f', undefined), data)
  })

  it('a corrupt file of the same size fails, naming the file', async () => {
    const evil = Buffer.from(data)
    evil[5] = evil[5]! ^ 0x10
    await assert.rejects(readVerified(storageWith(evil), '/c/f', ref()), (e: unknown) => {
      assert.ok(e instanceof StateError)
      assert.match(e.message, /^State file \/c\/f is corrupt: content does not match its checksum/)
      return true
    })
  })

  it('a truncated file fails, naming the file', async () => {
    await assert.rejects(readVerified(storageWith(data.subarray(0, 4)), '/c/f', ref()), /State file \/c\/f is corrupt: size 4, recorded 16/)
  })

  it('a missing file fails, naming the file', async () => {
    await assert.rejects(readVerified(storageWith(undefined), '/c/f', ref()), (e: unknown) => e instanceof StateError && /State file \/c\/f is missing/.test(e.message))
  })
})
