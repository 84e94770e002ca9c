/**
 * FsStorage is durable before it answers: the fsyncs of files and directories happen, in order,
 * before write / writeAtomic / delete / createExclusive resolve; overlapping directory fsyncs are
 * coalesced without ever letting a caller ride on an fsync that began before its change.
 * The fsyncs are observed through an injected Syncer that records what the disk looks like at each.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { FSYNC, FsStorage, type Syncer } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

type Event = { kind: 'file'; path: string; content: string } | { kind: 'dir'; path: string; entries: string[] }

/** Records every fsync with what the file holds / the directory lists at that moment; can hold directory fsyncs. */
function recorder(): { syncer: Syncer; events: Event[]; holdDirs: () => () => void } {
  const events: Event[] = []
  let gate: Promise<void> | undefined
  const syncer: Syncer = {
    async file(path, handle) {
      events.push({ kind: 'file', path, content: readFileSync(path, 'utf8') })
      await FSYNC.file(path, handle)
    },
    async directory(path) {
      if (gate !== undefined) await gate
      events.push({ kind: 'dir', path, entries: existsSync(path) ? readdirSync(path).sort() : [] })
      await FSYNC.directory(path)
    },
  }
  const holdDirs = (): (() => void) => {
    let release!: () => void
    gate = new Promise((r) => (release = r))
    return () => {
      gate = undefined
      release()
    }
  }
  return { syncer, events, holdDirs }
}

const tick = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
}

/** Waits (bounded) until `cond` holds: file writes take real I/O. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000
  while (!cond()) {
    assert.ok(Date.now() < deadline, 'timed out')
    await new Promise((r) => setTimeout(r, 1))
  }
  await tick()
}

describe('FsStorage durability', () => {
  it('write: the file is fsynced with its content, then its directory with the new name', async () => {
    const root = tmp()
    mkdirSync(join(root, 'chk-1'))
    const r = recorder()
    await new FsStorage({ syncer: r.syncer }).write(join(root, 'chk-1', 'state'), Buffer.from('hello'))
    assert.deepEqual(r.events, [
      { kind: 'file', path: join(root, 'chk-1', 'state'), content: 'hello' },
      { kind: 'dir', path: join(root, 'chk-1'), entries: ['state'] },
    ])
  })

  it('write does not resolve before its directory is fsynced', async () => {
    const root = tmp()
    const r = recorder()
    const storage = new FsStorage({ syncer: r.syncer })
    mkdirSync(join(root, 'd'))
    const release = r.holdDirs()
    let done = false
    let asked = false
    const w = storage.write(join(root, 'd', 'f'), Buffer.from('x')).then(() => (done = true))
    const held = r.syncer.directory
    r.syncer.directory = (p) => ((asked = true), held(p))
    await until(() => asked)
    assert.equal(done, false)
    release()
    await w
    assert.equal(done, true)
  })

  it('write into new folders fsyncs each folder it created, up to the one that existed', async () => {
    const root = tmp()
    const r = recorder()
    await new FsStorage({ syncer: r.syncer }).write(join(root, 'job', 'chk-1', 'state'), Buffer.from('s'))
    const dirs = r.events.filter((e) => e.kind === 'dir').map((e) => e.path).sort()
    assert.deepEqual(dirs, [root, join(root, 'job'), join(root, 'job', 'chk-1')].sort())
    const byPath = new Map(r.events.map((e) => [e.path, e]))
    assert.deepEqual((byPath.get(root) as { entries: string[] }).entries, ['job'])
    assert.deepEqual((byPath.get(join(root, 'job')) as { entries: string[] }).entries, ['chk-1'])
    assert.deepEqual((byPath.get(join(root, 'job', 'chk-1')) as { entries: string[] }).entries, ['state'])
  })

  it('a write below a folder another write created waits until that folder is durable', async () => {
    const root = tmp()
    const r = recorder()
    const storage = new FsStorage({ syncer: r.syncer })
    const release = r.holdDirs()
    const first = storage.write(join(root, 'shared', 'a'), Buffer.from('a'))
    await until(() => r.events.length === 1)
    let secondDone = false
    const second = storage.write(join(root, 'shared', 'b'), Buffer.from('b')).then(() => (secondDone = true))
    await until(() => r.events.length === 2)
    assert.equal(secondDone, false)
    release()
    await Promise.all([first, second])
    assert.ok(r.events.some((e) => e.kind === 'dir' && e.path === root && e.entries.includes('shared')))
  })

  it('writeAtomic: the temporary file is fsynced, renamed over the target, then the directory is fsynced', async () => {
    const root = tmp()
    mkdirSync(join(root, 'chk-1'))
    writeFileSync(join(root, 'chk-1', '_metadata'), 'old')
    const r = recorder()
    await new FsStorage({ syncer: r.syncer }).writeAtomic(join(root, 'chk-1', '_metadata'), Buffer.from('new'))
    assert.equal(r.events.length, 2)
    const [file, dir] = r.events as [Event & { kind: 'file' }, Event & { kind: 'dir' }]
    assert.equal(file.kind, 'file')
    assert.match(file.path, /\/chk-1\/\.[0-9a-f]{12}\.tmp$/)
    assert.equal(file.content, 'new')
    assert.deepEqual(dir, { kind: 'dir', path: join(root, 'chk-1'), entries: ['_metadata'] }, 'renamed (no temporary left) before the directory fsync')
    assert.equal(readFileSync(join(root, 'chk-1', '_metadata'), 'utf8'), 'new')
  })

  it('delete: the directory is fsynced after the unlink; deleting nothing fsyncs nothing', async () => {
    const root = tmp()
    writeFileSync(join(root, '_metadata'), 'm')
    writeFileSync(join(root, 'state'), 's')
    const r = recorder()
    const storage = new FsStorage({ syncer: r.syncer })
    await storage.delete(join(root, '_metadata'))
    assert.deepEqual(r.events, [{ kind: 'dir', path: root, entries: ['state'] }])
    await storage.delete(join(root, '_metadata'))
    assert.equal(r.events.length, 1)
  })

  it('createExclusive: fsyncs the file and its directory; an existing one is left alone', async () => {
    const root = tmp()
    const r = recorder()
    const storage = new FsStorage({ syncer: r.syncer })
    mkdirSync(join(root, 'j'))
    assert.equal(await storage.createExclusive(join(root, 'j', 'lock'), Buffer.from('me')), true)
    assert.deepEqual(r.events, [
      { kind: 'file', path: join(root, 'j', 'lock'), content: 'me' },
      { kind: 'dir', path: join(root, 'j'), entries: ['lock'] },
    ])
    assert.equal(await storage.createExclusive(join(root, 'j', 'lock'), Buffer.from('you')), false)
    assert.equal(r.events.length, 2)
    assert.equal(readFileSync(join(root, 'j', 'lock'), 'utf8'), 'me')
  })

  it('concurrent writes into one folder share directory fsyncs, each after its own file', async () => {
    const root = tmp()
    mkdirSync(join(root, 'd'))
    const r = recorder()
    const storage = new FsStorage({ syncer: r.syncer })
    // Count the requests for a directory fsync (before coalescing), to know when b and c made theirs.
    const s = storage as unknown as { syncDirectory(d: string): Promise<void> }
    const inner = s.syncDirectory.bind(storage)
    let requests = 0
    s.syncDirectory = (d) => (requests++, inner(d))
    const release = r.holdDirs()
    const a = storage.write(join(root, 'd', 'a'), Buffer.from('a'))
    await until(() => requests === 1)
    // The directory fsync for 'a' is running (held). 'b' and 'c' were created after it began:
    // they must wait for a later fsync, which they share.
    let bDone = false
    const b = storage.write(join(root, 'd', 'b'), Buffer.from('b')).then(() => (bDone = true))
    const c = storage.write(join(root, 'd', 'c'), Buffer.from('c'))
    await until(() => requests === 3)
    assert.equal(bDone, false)
    release()
    await a
    await Promise.all([b, c])
    assert.equal(bDone, true)
    const dirSyncs = r.events.filter((e): e is Event & { kind: 'dir' } => e.kind === 'dir')
    assert.equal(dirSyncs.length, 2, 'one fsync for a, one shared by b and c')
    assert.deepEqual(dirSyncs[1]!.entries, ['a', 'b', 'c'])
  })

  it('a write waits for an fsync that starts after its file exists, never for one already running', async () => {
    const root = tmp()
    mkdirSync(join(root, 'd'))
    const events: string[] = []
    let releaseFirst!: () => void
    const firstHeld = new Promise<void>((r) => (releaseFirst = r))
    let n = 0
    const syncer: Syncer = {
      file: async (p) => void events.push(`file ${p.slice(-1)}`),
      async directory() {
        const mine = ++n
        events.push(`dir ${mine} begins`)
        if (mine === 1) await firstHeld
        events.push(`dir ${mine} ends`)
      },
    }
    const storage = new FsStorage({ syncer })
    const a = storage.write(join(root, 'd', 'a'), Buffer.from('a'))
    await until(() => events.includes('dir 1 begins'))
    const b = storage.write(join(root, 'd', 'b'), Buffer.from('b')).then(() => events.push('b written'))
    await until(() => events.includes('file b'))
    releaseFirst()
    await Promise.all([a, b])
    assert.deepEqual(events, ['file a', 'dir 1 begins', 'file b', 'dir 1 ends', 'dir 2 begins', 'dir 2 ends', 'b written'])
  })

  it('the real fsync works on files, folders, and a folder removed meanwhile', async () => {
    const root = tmp()
    const storage = new FsStorage()
    await storage.write(join(root, 'a', 'b', 'f'), Buffer.from('f'))
    await storage.writeAtomic(join(root, 'a', 'm'), Buffer.from('m'))
    await storage.delete(join(root, 'a', 'm'))
    assert.deepEqual(readdirSync(join(root, 'a')), ['b'])
    rmSync(join(root, 'gone'), { recursive: true, force: true })
    await FSYNC.directory(join(root, 'gone'))
    assert.equal(existsSync(dirname(join(root, 'a', 'b', 'f'))), true)
  })
})
