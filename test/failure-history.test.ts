/**
 * A restart loop is never silent: the JobMaster keeps a bounded history of failures (cause,
 * attempt, restart decision), the CLI prints one line per failure on stderr, and the REST API
 * serves them at /jobs/:jobid/exceptions as Flink does.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Configuration, RestartStrategies, RichMapFunction, StreamExecutionEnvironment } from '../src/index.js'
import { FailureHistory } from '../src/runtime/job/failure-history.js'
import { ROOT, runCli, tmp } from './helpers.js'

describe('FailureHistory', () => {
  it('keeps the newest 16, counts all, tells listeners', () => {
    const h = new FailureHistory()
    const heard: number[] = []
    h.onFailure((f) => heard.push(f.failureNumber))
    for (let i = 0; i < 20; i++) h.record(new TypeError(`e${i}`), { timestamp: i, attempt: i, restart: true, delayMs: 5, strategy: 'fixed-delay' })
    assert.equal(h.list().length, 16)
    assert.equal(h.list()[0]!.message, 'e4')
    assert.equal(h.list().at(-1)!.exceptionName, 'TypeError')
    assert.equal(h.total, 20)
    assert.equal(h.truncated, true)
    assert.deepEqual(heard, Array.from({ length: 20 }, (_, i) => i + 1))
  })
})

class FailEarly extends RichMapFunction<number, number> {
  constructor(private readonly failures: number) {
    super()
  }
  map(v: number): number {
    const attempt = this.getRuntimeContext().getAttemptNumber()
    if (attempt < this.failures) throw new Error(`boom on attempt ${attempt}`)
    return v
  }
}

describe('a job that fails and restarts', () => {
  it('records each failure with its attempt, cause and decision', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(tmp(), 'cp')))
    env.setRestartStrategy(RestartStrategies.fixedDelayRestart(3, 5))
    env.fromElements(1, 2, 3).map(new FailEarly(2)).uid('f').addSink(() => {})
    const { master, result } = await env.executeAsync('flaky')
    const r = await result
    assert.equal(r.status, 'FINISHED')
    const f = master.failures.list()
    assert.deepEqual(f.map((x) => [x.failureNumber, x.attempt, x.restart, x.delayMs, x.strategy]), [[1, 0, true, 5, 'fixed-delay'], [2, 1, true, 5, 'fixed-delay']])
    assert.match(f[0]!.message, /boom on attempt 0/)
    assert.match(f[1]!.message, /boom on attempt 1/)
    assert.ok(f[0]!.timestamp <= f[1]!.timestamp)
  })

  it('the CLI prints one line per failure and restart with cause and attempt, then the final error', async () => {
    const home = tmp()
    const r = await runCli(['run', '-D', 'restart-strategy.type=fixed-delay', '-D', 'restart-strategy.fixed-delay.attempts=2',
      '-D', 'restart-strategy.fixed-delay.delay=10ms', join(ROOT, 'test', 'jobs', 'flaky.ts'), '5'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 1, r.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)![1]!
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`Job ${jobId} failed`))
    // The task's name (which depends on chaining) is left out of the comparison.
    assert.deepEqual(lines.map((l) => l.replace(/ \(in [^()]*\(\d+\/\d+\)\)/, '')), [
      `Job ${jobId} failed (failure 1, attempt 0): boom on attempt 0. Restarting in 10 ms (restart-strategy fixed-delay).`,
      `Job ${jobId} failed (failure 2, attempt 1): boom on attempt 1. Restarting in 10 ms (restart-strategy fixed-delay).`,
    ])
    const errorAt = r.stderr.split('\n').findIndex((l) => l.startsWith('Error: '))
    assert.match(r.stderr.split('\n')[errorAt]!, /^Error: Job failed: boom on attempt 2/)
    assert.ok(errorAt > r.stderr.split('\n').indexOf(lines[1]!), 'the final error comes after the restarts')
  })
})
