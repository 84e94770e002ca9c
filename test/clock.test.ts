/**
 * The system clock keeps long timers: Node's setTimeout turns any delay of 2^31 ms or more into
 * 1 ms, so `execution.checkpointing.interval: 30d` used to checkpoint continuously.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Configuration, DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from '../src/index.js'
import { MAX_TIMER_MS, SystemClock, systemClock } from '../src/runtime/clock.js'
import { sleep, tmp } from './helpers.js'

describe('SystemClock', () => {
  it('a delay beyond 2^31-1 ms does not fire early', async () => {
    let fired = 0
    const t = systemClock.schedule(MAX_TIMER_MS + 5_000, () => fired++)
    const t2 = systemClock.schedule(30 * 86_400_000, () => fired++)
    await sleep(150)
    t.cancel()
    t2.cancel()
    assert.equal(fired, 0)
  })

  it('waits in chunks and fires once, at the deadline, not before', async () => {
    const clock = new SystemClock(20)
    const start = Date.now()
    const times: number[] = []
    clock.schedule(130, () => times.push(Date.now() - start))
    await sleep(300)
    assert.equal(times.length, 1)
    assert.ok(times[0]! >= 130 && times[0]! < 250, `fired after ${times[0]} ms`)
  })

  it('cancel stops a chunked timer between chunks; Infinity never fires; negative fires at once', async () => {
    const clock = new SystemClock(10)
    let fired = 0
    const t = clock.schedule(80, () => fired++)
    clock.schedule(Infinity, () => fired++)
    await sleep(35)
    t.cancel()
    await sleep(100)
    assert.equal(fired, 0)
    // The clock's timers do not hold the process open: keep it alive while waiting.
    const keep = setTimeout(() => {}, 1000)
    await new Promise<void>((r) => clock.schedule(-5, r))
    clearTimeout(keep)
  })

  it('a job with a 30-day checkpoint interval takes no periodic checkpoint', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration()
      .set('execution.checkpointing.interval', '30d').set('execution.checkpointing.dir', join(tmp(), 'cp')))
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(2000)), WatermarkStrategy.noWatermarks(), 'gen')
      .uid('gen').addSink(() => {})
    const { master, result } = await env.executeAsync('long interval')
    await sleep(600)
    const taken = master.coordinator.history.length + master.coordinator.pendingCount + master.coordinator.failed.length
    master.cancel()
    await result
    assert.equal(taken, 0)
  })
})
