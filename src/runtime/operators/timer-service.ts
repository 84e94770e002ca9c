/**
 * Keyed timers of one operator subtask (Flink's InternalTimerService): event-time timers fire when
 * the watermark passes them, processing-time timers when the clock does. At most one timer per
 * (key, timestamp, domain). Timers are part of keyed state: they are snapshotted and restored by
 * key group. Pure data structure; the task drives it. Tests: test/timer-service.test.ts.
 */
import type { TimerEntry } from '../state/keyed-backend.js'
import type { StateKey } from '../core/key-groups.js'

interface Timer {
  ts: number
  key: StateKey
  id: string
  live: boolean
}

class TimerQueue {
  private heap: Timer[] = []
  private readonly byId = new Map<string, Timer>()

  add(ts: number, key: StateKey): boolean {
    const id = `${ts}|${typeof key}|${String(key)}`
    if (this.byId.has(id)) return false
    const t: Timer = { ts, key, id, live: true }
    this.byId.set(id, t)
    this.heap.push(t)
    this.up(this.heap.length - 1)
    return true
  }

  delete(ts: number, key: StateKey): void {
    const id = `${ts}|${typeof key}|${String(key)}`
    const t = this.byId.get(id)
    if (t === undefined) return
    t.live = false
    this.byId.delete(id)
  }

  peekTs(): number | undefined {
    this.dropDead()
    return this.heap[0]?.ts
  }

  /** Removes and returns the earliest timer at or before `ts`. */
  pollUpTo(ts: number): Timer | undefined {
    this.dropDead()
    const top = this.heap[0]
    if (top === undefined || top.ts > ts) return undefined
    this.pop()
    this.byId.delete(top.id)
    return top
  }

  entries(): Timer[] {
    return [...this.byId.values()]
  }

  get size(): number {
    return this.byId.size
  }

  private dropDead(): void {
    while (this.heap.length > 0 && !this.heap[0]!.live) this.pop()
  }

  private pop(): void {
    const last = this.heap.pop()!
    if (this.heap.length > 0) {
      this.heap[0] = last
      this.down(0)
    }
  }

  private up(i: number): void {
    const h = this.heap
    while (i > 0) {
      const p = (i - 1) >> 1
      if (h[p]!.ts <= h[i]!.ts) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }

  private down(i: number): void {
    const h = this.heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && h[l]!.ts < h[m]!.ts) m = l
      if (r < h.length && h[r]!.ts < h[m]!.ts) m = r
      if (m === i) return
      ;[h[m], h[i]] = [h[i]!, h[m]!]
      i = m
    }
  }
}

export class InternalTimerService {
  private readonly eventTime = new TimerQueue()
  private readonly processingTime = new TimerQueue()
  currentWatermark = Number.NEGATIVE_INFINITY

  registerEventTimeTimer(key: StateKey, ts: number): void {
    this.eventTime.add(ts, key)
  }

  deleteEventTimeTimer(key: StateKey, ts: number): void {
    this.eventTime.delete(ts, key)
  }

  /** Returns true when this timer is now the earliest processing-time timer (reschedule the wake-up). */
  registerProcessingTimeTimer(key: StateKey, ts: number): boolean {
    const before = this.processingTime.peekTs()
    this.processingTime.add(ts, key)
    return before === undefined || ts < before
  }

  deleteProcessingTimeTimer(key: StateKey, ts: number): void {
    this.processingTime.delete(ts, key)
  }

  nextProcessingTime(): number | undefined {
    return this.processingTime.peekTs()
  }

  /** Fires event-time timers up to the new watermark, in time order. */
  advanceWatermark(wm: number, fire: (ts: number, key: StateKey) => void): void {
    this.currentWatermark = wm
    for (let t = this.eventTime.pollUpTo(wm); t !== undefined; t = this.eventTime.pollUpTo(wm)) fire(t.ts, t.key)
  }

  /** Fires processing-time timers due at `now`, in time order. */
  advanceProcessingTime(now: number, fire: (ts: number, key: StateKey) => void): void {
    for (let t = this.processingTime.pollUpTo(now); t !== undefined; t = this.processingTime.pollUpTo(now)) fire(t.ts, t.key)
  }

  snapshot(): TimerEntry[] {
    const out: TimerEntry[] = []
    for (const t of this.eventTime.entries()) out.push([0, t.ts, t.key])
    for (const t of this.processingTime.entries()) out.push([1, t.ts, t.key])
    return out
  }

  restore(entries: Iterable<TimerEntry>): void {
    for (const [domain, ts, key] of entries) (domain === 0 ? this.eventTime : this.processingTime).add(ts, key)
  }

  get size(): number {
    return this.eventTime.size + this.processingTime.size
  }
}
