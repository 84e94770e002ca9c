/**
 * Runs one job: deploys its tasks (one attempt), drives checkpoints through the coordinator, and on
 * a failure cancels the attempt, asks the restart strategy, and redeploys from the latest completed
 * checkpoint (or the savepoint the job started from). A bounded job ends with a final checkpoint,
 * so that two-phase-commit sinks commit everything (Flink's checkpoints after tasks finish).
 *
 * Architecture Invariant: every attempt restores all operators from one and the same completed
 * checkpoint; sources rewind to its positions, so state and exactly-once sinks see each record once.
 * Tests: test/failure-history.test.ts (failover and restarts), test/checkpoint-config.test.ts,
 * test/integration/recovery.test.ts.
 */
import { CheckpointCoordinator, type CoordinatorContext } from '../checkpoint/coordinator.js'
import type { CheckpointMetadata, SnapshotFormat, StateBackendName } from '../checkpoint/metadata.js'
import { HeapKeyedStateBackend } from '../state/heap-keyed-backend.js'
import { LsmKeyedStateBackend } from '../state/lsm/lsm-keyed-backend.js'
import type { CheckpointSettings } from '../checkpoint/options.js'
import type { CompletedCheckpoint } from '../checkpoint/snapshot.js'
import { loadOperatorLists, planRestore, type RestorePlan } from '../checkpoint/state-assignment.js'
import type { Clock } from '../clock.js'
import { JobExecutionError, describeError } from '../errors.js'
import type { JobGraph } from '../graph/job-graph.js'
import { checkpointId, type JobId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { Channel } from '../task/channel.js'
import { RecordWriter } from '../task/record-writer.js'
import { Scheduler } from '../task/scheduler.js'
import { StreamTask, type TaskHooks } from '../task/stream-task.js'
import { FailureHistory } from './failure-history.js'
import type { JobStatus } from './job-status.js'
import { RestartBackoff, type RestartStrategyConfig } from './restart-strategy.js'

const CHANNEL_CAPACITY = 8

export interface RestoreSettings {
  location: string
  metadata: CheckpointMetadata
  allowNonRestoredState: boolean
  claimMode: 'claim' | 'no_claim'
}

export interface JobSpec {
  jobId: JobId
  jobName: string
  graph: JobGraph
  checkpoint: CheckpointSettings
  checkpointsDir: string
  savepointsDir: string | undefined
  /** The storage holding a location. */
  storageFor: (location: string) => Storage
  restart: RestartStrategyConfig
  restore: RestoreSettings | undefined
  clock: Clock
  program: { file: string; args: string[] } | null
  /** The keyed state backend: 'hashmap' (heap) or 'rocksdb' (the embedded LSM). */
  backend: StateBackendName
  /** Where the LSM backend keeps its local tables. */
  localStateDir: string
}

export interface JobResult {
  jobId: JobId
  jobName: string
  status: JobStatus
  netRuntimeMs: number
  restarts: number
  /** Completed checkpoints (not savepoints) during the run. */
  checkpoints: number
}

type Outcome = { kind: 'finished' } | { kind: 'stopped' } | { kind: 'canceled' } | { kind: 'failed'; error: unknown }

export class JobMaster {
  status: JobStatus = 'CREATED'
  readonly startTime: number
  endTime: number | undefined
  attempt = 0
  readonly coordinator: CheckpointCoordinator
  private tasks: StreamTask[] = []
  private scheduler: Scheduler | undefined
  private settle: ((o: Outcome) => void) | undefined
  private deployed = false
  private finishedTasks = new Set<string>()
  private cancelRequested = false
  private readonly backoff: RestartBackoff
  private statusListeners: ((s: JobStatus) => void)[] = []
  /** The first failure's cause, for the final error. */
  lastFailure: unknown
  /** Every failure with its cause, attempt and the restart decision (bounded; listeners hear each). */
  readonly failures = new FailureHistory()

  constructor(readonly spec: JobSpec) {
    this.startTime = spec.clock.now()
    this.backoff = new RestartBackoff(spec.restart)
    const restored: CompletedCheckpoint | undefined = spec.restore === undefined
      ? undefined
      : { id: spec.restore.metadata.checkpointId, location: spec.restore.location, metadata: spec.restore.metadata }
    const ctx: CoordinatorContext = {
      clock: spec.clock,
      storageFor: spec.storageFor,
      jobId: spec.jobId,
      jobName: spec.jobName,
      checkpointsDir: spec.checkpointsDir,
      backend: spec.backend,
      program: spec.program,
      participants: () => this.tasks.map((t) => t.key),
      startCheckpoint: (barrier) => {
        if (!this.deployed || this.status !== 'RUNNING') return false
        for (const t of this.tasks) t.expectCheckpoint(barrier)
        this.scheduler?.wake()
        return true
      },
      notifyComplete: (id, isSavepoint) => {
        for (const t of this.tasks) t.notifyCheckpointComplete(id, isSavepoint)
        this.scheduler?.wake()
      },
      notifyAborted: (id) => {
        for (const t of this.tasks) t.notifyCheckpointAborted(id)
        this.scheduler?.wake()
      },
      failJob: (error) => this.settle?.({ kind: 'failed', error }),
    }
    this.coordinator = new CheckpointCoordinator(ctx, spec.checkpoint, restored)
    // Refuse a restore whose state does not map onto this program before anything runs.
    if (spec.restore !== undefined) planRestore(spec.restore.location, spec.restore.metadata, spec.graph.nodes, spec.restore.allowNonRestoredState)
    if (restored !== undefined && spec.restore?.claimMode === 'claim') this.coordinator.adopt(restored)
  }

  get jobId(): JobId {
    return this.spec.jobId
  }

  onStatus(listener: (s: JobStatus) => void): void {
    this.statusListeners.push(listener)
  }

  private setStatus(s: JobStatus): void {
    this.status = s
    for (const l of this.statusListeners) l(s)
  }

  /** Runs the job to its end; rejects with JobExecutionError when it failed for good. */
  async run(): Promise<JobResult> {
    // Clock timers do not hold the process open; a running job does.
    const keepAlive = setInterval(() => {}, 1 << 30)
    try {
      return await this.runAttempts()
    } finally {
      clearInterval(keepAlive)
    }
  }

  private async runAttempts(): Promise<JobResult> {
    let restore: { location: string; metadata: CheckpointMetadata } | undefined = this.spec.restore
    for (;;) {
      const outcome = await this.runAttempt(restore)
      if (outcome.kind === 'finished' || outcome.kind === 'stopped') return this.end('FINISHED')
      if (outcome.kind === 'canceled') return this.end('CANCELED')
      this.lastFailure = outcome.error
      const decision = this.backoff.onFailure(this.spec.clock.now())
      this.failures.record(outcome.error, { timestamp: this.spec.clock.now(), attempt: this.attempt, restart: decision.restart && !this.cancelRequested, delayMs: decision.delayMs, strategy: this.spec.restart.type })
      if (!decision.restart || this.cancelRequested) {
        const result = await this.end(this.cancelRequested ? 'CANCELED' : 'FAILED')
        if (result.status === 'CANCELED') return result
        throw new JobExecutionError(`Job failed: ${describeError(outcome.error)}`, {
          cause: outcome.error,
          hint: this.spec.restart.type === 'none' ? 'The restart strategy is none: enable checkpointing or configure restart-strategy.type to recover from failures.' : 'The restart strategy gave up.',
        })
      }
      this.setStatus('RESTARTING')
      await new Promise<void>((r) => this.spec.clock.schedule(decision.delayMs, r))
      if (this.cancelRequested) return this.end('CANCELED')
      this.attempt++
      const latest = this.coordinator.latestCompleted()
      restore = latest !== undefined ? { location: latest.location, metadata: latest.metadata } : this.spec.restore
    }
  }

  private async end(status: 'FINISHED' | 'CANCELED' | 'FAILED'): Promise<JobResult> {
    await this.coordinator.shutdown(status)
    this.endTime = this.spec.clock.now()
    this.setStatus(status)
    return {
      jobId: this.spec.jobId,
      jobName: this.spec.jobName,
      status,
      netRuntimeMs: this.endTime - this.startTime,
      restarts: this.attempt,
      checkpoints: this.coordinator.history.filter((h) => h.type === 'checkpoint').length,
    }
  }

  private async plan(restore: { location: string; metadata: CheckpointMetadata } | undefined): Promise<RestorePlan | undefined> {
    if (restore === undefined) return undefined
    const { graph } = this.spec
    const plan = planRestore(restore.location, restore.metadata, graph.nodes, this.spec.restore?.allowNonRestoredState ?? false)
    for (const op of plan.operators.values()) await loadOperatorLists(op, restore.location, this.spec.storageFor(restore.location))
    return plan
  }

  private async runAttempt(restore: { location: string; metadata: CheckpointMetadata } | undefined): Promise<Outcome> {
    const outcome = new Promise<Outcome>((resolve) => {
      let settled = false
      this.settle = (o) => {
        if (settled) return
        settled = true
        resolve(o)
      }
    })
    this.deployed = false
    this.finishedTasks = new Set()
    let scheduled: Promise<void> = Promise.resolve()
    try {
      const plan = await this.plan(restore)
      this.tasks = this.deploy(plan)
      const scheduler = new Scheduler(this.tasks, (task, err) => this.settle?.({ kind: 'failed', error: annotate(err, task.name) }))
      this.scheduler = scheduler
      for (const t of this.tasks) await t.initialize()
      if (this.cancelRequested) this.settle?.({ kind: 'canceled' })
      this.deployed = true
      this.setStatus('RUNNING')
      this.coordinator.start()
      scheduled = scheduler.run()
    } catch (err) {
      this.settle?.({ kind: 'failed', error: err })
    }
    let result = await outcome
    if (result.kind === 'finished') result = await this.finalCheckpoint()
    if (result.kind === 'stopped') for (const t of this.tasks) await t.notificationsSettled()
    this.deployed = false
    this.coordinator.stopPeriodic()
    this.scheduler?.stop()
    await scheduled
    if (result.kind === 'finished' || result.kind === 'stopped') {
      for (const t of this.tasks) await t.close()
    } else {
      if (result.kind === 'failed') this.setStatus('FAILING')
      this.coordinator.abortAll('JOB_FAILOVER', result.kind === 'failed' ? `Job failover: ${describeError(result.error)}` : 'Job canceled')
      for (const t of this.tasks) await t.cancel()
    }
    return result
  }

  /** All tasks reached the end of their input: commit through one last checkpoint. */
  private async finalCheckpoint(): Promise<Outcome> {
    if (this.spec.checkpoint.intervalMs === undefined) return { kind: 'finished' }
    this.coordinator.stopPeriodic()
    try {
      await this.coordinator.trigger({ type: 'checkpoint', forced: true })
      for (const t of this.tasks) await t.notificationsSettled()
      return { kind: 'finished' }
    } catch (err) {
      return { kind: 'failed', error: err }
    }
  }

  private deploy(plan: RestorePlan | undefined): StreamTask[] {
    const { graph, jobId, storageFor, clock, checkpoint } = this.spec
    // channels[edgeIndex][upstreamSubtask][downstreamSubtask]
    const inputsOf = new Map<string, Channel[]>()
    const writersOf = new Map<string, Map<number, RecordWriter[]>>()
    const timestampsOf = new Map<string, { ts: number | undefined }>()
    const taskKey = (vertex: number, subtask: number): string => `${vertex}#${subtask}`
    const tsCtx = (key: string): { ts: number | undefined } => {
      let c = timestampsOf.get(key)
      if (c === undefined) timestampsOf.set(key, (c = { ts: undefined }))
      return c
    }
    graph.edges.forEach((e) => {
      if (e.chained) return
      const up = graph.nodes[e.from]!
      const down = graph.nodes[e.to]!
      const upVertex = graph.vertexOf[e.from]!
      const downVertex = graph.vertexOf[e.to]!
      for (let u = 0; u < up.parallelism; u++) {
        const targets = e.partitioner === 'forward' ? [u] : e.partitioner === 'global' ? [0] : [...Array(down.parallelism).keys()]
        const channels = targets.map((d) => {
          const c = new Channel(CHANNEL_CAPACITY)
          const k = taskKey(downVertex, d)
          let list = inputsOf.get(k)
          if (list === undefined) inputsOf.set(k, (list = []))
          list.push(c)
          return c
        })
        const upKey = taskKey(upVertex, u)
        const writer = new RecordWriter(channels, e.partitioner, e.key, down.maxParallelism, graph.usesEventTime ? tsCtx(upKey) : undefined, u)
        let byNode = writersOf.get(upKey)
        if (byNode === undefined) writersOf.set(upKey, (byNode = new Map()))
        let list = byNode.get(e.from)
        if (list === undefined) byNode.set(e.from, (list = []))
        list.push(writer)
      }
    })
    const hooks: TaskHooks = {
      ack: (id, key, ops) => this.coordinator.acknowledge(checkpointId(id), key, ops),
      decline: (id, key, err) => this.coordinator.decline(checkpointId(id), key, err),
      finished: (key) => {
        this.finishedTasks.add(key)
        if (this.finishedTasks.size === this.tasks.length) this.settle?.({ kind: 'finished' })
      },
      fail: (key, err) => this.settle?.({ kind: 'failed', error: annotate(err, key) }),
      wake: () => this.scheduler?.wake(),
    }
    const tasks: StreamTask[] = []
    for (const vertex of graph.vertices) {
      for (let s = 0; s < vertex.parallelism; s++) {
        const key = taskKey(vertex.id, s)
        tasks.push(new StreamTask({
          jobId, graph, vertex, subtask: s, attempt: this.attempt,
          inputs: inputsOf.get(key) ?? [],
          writers: writersOf.get(key) ?? new Map(),
          storageFor, clock, mode: checkpoint.mode, checkpointingEnabled: checkpoint.intervalMs !== undefined,
          restore: plan, timestamps: tsCtx(key), hooks,
          keyedBackend: (range, maxParallelism) => this.spec.backend === 'rocksdb'
            ? new LsmKeyedStateBackend(range, maxParallelism, this.spec.localStateDir)
            : new HeapKeyedStateBackend(range, maxParallelism),
        }))
      }
    }
    return tasks
  }

  /** Cancels the job; resolves when it has stopped. */
  cancel(): void {
    this.cancelRequested = true
    if (this.status === 'RUNNING' || this.status === 'CREATED' || this.status === 'INITIALIZING') this.setStatus('CANCELLING')
    this.settle?.({ kind: 'canceled' })
  }

  private savepoints: Promise<unknown> = Promise.resolve()

  /** Savepoints run one after another, so concurrent requests never abort each other's alignment. */
  private queued<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.savepoints.then(fn, fn)
    this.savepoints = run.catch(() => {})
    return run
  }

  /** Takes a savepoint of the running job into a new directory below `targetDirectory`. */
  triggerSavepoint(targetDirectory: string, format: SnapshotFormat = 'canonical'): Promise<CompletedCheckpoint> {
    return this.queued(() => this.coordinator.trigger({ type: 'savepoint', targetDirectory, format }))
  }

  /** Stops the job with a savepoint: sources stop at the barrier; the job finishes once it completed. */
  async stopWithSavepoint(targetDirectory: string, drain: boolean, format: SnapshotFormat = 'canonical'): Promise<CompletedCheckpoint> {
    const done = await this.queued(() => this.coordinator.trigger({ type: 'savepoint', targetDirectory, format, stop: { drain } }))
    this.settle?.({ kind: 'stopped' })
    return done
  }

  /** Triggers a checkpoint now (REST: POST /jobs/:id/checkpoints). */
  triggerCheckpoint(): Promise<CompletedCheckpoint> {
    return this.coordinator.trigger({ type: 'checkpoint', forced: true })
  }

}

function annotate(err: unknown, where: string): unknown {
  if (err instanceof Error && !err.message.includes(where)) {
    const e = new Error(`${err.message} (in ${where})`, { cause: err })
    if (err.stack !== undefined) e.stack = err.stack
    return e
  }
  return err
}
