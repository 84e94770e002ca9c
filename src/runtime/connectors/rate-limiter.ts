/**
 * Rate limits for sources (Flink's RateLimiterStrategy): records per second across all subtasks,
 * each subtask taking its share. Time comes from the reader's Clock.
 */
import type { Clock } from '../clock.js'

export class RateLimiterStrategy {
  private constructor(readonly recordsPerSecond: number) {}

  static perSecond(recordsPerSecond: number): RateLimiterStrategy {
    if (!(recordsPerSecond > 0)) throw new Error('A rate limit must be a positive number of records per second')
    return new RateLimiterStrategy(recordsPerSecond)
  }

  static noOp(): RateLimiterStrategy {
    return new RateLimiterStrategy(Number.POSITIVE_INFINITY)
  }

  /** The limiter of one subtask out of `parallelism`. */
  forSubtask(parallelism: number, clock: Clock): RateLimiter {
    return new RateLimiter(this.recordsPerSecond / parallelism, clock)
  }
}

/** Grants records as time passes; never more than one second's worth after a stall. */
export class RateLimiter {
  private startedAt: number | undefined
  private granted = 0

  constructor(
    readonly perSecond: number,
    private readonly clock: Clock,
  ) {}

  get limited(): boolean {
    return Number.isFinite(this.perSecond)
  }

  /** How many records may go now (at most `max`); they count as taken. */
  take(max: number): number {
    if (!this.limited) return max
    const now = this.clock.now()
    if (this.startedAt === undefined) this.startedAt = now
    const due = Math.floor(((now - this.startedAt) * this.perSecond) / 1000) + 1
    if (due - this.granted > this.perSecond) this.granted = due - Math.ceil(this.perSecond)
    const n = Math.max(0, Math.min(max, due - this.granted))
    this.granted += n
    return n
  }

  /** Gives back records taken but not used. */
  giveBack(n: number): void {
    this.granted -= n
  }

  /** Resolves when the next record may go. */
  available(): Promise<void> {
    if (!this.limited || this.startedAt === undefined) return Promise.resolve()
    const dueAt = this.startedAt + (this.granted * 1000) / this.perSecond
    const wait = Math.max(1, Math.ceil(dueAt - this.clock.now()))
    return new Promise((resolve) => this.clock.schedule(wait, resolve))
  }
}
