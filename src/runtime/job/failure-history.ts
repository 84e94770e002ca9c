/**
 * The job's failures, newest last, bounded as Flink bounds its exception history
 * (`web.exception-history-size`, 16): each with its cause, the attempt that failed and what the
 * restart strategy decided. Listeners hear of each one as it happens (the run service prints a
 * line; the REST API serves the list at /jobs/:jobid/exceptions). Pure: no I/O.
 * Tests: test/failure-history.test.ts.
 */
import { describeError } from '../errors.js'

export const FAILURE_HISTORY_SIZE = 16

export interface FailureRecord {
  /** When the failure was handled, ms since the epoch. */
  readonly timestamp: number
  /** 1 for the job's first failure, counting every failure since it started. */
  readonly failureNumber: number
  /** The attempt that failed (0 for the first run, as Flink's attempt numbers). */
  readonly attempt: number
  /** The error's class name and message. */
  readonly exceptionName: string
  readonly message: string
  readonly stack: string | undefined
  /** Whether the job restarts, and after how long. */
  readonly restart: boolean
  readonly delayMs: number
  /** The restart strategy that decided, e.g. `fixed-delay`. */
  readonly strategy: string
}

export class FailureHistory {
  private readonly entries: FailureRecord[] = []
  private readonly listeners: ((f: FailureRecord) => void)[] = []
  private count = 0

  constructor(private readonly capacity = FAILURE_HISTORY_SIZE) {}

  /** Records a failure and tells every listener. */
  record(error: unknown, at: { timestamp: number; attempt: number; restart: boolean; delayMs: number; strategy: string }): FailureRecord {
    const f: FailureRecord = {
      ...at,
      failureNumber: ++this.count,
      exceptionName: error instanceof Error ? error.name : 'Error',
      message: describeError(error),
      stack: error instanceof Error ? error.stack : undefined,
    }
    this.entries.push(f)
    if (this.entries.length > this.capacity) this.entries.shift()
    for (const l of this.listeners) l(f)
    return f
  }

  onFailure(listener: (f: FailureRecord) => void): void {
    this.listeners.push(listener)
  }

  /** The retained failures, newest last. */
  list(): readonly FailureRecord[] {
    return this.entries
  }

  /** Every failure since the job started, including those no longer retained. */
  get total(): number {
    return this.count
  }

  /** Whether older failures were dropped. */
  get truncated(): boolean {
    return this.count > this.entries.length
  }
}
