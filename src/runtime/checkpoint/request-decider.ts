/**
 * Whether a checkpoint may start now (Flink's CheckpointRequestDecider): periodic checkpoints wait
 * while `maxConcurrent` are in progress and until `minPause` has passed since the last one ended
 * (a min pause implies one at a time); savepoints are forced past both. Pure: no clock, no I/O.
 * Tests: test/coordinator.test.ts.
 */

export interface DeciderState {
  now: number
  pending: number
  lastCompletionAt: number | undefined
  maxConcurrent: number
  minPauseMs: number
  forced: boolean
}

export type TriggerDecision =
  | { action: 'trigger' }
  /** Try again once a pending checkpoint ends. */
  | { action: 'wait-for-pending' }
  /** Try again after `delayMs`. */
  | { action: 'delay'; delayMs: number }

export function decideTrigger(s: DeciderState): TriggerDecision {
  if (s.forced) return { action: 'trigger' }
  const limit = s.minPauseMs > 0 ? 1 : s.maxConcurrent
  if (s.pending >= limit) return { action: 'wait-for-pending' }
  if (s.minPauseMs > 0 && s.lastCompletionAt !== undefined) {
    const since = s.now - s.lastCompletionAt
    if (since < s.minPauseMs) return { action: 'delay', delayMs: s.minPauseMs - since }
  }
  return { action: 'trigger' }
}
