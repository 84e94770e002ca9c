/**
 * The coordinator's decisions with an injected clock and an in-memory storage: triggering
 * (interval, min pause, concurrency, forced checkpoints, savepoints), acknowledgements and the
 * `_metadata` they produce, timeouts and tolerable failures, subsumption and retention, aborts
 * racing the `_metadata` write, the existence check of acknowledged files, shared files, and the
 * job's and savepoints' leases. Oracles are written from the settings and the files acknowledged.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CheckpointCoordinator, CheckpointFailure, type CoordinatorContext } from '../src/runtime/checkpoint/coordinator.js'
import { isLeaseLive, parseLease, type Lease } from '../src/runtime/checkpoint/lease.js'
import { checksumOf, parseMetadata, type CheckpointMetadata, type FileReference } from '../src/runtime/checkpoint/metadata.js'
import { DEFAULT_CHECKPOINT_SETTINGS, type CheckpointBarrier, type CheckpointSettings } from '../src/runtime/checkpoint/options.js'
import { decideTrigger } from '../src/runtime/checkpoint/request-decider.js'
import type { CompletedCheckpoint, OperatorSubtaskSnapshot } from '../src/runtime/checkpoint/snapshot.js'
import { ManualClock } from '../src/runtime/clock.js'
import { StateError } from '../src/runtime/errors.js'
import type { JobId, OperatorId } from '../src/runtime/ids.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'

const JOB = 'a'.repeat(32) as JobId
const T0 = 1_000_000
const X = Buffer.from('x')
const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r))
}

interface HarnessOptions {
  tasks?: string[]
  restoredFrom?: CompletedCheckpoint
  /** startCheckpoint answers false (the job is not running). */
  notRunning?: boolean
}

function harness(settings: Partial<CheckpointSettings>, o: HarnessOptions = {}) {
  const tasks = o.tasks ?? ['0#0', '1#0']
  const clock = new ManualClock(T0)
  const storage = new MemoryStorage()
  const started: CheckpointBarrier[] = []
  const completed: [number, boolean][] = []
  const aborted: number[] = []
  const failures: Error[] = []
  /** What storage held when each barrier went out. */
  const atBarrier: string[][] = []
  const ctx: CoordinatorContext = {
    clock, storageFor: () => storage, jobId: JOB, jobName: 'test', checkpointsDir: '/cp', backend: 'hashmap', program: { file: '/j.ts', args: ['a'] },
    participants: () => tasks,
    startCheckpoint: (b) => {
      started.push(b)
      atBarrier.push([...storage.objects.keys()])
      return o.notRunning !== true
    },
    notifyComplete: (id, isSavepoint) => completed.push([id, isSavepoint]),
    notifyAborted: (id) => aborted.push(id),
    failJob: (e) => failures.push(e),
  }
  const coord = new CheckpointCoordinator(ctx, { ...DEFAULT_CHECKPOINT_SETTINGS, ...settings }, o.restoredFrom, { renewIntervalMs: 10_000, ttlMs: 60_000 })
  const snapshot = (id: number, task: string, files: FileReference[], extra: Partial<OperatorSubtaskSnapshot> = {}): OperatorSubtaskSnapshot =>
    ({ operatorId: 'op' as OperatorId, uid: 'u', name: 'n', parallelism: 1, maxParallelism: 128, subtask: 0, files, ...extra })
  const locationOf = (id: number): string => started.find((b) => b.id === id)!.location
  /** Every task writes one state file into the checkpoint's folder and acknowledges it. */
  const ackAll = async (id: number): Promise<void> => {
    for (const t of tasks) {
      await storage.write(`${locationOf(id)}/state-${t}`, X)
      coord.acknowledge(id as never, t, [snapshot(id, t, [{ path: `state-${t}`, size: 1, checksum: checksumOf(X) }])])
    }
    await settle()
  }
  const put = (location: string, bytes = 1): FileReference => {
    storage.objects.set(location, { data: Buffer.alloc(bytes, 1), mtimeMs: 0 })
    return { path: location.slice(location.lastIndexOf('/') + 1), size: bytes, checksum: checksumOf(Buffer.alloc(bytes, 1)) }
  }
  const metadataOf = async (location: string): Promise<CheckpointMetadata> => parseMetadata(await storage.read(`${location}/_metadata`), location)
  const lease = async (location = `/cp/${JOB}/_lease`): Promise<Lease> => {
    const p = parseLease(await storage.read(location))
    assert.ok(p.ok, 'the lease parses')
    return p.lease
  }
  const outcome = (p: Promise<CompletedCheckpoint>) => p.then((c) => ({ ok: true as const, c }), (e: unknown) => ({ ok: false as const, e: e as Error }))
  const under = (prefix: string): string[] => [...storage.objects.keys()].filter((k) => k.startsWith(prefix)).sort()
  return { clock, storage, started, completed, aborted, failures, atBarrier, coord, ackAll, snapshot, put, metadataOf, lease, outcome, locationOf, under, tasks }
}

type H = ReturnType<typeof harness>

describe('decideTrigger', () => {
  const base = { now: 10_000, pending: 0, lastCompletionAt: undefined, maxConcurrent: 1, minPauseMs: 0, forced: false }
  it('triggers when nothing is pending', () => assert.deepEqual(decideTrigger(base), { action: 'trigger' }))
  it('waits while max concurrent are pending', () => {
    assert.deepEqual(decideTrigger({ ...base, pending: 1 }), { action: 'wait-for-pending' })
    assert.deepEqual(decideTrigger({ ...base, pending: 1, maxConcurrent: 2 }), { action: 'trigger' })
    assert.deepEqual(decideTrigger({ ...base, pending: 2, maxConcurrent: 2 }), { action: 'wait-for-pending' })
  })
  it('delays until the min pause has passed', () => {
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_800 }), { action: 'delay', delayMs: 300 })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_500 }), { action: 'trigger' })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_400 }), { action: 'trigger' })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: undefined }), { action: 'trigger' })
  })
  it('a min pause means one at a time', () => {
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 1, maxConcurrent: 5, pending: 1 }), { action: 'wait-for-pending' })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 1, maxConcurrent: 5, pending: 0, lastCompletionAt: 0 }), { action: 'trigger' })
  })
  it('forced requests always go', () => {
    assert.deepEqual(decideTrigger({ ...base, pending: 9, forced: true }), { action: 'trigger' })
    assert.deepEqual(decideTrigger({ ...base, minPauseMs: 500, lastCompletionAt: 9_999, forced: true }), { action: 'trigger' })
  })
})

describe('CheckpointCoordinator: periodic triggering', () => {
  it('triggers on the interval and writes _metadata last', async () => {
    const h = harness({ intervalMs: 1000 })
    assert.equal(h.coord.periodic, true)
    await h.coord.start()
    h.clock.advance(999)
    assert.equal(h.started.length, 0)
    h.clock.advance(1)
    assert.equal(h.started.length, 1)
    assert.equal(h.coord.pendingCount, 1)
    assert.equal(await h.storage.stat(`/cp/${JOB}/chk-1/_metadata`), undefined)
    await h.ackAll(1)
    const meta = await h.metadataOf(`/cp/${JOB}/chk-1`)
    assert.equal(meta.checkpointId, 1)
    assert.deepEqual(meta.files.map((f) => f.path), ['state-0#0', 'state-1#0'])
    assert.deepEqual(h.completed, [[1, false]])
    assert.equal(h.coord.pendingCount, 0)
  })

  it('without an interval nothing is triggered and no lease is written', async () => {
    const h = harness({ intervalMs: undefined })
    assert.equal(h.coord.periodic, false)
    await h.coord.start()
    h.clock.advance(1_000_000)
    assert.deepEqual(h.started, [])
    assert.deepEqual([...h.storage.objects.keys()], [])
  })

  it('start twice keeps one timer; stopPeriodic stops; start again resumes', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 10 })
    await h.coord.start()
    await h.coord.start()
    h.clock.advance(100)
    assert.equal(h.started.length, 1)
    h.coord.stopPeriodic()
    h.clock.advance(1000)
    assert.equal(h.started.length, 1)
    await h.coord.start()
    h.clock.advance(100)
    assert.equal(h.started.length, 2)
  })

  it('does not start a second checkpoint while one is pending (max concurrent 1); the waiting trigger goes when it ends', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(100)
    h.clock.advance(300)
    assert.equal(h.started.length, 1)
    await h.ackAll(1)
    assert.equal(h.started.length, 1)
    h.clock.advance(0)
    assert.equal(h.started.length, 2)
    // Then the interval again.
    h.clock.advance(99)
    assert.equal(h.started.length, 2)
  })

  it('a waiting trigger does not go after stopPeriodic', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(200)
    h.coord.stopPeriodic()
    await h.ackAll(1)
    h.clock.advance(1000)
    assert.equal(h.started.length, 1)
  })

  it('allows overlapping checkpoints up to max concurrent', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 3 })
    await h.coord.start()
    h.clock.advance(500)
    assert.equal(h.started.length, 3)
    assert.equal(h.coord.pendingCount, 3)
  })

  it('honours the min pause after a completion', async () => {
    const h = harness({ intervalMs: 100, minPauseMs: 1000 })
    await h.coord.start()
    h.clock.advance(100)
    await h.ackAll(1)
    h.clock.advance(999)
    assert.equal(h.started.length, 1)
    h.clock.advance(1)
    assert.equal(h.started.length, 2)
  })

  it('a trigger that waited for a pending one with a min pause goes after the pause', async () => {
    const h = harness({ intervalMs: 100, minPauseMs: 300 })
    await h.coord.start()
    h.clock.advance(100)
    h.clock.advance(200) // the tick at 200 waits for checkpoint 1
    await h.ackAll(1)
    h.clock.advance(299)
    assert.equal(h.started.length, 1)
    h.clock.advance(1)
    assert.equal(h.started.length, 2)
  })
})

describe('CheckpointCoordinator: triggers on request', () => {
  it('a checkpoint on request is refused while max concurrent are pending, unless forced', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(100)
    await assert.rejects(h.coord.trigger({ type: 'checkpoint' }), (e: unknown) => e instanceof StateError && /Too many checkpoints in progress/.test(e.message))
    assert.equal(h.started.length, 1)
    const forced = h.coord.trigger({ type: 'checkpoint', forced: true })
    assert.equal(h.started.length, 2)
    await h.ackAll(2)
    assert.equal((await forced).id, 2)
  })

  it('a checkpoint on request ignores the min pause and goes when nothing is pending', async () => {
    const h = harness({ intervalMs: 100, minPauseMs: 10_000 })
    await h.coord.start()
    h.clock.advance(100)
    await h.ackAll(1)
    const c = h.coord.trigger({ type: 'checkpoint' })
    assert.equal(h.started.length, 2)
    await h.ackAll(2)
    assert.equal((await c).id, 2)
  })

  it('a checkpoint on request before any start writes the job lease first', async () => {
    const h = harness({})
    const c = h.coord.trigger({ type: 'checkpoint', forced: true })
    assert.equal(h.started.length, 0)
    await settle()
    assert.equal(h.started.length, 1)
    assert.ok(h.atBarrier[0]!.includes(`/cp/${JOB}/_lease`), 'the lease of the job exists before the first barrier goes out')
    assert.deepEqual((await h.lease()).inProgress, [1])
    await h.ackAll(1)
    await c
  })

  it('the barrier says what to snapshot: ids in sequence, location, type, format, incremental, stop', async () => {
    const h = harness({ intervalMs: 100, incremental: true, maxConcurrent: 9 })
    await h.coord.start()
    h.clock.advance(100)
    void h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }).catch(() => {})
    void h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp', format: 'native', stop: { drain: true } }).catch(() => {})
    void h.coord.trigger({ type: 'checkpoint', forced: true, format: 'canonical' }).catch(() => {})
    await settle()
    const [a, b, c, d] = [...h.started].sort((x, y) => x.id - y.id)
    assert.deepEqual(a, { id: 1, timestamp: T0 + 100, type: 'checkpoint', format: 'native', location: `/cp/${JOB}/chk-1`, incremental: true })
    assert.equal(b!.type, 'savepoint')
    assert.equal(b!.format, 'canonical')
    assert.equal(b!.incremental, false)
    assert.equal(b!.stop, undefined)
    assert.match(b!.location, /^\/sp\/savepoint-aaaaaa-[0-9a-f]{12}$/)
    assert.deepEqual([c!.format, c!.stop], ['native', { drain: true }])
    assert.notEqual(b!.location, c!.location)
    assert.deepEqual([d!.id, d!.format, d!.location, d!.incremental], [4, 'canonical', `/cp/${JOB}/chk-4`, true])
    await h.coord.shutdown('CANCELED')
  })

  it('ids continue after the checkpoint the job restored from', async () => {
    const h = harness({}, { restoredFrom: { id: 41 as never, location: '/old/chk-41', metadata: {} as never } })
    void h.coord.trigger({ type: 'checkpoint', forced: true }).catch(() => {})
    await settle()
    assert.equal(h.started[0]!.id, 42)
    await h.coord.shutdown('CANCELED')
  })

  it('a savepoint needs a directory; the refusal takes no id', async () => {
    const h = harness({})
    await assert.rejects(h.coord.trigger({ type: 'savepoint' }), /No savepoint directory given/)
    void h.coord.trigger({ type: 'checkpoint', forced: true }).catch(() => {})
    await settle()
    assert.equal(h.started[0]!.id, 1)
    await h.coord.shutdown('CANCELED')
  })

  it('a job that is not running declines at once', async () => {
    const h = harness({ tolerableFailures: 5 }, { notRunning: true })
    const r = await h.outcome(h.coord.trigger({ type: 'checkpoint', forced: true }))
    assert.ok(!r.ok && r.e instanceof CheckpointFailure, 'a CheckpointFailure')
    assert.equal((r.e as CheckpointFailure).reason, 'CHECKPOINT_DECLINED')
    assert.match(r.e.message, /Checkpoint 1 could not start: the job is not running/)
    assert.deepEqual(h.aborted, [1])
  })
})

describe('CheckpointCoordinator: acknowledgements and _metadata', () => {
  it('writes every operator, subtask and file, sorted, with the job, kind, backend, program and times', async () => {
    const h = harness({ intervalMs: 1000 }, { tasks: ['1#1', '0#0', '1#0'] })
    await h.coord.start()
    h.clock.advance(1000)
    const dir = h.locationOf(1)
    const f = (name: string): FileReference => h.put(`${dir}/${name}`)
    h.clock.advance(5)
    h.coord.acknowledge(1 as never, '1#1', [h.snapshot(1, '1#1', [f('k-b1')], { operatorId: 'b' as OperatorId, uid: null, name: 'B', parallelism: 2, subtask: 1, keyed: { file: 'k-b1', keyGroupRange: [64, 127], keyGroups: [] } })])
    h.coord.acknowledge(1 as never, '0#0', [
      h.snapshot(1, '0#0', [f('o-a0')], { operatorId: 'a' as OperatorId, uid: 'ua', name: 'A', operator: { file: 'o-a0', states: { s: 'union' } } }),
      h.snapshot(1, '0#0', [], { operatorId: 'c' as OperatorId, uid: 'uc', name: 'C' }),
    ])
    h.coord.acknowledge(1 as never, '1#0', [h.snapshot(1, '1#0', [f('k-b0')], { operatorId: 'b' as OperatorId, uid: null, name: 'B', parallelism: 2, subtask: 0, keyed: { file: 'k-b0', keyGroupRange: [0, 63], keyGroups: [] } })])
    await settle()
    const m = await h.metadataOf(dir)
    assert.deepEqual(m, {
      jobId: JOB, jobName: 'test', checkpointId: 1, timestamp: T0 + 1000, completedAt: new Date(T0 + 1005).toISOString(),
      kind: { type: 'checkpoint', incremental: false, format: 'native' }, backend: 'hashmap', program: { file: '/j.ts', args: ['a'] },
      operators: [
        { operatorId: 'a', uid: 'ua', name: 'A', parallelism: 1, maxParallelism: 128, subtasks: [{ subtask: 0, operator: { file: 'o-a0', states: { s: 'union' } } }] },
        {
          operatorId: 'b', uid: null, name: 'B', parallelism: 2, maxParallelism: 128, subtasks: [
            { subtask: 0, keyed: { file: 'k-b0', keyGroupRange: [0, 63], keyGroups: [] } },
            { subtask: 1, keyed: { file: 'k-b1', keyGroupRange: [64, 127], keyGroups: [] } },
          ],
        },
        { operatorId: 'c', uid: 'uc', name: 'C', parallelism: 1, maxParallelism: 128, subtasks: [{ subtask: 0 }] },
      ],
      files: [f('k-b0'), f('k-b1'), f('o-a0')],
    })
    const [c] = h.coord.retained()
    assert.deepEqual(c, { id: 1, location: dir, metadata: m })
    // The sizes the REST statistics report: every referenced byte; a first checkpoint wrote all of them itself.
    const bytes = m.files.reduce((n, x) => n + x.size, 0)
    assert.deepEqual(h.coord.history, [{ id: 1, type: 'checkpoint', location: dir, triggeredAt: T0 + 1000, completedAt: T0 + 1005, stateSize: bytes, checkpointedSize: bytes, persistedData: 0 }])
  })

  it('acknowledgements of unknown tasks, repeated ones and those after all arrived are ignored', async () => {
    const h = harness({ intervalMs: 1000 })
    await h.coord.start()
    h.clock.advance(1000)
    const dir = h.locationOf(1)
    const a = h.put(`${dir}/a`)
    h.coord.acknowledge(1 as never, '9#9', [h.snapshot(1, '9#9', [a])])
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [a])])
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [h.put(`${dir}/dup`)])])
    assert.equal(h.coord.pendingCount, 1)
    h.coord.acknowledge(1 as never, '1#0', [h.snapshot(1, '1#0', [])])
    h.coord.acknowledge(1 as never, '1#0', [h.snapshot(1, '1#0', [h.put(`${dir}/late`)])])
    await settle()
    assert.deepEqual((await h.metadataOf(dir)).files.map((f) => f.path), ['a'])
  })

  it('an acknowledged file without a content checksum fails the checkpoint', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 5 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(1000)
    const dir = h.locationOf(1)
    h.put(`${dir}/a`)
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [{ path: 'a', size: 1 }])])
    await settle()
    await h.coord.settled()
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.match(h.coord.failed[0]!.message, /acknowledged without a content checksum: a/)
  })

  it('a declined checkpoint is aborted; declines of unknown or finalizing checkpoints are ignored', async () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 5, maxConcurrent: 2 })
    await h.coord.start()
    h.clock.advance(100)
    h.coord.decline(7 as never, '0#0', new Error('nothing'))
    h.coord.decline(1 as never, '0#0', new Error('disk full'))
    assert.deepEqual(h.aborted, [1])
    assert.equal(h.coord.failed[0]!.reason, 'CHECKPOINT_DECLINED')
    assert.match(h.coord.failed[0]!.message, /Checkpoint 1 was declined by task 0#0: disk full/)
    h.clock.advance(100)
    const release = h.storage.hold((l) => l.endsWith('/_metadata'))
    await h.ackAll(2)
    h.coord.decline(2 as never, '1#0', new Error('too late'))
    release()
    await settle()
    assert.deepEqual(h.completed, [[2, false]])
  })
})

describe('CheckpointCoordinator: completion', () => {
  it('savepoints are not retained and subsume nothing; they notify as savepoints unless the job stops with them', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 5 })
    await h.coord.start()
    h.clock.advance(100)
    await h.ackAll(1)
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' })
    await settle()
    await h.ackAll(2)
    const done = await sp
    assert.equal(done.id, 2)
    assert.equal(done.metadata.kind.type, 'savepoint')
    const stop = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp', stop: { drain: false } })
    await settle()
    await h.ackAll(3)
    await stop
    assert.deepEqual(h.completed, [[1, false], [2, true], [3, false]])
    assert.deepEqual(h.coord.retained().map((c) => c.id), [1])
    assert.equal(h.coord.latestCompleted()!.id, 1)
    assert.deepEqual(h.coord.history.map((x) => [x.id, x.type]), [[1, 'checkpoint'], [2, 'savepoint'], [3, 'savepoint']])
  })

  it('a completed checkpoint subsumes older pending checkpoints but not pending savepoints', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 5, tolerableFailures: 0 })
    await h.coord.start()
    h.clock.advance(100)
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    h.clock.advance(100)
    await h.ackAll(3)
    assert.deepEqual(h.aborted, [1])
    assert.equal(h.coord.failed[0]!.reason, 'SUBSUMED')
    assert.match(h.coord.failed[0]!.message, /Checkpoint 1 was subsumed by 3/)
    assert.equal(h.failures.length, 0, 'subsumption is not a failure')
    assert.equal(h.coord.pendingCount, 1)
    await h.ackAll(2)
    assert.equal((await sp).ok, true)
  })

  it('a success resets the failure count', async () => {
    const h = harness({ intervalMs: 1000, timeoutMs: 200, tolerableFailures: 1 })
    await h.coord.start()
    h.clock.advance(1200)
    assert.equal(h.coord.consecutiveFailures, 1)
    h.clock.advance(800)
    await h.ackAll(2)
    assert.equal(h.coord.consecutiveFailures, 0)
  })

  it('keeps num-retained checkpoints and deletes subsumed ones, _metadata first', async () => {
    const h = harness({ intervalMs: 100, numRetained: 2 })
    const order: string[] = []
    const del = h.storage.delete.bind(h.storage)
    h.storage.delete = (l) => (order.push(l), del(l))
    const tree = h.storage.deleteTree.bind(h.storage)
    h.storage.deleteTree = (l) => (order.push(`${l}/**`), tree(l))
    await h.coord.start()
    for (let id = 1; id <= 4; id++) {
      h.clock.advance(100)
      await h.ackAll(id)
    }
    await h.coord.settled()
    assert.deepEqual(h.under(`/cp/${JOB}/chk-`).map((k) => k.split('/')[3]).filter((v, i, a) => a.indexOf(v) === i), ['chk-3', 'chk-4'])
    assert.deepEqual(h.coord.retained().map((c) => c.id), [3, 4])
    for (const id of [1, 2]) {
      const m = order.indexOf(`/cp/${JOB}/chk-${id}/_metadata`)
      assert.ok(m >= 0 && m < order.indexOf(`/cp/${JOB}/chk-${id}/**`), `chk-${id}: _metadata deleted before the rest`)
    }
  })

  it('claim mode: the checkpoint restored from is retained, then subsumed and deleted with its shared files', async () => {
    const restored: CompletedCheckpoint = {
      id: 9 as never, location: '/old/chk-9',
      metadata: { files: [{ path: 'private', size: 1 }, { path: '../shared/s1', size: 1 }] } as never,
    }
    const h = harness({ intervalMs: 100 }, { restoredFrom: restored })
    h.put('/old/chk-9/_metadata')
    h.put('/old/chk-9/private')
    h.put('/old/shared/s1')
    h.coord.adopt(restored)
    assert.equal(h.coord.sharedState.count('/old/shared/s1'), 1)
    assert.deepEqual(h.coord.retained().map((c) => c.id), [9])
    await h.coord.start()
    assert.equal((await h.lease()).latestCompleted, null, 'the lease names only checkpoints in this job\'s folder')
    h.clock.advance(100)
    await h.ackAll(10)
    await h.coord.settled()
    assert.deepEqual(h.under('/old/'), [])
    assert.equal((await h.lease()).latestCompleted, 10)
  })
})

describe('CheckpointCoordinator: timeouts and failures', () => {
  it('expires a checkpoint at its timeout, deletes its files, and counts the failure', async () => {
    const h = harness({ intervalMs: 1000, timeoutMs: 200, tolerableFailures: 1 })
    await h.coord.start()
    h.clock.advance(1000)
    await h.storage.write(`/cp/${JOB}/chk-1/partial`, X)
    h.clock.advance(199)
    assert.deepEqual(h.aborted, [])
    h.clock.advance(1)
    assert.deepEqual(h.aborted, [1])
    assert.equal(h.coord.failed[0]!.reason, 'CHECKPOINT_EXPIRED')
    assert.match(h.coord.failed[0]!.message, /Checkpoint 1 expired before completing \(timeout 200 ms\)/)
    await h.coord.settled()
    assert.deepEqual(h.under(`/cp/${JOB}/chk-`), [], 'the expired checkpoint left nothing behind')
    assert.equal(h.failures.length, 0, 'one failure is tolerated')
    h.clock.advance(800)
    h.clock.advance(200)
    assert.equal(h.failures.length, 1, 'the second consecutive failure fails the job')
    assert.match(h.failures[0]!.message, /Exceeded checkpoint tolerable failure threshold \(1\): Checkpoint 2 expired/)
    assert.ok(h.failures[0]!.cause instanceof CheckpointFailure, 'the job fails with the checkpoint failure as its cause')
  })

  it('a completed checkpoint cancels its timeout', async () => {
    const h = harness({ intervalMs: 1000, timeoutMs: 200 })
    await h.coord.start()
    h.clock.advance(1000)
    await h.ackAll(1)
    h.clock.advance(500)
    assert.deepEqual(h.aborted, [])
    assert.deepEqual(h.coord.failed, [])
  })

  it('savepoint failures, subsumptions and failovers are never counted', async () => {
    const h = harness({ intervalMs: undefined, timeoutMs: 100, tolerableFailures: 0 })
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    h.clock.advance(100)
    assert.equal((await sp).ok, false)
    void h.coord.trigger({ type: 'checkpoint', forced: true }).catch(() => {})
    await settle()
    h.coord.abortAll('JOB_FAILOVER', 'failover')
    assert.deepEqual(h.failures, [])
    assert.equal(h.coord.consecutiveFailures, 0)
    assert.deepEqual(h.coord.failed.map((f) => f.reason), ['CHECKPOINT_EXPIRED', 'JOB_FAILOVER'])
  })

  it('abortAll aborts every pending checkpoint and savepoint', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 3 })
    await h.coord.start()
    h.clock.advance(200)
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    h.coord.abortAll('JOB_FAILOVER', 'the job failed over')
    assert.deepEqual(h.aborted.sort(), [1, 2, 3])
    assert.equal(h.coord.pendingCount, 0)
    const r = await sp
    assert.ok(!r.ok && r.e instanceof CheckpointFailure && r.e.reason === 'JOB_FAILOVER' && r.e.message === 'the job failed over', 'the pending savepoint fails with JOB_FAILOVER and the message of the abort')
  })
})

describe('CheckpointCoordinator: retention when the job ends', () => {
  for (const [retention, status, kept] of [
    ['NO_EXTERNALIZED_CHECKPOINTS', 'CANCELED', false],
    ['NO_EXTERNALIZED_CHECKPOINTS', 'FAILED', false],
    ['NO_EXTERNALIZED_CHECKPOINTS', 'FINISHED', false],
    ['RETAIN_ON_CANCELLATION', 'CANCELED', true],
    ['RETAIN_ON_CANCELLATION', 'FAILED', true],
    ['RETAIN_ON_CANCELLATION', 'FINISHED', false],
    ['DELETE_ON_CANCELLATION', 'CANCELED', false],
    ['DELETE_ON_CANCELLATION', 'FAILED', true],
    ['DELETE_ON_CANCELLATION', 'FINISHED', false],
  ] as const) {
    it(`${retention} ${kept ? 'keeps' : 'deletes'} checkpoints when the job is ${status}; the lease is marked ended first`, async () => {
      const h = harness({ intervalMs: 100, retention })
      const order: string[] = []
      const write = h.storage.writeAtomic.bind(h.storage)
      h.storage.writeAtomic = (l, d) => (order.push(`write ${l} ${String(parseLease(Buffer.from(d)).ok && (parseLease(Buffer.from(d)) as { lease: Lease }).lease.ended)}`), write(l, d))
      const tree = h.storage.deleteTree.bind(h.storage)
      h.storage.deleteTree = (l) => (order.push(`deleteTree ${l}`), tree(l))
      await h.coord.start()
      h.clock.advance(100)
      await h.ackAll(1)
      await h.coord.shutdown(status)
      assert.equal(h.under(`/cp/${JOB}/chk-1/`).length > 0, kept)
      const ended = order.indexOf(`write /cp/${JOB}/_lease true`)
      assert.ok(ended >= 0, 'the lease was marked ended')
      const deleted = order.indexOf(`deleteTree /cp/${JOB}`)
      if (kept) {
        assert.equal(deleted, -1)
        const l = await h.lease()
        assert.equal(l.ended, true)
        assert.equal(isLeaseLive({ ok: true, lease: l }, h.clock.now()), false)
      } else {
        assert.ok(deleted > ended, 'the job folder is deleted after the lease says the job ended')
        assert.deepEqual(h.under('/cp/'), [])
      }
    })
  }
})

describe('CheckpointCoordinator: the job lease', () => {
  it('names the latest completed checkpoint, the checkpoints and savepoints in progress, and is renewed on the clock', async () => {
    const h = harness({ intervalMs: 1000, maxConcurrent: 3 })
    await h.coord.start()
    let l = await h.lease()
    assert.deepEqual([l.kind, l.jobId, l.latestCompleted, l.inProgress, l.savepointsInProgress, l.ended, l.ttlMs, l.renewedAt],
      ['job', JOB, null, [], [], false, 60_000, T0])
    h.clock.advance(1000)
    await settle()
    assert.deepEqual((await h.lease()).inProgress, [1], 'a checkpoint in progress is named as soon as it starts')
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' })
    await settle()
    l = await h.lease()
    assert.deepEqual(l.savepointsInProgress, [h.locationOf(2)])
    await h.ackAll(1)
    l = await h.lease()
    assert.deepEqual([l.latestCompleted, l.inProgress], [1, []])
    await h.ackAll(2)
    await sp
    assert.deepEqual((await h.lease()).savepointsInProgress, [])
    // Renewed every 10 s: live for as long as the job runs.
    h.coord.stopPeriodic()
    for (let i = 0; i < 30; i++) {
      h.clock.advance(10_000)
      await settle()
    }
    l = await h.lease()
    assert.equal(l.renewedAt, T0 + 300_000)
    assert.equal(isLeaseLive({ ok: true, lease: l }, h.clock.now()), true)
    await h.coord.shutdown('CANCELED')
  })

  it('a savepoint\'s _in_progress lease exists before its barrier goes out and is gone once _metadata is written', async () => {
    const h = harness({})
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' })
    await settle()
    const dir = h.locationOf(1)
    assert.ok(h.atBarrier[0]!.includes(`${dir}/_in_progress`), 'written before the barrier')
    const l = await h.lease(`${dir}/_in_progress`)
    assert.deepEqual([l.kind, l.jobId, l.ended], ['savepoint', JOB, false])
    h.clock.advance(10_000)
    await settle()
    assert.equal((await h.lease(`${dir}/_in_progress`)).renewedAt, T0 + 10_000, 'renewed while in progress')
    const sawLeaseAtMetadata: boolean[] = []
    const write = h.storage.writeAtomic.bind(h.storage)
    h.storage.writeAtomic = (loc, d) => (loc.endsWith('/_metadata') && sawLeaseAtMetadata.push(h.storage.objects.has(`${dir}/_in_progress`)), write(loc, d))
    await h.ackAll(1)
    await sp
    assert.deepEqual(sawLeaseAtMetadata, [true], 'protected until _metadata')
    assert.equal(h.storage.objects.has(`${dir}/_in_progress`), false)
    assert.ok(h.storage.objects.has(`${dir}/_metadata`), '_metadata written')
    h.clock.advance(20_000)
    await settle()
    assert.equal(h.storage.objects.has(`${dir}/_in_progress`), false, 'no renewal brings it back')
  })

  it('a discarded savepoint loses its lease with its folder, and no renewal in flight brings it back', async () => {
    const h = harness({ timeoutMs: 15_000 })
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    const dir = h.locationOf(1)
    await h.storage.write(`${dir}/state`, X)
    const release = h.storage.hold((l) => l === `${dir}/_in_progress`)
    h.clock.advance(10_000) // a renewal starts and is held
    h.clock.advance(5_000) // the savepoint expires
    assert.equal((await sp).ok, false)
    release()
    await settle()
    await h.coord.settled()
    assert.deepEqual(h.under(`${dir}/`), [])
  })

  it('a savepoint whose lease cannot be written fails before its barrier', async () => {
    const h = harness({})
    h.storage.failWrites = new Error('read-only file system')
    const r = await h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    assert.ok(!r.ok && r.e instanceof CheckpointFailure && r.e.reason === 'IO_EXCEPTION', 'an IO_EXCEPTION CheckpointFailure')
    assert.match(r.e.message, /Savepoint 1 could not start: \/sp\/savepoint-aaaaaa-[0-9a-f]{12}\/_in_progress cannot be written: read-only file system/)
    assert.deepEqual(h.started, [])
  })
})

describe('CheckpointCoordinator: shared files', () => {
  /** Acknowledges checkpoint `id` with one private file and the given shared files (`<job>/shared/<name>`). */
  const ackShared = async (h: H, id: number, shared: string[]): Promise<void> => {
    const dir = h.locationOf(id)
    const files = [h.put(`${dir}/private`), ...shared.map((s) => ({ ...h.put(`/cp/${JOB}/shared/${s}`), path: `../shared/${s}` }))]
    h.coord.acknowledge(id as never, '0#0', [h.snapshot(id, '0#0', files)])
    await settle()
    await h.coord.settled()
  }

  it('a shared file is deleted when the last checkpoint that references it is subsumed, not before', async () => {
    const h = harness({ intervalMs: 100 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    await ackShared(h, 1, ['a', 'b'])
    h.clock.advance(100)
    await ackShared(h, 2, ['b', 'c'])
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/b`, `/cp/${JOB}/shared/c`])
    h.clock.advance(100)
    await ackShared(h, 3, ['c'])
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/c`])
  })

  it('a file a pending checkpoint references survives the subsumption of the one that uploaded it', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 2 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    await ackShared(h, 1, ['a'])
    h.clock.advance(100)
    h.clock.advance(100)
    // chk-3 (pending, acknowledged, its _metadata write held) references a; chk-2 does not and completes.
    const release = h.storage.hold((l) => l === `${h.locationOf(3)}/_metadata`)
    const three = ackShared(h, 3, ['a'])
    await settle()
    await ackShared(h, 2, [])
    assert.deepEqual(h.completed.map(([id]) => id), [1, 2], 'chk-2 completed and subsumed chk-1 while chk-3 is pending')
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/a`])
    release()
    await three
    await settle()
    await h.coord.settled()
    assert.deepEqual(h.completed.map(([id]) => id), [1, 2, 3])
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/a`])
  })

  it('a file only an aborted checkpoint uploaded is deleted; its late acknowledgement too', async () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 9 }, { tasks: ['0#0', '1#0'] })
    await h.coord.start()
    h.clock.advance(100)
    const dir = h.locationOf(1)
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [{ ...h.put(`/cp/${JOB}/shared/early`), path: '../shared/early' }])])
    h.coord.abortAll('JOB_FAILOVER', 'failover')
    h.put(`${dir}/late-private`)
    h.coord.acknowledge(1 as never, '1#0', [h.snapshot(1, '1#0', [{ ...h.put(`/cp/${JOB}/shared/late`), path: '../shared/late' }, { path: 'late-private', size: 1 }])])
    await settle()
    await h.coord.settled()
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [])
    assert.deepEqual(h.under(`${dir}/`), [])
    // An acknowledgement of a checkpoint never started is ignored.
    h.put(`/cp/${JOB}/shared/stray`)
    h.coord.acknowledge(99 as never, '0#0', [h.snapshot(99, '0#0', [{ path: '../shared/stray', size: 1 }])])
    await h.coord.settled()
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/stray`])
  })

  it('a checkpoint that references a shared file already released for deletion fails', async () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 9 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    await ackShared(h, 1, ['a'])
    h.clock.advance(100)
    await ackShared(h, 2, ['b'])
    assert.equal(h.coord.sharedState.isDeleted(`/cp/${JOB}/shared/a`), true)
    h.clock.advance(100)
    await ackShared(h, 3, ['a', 'b'])
    assert.deepEqual(h.completed.map(([id]) => id), [1, 2])
    assert.match(h.coord.failed[0]!.message, new RegExp(`Checkpoint 3 references shared state files that were already released for deletion: /cp/${JOB}/shared/a$`))
    assert.equal(h.coord.sharedState.count(`/cp/${JOB}/shared/b`), 1, 'what checkpoint 3 referenced is released with it')
  })
})
describe('CheckpointCoordinator: an abort during the _metadata write', () => {
  const isMetadata = (l: string): boolean => l.endsWith('/_metadata')

  /** Every task acknowledged checkpoint 1 and its `_metadata` write is held open. */
  async function heldFinalize(settings: Partial<CheckpointSettings>) {
    const h = harness({ intervalMs: 1000, ...settings })
    await h.coord.start()
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
    assert.ok(!r.ok && r.e instanceof CheckpointFailure && r.e.reason === 'JOB_FAILOVER', 'a JOB_FAILOVER CheckpointFailure')
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
    await h.coord.start()
    h.clock.advance(1000)
    const release = h.storage.hold((l) => l === `/cp/${JOB}/chk-1/_metadata`)
    h.clock.advance(1000)
    assert.equal(h.started.length, 2)
    await h.ackAll(1)
    await h.ackAll(2)
    await settle()
    assert.deepEqual(h.completed, [[2, false]])
    assert.deepEqual(h.aborted, [1])
    release()
    await h.coord.settled()
    assert.deepEqual(leftovers(h, 1), [])
    assert.ok(h.storage.objects.has(`/cp/${JOB}/chk-2/_metadata`), 'chk-2 completed')
    assert.deepEqual(h.coord.retained().map((c) => c.id), [2])
  })

  it('a failed _metadata write discards the checkpoint and counts as a failure', async () => {
    const h = harness({ intervalMs: 1000, tolerableFailures: 0 })
    await h.coord.start()
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
    await h.coord.start()
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
    await h.coord.start()
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
    await h.coord.start()
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
    await h.coord.start()
    h.clock.advance(1000)
    await h.ackAll(1)
    assert.deepEqual(h.completed, [[1, false]])
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
    assert.deepEqual(h.completed, [[1, false]])
    assert.deepEqual(h.coord.retained().map((c) => c.id), [1], 'the previous checkpoint is not subsumed')
    assert.deepEqual([...h.storage.objects.keys()].filter((k) => k.includes('/chk-1/')).sort(), before)
    assert.match(h.coord.failed[0]!.message, /after writing _metadata.*chk-2\/b \(missing\)/)
  })

  it('a savepoint whose file vanished fails (it is never reported completed) and leaves no _metadata', async () => {
    const h = harness({})
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }).then(
      (c) => ({ ok: true as const, c }), (e: unknown) => ({ ok: false as const, e }),
    )
    await settle()
    const dir = h.started[0]!.location
    assert.match(dir, /^\/sp\/savepoint-aaaaaa-[0-9a-f]{12}$/)
    put(h, `${dir}/a`)
    put(h, `${dir}/b`)
    ack(h, 1, '0#0', dir, 'a', 1)
    h.storage.objects.delete(`${dir}/a`)
    ack(h, 1, '1#0', dir, 'b', 1)
    const r = await sp
    assert.equal(r.ok, false)
    assert.ok(!r.ok && r.e instanceof Error, 'the trigger fails')
    assert.match((r as { e: Error }).e.message, new RegExp(`Savepoint 1 at ${dir} could not be finalized: .*${dir}/a \\(missing\\)`))
    await h.coord.settled()
    assert.equal(h.storage.objects.has(`${dir}/_metadata`), false)
    assert.deepEqual(h.completed, [])
    assert.equal(h.coord.history.length, 0)
  })
})

describe('CheckpointCoordinator: details', () => {
  it('a failure carries its cause when there is one', async () => {
    const h = harness({ intervalMs: 100, timeoutMs: 50, tolerableFailures: 9 })
    await h.coord.start()
    h.clock.advance(100)
    const first = h.outcome(h.coord.trigger({ type: 'checkpoint', forced: true }))
    const disk = new Error('disk full')
    h.coord.decline(2 as never, '0#0', disk)
    const r = await first
    assert.ok(!r.ok && r.e instanceof CheckpointFailure, 'a CheckpointFailure')
    assert.equal(r.e.cause, disk)
    h.clock.advance(50) // checkpoint 1 expires: no cause
    const expired = h.coord.failed.find((f) => f.id === 1)!
    assert.equal(expired.reason, 'CHECKPOINT_EXPIRED')
    const again = h.outcome(h.coord.trigger({ type: 'checkpoint', forced: true }))
    h.clock.advance(50)
    const e = (await again) as { ok: false; e: CheckpointFailure }
    assert.equal('cause' in e.e, false)
  })

  it('starting again while running keeps the phase of the interval', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(50)
    await h.coord.start()
    h.clock.advance(50)
    assert.equal(h.started.length, 1)
  })

  it('a periodic trigger that waited goes once: later completions do not trigger again before the interval', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(200) // chk-1 at 100; the tick at 200 waits
    await h.ackAll(1)
    h.clock.advance(0)
    assert.equal(h.started.length, 2)
    h.clock.advance(50)
    await h.ackAll(2)
    h.clock.advance(0)
    assert.equal(h.started.length, 2, 'the next one comes at 300, on the interval')
    h.clock.advance(50)
    assert.equal(h.started.length, 3)
  })

  it('a savepoint goes even while max concurrent checkpoints are pending', async () => {
    const h = harness({ intervalMs: 100, maxConcurrent: 1, minPauseMs: 1000 })
    await h.coord.start()
    h.clock.advance(100)
    const sp = h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' })
    await settle()
    assert.equal(h.started.length, 2)
    await h.ackAll(2)
    assert.equal((await sp).id, 2)
  })

  it('a savepoint aborted while its lease is being written never sends its barrier; a late lease failure changes nothing', async () => {
    const h = harness({})
    const release = h.storage.hold((l) => l.endsWith('/_in_progress'))
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    h.coord.abortAll('JOB_FAILOVER', 'canceled')
    h.storage.failWrites = new Error('late failure')
    release()
    await settle()
    await h.coord.settled()
    assert.deepEqual(h.started, [])
    assert.equal((await sp).ok, false)
    assert.deepEqual(h.coord.failed.map((f) => f.reason), ['JOB_FAILOVER'])
    assert.deepEqual(h.under('/sp/'), [])
  })

  it('a savepoint aborted while its lease is being written never sends its barrier, also when the write then succeeds', async () => {
    const h = harness({})
    const release = h.storage.hold((l) => l.endsWith('/_in_progress'))
    const sp = h.outcome(h.coord.trigger({ type: 'savepoint', targetDirectory: '/sp' }))
    await settle()
    h.coord.abortAll('JOB_FAILOVER', 'canceled')
    release()
    await settle()
    await h.coord.settled()
    assert.deepEqual(h.started, [], 'no barrier for an aborted savepoint')
    assert.deepEqual(h.under('/sp/'), [], 'nothing of it is left, not even its late _in_progress')
    assert.equal((await sp).ok, false)
    assert.deepEqual(h.coord.failed.map((f) => f.reason), ['JOB_FAILOVER'])
    assert.equal(h.coord.pendingCount, 0)
  })

  it('messages name the files, at most five, and the reason', async () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 9 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    const names = ['a', 'b', 'c', 'd', 'e', 'f']
    const files = names.map((n) => ({ ...h.put(`/cp/${JOB}/shared/${n}`), path: `../shared/${n}` }))
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', files)])
    await settle()
    h.clock.advance(100)
    h.coord.acknowledge(2 as never, '0#0', [h.snapshot(2, '0#0', [h.put(`${h.locationOf(2)}/p`)])])
    await settle()
    await h.coord.settled()
    h.clock.advance(100)
    h.coord.acknowledge(3 as never, '0#0', [h.snapshot(3, '0#0', files)])
    const f = h.coord.failed[0]!
    assert.equal(f.reason, 'FINALIZE_CHECKPOINT_FAILURE')
    assert.equal(f.message, `Checkpoint 3 references shared state files that were already released for deletion: ${names.slice(0, 5).map((n) => `/cp/${JOB}/shared/${n}`).join(', ')}`)
    h.clock.advance(100)
    h.coord.acknowledge(4 as never, '0#0', [h.snapshot(4, '0#0', [{ path: 'x', size: 1 }, { path: 'y', size: 1 }])])
    await settle()
    assert.equal(h.coord.failed[1]!.message, 'Checkpoint 4 could not be finalized: state files were acknowledged without a content checksum: x, y')
    h.clock.advance(100)
    h.coord.acknowledge(5 as never, '0#0', [h.snapshot(5, '0#0', names.map((n) => ({ path: n, size: 1 })))])
    await settle()
    assert.equal(h.coord.failed[2]!.message, 'Checkpoint 5 could not be finalized: state files were acknowledged without a content checksum: a, b, c, d, e')
  })

  it('a failed _metadata write names the checkpoint', async () => {
    const h = harness({ intervalMs: 100, tolerableFailures: 9 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [h.put(`${h.locationOf(1)}/p`)])])
    h.storage.failWrites = new Error('disk gone')
    await settle()
    assert.equal(h.coord.failed[0]!.message, 'Checkpoint 1 could not be finalized: disk gone')
  })

  it('private files are not counted as shared; shared files are', async () => {
    const h = harness({ intervalMs: 100 }, { tasks: ['0#0'] })
    await h.coord.start()
    h.clock.advance(100)
    const dir = h.locationOf(1)
    h.coord.acknowledge(1 as never, '0#0', [h.snapshot(1, '0#0', [h.put(`${dir}/p`), { ...h.put(`/cp/${JOB}/shared/s`), path: '../shared/s' }])])
    await settle()
    assert.equal(h.coord.sharedState.count(`${dir}/p`), 0)
    assert.equal(h.coord.sharedState.count(`/cp/${JOB}/shared/s`), 1)
  })

  it('late acknowledgements are handled for the last 64 aborted checkpoints', async () => {
    const h = harness({ intervalMs: 100, timeoutMs: 50, tolerableFailures: 1000 }, { tasks: ['0#0'] })
    await h.coord.start()
    for (let i = 0; i < 66; i++) h.clock.advance(100)
    h.coord.stopPeriodic()
    h.clock.advance(50)
    assert.equal(h.coord.failed.length, 66)
    for (const id of [1, 2, 3, 66]) {
      const f = h.put(`/cp/${JOB}/shared/late-${id}`)
      h.coord.acknowledge(id as never, '0#0', [h.snapshot(id, '0#0', [{ ...f, path: `../shared/late-${id}` }])])
    }
    await h.coord.settled()
    assert.deepEqual(h.under(`/cp/${JOB}/shared/`), [`/cp/${JOB}/shared/late-1`, `/cp/${JOB}/shared/late-2`], 'the two oldest are forgotten')
  })

  it('shutdown aborts what is pending, saying the job ended', async () => {
    const h = harness({ intervalMs: 100 })
    await h.coord.start()
    h.clock.advance(100)
    await h.coord.shutdown('CANCELED')
    assert.deepEqual(h.coord.failed.map((f) => [f.reason, f.message]), [['JOB_FAILOVER', 'The job ended (CANCELED)']])
  })
})
