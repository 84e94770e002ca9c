/**
 * The job's REST API, mirroring Flink's (reference: flink-rest-v1-dispatcher.yml) for the
 * operations the CLI and scripts need: job overview and details, cancel, savepoints (trigger,
 * status, disposal), stop-with-savepoint, checkpoints (trigger, status, statistics with their
 * summary, config), the job's plan, the job's failures (exceptions). Values are the job's own:
 * task counts from each subtask's state (job/task-states.ts), the plan from the job graph
 * (job-plan.ts), the checkpoint summary from the recorded sizes (checkpoint-stats.ts). Field names are Flink's. Asynchronous operations answer with a
 * trigger id and are polled; their results are kept for `rest.async.store-duration` (5 min).
 *
 * Security (README, "Security"): every request but `GET /config` needs a credential — the job's
 * secret as `Authorization: Bearer` (its registry entry holds it), or under mutual TLS a client
 * certificate the truststore trusts — else 401 and nothing happens; `rest.authentication: none`
 * opts out. Locations callers name are confined (control/confine.ts); disposal never follows a
 * link swapped in after its check (checkpoint/dispose.ts).
 * The only cross-process module of the runtime. Tests: test/integration/rest.test.ts,
 * test/security.test.ts, test/tls.test.ts, test/integration/flink-client.test.ts (Flink's CLI and
 * REST message classes against it).
 */
import { randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { describeError, isTsflinkError } from '../errors.js'
import type { JobMaster } from '../job/job-master.js'
import { isTerminal } from '../job/job-status.js'
import { disposeSavepoint } from '../checkpoint/dispose.js'
import type { Storage } from '../storage/storage.js'
import { hasBearer, loopbackPeerUid, newSecret } from './auth.js'
import { isHistoryPageRequest, serveHistoryPage } from './history-page.js'
import { canonicalLocation, checkConfined, LocationRefused, type Requester } from './confine.js'
import { serverTlsOptions, type RestTls } from './tls.js'
import { aggregateState, EXECUTION_STATES, zeroCounts } from '../job/task-states.js'
import { checkpointSummary } from './checkpoint-stats.js'
import { jobPlan, slotSharingGroupId, unknownIoMetrics, vertexRestId } from './job-plan.js'

type OperationResult = { status: { id: 'IN_PROGRESS' | 'COMPLETED' }; operation?: Record<string, unknown> }

/** Completed results kept at most (oldest dropped first), besides their time limit. */
const MAX_COMPLETED_OPERATIONS = 1000
/** Request bodies larger than this are refused. */
const MAX_BODY_BYTES = 1 << 20

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
  /** Ports to try in order (rest.bind-port); 0 picks a free one. */
  ports: number[]
  storageFor: (location: string) => Storage
  /** token (default): requests need the secret or a trusted client certificate; none: no credential. */
  authentication?: 'token' | 'none'
  tls?: RestTls | undefined
  /** How long completed operation results are kept (rest.async.store-duration). */
  operationTtlMs?: number
  /** The clock operations expire by (tests). */
  now?: () => number
}

interface Operation {
  result: OperationResult
  completedAt: number | undefined
  reported: boolean
}

/** Statuses of a job that will be RUNNING unless it fails or is cancelled first. */
const WAITS_FOR_RUNNING: ReadonlySet<string> = new Set(['CREATED', 'INITIALIZING', 'RESTARTING', 'RUNNING'])

export class JobRestServer {
  private readonly server: Server
  private readonly operations = new Map<string, Operation>()
  /** The bearer secret clients must present; undefined when authentication is `none`. */
  readonly secret: string | undefined
  /** SHA-256 fingerprint of the server's certificate (TLS only), known once started. */
  fingerprint256: string | undefined
  /** Savepoints this server triggered: their format, and whether a stop took them. */
  private readonly savepointKinds = new Map<number, { format: string; sync: boolean }>()
  private readonly now: () => number
  /** When the job entered each status, since this server watches it. */
  private readonly statusTimes = new Map<string, number>()

  constructor(
    private readonly master: JobMaster,
    private readonly options: RestServerOptions,
  ) {
    this.secret = options.authentication === 'none' ? undefined : newSecret()
    this.now = options.now ?? Date.now
    master.onStatus((s) => this.statusTimes.set(s, isTerminal(s) && master.endTime !== undefined ? master.endTime : master.spec.clock.now()))
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        const code = err instanceof HttpError ? err.code : err instanceof LocationRefused ? err.status : isTsflinkError(err) && err.kind === 'usage' ? 400 : 500
        this.send(res, code, { errors: [describeError(err)] })
      })
    }
    this.server = options.tls === undefined ? createServer(handler) : createHttpsServer(serverTlsOptions(options.tls), handler)
  }

  get scheme(): 'http' | 'https' {
    return this.options.tls === undefined ? 'http' : 'https'
  }

  /** Listens on the first free port of the candidates; returns host:port. */
  async start(): Promise<string> {
    const candidates = this.options.ports.length === 0 ? [0] : this.options.ports
    let lastError: unknown
    for (const port of candidates) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => reject(err)
          this.server.once('error', onError)
          this.server.listen(port, this.options.address, () => {
            this.server.off('error', onError)
            resolve()
          })
        })
        lastError = undefined
        break
      } catch (err) {
        lastError = err
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break
      }
    }
    if (lastError !== undefined) {
      const what = candidates.length === 1 ? `port ${candidates[0]}` : `any of ports ${candidates[0]}-${candidates.at(-1)} (${candidates.length})`
      throw new HttpError(500, `The REST API cannot listen on ${this.options.address}, ${what}: ${describeError(lastError)}`)
    }
    const a = this.server.address() as AddressInfo
    const endpoint = `${this.options.address}:${a.port}`
    if (this.options.tls !== undefined) this.fingerprint256 = await this.ownFingerprint(a.port)
    return endpoint
  }

  /** The certificate clients see, read the way they read it (works for PEM, JKS and PKCS12 alike). */
  private ownFingerprint(port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: this.options.address, port, rejectUnauthorized: false, checkServerIdentity: () => undefined })
      s.once('secureConnect', () => {
        const fp = s.getPeerCertificate().fingerprint256
        s.destroy()
        resolve(fp)
      })
      s.once('error', reject)
    })
  }

  /** Gives clients up to `ms` to fetch the results of operations that completed (e.g. cancel -s). */
  async drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms
    const unreported = (): boolean => [...this.operations.values()].some((o) => o.completedAt !== undefined && !o.reported)
    while (unreported() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
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
    let size = 0
    for await (const c of req) {
      size += (c as Buffer).length
      if (size > MAX_BODY_BYTES) throw new HttpError(413, 'Request body too large')
      chunks.push(c as Buffer)
    }
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
    this.expireOperations()
    const id = randomBytes(16).toString('hex')
    const entry: Operation = { result: { status: { id: 'IN_PROGRESS' } }, completedAt: undefined, reported: false }
    this.operations.set(id, entry)
    const complete = (operation: Record<string, unknown>): void => {
      entry.result = { status: { id: 'COMPLETED' }, operation }
      entry.completedAt = this.now()
    }
    run().then(complete, (err: unknown) => complete({ 'failure-cause': failureCause(err) }))
    return id
  }

  /** Drops completed results older than the store duration, and the oldest beyond the cap (as Flink's CompletedOperationCache). */
  private expireOperations(): void {
    const ttl = this.options.operationTtlMs ?? 5 * 60_000
    const now = this.now()
    const completed: [string, Operation][] = []
    for (const [id, op] of this.operations) {
      if (op.completedAt === undefined) continue
      if (now - op.completedAt >= ttl) this.operations.delete(id)
      else completed.push([id, op])
    }
    completed.sort((a, b) => a[1].completedAt! - b[1].completedAt!)
    for (let i = 0; i < completed.length - MAX_COMPLETED_OPERATIONS; i++) this.operations.delete(completed[i]![0])
  }

  /** The latest status change seen (the job's start when none was). */
  private lastModification(): number {
    return Math.max(this.master.startTime, ...this.statusTimes.values())
  }

  /** Operations kept right now (tests). */
  get operationCount(): number {
    this.expireOperations()
    return this.operations.size
  }

  /** Who is asking, or undefined when the request carries no credential the job accepts. */
  private requester(req: IncomingMessage): Requester | undefined {
    const certified = this.options.tls?.mutual === true && (req.socket as TLSSocket).authorized === true
    if (this.secret === undefined) {
      const uid = loopbackPeerUid(req.socket)
      const self = process.getuid?.()
      return { owner: certified || (uid !== undefined && (uid === self || uid === 0)), uid }
    }
    if (certified || hasBearer(req, this.secret)) return { owner: true, uid: undefined }
    return undefined
  }

  /** Rules for a location a caller names (control/confine.ts). */
  private async confine(raw: unknown, who: Requester, what: string): Promise<string> {
    if (typeof raw !== 'string' || raw.trim() === '') throw new HttpError(400, `Field '${what}' must be a non-empty string`)
    const location = canonicalLocation(raw, what)
    await checkConfined(location, who, this.roots())
    return location
  }

  private roots(): string[] {
    const s = this.master.spec
    return s.savepointsDir === undefined ? [s.checkpointsDir] : [s.savepointsDir, s.checkpointsDir]
  }

  /** The job's fields shared by the overview and the details, at one instant `now`. */
  private jobDetails(now: number): Record<string, unknown> {
    const m = this.master
    const end = m.endTime ?? -1
    // Counted from the subtasks' own states (job/task-states.ts), in Flink's lower-case words.
    const counts = m.tasks.counts()
    const tasks: Record<string, number> = { total: 0 }
    for (const s of EXECUTION_STATES) {
      tasks[s.toLowerCase()] = counts[s]
      tasks.total! += counts[s]
    }
    return {
      jid: m.jobId,
      name: m.spec.jobName,
      state: m.status,
      'start-time': m.startTime,
      'end-time': end,
      duration: (m.endTime ?? now) - m.startTime,
      tasks,
      // Flink 2.x's JobDetails requires it (its CLI's `list` fails without): operators not yet running; tsflink starts all at once.
      'pending-operators': 0,
    }
  }

  private unauthorized(res: ServerResponse): void {
    const data = JSON.stringify({ errors: ["Unauthorized: this job's REST API needs the job's secret (Authorization: Bearer, from its registry entry) or a trusted client certificate"] })
    res.writeHead(401, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(data), 'www-authenticate': 'Bearer realm="tsflink"' })
    res.end(data)
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const parts = url.pathname.replace(/^\/v1\//, '/').split('/').filter((p) => p !== '')
    const method = req.method ?? 'GET'
    const m = this.master

    // Static facts about the server, no job data: answered to anyone (health checks, discovery).
    if (parts.length === 1 && parts[0] === 'config' && method === 'GET') return this.send(res, 200, this.dashboardConfig())
    // The checkpoint history page: static, no job data; its script asks with the job's credential (history-page.ts).
    if (isHistoryPageRequest(method, url.pathname)) return serveHistoryPage(res, method)
    const who = this.requester(req)
    if (who === undefined) {
      req.resume()
      return this.unauthorized(res)
    }

    if (parts[0] === 'overview' && method === 'GET') {
      return this.send(res, 200, { 'flink-version': 'tsflink', 'jobs-running': isTerminal(m.status) ? 0 : 1, 'jobs-finished': m.status === 'FINISHED' ? 1 : 0, 'jobs-cancelled': m.status === 'CANCELED' ? 1 : 0, 'jobs-failed': m.status === 'FAILED' ? 1 : 0 })
    }
    if (parts[0] === 'savepoint-disposal') {
      if (parts.length === 1 && method === 'POST') {
        const b = await this.body(req)
        const location = await this.confine(b['savepoint-path'], who, 'savepoint-path')
        const roots = this.roots()
        const confine = async (dir: { path: string; stat: Stats | undefined }): Promise<void> => checkConfined(dir.path, who, roots, dir.stat)
        return this.send(res, 200, { 'request-id': this.operation(async () => { await disposeSavepoint(location, this.options.storageFor(location), { confine }); return {} }) })
      }
      if (parts.length === 2 && method === 'GET') return this.sendOperation(res, parts[1]!)
    }
    if (parts[0] !== 'jobs') throw new HttpError(404, `Not found: ${url.pathname}`)
    if (parts.length === 1 && method === 'GET') return this.send(res, 200, { jobs: [{ id: m.jobId, status: m.status }] })
    if (parts.length === 2 && parts[1] === 'overview' && method === 'GET') {
      const now = Date.now()
      return this.send(res, 200, { jobs: [{ ...this.jobDetails(now), 'last-modification': this.lastModification() }] })
    }

    const jobId = parts[1]!
    if (jobId !== m.jobId) throw new HttpError(404, `Job ${jobId} not found`)
    const rest = parts.slice(2)

    if (rest.length === 0 && method === 'GET') {
      const now = Date.now()
      const { tasks: _, ...d } = this.jobDetails(now)
      // Per vertex its subtasks' states and the state Flink aggregates from them; status-counts: vertices per state (as Flink).
      const verticesPerState = zeroCounts()
      const vertices = m.spec.graph.vertices.map((v) => {
        const counts = m.tasks.counts(v.id)
        const status = aggregateState(counts, v.parallelism)
        verticesPerState[status]++
        return {
          id: vertexRestId(m.spec.graph, v.id),
          slotSharingGroupId: slotSharingGroupId(m.jobId),
          name: v.name,
          maxParallelism: m.spec.graph.nodes[v.nodes[0]!]!.maxParallelism,
          parallelism: v.parallelism,
          status,
          'start-time': m.startTime,
          'end-time': m.endTime ?? -1,
          duration: (m.endTime ?? now) - m.startTime,
          tasks: counts,
          metrics: unknownIoMetrics(),
        }
      })
      return this.send(res, 200, {
        ...d,
        isStoppable: false,
        'job-type': 'STREAMING',
        maxParallelism: Math.max(...m.spec.graph.nodes.map((n) => n.maxParallelism)),
        now,
        timestamps: { CREATED: m.startTime, ...Object.fromEntries(this.statusTimes) },
        'status-counts': verticesPerState,
        vertices,
        plan: jobPlan(m.jobId, m.spec.jobName, m.spec.graph),
      })
    }
    if (rest.length === 1 && rest[0] === 'plan' && method === 'GET') return this.send(res, 200, { plan: jobPlan(m.jobId, m.spec.jobName, m.spec.graph) })
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
        const dir = await this.savepointDir(b['target-directory'], who, 'target-directory')
        const format = String(b.formatType ?? 'CANONICAL').toLowerCase() === 'native' ? 'native' : 'canonical'
        const cancel = b['cancel-job'] === true
        this.requireRunning()
        const id = this.operation(async () => {
          await this.untilRunning()
          const done = await m.triggerSavepoint(dir, format)
          this.savepointKinds.set(done.id, { format: done.metadata.kind.format.toUpperCase(), sync: false })
          if (cancel) m.cancel()
          return { location: done.location }
        })
        return this.send(res, 202, { 'request-id': id })
      }
      if (rest.length === 2 && method === 'GET') return this.sendOperation(res, rest[1]!)
    }
    if (rest[0] === 'stop' && rest.length === 1 && method === 'POST') {
      const b = await this.body(req)
      const dir = await this.savepointDir(b.targetDirectory, who, 'targetDirectory')
      const format = String(b.formatType ?? 'CANONICAL').toLowerCase() === 'native' ? 'native' : 'canonical'
      this.requireRunning()
      const id = this.operation(async () => {
        await this.untilRunning()
        const done = await m.stopWithSavepoint(dir, b.drain === true, format)
        this.savepointKinds.set(done.id, { format: done.metadata.kind.format.toUpperCase(), sync: true })
        return { location: done.location }
      })
      return this.send(res, 202, { 'request-id': id })
    }
    if (rest[0] === 'checkpoints') {
      if (rest.length === 1 && method === 'GET') return this.send(res, 200, this.checkpointStats())
      if (rest.length === 1 && method === 'POST') {
        this.requireRunning()
        const id = this.operation(async () => {
          await this.untilRunning()
          return { checkpointId: (await m.triggerCheckpoint()).id }
        })
        return this.send(res, 202, { 'request-id': id })
      }
      if (rest.length === 2 && rest[1] === 'config' && method === 'GET') return this.send(res, 200, this.checkpointConfig())
      if (rest.length === 2 && method === 'GET') return this.sendOperation(res, rest[1]!)
    }
    if (rest[0] === 'exceptions' && rest.length === 1 && method === 'GET') return this.send(res, 200, this.exceptions(url.searchParams.get('maxExceptions')))
    throw new HttpError(404, `Not found: ${method} ${url.pathname}`)
  }

  /** Flink's JobExceptionsInfoWithHistory: the job's failures, newest first. */
  private exceptions(maxParam: string | null): Record<string, unknown> {
    const max = maxParam === null ? 20 : Number(maxParam)
    if (!Number.isInteger(max) || max < 0) throw new HttpError(400, `Query parameter 'maxExceptions' must be a whole number, got '${maxParam}'`)
    const all = [...this.master.failures.list()].reverse()
    const entries = all.slice(0, max).map((f) => ({
      exceptionName: f.exceptionName,
      stacktrace: f.stack ?? `${f.exceptionName}: ${f.message}`,
      timestamp: f.timestamp,
      failureLabels: {},
      concurrentExceptions: [],
    }))
    return { exceptionHistory: { entries, truncated: this.master.failures.truncated || all.length > entries.length } }
  }

  /** Flink's DashboardConfiguration: static facts, served without a credential. */
  private dashboardConfig(): Record<string, unknown> {
    return {
      'refresh-interval': 3000,
      'timezone-name': Intl.DateTimeFormat().resolvedOptions().timeZone,
      'timezone-offset': -new Date().getTimezoneOffset() * 60_000,
      'flink-version': 'tsflink',
      'flink-revision': 'tsflink',
      features: { 'web-submit': false, 'web-cancel': true, 'web-rescale': false, 'web-history': false },
    }
  }

  /**
   * A savepoint, stop or checkpoint needs running tasks. A job still starting (its slots load the
   * program) or restarting is accepted, and the operation waits until it runs; a job that is
   * ending or ended is refused (409).
   */
  private requireRunning(): void {
    if (!WAITS_FOR_RUNNING.has(this.master.status)) throw new HttpError(409, `Job ${this.master.jobId} is ${this.master.status}, not RUNNING`)
  }

  /** Resolves once the job runs; rejects when it ends or starts ending first. */
  private untilRunning(): Promise<void> {
    const m = this.master
    return new Promise((resolve, reject) => {
      let settled = false
      const check = (s: string): void => {
        if (settled) return
        if (s === 'RUNNING') {
          settled = true
          resolve()
        } else if (!WAITS_FOR_RUNNING.has(s)) {
          settled = true
          reject(new Error(`Job ${m.jobId} is ${s}, not RUNNING`))
        }
      }
      m.onStatus(check)
      check(m.status)
    })
  }

  private async savepointDir(requested: unknown, who: Requester, field: string): Promise<string> {
    if (requested !== undefined && requested !== null) return this.confine(requested, who, field)
    const dir = this.master.spec.savepointsDir
    if (dir !== undefined) return dir
    throw new HttpError(400, "No savepoint directory given and none configured: pass a target directory or set 'execution.checkpointing.savepoint-dir' (state.savepoints.dir)")
  }

  private sendOperation(res: ServerResponse, triggerId: string): void {
    this.expireOperations()
    const op = this.operations.get(triggerId)
    if (op === undefined) throw new HttpError(404, `No operation with trigger id ${triggerId} (unknown, or its result expired)`)
    if (op.completedAt !== undefined) op.reported = true
    this.send(res, 200, op.result)
  }

  private checkpointStats(): Record<string, unknown> {
    const c = this.master.coordinator
    const completed = c.history.filter((h) => h.type === 'checkpoint')
    const savepoints = c.history.filter((h) => h.type === 'savepoint')
    const subtasks = this.master.spec.graph.vertices.reduce((n, v) => n + v.parallelism, 0)
    const unaligned = c.settings.unaligned && c.settings.alignedTimeoutMs === undefined
    const stat = (h: (typeof c.history)[number], savepoint: boolean): Record<string, unknown> => {
      const kind = savepoint ? this.savepointKinds.get(h.id) : undefined
      return {
        className: 'completed', id: h.id, status: 'COMPLETED', is_savepoint: savepoint, savepointFormat: savepoint ? (kind?.format ?? null) : null,
        trigger_timestamp: h.triggeredAt, latest_ack_timestamp: h.completedAt, end_to_end_duration: h.completedAt - h.triggeredAt,
        checkpointed_size: h.checkpointedSize, state_size: h.stateSize, alignment_buffered: 0, processed_data: 0, persisted_data: h.persistedData,
        num_subtasks: subtasks, num_acknowledged_subtasks: subtasks, tasks: {},
        external_path: h.location, discarded: false,
        checkpoint_type: savepoint ? (kind?.sync === true ? 'SYNC_SAVEPOINT' : 'SAVEPOINT') : unaligned || h.persistedData > 0 ? 'UNALIGNED_CHECKPOINT' : 'CHECKPOINT',
      }
    }
    const lastFailed = c.failed.at(-1)
    const restore = this.master.spec.restore
    return {
      counts: { restored: this.master.attempt + (restore === undefined ? 0 : 1), total: c.history.length + c.failed.length + c.pendingCount, in_progress: c.pendingCount, completed: c.history.length, failed: c.failed.length },
      summary: checkpointSummary(c.history),
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
      state_backend: this.master.spec.backend === 'rocksdb' ? 'EmbeddedRocksDBStateBackend' : 'HashMapStateBackend',
      checkpoint_storage: 'FileSystemCheckpointStorage',
      unaligned_checkpoints: s.unaligned,
      tolerable_failed_checkpoints: s.tolerableFailures,
      aligned_checkpoint_timeout: s.alignedTimeoutMs ?? 0,
      checkpoints_after_tasks_finish: true,
      state_changelog_enabled: false,
      // No changelog backend here: Flink's defaults for its settings (its REST client needs both members).
      changelog_periodic_materialization_interval: 600_000,
      changelog_storage: 'memory',
    }
  }
}

