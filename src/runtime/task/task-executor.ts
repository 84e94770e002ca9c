/**
 * Runs the subtasks of one task slot on one thread (a worker thread, or the caller's thread for a
 * local environment), as Flink's TaskExecutor runs a slot's tasks: deploys the subtasks placed in
 * the slot, wires their channels (LocalChannel between subtasks of this slot, remote channels to
 * other slots through the transport), and drives them in a mailbox loop: each task steps for at
 * most STEP_MS, the loop yields to the event loop every SLICE_MS (so timers, I/O, messages from the
 * JobMaster and the asynchronous halves of checkpoints run), and sleeps when no task can progress.
 *
 * Placement (slot sharing, as in Flink): subtask i of every vertex runs in slot i mod slots, so a
 * slot holds one parallel pipeline (several when the parallelism exceeds the number of slots).
 * Every executor computes the same wiring from the graph and the placement, so channel ids agree.
 * Must not import the JobMaster or the CLI. Tests: test/task.test.ts, test/workers.test.ts.
 */
import type { RestorePlan } from '../checkpoint/state-assignment.js'
import type { Clock } from '../clock.js'
import type { JobGraph } from '../graph/job-graph.js'
import type { TimestampContext } from '../operators/operator.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import type { KeyGroupRange } from '../core/key-groups.js'
import type { Storage } from '../storage/storage.js'
import { LocalChannel, type InputChannel, type OutputChannel } from './channel.js'
import { RecordWriter } from './record-writer.js'
import { StreamTask, type TaskHooks } from './stream-task.js'
import type { CheckpointOptions } from './subtask-checkpoint.js'
import type { ReplayPlan } from '../checkpoint/channel-state.js'

/** A task step ends after this long (ms), so mails wait at most about this long. */
export const STEP_MS = 1
/** The loop yields to the event loop after this long (ms). */
export const SLICE_MS = 4

/** Reaches the channels of other slots. */
export interface Transport {
  output(peerSlot: number, channelId: string): OutputChannel
  input(peerSlot: number, channelId: string): InputChannel
  /** Delivers what other slots sent, without waiting for the event loop (called every round). */
  poll(): void
}

export interface Placement {
  /** Slots the job runs in. */
  readonly slots: number
  /** The slot of this executor; undefined: every slot is local (a local environment). */
  readonly slot: number | undefined
}

export function slotOf(placement: Placement, subtask: number): number {
  return subtask % placement.slots
}

export interface ExecutorSetup {
  readonly jobId: string
  readonly graph: JobGraph
  readonly attempt: number
  readonly placement: Placement
  readonly transport: Transport | undefined
  readonly storageFor: (location: string) => Storage
  readonly clock: Clock
  readonly checkpointing: CheckpointOptions
  readonly checkpointingEnabled: boolean
  readonly restore: RestorePlan | undefined
  /** In-flight records of the restored checkpoint, per vertex-head operator id and subtask (unaligned checkpoints). */
  readonly replay: ReplayPlan | undefined
  readonly keyedBackend: (range: KeyGroupRange, maxParallelism: number, operator: string) => KeyedStateBackend
  readonly hooks: Omit<TaskHooks, 'wake'>
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r))

export class TaskExecutor {
  readonly tasks: StreamTask[] = []
  private stopped = false
  private woken = false
  private sleeper: (() => void) | undefined
  private loop: Promise<void> | undefined

  constructor(private readonly setup: ExecutorSetup) {
    const { graph, placement } = setup
    const mine = (subtask: number): boolean => placement.slot === undefined || slotOf(placement, subtask) === placement.slot
    const key = (vertex: number, subtask: number): string => `${vertex}#${subtask}`
    const inputsOf = new Map<string, InputChannel[]>()
    const writersOf = new Map<string, Map<number, RecordWriter[]>>()
    const timestampsOf = new Map<string, TimestampContext>()
    const tsCtx = (k: string): TimestampContext => {
      let c = timestampsOf.get(k)
      if (c === undefined) timestampsOf.set(k, (c = { ts: undefined }))
      return c
    }
    graph.edges.forEach((e, edgeIndex) => {
      if (e.chained) return
      const up = graph.nodes[e.from]!
      const down = graph.nodes[e.to]!
      const upVertex = graph.vertexOf[e.from]!
      const downVertex = graph.vertexOf[e.to]!
      for (let u = 0; u < up.parallelism; u++) {
        const targets = e.partitioner === 'forward' ? [u] : e.partitioner === 'global' ? [0] : [...Array(down.parallelism).keys()]
        const outputs: OutputChannel[] = []
        for (const d of targets) {
          const id = `${edgeIndex}:${u}:${d}`
          const upMine = mine(u)
          const downMine = mine(d)
          if (!upMine && !downMine) continue
          let input: InputChannel | undefined
          if (upMine && downMine) {
            const c = new LocalChannel()
            outputs.push(c)
            input = c
          } else if (upMine) {
            outputs.push(setup.transport!.output(slotOf(placement, d), id))
          } else {
            input = setup.transport!.input(slotOf(placement, u), id)
          }
          if (input !== undefined) {
            const k = key(downVertex, d)
            let list = inputsOf.get(k)
            if (list === undefined) inputsOf.set(k, (list = []))
            list.push(input)
          }
        }
        if (!mine(u)) continue
        const upKey = key(upVertex, u)
        const writer = new RecordWriter(outputs, e.partitioner, e.key, down.maxParallelism, graph.usesEventTime ? tsCtx(upKey) : undefined, u)
        let byNode = writersOf.get(upKey)
        if (byNode === undefined) writersOf.set(upKey, (byNode = new Map()))
        let list = byNode.get(e.from)
        if (list === undefined) byNode.set(e.from, (list = []))
        list.push(writer)
      }
    })
    const hooks: TaskHooks = { ...setup.hooks, wake: () => this.wake() }
    for (const vertex of graph.vertices) {
      for (let s = 0; s < vertex.parallelism; s++) {
        if (!mine(s)) continue
        const k = key(vertex.id, s)
        this.tasks.push(new StreamTask({
          jobId: setup.jobId, graph, vertex, subtask: s, attempt: setup.attempt,
          inputs: inputsOf.get(k) ?? [],
          writers: writersOf.get(k) ?? new Map(),
          storageFor: setup.storageFor, clock: setup.clock,
          checkpointing: setup.checkpointing, checkpointingEnabled: setup.checkpointingEnabled,
          restore: setup.restore, timestamps: tsCtx(k), hooks,
          replay: setup.replay?.operators.get(graph.nodes[vertex.nodes[0]!]!.operatorId)?.[s] ?? [],
          keyedBackend: setup.keyedBackend,
        }))
      }
    }
  }

  get taskKeys(): string[] {
    return this.tasks.map((t) => t.key)
  }

  task(key: string): StreamTask | undefined {
    return this.tasks.find((t) => t.key === key)
  }

  /** Restores and opens every task. */
  async initialize(): Promise<void> {
    for (const t of this.tasks) await t.initialize()
  }

  /** Starts the loop; a task that throws fails through `hooks.fail` and stops the loop. */
  start(): void {
    this.loop ??= new Promise<void>((r) => setImmediate(r)).then(() => this.run())
  }

  wake(): void {
    this.woken = true
    const s = this.sleeper
    if (s !== undefined) {
      this.sleeper = undefined
      s()
    }
  }

  /** Stops the loop; resolves when it has returned. */
  async stop(): Promise<void> {
    this.stopped = true
    this.wake()
    await this.loop
  }

  private async run(): Promise<void> {
    const tasks = this.tasks
    while (!this.stopped) {
      this.woken = false
      const sliceEnd = performance.now() + SLICE_MS
      let progressed: boolean
      const transport = this.setup.transport
      do {
        progressed = false
        transport?.poll()
        for (const t of tasks) {
          try {
            const now = performance.now()
            if (t.step(Math.min(now + STEP_MS, sliceEnd))) progressed = true
          } catch (err) {
            this.stopped = true
            this.setup.hooks.fail(t.key, annotate(err, t.name))
            return
          }
        }
      } while (progressed && !this.stopped && performance.now() < sliceEnd)
      if (this.stopped) return
      if (progressed || this.woken) await yieldToEventLoop()
      else await new Promise<void>((r) => (this.sleeper = r))
    }
  }

  /** Cancels every task (failover or cancel). */
  async cancel(): Promise<void> {
    await this.stop()
    for (const t of this.tasks) await t.cancel()
  }

  /** Closes every task after the job finished. */
  async close(): Promise<void> {
    await this.stop()
    for (const t of this.tasks) await t.close()
  }
}

/** Adds the task's name to an error's message (once). */
export function annotate(err: unknown, where: string): unknown {
  if (err instanceof Error && !err.message.includes(where)) {
    const e = new Error(`${err.message} (in ${where})`, { cause: err })
    if (err.stack !== undefined) e.stack = err.stack
    return e
  }
  return err
}
