/**
 * Writes the evidence a running job leaves on its checkpoint storage (format: lease.ts), so that
 * tools on any host can tell that it is alive:
 * - the job lease `<checkpoints-dir>/<jobId>/_lease`: written when checkpointing starts, renewed on
 *   the clock (every `renewIntervalMs`, valid `ttlMs`) and promptly whenever what it names changes
 *   (latest completed checkpoint, checkpoints and savepoints in progress), marked `ended` when the
 *   job ends, before anything is deleted;
 * - a savepoint lease `<savepoint-dir>/_in_progress` (kind 'savepoint'): written before the
 *   savepoint's barrier goes out, renewed with the job lease, deleted once its `_metadata` is
 *   written or when the savepoint is discarded. No write for a lease lands after it was ended.
 * Writes are atomic and at most one per lease is in flight (a change meanwhile is written right
 * after). A failed write is kept in `lastError` and tried again at the next renewal.
 * Must not import the task, the job or the CLI. Tests: test/lease-keeper.test.ts.
 */
import { hostname } from 'node:os'
import type { Cancellable, Clock } from '../clock.js'
import type { JobId } from '../ids.js'
import { join } from '../storage/paths.js'
import type { Storage } from '../storage/storage.js'
import { DEFAULT_LEASE_RENEW_MS, DEFAULT_LEASE_TTL_MS, JOB_LEASE_FILE, SAVEPOINT_LEASE_FILE, serializeLease, type Lease, type LeaseOwner } from './lease.js'

export interface LeaseTiming {
  renewIntervalMs: number
  ttlMs: number
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { renewIntervalMs: DEFAULT_LEASE_RENEW_MS, ttlMs: DEFAULT_LEASE_TTL_MS }

export interface LeaseKeeperOptions {
  clock: Clock
  storageFor(location: string): Storage
  jobId: JobId
  /** `<checkpoints-dir>/<jobId>`. */
  jobDir: string
  timing?: LeaseTiming
  /** Defaults to this host and process, started now by the clock. */
  owner?: LeaseOwner
}

/** What the job lease names. */
export interface LeaseContent {
  latestCompleted: number | null
  inProgress: number[]
  savepointsInProgress: string[]
}

/** One lease file: its writes in order, at most one in flight. */
class LeaseFile {
  private inFlight: Promise<void> = Promise.resolve()
  private writing = false
  private again = false
  private ended = false
  lastError: unknown

  constructor(
    private readonly storage: Storage,
    readonly location: string,
    private readonly content: () => Lease,
  ) {}

  /** Writes the lease now, or right after the write in flight. Resolves when that write ended. */
  write(): Promise<void> {
    if (this.ended) return this.inFlight
    if (this.writing) {
      this.again = true // the write in flight writes once more before it resolves
      return this.inFlight
    }
    this.writing = true
    this.inFlight = (async () => {
      do {
        this.again = false
        try {
          await this.storage.writeAtomic(this.location, serializeLease(this.content()))
          this.lastError = undefined
        } catch (err) {
          this.lastError = err
        }
      } while (this.again && !this.ended)
      this.writing = false
    })()
    return this.inFlight
  }

  /** No write starts any more; resolves when the one in flight ended. */
  stop(): Promise<void> {
    this.ended = true
    return this.inFlight
  }
}

export class LeaseKeeper {
  private readonly timing: LeaseTiming
  private readonly owner: LeaseOwner
  private job: LeaseFile | undefined
  private content: LeaseContent = { latestCompleted: null, inProgress: [], savepointsInProgress: [] }
  private readonly savepoints = new Map<string, LeaseFile>()
  private timer: Cancellable | undefined
  private ending: Promise<void> | undefined
  private isEnded = false
  private firstWrite: Promise<void> | undefined
  private firstWritten = false

  constructor(private readonly o: LeaseKeeperOptions) {
    this.timing = o.timing ?? DEFAULT_LEASE_TIMING
    this.owner = o.owner ?? { host: hostname(), pid: process.pid, startedAt: o.clock.now() }
  }

  get started(): boolean {
    return this.job !== undefined
  }

  /** True once the first job-lease write ended (whether it succeeded or not). */
  get ready(): boolean {
    return this.firstWritten
  }

  /** The last failed write of the job lease, until a write succeeds. */
  get lastError(): unknown {
    return this.job?.lastError
  }

  /** Where the job lease lives. */
  get location(): string {
    return join(this.o.jobDir, JOB_LEASE_FILE)
  }

  /** Writes the job lease and starts renewing it; resolves when the first write ended (never rejects). */
  start(content: LeaseContent): Promise<void> {
    if (this.firstWrite !== undefined) return this.firstWrite
    this.content = content
    this.job = new LeaseFile(this.o.storageFor(this.location), this.location, () => this.lease('job'))
    this.firstWrite = this.job.write().then(() => {
      this.firstWritten = true
    })
    this.schedule()
    return this.firstWrite
  }

  /** What the job lease names changed: it is rewritten promptly (not awaited). */
  update(content: LeaseContent): void {
    this.content = content
    if (this.job !== undefined) void this.job.write()
  }

  /** Writes `<location>/_in_progress` for a savepoint about to start; rejects when it cannot be written. */
  async savepointStarted(location: string): Promise<void> {
    const file = new LeaseFile(this.o.storageFor(location), join(location, SAVEPOINT_LEASE_FILE), () => this.lease('savepoint'))
    this.savepoints.set(location, file)
    this.schedule()
    await file.write()
    if (file.lastError !== undefined) {
      this.savepoints.delete(location)
      await file.stop()
      throw file.lastError
    }
  }

  /**
   * The savepoint at `location` completed (its `_metadata` is written) or is being discarded: stops
   * renewing its lease and deletes it. Resolves when no write of it can land any more.
   */
  async savepointEnded(location: string): Promise<void> {
    const file = this.savepoints.get(location)
    if (file === undefined) return
    this.savepoints.delete(location)
    await file.stop()
    await this.o.storageFor(file.location).delete(file.location).catch(() => {})
  }

  /** The job ended: stops renewing and marks the job lease ended. Resolves once that is written. */
  end(): Promise<void> {
    this.ending ??= (async () => {
      this.timer?.cancel()
      this.timer = undefined
      const job = this.job
      if (job === undefined) return
      await job.stop()
      this.isEnded = true
      this.content = { ...this.content, inProgress: [], savepointsInProgress: [] }
      try {
        await this.o.storageFor(this.location).writeAtomic(this.location, serializeLease(this.lease('job')))
      } catch (err) {
        job.lastError = err
      }
    })()
    return this.ending
  }

  /** Renews every lease on the clock while the job lease or a savepoint lease is held. */
  private schedule(): void {
    if (this.timer !== undefined || this.ending !== undefined) return
    this.timer = this.o.clock.schedule(this.timing.renewIntervalMs, () => {
      this.timer = undefined
      void this.job?.write()
      for (const s of this.savepoints.values()) void s.write()
      if (this.job !== undefined || this.savepoints.size > 0) this.schedule()
    })
  }

  private lease(kind: 'job' | 'savepoint'): Lease {
    return {
      format: 'tsflink-lease', version: 1, kind, jobId: this.o.jobId, owner: this.owner,
      renewedAt: this.o.clock.now(), ttlMs: this.timing.ttlMs,
      latestCompleted: this.content.latestCompleted,
      inProgress: [...this.content.inProgress],
      savepointsInProgress: [...this.content.savepointsInProgress],
      ended: this.isEnded,
    }
  }
}
