/**
 * One parallel subtask of a job vertex, driven like Flink's mailbox loop: the executor calls
 * `step(deadline)`; a step first runs queued mails (checkpoint triggers, timers, notifications),
 * then moves input until the deadline: a source polls its reader, any other task reads its
 * channels (input-processor.ts). The task glues the operator chain (operator-chain.ts), the input
 * processor and the subtask's checkpointing (subtask-checkpoint.ts); it holds no logic of its own
 * beyond its lifecycle: CREATED → RUNNING → FINISHED (end of input) | CANCELED.
 * Steps are synchronous; persisting a snapshot is the only asynchronous work and never touches
 * live state. Tests: test/task.test.ts and the job tests.
 */
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { OperatorSubtaskSnapshot } from '../checkpoint/snapshot.js'
import type { Cancellable, Clock } from '../clock.js'
import { objectArray } from '../core/shapes.js'
import type { TaskServices, TimestampContext } from '../operators/operator.js'
import type { Storage } from '../storage/storage.js'
import { END_OF_PARTITION, type InputChannel, type RecordBatch } from './channel.js'
import { StreamInputProcessor } from './input-processor.js'
import { OperatorChain, type ChainSetup } from './operator-chain.js'
import type { RecordWriter } from './record-writer.js'
import { SubtaskCheckpoint, type CheckpointOptions } from './subtask-checkpoint.js'
import { loadReplay, type ReplaySource } from '../checkpoint/channel-state.js'

export type TaskState = 'CREATED' | 'RUNNING' | 'FINISHED' | 'CANCELED'

/** How a task reports to whoever runs it. */
export interface TaskHooks {
  ack(id: number, taskKey: string, operators: OperatorSubtaskSnapshot[]): void
  decline(id: number, taskKey: string, error: unknown): void
  /** The task processed all its input (it still takes part in checkpoints). */
  finished(taskKey: string): void
  /** The task failed outside a step (in a mail's async work). */
  fail(taskKey: string, error: unknown): void
  /** Something became runnable. */
  wake(): void
}

export interface TaskSetup extends Omit<ChainSetup, 'services'> {
  readonly inputs: InputChannel[]
  readonly storageFor: (location: string) => Storage
  readonly clock: Clock
  readonly checkpointing: CheckpointOptions
  readonly checkpointingEnabled: boolean
  readonly timestamps: TimestampContext
  /** Files of records that were in flight into this subtask at the restored checkpoint (unaligned): replayed first. */
  readonly replay: readonly ReplaySource[]
  readonly hooks: TaskHooks
}

const SOURCE_POLL_MAX = 1024

export class StreamTask {
  readonly key: string
  state: TaskState = 'CREATED'
  private readonly chain: OperatorChain
  private readonly processor: StreamInputProcessor | undefined
  private readonly checkpoints: SubtaskCheckpoint
  private readonly writers: RecordWriter[]
  /**
   * One array for the task's life, an array of functions from the start (core/shapes.ts): the
   * source loop checks its length after every poll.
   */
  private readonly mails = objectArray<() => void>()
  private waitingForSource = false
  private readonly scheduled: Cancellable[] = []
  /** Records the source may emit per poll; adapts so that a poll takes about a quarter of a millisecond. */
  private pollMax = 64
  private replay: RecordBatch[] = []

  constructor(private readonly setup: TaskSetup) {
    this.key = `${setup.vertex.id}#${setup.subtask}`
    this.writers = [...setup.writers.values()].flat()
    const services: TaskServices = {
      clock: setup.clock,
      timestamps: setup.timestamps,
      checkpointingEnabled: setup.checkpointingEnabled,
      scheduleAt: (at, fn) => {
        this.scheduled.push(setup.clock.schedule(at - setup.clock.now(), () => this.mail(fn)))
      },
    }
    this.chain = new OperatorChain({ ...setup, services })
    this.checkpoints = new SubtaskCheckpoint(
      this.chain, this.writers, setup.inputs, setup.subtask, setup.checkpointing, setup.storageFor, setup.clock,
      {
        ack: (id, ops) => setup.hooks.ack(id, this.key, ops),
        decline: (id, err) => setup.hooks.decline(id, this.key, err),
        fail: (err) => setup.hooks.fail(this.key, err),
      },
      (fn) => this.mail(fn),
      () => this.state,
    )
    if (this.chain.source === undefined) {
      const cp = this.checkpoints
      this.processor = new StreamInputProcessor(setup.inputs, this.chain.head, this.chain.headKeyed, setup.timestamps, {
        barrier: (c, b) => cp.onBarrier(c, b),
        endOfPartition: (c) => {
          cp.onEndOfPartition(c)
          if (this.processor!.allClosed) this.endOfData()
        },
        isBlocked: (c) => cp.isBlocked(c),
        get recording() {
          return cp.isRecording
        },
        record: (c, b, from, to) => cp.record(c, b, from, to),
      })
      const processor = this.processor
      cp.partial = (channel, r) => {
        const rest = processor.unprocessed(channel)
        if (rest !== undefined) r.batches.push({ channel, ...rest })
      }
      setup.inputs.forEach((ch, c) => ch.onBarrierArrival((b) => this.mail(() => cp.onBarrierArrival(c, b))))
    }
  }

  /** Queues `fn` to run in this task between records, and wakes the executor. */
  mail(fn: () => void): void {
    this.mails.push(fn)
    this.setup.hooks.wake()
  }

  get name(): string {
    return `${this.setup.vertex.name} (${this.setup.subtask + 1}/${this.setup.vertex.parallelism})`
  }

  get isSource(): boolean {
    return this.chain.source !== undefined
  }

  /** Restores state, then initializes and opens every operator. */
  async initialize(): Promise<void> {
    await this.chain.initialize(this.setup.storageFor)
    if (this.setup.replay.length > 0) {
      const batches = await loadReplay(this.setup.replay, this.setup.storageFor)
      this.replay = batches.map((b) => ({ kind: 'batch', records: b.records, keys: b.keys, timestamps: b.timestamps }))
    }
    this.state = 'RUNNING'
  }

  /** Runs mails, then moves input until `deadline` (performance.now() ms); false when there was nothing to do. */
  step(deadline: number): boolean {
    let worked = false
    if (this.mails.length > 0) {
      const mails = this.mails.splice(0)
      for (const mail of mails) mail()
      worked = true
    }
    if (this.state !== 'RUNNING') return worked
    if (!this.hasOutputCapacity()) return worked
    let moved: boolean
    if (this.chain.source !== undefined) moved = this.stepSource(deadline)
    else if (this.replay.length > 0) moved = this.stepReplay()
    else moved = this.processor!.step(deadline, () => this.state === 'RUNNING' && this.mails.length === 0 && this.hasOutputCapacity())
    for (const w of this.writers) w.flush()
    this.chain.maintain()
    return moved || worked
  }

  private hasOutputCapacity(): boolean {
    for (const w of this.writers) if (!w.hasCapacity()) return false
    return true
  }

  /** Records the task's outputs take before a channel's credit runs out (unbounded without outputs). */
  private outputRoom(): number {
    let min = Number.POSITIVE_INFINITY
    for (const w of this.writers) {
      const r = w.room()
      if (r < min) min = r
    }
    return min
  }

  private stepSource(deadline: number): boolean {
    const source = this.chain.source!
    if (this.waitingForSource || this.checkpoints.stoppedBy !== undefined) return false
    for (;;) {
      // A poll emits at most what the outputs take before a credit runs out (records buffered count).
      const room = this.outputRoom()
      if (room <= 0) return true
      const t0 = performance.now()
      const status = source.emitNext(Math.min(this.pollMax, room))
      const t1 = performance.now()
      if (t1 - t0 > 0.5) this.pollMax = Math.max(1, this.pollMax >> 1)
      else if (t1 - t0 < 0.1 && this.pollMax < SOURCE_POLL_MAX) this.pollMax <<= 1
      if (status === 'END_OF_INPUT') {
        source.emitFinalWatermark()
        this.endOfData()
        return true
      }
      if (status === 'NOTHING_AVAILABLE') {
        this.waitingForSource = true
        source.isAvailable().then(
          () => {
            this.waitingForSource = false
            this.setup.hooks.wake()
          },
          (err: unknown) => this.setup.hooks.fail(this.key, err),
        )
        return true
      }
      if (t1 >= deadline || this.mails.length > 0 || this.checkpoints.stoppedBy !== undefined) return true
    }
  }

  /** Replays records that were in flight at the restored (unaligned) checkpoint, before any input. */
  private stepReplay(): boolean {
    const b = this.replay.shift()!
    const keyed = this.chain.headKeyed
    const head = this.chain.head
    const ts = this.setup.timestamps
    for (let i = 0; i < b.records.length; i++) {
      if (keyed !== undefined && b.keys !== null) keyed.currentKey = b.keys[i] as never
      if (b.timestamps !== null) ts.ts = b.timestamps[i]
      head.processElement(b.records[i])
    }
    return true
  }

  /** The coordinator started checkpoint `barrier`. */
  expectCheckpoint(barrier: CheckpointBarrier): void {
    this.checkpoints.expect(barrier)
    this.setup.hooks.wake()
  }

  notifyCheckpointComplete(id: number, isSavepoint: boolean): void {
    this.checkpoints.notifyComplete(id, isSavepoint)
  }

  notifyCheckpointAborted(id: number): void {
    this.checkpoints.notifyAborted(id)
    this.setup.hooks.wake()
  }

  /** Resolves once every completion notification delivered so far has been handled. */
  async notificationsSettled(): Promise<void> {
    while (this.mails.length > 0 && this.state !== 'CANCELED') await new Promise((r) => setImmediate(r))
    await this.checkpoints.notificationsSettled()
  }

  private endOfData(): void {
    this.chain.endInput()
    for (const w of this.writers) w.broadcast(END_OF_PARTITION)
    this.state = 'FINISHED'
    this.checkpoints.onFinished()
    this.setup.hooks.finished(this.key)
  }

  /** Stops the task (cancel or failover); operators are closed, errors ignored. */
  async cancel(): Promise<void> {
    if (this.state === 'CANCELED') return
    this.state = 'CANCELED'
    this.mails.length = 0
    for (const s of this.scheduled) s.cancel()
    this.checkpoints.cancel()
    await this.chain.close(true)
  }

  /** Closes a finished task normally. */
  async close(): Promise<void> {
    for (const s of this.scheduled) s.cancel()
    this.checkpoints.cancel()
    await this.chain.close(false)
  }
}
