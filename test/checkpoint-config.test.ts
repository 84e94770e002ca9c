/**
 * Every CheckpointConfig setting changes what a running job observably does.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  CheckpointingMode, Configuration, DataGeneratorSource, ExternalizedCheckpointCleanup, MemoryStorage, RateLimiterStrategy,
  RestartStrategies, RichMapFunction, StreamExecutionEnvironment, WatermarkStrategy,
  type CheckpointedFunction, type FunctionSnapshotContext,
} from '../src/index.js'
import { sleep, tmp } from './helpers.js'

function env(dir: string): StreamExecutionEnvironment {
  const e = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, 'cp')))
  e.setRestartStrategy(RestartStrategies.noRestart())
  return e
}

/** An unbounded, rate-limited pipeline with a little state. */
function pipeline(e: StreamExecutionEnvironment, rate = 2000, count = Number.POSITIVE_INFINITY): void {
  e.fromSource(new DataGeneratorSource((i) => i, count, RateLimiterStrategy.perSecond(rate)), WatermarkStrategy.noWatermarks(), 'gen')
    .uid('gen')
    .keyBy((v: number) => v % 10)
    .sum()
    .uid('sum')
    .addSink(() => {})
}

async function runFor(e: StreamExecutionEnvironment, ms: number) {
  const { master, result } = await e.executeAsync('config test')
  await sleep(ms)
  master.cancel()
  const r = await result
  return { master, result: r }
}

function maxOverlap(h: { triggeredAt: number; completedAt: number }[]): number {
  let best = 0
  for (const a of h) best = Math.max(best, h.filter((b) => b.triggeredAt <= a.triggeredAt && b.completedAt > a.triggeredAt).length)
  return best
}

describe('CheckpointConfig settings, observed on a running job', () => {
  it('interval: a shorter interval takes more checkpoints', async () => {
    const counts: number[] = []
    for (const interval of [40, 200]) {
      const e = env(tmp())
      e.enableCheckpointing(interval)
      pipeline(e)
      const { result } = await runFor(e, 700)
      counts.push(result.checkpoints)
    }
    assert.ok(counts[0]! >= 2 * counts[1]!, `40 ms: ${counts[0]}, 200 ms: ${counts[1]}`)
  })

  it('timeout: checkpoints slower than the timeout expire and never complete', async () => {
    const storage = new MemoryStorage()
    storage.writeDelayMs = 150
    const e = env(tmp())
    e.enableCheckpointing(30)
    e.getCheckpointConfig().setCheckpointTimeout(60)
    e.getCheckpointConfig().setTolerableCheckpointFailureNumber(1000)
    e.getCheckpointConfig().setCheckpointStorage({ dir: '/mem/cp', storage })
    pipeline(e)
    const { master, result } = await runFor(e, 600)
    assert.equal(result.checkpoints, 0)
    assert.ok(master.coordinator.failed.some((f) => f.reason === 'CHECKPOINT_EXPIRED'))
    assert.ok(![...storage.objects.keys()].some((k) => k.endsWith('/_metadata')), 'no expired checkpoint looks complete')
  })

  it('max concurrent checkpoints: slow checkpoints overlap only up to the limit', async () => {
    const overlaps: number[] = []
    for (const max of [1, 3]) {
      const storage = new MemoryStorage()
      storage.writeDelayMs = 120
      const e = env(tmp())
      e.enableCheckpointing(20)
      e.getCheckpointConfig().setMaxConcurrentCheckpoints(max)
      e.getCheckpointConfig().setCheckpointStorage({ dir: '/mem/cp', storage })
      pipeline(e)
      const { master } = await runFor(e, 900)
      overlaps.push(maxOverlap(master.coordinator.history))
    }
    assert.equal(overlaps[0], 1)
    assert.ok(overlaps[1]! > 1 && overlaps[1]! <= 3, `overlap with 3 allowed: ${overlaps[1]}`)
  })

  it('min pause: the next checkpoint starts no sooner than the pause after the last one ended', async () => {
    const e = env(tmp())
    e.enableCheckpointing(10)
    e.getCheckpointConfig().setMinPauseBetweenCheckpoints(150)
    pipeline(e)
    const { master } = await runFor(e, 800)
    const h = master.coordinator.history
    assert.ok(h.length >= 2)
    for (let i = 1; i < h.length; i++) assert.ok(h[i]!.triggeredAt - h[i - 1]!.completedAt >= 150, `gap ${h[i]!.triggeredAt - h[i - 1]!.completedAt}`)
  })

  it('tolerable failures: a job fails once more checkpoints failed in a row than tolerated', async () => {
    const failing = (): MemoryStorage => Object.assign(new MemoryStorage(), { failWrites: new Error('storage unavailable') })
    const strict = env(tmp())
    strict.enableCheckpointing(30)
    strict.getCheckpointConfig().setTolerableCheckpointFailureNumber(2)
    strict.getCheckpointConfig().setCheckpointStorage({ dir: '/mem/cp', storage: failing() })
    pipeline(strict)
    await assert.rejects(strict.execute('strict'), /Exceeded checkpoint tolerable failure threshold \(2\)/)

    const lenient = env(tmp())
    lenient.enableCheckpointing(30)
    lenient.getCheckpointConfig().setTolerableCheckpointFailureNumber(1000)
    lenient.getCheckpointConfig().setCheckpointStorage({ dir: '/mem/cp', storage: failing() })
    pipeline(lenient)
    const { master, result } = await runFor(lenient, 400)
    assert.equal(result.status, 'CANCELED')
    assert.ok(master.coordinator.failed.length >= 3)
  })

  for (const [cleanup, kept] of [
    [ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION, true],
    [ExternalizedCheckpointCleanup.DELETE_ON_CANCELLATION, false],
    [ExternalizedCheckpointCleanup.NO_EXTERNALIZED_CHECKPOINTS, false],
  ] as const) {
    it(`externalized cleanup ${cleanup}: checkpoints ${kept ? 'survive' : 'are deleted'} on cancel`, async () => {
      const dir = tmp()
      const e = env(dir)
      e.enableCheckpointing(30)
      e.getCheckpointConfig().setExternalizedCheckpointCleanup(cleanup)
      pipeline(e)
      const { master } = await runFor(e, 300)
      const jobDir = join(dir, 'cp', master.jobId)
      assert.equal(existsSync(jobDir) && readdirSync(jobDir).some((n) => n.startsWith('chk-')), kept)
    })
  }

  it('num-retained: exactly that many completed checkpoints remain', async () => {
    const dir = tmp()
    const e = env(dir)
    e.enableCheckpointing(20)
    e.getCheckpointConfig().enableExternalizedCheckpoints(ExternalizedCheckpointCleanup.RETAIN_ON_CANCELLATION)
    e.getCheckpointConfig().setNumRetainedCheckpoints(3)
    pipeline(e)
    const { master } = await runFor(e, 500)
    await master.coordinator.settled()
    const left = readdirSync(join(dir, 'cp', master.jobId)).filter((n) => existsSync(join(dir, 'cp', master.jobId, n, '_metadata')))
    assert.equal(left.length, 3)
  })
})

/** Counts 'a' records at each snapshot, for the alignment test. */
class CountA extends RichMapFunction<[string, number], [string, number]> implements CheckpointedFunction {
  n = 0
  constructor(private readonly log: Map<number, number>) {
    super()
  }
  map(v: [string, number]): [string, number] {
    if (v[0] === 'a') this.n++
    return v
  }
  initializeState(): void {}
  snapshotState(ctx: FunctionSnapshotContext): void {
    this.log.set(ctx.getCheckpointId(), this.n)
  }
}

describe('checkpointing mode', () => {
  async function cut(mode: CheckpointingMode): Promise<{ upstream: Map<number, number>; downstream: Map<number, number> }> {
    const upstream = new Map<number, number>()
    const downstream = new Map<number, number>()
    const e = env(tmp())
    e.enableCheckpointing(15, mode)
    const src = (tag: string) => e.fromSource(new DataGeneratorSource((i) => [tag, i] as [string, number]), WatermarkStrategy.noWatermarks(), tag).uid(tag)
    const a = src('a').map(new CountA(upstream)).uid('count-a-at-source')
    // The 'b' path has an extra network hop and a slow operator, so its barrier arrives later than 'a''s.
    const b = src('b').rebalance().map((x: [string, number]) => {
      const until = performance.now() + 0.2
      while (performance.now() < until);
      return x
    }).uid('b-path')
    a.union(b).map(new CountA(downstream)).uid('count-a-downstream').addSink(() => {})
    // Run until a few checkpoints were snapshotted on both sides (bounded: a loaded machine is slow).
    const { master, result } = await e.executeAsync('config test')
    const deadline = Date.now() + 20_000
    // AT_LEAST_ONCE: also until one checkpoint shows records after a barrier processed before the
    // snapshot (whether 'b''s barrier trails 'a''s at a given checkpoint is a race; over many it happens).
    const both = (): number[] => [...downstream.keys()].filter((id) => upstream.has(id))
    const overtaken = (): boolean => mode !== CheckpointingMode.AT_LEAST_ONCE || both().some((id) => downstream.get(id)! > upstream.get(id)!)
    while ((both().length < 4 || !overtaken()) && Date.now() < deadline) await sleep(20)
    master.cancel()
    await result
    return { upstream, downstream }
  }

  it('EXACTLY_ONCE: the downstream snapshot has seen exactly the records before the barrier', async () => {
    const { upstream, downstream } = await cut('EXACTLY_ONCE')
    const ids = [...downstream.keys()].filter((id) => upstream.has(id))
    assert.ok(ids.length >= 3)
    for (const id of ids) assert.equal(downstream.get(id), upstream.get(id), `checkpoint ${id}`)
  })

  it('AT_LEAST_ONCE: the downstream keeps processing past a barrier while waiting for the others', async () => {
    const { upstream, downstream } = await cut('AT_LEAST_ONCE')
    const ids = [...downstream.keys()].filter((id) => upstream.has(id))
    assert.ok(ids.length >= 3)
    for (const id of ids) assert.ok(downstream.get(id)! >= upstream.get(id)!)
    assert.ok(ids.some((id) => downstream.get(id)! > upstream.get(id)!), 'records after a barrier were processed before the snapshot')
  })
})
