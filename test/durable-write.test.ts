/**
 * Durable writes on the writer thread: the system calls of a write happen in the order that makes
 * it durable before it answers (the file's data fsynced before the answer, an atomic write's
 * temporary renamed only once fsynced, the folder fsynced after the name appeared, and the parent of
 * every folder the write created), observed through recording `SyncFsOps`; and the real thread:
 * writes land, errors keep their code, FsStorage sends small writes there (once the thread has
 * loaded: until then it writes them itself) and big ones not, a write there below a folder another
 * write created answers only once that folder is durable, and an
 * idle writer (also one started ahead of its first write) holds no process open.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { NODE_FS_OPS, writeDurablySync, type SyncFsOps } from '../src/runtime/storage/durable-write.js'
import { DurableWriter } from '../src/runtime/storage/durable-writer.js'
import { FSYNC, FsStorage, OFFLOAD_MAX_BYTES, type Syncer } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

type Call = { op: 'fsync-file'; path: string; content: string } | { op: 'fsync-dir'; path: string; entries: string[] } | { op: 'rename'; from: string; to: string; fromContent: string } | { op: 'close'; path: string }

/** The real system calls, recording each fsync with what the file holds / the folder lists at that moment. */
function recording(fail: Partial<Record<keyof SyncFsOps, Error>> = {}): { ops: SyncFsOps; calls: Call[] } {
  const calls: Call[] = []
  const paths = new Map<number, string>()
  const ops: SyncFsOps = {
    mkdirp: (dir) => NODE_FS_OPS.mkdirp(dir),
    open(path, flags) {
      const fd = NODE_FS_OPS.open(path, flags)
      paths.set(fd, path)
      return fd
    },
    write(fd, data, offset) {
      if (fail.write !== undefined) throw fail.write
      // A short write: the caller must go on from where it stopped.
      return NODE_FS_OPS.write(fd, data.subarray(offset, offset + 3), 0)
    },
    fsync(fd) {
      const path = paths.get(fd)!
      let isDir = true
      try {
        readdirSync(path)
      } catch {
        isDir = false
      }
      if (isDir) calls.push({ op: 'fsync-dir', path, entries: readdirSync(path).sort() })
      else calls.push({ op: 'fsync-file', path, content: readFileSync(path, 'utf8') })
      NODE_FS_OPS.fsync(fd)
    },
    close(fd) {
      calls.push({ op: 'close', path: paths.get(fd)! })
      NODE_FS_OPS.close(fd)
    },
    rename(from, to) {
      if (fail.rename !== undefined) throw fail.rename
      calls.push({ op: 'rename', from, to, fromContent: readFileSync(from, 'utf8') })
      NODE_FS_OPS.rename(from, to)
    },
    unlink: (path) => NODE_FS_OPS.unlink(path),
  }
  return { ops, calls }
}

describe('durable write (system calls in order)', () => {
  it('fsyncs the whole file before closing it, then its folder with the new name', () => {
    const dir = tmp()
    const { ops, calls } = recording()
    writeDurablySync(ops, join(dir, 'a'), Buffer.from('hello world'), false)
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'hello world')
    assert.deepEqual(calls, [
      { op: 'fsync-file', path: join(dir, 'a'), content: 'hello world' },
      { op: 'close', path: join(dir, 'a') },
      { op: 'fsync-dir', path: dir, entries: ['a'] },
      { op: 'close', path: dir },
    ])
  })

  it('fsyncs the parent of every folder it created, up to the one that existed', () => {
    const root = tmp()
    mkdirSync(join(root, 'x'))
    const { ops, calls } = recording()
    writeDurablySync(ops, join(root, 'x', 'y', 'z', 'f'), Buffer.from('1'), false)
    const dirs = calls.filter((c) => c.op === 'fsync-dir').map((c) => (c as { path: string }).path)
    assert.deepEqual(dirs, [join(root, 'x', 'y', 'z'), join(root, 'x', 'y'), join(root, 'x')])
    const parent = calls.find((c) => c.op === 'fsync-dir' && c.path === join(root, 'x')) as { entries: string[] }
    assert.deepEqual(parent.entries, ['y'])
  })

  it('atomic: the temporary file is fsynced with everything, renamed over the target, then the folder is fsynced', () => {
    const dir = tmp()
    writeFileSync(join(dir, '_metadata'), 'old')
    const { ops, calls } = recording()
    writeDurablySync(ops, join(dir, '_metadata'), Buffer.from('new content'), true)
    assert.equal(readFileSync(join(dir, '_metadata'), 'utf8'), 'new content')
    const [fsyncFile, , rename, fsyncDir] = calls
    assert.equal(fsyncFile!.op, 'fsync-file')
    assert.equal((fsyncFile as { content: string }).content, 'new content')
    assert.equal(rename!.op, 'rename')
    assert.equal((rename as { from: string }).from, (fsyncFile as { path: string }).path, 'the fsynced file is the one renamed')
    assert.equal((rename as { to: string }).to, join(dir, '_metadata'))
    assert.deepEqual(fsyncDir, { op: 'fsync-dir', path: dir, entries: ['_metadata'] }, 'the folder is fsynced after the rename, with no temporary left')
  })

  it('atomic: a failed rename leaves the old file and no temporary behind', () => {
    const dir = tmp()
    writeFileSync(join(dir, '_metadata'), 'old')
    const { ops } = recording({ rename: Object.assign(new Error('no space'), { code: 'ENOSPC' }) })
    assert.throws(() => writeDurablySync(ops, join(dir, '_metadata'), Buffer.from('new'), true), /no space/)
    assert.deepEqual(readdirSync(dir), ['_metadata'])
    assert.equal(readFileSync(join(dir, '_metadata'), 'utf8'), 'old')
  })

  it('a failed write fsyncs nothing and reports the error', () => {
    const dir = tmp()
    const { ops, calls } = recording({ write: Object.assign(new Error('disk gone'), { code: 'EIO' }) })
    assert.throws(() => writeDurablySync(ops, join(dir, 'f'), Buffer.from('data'), false), /disk gone/)
    assert.deepEqual(calls.filter((c) => c.op !== 'close'), [])
  })
})

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!cond()) {
    assert.ok(Date.now() < deadline, 'timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('durable writer thread', () => {
  it('writes, replaces atomically, and creates folders', async () => {
    const dir = tmp()
    const w = new DurableWriter()
    try {
      await w.write(join(dir, 'a', 'b', 'f'), Buffer.from('first'), false)
      await w.write(join(dir, 'a', 'b', 'f'), Buffer.from('second'), true)
      await Promise.all(Array.from({ length: 20 }, (_, i) => w.write(join(dir, 'many', `f${i}`), Buffer.from(`v${i}`), false)))
      assert.equal(readFileSync(join(dir, 'a', 'b', 'f'), 'utf8'), 'second')
      assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['f'])
      for (let i = 0; i < 20; i++) assert.equal(readFileSync(join(dir, 'many', `f${i}`), 'utf8'), `v${i}`)
    } finally {
      await w.close()
    }
  })

  it('reports a failed write with its system error code, and goes on working', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'file'), 'x')
    const w = new DurableWriter()
    try {
      await assert.rejects(w.write(join(dir, 'file', 'below'), Buffer.from('y'), false), (e: NodeJS.ErrnoException) => {
        assert.match(e.message, /^Writing a file failed: /)
        assert.ok(e.code === 'ENOTDIR' || e.code === 'EEXIST', `code ${e.code}`)
        return true
      })
      await w.write(join(dir, 'ok'), Buffer.from('z'), false)
      assert.equal(readFileSync(join(dir, 'ok'), 'utf8'), 'z')
    } finally {
      await w.close()
    }
  })

  it('FsStorage writes itself until its writer thread has loaded, never waiting for it to start', async () => {
    const dir = tmp()
    const writer = new DurableWriter()
    const storage = new FsStorage({ writer })
    try {
      await storage.write(join(dir, 'early'), Buffer.from('e'))
      assert.equal(writer.requests, 0, 'written before the thread was up')
      assert.equal(readFileSync(join(dir, 'early'), 'utf8'), 'e')
      await until(() => writer.ready)
      await storage.write(join(dir, 'later'), Buffer.from('l'))
      assert.equal(writer.requests, 1, 'the first write started the thread; later ones go there')
    } finally {
      await writer.close()
    }
  })

  it('FsStorage sends writes up to the limit to its writer thread and writes bigger ones itself', async () => {
    const dir = tmp()
    const writer = new DurableWriter()
    const storage = new FsStorage({ writer })
    try {
      writer.warm()
      await until(() => writer.ready)
      await storage.write(join(dir, 'small'), Buffer.alloc(OFFLOAD_MAX_BYTES, 1))
      await storage.writeAtomic(join(dir, 'meta'), Buffer.from('m'))
      assert.equal(writer.requests, 2)
      await storage.write(join(dir, 'big'), Buffer.alloc(OFFLOAD_MAX_BYTES + 1, 2))
      assert.equal(writer.requests, 2, 'a big write is not copied to the thread')
      assert.equal(readFileSync(join(dir, 'small')).length, OFFLOAD_MAX_BYTES)
      assert.equal(readFileSync(join(dir, 'big')).length, OFFLOAD_MAX_BYTES + 1)
      assert.equal(readFileSync(join(dir, 'meta'), 'utf8'), 'm')
    } finally {
      await writer.close()
    }
  })

  it('FsStorage: a write sent to the thread below a folder another write created waits until that folder is durable', async () => {
    // The first write (too big for the thread) creates `chk-1` and waits for the fsync of `root`
    // (held here) that makes the name `chk-1` durable; a small write into `chk-1` meanwhile goes to
    // the thread, which finds the folder existing and fsyncs only `chk-1`: it must not answer
    // before `chk-1` itself is durable, as a write done in-process does not.
    const root = tmp()
    let releaseRoot!: () => void
    const rootHeld = new Promise<void>((r) => (releaseRoot = r))
    let rootSynced = false
    const syncer: Syncer = {
      file: (path, handle) => FSYNC.file(path, handle),
      async directory(path) {
        if (path === root) {
          await rootHeld
          rootSynced = true
        }
        await FSYNC.directory(path)
      },
    }
    const writer = new DurableWriter()
    const storage = new FsStorage({ syncer, writer })
    try {
      writer.warm()
      await until(() => writer.ready)
      const big = storage.write(join(root, 'chk-1', 'big'), Buffer.alloc(OFFLOAD_MAX_BYTES + 1, 1))
      await until(() => existsSync(join(root, 'chk-1')))
      const done: string[] = []
      const small = storage.write(join(root, 'chk-1', 'small'), Buffer.from('s')).then(() => done.push('write'))
      const meta = storage.writeAtomic(join(root, 'chk-1', 'meta'), Buffer.from('m')).then(() => done.push('writeAtomic'))
      await until(() => existsSync(join(root, 'chk-1', 'small')) && existsSync(join(root, 'chk-1', 'meta')))
      await Promise.race([Promise.all([small, meta]), new Promise((r) => setTimeout(r, 1000))])
      assert.equal(writer.requests, 2, 'the small writes went to the thread')
      assert.deepEqual(done, [], 'answered before the folder it was written in was durable')
      releaseRoot()
      await Promise.all([big, small, meta])
      assert.equal(rootSynced, true)
    } finally {
      releaseRoot()
      await writer.close()
    }
  })

  it('a writer started ahead of its first write does not keep a process alive', () => {
    const dir = tmp()
    const script = join(dir, 'warm.mts')
    const writer = fileURLToPath(new URL('../src/runtime/storage/durable-writer.ts', import.meta.url))
    writeFileSync(script, `
      import { sharedDurableWriter } from ${JSON.stringify(writer)}
      sharedDurableWriter.warm()
      console.log('warmed')
    `)
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() })
    assert.equal(r.status, 0, r.stderr || `ended by ${r.signal}`)
    assert.equal(r.stdout.trim(), 'warmed')
  })

  it('does not keep a process alive once its writes are done', () => {
    const dir = tmp()
    const script = join(dir, 'write.mts')
    const target = join(dir, 'out', 'f')
    const storage = fileURLToPath(new URL('../src/runtime/storage/fs-storage.ts', import.meta.url))
    writeFileSync(script, `
      import { FsStorage } from ${JSON.stringify(storage)}
      await new FsStorage().write(${JSON.stringify(target)}, Buffer.from('done'))
      console.log('written')
    `)
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'written')
    assert.ok(existsSync(target))
  })
})
