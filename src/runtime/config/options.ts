/**
 * Every configuration key tsflink understands, with its type, default and legacy name, as in
 * Flink's documentation. Pure. Tests: test/config.test.ts.
 */
import { parseDuration } from './duration.js'

export type OptionType = 'duration' | 'int' | 'bool' | 'string' | { enum: readonly string[] }

export interface ConfigOption {
  readonly key: string
  readonly type: OptionType
  readonly fallbackKeys?: readonly string[]
  readonly description: string
}

const o = (key: string, type: OptionType, description: string, fallbackKeys?: string[]): ConfigOption =>
  fallbackKeys === undefined ? { key, type, description } : { key, type, description, fallbackKeys }

export const CHECKPOINTING_MODES = ['EXACTLY_ONCE', 'AT_LEAST_ONCE'] as const
export const RETENTION_MODES = ['NO_EXTERNALIZED_CHECKPOINTS', 'RETAIN_ON_CANCELLATION', 'DELETE_ON_CANCELLATION'] as const
export const RESTART_TYPES = ['none', 'disable', 'off', 'fixed-delay', 'fixeddelay', 'failure-rate', 'failurerate', 'exponential-delay', 'exponentialdelay'] as const

export const OPTIONS: readonly ConfigOption[] = [
  o('execution.checkpointing.interval', 'duration', 'Interval between periodic checkpoints; unset disables checkpointing.'),
  o('execution.checkpointing.mode', { enum: CHECKPOINTING_MODES }, 'EXACTLY_ONCE aligns barriers; AT_LEAST_ONCE does not.'),
  o('execution.checkpointing.timeout', 'duration', 'A checkpoint not complete after this long is aborted.'),
  o('execution.checkpointing.max-concurrent-checkpoints', 'int', 'Checkpoints that may be in progress at once.'),
  o('execution.checkpointing.min-pause', 'duration', 'Least time between the end of one checkpoint and the start of the next.'),
  o('execution.checkpointing.tolerable-failed-checkpoints', 'int', 'Consecutive checkpoint failures tolerated before the job fails.'),
  o('execution.checkpointing.externalized-checkpoint-retention', { enum: RETENTION_MODES }, 'What happens to completed checkpoints when the job ends.'),
  o('execution.checkpointing.dir', 'string', 'Where checkpoints are written (a path or s3://bucket/prefix).', ['state.checkpoints.dir']),
  o('execution.checkpointing.savepoint-dir', 'string', 'Default target directory of savepoints.', ['state.savepoints.dir']),
  o('execution.checkpointing.num-retained', 'int', 'Completed checkpoints kept; older ones are deleted.', ['state.checkpoints.num-retained']),
  o('execution.checkpointing.incremental', 'bool', 'Checkpoints upload only files new since the previous one (rocksdb backend).', ['state.backend.incremental']),
  o('execution.checkpointing.unaligned.enabled', 'bool', 'Barriers overtake in-flight records; those records are stored with the checkpoint (EXACTLY_ONCE only).', ['execution.checkpointing.unaligned']),
  o('execution.checkpointing.aligned-checkpoint-timeout', 'duration', 'An aligned checkpoint still aligning after this long continues unaligned.', ['execution.checkpointing.alignment-timeout']),
  o('taskmanager.numberOfTaskSlots', 'int', 'Task slots, each a worker thread running one parallel pipeline of the job (default: the number of cores).'),
  o('taskmanager.memory.task.heap.size', 'string', 'Heap limit of each task slot (e.g. 512m, 2g); default: Node.js defaults.'),
  o('heartbeat.timeout', 'duration', 'A task slot that has not returned to its event loop for this long (user code that never returns) fails the attempt.'),
  o('task.cancellation.timeout', 'duration', 'A cancelled task that has not stopped after this long has its slot terminated (0 waits for ever).'),
  o('state.backend.type', { enum: ['hashmap', 'rocksdb'] }, 'hashmap: state on the heap; rocksdb: the embedded on-disk LSM backend.', ['state.backend']),
  o('restart-strategy.type', { enum: RESTART_TYPES }, 'What to do when a task fails.', ['restart-strategy']),
  o('restart-strategy.fixed-delay.attempts', 'int', 'Restarts before the job fails.'),
  o('restart-strategy.fixed-delay.delay', 'duration', 'Pause before each restart.'),
  o('restart-strategy.failure-rate.max-failures-per-interval', 'int', 'Failures tolerated within one interval.'),
  o('restart-strategy.failure-rate.failure-rate-interval', 'duration', 'The interval failures are counted in.'),
  o('restart-strategy.failure-rate.delay', 'duration', 'Pause before each restart.'),
  o('restart-strategy.exponential-delay.initial-backoff', 'duration', 'First pause before a restart.'),
  o('restart-strategy.exponential-delay.max-backoff', 'duration', 'Longest pause before a restart.'),
  o('restart-strategy.exponential-delay.backoff-multiplier', 'string', 'Factor the pause grows by.'),
  o('restart-strategy.exponential-delay.attempts-before-reset-backoff', 'int', 'Restarts before the job fails.'),
  o('rest.address', 'string', 'Address the job REST API listens on.'),
  o('rest.port', 'int', 'Port of the job REST API (0 picks a free one).'),
  o('rest.bind-port', 'string', 'Port or range the REST API binds to.'),
  o('parallelism.default', 'int', 'Parallelism of operators that set none.'),
  o('pipeline.max-parallelism', 'int', 'Default max parallelism (number of key groups).'),
  o('s3.endpoint', 'string', 'S3 endpoint URL (MinIO, a local server).'),
  o('s3.region', 'string', 'S3 region.'),
  o('s3.access-key', 'string', 'S3 access key; the AWS default credential chain applies when unset.'),
  o('s3.secret-key', 'string', 'S3 secret key.'),
  o('s3.path.style.access', 'bool', 'Address buckets by path rather than by host name.'),
]

const BY_KEY = new Map<string, ConfigOption>()
for (const opt of OPTIONS) {
  BY_KEY.set(opt.key, opt)
  for (const k of opt.fallbackKeys ?? []) BY_KEY.set(k, opt)
}

export function optionFor(key: string): ConfigOption | undefined {
  return BY_KEY.get(key)
}

/** Checks a raw value against its option's type; returns an error message or undefined. */
export function validateValue(opt: ConfigOption, raw: string): string | undefined {
  const t = opt.type
  if (t === 'duration') return parseDuration(raw) === undefined ? `'${raw}' is not a duration (e.g. 500 ms, 10 s, 3min, 1 h)` : undefined
  if (t === 'int') return /^-?\d+$/.test(raw.trim()) ? undefined : `'${raw}' is not a whole number`
  if (t === 'bool') return /^(true|false)$/i.test(raw.trim()) ? undefined : `'${raw}' is not true or false`
  if (t === 'string') return undefined
  const allowed = t.enum
  return allowed.some((a) => a.toLowerCase() === raw.trim().toLowerCase()) ? undefined : `'${raw}' is not one of ${allowed.join(', ')}`
}
