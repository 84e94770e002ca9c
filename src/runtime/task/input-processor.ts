/**
 * Reads a task's input channels and feeds the head of its operator chain (Flink's
 * StreamOneInputProcessor with its StatusWatermarkValve): picks channels round-robin, skips
 * channels the barrier handler blocks, sets the current key and timestamp of each record, keeps
 * the minimum watermark over open channels, and hands barriers and end-of-partition to the task.
 *
 * Steps are bounded in time: a batch may be processed across several steps (a cursor stays in
 * it), so the task's mails (barrier injection, timers, cancellation) are served within about one
 * step even when user code is slow per record.
 *
 * It also measures its own throughput and sets its channels' credit so that what is queued in
 * front of it takes about TARGET_QUEUE_MS to process (Flink's buffer debloating): barriers then
 * reach a slow operator quickly, and fast operators still get large batches.
 * Tests: test/task.test.ts.
 */
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { StreamOperator, TimestampContext } from '../operators/operator.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import type { StateKey } from '../core/key-groups.js'
import { INITIAL_CREDIT, MAX_CREDIT, MIN_CREDIT, type ChannelItem, type InputChannel, type RecordBatch } from './channel.js'

/** How long the records queued in front of a task should take it to process. */
export const TARGET_QUEUE_MS = 10
const DEBLOAT_PERIOD_MS = 50

export interface InputEvents {
  /** A barrier arrived on `channel`. */
  barrier(channel: number, barrier: CheckpointBarrier): void
  /** `channel` ended (its end-of-partition was read). */
  endOfPartition(channel: number): void
  /** Whether `channel` is blocked (aligning a checkpoint). */
  isBlocked(channel: number): boolean
  /** A record of `channel` is about to be processed (unaligned checkpoints record in-flight data). */
  readonly recording: boolean
  record(channel: number, batch: RecordBatch, from: number, to: number): void
}

export class StreamInputProcessor {
  private next = 0
  private current: RecordBatch | undefined
  private currentChannel = 0
  private index = 0
  /** Records processed per time check; adapts so a check comes about every 0.25 ms. */
  private chunk = 64
  private readonly inputWatermarks: number[]
  private readonly closed: boolean[]
  private openCount: number
  private currentWatermark = Number.NEGATIVE_INFINITY
  // Debloating.
  private windowStart = performance.now()
  private windowRecords = 0
  private windowBusyMs = 0
  private credit = INITIAL_CREDIT

  constructor(
    private readonly inputs: readonly InputChannel[],
    private readonly head: StreamOperator,
    private readonly keyed: KeyedStateBackend | undefined,
    private readonly ts: TimestampContext,
    private readonly events: InputEvents,
  ) {
    this.inputWatermarks = inputs.map(() => Number.NEGATIVE_INFINITY)
    this.closed = inputs.map(() => false)
    this.openCount = inputs.length
  }

  get allClosed(): boolean {
    return this.openCount === 0
  }

  /** The records of the batch in progress not processed yet, if that batch came from `channel`. */
  unprocessed(channel: number): { records: unknown[]; keys: unknown[] | null; timestamps: number[] | null } | undefined {
    const b = this.current
    if (b === undefined || this.currentChannel !== channel || this.index >= b.records.length) return undefined
    const i = this.index
    return { records: b.records.slice(i), keys: b.keys?.slice(i) ?? null, timestamps: b.timestamps?.slice(i) ?? null }
  }

  /** Processes input until `deadline` (performance.now() ms) or until nothing is available. */
  step(deadline: number, canContinue: () => boolean): boolean {
    const start = performance.now()
    let progressed = false
    for (;;) {
      if (this.current !== undefined) {
        progressed = true
        if (!this.continueBatch(deadline)) break
        if (!canContinue() || performance.now() >= deadline) break
        continue
      }
      const item = this.pollNext()
      if (item === undefined) break
      progressed = true
      const c = this.currentChannel
      if (item.kind === 'batch') {
        this.current = item
        this.index = 0
        continue
      }
      if (item.kind === 'barrier') this.events.barrier(c, item.barrier)
      else if (item.kind === 'watermark') {
        this.inputWatermarks[c] = item.timestamp
        this.advanceWatermark()
      } else {
        this.closed[c] = true
        this.openCount--
        this.events.endOfPartition(c)
        this.advanceWatermark()
      }
      if (!canContinue() || performance.now() >= deadline) break
    }
    if (progressed) this.windowBusyMs += performance.now() - start
    this.debloat()
    return progressed
  }

  private pollNext(): ChannelItem | undefined {
    const inputs = this.inputs
    const n = inputs.length
    for (let k = 0; k < n; k++) {
      const c = this.next
      this.next = c + 1 === n ? 0 : c + 1
      if (this.closed[c] || this.events.isBlocked(c)) continue
      const item = inputs[c]!.poll()
      if (item !== undefined) {
        this.currentChannel = c
        return item
      }
    }
    return undefined
  }

  /** Processes records of the current batch; true when the batch is done. */
  private continueBatch(deadline: number): boolean {
    const b = this.current!
    const { records, keys, timestamps } = b
    const n = records.length
    const head = this.head
    const keyed = this.keyed
    const ts = this.ts
    let i = this.index
    while (i < n) {
      const end = Math.min(n, i + this.chunk)
      const t0 = performance.now()
      if (this.events.recording) this.events.record(this.currentChannel, b, i, end)
      if (keyed !== undefined && keys !== null) {
        if (timestamps === null) {
          for (let j = i; j < end; j++) {
            keyed.currentKey = keys[j] as StateKey
            head.processElement(records[j])
          }
        } else {
          for (let j = i; j < end; j++) {
            keyed.currentKey = keys[j] as StateKey
            ts.ts = timestamps[j]
            head.processElement(records[j])
          }
        }
      } else if (timestamps !== null) {
        for (let j = i; j < end; j++) {
          ts.ts = timestamps[j]
          head.processElement(records[j])
        }
      } else {
        for (let j = i; j < end; j++) head.processElement(records[j])
      }
      const t1 = performance.now()
      this.windowRecords += end - i
      this.adaptChunk(end - i, t1 - t0)
      i = end
      if (i < n && t1 >= deadline) break
    }
    this.index = i
    if (i < n) return false
    this.current = undefined
    return true
  }

  private adaptChunk(done: number, ms: number): void {
    if (ms > 0.5) this.chunk = Math.max(1, done >> 1) // a shift: an odd count halved stays an integer for the compiled code
    else if (ms < 0.1 && this.chunk < 1024) this.chunk *= 2
  }

  private advanceWatermark(): void {
    let min = Number.POSITIVE_INFINITY
    let open = false
    for (let i = 0; i < this.inputWatermarks.length; i++) {
      if (this.closed[i]) continue
      open = true
      if (this.inputWatermarks[i]! < min) min = this.inputWatermarks[i]!
    }
    if (!open) return
    if (min > this.currentWatermark) {
      this.currentWatermark = min
      this.head.processWatermark(min)
    }
  }

  /** Sets every channel's credit from the throughput measured over the last period. */
  private debloat(): void {
    const now = performance.now()
    if (now - this.windowStart < DEBLOAT_PERIOD_MS) return
    const busy = this.windowBusyMs
    const records = this.windowRecords
    this.windowStart = now
    this.windowBusyMs = 0
    this.windowRecords = 0
    if (records < 64 || busy <= 0) return
    const perMs = records / busy
    const perChannel = (perMs * TARGET_QUEUE_MS) / Math.max(1, this.openCount)
    const target = Math.max(MIN_CREDIT, Math.min(MAX_CREDIT, Math.round(perChannel)))
    // Smooth: move half way, so one odd period does not swing the credit.
    this.credit = Math.round((this.credit + target) / 2)
    for (const c of this.inputs) c.setCredit(this.credit)
  }
}
