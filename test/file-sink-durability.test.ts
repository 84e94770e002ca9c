/**
 * The exactly-once file sink, one operator in a harness: records become visible only when a
 * checkpoint covering them completes; the pending file and its folder are fsynced before the task
 * may acknowledge (so before `_metadata`), the commit's rename is fsynced before a later
 * checkpoint that no longer lists the file; a restore commits again, idempotently.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deserialize } from 'node:v8'
import { describe, it } from 'node:test'
import { systemClock } from '../src/runtime/clock.js'
import { FileSinkOperator } from '../src/runtime/connectors/file-sink.js'
import { StateError } from '../src/runtime/errors.js'
import type { OperatorId } from '../src/runtime/ids.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'
import { FSYNC, type Syncer } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

const JOB = 'feedbeef'.repeat(4)
type Event = { kind: 'file' | 'dir'; path: string; entries?: string[]; content?: string }

function recorder(): { syncer: Syncer; events: Event[]; hold: () => () => void } {
  const events: Event[] = []
  let gate: Promise<void> | undefined
  return {
    events,
    syncer: {
      async file(path, handle) {
        events.push({ kind: 'file', path, content: readFileSync(path, 'utf8') })
        await FSYNC.file(path, handle)
      },
      async directory(path) {
        if (gate !== undefined) await gate
        events.push({ kind: 'dir', path, entries: readdirSync(path).sort() })
      },
    },
    hold() {
      let release!: () => void
      gate = new Promise((r) => (release = r))
      return () => {
        gate = undefined
        release()
      }
    },
  }
}

interface Options { restored?: Map<string, unknown[]>; attempt?: number; checkpointing?: boolean; subtask?: number; parallelism?: number }

async function sink(dir: string, syncer: Syncer, o: Options = {}): Promise<{ op: FileSinkOperator<string>; state: OperatorStateBackend }> {
  const op = new FileSinkOperator<string>(dir, (s) => s, syncer)
  const state = new OperatorStateBackend()
  for (const [name, elements] of o.restored ?? []) state.restore(name, elements)
  op.setup({
    operatorId: 'f'.repeat(32) as OperatorId, uid: 'sink', name: 'sink', jobId: JOB, subtask: o.subtask ?? 0, parallelism: o.parallelism ?? 1,
    maxParallelism: 128, attempt: o.attempt ?? 0, output: { collect: () => {}, emitWatermark: () => {} }, keyed: undefined,
    operatorState: state, timers: undefined, restored: o.restored !== undefined,
    task: { clock: systemClock, timestamps: { ts: undefined }, checkpointingEnabled: o.checkpointing ?? true, scheduleAt: () => {} },
  })
  await op.initializeState()
  await op.open()
  return { op, state }
}

const snap = (id: number, isSavepoint = false) => ({ checkpointId: id, timestamp: id, isSavepoint })
const visible = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('part-')).sort()
const lines = (dir: string): string[] => visible(dir).flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter((l) => l !== '')).sort()
/** The sink's snapshot as a restore hands it over. */
const restoredFrom = (state: OperatorStateBackend): Map<string, unknown[]> =>
  new Map(Object.entries(deserialize(state.snapshot()!.data) as Record<string, unknown[]>))

describe('FileSink: two-phase commit with durable pre-commit', () => {
  it('records become visible only at the completion; pending file and folder are fsynced before the acknowledgement', async () => {
    const dir = tmp()
    const r = recorder()
    const { op } = await sink(dir, r.syncer)
    for (const l of ['a', 'b', 'c']) op.processElement(l)
    op.snapshotState(snap(1))
    await op.snapshotStateAsync(snap(1))
    assert.deepEqual(visible(dir), [])
    const pending = readdirSync(dir).filter((n) => n.endsWith('.pending'))
    assert.equal(pending.length, 1)
    assert.deepEqual(r.events, [
      { kind: 'file', path: join(dir, pending[0]!), content: 'a\nb\nc\n' },
      { kind: 'dir', path: dir, entries: pending },
    ])
    await op.notifyCheckpointComplete(1, false)
    assert.deepEqual(lines(dir), ['a', 'b', 'c'])
    assert.deepEqual(r.events[2], { kind: 'dir', path: dir, entries: visible(dir) }, 'the commit rename is fsynced')
    assert.equal(r.events.length, 3)
  })

  it('the acknowledgement waits for the folder fsync', async () => {
    const dir = tmp()
    const r = recorder()
    const { op } = await sink(dir, r.syncer)
    op.processElement('x')
    op.snapshotState(snap(1))
    const release = r.hold()
    let acked = false
    const a = op.snapshotStateAsync(snap(1)).then(() => (acked = true))
    for (let i = 0; i < 20; i++) await new Promise((res) => setTimeout(res, 1))
    assert.equal(acked, false)
    release()
    await a
    assert.equal(acked, true)
  })

  it('a checkpoint with nothing new fsyncs nothing', async () => {
    const dir = tmp()
    const r = recorder()
    const { op } = await sink(dir, r.syncer)
    op.snapshotState(snap(1))
    await op.snapshotStateAsync(snap(1))
    await op.notifyCheckpointComplete(1, false)
    assert.deepEqual(r.events, [])
  })

  it('a later checkpoint, which no longer lists committed files, waits until their commit is durable', async () => {
    const dir = tmp()
    const r = recorder()
    const { op } = await sink(dir, r.syncer)
    op.processElement('one')
    op.snapshotState(snap(1))
    await op.snapshotStateAsync(snap(1))
    const release = r.hold()
    const committing = op.notifyCheckpointComplete(1, false)
    op.snapshotState(snap(2))
    let acked = false
    const two = op.snapshotStateAsync(snap(2)).then(() => (acked = true))
    for (let i = 0; i < 20; i++) await new Promise((res) => setTimeout(res, 1))
    assert.equal(acked, false)
    release()
    await Promise.all([committing, two])
    assert.deepEqual(lines(dir), ['one'])
  })

  it('savepoints do not commit', async () => {
    const dir = tmp()
    const { op } = await sink(dir, recorder().syncer)
    op.processElement('s')
    op.snapshotState(snap(1, true))
    await op.snapshotStateAsync(snap(1, true))
    await op.notifyCheckpointComplete(1, true)
    assert.deepEqual(visible(dir), [])
    await op.notifyCheckpointComplete(2, false)
    assert.deepEqual(lines(dir), ['s'])
  })

  it('a restore commits the pending files of its checkpoint, idempotently, and fsyncs the folder', async () => {
    const dir = tmp()
    const { op, state } = await sink(dir, recorder().syncer)
    op.processElement('p1')
    op.processElement('p2')
    op.snapshotState(snap(1))
    await op.snapshotStateAsync(snap(1))
    const restored = restoredFrom(state)
    // The job died before the commit: nothing visible.
    assert.deepEqual(visible(dir), [])
    for (let i = 0; i < 2; i++) {
      const r = recorder()
      await sink(dir, r.syncer, { restored, attempt: 1 })
      assert.deepEqual(lines(dir), ['p1', 'p2'])
      assert.deepEqual(r.events, [{ kind: 'dir', path: dir, entries: readdirSync(dir).sort() }])
    }
  })

  it('a restore where the pending file and its committed name are both gone fails, naming the file', async () => {
    const dir = tmp()
    const { op, state } = await sink(dir, recorder().syncer)
    op.processElement('q')
    op.snapshotState(snap(3))
    const restored = restoredFrom(state)
    const pending = readdirSync(dir).find((n) => n.endsWith('.pending'))!
    rmSync(join(dir, pending))
    await assert.rejects(sink(dir, recorder().syncer, { restored }), (e: unknown) =>
      e instanceof StateError && e.message.includes(join(dir, pending)) && /checkpoint 3 is missing/.test(e.message))
  })

  it('a failover removes the hidden files of earlier attempts no checkpoint lists', async () => {
    const dir = tmp()
    const { op, state } = await sink(dir, recorder().syncer)
    op.processElement('kept')
    op.snapshotState(snap(1))
    const chk1 = restoredFrom(state)
    op.processElement('lost')
    op.snapshotState(snap(2)) // never completes: the failover restores checkpoint 1
    const stale = join(dir, `.part-${JOB.slice(0, 8)}-0-9-a0.inprogress`)
    writeFileSync(stale, 'in progress when it died')
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('.')).length, 3)
    await sink(dir, recorder().syncer, { restored: chk1, attempt: 1 })
    assert.deepEqual(lines(dir), ['kept'])
    assert.equal(existsSync(stale), false)
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.')), [])
  })

  it('with checkpointing off, the end of input commits and close makes the files and folder durable', async () => {
    const dir = tmp()
    const r = recorder()
    const { op } = await sink(dir, r.syncer, { checkpointing: false })
    op.processElement('e1')
    op.processElement('e2')
    op.endInput()
    op.finish()
    assert.deepEqual(lines(dir), ['e1', 'e2'])
    assert.deepEqual(r.events, [])
    await op.close()
    const part = visible(dir)[0]!
    assert.deepEqual(r.events, [
      { kind: 'file', path: join(dir, part), content: 'e1\ne2\n' },
      { kind: 'dir', path: dir, entries: [part] },
    ])
    await op.close()
    assert.equal(r.events.length, 2, 'close twice syncs once')
  })
})
