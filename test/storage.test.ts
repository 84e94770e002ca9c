/**
 * One Storage contract, run against every implementation: the filesystem, the in-memory twin,
 * S3 through a real S3-protocol server on 127.0.0.1 (s3rver, which ignores If-None-Match on
 * PUT: the lock below holds there by S3Storage's claim protocol), and HDFS through WebHDFS on a
 * real Hadoop mini cluster (test/servers/hadoop.ts). Also: how user-given locations are
 * normalised (paths.ts).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Configuration } from '../src/runtime/config/configuration.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'
import { S3Storage, s3SettingsFrom } from '../src/runtime/storage/s3-storage.js'
import { HdfsStorage, hdfsSettingsFrom } from '../src/runtime/storage/hdfs-storage.js'
import type { Storage } from '../src/runtime/storage/storage.js'
import { join, normalizeLocation } from '../src/runtime/storage/paths.js'
import { tmp } from './helpers.js'
import { startS3, type S3Server } from './servers/s3.js'
import { hadoopSkip, startHadoop, type HadoopCluster } from './servers/hadoop.js'

function contract(name: string, setup: () => Promise<{ storage: Storage; root: string }>, big = false, skip: string | false = false): void {
  describe(`Storage contract: ${name}`, { skip }, () => {
    let storage: Storage
    let root: string
    before(async () => ({ storage, root } = await setup()))

    it('writes, reads, stats and deletes; deleting twice is fine', async () => {
      const loc = join(root, 'a', 'b', 'file')
      await storage.write(loc, Buffer.from('hello'))
      assert.equal((await storage.read(loc)).toString(), 'hello')
      assert.equal((await storage.stat(loc))!.size, 5)
      await storage.delete(loc)
      await storage.delete(loc)
      assert.equal(await storage.stat(loc), undefined)
      await assert.rejects(storage.read(loc))
    })

    it('writeAtomic replaces whole objects', async () => {
      const loc = join(root, 'meta', '_metadata')
      await storage.writeAtomic(loc, Buffer.from('one'))
      await storage.writeAtomic(loc, Buffer.from('two, longer'))
      assert.equal((await storage.read(loc)).toString(), 'two, longer')
    })

    it('lists recursively (more than 1000 objects) and deletes trees', async () => {
      const dir = join(root, 'many')
      const n = 1100
      for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => storage.write(join(dir, `d${(i + j) % 7}`, `f${i + j}`), Buffer.from('x'))))
      assert.equal((await storage.list(dir)).length, n)
      await storage.deleteTree(dir)
      assert.equal((await storage.list(dir)).length, 0)
    })

    it('createExclusive creates once; a second call, and every loser of a race, gets false', async () => {
      const loc = join(root, 'lock')
      assert.equal(await storage.createExclusive(loc, Buffer.from('1')), true)
      assert.equal(await storage.createExclusive(loc, Buffer.from('2')), false)
      assert.equal((await storage.read(loc)).toString(), '1')
      await storage.delete(loc)
      for (let round = 0; round < 3; round++) {
        const raced = join(root, `raced-${round}`)
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => storage.createExclusive(raced, Buffer.from(`contender ${i}`))))
        const winners = results.flatMap((won, i) => (won ? [i] : []))
        assert.equal(winners.length, 1, `round ${round}: exactly one of six concurrent callers wins (${winners.length} did)`)
        assert.equal((await storage.read(raced)).toString(), `contender ${winners[0]}`, 'the object holds the winner\'s content')
        const left = (await storage.list(root)).map((o) => o.location).filter((l) => l.startsWith(`${raced}.`))
        assert.deepEqual(left, [], 'no claim is left behind')
      }
    })

    if (big) {
      it('uploads large objects in parts', async () => {
        const loc = join(root, 'big')
        const data = Buffer.alloc(19 * 1024 * 1024)
        for (let i = 0; i < data.length; i += 4096) data[i] = i % 251
        await storage.write(loc, data)
        assert.ok((await storage.read(loc)).equals(data))
      })
    }
  })
}

describe('normalizeLocation', () => {
  it('resolves .., . and repeated slashes, and reads file: URIs in all three spellings', () => {
    const cases: [string, string][] = [
      ['/a/../a/b', '/a/b'], ['/a/./b/', '/a/b'], ['//a//b///c', '/a/b/c'], ['/a/b/..', '/a'], ['/', '/'],
      ['file:/tmp/ck', '/tmp/ck'], ['file://tmp/ck', '/tmp/ck'], ['file:///tmp/ck', '/tmp/ck'], ['file://localhost/tmp/ck', '/tmp/ck'],
      ['file:///tmp/a/../ck/', '/tmp/ck'], ['file:/tmp/with%20space', '/tmp/with space'], ['FILE:/tmp/ck', '/tmp/ck'],
      ['s3://bucket/a//b/./c/../d/', 's3://bucket/a/b/d'], ['s3://bucket/', 's3://bucket'], ['s3://bucket', 's3://bucket'],
    ]
    for (const [given, expected] of cases) assert.equal(normalizeLocation(given), expected, given)
    assert.equal(normalizeLocation('rel/x/../y'), join(process.cwd(), 'rel', 'y'))
    assert.equal(normalizeLocation('file:rel'), join(process.cwd(), 'rel'))
  })
})

contract('filesystem', async () => ({ storage: new FsStorage(), root: tmp() }))
contract('memory', async () => ({ storage: new MemoryStorage(), root: '/mem' }))

let s3: S3Server
before(async () => {
  s3 = await startS3('contract')
})
after(async () => s3.stop())
contract('S3 (s3rver)', async () => ({ storage: new S3Storage(s3SettingsFrom(new Configuration(s3.config))), root: 's3://contract/root' }), true)

let hadoop: HadoopCluster | undefined
after(async () => hadoop?.stop())
contract('HDFS (WebHDFS on a Hadoop mini cluster)', async () => {
  hadoop = await startHadoop({ hdfs: true })
  return { storage: new HdfsStorage(hdfsSettingsFrom(new Configuration(hadoop.config))), root: `${hadoop.nameNode}/contract/root` }
}, true, hadoopSkip())
