/**
 * CheckpointConfig, CheckpointingMode and ExternalizedCheckpointCleanup, named as in Flink's Java
 * API. Settings made here override the configuration file and -D; values out of range are refused
 * with Flink's exception messages. Pure. Tests: test/checkpoint-config.test.ts, test/config.test.ts.
 */
import { DEFAULT_CHECKPOINT_SETTINGS, type CheckpointSettings } from '../checkpoint/options.js'
import { MINIMAL_CHECKPOINT_TIME_MS } from '../config/options.js'
import { ConfigError } from '../errors.js'
import type { Storage } from '../storage/storage.js'

export const CheckpointingMode = {
  EXACTLY_ONCE: 'EXACTLY_ONCE',
  AT_LEAST_ONCE: 'AT_LEAST_ONCE',
} as const
export type CheckpointingMode = (typeof CheckpointingMode)[keyof typeof CheckpointingMode]

export const ExternalizedCheckpointCleanup = {
  RETAIN_ON_CANCELLATION: 'RETAIN_ON_CANCELLATION',
  DELETE_ON_CANCELLATION: 'DELETE_ON_CANCELLATION',
  NO_EXTERNALIZED_CHECKPOINTS: 'NO_EXTERNALIZED_CHECKPOINTS',
} as const
export type ExternalizedCheckpointCleanup = (typeof ExternalizedCheckpointCleanup)[keyof typeof ExternalizedCheckpointCleanup]

/** `v` if it is a finite number of at least `min` (a whole one when `integer`), else Flink's message. */
function atLeast(v: number, min: number, flinkMessage: string, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new ConfigError(`${flinkMessage} (got ${String(v)})`)
  }
  return v
}

export class CheckpointConfig {
  private s: CheckpointSettings = { ...DEFAULT_CHECKPOINT_SETTINGS }
  private dir: string | undefined
  private storage: Storage | undefined

  /** Current settings (a copy). */
  settings(): CheckpointSettings {
    return { ...this.s }
  }

  isCheckpointingEnabled(): boolean {
    return this.s.intervalMs !== undefined
  }

  getCheckpointInterval(): number {
    return this.s.intervalMs ?? -1
  }

  setCheckpointInterval(ms: number): void {
    this.s.intervalMs = atLeast(ms, MINIMAL_CHECKPOINT_TIME_MS, `Checkpoint interval must be larger than or equal to ${MINIMAL_CHECKPOINT_TIME_MS} ms`)
  }

  /** Turns periodic checkpoints off again. */
  disableCheckpointing(): void {
    this.s.intervalMs = undefined
  }

  getCheckpointingMode(): CheckpointingMode {
    return this.s.mode
  }

  setCheckpointingMode(mode: CheckpointingMode): void {
    if (mode !== 'EXACTLY_ONCE' && mode !== 'AT_LEAST_ONCE') throw new Error(`Unknown checkpointing mode '${String(mode)}'`)
    this.s.mode = mode
  }

  getCheckpointTimeout(): number {
    return this.s.timeoutMs
  }

  setCheckpointTimeout(ms: number): void {
    this.s.timeoutMs = atLeast(ms, MINIMAL_CHECKPOINT_TIME_MS, `Checkpoint timeout must be larger than or equal to ${MINIMAL_CHECKPOINT_TIME_MS} ms`)
  }

  getMaxConcurrentCheckpoints(): number {
    return this.s.maxConcurrent
  }

  setMaxConcurrentCheckpoints(n: number): void {
    this.s.maxConcurrent = atLeast(n, 1, 'The maximum number of concurrent attempts must be at least one.', true)
  }

  getMinPauseBetweenCheckpoints(): number {
    return this.s.minPauseMs
  }

  setMinPauseBetweenCheckpoints(ms: number): void {
    this.s.minPauseMs = atLeast(ms, 0, 'Pause value must be zero or positive')
  }

  getTolerableCheckpointFailureNumber(): number {
    return this.s.tolerableFailures
  }

  setTolerableCheckpointFailureNumber(n: number): void {
    this.s.tolerableFailures = atLeast(n, 0, 'The tolerable failure checkpoint number must be non-negative.', true)
  }

  getExternalizedCheckpointCleanup(): ExternalizedCheckpointCleanup {
    return this.s.retention
  }

  setExternalizedCheckpointCleanup(mode: ExternalizedCheckpointCleanup): void {
    if (!Object.values(ExternalizedCheckpointCleanup).includes(mode)) throw new Error(`Unknown externalized checkpoint cleanup '${String(mode)}'`)
    this.s.retention = mode
  }

  /** Flink's older name for setExternalizedCheckpointCleanup. */
  enableExternalizedCheckpoints(mode: ExternalizedCheckpointCleanup): void {
    this.setExternalizedCheckpointCleanup(mode)
  }

  isExternalizedCheckpointsEnabled(): boolean {
    return this.s.retention !== 'NO_EXTERNALIZED_CHECKPOINTS'
  }

  getNumRetainedCheckpoints(): number {
    return this.s.numRetained
  }

  setNumRetainedCheckpoints(n: number): void {
    this.s.numRetained = atLeast(n, 1, 'The number of retained checkpoints must be at least one.', true)
  }

  /** Unaligned checkpoints: barriers overtake in-flight records, which are stored with the checkpoint (EXACTLY_ONCE only). */
  enableUnalignedCheckpoints(enabled = true): void {
    this.s.unaligned = enabled
  }

  isUnalignedCheckpointsEnabled(): boolean {
    return this.s.unaligned
  }

  /** An aligned checkpoint still aligning after `ms` continues unaligned (needs unaligned checkpoints enabled). */
  setAlignedCheckpointTimeout(ms: number): void {
    this.s.alignedTimeoutMs = atLeast(ms, 0, 'The aligned checkpoint timeout must be at least 0 ms')
  }

  getAlignedCheckpointTimeout(): number {
    return this.s.alignedTimeoutMs ?? 0
  }

  /** Where checkpoints go: a path or s3:// URL, or a Storage of your own (tests, custom stores). */
  setCheckpointStorage(dirOrStorage: string | { dir: string; storage: Storage }): void {
    if (typeof dirOrStorage === 'string') {
      this.dir = dirOrStorage
    } else {
      this.dir = dirOrStorage.dir
      this.storage = dirOrStorage.storage
    }
  }

  getCheckpointDirectory(): string | undefined {
    return this.dir
  }

  getCustomStorage(): Storage | undefined {
    return this.storage
  }

  /** Used by the environment to apply configuration before user code runs. */
  applySettings(partial: { [K in keyof CheckpointSettings]?: CheckpointSettings[K] | undefined }, dir: string | undefined): void {
    for (const [k, v] of Object.entries(partial)) if (v !== undefined) (this.s as unknown as Record<string, unknown>)[k] = v
    if (dir !== undefined) this.dir = dir
  }
}
