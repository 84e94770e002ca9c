/**
 * The checkpoint coordinator: triggers checkpoints (periodically and on request), collects the
 * tasks' acknowledgements, writes `_metadata` last and atomically, retains and subsumes completed
 * checkpoints, aborts expired ones, counts failures, keeps the job's lease (lease-keeper.ts) and
 * counts references to shared files (shared-state-registry.ts).
 *
 * Architecture Invariant: a checkpoint directory is complete exactly when its `_metadata` exists;
 * `_metadata` is written only after every task acknowledged, every state file is durable (the
 * storage fsyncs before it answers) and every acknowledged file was seen with its recorded size;
 * the files are checked again before the previous checkpoint is subsumed. Discarding deletes
 * `_metadata` first, and never while it is being written (an abort during the write discards
 * after it). A shared file is deleted only when no completed or pending checkpoint references it.
 *
 * Time comes from the injected Clock; tasks are reached through `CoordinatorContext`, so the
 * decisions are tested without a running job (test/coordinator.test.ts, test/shared-state.test.ts).
 */
import type { Clock, Cancellable } from '../clock.js'
import { StateError, describeError } from '../errors.js'
import { checkpointId, type CheckpointId, type JobId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { checkpointDir, jobCheckpointDir, join, metadataLocation, newSavepointDir, relativeTo } from '../storage/paths.js'
import { CompletedCheckpointStore } from './completed-store.js'
import { CheckpointFailureManager, type CheckpointFailureReason } from './failure-manager.js'
import { describeProblems, verifyFiles } from './file-check.js'
import { serializeMetadata, type CheckpointMetadata, type FileReference, type OperatorStateEntry, type SnapshotFormat, type StateBackendName } from './metadata.js'
import type { CheckpointBarrier, CheckpointSettings } from './options.js'
import { decideTrigger } from './request-decider.js'
import { SAVEPOINT_LEASE_FILE } from './lease.js'
import { DEFAULT_LEASE_TIMING, LeaseKeeper, type LeaseContent, type LeaseTiming } from './lease-keeper.js'
import { SharedStateRegistry } from './shared-state-registry.js'
import type { CompletedCheckpoint, OperatorSubtaskSnapshot } from './snapshot.js'
import { snapshotSizes, type SnapshotSizes } from './snapshot-sizes.js'

export interface CoordinatorContext {
  readonly clock: Clock
  /** The storage holding a location (checkpoints and savepoints may live on different ones). */
  storageFor(location: string): Storage
  readonly jobId: JobId
  readonly jobName: string
  readonly checkpointsDir: string
  readonly backend: StateBackendName
  readonly program: { file: string; args: string[] } | null
  /** Keys of the tasks that must acknowledge a checkpoint started now. */
  participants(): string[]
  /** Starts a checkpoint in the tasks; false when the job cannot take one now (not running). */
  startCheckpoint(barrier: CheckpointBarrier): boolean
  notifyComplete(id: CheckpointId, isSavepoint: boolean): void
  notifyAborted(id: CheckpointId): void
  /** Checkpoints failed more often in a row than tolerated: the job must fail with this error. */
  failJob(error: Error): void
}

export interface TriggerRequest {
  type: 'checkpoint' | 'savepoint'
  /** For savepoints: the directory the savepoint directory is created in. */
  targetDirectory?: string
  format?: SnapshotFormat
  /** Ignores the concurrency limit: the final checkpoint of a finished job, or one a user asked for. */
  forced?: boolean
  /** Stop-with-savepoint. */
  stop?: { drain: boolean }
}

interface Pending {
  barrier: CheckpointBarrier
  awaiting: Set<string>
  acks: OperatorSubtaskSnapshot[]
  timeout: Cancellable
  /**
   * Set once every task acknowledged: the `_metadata` write in progress, settled (never rejected)
   * when it ended. An abort during the write defers its discard until then.
   */
  finalizing: Promise<void> | undefined
  /** The trigger's promise. */
  resolve: (c: CompletedCheckpoint) => void
  reject: (e: Error) => void
}

export class CheckpointFailure extends StateError {
  constructor(
    readonly reason: CheckpointFailureReason,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause }) // TsflinkError sets no cause when it is undefined
  }
}

export class CheckpointCoordinator {
  private nextId: number
  private readonly pending = new Map<number, Pending>()
  private readonly store: CompletedCheckpointStore
  private readonly failures: CheckpointFailureManager
  private lastCompletionAt: number | undefined
  private periodicTimer: Cancellable | undefined
  private periodicWaitingForPending = false
  /** Deletions under way. */
  private readonly inFlight = new Set<Promise<void>>()
  /** Reference counts of the files incremental checkpoints share. */
  readonly sharedState = new SharedStateRegistry()
  /** Recently aborted checkpoints' locations, for acknowledgements that arrive late. */
  private readonly abortedLocations = new Map<number, string>()
  /** The job's lease and the leases of savepoints in progress. */
  readonly lease: LeaseKeeper
  /** Completed checkpoints and savepoints, in order, for the REST API and tests. */
  readonly history: ({ id: CheckpointId; type: string; location: string; triggeredAt: number; completedAt: number } & SnapshotSizes)[] = []
  readonly failed: { id: CheckpointId; reason: CheckpointFailureReason; message: string }[] = []

  constructor(
    private readonly ctx: CoordinatorContext,
    readonly settings: CheckpointSettings,
    restoredFrom?: CompletedCheckpoint,
    leaseTiming: LeaseTiming = DEFAULT_LEASE_TIMING,
  ) {
    this.store = new CompletedCheckpointStore(settings.numRetained)
    this.failures = new CheckpointFailureManager(settings.tolerableFailures)
    this.nextId = (restoredFrom?.id ?? 0) + 1
    this.lease = new LeaseKeeper({
      clock: ctx.clock, storageFor: (l) => ctx.storageFor(l), jobId: ctx.jobId, jobDir: jobCheckpointDir(ctx.checkpointsDir, ctx.jobId), timing: leaseTiming,
    })
  }

  get periodic(): boolean {
    return this.settings.intervalMs !== undefined
  }

  /**
   * Starts periodic checkpoints (if configured) and, with them, the job's lease. Resolves once the
   * lease was first written (or could not be; never rejects).
   */
  start(): Promise<void> {
    if (this.settings.intervalMs === undefined) return Promise.resolve()
    if (this.periodicTimer === undefined) this.schedulePeriodic(this.settings.intervalMs)
    return this.lease.start(this.leaseContent())
  }

  /** What the job lease names now. */
  private leaseContent(): LeaseContent {
    const jobDir = jobCheckpointDir(this.ctx.checkpointsDir, this.ctx.jobId)
    const own = this.store.all().filter((c) => relativeTo(jobDir, c.location) !== undefined)
    const pending = [...this.pending.values()]
    return {
      latestCompleted: own.length === 0 ? null : own[own.length - 1]!.id,
      // Pending checkpoints are kept in the order they started, so in id order.
      inProgress: pending.filter((p) => p.barrier.type === 'checkpoint').map((p) => p.barrier.id),
      savepointsInProgress: pending.filter((p) => p.barrier.type === 'savepoint').map((p) => p.barrier.location),
    }
  }

  private leaseChanged(): void {
    this.lease.update(this.leaseContent())
  }

  /** Stops periodic triggering; pending checkpoints are left alone. */
  stopPeriodic(): void {
    this.periodicTimer?.cancel()
    this.periodicTimer = undefined
    this.periodicWaitingForPending = false
  }

  /** Takes ownership of the checkpoint a job was restored from (claim mode): it is retained and subsumed like the job's own. */
  adopt(c: CompletedCheckpoint): void {
    this.sharedState.reference(c.id, this.sharedFiles(c.location, c.metadata.files))
    for (const old of this.store.add(c)) this.discard(old.location, old.id)
  }

  latestCompleted(): CompletedCheckpoint | undefined {
    return this.store.latest()
  }

  retained(): readonly CompletedCheckpoint[] {
    return this.store.all()
  }

  get pendingCount(): number {
    return this.pending.size
  }

  get consecutiveFailures(): number {
    return this.failures.failures
  }

  private schedulePeriodic(delayMs: number): void {
    this.periodicTimer?.cancel()
    this.periodicTimer = this.ctx.clock.schedule(delayMs, () => {
      this.periodicTimer = undefined
      this.periodicTick()
    })
  }

  /** Runs only while periodic checkpoints are on (stopPeriodic cancels the timer). */
  private periodicTick(): void {
    const d = decideTrigger({
      now: this.ctx.clock.now(),
      pending: this.pending.size,
      lastCompletionAt: this.lastCompletionAt,
      maxConcurrent: this.settings.maxConcurrent,
      minPauseMs: this.settings.minPauseMs,
      forced: false,
    })
    if (d.action === 'wait-for-pending') {
      this.periodicWaitingForPending = true
      return
    }
    if (d.action === 'delay') {
      this.schedulePeriodic(d.delayMs)
      return
    }
    this.startPending({ type: 'checkpoint' }).catch(() => {})
    this.schedulePeriodic(this.settings.intervalMs!)
  }

  /** After a checkpoint ends, a periodic trigger that waited for it may go. */
  private onPendingEnded(): void {
    if (!this.periodicWaitingForPending) return
    this.periodicWaitingForPending = false
    this.schedulePeriodic(this.settings.minPauseMs)
  }

  /** Triggers a checkpoint or savepoint now (forced past min pause and concurrency for savepoints). */
  trigger(req: TriggerRequest): Promise<CompletedCheckpoint> {
    if (req.type === 'checkpoint' && req.forced !== true) {
      const d = decideTrigger({
        now: this.ctx.clock.now(),
        pending: this.pending.size,
        lastCompletionAt: this.lastCompletionAt,
        maxConcurrent: this.settings.maxConcurrent,
        minPauseMs: 0,
        forced: false,
      })
      if (d.action !== 'trigger') {
        return Promise.reject(new StateError('Too many checkpoints in progress; try again when the current one ends'))
      }
    }
    return this.startPending(req)
  }

  private startPending(req: TriggerRequest): Promise<CompletedCheckpoint> {
    const isSavepoint = req.type === 'savepoint'
    if (isSavepoint && req.targetDirectory === undefined) return Promise.reject(new StateError('No savepoint directory given'))
    const id = checkpointId(this.nextId++)
    const now = this.ctx.clock.now()
    const location = isSavepoint ? newSavepointDir(req.targetDirectory!, this.ctx.jobId) : checkpointDir(this.ctx.checkpointsDir, this.ctx.jobId, id)
    const barrier: CheckpointBarrier = {
      id,
      timestamp: now,
      type: req.type,
      format: req.format ?? (isSavepoint ? 'canonical' : 'native'),
      location,
      incremental: !isSavepoint && this.settings.incremental,
      ...(req.stop === undefined ? {} : { stop: req.stop }),
    }
    const participants = this.ctx.participants()
    return new Promise<CompletedCheckpoint>((resolve, reject) => {
      const p: Pending = {
        barrier,
        awaiting: new Set(participants),
        acks: [],
        finalizing: undefined,
        resolve,
        reject,
        timeout: this.ctx.clock.schedule(this.settings.timeoutMs, () =>
          this.abort(id, 'CHECKPOINT_EXPIRED', `Checkpoint ${id} expired before completing (timeout ${this.settings.timeoutMs} ms)`),
        ),
      }
      this.pending.set(id, p)
      this.leaseChanged()
      const go = (): void => {
        if (this.pending.get(id) !== p) return // aborted meanwhile
        if (!this.ctx.startCheckpoint(barrier)) this.abort(id, 'CHECKPOINT_DECLINED', `Checkpoint ${id} could not start: the job is not running`)
      }
      if (isSavepoint) {
        // A savepoint in progress is protected like a checkpoint in progress: its lease is written
        // before the barrier goes out, so no state file of it exists without one.
        this.lease.savepointStarted(location).then(go, (err: unknown) =>
          this.abort(id, 'IO_EXCEPTION', `Savepoint ${id} could not start: ${location}/${SAVEPOINT_LEASE_FILE} cannot be written: ${describeError(err)}`, err))
      } else if (!this.lease.ready) {
        // The job lease comes before the first checkpoint folder.
        void this.lease.start(this.leaseContent()).then(go)
      } else {
        go()
      }
    })
  }

  acknowledge(id: CheckpointId, taskKey: string, operators: OperatorSubtaskSnapshot[]): void {
    const p = this.pending.get(id)
    if (p === undefined) {
      this.lateAcknowledgement(id, operators)
      return
    }
    // Unknown, repeated, or after every task acknowledged (finalizing): nothing awaited.
    if (!p.awaiting.delete(taskKey)) return
    p.acks.push(...operators)
    // Counted from now on: a file this pending checkpoint uses is never deleted under it.
    const gone = this.sharedState.reference(id, this.sharedFiles(p.barrier.location, operators.flatMap((o) => o.files)))
    if (gone.length > 0) {
      this.abort(id, 'FINALIZE_CHECKPOINT_FAILURE', `Checkpoint ${id} references shared state files that were already released for deletion: ${gone.slice(0, 5).join(', ')}`)
      return
    }
    if (p.awaiting.size === 0) void this.finalize(p)
  }

  /**
   * An acknowledgement of a checkpoint that was aborted meanwhile: the files it uploaded belong to
   * no checkpoint and are deleted (shared ones only when nothing else references them).
   */
  private lateAcknowledgement(id: CheckpointId, operators: OperatorSubtaskSnapshot[]): void {
    const location = this.abortedLocations.get(id)
    if (location === undefined) return
    const files = operators.flatMap((o) => o.files)
    this.sharedState.reference(id, this.sharedFiles(location, files))
    this.deleteShared(this.sharedState.release(id, this.pending.keys()))
    const storage = this.ctx.storageFor(location)
    this.track(storage.deleteTree(location))
  }

  decline(id: CheckpointId, taskKey: string, error: unknown): void {
    const p = this.pending.get(id)
    if (p === undefined || p.finalizing !== undefined) return
    this.abort(id, 'CHECKPOINT_DECLINED', `Checkpoint ${id} was declined by task ${taskKey}: ${describeError(error)}`, error)
  }

  private async finalize(p: Pending): Promise<void> {
    const { barrier } = p
    let metadata: CheckpointMetadata
    const write = (async () => {
      metadata = this.buildMetadata(p)
      // Every acknowledged file must exist with its size before `_metadata` vouches for it, and
      // still after (before the previous checkpoint is subsumed): something outside the job (a
      // prune, a person) may have deleted one. A failure here discards `_metadata` again.
      await this.requireFiles(barrier, metadata.files, 'before writing _metadata')
      await this.ctx.storageFor(barrier.location).writeAtomic(metadataLocation(barrier.location), serializeMetadata(metadata))
      await this.requireFiles(barrier, metadata.files, 'after writing _metadata')
      await this.lease.savepointEnded(barrier.location) // a savepoint's `_in_progress` (nothing for a checkpoint)
    })()
    p.finalizing = write.catch(() => {})
    try {
      await write
    } catch (err) {
      const what = barrier.type === 'savepoint' ? `Savepoint ${barrier.id} at ${barrier.location}` : `Checkpoint ${barrier.id}`
      this.abort(barrier.id, 'FINALIZE_CHECKPOINT_FAILURE', `${what} could not be finalized: ${describeError(err)}`, err)
      return
    }
    // Aborted during the write (expired, job failover or cancel, subsumed): the abort discards the
    // checkpoint, `_metadata` first, once the write ended.
    if (this.pending.get(barrier.id) !== p) return
    p.timeout.cancel()
    this.pending.delete(barrier.id)
    this.deleteShared(this.sharedState.ended(barrier.id))
    const completed: CompletedCheckpoint = { id: barrier.id, location: barrier.location, metadata: metadata! }
    this.lastCompletionAt = this.ctx.clock.now()
    const sizes = snapshotSizes(metadata!, barrier.location, this.store.latest())
    this.history.push({ id: barrier.id, type: barrier.type, location: barrier.location, triggeredAt: barrier.timestamp, completedAt: this.lastCompletionAt, ...sizes })
    const isSavepoint = barrier.type === 'savepoint'
    if (!isSavepoint) {
      this.failures.onSuccess()
      for (const old of this.store.add(completed)) this.discard(old.location, old.id)
      // Older pending checkpoints are subsumed by this one.
      for (const [otherId, other] of this.pending) {
        // `<=` here is an equivalent mutant: this checkpoint left `pending` above, so no id there equals it.
        if (otherId < barrier.id && other.barrier.type === 'checkpoint') this.abort(checkpointId(otherId), 'SUBSUMED', `Checkpoint ${otherId} was subsumed by ${barrier.id}`)
      }
    }
    this.leaseChanged()
    // Savepoints commit no side effects, except the one a job stops with (as in Flink).
    this.ctx.notifyComplete(barrier.id, isSavepoint && barrier.stop === undefined)
    p.resolve(completed)
    this.onPendingEnded()
  }

  private async requireFiles(barrier: CheckpointBarrier, files: readonly FileReference[], when: string): Promise<void> {
    const unchecked = files.filter((f) => f.checksum === undefined).map((f) => f.path)
    if (unchecked.length > 0) throw new StateError(`state files were acknowledged without a content checksum: ${unchecked.slice(0, 5).join(', ')}`)
    const problems = await verifyFiles((l) => this.ctx.storageFor(l), barrier.location, files)
    if (problems.length > 0) throw new StateError(`acknowledged state files are missing or changed (${when}): ${describeProblems(problems)}`)
  }

  private buildMetadata(p: Pending): CheckpointMetadata {
    const byOperator = new Map<string, OperatorStateEntry>()
    const files: FileReference[] = []
    for (const a of p.acks) {
      let entry = byOperator.get(a.operatorId)
      if (entry === undefined) {
        entry = { operatorId: a.operatorId, uid: a.uid, name: a.name, parallelism: a.parallelism, maxParallelism: a.maxParallelism, subtasks: [] }
        byOperator.set(a.operatorId, entry)
      }
      const st: OperatorStateEntry['subtasks'][number] = { subtask: a.subtask }
      if (a.keyed !== undefined) st.keyed = a.keyed
      if (a.operator !== undefined) st.operator = a.operator
      if (a.channel !== undefined) st.channel = a.channel
      entry.subtasks.push(st)
      files.push(...a.files)
    }
    const operators = [...byOperator.values()].sort((a, b) => a.operatorId.localeCompare(b.operatorId))
    for (const o of operators) o.subtasks.sort((a, b) => a.subtask - b.subtask)
    files.sort((a, b) => a.path.localeCompare(b.path))
    return {
      jobId: this.ctx.jobId,
      jobName: this.ctx.jobName,
      checkpointId: p.barrier.id,
      timestamp: p.barrier.timestamp,
      completedAt: new Date(this.ctx.clock.now()).toISOString(),
      kind: { type: p.barrier.type, incremental: p.barrier.incremental, format: p.barrier.format },
      backend: this.ctx.backend,
      program: this.ctx.program,
      operators,
      files,
    }
  }

  /** Aborts a pending checkpoint: tasks drop their work for it, and its files are deleted. */
  abort(id: CheckpointId, reason: CheckpointFailureReason, message: string, cause?: unknown): void {
    const p = this.pending.get(id)
    if (p === undefined) return
    this.pending.delete(id)
    p.timeout.cancel()
    const isSavepoint = p.barrier.type === 'savepoint'
    this.failed.push({ id, reason, message })
    this.ctx.notifyAborted(id)
    this.rememberAborted(id, p.barrier.location)
    this.deleteShared(this.sharedState.ended(id))
    this.leaseChanged()
    // During the `_metadata` write, deleting now could race the write and leave a `_metadata` over
    // deleted files: discard once the write ended, `_metadata` first. A savepoint's lease goes
    // before its folder (no renewal may land in a deleted folder).
    const leaseGone = isSavepoint ? this.lease.savepointEnded(p.barrier.location) : Promise.resolve()
    this.discard(p.barrier.location, id, Promise.all([p.finalizing, leaseGone]).then(() => {}))
    const err = new CheckpointFailure(reason, message, cause)
    p.reject(err)
    if (this.failures.onFailure(reason, isSavepoint)) {
      this.ctx.failJob(new StateError(`Exceeded checkpoint tolerable failure threshold (${this.settings.tolerableFailures}): ${message}`, { cause: err }))
    }
    this.onPendingEnded()
  }

  /** Aborts every pending checkpoint (the job is failing over or ending); not counted as failures. */
  abortAll(reason: CheckpointFailureReason, message: string): void {
    for (const id of [...this.pending.keys()]) this.abort(checkpointId(id), reason, message)
  }

  private rememberAborted(id: number, location: string): void {
    this.abortedLocations.set(id, location)
    if (this.abortedLocations.size > 64) this.abortedLocations.delete(this.abortedLocations.keys().next().value!)
  }

  /** The files of `refs` outside the checkpoint's own folder (shared between checkpoints), as full locations. */
  private sharedFiles(location: string, refs: readonly FileReference[]): string[] {
    return refs.map((f) => join(location, f.path)).filter((l) => relativeTo(location, l) === undefined)
  }

  /**
   * Deletes a checkpoint that completed or was aborted: `_metadata` first, so a half-deleted
   * directory never looks complete; then its folder and, released from the registry only now,
   * the shared files nothing else references. `after`: a write into the directory still in
   * progress, to wait for first. When `_metadata` cannot be deleted, nothing else is.
   */
  private discard(location: string, id: number, after: Promise<void> = Promise.resolve()): void {
    const storage = this.ctx.storageFor(location)
    this.track(after
      .then(() => storage.delete(metadataLocation(location)))
      .then(() => {
        this.deleteShared(this.sharedState.release(id, this.pending.keys()))
        return storage.deleteTree(location)
      }))
  }

  private deleteShared(files: readonly string[]): void {
    for (const f of files) this.track(this.ctx.storageFor(f).delete(f))
  }

  private track(p: Promise<void>): void {
    const t: Promise<void> = p.catch(() => {}).finally(() => this.inFlight.delete(t))
    this.inFlight.add(t)
  }

  /**
   * The job reached a terminal state: applies the externalized-checkpoint retention, as Flink
   * does: everything is discarded when the job finished; on cancel RETAIN_ON_CANCELLATION keeps
   * them; on failure both externalized modes keep them.
   */
  async shutdown(status: 'FINISHED' | 'CANCELED' | 'FAILED'): Promise<void> {
    this.stopPeriodic()
    this.abortAll('JOB_FAILOVER', `The job ended (${status})`)
    // The lease says the job ended before anything of it is deleted.
    await this.lease.end()
    const r = this.settings.retention
    const keep =
      (status === 'CANCELED' && r === 'RETAIN_ON_CANCELLATION') ||
      (status === 'FAILED' && (r === 'RETAIN_ON_CANCELLATION' || r === 'DELETE_ON_CANCELLATION'))
    if (!keep) {
      for (const c of this.store.drain()) this.discard(c.location, c.id)
      await this.settled()
      const jobDir = jobCheckpointDir(this.ctx.checkpointsDir, this.ctx.jobId)
      await this.ctx.storageFor(jobDir).deleteTree(jobDir).catch(() => {})
    }
    await this.settled()
  }

  /** Waits until every deletion started so far, and those they started, has ended. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }
}
