/**
 * checkpoints prune: each safety rule with a case of its own (leases of running jobs, savepoints
 * in progress, references across job folders, folders recognised by content, symbolic links, a
 * `_metadata` that is a directory, the root's edge, the lock, dry run), then a property test:
 * random roots from a seeded generator (test/prune-model.ts), prune's plan and its deletions
 * compared with an oracle written from the rules, on the in-memory twin and on real files.
 * TSFLINK_PROPERTY_CASES lowers the number of cases (mutation runs); TSFLINK_PROPERTY_SEED replays one.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { serializeLease, type Lease } from '../src/runtime/checkpoint/lease.js'
import { serializeMetadata as serializeCurrent, type CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'
import { scanRoot, type Inventory, type SnapshotEntry } from '../src/runtime/checkpoint/inventory.js'
import { LOCK_FILE, acquirePruneLock, prune } from '../src/runtime/checkpoint/prune.js'
import { planPrune, type PrunePolicy } from '../src/runtime/checkpoint/prune-plan.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'
import { join as joinLocation } from '../src/runtime/storage/paths.js'
import type { Storage } from '../src/runtime/storage/storage.js'
import { HistoryWriter, restoresIdentically } from './checkpoint-history.js'
import { tmp } from './helpers.js'
import { DAY, NOW, Rng, generate, leaseProtects, oracle, writeWorld, type World } from './prune-model.js'

/** The fixtures here list files without content checksums, as `_metadata` format version 1 does (still read). */
const serializeMetadata = (meta: CheckpointMetadata): Buffer => serializeCurrent(meta, 1)

const fs = new FsStorage()
const JOB = '0123456789abcdef0123456789abcdef'
const JOB2 = 'fedcba9876543210fedcba9876543210'
const policy = (p: Partial<PrunePolicy> = {}): PrunePolicy => ({ keep: 1, olderThanMs: undefined, includeSavepoints: false, now: NOW, runningJobs: new Set(), ...p })
const at = (daysAgo: number): Date => new Date(NOW - daysAgo * DAY)
const chks = (root: string, job = JOB): string[] => readdirSync(join(root, job)).filter((n) => n.startsWith('chk-')).sort()

/** A valid checkpoint as the inventory describes one (for the pure planner). */
function entry(path: string, id: number, jobPath: string, completedAtMs = at(10 - id).getTime()): SnapshotEntry {
  return {
    path, jobPath, jobId: JOB, checkpointId: id, type: 'checkpoint', status: 'valid', problem: undefined, unreadable: false,
    metadata: { jobId: JOB as never, jobName: 'j', checkpointId: id as never, timestamp: 0, completedAt: new Date(completedAtMs).toISOString(), kind: { type: 'checkpoint', incremental: false, format: 'native' }, backend: 'hashmap', program: null, operators: [], files: [] },
    references: [], fileProblems: [], sizeBytes: 1, ownFiles: [`${path}/s`], ownBytes: 1, mtimeMs: 0, recognized: true, inProgress: undefined,
  }
}

function seeded(seed: number): (n: number) => number {
  const r = new Rng(seed)
  return (n) => r.int(n)
}

function lease(jobId: string, p: Partial<Lease> = {}): Buffer {
  return serializeLease({
    format: 'tsflink-lease', version: 1, kind: 'job', jobId, owner: { host: 'other-host', pid: 1, startedAt: NOW - DAY },
    renewedAt: NOW - 5_000, ttlMs: 60_000, latestCompleted: null, inProgress: [], savepointsInProgress: [], ended: false, ...p,
  })
}

/** A savepoint directory with one state file and, unless `metadata` is false, its _metadata. */
function savepoint(dir: string, jobId: string, id: number, daysAgo: number, opts: { metadata?: boolean; inProgress?: Buffer } = {}): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'state'), `savepoint ${id}`)
  if (opts.metadata !== false) {
    writeFileSync(join(dir, '_metadata'), serializeMetadata({
      jobId: jobId as never, jobName: 'sp', checkpointId: id as never, timestamp: at(daysAgo).getTime() - 5, completedAt: at(daysAgo).toISOString(),
      kind: { type: 'savepoint', incremental: false, format: 'canonical' }, backend: 'hashmap', program: null, operators: [],
      files: [{ path: 'state', size: `savepoint ${id}`.length }],
    }))
  }
  if (opts.inProgress !== undefined) writeFileSync(join(dir, '_in_progress'), opts.inProgress)
}

describe('prune rules', () => {
  it('keeps the newest N per job and deletes older ones, _metadata included', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 5; i++) h.checkpoint(i, at(10 - i))
    const { deleted } = await prune(root, fs, policy({ keep: 2 }), false)
    assert.deepEqual(chks(root), ['chk-4', 'chk-5'])
    assert.ok(deleted.includes(join(root, JOB, 'chk-1')), 'chk-1 deleted')
    for (const c of h.checkpoints.slice(3)) assert.ok(restoresIdentically(c), 'the kept checkpoint restores')
  })

  it('never deletes the latest valid checkpoint, whatever the policy', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(100))
    h.checkpoint(2, at(50), { withMetadata: false })
    await prune(root, fs, policy({ keep: 0, olderThanMs: 1 }), false)
    assert.ok(existsSync(join(root, JOB, 'chk-1', '_metadata')), 'the latest valid checkpoint stays')
    assert.ok(restoresIdentically(h.checkpoints[0]!), 'the latest valid checkpoint restores')
    assert.equal(existsSync(join(root, JOB, 'chk-2')), false, 'the leftover without _metadata went')
  })

  it('--older-than only deletes checkpoints older than the duration', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(30))
    h.checkpoint(2, at(3))
    h.checkpoint(3, at(1))
    await prune(root, fs, policy({ keep: 1, olderThanMs: 7 * DAY }), false)
    assert.deepEqual(chks(root), ['chk-2', 'chk-3'])
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

  it('rescue follows chains: a kept checkpoint needs chk-1, which needs chk-2', () => {
    const e = (id: number, refs: string[]): SnapshotEntry => ({
      ...entry(`/ck/${JOB}/chk-${id}`, id, `/ck/${JOB}`), references: refs, ownFiles: [`/ck/${JOB}/chk-${id}/s`],
    })
    const inv: Inventory = {
      root: '/ck',
      entries: [e(1, [`/ck/${JOB}/chk-2/s`]), e(2, []), e(3, [`/ck/${JOB}/chk-1/s`])],
      jobs: [{ jobId: JOB, path: `/ck/${JOB}`, recognized: true, lease: undefined, sharedFiles: [] }],
    }
    const plan = planPrune(inv, policy({ keep: 1 }))
    assert.deepEqual(plan.deleteDirs, [])
    assert.deepEqual(plan.keep.map((x) => x.checkpointId), [1, 2, 3])
  })

  it('--older-than is strict: a checkpoint exactly that old stays; one a millisecond older goes', () => {
    const inv: Inventory = {
      root: '/ck',
      entries: [entry(`/ck/${JOB}/chk-1`, 1, `/ck/${JOB}`, NOW - DAY - 1), entry(`/ck/${JOB}/chk-2`, 2, `/ck/${JOB}`, NOW - DAY), entry(`/ck/${JOB}/chk-3`, 3, `/ck/${JOB}`, NOW)],
      jobs: [{ jobId: JOB, path: `/ck/${JOB}`, recognized: true, lease: undefined, sharedFiles: [] }],
    }
    assert.deepEqual(planPrune(inv, policy({ keep: 1, olderThanMs: DAY })).deleteDirs.map((e) => e.checkpointId), [1])
  })

  it('checkpoints with the same id are ordered by completion time; entries whose folder is unknown stay', () => {
    const inv: Inventory = {
      root: '/ck',
      entries: [
        entry(`/ck/${JOB}/chk-7`, 7, `/ck/${JOB}`, NOW - 2 * DAY), entry(`/ck/${JOB}/chk-07`, 7, `/ck/${JOB}`, NOW - DAY),
        entry(`/ck/${JOB2}/chk-1`, 1, `/ck/${JOB2}`, 0), entry(`/ck/${JOB2}/chk-2`, 2, `/ck/${JOB2}`, 1),
      ],
      jobs: [{ jobId: JOB, path: `/ck/${JOB}`, recognized: true, lease: undefined, sharedFiles: [] }],
    }
    const plan = planPrune(inv, policy({ keep: 1 }))
    assert.deepEqual(plan.deleteDirs.map((e) => e.path), [`/ck/${JOB}/chk-7`])
    assert.deepEqual(plan.keep.map((e) => e.path), [`/ck/${JOB}/chk-07`, `/ck/${JOB2}/chk-1`, `/ck/${JOB2}/chk-2`])
  })

  it('a single checkpoint directory as the root: it is reported as kept, never deleted', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(9))
    const r = await prune(join(root, JOB, 'chk-1'), fs, policy({ keep: 0, olderThanMs: 0 }), false)
    assert.deepEqual(r.deleted, [])
    assert.deepEqual(r.plan.keep.map((e) => e.path), [join(root, JOB, 'chk-1')])
  })

  it('a running job\'s references: outside any job folder they change nothing; into another job\'s folder (whatever the file\'s name) they keep its shared files', () => {
    const running = (refs: string[]): Inventory => ({
      root: '/ck',
      entries: [{ ...entry(`/ck/${JOB}/chk-1`, 1, `/ck/${JOB}`), references: refs }],
      jobs: [
        { jobId: JOB, path: `/ck/${JOB}`, recognized: true, lease: undefined, sharedFiles: [] },
        { jobId: JOB2, path: `/ck/${JOB2}`, recognized: true, lease: undefined, sharedFiles: [{ path: `/ck/${JOB2}/shared/${JOB2}`, mtimeMs: 0, size: 1 }, { path: `/ck/${JOB2}/shared/other`, mtimeMs: 0, size: 1 }] },
      ],
    })
    const p = policy({ runningJobs: new Set([JOB]) })
    // A folder whose name merely starts with a job's folder name is not in that job's folder.
    const notInside = ['/elsewhere/x', '/ck/not-a-job/y', `/ck/${JOB2}-copy/shared/z`, `/ck/${JOB2}0/z`]
    assert.deepEqual(planPrune(running(notInside), p).deleteFiles.map((f) => f.path), [`/ck/${JOB2}/shared/${JOB2}`, `/ck/${JOB2}/shared/other`])
    const busy = planPrune(running([`/ck/${JOB2}/shared/${JOB2}`]), p)
    assert.deepEqual(busy.deleteFiles, [])
    assert.ok(busy.notes.some((n) => n.path === `/ck/${JOB2}` && n.reason === 'a running job uses its files: no file in its shared/ or taskowned/ is deleted'), 'the note says why the shared files of the other job stay')
  })

  it('a directory a kept checkpoint takes a file from stays, with what it references', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB, seeded(5))
    h.checkpoint(1, at(9))
    h.checkpoint(2, at(8))
    h.checkpoint(3, at(7))
    // chk-3 builds on a private file of chk-1.
    const meta = JSON.parse(readFileSync(join(root, JOB, 'chk-3', '_metadata'), 'utf8')) as { body: { files: { path: string; size: number }[] } }
    const borrowed = { path: '../chk-1/private-1', size: 'private state of 1'.length }
    writeFileSync(join(root, JOB, "chk-3", "_metadata"), serializeMetadata({ ...(meta.body as unknown as CheckpointMetadata), files: [...meta.body.files, borrowed] }))
    const { deleted, plan } = await prune(root, fs, policy({ keep: 1 }), false)
    assert.deepEqual(chks(root), ['chk-1', 'chk-3'], 'chk-2 went, chk-1 stays for chk-3')
    assert.ok(!deleted.includes(join(root, JOB, 'chk-1')), 'chk-1 stays')
    assert.ok(plan.notes.some((n) => n.path === join(root, JOB, 'chk-1') && /references .*private-1/.test(n.reason)), 'the note names the file a kept checkpoint references')
    assert.ok(restoresIdentically(h.checkpoints[0]!), 'chk-1 whole: what it references stays too')
  })

  for (const [name, makeStorage] of [['filesystem', () => ({ storage: fs as Storage, root: tmp() })], ['S3-like (in memory)', () => ({ storage: new MemoryStorage() as Storage, root: '/bucket/ck' })]] as const) {
    it(`a running job (live lease, no registry entry) keeps its latest, what the lease names, its checkpoints in progress and every shared file: ${name}`, async () => {
      const { storage, root } = makeStorage()
      const w = (rel: string, data: string | Buffer): Promise<void> => storage.write(joinLocation(root, rel), Buffer.from(data))
      const meta = (id: number, files: { path: string; data: string }[], daysAgo: number): Buffer => serializeMetadata({
        jobId: JOB as never, jobName: 'j', checkpointId: id as never, timestamp: at(daysAgo).getTime(), completedAt: at(daysAgo).toISOString(),
        kind: { type: 'checkpoint', incremental: true, format: 'native' }, backend: 'rocksdb', program: null, operators: [],
        files: files.map((f) => ({ path: f.path, size: f.data.length })),
      })
      for (const id of [1, 2, 3]) {
        const files = [{ path: `state-${id}`, data: `s${id}` }, { path: `../shared/sst-${id}`, data: `sst ${id}` }]
        for (const f of files) await w(`${JOB}/chk-${id}/${f.path}`, f.data)
        await w(`${JOB}/chk-${id}/_metadata`, meta(id, files, 10 - id))
      }
      await w(`${JOB}/chk-4/state-4`, 'writing') // in progress
      await w(`${JOB}/chk-5/state-5`, 'writing') // in progress, not named by the lease yet
      await w(`${JOB}/shared/uploading`, 'no _metadata names me yet')
      await w(`${JOB}/_lease`, lease(JOB, { latestCompleted: 2, inProgress: [4] })) // renewed before chk-3 completed
      const before = (await storage.list(root)).map((o) => o.location).sort()
      const { deleted, plan } = await prune(root, storage, policy({ keep: 1, olderThanMs: 0 }), false)
      assert.deepEqual(deleted, [`${root}/${JOB}/chk-1`], 'only the old, unnamed, completed checkpoint goes')
      const after = (await storage.list(root)).map((o) => o.location).sort()
      assert.deepEqual(after, before.filter((l) => !l.startsWith(`${root}/${JOB}/chk-1/`)), 'every shared file stays (even sst-1, which only chk-1 named)')
      assert.ok(plan.notes.some((n) => n.path === `${root}/${JOB}/chk-2` && /lease/.test(n.reason)), 'the note says chk-2 is named by the lease')

      // The job ends (or its lease expires): then its leftovers and unreferenced files go.
      for (const ended of [lease(JOB, { ended: true, latestCompleted: 3 }), lease(JOB, { renewedAt: NOW - 60 * 60_000, latestCompleted: 3 })]) {
        await w(`${JOB}/_lease`, ended)
        await prune(root, storage, policy({ keep: 1 }), true)
      }
      const done = await prune(root, storage, policy({ keep: 1 }), false)
      assert.deepEqual(done.deleted, [`${root}/${JOB}/chk-2`, `${root}/${JOB}/chk-4`, `${root}/${JOB}/chk-5`, `${root}/${JOB}/shared/sst-1`, `${root}/${JOB}/shared/sst-2`, `${root}/${JOB}/shared/uploading`].sort())
    })
  }

  it('an unreadable lease counts as live (fail closed); so does a lease naming another job', async () => {
    for (const bad of [Buffer.from('{"format":"tsflink-lease","vers'), lease(JOB2)]) {
      const root = tmp()
      const h = new HistoryWriter(root, JOB)
      h.checkpoint(1, at(3))
      h.checkpoint(2, at(2))
      h.checkpoint(3, at(0), { withMetadata: false })
      writeFileSync(join(root, JOB, '_lease'), bad)
      const { deleted } = await prune(root, fs, policy({ keep: 1 }), false)
      assert.deepEqual(deleted, [join(root, JOB, 'chk-1')], 'an old checkpoint may go; the one in progress and the shared files stay')
      for (const p of h.checkpoints[2]!.files.keys()) assert.ok(existsSync(p), p)
    }
  })

  it('with several jobs in a root, only the running one is protected', async () => {
    const root = tmp()
    const a = new HistoryWriter(root, JOB, seeded(7))
    const b = new HistoryWriter(root, JOB2, seeded(8))
    for (const h of [a, b]) {
      h.checkpoint(1, at(5))
      h.checkpoint(2, at(4))
      h.checkpoint(3, at(0), { withMetadata: false })
    }
    writeFileSync(join(root, JOB, '_lease'), lease(JOB, { latestCompleted: 2 }))
    const { deleted } = await prune(root, fs, policy({ keep: 1 }), false)
    assert.deepEqual(chks(root, JOB), ['chk-2', 'chk-3'])
    assert.deepEqual(chks(root, JOB2), ['chk-2'])
    assert.ok(deleted.includes(join(root, JOB, 'chk-1')) && deleted.includes(join(root, JOB2, 'chk-3')), 'the old checkpoints of both jobs go')
    assert.ok(restoresIdentically(a.checkpoints[1]!) && restoresIdentically(b.checkpoints[1]!), 'what stays restores')
    for (const p of a.checkpoints[2]!.files.keys()) assert.ok(existsSync(p), `${p}: the running job's checkpoint in progress`)
  })

  it('the local registry adds protection to a job without a lease', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(2))
    h.checkpoint(2, at(0), { withMetadata: false })
    await prune(root, fs, policy({ runningJobs: new Set([JOB]) }), false)
    assert.deepEqual(chks(root), ['chk-1', 'chk-2'])
  })

  it('a job restored in claim mode references the shared files of the job it came from: they stay, also when that job alone is pruned', async () => {
    const root = tmp()
    const a = new HistoryWriter(root, JOB, seeded(11))
    a.checkpoint(1, at(9))
    a.checkpoint(2, at(8))
    // JOB2 restored from JOB's chk-2 in claim mode: its checkpoint references JOB's shared files.
    const bDir = join(root, JOB2, 'chk-3')
    mkdirSync(bDir, { recursive: true })
    const used = [...a.checkpoints[1]!.files.keys()].filter((p) => p.includes('/shared/'))
    writeFileSync(join(bDir, '_metadata'), serializeMetadata({
      jobId: JOB2 as never, jobName: 'b', checkpointId: 3 as never, timestamp: at(1).getTime(), completedAt: at(1).toISOString(),
      kind: { type: 'checkpoint', incremental: true, format: 'native' }, backend: 'rocksdb', program: null, operators: [],
      files: used.map((p) => ({ path: `../../${JOB}/shared/${p.slice(p.lastIndexOf('/') + 1)}`, size: readFileSync(p).length })),
    }))
    const onlyA = await prune(join(root, JOB), fs, policy({ keep: 1 }), false)
    for (const p of used) assert.ok(existsSync(p), `${p} is used by the other job's checkpoint`)
    assert.ok(onlyA.deleted.every((p) => p.startsWith(join(root, JOB) + '/')), 'only files of job A are deleted')
    await prune(root, fs, policy({ keep: 1 }), false)
    for (const p of used) assert.ok(existsSync(p), p)
    // While JOB2 runs, nothing in JOB's shared/ goes: JOB2 may reuse any of it.
    writeFileSync(join(root, JOB, 'shared', 'old-table'), 'unreferenced')
    writeFileSync(join(root, JOB2, '_lease'), lease(JOB2, { latestCompleted: 3 }))
    await prune(root, fs, policy({ keep: 1 }), false)
    assert.ok(existsSync(join(root, JOB, 'shared', 'old-table')), 'the table the claimed checkpoint uses stays')
    rmSync(join(root, JOB2, '_lease'))
    await prune(root, fs, policy({ keep: 1 }), false)
    assert.equal(existsSync(join(root, JOB, 'shared', 'old-table')), false)
  })

  it('savepoints: never without --include-savepoints (two valid ones of a job both stay); with it, the same policy per job', async () => {
    const root = tmp()
    const sp = (n: string): string => join(root, `savepoint-012345-${n.padStart(12, '0')}`)
    savepoint(sp('a'), JOB, 10, 30)
    savepoint(sp('b'), JOB, 20, 20)
    savepoint(sp('c'), JOB, 30, 10)
    let r = await prune(root, fs, policy({ keep: 1, olderThanMs: 0 }), false)
    assert.deepEqual(r.deleted, [])
    // Another job's savepoint, older than all of these: the newest of its own job, so it stays.
    const other = join(root, 'savepoint-fedcba-00000000000z')
    savepoint(other, JOB2, 5, 40)
    r = await prune(root, fs, policy({ keep: 2, includeSavepoints: true }), false)
    assert.deepEqual(r.deleted, [sp('a')])
    assert.ok(existsSync(join(sp('b'), '_metadata')) && existsSync(join(sp('c'), '_metadata')), 'both valid savepoints stay')
    assert.ok(existsSync(join(other, '_metadata')), 'the only savepoint of the other job stays')
  })

  it('a savepoint in progress is never deleted, even with --include-savepoints; one whose _in_progress expired or ended is a leftover', async () => {
    const root = tmp()
    const sp = (n: string): string => join(root, `savepoint-012345-${n.padStart(12, '0')}`)
    const spLease = (p: Partial<Lease> = {}): Buffer => lease(JOB, { kind: 'savepoint', ...p })
    savepoint(sp('live'), JOB, 1, 0, { metadata: false, inProgress: spLease() })
    savepoint(sp('unparsable'), JOB, 2, 0, { metadata: false, inProgress: Buffer.from('garbage') })
    savepoint(sp('done-live'), JOB, 3, 0, { inProgress: spLease() })
    savepoint(sp('expired'), JOB, 4, 0, { metadata: false, inProgress: spLease({ renewedAt: NOW - 2 * 60 * 60_000 }) })
    savepoint(sp('ended'), JOB, 5, 0, { metadata: false, inProgress: spLease({ ended: true }) })
    savepoint(sp('named'), JOB, 6, 0, { metadata: false, inProgress: spLease({ renewedAt: NOW - 2 * 60 * 60_000 }) })
    savepoint(sp('user'), JOB, 7, 0, { metadata: false }) // neither _metadata nor _in_progress: not recognised
    mkdirSync(join(root, JOB2))
    writeFileSync(join(root, JOB2, '_lease'), lease(JOB2, { savepointsInProgress: [`file://${sp('named')}`] }))
    const { deleted } = await prune(root, fs, policy({ keep: 1, olderThanMs: 0, includeSavepoints: true }), false)
    assert.deepEqual(deleted, [sp('ended'), sp('expired')])
    for (const n of ['live', 'unparsable', 'done-live', 'named', 'user']) assert.ok(existsSync(join(sp(n), 'state')), n)
  })

  it('a folder named like a job but holding no _lease or _metadata naming that job is not touched', async () => {
    const root = tmp()
    const user = join(root, 'abcdefabcdefabcdefabcdefabcdef12')
    mkdirSync(join(user, 'chk-1'), { recursive: true })
    mkdirSync(join(user, 'shared'))
    writeFileSync(join(user, 'chk-1', 'thesis.tex'), 'years of work')
    writeFileSync(join(user, 'shared', 'important.db'), 'data')
    // A copied checkpoint whose _metadata names another job does not make the folder a job folder either.
    const copied = join(root, JOB2)
    mkdirSync(join(copied, 'chk-1'), { recursive: true })
    writeFileSync(join(copied, 'chk-1', 'state'), 'x')
    writeFileSync(join(copied, 'chk-1', '_metadata'), serializeMetadata({
      jobId: JOB as never, jobName: 'x', checkpointId: 1 as never, timestamp: 0, completedAt: at(90).toISOString(),
      kind: { type: 'checkpoint', incremental: false, format: 'native' }, backend: 'hashmap', program: null, operators: [], files: [{ path: 'state', size: 1 }],
    }))
    mkdirSync(join(copied, 'chk-2'))
    writeFileSync(join(copied, 'chk-2', 'notes'), 'mine')
    mkdirSync(join(copied, 'shared'))
    writeFileSync(join(copied, 'shared', 'mine'), 'mine')
    const { deleted, plan } = await prune(root, fs, policy({ keep: 0, olderThanMs: 0, includeSavepoints: true }), false)
    assert.deepEqual(deleted, [])
    for (const p of [join(user, 'chk-1', 'thesis.tex'), join(user, 'shared', 'important.db'), join(copied, 'chk-2', 'notes'), join(copied, 'shared', 'mine')]) assert.ok(existsSync(p), p)
    assert.ok(plan.notes.some((n) => n.path === user && /not ours/.test(n.reason)), 'the note says the folder is not ours')
  })

  it('never follows a symbolic link: not a job folder, not a chk-N folder, not shared/', async () => {
    const root = tmp()
    const outside = tmp()
    writeFileSync(join(outside, 'precious'), 'keep me')
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(3))
    h.checkpoint(2, at(2))
    symlinkSync(outside, join(root, JOB, 'shared', 'link-out'))
    symlinkSync(outside, join(root, JOB, 'chk-9'))
    // A job folder that is a link to a job folder elsewhere, with an empty chk-N folder there.
    const elsewhere = tmp()
    const other = new HistoryWriter(elsewhere, JOB2)
    other.checkpoint(1, at(9))
    other.checkpoint(2, at(8))
    mkdirSync(join(elsewhere, JOB2, 'chk-7'))
    symlinkSync(join(elsewhere, JOB2), join(root, JOB2))
    await prune(root, fs, policy({ keep: 1 }), false)
    assert.ok(existsSync(join(outside, 'precious')), 'the file behind the link stays')
    assert.deepEqual(chks(elsewhere, JOB2), ['chk-1', 'chk-2', 'chk-7'], 'nothing behind the link changed')
    assert.ok(restoresIdentically(other.checkpoints[0]!), 'the other checkpoint restores')
  })

  it('a link swapped in after the scan is refused at deletion time, reported, and the rest goes on', async () => {
    const root = tmp()
    const outside = tmp()
    writeFileSync(join(outside, 'precious'), 'keep me')
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 3; i++) h.checkpoint(i, at(10 - i))
    const target = join(root, JOB, 'chk-1')
    const r = await prune(root, fs, policy({ keep: 1 }), {
      onProgress: (p) => {
        if (p.dirsDone > 0 || !existsSync(target)) return
        renameSync(target, join(root, 'moved-away'))
        symlinkSync(outside, target)
      },
    })
    assert.ok(existsSync(join(outside, 'precious')), 'nothing deleted through the link')
    assert.deepEqual(r.failed.map((f) => f.path), [target])
    assert.match(r.failed[0]!.reason, /symbolic link/)
    assert.ok(r.deleted.includes(join(root, JOB, 'chk-2')), 'the rest was pruned')
  })

  it('a _metadata that is a directory is reported, and prune goes on with the rest', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 3; i++) h.checkpoint(i, at(10 - i))
    mkdirSync(join(root, JOB2, 'chk-5', '_metadata'), { recursive: true }) // an empty folder
    writeFileSync(join(root, JOB2, 'chk-5', 'state'), 'state')
    mkdirSync(join(root, JOB2, 'chk-6', '_metadata'), { recursive: true }) // a folder with a file in it
    writeFileSync(join(root, JOB2, 'chk-6', '_metadata', 'part'), 'x')
    writeFileSync(join(root, JOB2, '_lease'), lease(JOB2, { ended: true }))
    const inv = await scanRoot(root, fs)
    for (const n of ['chk-5', 'chk-6']) {
      const odd = inv.entries.find((e) => e.path === join(root, JOB2, n))!
      assert.equal(odd.status, 'corrupt', n)
      assert.match(odd.problem!, /_metadata is a directory/)
    }
    const { deleted, plan, failed } = await prune(root, fs, policy({ keep: 1 }), false)
    assert.deepEqual(failed, [])
    assert.deepEqual(deleted, [join(root, JOB, 'chk-1'), join(root, JOB, 'chk-2')])
    assert.ok(existsSync(join(root, JOB2, 'chk-5', 'state')) && existsSync(join(root, JOB2, 'chk-6', '_metadata', 'part')), 'the other directories stay')
    assert.ok(plan.notes.some((n) => /no shared file is deleted/.test(n.reason)), 'it is unreadable: no shared file can be proven unreferenced')
  })

  it('a deletion that fails is reported and the others go on', async () => {
    const storage = new MemoryStorage()
    const root = '/ck'
    for (let i = 1; i <= 3; i++) {
      await storage.write(`${root}/${JOB}/chk-${i}/s`, Buffer.from('s'))
      await storage.write(`${root}/${JOB}/chk-${i}/_metadata`, serializeMetadata({
        jobId: JOB as never, jobName: 'j', checkpointId: i as never, timestamp: 0, completedAt: at(10 - i).toISOString(),
        kind: { type: 'checkpoint', incremental: false, format: 'native' }, backend: 'hashmap', program: null, operators: [], files: [{ path: 's', size: 1 }],
      }))
    }
    const flaky = Object.assign(Object.create(storage) as MemoryStorage, {
      delete: async (loc: string) => {
        if (loc === `${root}/${JOB}/chk-1/_metadata`) throw Object.assign(new Error('EISDIR: illegal operation on a directory'), { code: 'EISDIR' })
        return storage.delete(loc)
      },
    })
    const r = await prune(root, flaky, policy({ keep: 1 }), false)
    assert.deepEqual(r.failed.map((f) => f.path), [`${root}/${JOB}/chk-1`])
    assert.deepEqual(r.deleted, [`${root}/${JOB}/chk-2`])
  })

  it('the plan never chooses anything outside its root, whatever the inventory holds (/x/ck is not /x/ck2)', () => {
    const inv: Inventory = {
      root: '/x/ck',
      entries: [1, 2, 3].flatMap((i) => [entry(`/x/ck/${JOB}/chk-${i}`, i, `/x/ck/${JOB}`), entry(`/x/ck2/${JOB}/chk-${i}`, i, `/x/ck2/${JOB}`)]),
      jobs: ['/x/ck', '/x/ck2'].map((r) => ({ jobId: JOB, path: `${r}/${JOB}`, recognized: true, lease: undefined, sharedFiles: [{ path: `${r}/${JOB}/shared/f`, mtimeMs: 0, size: 1 }] })),
    }
    const plan = planPrune(inv, policy({ keep: 1 }))
    assert.deepEqual(plan.deleteDirs.map((e) => e.path), [`/x/ck/${JOB}/chk-1`, `/x/ck/${JOB}/chk-2`])
    assert.deepEqual(plan.deleteFiles.map((f) => f.path), [`/x/ck/${JOB}/shared/f`])
  })

  it('says why it leaves each thing alone (the notes prune prints), for what is below its root only', async () => {
    const base = tmp()
    const root = join(base, JOB)
    const h = new HistoryWriter(base, JOB)
    h.checkpoint(1, at(4))
    h.checkpoint(2, at(3))
    h.checkpoint(3, at(2))
    h.checkpoint(4, at(0), { withMetadata: false })
    writeFileSync(join(root, 'shared', 'fresh'), 'uploading')
    writeFileSync(join(root, '_lease'), lease(JOB, { latestCompleted: 2 }))
    writeFileSync(join(root, 'chk-3', 'private-3'), 'changed size')
    // Next to it: a job whose lease cannot be read, and a folder that is not a job's: no notes for them.
    mkdirSync(join(base, JOB2, 'chk-1'), { recursive: true })
    writeFileSync(join(base, JOB2, 'chk-1', 'x'), 'x')
    writeFileSync(join(base, JOB2, '_lease'), 'garbage')
    const plan = (await prune(root, fs, policy({ keep: 1 }), true)).plan
    assert.deepEqual(plan.notes.map((n) => [n.path, n.reason]), [
      [join(root, 'chk-2'), 'named by the live lease of its running job (its latest checkpoint, or one in progress)'],
      [join(root, 'chk-3'), `not valid, left alone: private-3 has 12 bytes, _metadata says ${'private state of 3'.length}`],
      [join(root, 'chk-4'), 'no _metadata, but its job is running: a checkpoint in progress'],
      [root, 'its job is running: no file in its shared/ or taskowned/ is deleted'],
    ])
    assert.deepEqual(plan.deleteDirs.map((e) => e.path), [join(root, 'chk-1')])

    // A job folder as the root whose own lease cannot be read, and whose shared files are all in use: one note.
    const r3 = tmp()
    const c = new HistoryWriter(r3, JOB)
    c.checkpoint(1, at(2))
    writeFileSync(join(r3, JOB, '_lease'), 'garbage')
    const p3 = (await prune(join(r3, JOB), fs, policy({ keep: 1 }), true)).plan
    assert.deepEqual(p3.notes.map((n) => [n.path, n.reason]), [[join(r3, JOB, '_lease'), 'unreadable lease (not JSON): its job counts as running']])

    // A root with an unrecognised folder, an unreadable lease, savepoints, a rescue and an unreadable _metadata.
    const r2 = tmp()
    const a = new HistoryWriter(r2, JOB)
    a.checkpoint(1, at(5))
    a.checkpoint(2, at(4))
    const meta = JSON.parse(readFileSync(join(r2, JOB, 'chk-2', '_metadata'), 'utf8')) as { body: CheckpointMetadata }
    writeFileSync(join(r2, JOB, 'chk-2', '_metadata'), serializeMetadata({ ...meta.body, files: [...meta.body.files, { path: '../chk-1/private-1', size: 'private state of 1'.length }] }))
    mkdirSync(join(r2, JOB2, 'chk-1'), { recursive: true })
    writeFileSync(join(r2, JOB2, 'chk-1', 'x'), 'x')
    writeFileSync(join(r2, JOB2, '_lease'), 'garbage')
    const sp = (n: string): string => join(r2, `savepoint-012345-${n.padStart(12, '0')}`)
    savepoint(sp('a'), JOB, 10, 1, { metadata: false, inProgress: Buffer.from('garbage') })
    savepoint(sp('b'), JOB, 11, 1, { metadata: false, inProgress: lease(JOB, { kind: 'savepoint' }) })
    savepoint(sp('c'), JOB, 12, 1, { metadata: false })
    savepoint(sp('d'), JOB, 13, 1)
    writeFileSync(join(sp('d'), '_metadata'), 'not json')
    savepoint(sp('e'), JOB, 14, 1)
    const p2 = (await prune(r2, fs, policy({ keep: 1 }), true)).plan
    assert.deepEqual(p2.notes.map((n) => [n.path, n.reason]), [
      [join(r2, JOB2), 'named like a job folder, but no _lease or _metadata in it names that job: not ours, left alone'],
      [join(r2, JOB2, '_lease'), 'unreadable lease (not JSON): its job counts as running'],
      [sp('a'), 'a savepoint in progress (unreadable _in_progress: not JSON): never deleted'],
      [sp('b'), 'a savepoint in progress (live _in_progress): never deleted'],
      [sp('c'), 'neither _metadata nor _in_progress: not a savepoint directory tsflink recognises, left alone'],
      [sp('d'), `an incomplete savepoint (${join(sp('d'), '_metadata')} is not a tsflink _metadata file (not JSON; truncated or foreign)); pass --include-savepoints to remove it`],
      [join(r2, JOB, 'chk-1'), `kept: a kept checkpoint references ${join(r2, JOB, 'chk-1', 'private-1')}`],
      [r2, `${sp('d')} has an unreadable _metadata (${join(sp('d'), '_metadata')} is not a tsflink _metadata file (not JSON; truncated or foreign)): no shared file is deleted, since none can be proven unreferenced`],
    ])
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
    assert.ok(existsSync(join(root, JOB, 'README.txt')) && existsSync(join(root, 'not-a-job')), 'unrelated files stay')
    assert.ok(restoresIdentically(h.checkpoints[2]!), 'the latest checkpoint restores')
  })

  it('refuses to run twice at once on one root (also a job folder of it), and takes over a stale lock', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, at(1))
    const release = await acquirePruneLock(root, fs)
    await assert.rejects(prune(root, fs, policy(), false), /Another prune is running on .* \(pid \d+\)/)
    await assert.rejects(prune(join(root, JOB), fs, policy(), false), /Another prune is running/)
    await release()
    writeFileSync(join(root, LOCK_FILE), JSON.stringify({ pid: 999999999, host: hostname(), since: 'long ago' }))
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
    assert.ok(existsSync(join(root, JOB, 'chk-1', '_metadata')), 'a dry run deletes nothing')
    const real = await prune(root, fs, policy({ keep: 2 }), false)
    assert.deepEqual(real.deleted, dry.deleted)
    assert.equal(real.bytesFreed, dry.bytesFreed)
    assert.ok(dry.deleted.length > 0, 'the dry run has something to delete')
  })
})

const CASES = Number(process.env.TSFLINK_PROPERTY_CASES ?? 1000)
const SEED = Number(process.env.TSFLINK_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** Every object below `base`, with its bytes. */
async function snapshot(storage: Storage, base: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const o of await storage.list(base)) out.set(o.location, (await storage.read(o.location)).toString('base64'))
  return out
}

async function runCase(w: World, storage: Storage, features: Map<string, number>, tag: string): Promise<void> {
  await writeWorld(w, storage)
  const expected = oracle(w)
  const p = policy({ ...w.policy, runningJobs: w.registry })
  const sorted = (xs: Iterable<string>): string[] => [...xs].sort()

  const inv = await scanRoot(w.target, storage, { context: true })
  const plan = planPrune(inv, p)
  assert.deepEqual(sorted(plan.deleteDirs.map((e) => e.path)), sorted(expected.dirs), `${tag}: directories to delete`)
  assert.deepEqual(sorted(plan.deleteFiles.map((f) => f.path)), sorted(expected.files), `${tag}: shared files to delete`)
  // Every checkpoint or savepoint directory below the target that does not go is reported as kept.
  const dirsBelow = new Set<string>()
  for (const loc of w.files.keys()) {
    const seg = loc.slice(w.ck.length + 1).split('/')
    if (!loc.startsWith(`${w.ck}/`) || seg.length < 3 && !(seg[0]!.startsWith('savepoint-') && seg.length === 2)) continue
    if (/^[0-9a-f]{32}$/.test(seg[0]!) && /^chk-\d+$/.test(seg[1]!)) dirsBelow.add(`${w.ck}/${seg[0]}/${seg[1]}`)
    else if (seg[0]!.startsWith('savepoint-') && w.target === w.ck) dirsBelow.add(`${w.ck}/${seg[0]}`)
  }
  const expectedKept = [...dirsBelow].filter((d) => d.startsWith(`${w.target}/`) && !expected.dirs.has(d))
  assert.deepEqual(sorted(plan.keep.map((e) => e.path)), sorted(expectedKept), `${tag}: directories kept`)
  const byPath = (xs: string[]): string[] => [...xs].sort((a, b) => a.localeCompare(b))
  for (const list of [plan.deleteDirs.map((e) => e.path), plan.deleteFiles.map((f) => f.path), plan.keep.map((e) => e.path)]) assert.deepEqual(list, byPath(list), `${tag}: listed in path order`)

  // Whatever a scanner might hand it, the plan stays inside its root: add a sibling root's entries.
  const sibling = await scanRoot(`${w.base}/ck2`, storage)
  const merged = planPrune({ root: inv.root, entries: [...inv.entries, ...sibling.entries], jobs: [...inv.jobs, ...sibling.jobs] }, p)
  for (const x of [...merged.deleteDirs.map((e) => e.path), ...merged.deleteFiles.map((f) => f.path)]) {
    assert.ok(x.startsWith(`${w.target}/`), `${tag}: ${x} is outside ${w.target}`)
  }

  const before = await snapshot(storage, w.base)
  const result = await prune(w.target, storage, p, false)
  assert.deepEqual(result.failed, [], `${tag}: no deletion failed`)
  assert.deepEqual(sorted(result.deleted), sorted([...expected.dirs, ...expected.files]), `${tag}: what was deleted`)
  const after = await snapshot(storage, w.base)
  const gone = (loc: string): boolean => expected.files.has(loc) || [...expected.dirs].some((d) => loc.startsWith(`${d}/`))
  assert.deepEqual(sorted(after.keys()), sorted([...before.keys()].filter((l) => !gone(l))), `${tag}: exactly the planned objects are gone`)
  for (const [loc, data] of after) assert.equal(data, before.get(loc), `${tag}: ${loc} unchanged`)

  // Safety, straight from SPEC §3, whatever the oracle says.
  for (const j of w.jobs) {
    const okIds = j.checkpoints.filter((c) => c.meta === 'ok' && c.refs.every((r) => before.has(r.loc) && Buffer.from(before.get(r.loc)!, 'base64').length === r.size))
    const newest = okIds.sort((a, b) => b.id - a.id)[0]
    if (newest !== undefined) {
      assert.ok(after.has(`${newest.dir}/_metadata`), `${tag}: latest valid checkpoint of ${j.id} kept`)
      for (const r of newest.refs) assert.ok(after.has(r.loc), `${tag}: ${r.loc}, needed by the latest valid checkpoint of ${j.id}`)
    }
    if (leaseProtects(j.lease) || w.registry.has(j.id)) {
      for (const loc of before.keys()) {
        const inJob = loc.startsWith(`${j.path}/shared/`) || loc.startsWith(`${j.path}/taskowned/`)
        const inProgress = j.checkpoints.some((c) => c.meta === 'missing' && loc.startsWith(`${c.dir}/`))
        if (inJob || inProgress) assert.ok(after.has(loc), `${tag}: ${loc} of running job ${j.id}`)
      }
    }
  }
  for (const sp of w.savepoints) {
    if (!w.policy.includeSavepoints || leaseProtects(sp.inProgress)) for (const loc of sp.own) assert.ok(after.has(loc) || !before.has(loc), `${tag}: savepoint ${sp.dir}`)
  }

  const count = (f: string): void => void features.set(f, (features.get(f) ?? 0) + 1)
  for (const f of w.features) count(f)
  for (const j of w.jobs) {
    const deletedHere = [...expected.dirs].some((d) => d.startsWith(`${j.path}/`))
    if (j.lease !== 'none') count(`lease ${j.lease}${deletedHere ? ', with deletions' : ''}`)
  }
  for (const sp of w.savepoints) if (sp.inProgress !== 'none') count(`savepoint _in_progress ${sp.inProgress}${w.policy.includeSavepoints ? ' with --include-savepoints' : ''}`)
  if (w.savepoints.some((sp) => expected.dirs.has(sp.dir))) count('savepoint deleted')
  if (w.policy.keep > 1 && w.jobs.some((j) => j.checkpoints.filter((c) => c.meta === 'ok').length > w.policy.keep)) count('keep > 1 with more checkpoints')
  count(`olderThan ${w.policy.olderThanMs === undefined ? 'unset' : 'set'}`)
  if (expected.files.size > 0) count('shared files deleted')
}

describe('prune, property: random roots against an oracle written from the rules', () => {
  it(`${CASES} cases (seed ${SEED}), on the in-memory twin and, every tenth, on real files`, async () => {
    const features = new Map<string, number>()
    const disk = tmp()
    for (let i = 0; i < CASES; i++) {
      const seed = (SEED + i) >>> 0
      const onDisk = i % 10 === 0
      const base = onDisk ? join(disk, String(i)) : `/mem/${i}`
      const w = generate(new Rng(seed), base)
      const tag = `case ${i} (replay: TSFLINK_PROPERTY_SEED=${seed} TSFLINK_PROPERTY_CASES=1${onDisk ? '' : ', in memory'})`
      await runCase(w, onDisk ? fs : new MemoryStorage(), features, tag)
      if (onDisk) rmSync(base, { recursive: true, force: true })
    }
    if (CASES >= 500) {
      const needed = [
        'several jobs per root', 'references across job folders', 'damaged checkpoint', 'user folder named like a job', 'checkpoint naming another job',
        'a job folder as the root', 'rescue of a directory a kept checkpoint uses', 'lease live, with deletions', 'lease live-skew', 'lease expired, with deletions',
        'lease ended, with deletions', 'lease unparsable', 'lease other-job', 'savepoint _in_progress live with --include-savepoints',
        'savepoint _in_progress unparsable with --include-savepoints', 'savepoint _in_progress expired with --include-savepoints', 'savepoint deleted',
        'keep > 1 with more checkpoints', 'olderThan unset', 'olderThan set', 'shared files deleted',
      ]
      for (const f of needed) assert.ok((features.get(f) ?? 0) > 0, `the cases never covered: ${f} (seed ${SEED})`)
    }
  })
})
