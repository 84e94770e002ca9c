/**
 * Time is injected: the runtime asks a Clock for the time and for timers, so tests advance a
 * ManualClock instead of sleeping. Pure apart from SystemClock's use of the platform timers.
 *
 * Node's timers hold at most 2^31-1 ms (~24.8 days); a longer delay silently becomes 1 ms. The
 * system clock therefore waits in chunks no longer than that and re-arms until the deadline, so a
 * checkpoint interval or timeout of 30 days means 30 days. Tests: test/clock.test.ts.
 */

export interface Cancellable {
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /**
   * Runs `fn` once `delayMs` have passed (negative counts as 0, Infinity as never); cancelling a
   * fired or cancelled timer does nothing.
   */
  schedule(delayMs: number, fn: () => void): Cancellable
}

/** The longest delay Node's setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** The platform's clock. `maxChunkMs` is lowered only by tests, to see the chunking at work. */
export class SystemClock implements Clock {
  constructor(private readonly maxChunkMs = MAX_TIMER_MS) {}

  now(): number {
    return Date.now()
  }

  schedule(delayMs: number, fn: () => void): Cancellable {
    if (delayMs === Infinity) return { cancel: () => {} }
    if (!(delayMs > this.maxChunkMs)) {
      // The common case: one platform timer (NaN and negative delays count as 0).
      const t = setTimeout(fn, delayMs > 0 ? delayMs : 0)
      t.unref?.()
      return { cancel: () => clearTimeout(t) }
    }
    const deadline = Date.now() + (Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0)
    let timer: NodeJS.Timeout | undefined
    let live = true
    // Runs first synchronously (to arm), then on each chunk's end until the deadline has passed.
    const arm = (): void => {
      const left = deadline - Date.now()
      if (left <= 0 && timer !== undefined) {
        live = false
        fn()
        return
      }
      timer = setTimeout(arm, Math.min(Math.max(0, left), this.maxChunkMs))
      timer.unref?.()
    }
    arm()
    return {
      cancel: () => {
        if (!live) return
        live = false
        clearTimeout(timer)
      },
    }
  }
}

export const systemClock: Clock = new SystemClock()

/** A clock that moves only when told to; timers fire in time order during `advance`. */
export class ManualClock implements Clock {
  private time: number
  private seq = 0
  private timers: { at: number; seq: number; fn: () => void; live: boolean }[] = []

  constructor(start = 0) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  schedule(delayMs: number, fn: () => void): Cancellable {
    const timer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn, live: true }
    this.timers.push(timer)
    return { cancel: () => { timer.live = false } }
  }

  /** Moves time forward by `ms`, firing every timer that falls due, earliest first. */
  advance(ms: number): void {
    const target = this.time + ms
    for (;;) {
      this.timers = this.timers.filter((t) => t.live)
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.timers[0]
      if (next === undefined || next.at > target) break
      this.time = next.at
      next.live = false
      next.fn()
    }
    this.time = target
  }

  pendingTimers(): number {
    return this.timers.filter((t) => t.live).length
  }
}
