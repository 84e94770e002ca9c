/**
 * A local channel's contract, which flow control and unaligned checkpoints rely on: FIFO order
 * with events in band, capacity by credit in records (events never count), batch hints from the
 * credit, a barrier announced when it enters the queue, and the items in front of a barrier; a
 * record writer's room (what a producer emitting in bulk may still emit). The FIFO queue under both
 * channel kinds, against an array as the model: drained and refilled, long with its front dropped,
 * read and replaced in place.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BATCH_SIZE, END_OF_PARTITION, Fifo, LocalChannel, batchHintFor, itemsBeforeBarrier, type ChannelItem, type RecordBatch } from '../src/runtime/task/channel.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { RecordWriter } from '../src/runtime/task/record-writer.js'

const batch = (...records: number[]): RecordBatch => ({ kind: 'batch', records, keys: null, timestamps: null })
const barrier = (id: number): ChannelItem => ({ kind: 'barrier', barrier: { id } as CheckpointBarrier })

describe('local channel', () => {
  it('delivers batches and events in the order sent, and counts only records as queued', () => {
    const c = new LocalChannel()
    const sent: ChannelItem[] = [batch(1, 2), barrier(1), batch(3), { kind: 'watermark', timestamp: 5 }, END_OF_PARTITION]
    for (const i of sent) c.send(i)
    assert.equal(c.queuedRecords, 3)
    const got: ChannelItem[] = []
    for (let i = c.poll(); i !== undefined; i = c.poll()) got.push(i)
    assert.deepEqual(got, sent)
    assert.equal(c.queuedRecords, 0)
    assert.equal(c.poll(), undefined)
  })

  it('has capacity while fewer records than its credit are queued; events never use credit', () => {
    const c = new LocalChannel()
    c.setCredit(4)
    assert.equal(c.hasCapacity(), true)
    c.send(batch(1, 2, 3))
    assert.equal(c.hasCapacity(), true, '3 of 4')
    c.send(barrier(1))
    c.send({ kind: 'watermark', timestamp: 1 })
    assert.equal(c.hasCapacity(), true, 'events do not count')
    c.send(batch(4))
    assert.equal(c.hasCapacity(), false, '4 of 4')
    c.poll()
    assert.equal(c.hasCapacity(), true, 'consuming a batch frees its records')
    c.setCredit(1)
    assert.equal(c.hasCapacity(), false, 'a lowered credit holds the producer back at once')
  })

  it('batch hints: half the credit, at least 1, at most a full batch', () => {
    assert.equal(batchHintFor(1), 1)
    assert.equal(batchHintFor(8), 4)
    assert.equal(batchHintFor(100), 50)
    assert.equal(batchHintFor(10 * BATCH_SIZE), BATCH_SIZE)
    const c = new LocalChannel()
    c.setCredit(40)
    assert.equal(c.batchHint(), 20)
  })

  it('announces a barrier when it enters the queue, before the consumer reaches it', () => {
    const c = new LocalChannel()
    const seen: number[] = []
    c.onBarrierArrival((b) => seen.push(b.id))
    c.send(batch(1))
    c.send(barrier(7))
    assert.deepEqual(seen, [7])
    assert.equal(c.queuedRecords, 1, 'the record in front is still queued')
  })

  it('the items in front of a barrier, and none when it is not queued', () => {
    const c = new LocalChannel()
    for (const i of [batch(1), barrier(1), batch(2), barrier(2)]) c.send(i)
    c.poll()
    assert.deepEqual(itemsBeforeBarrier(c.queuedItems(), 2), [barrier(1), batch(2)])
    assert.deepEqual(itemsBeforeBarrier(c.queuedItems(), 1), [])
    assert.equal(itemsBeforeBarrier(c.queuedItems(), 3), undefined)
  })

  it('keeps its order across many items (the queue compacts as it goes)', () => {
    const c = new LocalChannel()
    const out: number[] = []
    for (let i = 0; i < 5000; i++) {
      c.send(batch(i))
      if (i % 3 === 0) out.push(...(c.poll() as RecordBatch).records as number[])
    }
    for (let i = c.poll(); i !== undefined; i = c.poll()) out.push(...(i as RecordBatch).records as number[])
    assert.deepEqual(out, Array.from({ length: 5000 }, (_, i) => i))
  })
})

describe('room for a producer', () => {
  it('a channel\'s room is its credit less the records queued, never below 0', () => {
    const c = new LocalChannel()
    c.setCredit(10)
    assert.equal(c.room(), 10)
    c.send(batch(1, 2, 3))
    c.send(barrier(1))
    assert.equal(c.room(), 7, 'events take no room')
    c.setCredit(2)
    assert.equal(c.room(), 0, 'a lowered credit leaves no room, not a negative one')
    c.poll()
    assert.equal(c.room(), 2)
  })

  it('a writer\'s room: the least room of its channels less what it buffers, times the channels when records spread', () => {
    const a = new LocalChannel()
    const b = new LocalChannel()
    a.setCredit(40)
    b.setCredit(40)
    const forward = new RecordWriter([a], 'forward', undefined, 128, undefined, 0)
    forward.collect(1)
    forward.collect(2)
    assert.equal(forward.room(), 38, 'buffered records count against the room')
    const spread = new RecordWriter([a, b], 'rebalance', undefined, 128, undefined, 0)
    b.send(batch(...Array.from({ length: 30 }, (_, i) => i)))
    assert.equal(spread.room(), 2 * 10, 'the fullest channel (10 left) times two channels')
    b.send(batch(...Array.from({ length: 15 }, (_, i) => i)))
    assert.equal(spread.room(), 0, 'a channel over its credit leaves no room')
  })
})

describe('fifo', () => {
  it('matches an array used as a queue: drained and refilled, long, read and replaced in place', () => {
    const q = new Fifo<number>()
    const model: number[] = []
    let seed = 7
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n)
    let next = 0
    for (let step = 0; step < 20_000; step++) {
      // Phases: mostly drained (pushes and shifts even), then a queue thousands long.
      const long = (step >> 12) % 2 === 1
      const r = rnd(10)
      if (r < (long ? 6 : 5)) {
        q.push(next)
        model.push(next++)
      } else if (r < 9) {
        assert.equal(q.shift(), model.shift())
      } else if (model.length > 0) {
        const i = rnd(model.length)
        assert.equal(q.at(i), model[i])
        q.set(i, -model[i]! - 1)
        model[i] = -model[i]! - 1
      }
      assert.equal(q.size, model.length)
    }
    assert.ok(next > 10_000)
    assert.deepEqual(q.toArray(), model)
    while (model.length > 0) assert.equal(q.shift(), model.shift())
    assert.equal(q.shift(), undefined)
    q.push(1)
    assert.deepEqual([q.size, q.shift(), q.size], [1, 1, 0])
  })
})
