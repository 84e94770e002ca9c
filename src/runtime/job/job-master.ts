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
import { planReplay, type ReplayPlan } from '../checkpoint/channel-state.js'
import { CheckpointCoordinator, type CoordinatorContext } from '../checkpoint/coordinator.js'
import type { CheckpointMetadata, SnapshotFormat, StateBackendName } from '../checkpoint/metadata.js'
import { HeapKeyedStateBackend } from '../state/heap-keyed-backend.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import type { KeyGroupRange } from '../core/key-groups.js'
import { LsmKeyedStateBackend } from '../state/lsm/lsm-keyed-backend.js'
import type { CheckpointSettings } from '../checkpoint/options.js'
import type { CompletedCheckpoint } from '../checkpoint/snapshot.js'
import { loadOperatorLists, planRestore, type RestorePlan } from '../checkpoint/state-assignment.js'
import type { Clock } from '../clock.js'
import { JobExecutionError, describeError } from '../errors.js'
import type { JobGraph } from '../graph/job-graph.js'
import { checkpointId, type JobId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { LocalTaskRuntime, type AttemptEvents, type TaskRuntime } from '../cluster/task-runtime.js'
import { WorkerTaskRuntime } from '../cluster/worker-runtime.js'
import { siblingModule } from '../core/worker-entry.js'
import { taskCheckpointOptions } from '../task/subtask-checkpoint.js'
import { FailureHistory } from './failure-history.js'
import type { JobStatus } from './job-status.js'
import { RestartBackoff, type RestartStrategyConfig } from './restart-strategy.js'
import { TaskStates } from './task-states.js'
import { sharedDurableWriter } from '../storage/durable-writer.js'
import { isRemote } from '../storage/paths.js'

/** Where the job's tasks run: on the caller's thread, or in worker threads (one per task slot). */
export type ExecutionTarget =
  | { kind: 'local' }
  | {
    kind: 'workers'
    program: { file: string; args: string[] }
    /** Which env.execute() call of the program this job is (1-based). */
    executionIndex: number
    config: [string, string][]
    parallelism: number | undefined
    printTo: 'stdout' | 'stderr'
    /** taskmanager.numberOfTaskSlots */
    slots: number
    heapMb: number | undefined
  }

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
  execution: ExecutionTarget
  /** task.cancellation.timeout: a task that does not stop within this long after a cancel has its slot terminated. */
  cancellationTimeoutMs: number
  /** heartbeat.timeout: a task slot that has not returned to its event loop for this long fails the attempt. */
  heartbeatTimeoutMs: number
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
  private readonly runtime: TaskRuntime
  private readonly taskKeys: string[]
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
  /** The execution state of each subtask of the current attempt (REST task counts). */
  readonly tasks: TaskStates

  constructor(readonly spec: JobSpec) {
    this.startTime = spec.clock.now()
    this.backoff = new RestartBackoff(spec.restart)
    this.taskKeys = spec.graph.vertices.flatMap((v) => Array.from({ length: v.parallelism }, (_x, s) => `${v.id}#${s}`))
    this.tasks = new TaskStates(this.taskKeys)
    this.runtime = createRuntime(spec)
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
      participants: () => this.taskKeys,
      startCheckpoint: (barrier) => {
        if (!this.deployed || this.status !== 'RUNNING') return false
        this.runtime.startCheckpoint(barrier)
        return true
      },
      notifyComplete: (id, isSavepoint) => this.runtime.notifyComplete(id, isSavepoint),
      notifyAborted: (id) => this.runtime.notifyAborted(id),
      failJob: (error) => this.settle?.({ kind: 'failed', error }),
    }
    this.coordinator = new CheckpointCoordinator(ctx, spec.checkpoint, restored)
    // `_metadata` is written durably on this thread's writer thread: start it before the first checkpoint.
    if (spec.checkpoint.intervalMs !== undefined && !isRemote(spec.checkpointsDir)) sharedDurableWriter.warm()
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
      await this.runtime.shutdown()
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

  private async plan(restore: { location: string; metadata: CheckpointMetadata } | undefined): Promise<{ restore: RestorePlan; replay: ReplayPlan | undefined } | undefined> {
    if (restore === undefined) return undefined
    const { graph } = this.spec
    const plan = planRestore(restore.location, restore.metadata, graph.nodes, this.spec.restore?.allowNonRestoredState ?? false)
    for (const op of plan.operators.values()) await loadOperatorLists(op, restore.location, this.spec.storageFor(restore.location))
    const heads = new Set(graph.vertices.map((v) => v.nodes[0]!))
    const replay = planReplay(restore.location, restore.metadata, graph.nodes.map((n) => ({
      operatorId: n.operatorId, name: n.name, parallelism: n.parallelism, maxParallelism: n.maxParallelism, isHead: heads.has(n.index), keyed: n.keyed,
    })))
    return { restore: plan, replay }
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
    const events: AttemptEvents = {
      ack: (id, key, ops) => this.coordinator.acknowledge(checkpointId(id), key, ops),
      decline: (id, key, err) => this.coordinator.decline(checkpointId(id), key, err),
      finished: (key) => {
        this.tasks.ended(key, 'FINISHED')
        this.finishedTasks.add(key)
        if (this.finishedTasks.size === this.taskKeys.length) this.settle?.({ kind: 'finished' })
      },
      // The task executor already named the task in the message (Flink's `name (i/n)`); a slot's death names the slot.
      failed: (key, err) => {
        this.tasks.ended(key, 'FAILED')
        this.settle?.({ kind: 'failed', error: err })
      },
    }
    this.tasks.deploying()
    const start = (async () => {
      const plan = await this.plan(restore)
      await this.runtime.deploy(this.attempt, plan?.restore, plan?.replay, events)
      if (this.cancelRequested) this.settle?.({ kind: 'canceled' })
      this.deployed = true
      this.tasks.running()
      this.setStatus('RUNNING')
      this.coordinator.start()
    })()
    start.catch((err: unknown) => this.settle?.({ kind: 'failed', error: err }))
    let result = await outcome
    if (result.kind === 'finished') result = await this.finalCheckpoint()
    if (result.kind === 'stopped') await this.runtime.notificationsSettled().catch(() => {})
    this.deployed = false
    this.coordinator.stopPeriodic()
    if (result.kind === 'finished' || result.kind === 'stopped') {
      await this.runtime.close()
      this.tasks.finished()
    } else {
      if (result.kind === 'failed') this.setStatus('FAILING')
      this.tasks.canceling()
      this.coordinator.abortAll('JOB_FAILOVER', result.kind === 'failed' ? `Job failover: ${describeError(result.error)}` : 'Job canceled')
      await this.runtime.cancel()
      await start.catch(() => {})
      this.tasks.canceled()
    }
    return result
  }

  /** All tasks reached the end of their input: commit through one last checkpoint. */
  private async finalCheckpoint(): Promise<Outcome> {
    if (this.spec.checkpoint.intervalMs === undefined) return { kind: 'finished' }
    this.coordinator.stopPeriodic()
    try {
      await this.coordinator.trigger({ type: 'checkpoint', forced: true })
      await this.runtime.notificationsSettled()
      return { kind: 'finished' }
    } catch (err) {
      return { kind: 'failed', error: err }
    }
  }

  /** Cancels the job; resolves when it has stopped. */
  cancel(): void {
    this.cancelRequested = true
    if (this.deployed) this.tasks.canceling()
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

function createRuntime(spec: JobSpec): TaskRuntime {
  const keyedBackend = (range: KeyGroupRange, maxParallelism: number): KeyedStateBackend => spec.backend === 'rocksdb'
    ? new LsmKeyedStateBackend(range, maxParallelism, spec.localStateDir)
    : new HeapKeyedStateBackend(range, maxParallelism, { snapshots: spec.checkpoint.intervalMs !== undefined })
  const cp = spec.checkpoint
  const checkpointing = taskCheckpointOptions(cp)
  const x = spec.execution
  if (x.kind === 'local') {
    return new LocalTaskRuntime({
      jobId: spec.jobId, graph: spec.graph, storageFor: spec.storageFor, clock: spec.clock,
      checkpointing, checkpointingEnabled: cp.intervalMs !== undefined, keyedBackend,
    })
  }
  return new WorkerTaskRuntime({
    graph: spec.graph,
    slots: x.slots,
    cancellationTimeoutMs: spec.cancellationTimeoutMs,
    heapMb: x.heapMb,
    heartbeatTimeoutMs: spec.heartbeatTimeoutMs,
    workerMain: siblingModule('./worker-main', import.meta.url),
    init: {
      jobId: spec.jobId, program: x.program, executionIndex: x.executionIndex, config: x.config, parallelism: x.parallelism,
      printTo: x.printTo, checkpoint: cp, backend: spec.backend, localStateDir: spec.localStateDir,
    },
  })
}
