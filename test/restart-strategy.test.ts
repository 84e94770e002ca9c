import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Configuration } from '../src/runtime/config/configuration.js'
import { EXPONENTIAL_DELAY_DEFAULTS, RestartBackoff, defaultRestartStrategy, restartStrategyFromConfig } from '../src/runtime/job/restart-strategy.js'

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
  it('exponential-delay: attempts are counted since the last reset; a quiet spell of the threshold resets delay and count', () => {
    const b = new RestartBackoff({ type: 'exponential-delay', initialBackoffMs: 100, maxBackoffMs: 10_000, multiplier: 2, attempts: 2, resetBackoffThresholdMs: 1000 })
    assert.deepEqual(b.onFailure(0), { restart: true, delayMs: 100 })
    assert.deepEqual(b.onFailure(999), { restart: true, delayMs: 200 })
    assert.equal(b.onFailure(1500).restart, false, 'third failure within the threshold of the previous one')
    const c = new RestartBackoff({ type: 'exponential-delay', initialBackoffMs: 100, maxBackoffMs: 10_000, multiplier: 2, attempts: 2, resetBackoffThresholdMs: 1000 })
    c.onFailure(0)
    c.onFailure(500)
    assert.deepEqual(c.onFailure(1500), { restart: true, delayMs: 100 }, 'reset: 1000 ms since the previous failure')
    assert.deepEqual(c.onFailure(1600), { restart: true, delayMs: 200 })
  })
  it('exponential-delay jitter stays within ± the factor', () => {
    const cfg = { type: 'exponential-delay', initialBackoffMs: 1000, maxBackoffMs: 60_000, multiplier: 1.5, attempts: 100, jitterFactor: 0.1 } as const
    assert.equal(new RestartBackoff(cfg, () => 0).onFailure(0).delayMs, 900)
    assert.equal(new RestartBackoff(cfg, () => 0.5).onFailure(0).delayMs, 1000)
    assert.equal(new RestartBackoff(cfg, () => 0.999999).onFailure(0).delayMs, 1100)
  })
  it('defaults like Flink 1.19+ and 2.x: none without checkpointing, else exponential-delay 1 s ×1.5 up to 1 min, ±10 %, reset after 1 h', () => {
    assert.deepEqual(defaultRestartStrategy(false), { type: 'none' })
    const d = defaultRestartStrategy(true)
    assert.deepEqual(d, {
      type: 'exponential-delay', initialBackoffMs: 1000, maxBackoffMs: 60_000, multiplier: 1.5,
      resetBackoffThresholdMs: 3_600_000, jitterFactor: 0.1, attempts: Number.MAX_SAFE_INTEGER,
    })
    const b = new RestartBackoff(d, () => 0.5)
    const delays = Array.from({ length: 14 }, (_, i) => b.onFailure(i * 1000).delayMs)
    assert.deepEqual(delays.slice(0, 4), [1000, 1500, 2250, 3375])
    assert.equal(Math.max(...delays), 60_000, 'the delay is bounded by max-backoff')
    assert.equal(delays.at(-1), 60_000)
  })
  it('reads every exponential-delay option from the configuration, with Flink\'s defaults', () => {
    const c = new Configuration().set('restart-strategy.type', 'exponential-delay')
      .set('restart-strategy.exponential-delay.initial-backoff', '2 s').set('restart-strategy.exponential-delay.max-backoff', '30 s')
      .set('restart-strategy.exponential-delay.backoff-multiplier', '1.2').set('restart-strategy.exponential-delay.reset-backoff-threshold', '10 min')
      .set('restart-strategy.exponential-delay.jitter-factor', '0').set('restart-strategy.exponential-delay.attempts-before-reset-backoff', '8')
    assert.deepEqual(restartStrategyFromConfig(c), {
      type: 'exponential-delay', initialBackoffMs: 2000, maxBackoffMs: 30_000, multiplier: 1.2, resetBackoffThresholdMs: 600_000, jitterFactor: 0, attempts: 8,
    })
    assert.deepEqual(restartStrategyFromConfig(new Configuration().set('restart-strategy.type', 'exponentialdelay')), { type: 'exponential-delay', ...EXPONENTIAL_DELAY_DEFAULTS })
  })
})
