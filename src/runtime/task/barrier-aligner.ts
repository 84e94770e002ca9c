/**
 * Barrier handling of one task with N input channels, as a small state machine (Flink's
 * SingleCheckpointBarrierHandler / CheckpointBarrierTracker).
 *
 * EXACTLY_ONCE: the first barrier of a checkpoint blocks its channel; records of blocked channels
 * wait until barriers from every open channel arrived; then the snapshot is taken and all channels
 * unblock. A barrier of a newer checkpoint during alignment aborts the older one; a barrier of an
 * older checkpoint than the one being aligned is obsolete and ignored (it never counts toward the
 * newer one).
 * AT_LEAST_ONCE: nothing blocks; each checkpoint tracks the set of channels that delivered its
 * barrier, and the snapshot is taken when every open channel is in that set.
 * A channel that ended (end of partition consumed) needs no barrier; a channel that delivered a
 * barrier and then ended is counted once, never twice.
 * Pure: returns decisions, the task acts on them. Tests: test/barrier-aligner.test.ts.
 */
import type { CheckpointingMode } from '../checkpoint/options.js'

export type AlignmentDecision =
  | { action: 'none' }
  /**
   * Every open channel delivered the barrier: snapshot checkpoint `id` now, then act on `then`
   * (AT_LEAST_ONCE: a channel's end can complete several overlapping checkpoints, oldest first).
   */
  | { action: 'snapshot'; id: number; then?: AlignmentDecision }
  /** Checkpoint `aborted` can no longer align (a newer one started); then maybe snapshot. */
  | { action: 'abort'; aborted: number; then: AlignmentDecision }

const NONE: AlignmentDecision = { action: 'none' }

export class BarrierAligner {
  private readonly closed = new Set<number>()
  /** EXACTLY_ONCE: channels that delivered the barrier of `current` (blocked until the snapshot). */
  private readonly blocked = new Set<number>()
  /** EXACTLY_ONCE: the checkpoint being aligned. */
  private current: number | undefined
  /** AT_LEAST_ONCE: per checkpoint id, the open channels that delivered its barrier. */
  private readonly seen = new Map<number, Set<number>>()
  /** Highest checkpoint id that was snapshotted or aborted; older barriers are ignored. */
  private latestHandled = -1

  constructor(
    readonly numChannels: number,
    readonly mode: CheckpointingMode,
  ) {}

  private get openChannels(): number {
    return this.numChannels - this.closed.size
  }

  isBlocked(channel: number): boolean {
    return this.blocked.has(channel)
  }

  get aligning(): number | undefined {
    return this.current
  }

  onBarrier(channel: number, id: number): AlignmentDecision {
    if (id <= this.latestHandled || this.closed.has(channel)) return NONE
    return this.mode === 'EXACTLY_ONCE' ? this.alignedBarrier(channel, id) : this.trackedBarrier(channel, id)
  }

  /** The channel ended: it will deliver no more barriers. Idempotent. */
  onEndOfPartition(channel: number): AlignmentDecision {
    this.closed.add(channel)
    if (this.mode === 'EXACTLY_ONCE') {
      this.blocked.delete(channel)
      return this.current !== undefined && this.blocked.size >= this.openChannels ? this.completeAligned() : NONE
    }
    for (const s of this.seen.values()) s.delete(channel)
    return this.completeTrackedFrom([...this.seen.keys()].sort((a, b) => a - b))
  }

  /** AT_LEAST_ONCE: snapshots every checkpoint of `ids` (ascending) that every open channel delivered. */
  private completeTrackedFrom(ids: number[]): AlignmentDecision {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      if (this.seen.get(id)!.size < this.openChannels) continue
      const d = this.completeTracked(id)
      const then = this.completeTrackedFrom(ids.slice(i + 1))
      return then.action === 'none' ? d : { action: 'snapshot', id, then }
    }
    return NONE
  }

  /** The coordinator aborted checkpoint `id`: stop aligning it. */
  abort(id: number): void {
    this.latestHandled = Math.max(this.latestHandled, id)
    if (this.current === id) this.resetAlignment()
    this.seen.delete(id)
  }

  private alignedBarrier(channel: number, id: number): AlignmentDecision {
    const current = this.current ?? id
    if (id < current) return NONE // obsolete: its checkpoint was overtaken by the one aligning
    if (id > current) {
      this.latestHandled = current
      this.resetAlignment()
      return { action: 'abort', aborted: current, then: this.alignedBarrier(channel, id) }
    }
    this.current = id
    this.blocked.add(channel)
    return this.blocked.size >= this.openChannels ? this.completeAligned() : NONE
  }

  private completeAligned(): AlignmentDecision {
    const id = this.current!
    this.latestHandled = id
    this.resetAlignment()
    return { action: 'snapshot', id }
  }

  private resetAlignment(): void {
    this.current = undefined
    this.blocked.clear()
  }

  private trackedBarrier(channel: number, id: number): AlignmentDecision {
    let s = this.seen.get(id)
    if (s === undefined) this.seen.set(id, (s = new Set()))
    s.add(channel)
    return s.size >= this.openChannels ? this.completeTracked(id) : NONE
  }

  private completeTracked(id: number): AlignmentDecision {
    this.latestHandled = id
    // Older checkpoints that never completed cannot complete any more.
    for (const other of [...this.seen.keys()]) if (other <= id) this.seen.delete(other)
    return { action: 'snapshot', id }
  }
}
