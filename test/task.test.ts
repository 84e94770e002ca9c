/**
 * One subtask driven by hand, as Flink's StreamTaskTestHarness drives one: two input channels
 * fed item by item, a manual clock, in-memory storage. Checks what a snapshot contains for each
 * way of taking it (aligned, unaligned, aligned that times out into unaligned): the operator
 * state and the persisted in-flight records together hold exactly the records before the
 * barrier, once each, and never a record after it. And a source task emits no more than the
 * credit its consumer granted, so a barrier waits behind about the queue debloating aims at.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { deserialize } from 'node:v8'
import type { ChannelStateBatch } from '../src/runtime/checkpoint/channel-state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import type { OperatorSubtaskSnapshot } from '../src/runtime/checkpoint/snapshot.js'
import { ManualClock } from '../src/runtime/clock.js'
import { Configuration, DataGeneratorSource, MemoryStorage, WatermarkStrategy, RichMapFunction, StreamExecutionEnvironment, type CheckpointListener, type CheckpointedFunction, type FunctionSnapshotContext } from '../src/index.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { LocalChannel, type ChannelItem } from '../src/runtime/task/channel.js'
import { RecordWriter } from '../src/runtime/task/record-writer.js'
import { StreamTask } from '../src/runtime/task/stream-task.js'
import type { CheckpointOptions, SubtaskCheckpoint } from '../src/runtime/task/subtask-checkpoint.js'

/** Records every value it maps; at a snapshot, the values mapped so far. */
class Recorder extends RichMapFunction<number, number> implements CheckpointedFunction {
  constructor(private readonly seen: number[], private readonly atSnapshot: Map<number, number[]>) {
    super()
  }
  map(v: number): number {
    this.seen.push(v)
    return v
  }
  initializeState(): void {}
  snapshotState(ctx: FunctionSnapshotContext): void {
    this.atSnapshot.set(ctx.getCheckpointId(), this.seen.slice())
  }
}

async function harness(opts: CheckpointOptions, fn?: RichMapFunction<number, number>) {
  const seen: number[] = []
  const atSnapshot = new Map<number, number[]>()
  const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration())
  const a = env.fromElements(0).uid('a')
  const b = env.fromElements(0).uid('b')
  a.union(b).map(fn ?? new Recorder(seen, atSnapshot)).uid('recorder').addSink(() => {})
  const graph = env.getJobGraph()
  const vertex = graph.vertices.find((v) => graph.nodes[v.nodes[0]!]!.uid === 'recorder')!
  const inputs = [new LocalChannel(), new LocalChannel()]
  const storage = new MemoryStorage()
  const clock = new ManualClock(1000)
  const acks = new Map<number, OperatorSubtaskSnapshot[]>()
  const declines: number[] = []
  const failures: unknown[] = []
  const task = new StreamTask({
    jobId: 'j'.repeat(32), graph, vertex, subtask: 0, attempt: 0, inputs, writers: new Map(), restore: undefined,
    storageFor: () => storage, clock, checkpointing: opts, checkpointingEnabled: true, timestamps: { ts: undefined }, replay: [],
    keyedBackend: (range, maxP) => new HeapKeyedStateBackend(range, maxP),
    hooks: { ack: (id, _k, ops) => acks.set(id, ops), decline: (id) => declines.push(id), finished: () => {}, fail: (_k, e) => void failures.push(e), wake: () => {} },
  })
  await task.initialize()
  const barrier = (id: number): CheckpointBarrier => ({ id, timestamp: clock.now(), type: 'checkpoint', format: 'native', location: `/cp/chk-${id}`, incremental: false } as CheckpointBarrier)
  const batch = (...records: number[]): ChannelItem => ({ kind: 'batch', records, keys: null, timestamps: null })
  const run = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) task.step(performance.now() + 50)
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  }
  /** The in-flight records a snapshot persisted, by channel. */
  const channelState = async (id: number): Promise<Map<number, number[]>> => {
    const out = new Map<number, number[]>()
    const h = acks.get(id)?.[0]?.channel
    if (h === undefined) return out
    for (const b of deserialize(await storage.read(`/cp/chk-${id}/${h.file}`)) as ChannelStateBatch[]) {
      out.set(b.channel, [...(out.get(b.channel) ?? []), ...(b.records as number[])])
    }
    return out
  }
  return { task, inputs, clock, acks, declines, failures, seen, atSnapshot, barrier, batch, run, channelState }
}

describe('a subtask with two inputs takes consistent snapshots', () => {
  it('aligned: the snapshot holds exactly the records before the barrier; the barrier channel waits', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: false, alignedTimeoutMs: undefined })
    h.inputs[0]!.send(h.batch(1, 2))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[0]!.send(h.batch(3, 4))
    h.inputs[1]!.send(h.batch(10, 11))
    await h.run()
    assert.deepEqual([...h.seen].sort((x, y) => x - y), [1, 2, 10, 11], 'records behind the barrier waited')
    h.inputs[1]!.send(h.batch(12))
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    await h.run()
    assert.deepEqual(h.atSnapshot.get(1)!.sort((x, y) => x - y), [1, 2, 10, 11, 12])
    assert.ok(h.acks.has(1))
    assert.equal((await h.channelState(1)).size, 0, 'an aligned snapshot persists no in-flight records')
    assert.deepEqual([...h.seen].sort((x, y) => x - y), [1, 2, 3, 4, 10, 11, 12])
  })

  it('unaligned: the snapshot starts when the first barrier arrives; state + in-flight = records before the barrier', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: true, alignedTimeoutMs: undefined })
    h.inputs[0]!.send(h.batch(1, 2, 3))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[0]!.send(h.batch(4, 5))
    h.inputs[1]!.send(h.batch(10, 11))
    await h.run()
    // The snapshot was taken before anything was processed: the barrier overtook 1, 2, 3.
    assert.deepEqual(h.atSnapshot.get(1), [])
    assert.ok(!h.acks.has(1), 'channel 1 has not delivered its barrier yet')
    h.inputs[1]!.send(h.batch(12))
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[1]!.send(h.batch(13))
    await h.run()
    assert.ok(h.acks.has(1))
    const inFlight = await h.channelState(1)
    assert.deepEqual(inFlight.get(0), [1, 2, 3])
    assert.deepEqual(inFlight.get(1), [10, 11, 12])
    assert.deepEqual([...h.seen].sort((x, y) => x - y), [1, 2, 3, 4, 5, 10, 11, 12, 13], 'nothing blocked')
  })

  it('unaligned: a barrier arriving behind queued records captures them at once', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: true, alignedTimeoutMs: undefined })
    h.inputs[1]!.send(h.batch(10))
    await h.run()
    h.inputs[0]!.send(h.batch(1, 2))
    h.inputs[1]!.send(h.batch(11, 12))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    await h.run()
    assert.deepEqual(h.atSnapshot.get(1), [10])
    const inFlight = await h.channelState(1)
    assert.deepEqual(inFlight.get(0), [1, 2])
    assert.deepEqual(inFlight.get(1), [11, 12])
  })

  it('unaligned: once every barrier arrived, the snapshot completes without processing the records in front of them', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: true, alignedTimeoutMs: undefined })
    h.inputs[0]!.send(h.batch(1, 2))
    h.inputs[1]!.send(h.batch(11))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    // Deliver only the arrival notifications, as the mailbox would before any input is read.
    const cp = (h.task as unknown as { checkpoints: SubtaskCheckpoint }).checkpoints
    cp.onBarrierArrival(0, h.barrier(1))
    cp.onBarrierArrival(1, h.barrier(1))
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
    assert.ok(h.acks.has(1), 'acknowledged before the queued records were processed')
    assert.deepEqual(h.seen, [])
    const inFlight = await h.channelState(1)
    assert.deepEqual(inFlight.get(0), [1, 2])
    assert.deepEqual(inFlight.get(1), [11])
  })

  it('unaligned: a snapshot in the middle of a batch persists the rest of that batch first', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: true, alignedTimeoutMs: undefined })
    const big = Array.from({ length: 200 }, (_, i) => i)
    h.inputs[0]!.send(h.batch(...big))
    h.task.step(performance.now() - 1) // the deadline has passed: one chunk of the batch, then the step ends
    const done = h.seen.length
    assert.ok(done > 0 && done < 200, `the step stopped inside the batch (${done} of 200)`)
    h.inputs[0]!.send(h.batch(500, 501))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    await h.run()
    assert.deepEqual(h.atSnapshot.get(1), big.slice(0, done))
    assert.deepEqual((await h.channelState(1)).get(0), [...big.slice(done), 500, 501])
  })

  it('aligned with a timeout: alignment that takes too long continues unaligned', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: false, alignedTimeoutMs: 100 })
    h.inputs[0]!.send(h.batch(1, 2))
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[0]!.send(h.batch(3))
    h.inputs[1]!.send(h.batch(10))
    await h.run()
    assert.ok(!h.atSnapshot.has(1), 'still aligning')
    assert.deepEqual([...h.seen].sort((x, y) => x - y), [1, 2, 10])
    h.clock.advance(150)
    await h.run()
    assert.deepEqual(h.atSnapshot.get(1)!.sort((x, y) => x - y), [1, 2, 10], 'snapshot at the timeout')
    assert.ok(h.seen.includes(3), 'the barrier channel is unblocked')
    h.inputs[1]!.send(h.batch(11))
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    await h.run()
    assert.ok(h.acks.has(1))
    const inFlight = await h.channelState(1)
    assert.equal(inFlight.get(0), undefined, 'channel 0 delivered its barrier before the snapshot')
    assert.deepEqual(inFlight.get(1), [11])
  })

  it('a barrier that arrives before the coordinator\'s message still snapshots, once', async () => {
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: false, alignedTimeoutMs: undefined })
    h.inputs[0]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    h.inputs[1]!.send(h.batch(10))
    h.inputs[1]!.send({ kind: 'barrier', barrier: h.barrier(1) })
    await h.run()
    assert.ok(h.acks.has(1))
    h.acks.clear()
    h.task.expectCheckpoint(h.barrier(1))
    await h.run()
    assert.ok(!h.acks.has(1), 'a late coordinator message does not snapshot again')
  })
})

/** Notes when each completion notification starts and ends; the first one is slow, `failOn` throws. */
class Listener extends RichMapFunction<number, number> implements CheckpointListener {
  readonly log: string[] = []
  constructor(private readonly failOn?: number) {
    super()
  }
  map(v: number): number {
    return v
  }
  async notifyCheckpointComplete(id: number): Promise<void> {
    this.log.push(`start ${id}`)
    if (id === 1) await new Promise((r) => setTimeout(r, 50))
    if (id === this.failOn) throw new Error(`cannot commit ${id}`)
    this.log.push(`end ${id}`)
  }
}

describe('completion notifications', () => {
  it('run one after another, in checkpoint order', async () => {
    const l = new Listener()
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: false, alignedTimeoutMs: undefined }, l)
    h.task.notifyCheckpointComplete(1, false)
    h.task.notifyCheckpointComplete(2, false)
    await h.run()
    await h.task.notificationsSettled()
    assert.deepEqual(l.log, ['start 1', 'end 1', 'start 2', 'end 2'])
  })

  it('a failed one fails the task and makes notificationsSettled reject (a final commit that failed is not success)', async () => {
    const l = new Listener(2)
    const h = await harness({ mode: 'EXACTLY_ONCE', unaligned: false, alignedTimeoutMs: undefined }, l)
    h.task.notifyCheckpointComplete(2, false)
    await h.run()
    await assert.rejects(h.task.notificationsSettled(), /cannot commit 2/)
    assert.equal(h.failures.length, 1)
  })
})

describe('a source task and its consumer\'s credit', () => {
  it('never queues more records than the credit in front of its consumer, whatever its poll size', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration())
    env.fromSource(new DataGeneratorSource((i) => i, Infinity), WatermarkStrategy.noWatermarks(), 'numbers').uid('numbers')
      .rebalance().map((v: number) => v).uid('m').addSink(() => {})
    const graph = env.getJobGraph()
    const vertex = graph.vertices.find((v) => graph.nodes[v.nodes[0]!]!.uid === 'numbers')!
    const out = new LocalChannel()
    const writer = new RecordWriter([out], 'forward', undefined, 128, undefined, 0)
    const task = new StreamTask({
      jobId: 'j'.repeat(32), graph, vertex, subtask: 0, attempt: 0, inputs: [], writers: new Map([[vertex.nodes[vertex.nodes.length - 1]!, [writer]]]), restore: undefined,
      storageFor: () => new MemoryStorage(), clock: new ManualClock(0), checkpointing: { mode: 'EXACTLY_ONCE', alignedTimeoutMs: undefined, unaligned: false } as CheckpointOptions,
      checkpointingEnabled: false, timestamps: { ts: undefined }, replay: [],
      keyedBackend: (range, maxP) => new HeapKeyedStateBackend(range, maxP),
      hooks: { ack: () => {}, decline: () => {}, finished: () => {}, fail: (_k, e) => { throw e }, wake: () => {} },
    })
    await task.initialize()
    let produced = 0
    for (const credit of [37, 5, 300, 1]) {
      out.setCredit(credit)
      for (let round = 0; round < 200; round++) {
        task.step(performance.now() + 5)
        assert.ok(out.queuedRecords <= Math.max(credit, 1), `credit ${credit}: ${out.queuedRecords} records queued`)
        // The consumer takes one batch now and then.
        if (round % 3 === 0) {
          const item = out.poll()
          if (item?.kind === 'batch') produced += item.records.length
        }
      }
      while (out.poll() !== undefined);
    }
    assert.ok(produced > 1000, `the source went on producing (${produced} records)`)
  })
})
