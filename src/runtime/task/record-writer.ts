/**
 * Sends one operator's records over one edge: picks the channel per the partitioner, buffers
 * records per channel and hands them over as batches. For keyed edges the key is computed once
 * here and travels with the record. Events (barriers, watermarks, end) are broadcast after
 * flushing, so they never overtake records.
 */
import type { KeySpec, PartitionerKind } from '../graph/transformation.js'
import { keyGroupForKey, normalizeKey, operatorIndexForKeyGroup } from '../state/key-groups.js'
import type { Output, TimestampContext } from '../operators/operator.js'
import type { Channel, ChannelItem } from './channel.js'

export const BATCH_SIZE = 1024

interface Buffer {
  records: unknown[]
  keys: unknown[] | null
  timestamps: number[] | null
}

export class RecordWriter implements Output<unknown> {
  private readonly buffers: Buffer[]
  private next: number

  constructor(
    readonly channels: Channel[],
    private readonly partitioner: PartitionerKind,
    private readonly key: KeySpec | undefined,
    private readonly maxParallelism: number,
    private readonly timestamps: TimestampContext | undefined,
    subtask: number,
  ) {
    const keyed = partitioner === 'hash'
    this.buffers = channels.map(() => ({ records: [], keys: keyed ? [] : null, timestamps: timestamps === undefined ? null : [] }))
    this.next = subtask % channels.length
  }

  collect(record: unknown): void {
    let target: number
    let key: unknown
    const n = this.channels.length
    switch (this.partitioner) {
      case 'hash': {
        key = normalizeKey(this.key!.selector(record))
        target = n === 1 ? 0 : operatorIndexForKeyGroup(this.maxParallelism, n, keyGroupForKey(key as never, this.maxParallelism))
        break
      }
      case 'forward':
      case 'global':
        target = 0
        break
      case 'shuffle':
        target = (Math.random() * n) | 0
        break
      default:
        target = this.next
        this.next = this.next + 1 === n ? 0 : this.next + 1
    }
    const b = this.buffers[target]!
    b.records.push(record)
    if (b.keys !== null) b.keys.push(key)
    if (b.timestamps !== null) b.timestamps.push(this.timestamps!.ts ?? Number.NEGATIVE_INFINITY)
    if (b.records.length >= BATCH_SIZE) this.flushChannel(target)
  }

  emitWatermark(timestamp: number): void {
    this.broadcast({ kind: 'watermark', timestamp })
  }

  private flushChannel(i: number): void {
    const b = this.buffers[i]!
    if (b.records.length === 0) return
    this.channels[i]!.push({ kind: 'batch', records: b.records, keys: b.keys, timestamps: b.timestamps })
    b.records = []
    if (b.keys !== null) b.keys = []
    if (b.timestamps !== null) b.timestamps = []
  }

  flush(): void {
    for (let i = 0; i < this.buffers.length; i++) this.flushChannel(i)
  }

  broadcast(item: ChannelItem): void {
    this.flush()
    for (const c of this.channels) c.push(item)
  }

  hasCapacity(): boolean {
    for (const c of this.channels) if (!c.hasCapacity()) return false
    return true
  }
}

/** Sends to several outputs (an operator with several consumers). */
export class BroadcastingOutput implements Output<unknown> {
  constructor(private readonly outputs: Output<unknown>[]) {}

  collect(record: unknown): void {
    for (const o of this.outputs) o.collect(record)
  }

  emitWatermark(timestamp: number): void {
    for (const o of this.outputs) o.emitWatermark(timestamp)
  }
}
