/**
 * The exactly-once file sink, one operator at a time (as Flink's operator test harnesses do):
 * nothing is visible before the checkpoint covering it completes; completion commits every
 * pending file up to it; a savepoint commits nothing; a restored sink commits the pending files
 * of its checkpoint exactly once at any parallelism; leftovers of failed attempts are removed;
 * without checkpointing the end of input commits. "Visible" is read from the folder (part-*
 * files), as users see it. Whole jobs under kill -9: test/integration/chaos.test.ts.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deserialize } from 'node:v8'
import { describe, it } from 'node:test'
import { ManualClock } from '../src/runtime/clock.js'
import { FileSink } from '../src/runtime/connectors/file-sink.js'
import type { OperatorId } from '../src/runtime/ids.js'
import type { StreamOperator } from '../src/runtime/operators/operator.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'
import { committedLines, tmp } from './helpers.js'

const JOB_A = 'aaaaaaaa000000000000000000000000'
const JOB_B = 'bbbbbbbb000000000000000000000000'

/** One subtask's operator state as a checkpoint holds it: list name → elements, and how each list is distributed. */
interface SubtaskState {
  lists: Record<string, unknown[]>
  modes: Record<string, 'split' | 'union'>
}

interface Harness {
  op: StreamOperator<string, never>
  write(...lines: string[]): void
  /** Takes the snapshot of checkpoint `id` (the barrier) and returns the state it would persist. */
  checkpoint(id: number, isSavepoint?: boolean): SubtaskState
  complete(id: number, isSavepoint?: boolean): Promise<void>
}

async function open(dir: string, opts: { jobId: string; subtask?: number; parallelism?: number; attempt?: number; restored?: Record<string, unknown[]>; checkpointing?: boolean }): Promise<Harness> {
  const op = FileSink.forRowFormat<string>(dir).build().createOperator()
  const operatorState = new OperatorStateBackend()
  for (const [name, elements] of Object.entries(opts.restored ?? {})) operatorState.restore(name, elements)
  op.setup({
    operatorId: '0'.repeat(32) as OperatorId, uid: 'sink', name: 'sink', jobId: opts.jobId, subtask: opts.subtask ?? 0,
    parallelism: opts.parallelism ?? 1, maxParallelism: 128, attempt: opts.attempt ?? 0,
    output: { collect: () => {}, emitWatermark: () => {} }, keyed: undefined, operatorState, timers: undefined,
    task: { clock: new ManualClock(), timestamps: { ts: undefined }, checkpointingEnabled: opts.checkpointing ?? true, scheduleAt: () => {} },
    restored: opts.restored !== undefined,
  })
  await op.initializeState()
  await op.open()
  return {
    op,
    write: (...lines) => {
      for (const l of lines) op.processElement(l)
    },
    checkpoint: (id, isSavepoint = false) => {
      op.prepareSnapshotPreBarrier(id)
      op.snapshotState({ checkpointId: id, timestamp: 0, isSavepoint })
      const snap = operatorState.snapshot()
      assert.ok(snap !== undefined, 'the sink keeps operator state')
      return { lists: deserialize(snap.data) as Record<string, unknown[]>, modes: snap.states }
    },
    complete: (id, isSavepoint = false) => op.notifyCheckpointComplete(id, isSavepoint),
  }
}

/** What subtask `i` of `parallelism` receives on restore: split lists round-robin, union lists whole. */
function redistribute(states: SubtaskState[], parallelism: number, i: number): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {}
  for (const s of states) {
    for (const [name, elements] of Object.entries(s.lists)) {
      out[name] ??= []
      if (s.modes[name] === 'union') out[name].push(...elements)
    }
  }
  for (const name of Object.keys(out)) {
    if (states.some((s) => s.modes[name] === 'split')) out[name] = states.flatMap((s) => s.lists[name] ?? []).filter((_e, j) => j % parallelism === i)
  }
  return out
}

const lines = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
const hidden = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.'))

describe('file sink: two-phase commit', () => {
  it('a record becomes visible only when a checkpoint after it completes; records after the barrier wait for the next one', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write(...lines('a', 3000)) // more than one internal flush
    assert.deepEqual(committedLines(dir), [], 'nothing visible before any checkpoint')
    s.checkpoint(1)
    s.write(...lines('b', 5))
    assert.deepEqual(committedLines(dir), [], 'nothing visible before checkpoint 1 completes')
    await s.complete(1)
    assert.deepEqual(committedLines(dir), lines('a', 3000).sort())
    s.checkpoint(2)
    await s.complete(2)
    assert.deepEqual(committedLines(dir), [...lines('a', 3000), ...lines('b', 5)].sort())
    assert.ok(readdirSync(dir).filter((n) => !n.startsWith('.')).every((n) => /^part-aaaaaaaa-0-\d+$/.test(n)), 'visible files are part-<job>-<subtask>-<n>')
    s.checkpoint(3)
    await s.complete(3)
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('part-')).length, 2, 'a checkpoint with nothing new adds no file')
  })

  it('a completed checkpoint commits the pending files of earlier checkpoints whose completion was not heard (aborted or late)', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('x1')
    s.checkpoint(1) // never completes
    s.write('x2')
    s.checkpoint(2)
    s.write('x3')
    s.checkpoint(3)
    await s.complete(2)
    assert.deepEqual(committedLines(dir), ['x1', 'x2'])
    await s.complete(1) // a late notification commits nothing twice
    assert.deepEqual(committedLines(dir), ['x1', 'x2'])
    await s.complete(3)
    assert.deepEqual(committedLines(dir), ['x1', 'x2', 'x3'])
  })

  it('a savepoint commits nothing (as in Flink); the next checkpoint commits what it covered', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('s1')
    s.checkpoint(1, true)
    await s.complete(1, true)
    assert.deepEqual(committedLines(dir), [])
    s.write('s2')
    s.checkpoint(2)
    await s.complete(2)
    assert.deepEqual(committedLines(dir), ['s1', 's2'])
  })

  it('without checkpointing, the end of input commits everything', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A, checkpointing: false })
    s.write(...lines('n', 10))
    assert.deepEqual(committedLines(dir), [])
    s.op.endInput()
    s.op.finish()
    assert.deepEqual(committedLines(dir), lines('n', 10).sort())
    assert.deepEqual(hidden(dir), [])
  })

  it('with checkpointing, the end of input commits nothing by itself: the final checkpoint does', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('e1')
    s.op.endInput()
    s.op.finish()
    assert.deepEqual(committedLines(dir), [])
    s.checkpoint(1)
    await s.complete(1)
    assert.deepEqual(committedLines(dir), ['e1'])
  })
})

describe('file sink: restore', () => {
  it('a crash between checkpoint completion and commit: the restored sink commits exactly what the checkpoint covered, once', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('before1', 'before2')
    const state = s.checkpoint(1)
    s.write('after') // in progress when the process dies
    // The checkpoint completed (its _metadata was written) but the process died before the commit.
    const r = await open(dir, { jobId: JOB_B, restored: redistribute([state], 1, 0) })
    assert.deepEqual(committedLines(dir), ['before1', 'before2'], 'the pending file of checkpoint 1 is committed on restore')
    // Restoring the same checkpoint again (a second crash before any new checkpoint) commits nothing twice.
    await open(dir, { jobId: JOB_B, restored: redistribute([state], 1, 0) })
    assert.deepEqual(committedLines(dir), ['before1', 'before2'])
    r.write('replayed')
    r.checkpoint(2)
    await r.complete(2)
    assert.deepEqual(committedLines(dir), ['before1', 'before2', 'replayed'])
  })

  it('a crash before the checkpoint completed: restoring the previous checkpoint leaves the newer pending data invisible', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('c1')
    const one = s.checkpoint(1)
    await s.complete(1)
    s.write('c2')
    s.checkpoint(2) // pending, never completed: the process dies
    await open(dir, { jobId: JOB_B, restored: redistribute([one], 1, 0) })
    assert.deepEqual(committedLines(dir), ['c1'])
  })

  for (const [from, to] of [[2, 3], [3, 1], [1, 2]] as const) {
    it(`rescaled from ${from} to ${to} subtasks: every pending file is committed exactly once`, async () => {
      const dir = tmp()
      const states: SubtaskState[] = []
      const expected: string[] = []
      for (let i = 0; i < from; i++) {
        const s = await open(dir, { jobId: JOB_A, subtask: i, parallelism: from })
        const mine = lines(`p${i}-`, 4 + i)
        s.write(...mine)
        expected.push(...mine)
        // Two checkpoints, neither committed: both pending files must be committed by the restore.
        s.checkpoint(1)
        s.write(`q${i}`)
        expected.push(`q${i}`)
        states.push(s.checkpoint(2))
      }
      for (let i = 0; i < to; i++) await open(dir, { jobId: JOB_B, subtask: i, parallelism: to, restored: redistribute(states, to, i) })
      assert.deepEqual(committedLines(dir), expected.sort())
    })
  }

  it('a restart of the same job continues the file counter: no committed file is overwritten', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('r1')
    s.checkpoint(1)
    await s.complete(1)
    s.write('r2')
    const two = s.checkpoint(2)
    await s.complete(2)
    s.write(...lines('lost-in-progress-', 2100)) // flushed to an in-progress file of attempt 0
    assert.ok(hidden(dir).some((n) => n.endsWith('.inprogress')))
    const r = await open(dir, { jobId: JOB_A, attempt: 1, restored: redistribute([two], 1, 0) })
    r.write('r3')
    r.checkpoint(3)
    await r.complete(3)
    assert.deepEqual(committedLines(dir), ['r1', 'r2', 'r3'])
    assert.deepEqual(hidden(dir), [], 'the in-progress file of the failed attempt is removed')
  })

  it('a later attempt removes only its own job\'s unreferenced hidden files', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('k1')
    const one = s.checkpoint(1) // pending, referenced by the state restored below
    s.write(...lines('k2-', 2100)) // flushed to an in-progress file: not referenced
    assert.ok(hidden(dir).some((n) => n.endsWith('.inprogress')))
    writeFileSync(join(dir, '.part-bbbbbbbb-0-0-a0.inprogress'), 'other job\n')
    writeFileSync(join(dir, 'part-user-file'), 'not ours\n')
    await open(dir, { jobId: JOB_A, attempt: 1, restored: redistribute([one], 1, 0) })
    assert.deepEqual(committedLines(dir), ['k1', 'not ours'])
    assert.deepEqual(hidden(dir), ['.part-bbbbbbbb-0-0-a0.inprogress'])
    assert.equal(readFileSync(join(dir, 'part-user-file'), 'utf8'), 'not ours\n')
  })

  it('a pending file that is gone and was never committed fails the restore, naming it', async () => {
    const dir = tmp()
    const s = await open(dir, { jobId: JOB_A })
    s.write('m1')
    const one = s.checkpoint(1)
    const pending = hidden(dir).filter((n) => n.endsWith('.pending'))
    assert.equal(pending.length, 1)
    rmSync(join(dir, pending[0]!))
    await assert.rejects(open(dir, { jobId: JOB_B, restored: redistribute([one], 1, 0) }), (e: Error) => e.message.includes(pending[0]!) && /missing/.test(e.message))
    assert.deepEqual(committedLines(dir), [])
  })
})
