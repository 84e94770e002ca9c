/**
 * An exactly-once file sink (Flink's FileSink with row format, rolling on every checkpoint):
 * two-phase commit tied to checkpoints.
 *
 * Records are appended to a hidden in-progress file. At a checkpoint the file is closed and
 * renamed to a hidden pending file, recorded in the checkpoint's state (pre-commit); before the
 * task acknowledges the checkpoint the pending file and its directory are fsynced, so they are
 * durable before `_metadata` is. When the checkpoint completes, pending files are renamed to their
 * visible final names (commit) and the directory is fsynced. After a restore the pending files in
 * the restored state are committed again: commit is idempotent, so a crash (even of the OS)
 * between checkpoint completion and commit loses and duplicates nothing.
 *
 * Architecture Invariant: a record is visible in a `part-*` file only once a checkpoint that
 * covers it has completed (or, with checkpointing off, once the input ended).
 *
 * Visible files: `<dir>/part-<job prefix>-<subtask>-<counter>`. Hidden files start with '.'.
 * Tests: test/file-sink.test.ts, test/file-sink-durability.test.ts, test/integration/recovery.test.ts.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ListStateDescriptor, type ListState } from '../core/state.js'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'
import { StateError } from '../errors.js'
import { FSYNC, type Syncer } from '../storage/fs-storage.js'
import { formatRecord } from './format.js'

type SinkEntry =
  | { type: 'pending'; checkpointId: number; pending: string; final: string }
  | { type: 'counter'; subtask: number; value: number }

const STATE = new ListStateDescriptor<SinkEntry>('file-sink-state')
const FLUSH_LINES = 2048

export interface FileSinkSpec<T> {
  readonly kind: 'file-sink'
  readonly dir: string
  readonly encoder: (record: T) => string
  createOperator(): StreamOperator<T, never>
}

export const FileSink = {
  /** Rows as text lines; `encoder` turns a record into one line (default: formatRecord). */
  forRowFormat<T>(dir: string, encoder: (record: T) => string = formatRecord) {
    const abs = resolve(dir)
    return {
      build(): FileSinkSpec<T> {
        return { kind: 'file-sink', dir: abs, encoder, createOperator: () => new FileSinkOperator<T>(abs, encoder) }
      },
    }
  },
}

export class FileSinkOperator<T> extends StreamOperator<T, never> {
  private lines: string[] = []
  private inProgress: string | undefined
  private counter = 0
  private pending: Extract<SinkEntry, { type: 'pending' }>[] = []
  private state!: ListState<SinkEntry>
  private prefix = ''
  /** Files committed at the end of input without checkpointing, made durable on close. */
  private committedAtEnd: string[] = []
  /** The fsync making the latest commit durable: a later checkpoint, which no longer lists those files, waits for it. */
  private commitDurable: Promise<void> = Promise.resolve()

  constructor(
    readonly dir: string,
    private readonly encoder: (record: T) => string,
    private readonly syncer: Syncer = FSYNC,
  ) {
    super()
  }

  /** fsyncs each file, then the sink's directory (the names renamed into it). */
  private async makeDurable(files: readonly string[]): Promise<void> {
    for (const f of files) {
      const fh = await open(f, 'r')
      try {
        await this.syncer.file(f, fh)
      } finally {
        await fh.close()
      }
    }
    await this.syncer.directory(this.dir)
  }

  override async initializeState(): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    const { jobId, subtask, parallelism, attempt, restored } = this.ctx
    this.prefix = `${jobId.slice(0, 8)}-${subtask}`
    this.state = this.ctx.operatorState.getUnionListState(STATE)
    if (!restored) return
    const all = this.state.get()
    const pending = all.filter((e): e is Extract<SinkEntry, { type: 'pending' }> => e.type === 'pending')
    for (const e of all) if (e.type === 'counter' && e.subtask === subtask) this.counter = Math.max(this.counter, e.value)
    // Every restored pending file is committed by exactly one subtask.
    pending.forEach((e, i) => {
      if (i % parallelism === subtask) this.commit(e)
    })
    if (subtask === 0 && attempt > 0) this.removeLeftovers(new Set(pending.map((e) => e.pending)))
    this.state.clear()
    // The next checkpoint no longer lists these files: their commit must be durable before it is.
    await this.syncer.directory(this.dir)
  }

  /** Hidden files of earlier attempts of this job that no checkpoint references. */
  private removeLeftovers(referenced: Set<string>): void {
    const mine = `.part-${this.ctx.jobId.slice(0, 8)}-`
    for (const name of readdirSync(this.dir)) {
      const p = join(this.dir, name)
      if (name.startsWith(mine) && !referenced.has(p)) unlinkSync(p)
    }
  }

  processElement(value: T): void {
    this.lines.push(this.encoder(value))
    if (this.lines.length >= FLUSH_LINES) this.flush()
  }

  override processWatermark(): void {}

  private flush(): void {
    if (this.lines.length === 0) return
    if (this.inProgress === undefined) {
      this.inProgress = join(this.dir, `.part-${this.prefix}-${this.counter}-a${this.ctx.attempt}.inprogress`)
    }
    appendFileSync(this.inProgress, this.lines.join('\n') + '\n')
    this.lines = []
  }

  /** Closes the current file as pending for `checkpointId`. */
  private roll(checkpointId: number): void {
    this.flush()
    if (this.inProgress === undefined) return
    const pending = this.inProgress.replace(/\.inprogress$/, '.pending')
    renameSync(this.inProgress, pending)
    this.pending.push({ type: 'pending', checkpointId, pending, final: join(this.dir, `part-${this.prefix}-${this.counter}`) })
    this.inProgress = undefined
    this.counter++
  }

  private commit(e: Extract<SinkEntry, { type: 'pending' }>): void {
    if (existsSync(e.pending)) {
      renameSync(e.pending, e.final)
    } else if (!existsSync(e.final)) {
      throw new StateError(`File sink: pending file ${e.pending} of checkpoint ${e.checkpointId} is missing and was never committed`)
    }
  }

  override snapshotState(ctx: SnapshotContext): void {
    this.roll(ctx.checkpointId)
    this.state.update([...this.pending, { type: 'counter', subtask: this.ctx.subtask, value: this.counter }])
  }

  /** Pre-commit made durable: the checkpoint's pending files and their names, before the task acknowledges. */
  override async snapshotStateAsync(ctx: SnapshotContext): Promise<void> {
    const mine = this.pending.filter((e) => e.checkpointId === ctx.checkpointId).map((e) => e.pending)
    if (mine.length > 0) await this.makeDurable(mine)
    await this.commitDurable
  }

  override async notifyCheckpointComplete(checkpointId: number, isSavepoint: boolean): Promise<void> {
    // Savepoints do not commit (as in Flink): a later failover restores the latest checkpoint.
    if (isSavepoint) return
    const done = this.pending.filter((e) => e.checkpointId <= checkpointId)
    this.pending = this.pending.filter((e) => e.checkpointId > checkpointId)
    for (const e of done) this.commit(e)
    if (done.length === 0) return
    this.commitDurable = this.syncer.directory(this.dir)
    await this.commitDurable
  }

  override finish(): void {
    if (this.ctx.task.checkpointingEnabled) {
      this.flush()
      return
    }
    this.roll(0)
    for (const e of this.pending) this.commit(e)
    this.committedAtEnd = this.pending.map((e) => e.final)
    this.pending = []
  }

  override async close(): Promise<void> {
    const files = this.committedAtEnd
    this.committedAtEnd = []
    if (files.length > 0) await this.makeDurable(files)
  }
}
