/**
 * Prune's rules for Apache Flink's own job folders (src/runtime/checkpoint/prune-plan.ts rules 9
 * and 10), on the pure planner with inventories as the scanner describes Flink folders: a Flink
 * job counts as running until its latest completed checkpoint is older than the checkpoint
 * timeout and no file in its folder is newer than that; then what no kept checkpoint references
 * goes. An unreadable Flink `_metadata`, or a reference outside the folders read, refuses every
 * deletion. The same rules against a real Flink cluster: test/integration/flink-cluster.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Inventory, JobFolder, SnapshotEntry } from '../src/runtime/checkpoint/inventory.js'
import { FLINK_CHECKPOINT_TIMEOUT_MS, planPrune, type PrunePolicy } from '../src/runtime/checkpoint/prune-plan.js'

const JOB = '0123456789abcdef0123456789abcdef'
const JOB2 = 'fedcba9876543210fedcba9876543210'
const FOLDER = `/ck/${JOB}`
const L = 1_700_000_000_000
const T = 15_000

function chk(id: number, references: string[], opts: Partial<SnapshotEntry> = {}): SnapshotEntry {
  const path = `${FOLDER}/chk-${id}`
  return {
    path, jobPath: FOLDER, jobId: JOB, checkpointId: id, type: 'checkpoint', status: 'valid', problem: undefined, unreadable: false,
    metadata: {
      jobId: JOB as never, jobName: '', checkpointId: id as never, timestamp: L - (3 - id) * 1000, completedAt: new Date(L - (3 - id) * 1000).toISOString(),
      kind: { type: 'checkpoint', incremental: true, format: 'canonical' }, backend: 'rocksdb', program: null, operators: [], files: [],
    },
    references, fileProblems: [], sizeBytes: 1, ownFiles: [`${path}/_metadata`, `${path}/private`], ownBytes: 2, mtimeMs: L,
    recognized: true, inProgress: undefined, format: 'flink', ...opts,
  }
}

const shared = (name: string): string => `${FOLDER}/shared/${name}`

function inventory(folder: Partial<JobFolder> = {}, extra: SnapshotEntry[] = []): Inventory {
  return {
    root: '/ck',
    entries: [chk(1, [shared('a'), shared('b'), `${FOLDER}/chk-1/private`]), chk(2, [shared('b'), `${FOLDER}/chk-2/private`]), ...extra],
    jobs: [{
      jobId: JOB, path: FOLDER, recognized: true, lease: undefined, flink: true, latestCompletedMs: L, newestFileMs: L,
      sharedFiles: ['a', 'b', 'c'].map((n) => ({ path: shared(n), mtimeMs: L - 5000, size: 10 })), ...folder,
    }],
  }
}

const policy = (now: number, p: Partial<PrunePolicy> = {}): PrunePolicy =>
  ({ keep: 1, olderThanMs: undefined, includeSavepoints: false, now, runningJobs: new Set(), checkpointTimeoutMs: T, ...p })

const deleted = (inv: Inventory, p: PrunePolicy): { dirs: string[]; files: string[]; refused: string | undefined } => {
  const plan = planPrune(inv, p)
  return { dirs: plan.deleteDirs.map((e) => e.path), files: plan.deleteFiles.map((f) => f.path), refused: plan.refused }
}

describe('prune on Flink job folders', () => {
  it('after latest completed + timeout: the older checkpoint and every shared file the kept one does not reference go', () => {
    assert.deepEqual(deleted(inventory(), policy(L + T + 1)), { dirs: [`${FOLDER}/chk-1`], files: [shared('a'), shared('c')], refused: undefined })
  })

  it('until latest completed + timeout (inclusive) the job may be running: old checkpoints go, no shared file, nor what they referenced', () => {
    assert.deepEqual(deleted(inventory(), policy(L + T)), { dirs: [`${FOLDER}/chk-1`], files: [], refused: undefined })
  })

  it('a file in the folder newer than latest completed + timeout keeps every shared file', () => {
    assert.deepEqual(deleted(inventory({ newestFileMs: L + T + 1 }), policy(L + 10 * T)).files, [])
    assert.deepEqual(deleted(inventory({ newestFileMs: L + T }), policy(L + 10 * T)).files, [shared('a'), shared('c')])
  })

  it('without a configured timeout Flink\'s default (10 min) applies', () => {
    const p = (now: number): PrunePolicy => ({ ...policy(now), checkpointTimeoutMs: undefined })
    assert.deepEqual(deleted(inventory(), p(L + FLINK_CHECKPOINT_TIMEOUT_MS)).files, [])
    assert.deepEqual(deleted(inventory(), p(L + FLINK_CHECKPOINT_TIMEOUT_MS + 1)).files, [shared('a'), shared('c')])
  })

  it('a Flink folder without a valid checkpoint counts as running', () => {
    const inv = inventory({ latestCompletedMs: undefined })
    assert.deepEqual(deleted(inv, policy(L + 100 * T)).files, [])
  })

  it('the latest checkpoint stays whatever --keep says, and a tsflink folder is not judged by Flink\'s rule', () => {
    assert.deepEqual(deleted(inventory(), policy(L + T + 1, { keep: 0 })).dirs, [`${FOLDER}/chk-1`])
    const tsflink = inventory({ flink: false, latestCompletedMs: undefined })
    assert.deepEqual(deleted(tsflink, policy(L)).files, [shared('a'), shared('c')])
  })

  it('an unreadable Flink _metadata refuses every deletion, naming it; an unreadable tsflink one only keeps shared files', () => {
    const broken = chk(3, [], { status: 'corrupt', unreadable: true, metadata: undefined, problem: '/ck/x/chk-3/_metadata: format version 99', checkpointId: 3 })
    const r = deleted(inventory({}, [broken]), policy(L + T + 1))
    assert.deepEqual([r.dirs, r.files], [[], []])
    assert.match(r.refused ?? '', /format version 99; nothing was deleted/)
    const tsflinkBroken = { ...broken, format: 'tsflink' as const }
    const t = deleted(inventory({}, [tsflinkBroken]), policy(L + T + 1))
    assert.equal(t.refused, undefined)
    assert.deepEqual(t.files, [])
  })

  it('a Flink checkpoint referencing a file outside the folders read refuses every deletion; another job folder read is fine', () => {
    const outside = chk(2, [shared('b'), '/elsewhere/ck/shared/b'])
    const inv = inventory()
    inv.entries[1] = outside
    const r = deleted(inv, policy(L + T + 1))
    assert.deepEqual([r.dirs, r.files], [[], []])
    assert.match(r.refused ?? '', /references \/elsewhere\/ck\/shared\/b, outside the folders read/)
    // Claim mode: a reference into another job folder that was read (here, outside the root).
    const claimed = deleted({ ...inventory(), root: FOLDER, jobs: [...inventory().jobs, { ...inventory().jobs[0]!, jobId: JOB2, path: `/ck/${JOB2}`, sharedFiles: [] }] }, policy(L + T + 1))
    assert.equal(claimed.refused, undefined)
    inv.entries[1] = chk(2, [shared('b'), `/ck/${JOB2}/shared/x`])
    const other = deleted({ ...inv, root: FOLDER, jobs: [...inv.jobs, { ...inv.jobs[0]!, jobId: JOB2, path: `/ck/${JOB2}`, sharedFiles: [] }] }, policy(L + T + 1))
    assert.equal(other.refused, undefined)
  })
})
