/**
 * What flows between tasks, and the two ends of a channel: batches of records and events
 * (barriers, watermarks, end of partition). A batch carries its records' keys (keyed edges: the
 * sender computes each key once) and timestamps (when the job uses event time).
 *
 * Flow control is credit-based, as Flink's network stack: the consumer grants a channel a credit
 * in records (set from its measured throughput, so that what is queued in front of it takes about
 * a fixed time to process: Flink's buffer debloating), the producer checks `hasCapacity()` before
 * it produces and aims its batches at `batchHint()`. Events do not count against the credit, so a
 * barrier is never held back by flow control; it still never overtakes a record sent before it.
 *
 * Architecture Invariant: a channel is FIFO for data and events alike; end-of-partition is the
 * last item of a channel. Unaligned checkpoints read ahead of the queue (`queuedItems`) but never
 * reorder it.
 * `LocalChannel` connects two tasks of the same thread; remote-channel.ts connects threads.
 * Pure. Tests: test/channel.test.ts.
 */
import type { CheckpointBarrier } from '../checkpoint/options.js'

export interface RecordBatch {
  readonly kind: 'batch'
  readonly records: unknown[]
  readonly keys: unknown[] | null
  readonly timestamps: number[] | null
}

export interface BarrierEvent {
  readonly kind: 'barrier'
  readonly barrier: CheckpointBarrier
}

export interface WatermarkEvent {
  readonly kind: 'watermark'
  readonly timestamp: number
}

export interface EndOfPartition {
  readonly kind: 'end'
}

export type ChannelEvent = BarrierEvent | WatermarkEvent | EndOfPartition
export type ChannelItem = RecordBatch | ChannelEvent

export const END_OF_PARTITION: EndOfPartition = { kind: 'end' }

/** The items in front of barrier `id` in a queue, or undefined when the barrier is not queued. */
export function itemsBeforeBarrier(items: readonly ChannelItem[], id: number): ChannelItem[] | undefined {
  const k = items.findIndex((i) => i.kind === 'barrier' && i.barrier.id === id)
  return k < 0 ? undefined : items.slice(0, k)
}

/** Records per batch at most. */
export const BATCH_SIZE = 1024
/** Credit a channel starts with, before its consumer measured anything. */
export const INITIAL_CREDIT = BATCH_SIZE / 4
export const MIN_CREDIT = 8
export const MAX_CREDIT = 32 * BATCH_SIZE

/** The consumer's end of a channel. */
export interface InputChannel {
  poll(): ChannelItem | undefined
  /** The items queued now, oldest first (read-only view; unaligned checkpoints copy from it). */
  queuedItems(): readonly ChannelItem[]
  /** Records queued now. */
  readonly queuedRecords: number
  /** How many records the producer may have in flight on this channel. */
  setCredit(records: number): void
  /** Called when a barrier enters the queue (before the consumer reaches it): unaligned checkpoints start there. */
  onBarrierArrival(listener: ((barrier: CheckpointBarrier) => void) | undefined): void
}

/** The producer's end of a channel. */
export interface OutputChannel {
  /** Sends a batch (counts against the credit) or an event (never held back). */
  send(item: ChannelItem): void
  /** Whether the producer may produce more for this channel now. */
  hasCapacity(): boolean
  /** Records the producer may still send before its credit runs out (0 when none). */
  room(): number
  /** Records a batch should hold, given the current credit. */
  batchHint(): number
  /** True when send() copies a batch before it returns (the producer may then reuse its arrays). */
  readonly copiesBatches?: boolean
}

export function batchHintFor(credit: number): number {
  return Math.max(1, Math.min(BATCH_SIZE, credit >> 1))
}

/**
 * The FIFO queue behind both kinds of input channel: an array read from `head`, reused from its
 * start once drained (the usual case); a long queue drops its consumed front once that is most of
 * it. The drained case is checked first, on every poll, so the compiled poll never meets a branch
 * it had not taken when a long queue first forms (that threw the input loop's code away mid-run).
 */
export class Fifo<T> {
  private items: T[] = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** The item `i` places from the front (0: the next one polled); `i` < size. */
  at(i: number): T {
    return this.items[this.head + i]!
  }

  set(i: number, item: T): void {
    this.items[this.head + i] = item
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]!
    this.items[this.head++] = undefined as unknown as T
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** The items queued now, oldest first (a copy). */
  toArray(): T[] {
    return this.items.slice(this.head)
  }
}

/** A channel between two tasks of the same thread: a FIFO queue with a credit in records. */
export class LocalChannel implements InputChannel, OutputChannel {
  private readonly queue = new Fifo<ChannelItem>()
  private records = 0
  private credit = INITIAL_CREDIT
  private arrival: ((barrier: CheckpointBarrier) => void) | undefined

  send(item: ChannelItem): void {
    this.queue.push(item)
    if (item.kind === 'batch') this.records += item.records.length
    else if (item.kind === 'barrier' && this.arrival !== undefined) this.arrival(item.barrier)
  }

  onBarrierArrival(listener: ((barrier: CheckpointBarrier) => void) | undefined): void {
    this.arrival = listener
  }

  poll(): ChannelItem | undefined {
    const item = this.queue.shift()
    if (item === undefined) return undefined
    if (item.kind === 'batch') this.records -= item.records.length
    return item
  }

  queuedItems(): readonly ChannelItem[] {
    return this.queue.toArray()
  }

  get queuedRecords(): number {
    return this.records
  }

  get size(): number {
    return this.queue.size
  }

  setCredit(records: number): void {
    this.credit = records
  }

  hasCapacity(): boolean {
    return this.records < this.credit
  }

  room(): number {
    return Math.max(0, this.credit - this.records)
  }

  batchHint(): number {
    return batchHintFor(this.credit)
  }
}
