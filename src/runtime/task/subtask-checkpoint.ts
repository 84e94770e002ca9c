/**
 * The checkpoint side of one subtask (Flink's SubtaskCheckpointCoordinator with its barrier
 * handler): knows which checkpoints the coordinator started, aligns barriers through the
 * BarrierAligner, takes the snapshot at the barrier (synchronous part: O(number of states)),
 * forwards the barrier, persists the snapshot asynchronously and acknowledges it; forwards
 * completion and abort notifications to the operators in order.
 *
 * Unaligned checkpoints (`execution.checkpointing.unaligned.enabled`, or an aligned one that took
 * longer than `aligned-checkpoint-timeout`): the snapshot is taken at the first barrier, the
 * barrier is forwarded at once, nothing blocks, and the records that were still in front of a
 * channel's barrier at that moment are persisted as channel state with the snapshot; a restore
 * replays them before any new input.
 *
 * Architecture Invariants:
 * - a barrier is forwarded after every record that preceded it (writers flush before events) and
 *   before the snapshot's asynchronous part starts;
 * - aligned: no record behind a barrier reaches an operator before that checkpoint's snapshot;
 * - unaligned: every record before a barrier is either in the operators' state or in the
 *   persisted channel state, never both;
 * - a finished task still acknowledges checkpoints, with its final state.
 * Tests: test/task.test.ts, test/unaligned.test.ts.
 */
import { serialize } from 'node:v8'
import type { CheckpointBarrier, CheckpointingMode } from '../checkpoint/options.js'
import type { ChannelStateBatch } from '../checkpoint/channel-state.js'
import type { FileReference } from '../checkpoint/metadata.js'
import { writeStateFile } from '../checkpoint/file-check.js'
import type { OperatorSubtaskSnapshot } from '../checkpoint/snapshot.js'
import type { Clock, Cancellable } from '../clock.js'
import type { KeyedSnapshotJob } from '../state/keyed-backend.js'
import type { OperatorStateBackend } from '../state/operator-state-backend.js'
import { stateFileName } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { BarrierAligner, type AlignmentDecision } from './barrier-aligner.js'
import { itemsBeforeBarrier, type InputChannel, type RecordBatch } from './channel.js'
import type { ChainMember, OperatorChain } from './operator-chain.js'
import type { RecordWriter } from './record-writer.js'

export interface CheckpointHooks {
  ack(id: number, operators: OperatorSubtaskSnapshot[]): void
  decline(id: number, error: unknown): void
  /** Async work of the task failed (a completion notification). */
  fail(error: unknown): void
}

export interface CheckpointOptions {
  readonly mode: CheckpointingMode
  /** Take every checkpoint unaligned (EXACTLY_ONCE only). */
  readonly unaligned: boolean
  /** Aligned checkpoints switch to unaligned when alignment takes longer (ms); undefined: never. */
  readonly alignedTimeoutMs: number | undefined
}


/**
 * The task-side options from the checkpoint settings, as Flink reads them: with unaligned
 * checkpoints enabled, a positive aligned-checkpoint timeout starts each checkpoint aligned and
 * switches it to unaligned when alignment takes longer; without one, every checkpoint is unaligned.
 */
export function taskCheckpointOptions(s: { mode: CheckpointingMode; unaligned: boolean; alignedTimeoutMs: number | undefined }): CheckpointOptions {
  const timeout = s.unaligned && s.alignedTimeoutMs !== undefined && s.alignedTimeoutMs > 0 ? s.alignedTimeoutMs : undefined
  return { mode: s.mode, unaligned: s.unaligned && timeout === undefined, alignedTimeoutMs: timeout }
}

interface Part {
  m: ChainMember
  opState: ReturnType<OperatorStateBackend['snapshot']>
  keyed: KeyedSnapshotJob | undefined
}

/** An unaligned snapshot still recording the records in front of some channels' barriers. */
interface Recording {
  barrier: CheckpointBarrier
  /** Channels whose barrier has not been reached yet. */
  open: Set<number>
  batches: ChannelStateBatch[]
  parts: Part[]
  flushes: Promise<void>[]
}

export class SubtaskCheckpoint {
  /**
   * Checkpoints the coordinator started that this subtask has not snapshotted yet. A barrier may
   * reach a task before the coordinator's message does (they travel different ways between
   * threads): the barrier alone is enough to take the snapshot, and a late message is ignored.
   */
  private readonly expected = new Map<number, CheckpointBarrier>()
  /** Checkpoints this subtask snapshotted, or that were aborted: never snapshotted (again). */
  private readonly handled = new Set<number>()
  private readonly aborted = new Set<number>()
  private readonly aligner: BarrierAligner | undefined
  private notifications: Promise<void> = Promise.resolve()
  private recording: Recording | undefined
  private alignmentTimer: Cancellable | undefined
  private readonly closed = new Set<number>()
  /** Set by the task: adds the unprocessed rest of the batch in progress, if it is from `channel`. */
  partial: ((channel: number, r: { batches: ChannelStateBatch[] }) => void) | undefined
  /** A stop-with-savepoint barrier went out: the source emits nothing more unless it is aborted. */
  stoppedBy: number | undefined

  constructor(
    private readonly chain: OperatorChain,
    private readonly writers: readonly RecordWriter[],
    private readonly inputs: readonly InputChannel[],
    private readonly subtask: number,
    private readonly opts: CheckpointOptions,
    private readonly storageFor: (location: string) => Storage,
    private readonly clock: Clock,
    private readonly hooks: CheckpointHooks,
    /** Runs a function in the task's mailbox (between records). */
    private readonly mail: (fn: () => void) => void,
    private readonly taskState: () => string,
  ) {
    this.numInputs = inputs.length
    this.aligner = chain.source !== undefined ? undefined : new BarrierAligner(inputs.length, opts.mode)
  }

  private readonly numInputs: number

  // ---- barriers from the inputs ----

  isBlocked(channel: number): boolean {
    return this.aligner?.isBlocked(channel) === true
  }

  /** Whether the input processor must report the records it processes (an unaligned snapshot records in-flight data). */
  get isRecording(): boolean {
    return this.recording !== undefined
  }

  /** A record range of `channel` is about to be processed; while recording, it is in-flight data of the snapshot. */
  record(channel: number, b: RecordBatch, from: number, to: number): void {
    const r = this.recording
    if (r === undefined || !r.open.has(channel)) return
    r.batches.push({
      channel,
      records: b.records.slice(from, to),
      keys: b.keys === null ? null : b.keys.slice(from, to),
      timestamps: b.timestamps === null ? null : b.timestamps.slice(from, to),
    })
  }

  private isUnaligned(barrier: CheckpointBarrier): boolean {
    return this.opts.unaligned && this.opts.mode === 'EXACTLY_ONCE' && barrier.type === 'checkpoint'
  }

  /**
   * A barrier entered the queue of `channel` (it may still be behind records). Unaligned: the
   * first one starts the snapshot at once; every one closes its channel's in-flight data.
   */
  onBarrierArrival(channel: number, barrier: CheckpointBarrier): void {
    if (!this.isUnaligned(barrier)) return
    const r = this.recording
    if (r !== undefined && r.barrier.id === barrier.id) {
      this.captureBeforeBarrier(r, channel)
      this.maybeFinishRecording()
    } else if (this.isOpen(barrier.id) && this.aligner?.aligning === undefined) {
      this.startUnaligned(barrier, [])
    }
  }

  /** A barrier reached the head of `channel`'s queue. */
  onBarrier(channel: number, barrier: CheckpointBarrier): void {
    const r = this.recording
    if (r !== undefined && barrier.id === r.barrier.id) {
      r.open.delete(channel)
      this.maybeFinishRecording()
      return
    }
    if (this.isUnaligned(barrier) && this.isOpen(barrier.id) && this.aligner?.aligning === undefined) {
      this.startUnaligned(barrier, [])
      this.recording?.open.delete(channel)
      this.maybeFinishRecording()
      return
    }
    const aligner = this.aligner!
    const wasAligning = aligner.aligning
    this.onAlignment(aligner.onBarrier(channel, barrier.id), barrier)
    if (wasAligning === undefined && aligner.aligning !== undefined) this.armAlignmentTimeout(barrier)
  }

  onEndOfPartition(channel: number): void {
    this.closed.add(channel)
    if (this.recording !== undefined) {
      this.recording.open.delete(channel)
      this.maybeFinishRecording()
    }
    if (this.aligner !== undefined) this.onAlignment(this.aligner.onEndOfPartition(channel), undefined)
  }

  private onAlignment(d: AlignmentDecision, barrier: CheckpointBarrier | undefined): void {
    if (d.action === 'abort') {
      this.hooks.decline(d.aborted, new Error(`Checkpoint ${d.aborted} was overtaken by a newer checkpoint during alignment`))
      this.onAlignment(d.then, barrier)
    } else if (d.action === 'snapshot') {
      this.alignmentTimer?.cancel()
      this.alignmentTimer = undefined
      const b = this.expected.get(d.id) ?? (barrier?.id === d.id ? barrier : undefined)
      if (b !== undefined) this.snapshot(b, true)
      if (d.then !== undefined) this.onAlignment(d.then, barrier)
    }
  }

  /** An aligned checkpoint that waits longer than the aligned-checkpoint timeout goes unaligned. */
  private armAlignmentTimeout(barrier: CheckpointBarrier): void {
    const t = this.opts.alignedTimeoutMs
    if (t === undefined || this.opts.mode !== 'EXACTLY_ONCE' || barrier.type !== 'checkpoint') return
    const wait = Math.max(0, barrier.timestamp + t - this.clock.now())
    this.alignmentTimer?.cancel()
    this.alignmentTimer = this.clock.schedule(wait, () => {
      this.mail(() => {
        this.alignmentTimer = undefined
        const aligner = this.aligner
        if (aligner === undefined || aligner.aligning !== barrier.id || !this.isOpen(barrier.id)) return
        const reached: number[] = []
        for (let c = 0; c < this.numInputs; c++) if (aligner.isBlocked(c)) reached.push(c)
        this.startUnaligned(barrier, reached)
      })
    })
  }

  /**
   * Takes an unaligned snapshot now: forwards the barrier, and collects as channel state the
   * records still in front of the barrier on every channel that has not delivered it (those
   * already queued are copied now; those not yet arrived are recorded as they are processed).
   */
  private startUnaligned(barrier: CheckpointBarrier, reached: readonly number[]): void {
    if (!this.take(barrier.id)) return
    // Later barriers of this checkpoint are handled here, never by the aligner.
    this.aligner!.abort(barrier.id)
    const open = new Set<number>()
    for (let c = 0; c < this.numInputs; c++) if (!reached.includes(c) && !this.closed.has(c)) open.add(c)
    const { parts, flushes } = this.syncSnapshot(barrier, true)
    const r: Recording = { barrier, open, batches: [], parts, flushes }
    this.recording = r
    for (const c of [...open]) this.captureBeforeBarrier(r, c)
    this.maybeFinishRecording()
  }

  /** If barrier `r` is queued on `channel`, the records in front of it are its channel state: copy them, stop recording it. */
  private captureBeforeBarrier(r: Recording, channel: number): void {
    if (!r.open.has(channel)) return
    const ahead = itemsBeforeBarrier(this.inputs[channel]!.queuedItems(), r.barrier.id)
    if (ahead === undefined) return
    // The batch being processed right now (if from this channel) is partly done: its rest comes first.
    this.partial?.(channel, r)
    for (const item of ahead) {
      if (item.kind !== 'batch') continue
      r.batches.push({ channel, records: item.records.slice(), keys: item.keys?.slice() ?? null, timestamps: item.timestamps?.slice() ?? null })
    }
    r.open.delete(channel)
  }

  private maybeFinishRecording(): void {
    const r = this.recording
    if (r === undefined || r.open.size > 0) return
    this.recording = undefined
    this.finish(r.barrier, r.parts, r.flushes, r.batches)
  }

  // ---- barriers from the coordinator ----

  /** The coordinator started checkpoint `barrier` (every task hears of it; sources act on it). */
  expect(barrier: CheckpointBarrier): void {
    if (!this.isOpen(barrier.id)) return
    this.expected.set(barrier.id, barrier)
    if (this.taskState() === 'FINISHED') {
      this.mail(() => this.snapshot(barrier, false))
    } else if (this.chain.source !== undefined) {
      this.mail(() => {
        const st = this.taskState()
        if (st === 'RUNNING') this.snapshot(barrier, true)
        else if (st === 'FINISHED') this.snapshot(barrier, false)
      })
    }
  }

  /** The task reached the end of its input: checkpoints that started before are acknowledged with the final state. */
  onFinished(): void {
    for (const b of [...this.expected.values()].sort((a, c) => a.id - c.id)) this.snapshot(b, false)
  }

  // ---- snapshots ----

  /** Checkpoint `id` is neither snapshotted nor aborted here. */
  private isOpen(id: number): boolean {
    return !this.handled.has(id)
  }

  /** Marks checkpoint `id` as taken; false when it was snapshotted or aborted before. */
  private take(id: number): boolean {
    if (this.handled.has(id)) return false
    this.handled.add(id)
    this.expected.delete(id)
    if (this.handled.size > 256) for (const old of this.handled) if (old < id - 128) this.handled.delete(old)
    return true
  }

  private syncSnapshot(barrier: CheckpointBarrier, emitBarrier: boolean): { parts: Part[]; flushes: Promise<void>[] } {
    const sctx = { checkpointId: barrier.id, timestamp: barrier.timestamp, isSavepoint: barrier.type === 'savepoint' }
    for (const m of this.chain.members) m.operator.prepareSnapshotPreBarrier(barrier.id)
    const source = this.chain.source
    if (barrier.stop !== undefined && source !== undefined && emitBarrier) {
      if (barrier.stop.drain) source.emitFinalWatermark()
      this.stoppedBy = barrier.id
    }
    if (emitBarrier) for (const w of this.writers) w.broadcast({ kind: 'barrier', barrier })
    const parts: Part[] = []
    for (const m of this.chain.members) {
      m.operator.snapshotState(sctx)
      const keyed = m.keyed?.snapshot(m.timers!.snapshot(), barrier)
      parts.push({ m, opState: m.operatorState.snapshot(), keyed })
    }
    const flushes = this.chain.members.map((m) => m.operator.snapshotStateAsync(sctx))
    return { parts, flushes }
  }

  private snapshot(barrier: CheckpointBarrier, emitBarrier: boolean): void {
    if (!this.take(barrier.id)) return
    const { parts, flushes } = this.syncSnapshot(barrier, emitBarrier)
    this.finish(barrier, parts, flushes, [])
  }

  private finish(barrier: CheckpointBarrier, parts: Part[], flushes: Promise<void>[], channelState: ChannelStateBatch[]): void {
    Promise.all(flushes).then(() => this.persist(barrier, parts, channelState)).then(
      (ops) => this.hooks.ack(barrier.id, ops),
      (err: unknown) => this.hooks.decline(barrier.id, err),
    )
  }

  private async persist(barrier: CheckpointBarrier, parts: Part[], channelState: ChannelStateBatch[]): Promise<OperatorSubtaskSnapshot[]> {
    const subtask = this.subtask
    const storage = this.storageFor(barrier.location)
    const out: OperatorSubtaskSnapshot[] = []
    let first = true
    for (const { m, opState, keyed } of parts) {
      const files: FileReference[] = []
      const snap: OperatorSubtaskSnapshot = {
        operatorId: m.operatorId, uid: m.uid, name: m.name, parallelism: m.parallelism, maxParallelism: m.maxParallelism, subtask, files,
      }
      if (keyed !== undefined) {
        const persisted = await keyed.persist({ location: barrier.location, storage, fileName: (kind) => stateFileName(kind, m.operatorId, subtask) })
        if (persisted.handle !== undefined) snap.keyed = persisted.handle
        files.push(...persisted.files)
      }
      if (opState !== undefined && !this.aborted.has(barrier.id)) {
        const file = stateFileName('op', m.operatorId, subtask)
        files.push(await writeStateFile(storage, barrier.location, file, opState.data))
        snap.operator = { file, states: opState.states }
      }
      // The head operator owns the in-flight records of the task's inputs.
      if (first && channelState.length > 0 && !this.aborted.has(barrier.id)) {
        const data = serialize(channelState)
        const file = stateFileName('channel', m.operatorId, subtask)
        files.push(await writeStateFile(storage, barrier.location, file, data))
        snap.channel = { file, batches: channelState.length }
      }
      first = false
      out.push(snap)
    }
    return out
  }

  // ---- notifications ----

  notifyComplete(id: number, isSavepoint: boolean): void {
    this.mail(() => {
      for (const k of this.chain.keyedMembers) k.notifyCheckpointComplete(id)
      // One after another: a notification starts once the previous one (of every operator) ended.
      this.notifications = this.notifications.then(async () => {
        for (const m of this.chain.members) await m.operator.notifyCheckpointComplete(id, isSavepoint)
      }).catch((err: unknown) => {
        this.notificationError ??= err
        this.hooks.fail(err)
      })
    })
  }

  notifyAborted(id: number): void {
    if (this.stoppedBy === id) this.stoppedBy = undefined
    this.aborted.add(id)
    this.handled.add(id)
    this.expected.delete(id)
    this.aligner?.abort(id)
    if (this.recording?.barrier.id === id) this.recording = undefined
    for (const k of this.chain.keyedMembers) k.notifyCheckpointAborted(id)
    this.mail(() => {
      for (const m of this.chain.members) m.operator.notifyCheckpointAborted(id)
    })
  }

  /** Resolves once every completion notification delivered so far has been handled. */
  /** Rejects when a completion notification failed (e.g. a sink could not commit): the job must not report success. */
  notificationsSettled(): Promise<void> {
    return this.notifications.then(() => {
      if (this.notificationError !== undefined) throw this.notificationError
    })
  }

  private notificationError: unknown

  cancel(): void {
    this.alignmentTimer?.cancel()
  }
}
