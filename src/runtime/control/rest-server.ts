/**
 * The job's REST API, mirroring Flink's (reference: flink-rest-v1-dispatcher.yml) for the
 * operations the CLI and scripts need: job overview and details, cancel, savepoints (trigger,
 * status, disposal), stop-with-savepoint, checkpoints (trigger, status, statistics, config).
 * Field names are Flink's. Asynchronous operations answer with a trigger id and are polled.
 * The only cross-process module of the runtime. Tests: test/integration/rest.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describeError } from '../errors.js'
import type { JobMaster } from '../job/job-master.js'
import { isTerminal } from '../job/job-status.js'
import { normalizeLocation } from '../storage/paths.js'
import { disposeSavepoint } from '../checkpoint/dispose.js'
import type { Storage } from '../storage/storage.js'

type OperationResult = { status: { id: 'IN_PROGRESS' | 'COMPLETED' }; operation?: Record<string, unknown> }

class HttpError extends Error {
  constructor(readonly code: number, message: string) {
    super(message)
  }
}

function failureCause(err: unknown): Record<string, unknown> {
  const message = describeError(err)
  const cls = err instanceof Error ? err.name : 'Error'
  return {
    class: cls,
    'stack-trace': `${cls}: ${message}`,
    'serialized-throwable': Buffer.from(message).toString('base64'),
  }
}

export interface RestServerOptions {
  address: string
  port: number
  storageFor: (location: string) => Storage
}

export class JobRestServer {
  private readonly server: Server
  private readonly operations = new Map<string, OperationResult>()
  /** Completed operations whose result nobody has fetched yet. */
  private readonly unreported = new Set<string>()

  constructor(
    private readonly master: JobMaster,
    private readonly options: RestServerOptions,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.send(res, err instanceof HttpError ? err.code : 500, { errors: [describeError(err)] }))
    })
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port, this.options.address, () => resolve())
    })
    const a = this.server.address() as AddressInfo
    return `${this.options.address}:${a.port}`
  }

  /** Gives clients up to `ms` to fetch the results of operations that completed (e.g. cancel -s). */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (this.unreported.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const data = JSON.stringify(body)
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(data) })
    res.end(data)
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    if (chunks.length === 0) return {}
    try {
      const v: unknown = JSON.parse(Buffer.concat(chunks).toString())
      return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {}
    } catch {
      throw new HttpError(400, 'Request body is not valid JSON')
    }
  }

  /** Starts an asynchronous operation; its result is kept for polling. */
  private operation(run: () => Promise<Record<string, unknown>>): string {
    const id = randomBytes(16).toString('hex')
    const entry: OperationResult = { status: { id: 'IN_PROGRESS' } }
    this.operations.set(id, entry)
    run().then(
      (operation) => Object.assign(entry, { status: { id: 'COMPLETED' }, operation }),
      (err: unknown) => Object.assign(entry, { status: { id: 'COMPLETED' }, operation: { 'failure-cause': failureCause(err) } }),
    ).finally(() => this.unreported.add(id))
    return id
  }

  private jobDetails(): Record<string, unknown> {
    const m = this.master
    const now = Date.now()
    const end = m.endTime ?? -1
    const tasks = { total: 0, created: 0, scheduled: 0, deploying: 0, running: 0, finished: 0, canceling: 0, canceled: 0, failed: 0, reconciling: 0, initializing: 0 }
    for (const v of m.spec.graph.vertices) tasks.total += v.parallelism
    if (m.status === 'RUNNING') tasks.running = tasks.total
    else if (m.status === 'FINISHED') tasks.finished = tasks.total
    else if (m.status === 'CANCELED') tasks.canceled = tasks.total
    return {
      jid: m.jobId,
      name: m.spec.jobName,
      state: m.status,
      'start-time': m.startTime,
      'end-time': end,
      duration: (m.endTime ?? now) - m.startTime,
      tasks,
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const parts = url.pathname.replace(/^\/v1\//, '/').split('/').filter((p) => p !== '')
    const method = req.method ?? 'GET'
    const m = this.master

    if (parts[0] === 'overview' && method === 'GET') {
      return this.send(res, 200, { 'flink-version': 'tsflink', 'jobs-running': isTerminal(m.status) ? 0 : 1, 'jobs-finished': m.status === 'FINISHED' ? 1 : 0, 'jobs-cancelled': m.status === 'CANCELED' ? 1 : 0, 'jobs-failed': m.status === 'FAILED' ? 1 : 0 })
    }
    if (parts[0] === 'savepoint-disposal') {
      if (parts.length === 1 && method === 'POST') {
        const b = await this.body(req)
        const path = b['savepoint-path']
        if (typeof path !== 'string' || path === '') throw new HttpError(400, "Field 'savepoint-path' is required")
        const location = normalizeLocation(path)
        return this.send(res, 200, { 'request-id': this.operation(async () => { await disposeSavepoint(location, this.options.storageFor(location)); return {} }) })
      }
      if (parts.length === 2 && method === 'GET') return this.sendOperation(res, parts[1]!)
    }
    if (parts[0] !== 'jobs') throw new HttpError(404, `Not found: ${url.pathname}`)
    if (parts.length === 1 && method === 'GET') return this.send(res, 200, { jobs: [{ id: m.jobId, status: m.status }] })
    if (parts.length === 2 && parts[1] === 'overview' && method === 'GET') return this.send(res, 200, { jobs: [{ ...this.jobDetails(), 'last-modification': Date.now() }] })

    const jobId = parts[1]!
    if (jobId !== m.jobId) throw new HttpError(404, `Job ${jobId} not found`)
    const rest = parts.slice(2)

    if (rest.length === 0 && method === 'GET') {
      const { tasks, ...d } = this.jobDetails()
      return this.send(res, 200, {
        ...d,
        isStoppable: false,
        'job-type': 'STREAMING',
        maxParallelism: Math.max(...m.spec.graph.nodes.map((n) => n.maxParallelism)),
        now: Date.now(),
        timestamps: { [m.status]: Date.now(), CREATED: m.startTime },
        'status-counts': tasks,
        vertices: m.spec.graph.vertices.map((v) => ({
          id: m.spec.graph.nodes[v.nodes[0]!]!.operatorId,
          name: v.name,
          maxParallelism: m.spec.graph.nodes[v.nodes[0]!]!.maxParallelism,
          parallelism: v.parallelism,
          status: m.status === 'RUNNING' ? 'RUNNING' : m.status,
          'start-time': m.startTime,
          'end-time': m.endTime ?? -1,
          duration: (m.endTime ?? Date.now()) - m.startTime,
        })),
        plan: { jid: m.jobId, name: m.spec.jobName, type: 'STREAMING', nodes: [] },
      })
    }
    if (rest.length === 0 && method === 'PATCH') {
      const mode = url.searchParams.get('mode') ?? 'cancel'
      if (mode !== 'cancel') throw new HttpError(400, `Unsupported termination mode '${mode}'`)
      m.cancel()
      return this.send(res, 202, {})
    }
    if (rest[0] === 'status' && method === 'GET') return this.send(res, 200, { status: m.status })
    if (rest[0] === 'savepoints') {
      if (rest.length === 1 && method === 'POST') {
        const b = await this.body(req)
        const dir = this.savepointDir(b['target-directory'])
        const format = String(b.formatType ?? 'CANONICAL').toLowerCase() === 'native' ? 'native' : 'canonical'
        const cancel = b['cancel-job'] === true
        this.requireRunning()
        const id = this.operation(async () => {
          const done = await m.triggerSavepoint(dir, format)
          if (cancel) m.cancel()
          return { location: done.location }
        })
        return this.send(res, 202, { 'request-id': id })
      }
      if (rest.length === 2 && method === 'GET') return this.sendOperation(res, rest[1]!)
    }
    if (rest[0] === 'stop' && rest.length === 1 && method === 'POST') {
      const b = await this.body(req)
      const dir = this.savepointDir(b.targetDirectory)
      const format = String(b.formatType ?? 'CANONICAL').toLowerCase() === 'native' ? 'native' : 'canonical'
      this.requireRunning()
      const id = this.operation(async () => ({ location: (await m.stopWithSavepoint(dir, b.drain === true, format)).location }))
      return this.send(res, 202, { 'request-id': id })
    }
    if (rest[0] === 'checkpoints') {
      if (rest.length === 1 && method === 'GET') return this.send(res, 200, this.checkpointStats())
      if (rest.length === 1 && method === 'POST') {
        this.requireRunning()
        const id = this.operation(async () => ({ checkpointId: (await m.triggerCheckpoint()).id }))
        return this.send(res, 202, { 'request-id': id })
      }
      if (rest.length === 2 && rest[1] === 'config' && method === 'GET') return this.send(res, 200, this.checkpointConfig())
      if (rest.length === 2 && method === 'GET') return this.sendOperation(res, rest[1]!)
    }
    throw new HttpError(404, `Not found: ${method} ${url.pathname}`)
  }

  private requireRunning(): void {
    if (this.master.status !== 'RUNNING') throw new HttpError(409, `Job ${this.master.jobId} is ${this.master.status}, not RUNNING`)
  }

  private savepointDir(requested: unknown): string {
    if (typeof requested === 'string' && requested !== '') return normalizeLocation(requested)
    const dir = this.master.spec.savepointsDir
    if (dir !== undefined) return dir
    throw new HttpError(400, "No savepoint directory given and none configured: pass a target directory or set 'execution.checkpointing.savepoint-dir' (state.savepoints.dir)")
  }

  private sendOperation(res: ServerResponse, triggerId: string): void {
    const op = this.operations.get(triggerId)
    if (op === undefined) throw new HttpError(404, `No operation with trigger id ${triggerId}`)
    if (op.status.id === 'COMPLETED') this.unreported.delete(triggerId)
    this.send(res, 200, op)
  }

  private checkpointStats(): Record<string, unknown> {
    const c = this.master.coordinator
    const completed = c.history.filter((h) => h.type === 'checkpoint')
    const savepoints = c.history.filter((h) => h.type === 'savepoint')
    const stat = (h: (typeof c.history)[number], savepoint: boolean): Record<string, unknown> => ({
      className: 'completed', id: h.id, status: 'COMPLETED', is_savepoint: savepoint, savepointFormat: savepoint ? 'CANONICAL' : null,
      trigger_timestamp: h.triggeredAt, latest_ack_timestamp: h.completedAt, end_to_end_duration: h.completedAt - h.triggeredAt,
      external_path: h.location, discarded: false, checkpoint_type: savepoint ? 'SAVEPOINT' : 'CHECKPOINT',
    })
    const lastFailed = c.failed.at(-1)
    const restore = this.master.spec.restore
    return {
      counts: { restored: this.master.attempt + (restore === undefined ? 0 : 1), total: c.history.length + c.failed.length + c.pendingCount, in_progress: c.pendingCount, completed: c.history.length, failed: c.failed.length },
      summary: {},
      latest: {
        completed: completed.length === 0 ? null : stat(completed.at(-1)!, false),
        savepoint: savepoints.length === 0 ? null : stat(savepoints.at(-1)!, true),
        failed: lastFailed === undefined ? null : { className: 'failed', id: lastFailed.id, status: 'FAILED', failure_message: lastFailed.message },
        restored: restore === undefined ? null : { id: restore.metadata.checkpointId, external_path: restore.location, is_savepoint: restore.metadata.kind.type === 'savepoint', restore_timestamp: this.master.startTime },
      },
      history: [...c.history].reverse().slice(0, 10).map((h) => stat(h, h.type === 'savepoint')),
    }
  }

  private checkpointConfig(): Record<string, unknown> {
    const s = this.master.spec.checkpoint
    return {
      mode: s.mode,
      interval: s.intervalMs ?? Number.MAX_SAFE_INTEGER,
      timeout: s.timeoutMs,
      min_pause: s.minPauseMs,
      max_concurrent: s.maxConcurrent,
      externalization: { enabled: s.retention !== 'NO_EXTERNALIZED_CHECKPOINTS', delete_on_cancellation: s.retention !== 'RETAIN_ON_CANCELLATION' },
      state_backend: 'HashMapStateBackend',
      checkpoint_storage: 'FileSystemCheckpointStorage',
      unaligned_checkpoints: false,
      tolerable_failed_checkpoints: s.tolerableFailures,
      aligned_checkpoint_timeout: 0,
      checkpoints_after_tasks_finish: true,
      state_changelog_enabled: false,
    }
  }
}
