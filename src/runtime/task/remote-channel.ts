/**
 * Channels between task slots on different threads, over one MessagePort per pair of slots
 * (Flink's netty partition client/server, in miniature). A batch crosses as one buffer
 * (batch-codec.ts: numbers as a Float64Array, anything else v8-serialized) whose memory is
 * transferred, not copied; events (barriers, watermarks, end of partition)
 * cross as small messages in the same FIFO, so they never overtake a batch sent before them.
 *
 * Credit-based flow control: the receiver acknowledges what it consumed with its current credit;
 * the sender produces only while its records and bytes in flight are below them. A message names
 * the attempt it belongs to: messages of an older attempt are dropped, messages of a newer attempt
 * wait until that attempt's channels exist (a faster slot may start sending before a slower one
 * deployed).
 * Tests: test/workers.test.ts (across slots), test/channel.test.ts (the local channel's contract).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import { decodeBatch, encodeBatch } from './batch-codec.js'
import type { CheckpointBarrier } from '../checkpoint/options.js'
import { Fifo, INITIAL_CREDIT, batchHintFor, type ChannelEvent, type ChannelItem, type InputChannel, type OutputChannel, type RecordBatch } from './channel.js'

/** Bytes a channel may have in flight at most, whatever its credit. */
export const MAX_IN_FLIGHT_BYTES = 4 << 20

export type PeerMessage =
  | { t: 'd'; a: number; c: string; b: ArrayBuffer; n: number; f: number }
  | { t: 'e'; a: number; c: string; e: ChannelEvent }
  | { t: 'k'; a: number; c: string; n: number; bytes: number; credit: number }

type Queued = ChannelItem | { kind: 'raw'; data: Uint8Array; n: number; form: number }

export class RemoteOutputChannel implements OutputChannel {
  private inFlight = 0
  private inFlightBytes = 0
  private credit = INITIAL_CREDIT
  /** A batch crosses as a copy of its records, made in send(). */
  readonly copiesBatches = true

  constructor(
    private readonly link: PeerLink,
    readonly id: string,
  ) {}

  send(item: ChannelItem): void {
    if (item.kind === 'batch') {
      const { buffer: b, form: f } = encodeBatch(item)
      const n = item.records.length
      this.inFlight += n
      this.inFlightBytes += b.byteLength
      this.link.post({ t: 'd', a: this.link.attempt, c: this.id, b, n, f }, [b])
    } else {
      this.link.post({ t: 'e', a: this.link.attempt, c: this.id, e: item }, [])
    }
  }

  hasCapacity(): boolean {
    return this.inFlight < this.credit && this.inFlightBytes < MAX_IN_FLIGHT_BYTES
  }

  room(): number {
    return this.inFlightBytes < MAX_IN_FLIGHT_BYTES ? Math.max(0, this.credit - this.inFlight) : 0
  }

  batchHint(): number {
    return batchHintFor(this.credit)
  }

  onCredit(consumed: number, bytes: number, credit: number): void {
    this.inFlight -= consumed
    this.inFlightBytes -= bytes
    this.credit = credit
  }
}

export class RemoteInputChannel implements InputChannel {
  private readonly queue = new Fifo<Queued>()
  private records = 0
  private credit = INITIAL_CREDIT
  private arrival: ((barrier: CheckpointBarrier) => void) | undefined

  constructor(
    private readonly link: PeerLink,
    readonly id: string,
  ) {}

  onData(data: Uint8Array, n: number, form: number): void {
    this.queue.push({ kind: 'raw', data, n, form })
    this.records += n
  }

  onEvent(e: ChannelEvent): void {
    this.queue.push(e)
    if (e.kind === 'barrier' && this.arrival !== undefined) this.arrival(e.barrier)
  }

  /** The item `i` places from the front, decoded (once: it replaces the raw one in the queue). */
  private decode(i: number): ChannelItem {
    const q = this.queue.at(i)
    if (q.kind !== 'raw') return q
    const { records, keys, timestamps } = decodeBatch(q.data, q.form, q.n)
    const b: RecordBatch & { bytes: number } = { kind: 'batch', records, keys, timestamps, bytes: q.data.byteLength }
    this.queue.set(i, b)
    return b
  }

  poll(): ChannelItem | undefined {
    if (this.queue.size === 0) return undefined
    const item = this.decode(0)
    this.queue.shift()
    if (item.kind === 'batch') {
      const n = item.records.length
      this.records -= n
      this.link.post({ t: 'k', a: this.link.attempt, c: this.id, n, bytes: (item as { bytes?: number }).bytes ?? 0, credit: this.credit }, [])
    }
    return item
  }

  queuedItems(): readonly ChannelItem[] {
    const out: ChannelItem[] = []
    for (let i = 0; i < this.queue.size; i++) out.push(this.decode(i))
    return out
  }

  get queuedRecords(): number {
    return this.records
  }

  setCredit(records: number): void {
    this.credit = records
  }

  onBarrierArrival(listener: ((barrier: CheckpointBarrier) => void) | undefined): void {
    this.arrival = listener
  }
}

/**
 * One slot's end of the port to another slot: routes incoming messages to the channels of the
 * current attempt, holds back messages of a later attempt until its channels are registered.
 */
export class PeerLink {
  attempt = -1
  private readonly inputs = new Map<string, RemoteInputChannel>()
  private readonly outputs = new Map<string, RemoteOutputChannel>()
  private early: PeerMessage[] = []

  constructor(
    private readonly port: MessagePort,
    /** Called after a message changed something a task may wait for. */
    private readonly wake: () => void,
  ) {
    port.on('message', (m: PeerMessage) => this.receive(m))
  }

  /** Starts attempt `attempt`: channels of earlier attempts are forgotten. */
  begin(attempt: number): void {
    this.attempt = attempt
    this.inputs.clear()
    this.outputs.clear()
  }

  /** All channels of the attempt are registered: deliver what arrived early. */
  ready(): void {
    const early = this.early
    this.early = []
    for (const m of early) this.receive(m)
  }

  output(id: string): RemoteOutputChannel {
    const c = new RemoteOutputChannel(this, id)
    this.outputs.set(id, c)
    return c
  }

  input(id: string): RemoteInputChannel {
    const c = new RemoteInputChannel(this, id)
    this.inputs.set(id, c)
    return c
  }

  /** Takes every message that has arrived, without waiting for the event loop to deliver it. */
  poll(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) this.receive(m.message as PeerMessage)
  }

  post(m: PeerMessage, transfer: ArrayBuffer[]): void {
    this.port.postMessage(m, transfer)
  }

  private receive(m: PeerMessage): void {
    if (m.a < this.attempt) return
    if (m.a > this.attempt) {
      this.early.push(m)
      return
    }
    if (m.t === 'k') {
      this.outputs.get(m.c)?.onCredit(m.n, m.bytes, m.credit)
    } else {
      const c = this.inputs.get(m.c)
      if (c === undefined) {
        // Channels of this attempt are not registered yet.
        this.early.push(m)
        return
      }
      if (m.t === 'd') c.onData(new Uint8Array(m.b), m.n, m.f)
      else c.onEvent(m.e)
    }
    this.wake()
  }

  close(): void {
    this.port.close()
  }
}
