/**
 * Where a job's subtasks run, as the JobMaster sees it (Flink's slot pool + TaskManager gateway):
 * deploy an attempt, pass checkpoint triggers and notifications, cancel or close it. Two
 * implementations: `LocalTaskRuntime` runs every subtask on the caller's thread (a local
 * environment: tests, embedding); `WorkerTaskRuntime` (worker-runtime.ts) runs one worker thread
 * per task slot and keeps the main thread free for the coordinator and the REST API.
 * Must not import the JobMaster, the control plane or the CLI. Tests: test/workers.test.ts.
 */
import type { ReplayPlan } from '../checkpoint/channel-state.js'
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { OperatorSubtaskSnapshot } from '../checkpoint/snapshot.js'
import type { RestorePlan } from '../checkpoint/state-assignment.js'
import type { Clock } from '../clock.js'
import type { JobGraph } from '../graph/job-graph.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import type { KeyGroupRange } from '../core/key-groups.js'
import type { Storage } from '../storage/storage.js'
import type { CheckpointOptions } from '../task/subtask-checkpoint.js'
import { TaskExecutor } from '../task/task-executor.js'

/** What the tasks of an attempt report. Reports of an older attempt never arrive here. */
export interface AttemptEvents {
  ack(id: number, taskKey: string, operators: OperatorSubtaskSnapshot[]): void
  decline(id: number, taskKey: string, error: unknown): void
  finished(taskKey: string): void
  /** A task failed, or the slot running it died: the attempt must fail over. */
  failed(taskKey: string, error: unknown): void
}

export interface TaskRuntime {
  /** Deploys, restores and starts every subtask of attempt `attempt`; rejects if one cannot start. */
  deploy(attempt: number, restore: RestorePlan | undefined, replay: ReplayPlan | undefined, events: AttemptEvents): Promise<void>
  startCheckpoint(barrier: CheckpointBarrier): void
  notifyComplete(id: number, isSavepoint: boolean): void
  notifyAborted(id: number): void
  /** Resolves once every completion notification delivered so far was handled by every task. */
  notificationsSettled(): Promise<void>
  /** Cancels the attempt's tasks (failover, cancel); stuck slots are terminated after the cancellation timeout. */
  cancel(): Promise<void>
  /** Closes the attempt's tasks after the job finished. */
  close(): Promise<void>
  /** Releases threads; the runtime cannot deploy again. */
  shutdown(): Promise<void>
}

export interface LocalRuntimeSpec {
  jobId: string
  graph: JobGraph
  storageFor: (location: string) => Storage
  clock: Clock
  checkpointing: CheckpointOptions
  checkpointingEnabled: boolean
  keyedBackend: (range: KeyGroupRange, maxParallelism: number, operator: string) => KeyedStateBackend
}

/** Every subtask on the caller's thread, in one executor. */
export class LocalTaskRuntime implements TaskRuntime {
  private executor: TaskExecutor | undefined

  constructor(private readonly spec: LocalRuntimeSpec) {}

  async deploy(attempt: number, restore: RestorePlan | undefined, replay: ReplayPlan | undefined, events: AttemptEvents): Promise<void> {
    const s = this.spec
    const executor = new TaskExecutor({
      jobId: s.jobId, graph: s.graph, attempt, placement: { slots: 1, slot: undefined }, transport: undefined,
      storageFor: s.storageFor, clock: s.clock, checkpointing: s.checkpointing, checkpointingEnabled: s.checkpointingEnabled,
      restore, replay, keyedBackend: s.keyedBackend,
      hooks: { ack: events.ack, decline: events.decline, finished: events.finished, fail: events.failed },
    })
    this.executor = executor
    await executor.initialize()
    executor.start()
  }

  startCheckpoint(barrier: CheckpointBarrier): void {
    for (const t of this.executor?.tasks ?? []) t.expectCheckpoint(barrier)
  }

  notifyComplete(id: number, isSavepoint: boolean): void {
    for (const t of this.executor?.tasks ?? []) t.notifyCheckpointComplete(id, isSavepoint)
  }

  notifyAborted(id: number): void {
    for (const t of this.executor?.tasks ?? []) t.notifyCheckpointAborted(id)
  }

  async notificationsSettled(): Promise<void> {
    for (const t of this.executor?.tasks ?? []) await t.notificationsSettled()
  }

  async cancel(): Promise<void> {
    await this.executor?.cancel()
  }

  async close(): Promise<void> {
    await this.executor?.close()
  }

  async shutdown(): Promise<void> {}
}
