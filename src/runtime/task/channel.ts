/**
 * What flows between tasks: batches of records and events (barriers, watermarks, end of partition),
 * through bounded in-memory channels. A batch carries its records' keys (for keyed edges, computed
 * once by the sender) and timestamps (when the job uses event time).
 *
 * Architecture Invariant: a channel is FIFO; a barrier or watermark is never overtaken by a record
 * sent after it, and end-of-partition is the last item of a channel.
 * Pure. Tests: through test/task.test.ts.
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

export type ChannelItem = RecordBatch | BarrierEvent | WatermarkEvent | EndOfPartition

export const END_OF_PARTITION: EndOfPartition = { kind: 'end' }

/** A FIFO of items with a soft capacity in items (the producer checks `hasCapacity` before work). */
export class Channel {
  private items: ChannelItem[] = []
  private head = 0

  constructor(readonly capacity: number) {}

  push(item: ChannelItem): void {
    this.items.push(item)
  }

  peek(): ChannelItem | undefined {
    return this.items[this.head]
  }

  poll(): ChannelItem | undefined {
    const item = this.items[this.head]
    if (item === undefined) return undefined
    this.items[this.head++] = undefined as unknown as ChannelItem
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  get size(): number {
    return this.items.length - this.head
  }

  hasCapacity(): boolean {
    return this.size < this.capacity
  }
}
