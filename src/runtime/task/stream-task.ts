/**
 * One parallel subtask of a job vertex: a chain of operators driven like Flink's mailbox loop.
 * The scheduler calls `step()`; a step first runs queued mails (checkpoint triggers, timers,
 * notifications), then moves one unit of input: a source polls up to a batch of records, any other
 * task takes one item from an input channel. Steps are synchronous; persisting a snapshot is the
 * only asynchronous work and never touches live state.
 *
 * Architecture Invariants:
 * - a barrier is forwarded before the task's snapshot is taken, and after every record that
 *   precedes it (writers flush before broadcasting events);
 * - in EXACTLY_ONCE mode no record behind a barrier is processed before that checkpoint's
 *   snapshot (the BarrierAligner blocks the channel);
 * - a finished task (end of data) still acknowledges checkpoints, with its final state.
 * Tests: test/task.test.ts and the integration tests.
 */
import type { CheckpointBarrier, CheckpointingMode } from '../checkpoint/options.js'
import { writeStateFile } from '../checkpoint/file-check.js'
import type { FileReference } from '../checkpoint/metadata.js'
import type { OperatorSubtaskSnapshot } from '../checkpoint/snapshot.js'
import type { RestorePlan } from '../checkpoint/state-assignment.js'
import type { Cancellable, Clock } from '../clock.js'
import type { JobGraph, JobVertex } from '../graph/job-graph.js'
import type { OperatorId } from '../ids.js'
import type { Output, StreamOperator, TaskServices, TimestampContext } from '../operators/operator.js'
import { InternalTimerService } from '../operators/timer-service.js'
import type { KeyedSnapshotJob, KeyedStateBackend } from '../state/keyed-backend.js'
import type { KeyGroupRange } from '../state/key-groups.js'
import { keyGroupRangeForSubtask, normalizeKey, type StateKey } from '../state/key-groups.js'
import { OperatorStateBackend } from '../state/operator-state-backend.js'
import { stateFileName } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { BarrierAligner, type AlignmentDecision } from './barrier-aligner.js'
import { END_OF_PARTITION, type Channel, type RecordBatch } from './channel.js'
import { BATCH_SIZE, BroadcastingOutput, RecordWriter } from './record-writer.js'
import { SourceOperator } from './source-operator.js'

export type TaskState = 'CREATED' | 'RUNNING' | 'FINISHED' | 'CANCELED' | 'FAILED'

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

export interface TaskSetup {
  readonly jobId: string
  readonly graph: JobGraph
  readonly vertex: JobVertex
  readonly subtask: number
  readonly attempt: number
  readonly inputs: Channel[]
  /** Per node of this vertex: writers of its non-chained outgoing edges. */
  readonly writers: Map<number, RecordWriter[]>
  readonly storageFor: (location: string) => Storage
  readonly clock: Clock
  readonly mode: CheckpointingMode
  readonly checkpointingEnabled: boolean
  readonly restore: RestorePlan | undefined
  /** Creates the keyed state backend of a keyed operator. */
  readonly keyedBackend: (range: KeyGroupRange, maxParallelism: number, operator: string) => KeyedStateBackend
  readonly timestamps: TimestampContext
  readonly hooks: TaskHooks
}

interface ChainMember {
  /** Keyed state of this operator, when it reads a keyed stream. */
  keyed: KeyedStateBackend | undefined
  timers: InternalTimerService | undefined
  node: number
  operatorId: OperatorId
  uid: string | null
  name: string
  parallelism: number
  maxParallelism: number
  operator: StreamOperator
  operatorState: OperatorStateBackend
}

export class StreamTask {
  readonly key: string
  state: TaskState = 'CREATED'
  private readonly chain: ChainMember[] = []
  private readonly head: StreamOperator
  private readonly source: SourceOperator | undefined
  /** The head operator's keyed state, when the task reads a keyed stream. */
  private readonly keyed: KeyedStateBackend | undefined
  private readonly keyedMembers: KeyedStateBackend[]
  private readonly writers: RecordWriter[]
  private readonly aligner: BarrierAligner | undefined
  private readonly inputWatermarks: number[]
  private readonly closedInputs: boolean[]
  private currentWatermark = Number.NEGATIVE_INFINITY
  private nextChannel = 0
  private mails: (() => void)[] = []
  private waitingForSource = false
  /** A stop-with-savepoint barrier went out: the source emits nothing more unless it is aborted. */
  private stoppedBy: number | undefined
  private readonly scheduled: Cancellable[] = []
  /** Checkpoints started by the coordinator that this task has not yet snapshotted. */
  private readonly expected = new Map<number, CheckpointBarrier>()
  private readonly aborted = new Set<number>()

  constructor(private readonly setup: TaskSetup) {
    const { vertex, graph, subtask } = setup
    this.key = `${vertex.id}#${subtask}`
    const headNode = graph.nodes[vertex.nodes[0]!]!
    this.aligner = headNode.kind === 'source' ? undefined : new BarrierAligner(setup.inputs.length, setup.mode)
    this.inputWatermarks = setup.inputs.map(() => Number.NEGATIVE_INFINITY)
    this.closedInputs = setup.inputs.map(() => false)
    this.writers = [...setup.writers.values()].flat()

    // Build operators tail-first so each one's output (its chained successors) exists.
    const members = new Map<number, ChainMember>()
    for (const nodeIndex of [...vertex.nodes].reverse()) {
      const node = graph.nodes[nodeIndex]!
      const operator = node.kind === 'source' ? new SourceOperator(node.source!, node.watermarks!) : node.createOperator!()
      const keyed = node.keyed
        ? setup.keyedBackend(keyGroupRangeForSubtask(node.maxParallelism, node.parallelism, subtask), node.maxParallelism, `${node.operatorId.slice(0, 12)}-${subtask}`)
        : undefined
      members.set(nodeIndex, {
        keyed, timers: keyed === undefined ? undefined : new InternalTimerService(),
        node: nodeIndex, operatorId: node.operatorId, uid: node.uid, name: node.name,
        parallelism: node.parallelism, maxParallelism: node.maxParallelism, operator, operatorState: new OperatorStateBackend(),
      })
    }
    for (const nodeIndex of vertex.nodes) this.chain.push(members.get(nodeIndex)!)
    const services: TaskServices = {
      clock: setup.clock,
      timestamps: setup.timestamps,
      checkpointingEnabled: setup.checkpointingEnabled,
      scheduleAt: (at, fn) => {
        this.scheduled.push(setup.clock.schedule(at - setup.clock.now(), () => {
          this.mails.push(fn)
          setup.hooks.wake()
        }))
      },
    }
    for (const m of this.chain) {
      const outputs: Output<unknown>[] = []
      for (const e of graph.edges) {
        if (e.from !== m.node || !e.chained) continue
        const target = members.get(e.to)!
        const next = target.operator
        if (e.partitioner === 'hash') {
          // A keyed edge fused into the chain (both sides run with parallelism 1).
          const selector = e.key!.selector
          const backend = target.keyed!
          outputs.push({
            collect: (r) => {
              backend.currentKey = normalizeKey(selector(r))
              next.processElement(r)
            },
            emitWatermark: (w) => next.processWatermark(w),
          })
        } else {
          outputs.push({ collect: (r) => next.processElement(r), emitWatermark: (w) => next.processWatermark(w) })
        }
      }
      outputs.push(...(setup.writers.get(m.node) ?? []))
      const output: Output<unknown> = outputs.length === 1 ? outputs[0]! : outputs.length === 0 ? DISCARD : new BroadcastingOutput(outputs)
      const plan = setup.restore?.operators.get(m.operatorId)
      m.operator.setup({
        operatorId: m.operatorId, uid: m.uid, name: m.name, jobId: setup.jobId, subtask, parallelism: m.parallelism,
        maxParallelism: m.maxParallelism, attempt: setup.attempt, output,
        keyed: m.keyed, timers: m.timers,
        operatorState: m.operatorState, task: services, restored: plan !== undefined,
      })
    }
    this.head = this.chain[0]!.operator
    this.keyed = this.chain[0]!.keyed
    this.keyedMembers = this.chain.flatMap((m) => (m.keyed === undefined ? [] : [m.keyed]))
    this.source = this.head instanceof SourceOperator ? this.head : undefined
  }

  get name(): string {
    return `${this.setup.vertex.name} (${this.setup.subtask + 1}/${this.setup.vertex.parallelism})`
  }

  get isSource(): boolean {
    return this.source !== undefined
  }

  /** Restores state, then initializes and opens every operator (tail first, as Flink does). */
  async initialize(): Promise<void> {
    const plan = this.setup.restore
    if (plan !== undefined) {
      for (const m of this.chain) {
        const op = plan.operators.get(m.operatorId)
        const st = op?.subtasks[this.setup.subtask]
        if (st === undefined) continue
        for (const [name, elements] of st.lists) m.operatorState.restore(name, elements)
        if (m.keyed !== undefined && st.keyed.length > 0) m.timers!.restore(await m.keyed.restore(st.keyed, this.setup.storageFor))
      }
    }
    for (const m of this.chain) await m.operator.initializeState()
    for (const m of [...this.chain].reverse()) await m.operator.open()
    this.state = 'RUNNING'
  }

  /** Does one unit of work; returns false when there was nothing to do. */
  step(): boolean {
    let worked = false
    if (this.mails.length > 0) {
      const mails = this.mails
      this.mails = []
      for (const mail of mails) mail()
      worked = true
    }
    if (this.state !== 'RUNNING') return worked
    for (const w of this.writers) if (!w.hasCapacity()) return worked
    if (this.source !== undefined) return this.stepSource() || worked
    return this.stepInput() || worked
  }

  private stepSource(): boolean {
    if (this.waitingForSource || this.stoppedBy !== undefined) return false
    const status = this.source!.emitNext(BATCH_SIZE)
    for (const w of this.writers) w.flush()
    if (status === 'END_OF_INPUT') {
      this.source!.emitFinalWatermark()
      this.endOfData()
    } else if (status === 'NOTHING_AVAILABLE') {
      this.waitingForSource = true
      this.source!.isAvailable().then(
        () => {
          this.waitingForSource = false
          this.setup.hooks.wake()
        },
        (err: unknown) => this.setup.hooks.fail(this.key, err),
      )
    }
    return true
  }

  private stepInput(): boolean {
    const inputs = this.setup.inputs
    const n = inputs.length
    const aligner = this.aligner!
    for (let k = 0; k < n; k++) {
      const c = this.nextChannel
      this.nextChannel = c + 1 === n ? 0 : c + 1
      if (aligner.isBlocked(c)) continue
      const item = inputs[c]!.poll()
      if (item === undefined) continue
      switch (item.kind) {
        case 'batch':
          this.processBatch(item)
          break
        case 'barrier':
          this.onAlignment(aligner.onBarrier(c, item.barrier.id), item.barrier)
          break
        case 'watermark':
          this.inputWatermarks[c] = item.timestamp
          this.advanceWatermark()
          break
        case 'end':
          this.closedInputs[c] = true
          this.onAlignment(aligner.onEndOfPartition(c), undefined)
          this.advanceWatermark()
          if (this.closedInputs.every(Boolean)) this.endOfData()
          break
      }
      for (const w of this.writers) w.flush()
      for (const k of this.keyedMembers) k.maintain()
      return true
    }
    return false
  }

  private processBatch(b: RecordBatch): void {
    const { records, keys, timestamps } = b
    const head = this.head
    const n = records.length
    const ts = this.setup.timestamps
    const keyed = this.keyed
    if (keyed !== undefined && keys !== null) {
      if (timestamps === null) {
        for (let i = 0; i < n; i++) {
          keyed.currentKey = keys[i] as StateKey
          head.processElement(records[i])
        }
      } else {
        for (let i = 0; i < n; i++) {
          keyed.currentKey = keys[i] as StateKey
          ts.ts = timestamps[i]
          head.processElement(records[i])
        }
      }
    } else if (timestamps !== null) {
      for (let i = 0; i < n; i++) {
        ts.ts = timestamps[i]
        head.processElement(records[i])
      }
    } else {
      for (let i = 0; i < n; i++) head.processElement(records[i])
    }
  }

  private advanceWatermark(): void {
    let min = Number.POSITIVE_INFINITY
    let open = false
    for (let i = 0; i < this.inputWatermarks.length; i++) {
      if (this.closedInputs[i]) continue
      open = true
      if (this.inputWatermarks[i]! < min) min = this.inputWatermarks[i]!
    }
    if (!open) return
    if (min > this.currentWatermark) {
      this.currentWatermark = min
      this.head.processWatermark(min)
    }
  }

  private barrierFor(id: number, fallback: CheckpointBarrier | undefined): CheckpointBarrier | undefined {
    return this.expected.get(id) ?? (fallback?.id === id ? fallback : undefined)
  }

  private onAlignment(d: AlignmentDecision, barrier: CheckpointBarrier | undefined): void {
    if (d.action === 'abort') {
      this.setup.hooks.decline(d.aborted, this.key, new Error(`Checkpoint ${d.aborted} was overtaken by a newer checkpoint during alignment`))
      this.onAlignment(d.then, barrier)
    } else if (d.action === 'snapshot') {
      const b = this.barrierFor(d.id, barrier)
      if (b !== undefined) this.checkpoint(b, true)
      if (d.then !== undefined) this.onAlignment(d.then, barrier)
    }
  }

  /** The coordinator started checkpoint `barrier` (every task hears of it, sources act on it). */
  expectCheckpoint(barrier: CheckpointBarrier): void {
    this.expected.set(barrier.id, barrier)
    if (this.state === 'FINISHED') {
      this.mails.push(() => this.checkpoint(barrier, false))
    } else if (this.source !== undefined) {
      this.mails.push(() => {
        if (this.state === 'RUNNING') this.checkpoint(barrier, true)
        else if (this.state === 'FINISHED') this.checkpoint(barrier, false)
      })
    }
  }

  private checkpoint(barrier: CheckpointBarrier, emitBarrier: boolean): void {
    if (!this.expected.delete(barrier.id)) {
      // Not expected (aborted already): forward it so downstream tasks do not stall, take nothing.
      if (emitBarrier && !this.aborted.has(barrier.id)) for (const w of this.writers) w.broadcast({ kind: 'barrier', barrier })
      return
    }
    const sctx = { checkpointId: barrier.id, timestamp: barrier.timestamp, isSavepoint: barrier.type === 'savepoint' }
    for (const m of this.chain) m.operator.prepareSnapshotPreBarrier(barrier.id)
    if (barrier.stop !== undefined && this.source !== undefined && this.state === 'RUNNING') {
      if (barrier.stop.drain) this.source.emitFinalWatermark()
      this.stoppedBy = barrier.id
    }
    if (emitBarrier) for (const w of this.writers) w.broadcast({ kind: 'barrier', barrier })
    const parts: { m: ChainMember; opState: ReturnType<OperatorStateBackend['snapshot']>; keyed: KeyedSnapshotJob | undefined }[] = []
    for (const m of this.chain) {
      m.operator.snapshotState(sctx)
      const keyed = m.keyed?.snapshot(m.timers!.snapshot(), barrier)
      parts.push({ m, opState: m.operatorState.snapshot(), keyed })
    }
    const flushes = this.chain.map((m) => m.operator.snapshotStateAsync(sctx))
    Promise.all(flushes).then(() => this.persist(barrier, parts)).then(
      (ops) => this.setup.hooks.ack(barrier.id, this.key, ops),
      (err: unknown) => this.setup.hooks.decline(barrier.id, this.key, err),
    )
  }

  private async persist(
    barrier: CheckpointBarrier,
    parts: { m: ChainMember; opState: ReturnType<OperatorStateBackend['snapshot']>; keyed: KeyedSnapshotJob | undefined }[],
  ): Promise<OperatorSubtaskSnapshot[]> {
    const { subtask } = this.setup
    const storage = this.setup.storageFor(barrier.location)
    const out: OperatorSubtaskSnapshot[] = []
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
      out.push(snap)
    }
    return out
  }

  notifyCheckpointComplete(id: number, isSavepoint: boolean): void {
    this.mails.push(() => {
      for (const k of this.keyedMembers) k.notifyCheckpointComplete(id)
      const done = (async () => {
        for (const m of this.chain) await m.operator.notifyCheckpointComplete(id, isSavepoint)
      })()
      this.notifications = this.notifications.then(() => done).catch((err: unknown) => this.setup.hooks.fail(this.key, err))
    })
  }

  private notifications: Promise<void> = Promise.resolve()

  /** Resolves once every completion notification delivered so far has been handled. */
  async notificationsSettled(): Promise<void> {
    while (this.mails.length > 0) await new Promise((r) => setImmediate(r))
    await this.notifications
  }

  notifyCheckpointAborted(id: number): void {
    if (this.stoppedBy === id) this.stoppedBy = undefined
    this.aborted.add(id)
    this.expected.delete(id)
    this.aligner?.abort(id)
    for (const k of this.keyedMembers) k.notifyCheckpointAborted(id)
    this.mails.push(() => {
      for (const m of this.chain) m.operator.notifyCheckpointAborted(id)
    })
  }

  private endOfData(): void {
    for (const m of this.chain) {
      m.operator.endInput()
      m.operator.finish()
    }
    for (const w of this.writers) w.broadcast(END_OF_PARTITION)
    this.state = 'FINISHED'
    // Checkpoints that started before the end: acknowledge them with the final state.
    for (const b of [...this.expected.values()].sort((a, c) => a.id - c.id)) this.checkpoint(b, false)
    this.setup.hooks.finished(this.key)
  }

  /** Stops the task (cancel or failover); operators are closed, errors ignored. */
  async cancel(): Promise<void> {
    if (this.state === 'CANCELED') return
    this.state = 'CANCELED'
    this.mails = []
    for (const s of this.scheduled) s.cancel()
    for (const m of this.chain) await m.operator.close().catch(() => {})
    for (const k of this.keyedMembers) k.dispose()
  }

  /** Closes a finished task normally. */
  async close(): Promise<void> {
    for (const s of this.scheduled) s.cancel()
    for (const m of this.chain) await m.operator.close()
    for (const k of this.keyedMembers) k.dispose()
  }
}

const DISCARD: Output<unknown> = { collect: () => {}, emitWatermark: () => {} }
