/**
 * StreamExecutionEnvironment: where a job program configures execution and declares its sources,
 * as in Flink. Settings come from the configuration (file, then -D) and are overridden by what the
 * program sets. `execute()` builds the job graph and runs it on the embedded runtime, or hands it
 * to the launcher that installed an execution context (the CLI).
 */
import { Writable } from 'node:stream'
import { readRestorePoint } from '../checkpoint/restore-point.js'
import { systemClock, type Clock } from '../clock.js'
import type { Configuration } from '../config/configuration.js'
import { loadConfig } from '../config/loader.js'
import { CHECKPOINTING_MODES, RETENTION_MODES } from '../config/options.js'
import { CollectionSource } from '../connectors/collection-source.js'
import { FileSource } from '../connectors/file-source.js'
import { numberSequence } from '../connectors/generator-source.js'
import type { Source } from '../connectors/source.js'
import { ProgramError } from '../errors.js'
import { buildJobGraph } from '../graph/job-graph.js'
import type { SourceTransformation, Transformation } from '../graph/transformation.js'
import { newJobId } from '../ids.js'
import { currentContext, type ExecutionContext } from '../job/context.js'
import { defaultCheckpointsDir, tsflinkHome } from '../config/defaults.js'
import { join, resolve as resolvePath } from 'node:path'
import { availableParallelism } from 'node:os'
import { JobMaster, type ExecutionTarget, type JobResult, type JobSpec } from '../job/job-master.js'
import { defaultRestartStrategy, restartStrategyFromConfig, type RestartStrategyConfig } from '../job/restart-strategy.js'
import { normalizeLocation } from '../storage/paths.js'
import { probeJobStorage } from '../storage/probe.js'
import { storageFor } from '../storage/resolve.js'
import { configureLsmMemoryFrom } from '../state/lsm/memory.js'
import { CheckpointConfig, type CheckpointingMode } from './checkpoint-config.js'
import { SingleOutputStreamOperator, type StreamContext } from './datastream.js'
import { WatermarkStrategy } from '../core/watermark.js'
import { processStateDir } from '../state/local-dirs.js'

/** Keyed state on the heap (Flink's HashMapStateBackend). */
export class HashMapStateBackend {
  readonly name = 'hashmap' as const
}

/**
 * Keyed state in tsflink's embedded on-disk LSM store, selected in configuration as
 * `state.backend.type: rocksdb` (the name Flink configurations use). With incremental
 * checkpointing, a checkpoint uploads only the tables new since the previous one.
 */
export class EmbeddedRocksDBStateBackend {
  readonly name = 'rocksdb' as const
  constructor(readonly enableIncrementalCheckpointing?: boolean) {}
}

export type StateBackend = HashMapStateBackend | EmbeddedRocksDBStateBackend

export class JobExecutionResult {
  constructor(private readonly result: JobResult) {}
  getJobID(): string {
    return this.result.jobId
  }
  getJobName(): string {
    return this.result.jobName
  }
  /** Net runtime in milliseconds. */
  getNetRuntime(): number {
    return this.result.netRuntimeMs
  }
  get status(): string {
    return this.result.status
  }
  get restarts(): number {
    return this.result.restarts
  }
  /** Checkpoints completed during the run. */
  get checkpoints(): number {
    return this.result.checkpoints
  }
}

export class StreamExecutionEnvironment {
  private readonly transformations: Transformation[] = []
  private idCounter = 0
  private parallelism: number
  private maxParallelism: number | undefined
  private chaining = true
  private restartStrategy: RestartStrategyConfig | undefined
  private readonly checkpointConfig = new CheckpointConfig()
  private clock: Clock = systemClock
  private backend: 'hashmap' | 'rocksdb' = 'hashmap'
  private readonly streamContext: StreamContext

  private constructor(
    private readonly config: Configuration,
    private readonly context: ExecutionContext | undefined,
    /** Run tasks in worker threads (one per slot); a local environment runs them on the caller's thread. */
    private readonly threads: 'workers' | 'caller',
  ) {
    this.parallelism = context?.parallelism ?? config.getInt('parallelism.default') ?? 1
    this.maxParallelism = config.getInt('pipeline.max-parallelism')
    this.applyCheckpointConfig(config)
    this.backend = config.getEnum('state.backend.type', ['hashmap', 'rocksdb'] as const) ?? 'hashmap'
    this.streamContext = {
      addTransformation: (t) => void this.transformations.push(t),
      nextId: () => this.idCounter++,
      printStream: () => this.context?.printStream ?? lazyStdout,
    }
  }

  /** The environment of the launcher that runs this program, or a local one with defaults. */
  static getExecutionEnvironment(): StreamExecutionEnvironment {
    const ctx = currentContext()
    if (ctx !== undefined) return new StreamExecutionEnvironment(ctx.config, ctx, 'workers')
    return new StreamExecutionEnvironment(loadConfig().config, undefined, 'workers')
  }

  /**
   * A local environment with the given configuration: every task runs on the calling thread, so
   * functions may capture anything in scope (tests, embedding). Jobs of getExecutionEnvironment()
   * run in worker threads, one per task slot.
   */
  static createLocalEnvironment(config?: Configuration): StreamExecutionEnvironment {
    return new StreamExecutionEnvironment(config ?? loadConfig().config, undefined, 'caller')
  }

  private applyCheckpointConfig(c: Configuration): void {
    const cc = this.checkpointConfig
    cc.applySettings({
      intervalMs: c.getDuration('execution.checkpointing.interval'),
      mode: c.getEnum('execution.checkpointing.mode', CHECKPOINTING_MODES),
      timeoutMs: c.getDuration('execution.checkpointing.timeout'),
      maxConcurrent: c.getInt('execution.checkpointing.max-concurrent-checkpoints'),
      minPauseMs: c.getDuration('execution.checkpointing.min-pause'),
      tolerableFailures: c.getInt('execution.checkpointing.tolerable-failed-checkpoints'),
      retention: c.getEnum('execution.checkpointing.externalized-checkpoint-retention', RETENTION_MODES),
      numRetained: c.getInt('execution.checkpointing.num-retained'),
      incremental: c.getBool('execution.checkpointing.incremental'),
      unaligned: c.getBool('execution.checkpointing.unaligned.enabled'),
      alignedTimeoutMs: c.getDuration('execution.checkpointing.aligned-checkpoint-timeout'),
    }, c.getString('execution.checkpointing.dir'))
  }

  // ---- configuration ----

  setParallelism(parallelism: number): this {
    if (!Number.isInteger(parallelism) || parallelism < 1) throw new Error(`The parallelism must be at least 1, got ${parallelism}`)
    this.parallelism = parallelism
    return this
  }

  getParallelism(): number {
    return this.parallelism
  }

  setMaxParallelism(maxParallelism: number): this {
    if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > 32768) {
      throw new Error(`The max parallelism must be between 1 and 32768, got ${maxParallelism}`)
    }
    this.maxParallelism = maxParallelism
    return this
  }

  getMaxParallelism(): number {
    return this.maxParallelism ?? 128
  }

  /** Turns on periodic checkpoints every `intervalMs`, optionally with a mode. */
  enableCheckpointing(intervalMs: number, mode?: CheckpointingMode): this {
    this.checkpointConfig.setCheckpointInterval(intervalMs)
    if (mode !== undefined) this.checkpointConfig.setCheckpointingMode(mode)
    return this
  }

  getCheckpointConfig(): CheckpointConfig {
    return this.checkpointConfig
  }

  setStateBackend(backend: StateBackend): this {
    if (!(backend instanceof HashMapStateBackend) && !(backend instanceof EmbeddedRocksDBStateBackend)) throw new Error('Unsupported state backend')
    this.backend = backend.name
    if (backend instanceof EmbeddedRocksDBStateBackend && backend.enableIncrementalCheckpointing !== undefined) {
      this.checkpointConfig.applySettings({ incremental: backend.enableIncrementalCheckpointing }, undefined)
    }
    return this
  }

  setRestartStrategy(strategy: RestartStrategyConfig): this {
    this.restartStrategy = strategy
    return this
  }

  disableOperatorChaining(): this {
    this.chaining = false
    return this
  }

  /** Replaces the clock (tests). */
  setClock(clock: Clock): this {
    this.clock = clock
    return this
  }

  getConfiguration(): Configuration {
    return this.config
  }

  // ---- sources ----

  fromSource<T, S>(source: Source<T, S>, watermarks: WatermarkStrategy<T>, sourceName: string): SingleOutputStreamOperator<T> {
    const t: SourceTransformation = {
      type: 'source', id: this.idCounter++, name: sourceName, uid: undefined, parallelism: undefined, maxParallelism: undefined,
      source: source as Source<unknown, unknown>, watermarks: watermarks as WatermarkStrategy<unknown>,
    }
    this.transformations.push(t)
    return new SingleOutputStreamOperator<T>(this.streamContext, t)
  }

  addSource<T, S>(source: Source<T, S>, sourceName = 'Custom Source'): SingleOutputStreamOperator<T> {
    return this.fromSource(source, WatermarkStrategy.noWatermarks<T>(), sourceName)
  }

  fromElements<T>(...elements: T[]): SingleOutputStreamOperator<T> {
    return this.fromSource(new CollectionSource(elements), WatermarkStrategy.noWatermarks<T>(), 'Collection Source')
  }

  fromCollection<T>(elements: Iterable<T>): SingleOutputStreamOperator<T> {
    return this.fromSource(new CollectionSource([...elements]), WatermarkStrategy.noWatermarks<T>(), 'Collection Source')
  }

  /** The numbers from..to (inclusive), in parallel. */
  fromSequence(from: number, to: number): SingleOutputStreamOperator<number> {
    return this.fromSource(numberSequence(from, to), WatermarkStrategy.noWatermarks<number>(), 'Sequence Source')
  }

  /** Lines of a text file, or of every file in a directory. */
  readTextFile(path: string): SingleOutputStreamOperator<string> {
    return this.fromSource(FileSource.forLines(path), WatermarkStrategy.noWatermarks<string>(), `File Source (${path})`)
  }

  // ---- execution ----

  /** Builds the job's graph (for tests and tools); runs nothing. */
  getJobGraph(): ReturnType<typeof buildJobGraph> {
    return buildJobGraph(this.transformations, { parallelism: this.parallelism, maxParallelism: this.maxParallelism, chaining: this.chaining })
  }

  /** Prepares the job without running it. */
  async prepare(jobName = 'tsflink Streaming Job'): Promise<JobSpec> {
    if (this.transformations.length === 0) throw new ProgramError('No operators defined in streaming topology. Cannot execute.')
    const graph = this.getJobGraph()
    const cc = this.checkpointConfig
    const settings = cc.settings()
    const checkpointsDir = normalizeLocation(cc.getCheckpointDirectory() ?? defaultCheckpointsDir())
    const custom = cc.getCustomStorage()
    const storageForLocation = custom === undefined
      ? (location: string) => storageFor(location, this.config)
      : (location: string) => (location.startsWith(checkpointsDir) ? custom : storageFor(location, this.config))
    const restoreReq = this.context?.restore
    const restorePoint = restoreReq === undefined ? undefined : await readRestorePoint(restoreReq.path, storageForLocation(normalizeLocation(restoreReq.path)))
    const savepointsDir = this.config.getString('execution.checkpointing.savepoint-dir')
    // In a task slot's worker thread, this thread's LSM backends get the slot's part of the budget.
    if (this.backend === 'rocksdb') configureLsmMemoryFrom(this.config, this.context?.worker === true ? this.config.getInt('taskmanager.numberOfTaskSlots') ?? availableParallelism() : 1)
    if (this.context?.worker !== true && this.context?.dryRun !== true) await probeJobStorage({ checkpointsDir, savepointsDir: savepointsDir === undefined ? undefined : normalizeLocation(savepointsDir), checkpointing: settings.intervalMs !== undefined }, storageForLocation)
    for (const t of this.transformations) if (t.type === 'source') t.source.setCheckpointingEnabled?.(settings.intervalMs !== undefined)
    const cancellation = this.config.getDuration('task.cancellation.timeout')
    return {
      jobId: newJobId(),
      jobName,
      graph,
      checkpoint: settings,
      checkpointsDir,
      savepointsDir: savepointsDir === undefined ? undefined : normalizeLocation(savepointsDir),
      storageFor: storageForLocation,
      restart: this.restartStrategy ?? restartStrategyFromConfig(this.config) ?? defaultRestartStrategy(settings.intervalMs !== undefined),
      restore: restorePoint === undefined || restoreReq === undefined ? undefined : {
        location: restorePoint.location,
        metadata: restorePoint.metadata,
        allowNonRestoredState: restoreReq.allowNonRestoredState,
        claimMode: restoreReq.claimMode,
      },
      clock: this.clock,
      program: this.context?.program ?? null,
      backend: this.backend,
      localStateDir: processStateDir(join(tsflinkHome(), 'tmp')),
      execution: this.executionTarget(),
      cancellationTimeoutMs: cancellation === undefined ? DEFAULT_CANCELLATION_TIMEOUT_MS : cancellation === 0 ? Number.MAX_SAFE_INTEGER : cancellation,
      heartbeatTimeoutMs: this.config.getDuration('heartbeat.timeout') ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    }
  }

  private executionTarget(): ExecutionTarget {
    const ctx = this.context
    if (this.threads === 'caller' || ctx?.worker === true) return { kind: 'local' }
    const program = ctx?.program ?? (process.argv[1] === undefined ? null : { file: resolvePath(process.argv[1]), args: process.argv.slice(2) })
    if (program === null) return { kind: 'local' }
    return {
      kind: 'workers',
      program,
      executionIndex: ctx === undefined ? ++directExecutions : ctx.executions,
      config: this.config.entries(),
      parallelism: ctx?.parallelism,
      printTo: ctx?.printStream === process.stderr ? 'stderr' : 'stdout',
      slots: this.config.getInt('taskmanager.numberOfTaskSlots') ?? availableParallelism(),
      heapMb: parseMemoryMb(this.config.getString('taskmanager.memory.task.heap.size')),
    }
  }

  /** Runs the job and resolves when it has ended (finished or canceled); rejects if it failed. */
  async execute(jobName = 'tsflink Streaming Job'): Promise<JobExecutionResult> {
    const ctx = this.context
    if (ctx !== undefined) ctx.executions++
    const spec = await this.prepare(jobName)
    const start = (s: JobSpec): JobMaster => new JobMaster(s)
    const result = ctx !== undefined ? await ctx.submit(spec, start) : await start(spec).run()
    return new JobExecutionResult(result)
  }

  /** Starts the job and returns its master without waiting (embedding, tests). */
  async executeAsync(jobName = 'tsflink Streaming Job'): Promise<{ master: JobMaster; result: Promise<JobResult> }> {
    const spec = await this.prepare(jobName)
    const master = new JobMaster(spec)
    return { master, result: master.run() }
  }
}

/** A cancelled task that has not stopped after this long has its slot terminated (task.cancellation.timeout). */
const DEFAULT_CANCELLATION_TIMEOUT_MS = 30_000

/** heartbeat.timeout, as Flink's default. */
const DEFAULT_HEARTBEAT_TIMEOUT_MS = 50_000

/** Jobs executed by a program started directly (npx tsx job.ts), counted to find them again in the task slots. */
let directExecutions = 0

/** `512m`, `2g`, `1024 mb`, `1gb` → megabytes; undefined when unset. */
export function parseMemoryMb(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(v)
  if (m === null) throw new ProgramError(`taskmanager.memory.task.heap.size: '${v}' is not a memory size (e.g. 512m, 2g)`, { kind: 'usage' })
  const n = Number(m[1])
  const unit = (m[2] ?? '').toLowerCase()
  const mb = unit === 'k' ? n / 1024 : unit === 'g' ? n * 1024 : unit === 't' ? n * 1024 * 1024 : unit === 'm' ? n : n / (1024 * 1024)
  return Math.max(16, Math.round(mb))
}

/** print() without a launcher writes to this process's stdout. */
const lazyStdout = new Writable({
  write(chunk: Buffer | string, _enc, cb) {
    process.stdout.write(chunk, () => cb())
  },
})
