/**
 * Sends one operator's records over one edge: picks the channel per the partitioner, buffers
 * records per channel and hands them over as batches (of the size the channel's credit suggests;
 * the task flushes every buffer at the end of each step, so records never wait long). For keyed
 * edges the key is computed once here and travels with the record. Events (barriers, watermarks,
 * end) are broadcast after flushing, so they never overtake records.
 * Tests: test/task.test.ts and the job tests (test/integration/).
 */
import type { KeySpec, PartitionerKind } from '../graph/transformation.js'
import { keyGroupForKey, normalizeKey, operatorIndexForKeyGroup } from '../core/key-groups.js'
import type { Output, TimestampContext } from '../operators/operator.js'
import type { ChannelItem, OutputChannel } from './channel.js'

interface Buffer {
  records: unknown[]
  keys: unknown[] | null
  timestamps: number[] | null
}

export class RecordWriter implements Output<unknown> {
  private readonly buffers: Buffer[]
  private next: number
  /** Per channel: flush a buffer once it holds this many records (from the channel's credit). */
  private readonly hints: number[]
  /** Records spread over the channels (hash, round robin, shuffle) rather than sent to each or to one. */
  private readonly spreads: boolean

  constructor(
    readonly channels: OutputChannel[],
    partitioner: PartitionerKind,
    private readonly key: KeySpec | undefined,
    private readonly maxParallelism: number,
    private readonly timestamps: TimestampContext | undefined,
    subtask: number,
  ) {
    const keyed = partitioner === 'hash'
    this.buffers = channels.map(() => ({ records: [], keys: keyed ? [] : null, timestamps: timestamps === undefined ? null : [] }))
    this.next = subtask % channels.length
    this.hints = channels.map((c) => c.batchHint())
    this.spreads = partitioner !== 'forward' && partitioner !== 'global'
    this.collect = this.chooseCollect(partitioner)
  }

  /** Sends one record; specialized per partitioner in the constructor (the hot path). */
  collect: (record: unknown) => void

  private collectHashSingle(record: unknown): void {
    const b = this.buffers[0]!
    b.records.push(record)
    b.keys!.push(normalizeKey(this.key!.selector(record)))
    if (b.timestamps !== null) b.timestamps.push(this.timestamps!.ts ?? Number.NEGATIVE_INFINITY)
    if (b.records.length >= this.hints[0]!) this.flushChannel(0)
  }

  private collectHash(record: unknown): void {
    const key = normalizeKey(this.key!.selector(record))
    const target = operatorIndexForKeyGroup(this.maxParallelism, this.channels.length, keyGroupForKey(key, this.maxParallelism))
    const b = this.buffers[target]!
    b.records.push(record)
    b.keys!.push(key)
    if (b.timestamps !== null) b.timestamps.push(this.timestamps!.ts ?? Number.NEGATIVE_INFINITY)
    if (b.records.length >= this.hints[target]!) this.flushChannel(target)
  }

  private collectTo(target: number, record: unknown): void {
    const b = this.buffers[target]!
    b.records.push(record)
    if (b.timestamps !== null) b.timestamps.push(this.timestamps!.ts ?? Number.NEGATIVE_INFINITY)
    if (b.records.length >= this.hints[target]!) this.flushChannel(target)
  }

  private chooseCollect(partitioner: PartitionerKind): (record: unknown) => void {
    const n = this.channels.length
    switch (partitioner) {
      case 'hash':
        return n === 1 ? (r) => this.collectHashSingle(r) : (r) => this.collectHash(r)
      case 'forward':
      case 'global':
        return (r) => this.collectTo(0, r)
      case 'shuffle':
        return (r) => this.collectTo((Math.random() * n) | 0, r)
      default:
        return (r) => {
          const t = this.next
          this.next = t + 1 === n ? 0 : t + 1
          this.collectTo(t, r)
        }
    }
  }

  emitWatermark(timestamp: number): void {
    this.broadcast({ kind: 'watermark', timestamp })
  }

  private flushChannel(i: number): void {
    const b = this.buffers[i]!
    if (b.records.length === 0) return
    const c = this.channels[i]!
    c.send({ kind: 'batch', records: b.records, keys: b.keys, timestamps: b.timestamps })
    this.hints[i] = c.batchHint()
    b.records = []
    if (b.keys !== null) b.keys = []
    if (b.timestamps !== null) b.timestamps = []
  }

  flush(): void {
    for (let i = 0; i < this.buffers.length; i++) this.flushChannel(i)
  }

  broadcast(item: ChannelItem): void {
    this.flush()
    for (const c of this.channels) c.send(item)
  }

  hasCapacity(): boolean {
    for (const c of this.channels) if (!c.hasCapacity()) return false
    return true
  }

  /**
   * About how many more records this writer takes before a channel's credit runs out: the least
   * room of any channel (less what is buffered for it), times the channels when records spread
   * over them. A producer that emits in bulk (a source's poll) emits at most this many, so the
   * queue in front of the consumer stays near its credit (what buffer debloating aims at).
   */
  room(): number {
    let min = Number.POSITIVE_INFINITY
    for (let i = 0; i < this.channels.length; i++) {
      const r = this.channels[i]!.room() - this.buffers[i]!.records.length
      if (r < min) min = r
    }
    if (min <= 0) return 0
    return this.spreads ? min * this.channels.length : min
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
