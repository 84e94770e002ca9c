/**
 * Incremental checkpoints of the LSM backend under the coordinator, with overlapping checkpoints
 * (a forced checkpoint while a periodic one is pending, then the final checkpoint) and aborted
 * ones: every file a completed checkpoint lists exists, and no shared file is left that no
 * retained checkpoint lists. The oracle is the `_metadata` of the retained checkpoints.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import { CheckpointCoordinator, type CoordinatorContext } from '../src/runtime/checkpoint/coordinator.js'
import { parseMetadata } from '../src/runtime/checkpoint/metadata.js'
import { DEFAULT_CHECKPOINT_SETTINGS, type CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import type { CompletedCheckpoint } from '../src/runtime/checkpoint/snapshot.js'
import { ManualClock } from '../src/runtime/clock.js'
import type { JobId, OperatorId } from '../src/runtime/ids.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { join } from '../src/runtime/storage/paths.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'
import { tmp } from './helpers.js'

const JOB = 'b'.repeat(32) as JobId
const ALL = { start: 0, end: 127 }
const V = new ValueStateDescriptor<number>('v')
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}
/** Waits (bounded) until `cond` holds: local table files are written with real I/O. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 1))
  }
  await settle()
}

/** One keyed task with the LSM backend, checkpointed by a coordinator into an in-memory storage. */
function setup(opts: { timeoutMs?: number } = {}) {
  const clock = new ManualClock(1_000_000)
  const storage = new MemoryStorage()
  const backend = new LsmKeyedStateBackend(ALL, 128, tmp())
  const completed: number[] = []
  let coord!: CheckpointCoordinator
  const ctx: CoordinatorContext = {
    clock, storageFor: () => storage, jobId: JOB, jobName: 'shared', checkpointsDir: '/cp', backend: 'rocksdb', program: null,
    participants: () => ['0#0'],
    startCheckpoint: (b: CheckpointBarrier) => {
      // The task snapshots at the barrier and persists in the background, as StreamTask does.
      const job = backend.snapshot([], b)
      void job.persist({ location: b.location, storage, fileName: (k) => `${k}-${b.id}` }).then(
        (r) => coord.acknowledge(b.id, '0#0', [{
          operatorId: 'op' as OperatorId, uid: 'u', name: 'n', parallelism: 1, maxParallelism: 128, subtask: 0,
          ...(r.handle === undefined ? {} : { keyed: r.handle }), files: r.files,
        }]),
        (err: unknown) => coord.decline(b.id, '0#0', err),
      )
      return true
    },
    notifyComplete: (id) => {
      completed.push(id)
      backend.notifyCheckpointComplete(id)
    },
    notifyAborted: (id) => backend.notifyCheckpointAborted(id),
    failJob: () => {},
  }
  coord = new CheckpointCoordinator(ctx, { ...DEFAULT_CHECKPOINT_SETTINGS, intervalMs: 1000, incremental: true, tolerableFailures: 10, timeoutMs: opts.timeoutMs ?? 600_000 })
  const put = (from: number, to: number): void => {
    const v = backend.getState(V)
    for (let k = from; k < to; k++) {
      backend.currentKey = k
      v.update(k * 10)
    }
  }
  /** Holds the n-th write into shared/ (1-based, counted from now). */
  const holdSharedWrite = (n: number): (() => void) => {
    let seen = 0
    return storage.hold((l) => l.includes('/shared/') && ++seen === n)
  }
  return { clock, storage, backend, coord, completed, put, holdSharedWrite }
}

/** Every file the retained checkpoints list exists; every shared file is listed by one of them. */
async function assertConsistent(storage: MemoryStorage, retained: readonly CompletedCheckpoint[]): Promise<void> {
  const listed = new Set<string>()
  for (const c of retained) {
    const meta = parseMetadata(await storage.read(join(c.location, '_metadata')), c.location)
    for (const f of meta.files) {
      const loc = join(c.location, f.path)
      listed.add(loc)
      assert.equal((await storage.stat(loc))?.size, f.size, `chk-${c.id} lists ${loc}, which must exist with its size`)
    }
  }
  const shared = [...storage.objects.keys()].filter((k) => k.startsWith(`/cp/${JOB}/shared/`))
  assert.deepEqual(shared.filter((k) => !listed.has(k)), [], 'no shared file outside every retained checkpoint')
}

async function assertRestores(storage: MemoryStorage, c: CompletedCheckpoint, keys: number): Promise<void> {
  const meta = parseMetadata(await storage.read(join(c.location, '_metadata')), c.location)
  const handle = meta.operators[0]!.subtasks[0]!.keyed!
  const b = new HeapKeyedStateBackend(ALL, 128)
  await b.restore([{ checkpointDir: c.location, location: c.location, handle }], () => storage)
  const v = b.getState(V)
  for (let k = 0; k < keys; k++) {
    b.currentKey = k
    assert.equal(v.value(), k * 10, `key ${k} restored from chk-${c.id}`)
  }
}

describe('shared state of incremental checkpoints', () => {
  it('overlapping checkpoints: a forced one while a periodic one is pending, then the final one', async () => {
    const h = setup()
    h.put(0, 100)
    // Periodic chk-1 uploads the first table; its upload is held.
    const releaseFirst = h.holdSharedWrite(1)
    const releaseThird = h.holdSharedWrite(3)
    h.coord.start()
    h.clock.advance(1000)
    await settle()
    // More state, then a forced chk-2 while chk-1 is pending: it uploads the first table again
    // (not yet confirmed) and the second one (held).
    h.put(100, 200)
    const forced = h.coord.trigger({ type: 'checkpoint', forced: true })
    await settle()
    releaseFirst()
    await until(() => h.completed.length === 1, 'chk-1 completed')
    assert.deepEqual(h.completed, [1])
    releaseThird()
    await forced
    await settle()
    assert.deepEqual(h.completed, [1, 2])
    // The final checkpoint.
    h.coord.stopPeriodic()
    const final = await h.coord.trigger({ type: 'checkpoint', forced: true })
    await settle()
    await h.coord.settled()
    assert.equal(final.id, 3)
    assert.deepEqual(h.coord.retained().map((c) => c.id), [3])
    await assertConsistent(h.storage, h.coord.retained())
    await assertRestores(h.storage, final, 200)
    h.backend.dispose()
  })

  it('an aborted checkpoint\'s uploads are deleted and never reused', async () => {
    const h = setup({ timeoutMs: 500 })
    h.put(0, 50)
    h.coord.start()
    h.clock.advance(1000)
    await until(() => h.completed.length === 1, 'chk-1 completed')
    // chk-2 uploads a new table, then expires before it completes (its upload is held).
    h.put(50, 80)
    let uploading = false
    const release = h.storage.hold((l) => l.includes('/shared/') && (uploading = true))
    h.clock.advance(1000)
    await until(() => uploading, 'chk-2 uploads')
    h.clock.advance(500)
    assert.equal(h.coord.failed[0]?.id, 2)
    release()
    await settle()
    await h.coord.settled()
    // chk-3 must not reference chk-2's upload; chk-2's upload is gone.
    h.clock.advance(500)
    await until(() => h.completed.length === 2, 'chk-3 completed')
    await h.coord.settled()
    assert.deepEqual(h.completed, [1, 3])
    await assertConsistent(h.storage, h.coord.retained())
    await assertRestores(h.storage, h.coord.latestCompleted()!, 80)
    h.backend.dispose()
  })

  it('a shared file both a subsumed and a pending checkpoint reference survives the subsumption', async () => {
    const h = setup()
    h.put(0, 60)
    h.coord.start()
    h.clock.advance(1000)
    await until(() => h.completed.length === 1, 'chk-1 completed')
    // chk-2 (periodic) and chk-3 (forced) both reuse chk-1's upload; chk-3's ack waits for its new table.
    h.put(60, 70)
    const releaseNewOf3 = h.holdSharedWrite(2)
    h.clock.advance(1000)
    h.put(70, 90)
    const three = h.coord.trigger({ type: 'checkpoint', forced: true })
    await until(() => h.completed.length === 2, 'chk-2 completed')
    assert.deepEqual(h.completed, [1, 2], 'chk-2 completed and subsumed chk-1 while chk-3 is pending')
    releaseNewOf3()
    await three
    await settle()
    await h.coord.settled()
    await assertConsistent(h.storage, h.coord.retained())
    await assertRestores(h.storage, h.coord.latestCompleted()!, 90)
    h.backend.dispose()
  })
})
