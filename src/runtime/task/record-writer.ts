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

/**
 * Records waiting for one channel. The arrays are made at the size the channel's batch hint asks
 * for and filled by index (`n` records so far): growing them by push would allocate about four
 * times their final size on the way (V8 grows a backing store by half plus 16 and copies it).
 */
interface Buffer {
  records: unknown[]
  keys: unknown[] | null
  timestamps: number[] | null
  n: number
}

function emptyBuffer(size: number, keyed: boolean, timestamps: boolean): Buffer {
  return { records: new Array<unknown>(size), keys: keyed ? new Array<unknown>(size) : null, timestamps: timestamps ? new Array<number>(size) : null, n: 0 }
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
    this.hints = channels.map((c) => c.batchHint())
    this.buffers = channels.map((_c, i) => emptyBuffer(this.hints[i]!, partitioner === 'hash', timestamps !== undefined))
    this.next = subtask % channels.length
    this.spreads = partitioner !== 'forward' && partitioner !== 'global'
    this.collect = this.chooseCollect(partitioner)
  }

  /** Sends one record; specialized per partitioner in the constructor (the hot path). */
  collect: (record: unknown) => void

  private collectHashSingle(record: unknown): void {
    const b = this.buffers[0]!
    const i = b.n
    b.records[i] = record
    b.keys![i] = normalizeKey(this.key!.selector(record))
    if (b.timestamps !== null) b.timestamps[i] = this.timestamps!.ts ?? Number.NEGATIVE_INFINITY
    if ((b.n = i + 1) >= this.hints[0]!) this.flushChannel(0)
  }

  private collectHash(record: unknown): void {
    const key = normalizeKey(this.key!.selector(record))
    const target = operatorIndexForKeyGroup(this.maxParallelism, this.channels.length, keyGroupForKey(key, this.maxParallelism))
    const b = this.buffers[target]!
    const i = b.n
    b.records[i] = record
    b.keys![i] = key
    if (b.timestamps !== null) b.timestamps[i] = this.timestamps!.ts ?? Number.NEGATIVE_INFINITY
    if ((b.n = i + 1) >= this.hints[target]!) this.flushChannel(target)
  }

  private collectTo(target: number, record: unknown): void {
    const b = this.buffers[target]!
    const i = b.n
    b.records[i] = record
    if (b.timestamps !== null) b.timestamps[i] = this.timestamps!.ts ?? Number.NEGATIVE_INFINITY
    if ((b.n = i + 1) >= this.hints[target]!) this.flushChannel(target)
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
    const n = b.n
    if (n === 0) return
    // A batch holds exactly its records: a buffer flushed before it filled is cut to size.
    if (b.records.length !== n) {
      b.records.length = n
      if (b.keys !== null) b.keys.length = n
      if (b.timestamps !== null) b.timestamps.length = n
    }
    const c = this.channels[i]!
    c.send({ kind: 'batch', records: b.records, keys: b.keys, timestamps: b.timestamps })
    const hint = c.batchHint()
    this.hints[i] = hint
    // A channel that copied the batch leaves its arrays to the next one, if they have its size.
    if (c.copiesBatches === true && b.records.length === hint) b.n = 0
    else this.buffers[i] = emptyBuffer(hint, b.keys !== null, b.timestamps !== null)
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
      const r = this.channels[i]!.room() - this.buffers[i]!.n
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
