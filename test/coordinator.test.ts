/**
 * The coordinator's decisions with an injected clock and an in-memory storage: interval, min
 * pause, concurrency, timeout, tolerable failures, subsumption and retention.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CheckpointCoordinator, CheckpointFailure, type CoordinatorContext } from '../src/runtime/checkpoint/coordinator.js'
import { checksumOf, parseMetadata } from '../src/runtime/checkpoint/metadata.js'
import { DEFAULT_CHECKPOINT_SETTINGS, type CheckpointBarrier, type CheckpointSettings } from '../src/runtime/checkpoint/options.js'
import { decideTrigger } from '../src/runtime/checkpoint/request-decider.js'
import { ManualClock } from '../src/runtime/clock.js'
import type { JobId, OperatorId } from '../src/runtime/ids.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'

const JOB = 'a'.repeat(32) as JobId

function harness(settings: Partial<CheckpointSettings>, tasks = ['0#0', '1#0']) {
  const clock = new ManualClock(1_000_000)
  const storage = new MemoryStorage()
  const started: CheckpointBarrier[] = []
  const completed: number[] = []
  const aborted: number[] = []
  const failures: Error[] = []
  const ctx: CoordinatorContext = {
    clock, storageFor: () => storage, jobId: JOB, jobName: 'test', checkpointsDir: '/cp', backend: 'hashmap', program: null,
    participants: () => tasks,
    startCheckpoint: (b) => { started.push(b); return true },
    notifyComplete: (id) => completed.push(id),
    notifyAborted: (id) => aborted.push(id),
    failJob: (e) => failures.push(e),
  }
  const coord = new CheckpointCoordinator(ctx, { ...DEFAULT_CHECKPOINT_SETTINGS, ...settings })
  const ackAll = async (id: number): Promise<void> => {
    for (const t of tasks) {
      await storage.write(`/cp/${JOB}/chk-${id}/state-${t}`, Buffer.from('x'))
      coord.acknowledge(id as never, t, [{ operatorId: 'op' as OperatorId, uid: 'u', name: 'n', parallelism: 1, maxParallelism: 128, subtask: 0, files: [{ path: `state-${t}`, size: 1, checksum: checksumOf(Buffer.from('x')) }] }])
    }
    await new Promise((r) => setImmediate(r))
  }
  return { clock, storage, started, completed, aborted, failures, coord, ackAll }
}

describe('decideTrigger', () => {
  const base = { now: 10_000, pending: 0, lastCompletionAt: undefined, maxConcurrent: 1, minPauseMs: 0, forced: false }
  it('triggers when nothing is pending', () => assert.deepEqual(decideTrigger(base), { action: 'trigger' }))
  it('waits while max concurrent are pending', () => {
    assert.deepEqual(decideTrigger({ ...base, pending: 1 }), { action: 'wait-for-pending' })
    assert.deepEqual(decideTrigger({ ...base, pending: 1, maxConcurrent: 2 }), { action: 'trigger' })
  })
  it('delays until the min pause has passed', () => {
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_800 }), { action: 'delay', delayMs: 300 })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_400 }), { action: 'trigger' })
  })
  it('a min pause means one at a time', () => {
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 1, maxConcurrent: 5, pending: 1 }), { action: 'wait-for-pending' })
  })
  it('savepoints are forced', () => assert.deepEqual(decideTrigger({ ...base, pending: 9, forced: true }), { action: 'trigger' }))
})

describe('CheckpointCoordinator', () => {
  it('triggers on the interval and writes _metadata last', async () => {
    const h = harness({ intervalMs: 1000 })
    h.coord.start()
    h.clock.advance(999)
    assert.equal(h.started.length, 0)
    h.clock.advance(1)
    assert.equal(h.started.length, 1)
    assert.equal(await h.storage.stat(`/cp/${JOB}/chk-1/_metadata`), undefined)
    await h.ackAll(1)
    const meta = parseMetadata(await h.storage.read(`/cp/${JOB}/chk-1/_metadata`), 'test')
    assert.equal(meta.checkpointId, 1)
    assert.deepEqual(meta.files.map((f) => f.path), ['state-0#0', 'state-1#0'])
    assert.deepEqual(h.completed, [1])
  })

  it('does not start a second checkpoint while one is pending (max concurrent 1)', async () => {
    const h = harness({ intervalMs: 100 })
    h.coord.start()
    h.clock.advance(100)
    h.clock.advance(300)
    assert.equal(h.started.length, 1)
    await h.ackAll(1)
    h.clock.advance(0)
    assert.equal(h.started.length, 2, 'the waiting trigger goes as soon as the pending one ends')
  })

  it('allows overlapping checkpoints up to max concurrent', () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 3 })
    h.coord.start()
    h.clock.advance(500)
    assert.equal(h.started.length, 3)
  })

  it('honours the min pause after a completion', async () => {
    const h = harness({ intervalMs: 100, minPauseMs: 1000 })
    h.coord.start()
    h.clock.advance(100)
    await h.ackAll(1)
    h.clock.advance(900)
    assert.equal(h.started.length, 1)
    h.clock.advance(100)
    assert.equal(h.started.length, 2)
  })

  it('expires a checkpoint at its timeout, deletes its files, and counts the failure', async () => {
    const h = harness({ intervalMs: 1000, timeoutMs: 200, tolerableFailures: 1 })
    h.coord.start()
    h.clock.advance(1000)
    await h.storage.write(`/cp/${JOB}/chk-1/partial`, Buffer.from('x'))
    h.clock.advance(200)
    assert.deepEqual(h.aborted, [1])
    await h.coord.settled()
    assert.equal(h.storage.objects.size, 0, 'the expired checkpoint left nothing behind')
    assert.equal(h.failures.length, 0, 'one failure is tolerated')
    h.clock.advance(800)
    h.clock.advance(200)
    assert.equal(h.failures.length, 1, 'the second consecutive failure fails the job')
    assert.match(h.failures[0]!.message, /tolerable failure threshold/)
  })

  it('a success resets the failure count', async () => {
    const h = harness({ intervalMs: 1000, timeoutMs: 200, tolerableFailures: 1 })
    h.coord.start()
    h.clock.advance(1200)
    assert.equal(h.coord.consecutiveFailures, 1)
    h.clock.advance(800)
    await h.ackAll(2)
    assert.equal(h.coord.consecutiveFailures, 0)
  })

  it('keeps num-retained checkpoints and deletes subsumed ones, _metadata first', async () => {
    const h = harness({ intervalMs: 100, numRetained: 2 })
    h.coord.start()
    for (let id = 1; id <= 4; id++) {
      h.clock.advance(100)
      await h.ackAll(id)
    }
    await h.coord.settled()
    const dirs = new Set([...h.storage.objects.keys()].map((k) => k.split('/')[3]))
    assert.deepEqual([...dirs].sort(), ['chk-3', 'chk-4'])
    assert.deepEqual(h.coord.retained().map((c) => c.id), [3, 4])
  })

  it('a declined checkpoint is aborted', () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 5 })
    h.coord.start()
    h.clock.advance(100)
    h.coord.decline(1 as never, '0#0', new Error('disk full'))
    assert.deepEqual(h.aborted, [1])
    assert.match(h.coord.failed[0]!.message, /disk full/)
  })

  for (const [retention, status, kept] of [
    ['NO_EXTERNALIZED_CHECKPOINTS', 'CANCELED', false],
    ['NO_EXTERNALIZED_CHECKPOINTS', 'FAILED', false],
    ['RETAIN_ON_CANCELLATION', 'CANCELED', true],
    ['RETAIN_ON_CANCELLATION', 'FAILED', true],
    ['RETAIN_ON_CANCELLATION', 'FINISHED', false],
    ['DELETE_ON_CANCELLATION', 'CANCELED', false],
    ['DELETE_ON_CANCELLATION', 'FAILED', true],
  ] as const) {
    it(`${retention} ${kept ? 'keeps' : 'deletes'} checkpoints when the job is ${status}`, async () => {
      const h = harness({ intervalMs: 100, retention })
      h.coord.start()
      h.clock.advance(100)
      await h.ackAll(1)
      await h.coord.shutdown(status)
      assert.equal(h.storage.objects.size > 0, kept)
    })
  }
})

describe('CheckpointCoordinator: an abort during the _metadata write', () => {
  const isMetadata = (l: string): boolean => l.endsWith('/_metadata')
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

  /** Every task acknowledged checkpoint 1 and its `_metadata` write is held open. */
  async function heldFinalize(settings: Partial<CheckpointSettings>) {
    const h = harness({ intervalMs: 1000, ...settings })
    h.coord.start()
    h.clock.advance(1000)
    const release = h.storage.hold(isMetadata)
    const result = h.coord.trigger({ type: 'checkpoint', forced: true }).then(
      (c) => ({ ok: true as const, c }), (e: unknown) => ({ ok: false as const, e }),
    )
    await h.ackAll(1)
    await h.ackAll(2)
    return { ...h, release, result }
  }

  const leftovers = (h: { storage: MemoryStorage }, id: number): string[] =>
    [...h.storage.objects.keys()].filter((k) => k.startsWith(`/cp/${JOB}/chk-${id}/`))

  it('a timeout during the write: the checkpoint fails and nothing of it remains once the write ends', async () => {
    const h = await heldFinalize({ timeoutMs: 500, tolerableFailures: 5 })
    h.clock.advance(500)
    assert.deepEqual(h.aborted, [1, 2])
    h.release()
    await h.coord.settled()
    assert.deepEqual(leftovers(h, 1), [], 'no _metadata over deleted files')
    assert.deepEqual(leftovers(h, 2), [])
    assert.equal(h.coord.latestCompleted(), undefined)
    assert.deepEqual(h.completed, [])
    const r = await h.result
    assert.equal(r.ok, false)
  })

  it('abortAll (failover, cancel) during the write: nothing remains once the write ends', async () => {
    const h = await heldFinalize({})
    h.coord.abortAll('JOB_FAILOVER', 'failover')
    h.release()
    await h.coord.settled()
    assert.deepEqual(leftovers(h, 1), [])
    assert.deepEqual(leftovers(h, 2), [])
    assert.equal(h.coord.latestCompleted(), undefined)
    assert.deepEqual(h.completed, [])
    const r = await h.result
    assert.ok(!r.ok && r.e instanceof CheckpointFailure && r.e.reason === 'JOB_FAILOVER')
  })

  it('shutdown during the write waits for it and leaves no checkpoint', async () => {
    const h = await heldFinalize({ retention: 'RETAIN_ON_CANCELLATION' })
    const done = h.coord.shutdown('CANCELED')
    let ended = false
    void done.then(() => (ended = true))
    await settle()
    assert.equal(ended, false, 'shutdown waits for the write to end')
    h.release()
    await done
    assert.deepEqual(leftovers(h, 1), [])
    assert.deepEqual(leftovers(h, 2), [])
  })

  it('a checkpoint subsumed during its write is discarded after it; the newer one is retained', async () => {
    const h = harness({ intervalMs: 1000, maxConcurrent: 2 })
    h.coord.start()
    h.clock.advance(1000)
    const release = h.storage.hold((l) => l === `/cp/${JOB}/chk-1/_metadata`)
    h.clock.advance(1000)
    assert.equal(h.started.length, 2)
    await h.ackAll(1)
    await h.ackAll(2)
    await settle()
    assert.deepEqual(h.completed, [2])
    assert.deepEqual(h.aborted, [1])
    release()
    await h.coord.settled()
    assert.deepEqual(leftovers(h, 1), [])
    assert.ok(h.storage.objects.has(`/cp/${JOB}/chk-2/_metadata`))
    assert.deepEqual(h.coord.retained().map((c) => c.id), [2])
  })

  it('a failed _metadata write discards the checkpoint and counts as a failure', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 0 })
    h.coord.start()
    h.clock.advance(1000)
    h.storage.failWrites = new Error('disk gone')
    for (const t of ['0#0', '1#0']) {
      h.storage.objects.set(`/cp/${JOB}/chk-1/state-${t}`, { data: Buffer.from('x'), mtimeMs: 0 })
      h.coord.acknowledge(1 as never, t, [{ operatorId: 'op' as OperatorId, uid: 'u', name: 'n', parallelism: 1, maxParallelism: 128, subtask: 0, files: [{ path: `state-${t}`, size: 1, checksum: checksumOf(Buffer.from('x')) }] }])
    }
    await h.coord.settled()
    await settle()
    await h.coord.settled()
    assert.deepEqual(leftovers(h, 1), [])
    assert.equal(h.coord.failed[0]?.reason, 'FINALIZE_CHECKPOINT_FAILURE')
    assert.match(h.coord.failed[0]!.message, /disk gone/)
    assert.equal(h.failures.length, 1)
  })
})

describe('CheckpointCoordinator: acknowledged files must exist before _metadata and before subsumption', () => {
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r))
  const ack = (h: ReturnType<typeof harness>, id: number, task: string, dir: string, path: string, size: number): void =>
    h.coord.acknowledge(id as never, task, [{ operatorId: 'op' as OperatorId, uid: 'u', name: 'n', parallelism: 1, maxParallelism: 128, subtask: 0, files: [{ path, size, checksum: 'crc32:00000000' }] }])
  const put = (h: ReturnType<typeof harness>, location: string, bytes = 1): void => {
    h.storage.objects.set(location, { data: Buffer.alloc(bytes, 1), mtimeMs: 0 })
  }
  const finish = async (h: ReturnType<typeof harness>): Promise<void> => {
    for (let i = 0; i < 4; i++) await settle()
    await h.coord.settled()
  }

  it('a file deleted between its acknowledgement and the finalize fails the checkpoint, naming the file', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 5 })
    h.coord.start()
    h.clock.advance(1000)
    const dir = `/cp/${JOB}/chk-1`
    put(h, `${dir}/a`)
    put(h, `${dir}/b`)
    ack(h, 1, '0#0', dir, 'a', 1)
    h.storage.objects.delete(`${dir}/a`)
    ack(h, 1, '1#0', dir, 'b', 1)
    await finish(h)
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.deepEqual(h.completed, [])
    assert.equal(h.coord.latestCompleted(), undefined)
    assert.equal(h.coord.failed[0]!.reason, 'FINALIZE_CHECKPOINT_FAILURE')
    assert.match(h.coord.failed[0]!.message, new RegExp(`before writing _metadata.*${dir}/a \\(missing\\)`))
    assert.doesNotMatch(h.coord.failed[0]!.message, new RegExp(`${dir}/b`))
  })

  it('a file whose size changed fails the checkpoint', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 5 })
    h.coord.start()
    h.clock.advance(1000)
    const dir = `/cp/${JOB}/chk-1`
    put(h, `${dir}/a`, 7)
    put(h, `${dir}/b`, 3)
    ack(h, 1, '0#0', dir, 'a', 7)
    ack(h, 1, '1#0', dir, 'b', 4)
    await finish(h)
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.match(h.coord.failed[0]!.message, /chk-1\/b \(size 3, recorded 4\)/)
  })

  it('a shared file (outside the checkpoint folder) is checked too', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 5 })
    h.coord.start()
    h.clock.advance(1000)
    const dir = `/cp/${JOB}/chk-1`
    put(h, `${dir}/a`)
    ack(h, 1, '0#0', dir, 'a', 1)
    ack(h, 1, '1#0', dir, '../shared/s1.sst', 1)
    await finish(h)
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.match(h.coord.failed[0]!.message, new RegExp(`/cp/${JOB}/shared/s1.sst \\(missing\\)`))
  })

  it('a file deleted during the _metadata write: the new checkpoint fails, its _metadata is removed, the previous one is kept', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 5 })
    h.coord.start()
    h.clock.advance(1000)
    await h.ackAll(1)
    assert.deepEqual(h.completed, [1])
    const before = [...h.storage.objects.keys()].filter((k) => k.includes('/chk-1/')).sort()
    h.clock.advance(1000)
    const dir = `/cp/${JOB}/chk-2`
    const release = h.storage.hold((l) => l === `${dir}/_metadata`)
    put(h, `${dir}/a`)
    put(h, `${dir}/b`)
    ack(h, 2, '0#0', dir, 'a', 1)
    ack(h, 2, '1#0', dir, 'b', 1)
    await settle()
    h.storage.objects.delete(`${dir}/b`)
    release()
    await finish(h)
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false, 'no _metadata over a missing file')
    assert.deepEqual(h.completed, [1])
    assert.deepEqual(h.coord.retained().map((c) => c.id), [1], 'the previous checkpoint is not subsumed')
    assert.deepEqual([...h.storage.objects.keys()].filter((k) => k.includes('/chk-1/')).sort(), before)
    assert.match(h.coord.failed[0]!.message, /after writing _metadata.*chk-2\/b \(missing\)/)
  })

  it('a savepoint whose file vanished fails (it is never reported completed) and leaves no _metadata', async () => {
    const h = harness({})
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }).then(
      (c) => ({ ok: true as const, c }), (e: unknown) => ({ ok: false as const, e }),
    )
    const dir = h.started[0]!.location
    assert.match(dir, /^\/sp\/savepoint-aaaaaa-[0-9a-f]{12}$/)
    put(h, `${dir}/a`)
    put(h, `${dir}/b`)
    ack(h, 1, '0#0', dir, 'a', 1)
    h.storage.objects.delete(`${dir}/a`)
    ack(h, 1, '1#0', dir, 'b', 1)
    const r = await sp
    assert.equal(r.ok, false)
    assert.ok(!r.ok && r.e instanceof Error)
    assert.match((r as { e: Error }).e.message, new RegExp(`Savepoint 1 at ${dir} could not be finalized: .*${dir}/a \\(missing\\)`))
    await h.coord.settled()
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.deepEqual(h.completed, [])
    assert.equal(h.coord.history.length, 0)
  })
})
