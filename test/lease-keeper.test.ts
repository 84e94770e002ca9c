/**
 * The lease format (parse, liveness) and the writer that keeps a job's lease and its savepoints'
 * leases, with a ManualClock and an in-memory storage.
 */
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { describe, it } from 'node:test'
import { CLOCK_SKEW_ALLOWANCE_MS, isLeaseLive, parseLease, serializeLease, type Lease } from '../src/runtime/checkpoint/lease.js'
import { LeaseKeeper, type LeaseContent } from '../src/runtime/checkpoint/lease-keeper.js'
import { ManualClock } from '../src/runtime/clock.js'
import type { JobId } from '../src/runtime/ids.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'

const JOB = 'd'.repeat(32) as JobId
const T0 = 5_000_000
const JOB_LEASE = `/cp/${JOB}/_lease`
const EMPTY: LeaseContent = { latestCompleted: null, inProgress: [], savepointsInProgress: [] }
const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r))
}

function setup(timing = { renewIntervalMs: 10_000, ttlMs: 60_000 }) {
  const clock = new ManualClock(T0)
  const storage = new MemoryStorage()
  const writes: string[] = []
  const write = storage.writeAtomic.bind(storage)
  storage.writeAtomic = (l, d) => (writes.push(l), write(l, d))
  const keeper = new LeaseKeeper({ clock, storageFor: () => storage, jobId: JOB, jobDir: `/cp/${JOB}`, timing, owner: { host: 'h', pid: 7, startedAt: 1 } })
  const read = async (location = JOB_LEASE): Promise<Lease> => {
    const p = parseLease(await storage.read(location))
    assert.ok(p.ok, `${location} parses`)
    return p.lease
  }
  return { clock, storage, keeper, read, writes }
}

describe('lease format', () => {
  const lease: Lease = {
    format: 'tsflink-lease', version: 1, kind: 'job', jobId: JOB, owner: { host: 'h', pid: 1, startedAt: 2 }, renewedAt: 1000, ttlMs: 500,
    latestCompleted: 4, inProgress: [5, 6], savepointsInProgress: ['/sp/a'], ended: false,
  }

  it('round trips', () => {
    assert.deepEqual(parseLease(serializeLease(lease)), { ok: true, lease })
    assert.ok(serializeLease(lease).toString().endsWith('}\n'))
  })

  it('refuses what is not a lease, saying why', () => {
    assert.deepEqual(parseLease('{'), { ok: false, reason: 'not JSON' })
    assert.deepEqual(parseLease('null'), { ok: false, reason: 'not an object' })
    assert.deepEqual(parseLease('3'), { ok: false, reason: 'not an object' })
    assert.deepEqual(parseLease('{"format":"x"}'), { ok: false, reason: "format 'x'" })
    assert.deepEqual(parseLease(JSON.stringify({ ...lease, version: 2 })), { ok: false, reason: 'version 2' })
    for (const k of ['renewedAt', 'ttlMs', 'jobId'] as const) {
      assert.deepEqual(parseLease(JSON.stringify({ ...lease, [k]: k === 'jobId' ? 1 : 'x' })), { ok: false, reason: 'missing fields' }, k)
    }
  })

  it('fills what an older or partial writer left out', () => {
    const { owner: _o, latestCompleted: _l, inProgress: _i, savepointsInProgress: _s, ended: _e, kind: _k, ...bare } = lease
    assert.deepEqual(parseLease(JSON.stringify(bare)), {
      ok: true,
      lease: { ...bare, kind: 'job', owner: { host: '', pid: 0, startedAt: 0 }, latestCompleted: null, inProgress: [], savepointsInProgress: [], ended: false },
    })
    const odd = parseLease(JSON.stringify({ ...lease, kind: 'savepoint', inProgress: [1, 'x', 2], savepointsInProgress: ['a', 3], ended: 'yes' }))
    assert.ok(odd.ok)
    assert.deepEqual([odd.lease.kind, odd.lease.inProgress, odd.lease.savepointsInProgress, odd.lease.ended], ['savepoint', [1, 2], ['a'], false])
  })

  it('is live until renewedAt + ttl + the clock skew allowance, unless ended; an unreadable lease is live', () => {
    const ok = { ok: true as const, lease }
    const limit = lease.renewedAt + lease.ttlMs + CLOCK_SKEW_ALLOWANCE_MS
    assert.equal(isLeaseLive(ok, limit - 1), true)
    assert.equal(isLeaseLive(ok, limit), false)
    assert.equal(isLeaseLive(ok, 1600, 100), false)
    assert.equal(isLeaseLive(ok, 1599, 100), true)
    assert.equal(isLeaseLive({ ok: true, lease: { ...lease, ended: true } }, 0), false)
    assert.equal(isLeaseLive({ ok: false, reason: 'not JSON' }, Number.MAX_SAFE_INTEGER), true)
  })
})

describe('LeaseKeeper: the job lease', () => {
  it('is written at start with what it names and who owns it', async () => {
    const s = setup()
    assert.equal(s.keeper.started, false)
    assert.equal(s.keeper.location, JOB_LEASE)
    const first = s.keeper.start({ latestCompleted: 3, inProgress: [4], savepointsInProgress: ['/sp/x'] })
    assert.equal(s.keeper.started, true)
    assert.equal(s.keeper.ready, false)
    assert.equal(s.keeper.start(EMPTY), first, 'a second start changes nothing')
    await first
    assert.equal(s.keeper.ready, true)
    assert.deepEqual(await s.read(), {
      format: 'tsflink-lease', version: 1, kind: 'job', jobId: JOB, owner: { host: 'h', pid: 7, startedAt: 1 }, renewedAt: T0, ttlMs: 60_000,
      latestCompleted: 3, inProgress: [4], savepointsInProgress: ['/sp/x'], ended: false,
    })
    assert.deepEqual(s.writes, [JOB_LEASE])
  })

  it('the owner defaults to this host and process, started by the clock', async () => {
    const clock = new ManualClock(T0)
    const storage = new MemoryStorage()
    const keeper = new LeaseKeeper({ clock, storageFor: () => storage, jobId: JOB, jobDir: `/cp/${JOB}` })
    await keeper.start(EMPTY)
    const p = parseLease(await storage.read(JOB_LEASE))
    assert.ok(p.ok)
    assert.deepEqual(p.lease.owner, { host: hostname(), pid: process.pid, startedAt: T0 })
    assert.deepEqual([p.lease.ttlMs], [60_000])
    clock.advance(9_999)
    await settle()
    assert.equal(parseLease(await storage.read(JOB_LEASE)).ok && (parseLease(await storage.read(JOB_LEASE)) as { lease: Lease }).lease.renewedAt, T0)
    clock.advance(1)
    await settle()
    assert.equal((parseLease(await storage.read(JOB_LEASE)) as { lease: Lease }).lease.renewedAt, T0 + 10_000, 'renewed every 10 s by default')
  })

  it('is rewritten promptly when what it names changes; changes during a write are coalesced into one more write', async () => {
    const s = setup()
    await s.keeper.start(EMPTY)
    const release = s.storage.hold((l) => l === JOB_LEASE)
    s.keeper.update({ ...EMPTY, inProgress: [1] })
    s.keeper.update({ ...EMPTY, inProgress: [1, 2] })
    s.keeper.update({ latestCompleted: 1, inProgress: [2], savepointsInProgress: [] })
    release()
    await settle()
    assert.equal(s.writes.length, 3, 'the start, the first update, then one for the two updates made meanwhile')
    const l = await s.read()
    assert.deepEqual([l.latestCompleted, l.inProgress], [1, [2]])
  })

  it('an update before start writes nothing', async () => {
    const s = setup()
    s.keeper.update({ ...EMPTY, inProgress: [1] })
    await settle()
    assert.deepEqual(s.writes, [])
  })

  it('is renewed on the clock and stays live; without renewals it expires', async () => {
    const s = setup({ renewIntervalMs: 1000, ttlMs: 5000 })
    await s.keeper.start(EMPTY)
    for (let i = 0; i < 50; i++) {
      s.clock.advance(1000)
      await settle()
      const l = await s.read()
      assert.equal(l.renewedAt, s.clock.now())
      assert.equal(isLeaseLive({ ok: true, lease: l }, s.clock.now(), 0), true)
    }
    const last = await s.read()
    assert.equal(isLeaseLive({ ok: true, lease: last }, s.clock.now() + 5000, 0), false)
  })

  it('a failed write is remembered and tried again at the next renewal', async () => {
    const s = setup()
    s.storage.failWrites = new Error('EIO')
    await s.keeper.start(EMPTY)
    assert.equal(s.keeper.ready, true, 'ready once the first write ended, even failed')
    assert.match(String(s.keeper.lastError), /EIO/)
    s.storage.failWrites = undefined
    s.clock.advance(10_000)
    await settle()
    assert.equal(s.keeper.lastError, undefined)
    assert.equal((await s.read()).renewedAt, T0 + 10_000)
  })

  it('end marks it ended (naming nothing in progress), stops renewing, and is idempotent', async () => {
    const s = setup()
    await s.keeper.start({ latestCompleted: 2, inProgress: [3], savepointsInProgress: ['/sp/y'] })
    s.clock.advance(5000)
    await s.keeper.end()
    await s.keeper.end()
    const l = await s.read()
    assert.deepEqual([l.ended, l.latestCompleted, l.inProgress, l.savepointsInProgress, l.renewedAt], [true, 2, [], [], T0 + 5000])
    const n = s.writes.length
    s.clock.advance(100_000)
    s.keeper.update({ ...EMPTY, inProgress: [9] })
    await settle()
    assert.equal(s.writes.length, n, 'nothing is written after the end')
    assert.equal(s.clock.pendingTimers(), 0)
    assert.equal(isLeaseLive({ ok: true, lease: l }, T0), false)
  })

  it('end waits for a renewal in flight: the ended lease is the last write', async () => {
    const s = setup()
    await s.keeper.start(EMPTY)
    const release = s.storage.hold((l) => l === JOB_LEASE)
    s.clock.advance(10_000) // a renewal, held
    let ended = false
    const end = s.keeper.end().then(() => (ended = true))
    await settle()
    assert.equal(ended, false)
    release()
    await end
    assert.equal((await s.read()).ended, true)
  })

  it('a failed ended write is remembered', async () => {
    const s = setup()
    await s.keeper.start(EMPTY)
    s.storage.failWrites = new Error('gone')
    await s.keeper.end()
    assert.match(String(s.keeper.lastError), /gone/)
  })

  it('end before start writes nothing', async () => {
    const s = setup()
    await s.keeper.end()
    assert.deepEqual(s.writes, [])
  })
})

describe('LeaseKeeper: savepoint leases', () => {
  it('_in_progress is written before savepointStarted resolves, renewed, and deleted when the savepoint ends', async () => {
    const s = setup()
    await s.keeper.savepointStarted('/sp/s1')
    const l = await s.read('/sp/s1/_in_progress')
    assert.deepEqual([l.kind, l.jobId, l.renewedAt, l.ended], ['savepoint', JOB, T0, false])
    assert.equal(s.storage.objects.has(JOB_LEASE), false, 'no job lease needed for a savepoint')
    s.clock.advance(10_000)
    await settle()
    assert.equal((await s.read('/sp/s1/_in_progress')).renewedAt, T0 + 10_000, 'renewed without a job lease')
    await s.keeper.savepointEnded('/sp/s1')
    assert.equal(s.storage.objects.has('/sp/s1/_in_progress'), false)
    s.clock.advance(50_000)
    await settle()
    assert.equal(s.storage.objects.has('/sp/s1/_in_progress'), false)
    assert.equal(s.clock.pendingTimers(), 0, 'nothing held, nothing renewed')
    await s.keeper.savepointEnded('/sp/unknown')
  })

  it('a savepoint whose lease cannot be written is refused and not renewed', async () => {
    const s = setup()
    s.storage.failWrites = new Error('EROFS')
    await assert.rejects(s.keeper.savepointStarted('/sp/s2'), /EROFS/)
    s.storage.failWrites = undefined
    s.clock.advance(10_000)
    await settle()
    assert.equal(s.storage.objects.has('/sp/s2/_in_progress'), false)
  })

  it('savepointEnded waits for a renewal in flight, then deletes: nothing lands after it', async () => {
    const s = setup()
    await s.keeper.savepointStarted('/sp/s3')
    const release = s.storage.hold((l) => l === '/sp/s3/_in_progress')
    s.clock.advance(10_000)
    const ended = s.keeper.savepointEnded('/sp/s3')
    await settle()
    release()
    await ended
    await settle()
    assert.equal(s.storage.objects.has('/sp/s3/_in_progress'), false)
  })

  it('several savepoints and the job lease are renewed together', async () => {
    const s = setup()
    await s.keeper.start(EMPTY)
    await s.keeper.savepointStarted('/sp/a')
    await s.keeper.savepointStarted('/sp/b')
    s.clock.advance(10_000)
    await settle()
    for (const l of [JOB_LEASE, '/sp/a/_in_progress', '/sp/b/_in_progress']) assert.equal((await s.read(l)).renewedAt, T0 + 10_000, l)
  })
})
