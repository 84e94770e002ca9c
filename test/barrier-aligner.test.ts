import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BarrierAligner, type AlignmentDecision } from '../src/runtime/task/barrier-aligner.js'

const NONE = { action: 'none' }

describe('BarrierAligner, EXACTLY_ONCE', () => {
  it('blocks each channel at its barrier and snapshots when all arrived', () => {
    const a = new BarrierAligner(3, 'EXACTLY_ONCE')
    assert.equal(a.aligning, undefined)
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.equal(a.aligning, 1)
    assert.equal(a.isBlocked(0), true)
    assert.equal(a.isBlocked(1), false)
    assert.deepEqual(a.onBarrier(2, 1), NONE)
    assert.equal(a.isBlocked(2), true)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
    for (const c of [0, 1, 2]) assert.equal(a.isBlocked(c), false)
    assert.equal(a.aligning, undefined)
  })

  it('a single channel snapshots at once', () => {
    const a = new BarrierAligner(1, 'EXACTLY_ONCE')
    assert.deepEqual(a.onBarrier(0, 7), { action: 'snapshot', id: 7 })
    assert.equal(a.isBlocked(0), false)
  })

  it('a second barrier of the same checkpoint on the same channel counts once', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.equal(a.aligning, 1)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
  })

  it('a newer barrier during alignment aborts the older checkpoint', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 1)
    const d = a.onBarrier(1, 2)
    assert.deepEqual(d, { action: 'abort', aborted: 1, then: NONE })
    assert.equal(a.isBlocked(1), true)
    assert.equal(a.isBlocked(0), false)
    assert.equal(a.aligning, 2)
    // A late barrier of the aborted checkpoint is ignored.
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onBarrier(0, 2), { action: 'snapshot', id: 2 })
  })

  it('an older barrier during alignment is ignored: it never counts toward the newer checkpoint', () => {
    // Barrier 5 on channel 0, then barrier 4 (never seen before) on channel 1: 4 is obsolete.
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    assert.deepEqual(a.onBarrier(0, 5), NONE)
    assert.deepEqual(a.onBarrier(1, 4), NONE)
    assert.equal(a.isBlocked(1), false, 'the obsolete barrier does not block its channel')
    assert.equal(a.aligning, 5)
    // Channel 1's records before its barrier 5 are still processed; then 5 completes.
    assert.deepEqual(a.onBarrier(1, 5), { action: 'snapshot', id: 5 })
    // Checkpoint 4 is over for this task.
    assert.deepEqual(a.onBarrier(0, 4), NONE)
  })

  it('an older barrier with three channels does not complete the alignment early', () => {
    const a = new BarrierAligner(3, 'EXACTLY_ONCE')
    a.onBarrier(0, 5)
    a.onBarrier(1, 5)
    assert.deepEqual(a.onBarrier(2, 3), NONE)
    assert.equal(a.isBlocked(2), false)
    assert.deepEqual(a.onBarrier(2, 5), { action: 'snapshot', id: 5 })
  })

  it('an ended channel needs no barrier', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 1)
    assert.deepEqual(a.onEndOfPartition(1), { action: 'snapshot', id: 1 })
    assert.deepEqual(a.onBarrier(0, 2), { action: 'snapshot', id: 2 })
    // A barrier on an ended channel is ignored.
    assert.deepEqual(a.onBarrier(1, 3), NONE)
  })

  it('a channel ending while nothing aligns decides nothing; ending twice counts once', () => {
    const a = new BarrierAligner(3, 'EXACTLY_ONCE')
    assert.deepEqual(a.onEndOfPartition(2), NONE)
    assert.deepEqual(a.onEndOfPartition(2), NONE)
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
  })

  it('a channel that delivered a barrier and then ends is counted once', () => {
    // Channel 0 delivers barrier 1 and ends (its block is lifted by the task's consumption of the
    // end marker in a real run; here we feed the events directly).
    const a = new BarrierAligner(3, 'EXACTLY_ONCE')
    a.onBarrier(0, 1)
    assert.deepEqual(a.onEndOfPartition(0), NONE)
    assert.equal(a.isBlocked(0), false)
    assert.deepEqual(a.onBarrier(1, 1), NONE, 'channel 2 has not delivered barrier 1 yet')
    assert.deepEqual(a.onBarrier(2, 1), { action: 'snapshot', id: 1 })
  })

  it('abort() by the coordinator unblocks', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 4)
    a.abort(4)
    assert.equal(a.isBlocked(0), false)
    assert.equal(a.aligning, undefined)
    assert.deepEqual(a.onBarrier(1, 4), NONE)
    assert.deepEqual(a.onBarrier(1, 3), NONE)
    assert.deepEqual(a.onBarrier(0, 5), NONE)
    assert.deepEqual(a.onBarrier(1, 5), { action: 'snapshot', id: 5 })
  })

  it('abort() of another checkpoint leaves the alignment alone', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 4)
    a.abort(3)
    assert.equal(a.isBlocked(0), true)
    assert.equal(a.aligning, 4)
    assert.deepEqual(a.onBarrier(1, 4), { action: 'snapshot', id: 4 })
  })

  it('abort() of an older id does not lower the ignore mark', () => {
    const a = new BarrierAligner(1, 'EXACTLY_ONCE')
    a.abort(6)
    a.abort(2)
    assert.deepEqual(a.onBarrier(0, 5), NONE)
    assert.deepEqual(a.onBarrier(0, 7), { action: 'snapshot', id: 7 })
  })
})

describe('BarrierAligner, AT_LEAST_ONCE', () => {
  it('never blocks and snapshots on the last barrier', () => {
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.equal(a.isBlocked(0), false)
    assert.deepEqual(a.onBarrier(1, 1), NONE)
    assert.equal(a.isBlocked(1), false)
    assert.equal(a.aligning, undefined)
    assert.deepEqual(a.onBarrier(2, 1), { action: 'snapshot', id: 1 })
  })

  it('the same channel delivering a barrier twice counts once', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
  })

  it('tracks overlapping checkpoints; a completed newer one drops older ones', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(0, 2)
    assert.deepEqual(a.onBarrier(1, 2), { action: 'snapshot', id: 2 })
    assert.deepEqual(a.onBarrier(1, 1), NONE)
  })

  it('completing an older checkpoint keeps newer ones tracked', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(0, 2)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
    assert.deepEqual(a.onBarrier(1, 2), { action: 'snapshot', id: 2 })
  })

  it('counts ended channels as done', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(1, 3)
    assert.deepEqual(a.onEndOfPartition(0), { action: 'snapshot', id: 3 })
    assert.deepEqual(a.onEndOfPartition(0), NONE)
  })

  it('a channel that sends barrier N and then ends is not counted twice', () => {
    // Two channels: channel 0 delivers barrier 1 and ends. Channel 1 has not delivered barrier 1:
    // the records it sends before it must reach the snapshot, so no snapshot yet.
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), NONE)
    assert.deepEqual(a.onEndOfPartition(0), NONE)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
  })

  it('a barrier then end with three channels waits for both others', () => {
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(1, 1)
    assert.deepEqual(a.onEndOfPartition(0), NONE)
    assert.deepEqual(a.onEndOfPartition(1), NONE)
    assert.deepEqual(a.onBarrier(2, 1), { action: 'snapshot', id: 1 })
  })

  it('an end that completes several checkpoints snapshots each, oldest first', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(0, 2)
    const d: AlignmentDecision = a.onEndOfPartition(1)
    assert.deepEqual(d, { action: 'snapshot', id: 1, then: { action: 'snapshot', id: 2 } })
    assert.deepEqual(a.onBarrier(0, 2), NONE)
  })

  it('an end completes only the checkpoints every open channel delivered', () => {
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(1, 1)
    a.onBarrier(0, 2)
    assert.deepEqual(a.onEndOfPartition(2), { action: 'snapshot', id: 1 })
    assert.deepEqual(a.onBarrier(1, 2), { action: 'snapshot', id: 2 })
  })

  it('abort() forgets a tracked checkpoint and ignores its later barriers', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.abort(1)
    assert.deepEqual(a.onBarrier(1, 1), NONE)
    assert.deepEqual(a.onEndOfPartition(1), NONE)
  })

  it('ignores barriers of checkpoints already snapshotted', () => {
    const a = new BarrierAligner(1, 'AT_LEAST_ONCE')
    assert.deepEqual(a.onBarrier(0, 4), { action: 'snapshot', id: 4 })
    assert.deepEqual(a.onBarrier(0, 4), NONE)
    assert.deepEqual(a.onBarrier(0, 3), NONE)
  })
})

describe('BarrierAligner, edge cases', () => {
  it('EXACTLY_ONCE: every channel ending while nothing aligns takes no snapshot', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    assert.deepEqual(a.onEndOfPartition(0), NONE)
    assert.deepEqual(a.onEndOfPartition(1), NONE)
    assert.equal(a.aligning, undefined)
  })

  it('AT_LEAST_ONCE: checkpoints completed by an end are taken in id order, not arrival order', () => {
    // Channel 0 skipped checkpoint 1 (its barrier 2 arrives first); channel 1 delivers 1 then 2.
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    a.onBarrier(0, 2)
    a.onBarrier(1, 1)
    a.onBarrier(1, 2)
    assert.deepEqual(a.onEndOfPartition(0), NONE)
    assert.deepEqual(a.onEndOfPartition(2), { action: 'snapshot', id: 1, then: { action: 'snapshot', id: 2 } })
  })

  it('AT_LEAST_ONCE: a snapshotted checkpoint and older unfinished ones are forgotten', () => {
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(0, 2)
    a.onBarrier(1, 2)
    assert.deepEqual(a.onBarrier(2, 2), { action: 'snapshot', id: 2 })
    // Neither 1 (older, unfinished) nor 2 (done) is snapshotted again when channels end.
    assert.deepEqual(a.onEndOfPartition(1), NONE)
    assert.deepEqual(a.onEndOfPartition(2), NONE)
    assert.deepEqual(a.onEndOfPartition(0), NONE)
  })
})
