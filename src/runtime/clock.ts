/**
 * Time is injected: the runtime asks a Clock for the time and for timers, so tests advance a
 * ManualClock instead of sleeping. Pure apart from SystemClock's use of the platform timers.
 */

export interface Cancellable {
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Runs `fn` once `delayMs` have passed; cancelling a fired or cancelled timer does nothing. */
  schedule(delayMs: number, fn: () => void): Cancellable
}

export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(delayMs, fn) {
    const t = setTimeout(fn, Math.max(0, delayMs))
    t.unref?.()
    return { cancel: () => clearTimeout(t) }
  },
}

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
