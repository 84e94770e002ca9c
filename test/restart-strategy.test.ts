import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RestartBackoff, defaultRestartStrategy } from '../src/runtime/job/restart-strategy.js'

describe('restart strategies', () => {
  it('none never restarts', () => assert.equal(new RestartBackoff({ type: 'none' }).onFailure(0).restart, false))
  it('fixed-delay restarts `attempts` times with its delay', () => {
    const b = new RestartBackoff({ type: 'fixed-delay', attempts: 2, delayMs: 50 })
    assert.deepEqual(b.onFailure(0), { restart: true, delayMs: 50 })
    assert.deepEqual(b.onFailure(1), { restart: true, delayMs: 50 })
    assert.equal(b.onFailure(2).restart, false)
  })
  it('failure-rate counts failures within the interval only', () => {
    const b = new RestartBackoff({ type: 'failure-rate', maxFailuresPerInterval: 2, intervalMs: 1000, delayMs: 0 })
    assert.equal(b.onFailure(0).restart, true)
    assert.equal(b.onFailure(500).restart, true)
    assert.equal(b.onFailure(900).restart, false)
    const c = new RestartBackoff({ type: 'failure-rate', maxFailuresPerInterval: 2, intervalMs: 1000, delayMs: 0 })
    c.onFailure(0)
    c.onFailure(500)
    assert.equal(c.onFailure(1600).restart, true)
  })
  it('exponential-delay grows the delay up to the maximum', () => {
    const b = new RestartBackoff({ type: 'exponential-delay', initialBackoffMs: 100, maxBackoffMs: 300, multiplier: 2, attempts: 10 })
    assert.deepEqual([0, 1, 2, 3].map((t) => b.onFailure(t).delayMs), [100, 200, 300, 300])
  })
  it('defaults like Flink', () => {
    assert.deepEqual(defaultRestartStrategy(false), { type: 'none' })
    assert.equal(defaultRestartStrategy(true).type, 'fixed-delay')
  })
})
