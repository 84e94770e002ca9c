/**
 * Every configuration key tsflink understands, with its type, legacy name and the range of values
 * it accepts, as in Flink's documentation. A value outside its range is refused when the
 * configuration is loaded, naming key and value. Pure. Tests: test/config.test.ts.
 */
import { formatDuration, parseDuration } from './duration.js'
import { parseMemorySize } from './memory-size.js'

/** `ports`: a port, a range (50100-50200) or a comma-separated list of both. */
export type OptionType = 'duration' | 'memory' | 'int' | 'number' | 'bool' | 'string' | 'ports' | { enum: readonly string[] }

/** Inclusive bounds of a numeric (or duration, in ms) option, with why, when the reason is not obvious. */
export interface Range {
  readonly min?: number
  readonly max?: number
  readonly why?: string
}

export interface ConfigOption {
  readonly key: string
  readonly type: OptionType
  readonly fallbackKeys?: readonly string[]
  readonly description: string
  readonly range?: Range
}

const o = (key: string, type: OptionType, description: string, fallbackKeys?: string[], range?: Range): ConfigOption => ({
  key, type, description,
  ...(fallbackKeys === undefined || fallbackKeys.length === 0 ? {} : { fallbackKeys }),
  ...(range === undefined ? {} : { range }),
})

/** Flink's MINIMAL_CHECKPOINT_TIME: the least checkpoint interval and timeout. */
export const MINIMAL_CHECKPOINT_TIME_MS = 10

export const CHECKPOINTING_MODES = ['EXACTLY_ONCE', 'AT_LEAST_ONCE'] as const
export const RETENTION_MODES = ['NO_EXTERNALIZED_CHECKPOINTS', 'RETAIN_ON_CANCELLATION', 'DELETE_ON_CANCELLATION'] as const
export const RESTART_TYPES = ['none', 'disable', 'off', 'fixed-delay', 'fixeddelay', 'failure-rate', 'failurerate', 'exponential-delay', 'exponentialdelay'] as const

const MIN_CHECKPOINT_TIME: Range = { min: MINIMAL_CHECKPOINT_TIME_MS, why: "Flink's minimum checkpoint time" }
const AT_LEAST_ONE: Range = { min: 1 }
const NOT_NEGATIVE: Range = { min: 0 }

export const OPTIONS: readonly ConfigOption[] = [
  o('execution.checkpointing.interval', 'duration', 'Interval between periodic checkpoints; unset disables checkpointing.', [], MIN_CHECKPOINT_TIME),
  o('execution.checkpointing.mode', { enum: CHECKPOINTING_MODES }, 'EXACTLY_ONCE aligns barriers; AT_LEAST_ONCE does not.'),
  o('execution.checkpointing.timeout', 'duration', 'A checkpoint not complete after this long is aborted.', [], MIN_CHECKPOINT_TIME),
  o('execution.checkpointing.max-concurrent-checkpoints', 'int', 'Checkpoints that may be in progress at once.', [], AT_LEAST_ONE),
  o('execution.checkpointing.min-pause', 'duration', 'Least time between the end of one checkpoint and the start of the next.'),
  o('execution.checkpointing.tolerable-failed-checkpoints', 'int', 'Consecutive checkpoint failures tolerated before the job fails.', [], NOT_NEGATIVE),
  o('execution.checkpointing.externalized-checkpoint-retention', { enum: RETENTION_MODES }, 'What happens to completed checkpoints when the job ends.'),
  o('execution.checkpointing.dir', 'string', 'Where checkpoints are written (a path or s3://bucket/prefix).', ['state.checkpoints.dir']),
  o('execution.checkpointing.savepoint-dir', 'string', 'Default target directory of savepoints.', ['state.savepoints.dir']),
  o('execution.checkpointing.num-retained', 'int', 'Completed checkpoints kept; older ones are deleted.', ['state.checkpoints.num-retained'], AT_LEAST_ONE),
  o('execution.checkpointing.incremental', 'bool', 'Checkpoints upload only files new since the previous one (rocksdb backend).', ['state.backend.incremental']),
  o('execution.checkpointing.unaligned.enabled', 'bool', 'Barriers overtake in-flight records; those records are stored with the checkpoint (EXACTLY_ONCE only).', ['execution.checkpointing.unaligned']),
  o('execution.checkpointing.aligned-checkpoint-timeout', 'duration', 'An aligned checkpoint still aligning after this long continues unaligned.', ['execution.checkpointing.alignment-timeout']),
  o('taskmanager.numberOfTaskSlots', 'int', 'Task slots, each a worker thread running one parallel pipeline of the job (default: the number of cores).', [], AT_LEAST_ONE),
  o('taskmanager.memory.task.heap.size', 'string', 'Heap limit of each task slot (e.g. 512m, 2g); default: Node.js defaults.'),
  o('heartbeat.timeout', 'duration', 'A task slot that has not returned to its event loop for this long (user code that never returns) fails the attempt.', [], { min: 100 }),
  o('task.cancellation.timeout', 'duration', 'A cancelled task that has not stopped after this long has its slot terminated (0 waits for ever).', [], NOT_NEGATIVE),
  o('state.backend.type', { enum: ['hashmap', 'rocksdb'] }, 'hashmap: state on the heap; rocksdb: the embedded on-disk LSM backend.', ['state.backend']),
  o('taskmanager.memory.managed.size', 'memory', 'Memory budget of the rocksdb (embedded LSM) state backends: memtables, cached blocks and indexes, divided equally among task slots and, within a slot, among its backends (e.g. 256m, 1g; default 512m).', [], { min: 1 << 20, why: 'at least 1 MB' }),
  o('state.backend.rocksdb.memory.managed', 'bool', 'The rocksdb backend sizes its memory from taskmanager.memory.managed.size (the only mode; false is refused).'),
  o('state.backend.rocksdb.memory.write-buffer-ratio', 'number', 'Share of the budget for memtables; the rest caches reads (default 0.5).', [], { min: 0.05, max: 0.95 }),
  o('restart-strategy.type', { enum: RESTART_TYPES }, 'What to do when a task fails.', ['restart-strategy']),
  o('restart-strategy.fixed-delay.attempts', 'int', 'Restarts before the job fails.', [], NOT_NEGATIVE),
  o('restart-strategy.fixed-delay.delay', 'duration', 'Pause before each restart.'),
  o('restart-strategy.failure-rate.max-failures-per-interval', 'int', 'Failures tolerated within one interval.', [], AT_LEAST_ONE),
  o('restart-strategy.failure-rate.failure-rate-interval', 'duration', 'The interval failures are counted in.', [], { min: 1 }),
  o('restart-strategy.failure-rate.delay', 'duration', 'Pause before each restart.'),
  o('restart-strategy.exponential-delay.initial-backoff', 'duration', 'First pause before a restart.'),
  o('restart-strategy.exponential-delay.max-backoff', 'duration', 'Longest pause before a restart.'),
  o('restart-strategy.exponential-delay.backoff-multiplier', 'number', 'Factor the pause grows by.', [], { min: 1 }),
  o('restart-strategy.exponential-delay.reset-backoff-threshold', 'duration', 'Running this long without a failure resets the pause and the attempt count.', [], { min: 1 }),
  o('restart-strategy.exponential-delay.jitter-factor', 'number', 'Random share of the pause added or subtracted.', [], { min: 0, max: 1 }),
  o('restart-strategy.exponential-delay.attempts-before-reset-backoff', 'int', 'Restarts before the job fails (reset with the pause).', [], NOT_NEGATIVE),
  o('rest.address', 'string', 'Address of the job REST API (the server binds to it unless rest.bind-address is set).'),
  o('rest.bind-address', 'string', 'Address the job REST API binds to.'),
  o('rest.port', 'int', 'Port of the job REST API (0 picks a free one).', [], { min: 0, max: 65535 }),
  o('rest.bind-port', 'ports', 'Ports the REST API may bind to: a port, a range (50100-50200) or a list of both; the first free one is taken.'),
  o('rest.authentication', { enum: ['token', 'none'] }, "token: requests need the job's secret (from its registry entry) or a trusted client certificate; none: any local user may act on the job."),
  o('rest.async.store-duration', 'duration', 'How long the result of a savepoint, checkpoint or disposal stays available to clients.', [], { min: 1 }),
  o('security.ssl.rest.enabled', 'bool', 'Serve (and reach) the REST API over TLS.'),
  o('security.ssl.rest.authentication-enabled', 'bool', 'Mutual TLS: clients must present a certificate the truststore trusts.'),
  o('security.ssl.rest.keystore', 'string', 'Key and certificate of this endpoint: PKCS12, JKS or PEM file.'),
  o('security.ssl.rest.keystore-password', 'string', 'Password of the keystore.'),
  o('security.ssl.rest.key-password', 'string', 'Password of the key in the keystore.'),
  o('security.ssl.rest.keystore-type', { enum: ['PKCS12', 'JKS', 'PEM'] }, 'Format of the keystore (default: from the file).'),
  o('security.ssl.rest.truststore', 'string', 'Certificates trusted for the other side: PKCS12, JKS or PEM file.'),
  o('security.ssl.rest.truststore-password', 'string', 'Password of the truststore.'),
  o('security.ssl.rest.truststore-type', { enum: ['PKCS12', 'JKS', 'PEM'] }, 'Format of the truststore (default: from the file).'),
  o('parallelism.default', 'int', 'Parallelism of operators that set none.', [], AT_LEAST_ONE),
  o('pipeline.max-parallelism', 'int', 'Default max parallelism (number of key groups).', [], { min: 1, max: 32768 }),
  o('s3.endpoint', 'string', 'S3 endpoint URL (MinIO, a local server).'),
  o('s3.region', 'string', 'S3 region.'),
  o('s3.access-key', 'string', 'S3 access key; the AWS default credential chain applies when unset.'),
  o('s3.secret-key', 'string', 'S3 secret key.'),
  o('s3.path.style.access', 'bool', 'Address buckets by path rather than by host name.'),
  o('fs.hdfs.webhdfs.address', 'string', 'HTTP address (host:port or http(s)://host:port) of the NameNode serving WebHDFS for hdfs:// locations (default: the location\'s host, port 9870).'),
  o('yarn.resourcemanager.webapp.address', 'string', 'host:port of the YARN ResourceManager\'s web and REST address, for -yid (default: from yarn-site.xml in YARN_CONF_DIR or HADOOP_CONF_DIR).'),
]

const BY_KEY = new Map<string, ConfigOption>()
for (const opt of OPTIONS) {
  BY_KEY.set(opt.key, opt)
  for (const k of opt.fallbackKeys ?? []) BY_KEY.set(k, opt)
}

export function optionFor(key: string): ConfigOption | undefined {
  return BY_KEY.get(key)
}

/** Checks a raw value against its option's type and range; returns an error message or undefined. */
export function validateValue(opt: ConfigOption, raw: string): string | undefined {
  const t = opt.type
  const v = raw.trim()
  if (t === 'duration') {
    const ms = parseDuration(v)
    if (ms === undefined) return `'${raw}' is not a duration (e.g. 500 ms, 10 s, 3min, 1 h)`
    return rangeProblem(opt, raw, ms, true)
  }
  if (t === 'memory') {
    const bytes = parseMemorySize(v)
    if (bytes === undefined) return `'${raw}' is not a memory size (e.g. 256m, 1 gb, 1048576)`
    return rangeProblem(opt, raw, bytes, false)
  }
  if (t === 'int') return /^-?\d+$/.test(v) ? rangeProblem(opt, raw, Number(v), false) : `'${raw}' is not a whole number`
  if (t === 'number') return v !== '' && Number.isFinite(Number(v)) ? rangeProblem(opt, raw, Number(v), false) : `'${raw}' is not a number`
  if (t === 'bool') return /^(true|false)$/i.test(v) ? undefined : `'${raw}' is not true or false`
  if (t === 'ports') {
    const ok = v !== '' && v.split(',').every((part) => {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part)
      return m !== null && Number(m[1]) <= Number(m[2] ?? m[1]) && Number(m[2] ?? m[1]) <= 65535
    })
    return ok ? undefined : `'${raw}' is not a port, a range (50100-50200) or a list of them`
  }
  if (t === 'string') return undefined
  const allowed = t.enum
  return allowed.some((a) => a.toLowerCase() === v.toLowerCase()) ? undefined : `'${raw}' is not one of ${allowed.join(', ')}`
}

/** Whether a parsed value (ms for durations) lies in the option's range; a message if not. */
export function rangeProblem(opt: ConfigOption, raw: string, value: number, duration: boolean): string | undefined {
  if (duration && value > Number.MAX_SAFE_INTEGER) return `'${raw}' is too long`
  if (!duration && !Number.isSafeInteger(value) && opt.type === 'int') return `'${raw}' is out of range`
  const r = opt.range
  if (r === undefined) return undefined
  const show = (n: number): string => (duration ? formatDuration(n) : String(n))
  const why = r.why === undefined ? '' : ` (${r.why})`
  if (r.min !== undefined && value < r.min) return `'${raw}' is too small: it must be at least ${show(r.min)}${why}`
  if (r.max !== undefined && value > r.max) return `'${raw}' is too large: it must be at most ${show(r.max)}${why}`
  return undefined
}
