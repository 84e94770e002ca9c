/**
 * Barrier handling of one task with N input channels, as a small state machine (Flink's
 * SingleCheckpointBarrierHandler / CheckpointBarrierTracker).
 *
 * EXACTLY_ONCE: the first barrier of a checkpoint blocks its channel; records of blocked channels
 * wait until barriers from every open channel arrived; then the snapshot is taken and all channels
 * unblock. A barrier of a newer checkpoint during alignment aborts the older one.
 * AT_LEAST_ONCE: nothing blocks; the snapshot is taken when the last barrier arrives.
 * A channel that ended (end of partition consumed) needs no barrier.
 * Pure: returns decisions, the task acts on them. Tests: test/barrier-aligner.test.ts.
 */
import type { CheckpointingMode } from '../checkpoint/options.js'

export type AlignmentDecision =
  | { action: 'none' }
  /** Every open channel delivered the barrier: snapshot checkpoint `id` now. */
  | { action: 'snapshot'; id: number }
  /** Checkpoint `aborted` can no longer align (a newer one started); then maybe snapshot. */
  | { action: 'abort'; aborted: number; then: AlignmentDecision }

const NONE: AlignmentDecision = { action: 'none' }

export class BarrierAligner {
  private readonly closed: boolean[]
  private readonly blocked: boolean[]
  /** EXACTLY_ONCE: the checkpoint being aligned, or -1. */
  private current = -1
  private received = 0
  /** AT_LEAST_ONCE: barriers seen per checkpoint id. */
  private readonly counts = new Map<number, number>()
  /** Highest checkpoint id that was snapshotted or aborted; older barriers are ignored. */
  private latestHandled = -1
  private openChannels: number

  constructor(
    readonly numChannels: number,
    readonly mode: CheckpointingMode,
  ) {
    this.closed = new Array<boolean>(numChannels).fill(false)
    this.blocked = new Array<boolean>(numChannels).fill(false)
    this.openChannels = numChannels
  }

  isBlocked(channel: number): boolean {
    return this.blocked[channel] === true
  }

  get aligning(): number | undefined {
    return this.current >= 0 ? this.current : undefined
  }

  onBarrier(channel: number, id: number): AlignmentDecision {
    if (id <= this.latestHandled || this.closed[channel]) return NONE
    return this.mode === 'EXACTLY_ONCE' ? this.alignedBarrier(channel, id) : this.trackedBarrier(id)
  }

  /** The channel ended: it will deliver no more barriers. */
  onEndOfPartition(channel: number): AlignmentDecision {
    if (this.closed[channel]) return NONE
    this.closed[channel] = true
    this.openChannels--
    if (this.mode === 'EXACTLY_ONCE') {
      if (this.current < 0) return NONE
      if (this.blocked[channel]) {
        this.blocked[channel] = false
        this.received--
      }
      return this.received >= this.openChannels ? this.completeAligned() : NONE
    }
    for (const [id, n] of [...this.counts].sort((a, b) => a[0] - b[0])) {
      if (n >= this.openChannels) return this.completeTracked(id)
    }
    return NONE
  }

  /** The coordinator aborted checkpoint `id`: stop aligning it. */
  abort(id: number): void {
    if (id > this.latestHandled) this.latestHandled = id
    if (this.current === id) this.resetAlignment()
    this.counts.delete(id)
  }

  private alignedBarrier(channel: number, id: number): AlignmentDecision {
    if (id > this.current && this.current >= 0) {
      const aborted = this.current
      this.latestHandled = aborted
      this.resetAlignment()
      return { action: 'abort', aborted, then: this.alignedBarrier(channel, id) }
    }
    if (this.current < 0) {
      this.current = id
      this.received = 0
    }
    if (!this.blocked[channel]) {
      this.blocked[channel] = true
      this.received++
    }
    return this.received >= this.openChannels ? this.completeAligned() : NONE
  }

  private completeAligned(): AlignmentDecision {
    const id = this.current
    this.latestHandled = id
    this.resetAlignment()
    return { action: 'snapshot', id }
  }

  private resetAlignment(): void {
    this.current = -1
    this.received = 0
    this.blocked.fill(false)
  }

  private trackedBarrier(id: number): AlignmentDecision {
    const n = (this.counts.get(id) ?? 0) + 1
    this.counts.set(id, n)
    return n >= this.openChannels ? this.completeTracked(id) : NONE
  }

  private completeTracked(id: number): AlignmentDecision {
    this.latestHandled = id
    // Older checkpoints that never completed cannot complete any more.
    for (const other of [...this.counts.keys()]) if (other <= id) this.counts.delete(other)
    return { action: 'snapshot', id }
  }
}
