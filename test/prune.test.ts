/**
 * checkpoints prune: the safety rules, each with a test; a property test over random incremental
 * histories; the chain case; damaged and foreign files; the lock; dry run.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { scanRoot } from '../src/runtime/checkpoint/inventory.js'
import { LOCK_FILE, acquirePruneLock, prune } from '../src/runtime/checkpoint/prune.js'
import { planPrune, type PrunePolicy } from '../src/runtime/checkpoint/prune-plan.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { HistoryWriter, restoresIdentically } from './checkpoint-history.js'
import { tmp } from './helpers.js'

const fs = new FsStorage()
const JOB = '0123456789abcdef0123456789abcdef'
const JOB2 = 'fedcba9876543210fedcba9876543210'
const DAY = 86_400_000
const NOW = Date.parse('2026-06-01T00:00:00Z')
const policy = (p: Partial<PrunePolicy> = {}): PrunePolicy => ({ keep: 1, olderThanMs: undefined, includeSavepoints: false, now: NOW, runningJobs: new Set(), ...p })
const at = (daysAgo: number): Date => new Date(NOW - daysAgo * DAY)

function seeded(seed: number): (n: number) => number {
  let s = seed >>> 0
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
}

describe('prune rules', () => {
  it('keeps the newest N per job and deletes older ones, _metadata included', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 5; i++) h.checkpoint(i, at(10 - i))
    const { deleted } = await prune(root, fs, policy({ keep: 2 }), false)
    assert.deepEqual(readdirSync(join(root, JOB)).filter((n) => n.startsWith('chk-')).sort(), ['chk-4', 'chk-5'])
    assert.ok(deleted.includes(join(root, JOB, 'chk-1')))
    for (const c of h.checkpoints.slice(3)) assert.ok(restoresIdentically(c))
  })

  it('never deletes the latest valid checkpoint, whatever the policy', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(100))
    h.checkpoint(2, at(50), { withMetadata: false })
    await prune(root, fs, policy({ keep: 0, olderThanMs: 1 }), false)
    assert.ok(existsSync(join(root, JOB, 'chk-1', '_metadata')))
    assert.ok(restoresIdentically(h.checkpoints[0]!))
    assert.equal(existsSync(join(root, JOB, 'chk-2')), false, 'the leftover without _metadata went')
  })

  it('--older-than only deletes checkpoints older than the duration', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(30))
    h.checkpoint(2, at(3))
    h.checkpoint(3, at(1))
    await prune(root, fs, policy({ keep: 1, olderThanMs: 7 * DAY }), false)
    assert.deepEqual(readdirSync(join(root, JOB)).filter((n) => n.startsWith('chk-')).sort(), ['chk-2', 'chk-3'])
  })

  it('an incremental chain: pruning the oldest keeps the shared files newer ones use', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB, seeded(1))
    for (let i = 1; i <= 4; i++) h.checkpoint(i, at(10 - i))
    await prune(root, fs, policy({ keep: 1 }), false)
    assert.equal(existsSync(join(root, JOB, 'chk-1')), false)
    assert.ok(restoresIdentically(h.checkpoints[3]!), 'the newest still restores completely')
    const sharedLeft = readdirSync(join(root, JOB, 'shared')).map((n) => join(root, JOB, 'shared', n)).sort()
    assert.deepEqual(sharedLeft, [...h.checkpoints[3]!.files.keys()].filter((p) => p.includes('/shared/')).sort(), 'exactly the referenced shared files remain')
  })

  it('never touches a running job\'s checkpoint in progress or its fresh shared files', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(2))
    h.checkpoint(2, at(1))
    h.checkpoint(3, new Date(), { withMetadata: false }) // in progress
    const { deleted } = await prune(root, fs, policy({ runningJobs: new Set([JOB]) }), false)
    assert.ok(existsSync(join(root, JOB, 'chk-3')))
    assert.ok(existsSync(join(root, JOB, 'chk-2', '_metadata')))
    assert.ok(deleted.includes(join(root, JOB, 'chk-1')))
    for (const p of h.checkpoints[2]!.files.keys()) assert.ok(existsSync(p), `${p} belongs to the checkpoint in progress`)
  })

  it('never deletes a savepoint unless asked', async () => {
    const root = tmp()
    mkdirSync(join(root, 'savepoint-012345-aaaaaaaaaaaa'))
    writeFileSync(join(root, 'savepoint-012345-aaaaaaaaaaaa', 'state'), 'x')
    const { deleted } = await prune(root, fs, policy({ keep: 0, olderThanMs: 0 }), false)
    assert.deepEqual(deleted, [])
    assert.ok(existsSync(join(root, 'savepoint-012345-aaaaaaaaaaaa', 'state')))
  })

  it('never follows a symbolic link out of the root, nor deletes what it points to', async () => {
    const root = tmp()
    const outside = tmp()
    writeFileSync(join(outside, 'precious'), 'keep me')
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(3))
    h.checkpoint(2, at(2))
    symlinkSync(outside, join(root, JOB, 'shared', 'link-out'))
    symlinkSync(outside, join(root, JOB, 'chk-9'))
    await prune(root, fs, policy({ keep: 1 }), false)
    assert.ok(existsSync(join(outside, 'precious')))
  })

  it('corrupt, truncated and foreign _metadata and unrelated files: listed as invalid, nothing unprovable deleted', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(5))
    h.checkpoint(2, at(4))
    h.checkpoint(3, at(3))
    writeFileSync(join(root, JOB, 'chk-2', '_metadata'), '{"format":"tsflink-checkpoint","version":1,"chec') // truncated
    mkdirSync(join(root, JOB, 'chk-7'))
    writeFileSync(join(root, JOB, 'chk-7', '_metadata'), 'PK\u0003\u0004 a zip file')
    writeFileSync(join(root, JOB, 'README.txt'), 'notes')
    writeFileSync(join(root, JOB, 'shared', 'unrelated'), 'who knows')
    mkdirSync(join(root, 'not-a-job'))
    const inv = await scanRoot(root, fs)
    const status = new Map(inv.entries.map((e) => [e.path.slice(e.path.lastIndexOf('/') + 1), e.status]))
    assert.equal(status.get('chk-2'), 'corrupt')
    assert.equal(status.get('chk-7'), 'corrupt')
    assert.equal(status.get('chk-3'), 'valid')
    const { deleted } = await prune(root, fs, policy({ keep: 1 }), false)
    assert.deepEqual(deleted, [join(root, JOB, 'chk-1')], 'only the provably old, valid checkpoint')
    assert.ok(existsSync(join(root, JOB, 'shared', 'unrelated')), 'with an unreadable _metadata no shared file can be proven unreferenced')
    assert.ok(existsSync(join(root, JOB, 'README.txt')) && existsSync(join(root, 'not-a-job')))
    assert.ok(restoresIdentically(h.checkpoints[2]!))
  })

  it('refuses to run twice at once on one root, and takes over a stale lock', async () => {
    const root = tmp()
    const release = await acquirePruneLock(root, fs)
    await assert.rejects(prune(root, fs, policy(), false), /Another prune is running on .* \(pid \d+\)/)
    await release()
    writeFileSync(join(root, LOCK_FILE), JSON.stringify({ pid: 999999999, host: (await import('node:os')).hostname(), since: 'long ago' }))
    await prune(root, fs, policy(), false)
    assert.equal(existsSync(join(root, LOCK_FILE)), false)
  })

  it('--dry-run deletes nothing and names exactly what a real run deletes', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB, seeded(3))
    for (let i = 1; i <= 6; i++) h.checkpoint(i, at(10 - i), { compact: i % 3 === 0 })
    const before = readdirSync(join(root, JOB, 'shared')).length
    const dry = await prune(root, fs, policy({ keep: 2 }), true)
    assert.equal(readdirSync(join(root, JOB, 'shared')).length, before)
    assert.ok(existsSync(join(root, JOB, 'chk-1', '_metadata')))
    const real = await prune(root, fs, policy({ keep: 2 }), false)
    assert.deepEqual(real.deleted, dry.deleted)
    assert.ok(dry.deleted.length > 0)
  })
})

describe('prune, property: random incremental histories and policies', () => {
  it('after prune every kept checkpoint restores completely and byte-identically (1000 cases)', async () => {
    const base = tmp()
    let deletedSomething = 0
    for (let seed = 1; seed <= 1000; seed++) {
      const rnd = seeded(seed)
      const root = join(base, String(seed))
      const jobs = [new HistoryWriter(root, JOB, rnd), ...(rnd(2) === 0 ? [new HistoryWriter(root, JOB2, rnd)] : [])]
      for (const h of jobs) {
        const n = 1 + rnd(7)
        for (let i = 1; i <= n; i++) h.checkpoint(i, at(20 - i * 2 + rnd(2)), { compact: rnd(3) === 0, withMetadata: i < n || rnd(4) !== 0 })
      }
      const p = policy({ keep: rnd(4), olderThanMs: rnd(2) === 0 ? undefined : rnd(15) * DAY, runningJobs: rnd(4) === 0 ? new Set([JOB]) : new Set() })
      const inv = await scanRoot(root, fs)
      const plan = planPrune(inv, p)
      await prune(root, fs, p, false)
      if (plan.deleteDirs.length + plan.deleteFiles.length > 0) deletedSomething++
      const kept = new Set(plan.keep.map((e) => e.path))
      for (const h of jobs) {
        const valid = h.checkpoints.filter((c) => existsSync(join(c.path, '_metadata')) || kept.has(c.path))
        for (const c of h.checkpoints) {
          if (kept.has(c.path) && existsSync(join(c.path, '_metadata'))) assert.ok(restoresIdentically(c), `seed ${seed}: ${c.path} must restore`)
        }
        // The latest checkpoint that had _metadata before prune still has it.
        const latestValid = inv.entries.filter((e) => e.jobId === h.jobId && e.status === 'valid').sort((a, b) => b.checkpointId! - a.checkpointId!)[0]
        if (latestValid !== undefined) assert.ok(existsSync(join(latestValid.path, '_metadata')), `seed ${seed}: latest of ${h.jobId} kept`)
        void valid
      }
      rmSync(root, { recursive: true, force: true })
    }
    assert.ok(deletedSomething > 300, 'the cases exercised deletion')
  })
})
