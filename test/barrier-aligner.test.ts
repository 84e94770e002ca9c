import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BarrierAligner } from '../src/runtime/task/barrier-aligner.js'

describe('BarrierAligner, EXACTLY_ONCE', () => {
  it('blocks each channel at its barrier and snapshots when all arrived', () => {
    const a = new BarrierAligner(3, 'EXACTLY_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), { action: 'none' })
    assert.equal(a.isBlocked(0), true)
    assert.equal(a.isBlocked(1), false)
    assert.deepEqual(a.onBarrier(2, 1), { action: 'none' })
    assert.equal(a.isBlocked(2), true)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'snapshot', id: 1 })
    for (const c of [0, 1, 2]) assert.equal(a.isBlocked(c), false)
  })

  it('a single channel snapshots at once', () => {
    const a = new BarrierAligner(1, 'EXACTLY_ONCE')
    assert.deepEqual(a.onBarrier(0, 7), { action: 'snapshot', id: 7 })
    assert.equal(a.isBlocked(0), false)
  })

  it('a newer barrier during alignment aborts the older checkpoint', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 1)
    const d = a.onBarrier(1, 2)
    assert.deepEqual(d, { action: 'abort', aborted: 1, then: { action: 'none' } })
    assert.equal(a.isBlocked(1), true)
    assert.equal(a.isBlocked(0), false)
    // A late barrier of the aborted checkpoint is ignored.
    assert.deepEqual(a.onBarrier(0, 1), { action: 'none' })
    assert.deepEqual(a.onBarrier(0, 2), { action: 'snapshot', id: 2 })
  })

  it('an ended channel needs no barrier', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 1)
    assert.deepEqual(a.onEndOfPartition(1), { action: 'snapshot', id: 1 })
    assert.deepEqual(a.onBarrier(0, 2), { action: 'snapshot', id: 2 })
  })

  it('abort() by the coordinator unblocks', () => {
    const a = new BarrierAligner(2, 'EXACTLY_ONCE')
    a.onBarrier(0, 4)
    a.abort(4)
    assert.equal(a.isBlocked(0), false)
    assert.equal(a.aligning, undefined)
    assert.deepEqual(a.onBarrier(1, 4), { action: 'none' })
  })
})

describe('BarrierAligner, AT_LEAST_ONCE', () => {
  it('never blocks and snapshots on the last barrier', () => {
    const a = new BarrierAligner(3, 'AT_LEAST_ONCE')
    assert.deepEqual(a.onBarrier(0, 1), { action: 'none' })
    assert.equal(a.isBlocked(0), false)
    assert.deepEqual(a.onBarrier(1, 1), { action: 'none' })
    assert.equal(a.isBlocked(1), false)
    assert.deepEqual(a.onBarrier(2, 1), { action: 'snapshot', id: 1 })
  })

  it('tracks overlapping checkpoints; a completed newer one drops older ones', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(0, 1)
    a.onBarrier(0, 2)
    assert.deepEqual(a.onBarrier(1, 2), { action: 'snapshot', id: 2 })
    assert.deepEqual(a.onBarrier(1, 1), { action: 'none' })
  })

  it('counts ended channels as done', () => {
    const a = new BarrierAligner(2, 'AT_LEAST_ONCE')
    a.onBarrier(1, 3)
    assert.deepEqual(a.onEndOfPartition(0), { action: 'snapshot', id: 3 })
  })
})
