/**
 * Restart strategies, as in Flink: none, fixed-delay, failure-rate, exponential-delay. Each
 * decides, from the failure times it was told about, whether the job may restart and after what
 * delay. Without a configured strategy a job with checkpointing uses Flink's default since 1.19
 * (and in 2.x): exponential-delay, 1 s growing ×1.5 up to 1 min, ±10 % jitter, reset after 1 h
 * without a failure. Pure (times and randomness are passed in). Tests: test/restart-strategy.test.ts.
 */
import { ConfigError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'

export type RestartStrategyConfig =
  | { type: 'none' }
  | { type: 'fixed-delay'; attempts: number; delayMs: number }
  | { type: 'failure-rate'; maxFailuresPerInterval: number; intervalMs: number; delayMs: number }
  | {
    type: 'exponential-delay'; initialBackoffMs: number; maxBackoffMs: number; multiplier: number
    /** Restarts allowed before the job fails; the count starts again when the backoff is reset. */
    attempts: number
    /** A failure this long after the previous one resets the backoff and the attempt count (default 1 h). */
    resetBackoffThresholdMs?: number
    /** The delay varies randomly by ± this share of it (default 0). */
    jitterFactor?: number
  }

export interface RestartDecision {
  restart: boolean
  delayMs: number
}

export class RestartBackoff {
  private failures: number[] = []
  private nextBackoff: number
  /** exponential-delay: failures since the backoff was last reset. */
  private attemptsSinceReset = 0

  /** `random` returns a number in [0, 1) (tests pass a fixed one). */
  constructor(readonly config: RestartStrategyConfig, private readonly random: () => number = Math.random) {
    this.nextBackoff = config.type === 'exponential-delay' ? config.initialBackoffMs : 0
  }

  /** Records a failure at `now` and decides. */
  onFailure(now: number): RestartDecision {
    const previous = this.failures.at(-1)
    this.failures.push(now)
    const c = this.config
    switch (c.type) {
      case 'none':
        return { restart: false, delayMs: 0 }
      case 'fixed-delay':
        return { restart: this.failures.length <= c.attempts, delayMs: c.delayMs }
      case 'failure-rate': {
        this.failures = this.failures.filter((t) => now - t <= c.intervalMs)
        return { restart: this.failures.length <= c.maxFailuresPerInterval, delayMs: c.delayMs }
      }
      case 'exponential-delay': {
        if (previous !== undefined && now - previous >= (c.resetBackoffThresholdMs ?? 3_600_000)) {
          this.nextBackoff = c.initialBackoffMs
          this.attemptsSinceReset = 0
        }
        this.attemptsSinceReset++
        const backoff = this.nextBackoff
        this.nextBackoff = Math.min(c.maxBackoffMs, Math.round(backoff * c.multiplier))
        const jitter = backoff * (c.jitterFactor ?? 0)
        const delayMs = Math.max(0, Math.round(backoff + (this.random() * 2 - 1) * jitter))
        return { restart: this.attemptsSinceReset <= c.attempts, delayMs }
      }
    }
  }

  get failureCount(): number {
    return this.failures.length
  }
}

/** Flink's exponential-delay defaults (1.19 and later). */
export const EXPONENTIAL_DELAY_DEFAULTS = {
  initialBackoffMs: 1000,
  maxBackoffMs: 60_000,
  multiplier: 1.5,
  resetBackoffThresholdMs: 3_600_000,
  jitterFactor: 0.1,
  attempts: Number.MAX_SAFE_INTEGER,
} as const

/**
 * Flink's default since 1.19: exponential-delay with its default options when checkpointing is on,
 * else none. A failing job thus restarts after 1 s, 1.5 s, 2.25 s, … and at most once a minute.
 */
export function defaultRestartStrategy(checkpointing: boolean): RestartStrategyConfig {
  return checkpointing ? { type: 'exponential-delay', ...EXPONENTIAL_DELAY_DEFAULTS } : { type: 'none' }
}

export function restartStrategyFromConfig(c: Configuration): RestartStrategyConfig | undefined {
  const t = c.getString('restart-strategy.type')?.toLowerCase()
  if (t === undefined) return undefined
  switch (t) {
    case 'none':
    case 'off':
    case 'disable':
      return { type: 'none' }
    case 'fixed-delay':
    case 'fixeddelay':
      return {
        type: 'fixed-delay',
        attempts: c.getInt('restart-strategy.fixed-delay.attempts') ?? 1,
        delayMs: c.getDuration('restart-strategy.fixed-delay.delay') ?? 1000,
      }
    case 'failure-rate':
    case 'failurerate':
      return {
        type: 'failure-rate',
        maxFailuresPerInterval: c.getInt('restart-strategy.failure-rate.max-failures-per-interval') ?? 1,
        intervalMs: c.getDuration('restart-strategy.failure-rate.failure-rate-interval') ?? 60_000,
        delayMs: c.getDuration('restart-strategy.failure-rate.delay') ?? 1000,
      }
    case 'exponential-delay':
    case 'exponentialdelay': {
      const d = EXPONENTIAL_DELAY_DEFAULTS
      return {
        type: 'exponential-delay',
        initialBackoffMs: c.getDuration('restart-strategy.exponential-delay.initial-backoff') ?? d.initialBackoffMs,
        maxBackoffMs: c.getDuration('restart-strategy.exponential-delay.max-backoff') ?? d.maxBackoffMs,
        multiplier: c.getNumber('restart-strategy.exponential-delay.backoff-multiplier') ?? d.multiplier,
        resetBackoffThresholdMs: c.getDuration('restart-strategy.exponential-delay.reset-backoff-threshold') ?? d.resetBackoffThresholdMs,
        jitterFactor: c.getNumber('restart-strategy.exponential-delay.jitter-factor') ?? d.jitterFactor,
        attempts: c.getInt('restart-strategy.exponential-delay.attempts-before-reset-backoff') ?? d.attempts,
      }
    }
    default:
      throw new ConfigError(`Invalid value for 'restart-strategy.type': '${t}' is not one of none, fixed-delay, failure-rate, exponential-delay`)
  }
}

/** The job API's RestartStrategies, as in Flink. */
export const RestartStrategies = {
  noRestart: (): RestartStrategyConfig => ({ type: 'none' }),
  fixedDelayRestart: (attempts: number, delayMs: number): RestartStrategyConfig => ({ type: 'fixed-delay', attempts, delayMs }),
  failureRateRestart: (maxFailuresPerInterval: number, intervalMs: number, delayMs: number): RestartStrategyConfig => ({
    type: 'failure-rate', maxFailuresPerInterval, intervalMs, delayMs,
  }),
  /** As Flink's `exponentialDelayRestart(initialBackoff, maxBackoff, multiplier, resetBackoffThreshold, jitterFactor)`. */
  exponentialDelayRestart: (initialBackoffMs: number, maxBackoffMs: number, multiplier: number,
    resetBackoffThresholdMs: number = EXPONENTIAL_DELAY_DEFAULTS.resetBackoffThresholdMs,
    jitterFactor: number = EXPONENTIAL_DELAY_DEFAULTS.jitterFactor,
    attempts: number = EXPONENTIAL_DELAY_DEFAULTS.attempts): RestartStrategyConfig => ({
    type: 'exponential-delay', initialBackoffMs, maxBackoffMs, multiplier, resetBackoffThresholdMs, jitterFactor, attempts,
  }),
}
