/**
 * Restart strategies, as in Flink: none, fixed-delay, failure-rate, exponential-delay. Each
 * decides, from the failure times it was told about, whether the job may restart and after what
 * delay. Pure (times are passed in). Tests: test/restart-strategy.test.ts.
 */
import { ConfigError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'

export type RestartStrategyConfig =
  | { type: 'none' }
  | { type: 'fixed-delay'; attempts: number; delayMs: number }
  | { type: 'failure-rate'; maxFailuresPerInterval: number; intervalMs: number; delayMs: number }
  | { type: 'exponential-delay'; initialBackoffMs: number; maxBackoffMs: number; multiplier: number; attempts: number }

export interface RestartDecision {
  restart: boolean
  delayMs: number
}

export class RestartBackoff {
  private failures: number[] = []
  private nextBackoff: number

  constructor(readonly config: RestartStrategyConfig) {
    this.nextBackoff = config.type === 'exponential-delay' ? config.initialBackoffMs : 0
  }

  /** Records a failure at `now` and decides. */
  onFailure(now: number): RestartDecision {
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
        const delayMs = this.nextBackoff
        this.nextBackoff = Math.min(c.maxBackoffMs, Math.round(this.nextBackoff * c.multiplier))
        return { restart: this.failures.length <= c.attempts, delayMs }
      }
    }
  }

  get failureCount(): number {
    return this.failures.length
  }
}

/** Flink's default: fixed-delay with unlimited attempts and 1 s delay when checkpointing is on, else none. */
export function defaultRestartStrategy(checkpointing: boolean): RestartStrategyConfig {
  return checkpointing ? { type: 'fixed-delay', attempts: Number.MAX_SAFE_INTEGER, delayMs: 1000 } : { type: 'none' }
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
      const m = c.getNumber('restart-strategy.exponential-delay.backoff-multiplier') ?? 1.5
      c.getNumber('restart-strategy.exponential-delay.jitter-factor')
      return {
        type: 'exponential-delay',
        initialBackoffMs: c.getDuration('restart-strategy.exponential-delay.initial-backoff') ?? 1000,
        maxBackoffMs: c.getDuration('restart-strategy.exponential-delay.max-backoff') ?? 60_000,
        multiplier: m,
        attempts: c.getInt('restart-strategy.exponential-delay.attempts-before-reset-backoff') ?? Number.MAX_SAFE_INTEGER,
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
  exponentialDelayRestart: (initialBackoffMs: number, maxBackoffMs: number, multiplier: number, attempts = Number.MAX_SAFE_INTEGER): RestartStrategyConfig => ({
    type: 'exponential-delay', initialBackoffMs, maxBackoffMs, multiplier, attempts,
  }),
}
