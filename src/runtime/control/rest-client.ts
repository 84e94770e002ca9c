/**
 * A client of Flink's REST API (tsflink's job endpoint, or a Flink job manager): what the CLI's
 * job-control commands use. Asynchronous operations are triggered, then polled until COMPLETED.
 *
 * Credentials: the job's secret as `Authorization: Bearer` when the caller knows it (from the
 * registry); over TLS, the truststore's CAs or the server certificate's pinned fingerprint (from
 * the registry), and under mutual TLS this side's certificate. A 401 becomes an error whose hint
 * says how to get in. Tests: test/integration/rest.test.ts, test/security.test.ts, test/tls.test.ts.
 */
import { request } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { TsflinkError } from '../errors.js'

export interface JobOverview {
  jid: string
  name: string
  state: string
  'start-time': number
}

export class RestError extends TsflinkError {}

export interface RestClientOptions {
  /** Pause between polls of an asynchronous operation. */
  pollMs?: number
  /** The job's secret, sent as `Authorization: Bearer`. */
  secret?: string | undefined
  /** Speak TLS with these options (CAs, and our certificate under mutual TLS). */
  tls?: ConnectionOptions | undefined
  /** The SHA-256 fingerprint the server's certificate must have (then no CA is needed). */
  pinnedFingerprint256?: string | undefined
  /** Per request. */
  timeoutMs?: number
}

export const UNAUTHORIZED_HINT = "Run the command as the user who started the job: its registry entry ($TSFLINK_HOME/jobs/<jobId>.json) holds the job's secret, which tsflink sends by itself, also with -m host:port. Clients that cannot send it (Flink's CLI) use mutual TLS (security.ssl.rest.*). See 'Security' in the README."

/**
 * The one line worth printing of an error a Flink job manager returns: its first line without the
 * Java class name in front (`org.apache.flink...RestHandlerException: Job could not be found.`).
 */
export function restErrorLine(error: string): string {
  let line = (error.split('\n')[0] ?? '').trim()
  for (let prev = ''; prev !== line;) {
    prev = line
    line = line.replace(/^(?:(?:[A-Za-z_$][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error|Throwable)|Error): /, '')
  }
  return line
}

/**
 * The message of a Flink job manager's `errors` array: its first entry, or, when that is Flink's
 * bare "Internal server error.", the exception the second entry carries
 * (`<Exception on server side:\n…`), e.g. a job jar's missing entry class.
 */
export function restErrorMessage(errors: string[]): string {
  const first = restErrorLine(errors[0] ?? '')
  const server = /<Exception on server side:\s*\n([^\n]+)/.exec(errors[1] ?? '')
  return /^Internal server error\.?$/.test(first) && server !== null ? restErrorLine(server[1]!) || first : first
}

export class RestClient {
  readonly base: string
  private readonly host: string
  private readonly port: number
  private readonly secure: boolean
  private readonly pollMs: number

  constructor(endpoint: string, private readonly options: RestClientOptions = {}) {
    const explicit = /^https?:\/\//.test(endpoint)
    this.secure = explicit ? endpoint.startsWith('https://') : options.tls !== undefined || options.pinnedFingerprint256 !== undefined
    this.base = explicit ? endpoint.replace(/\/+$/, '') : `${this.secure ? 'https' : 'http'}://${endpoint}`
    const u = new URL(this.base)
    this.host = u.hostname.replace(/^\[|\]$/g, '')
    this.port = Number(u.port || (this.secure ? 443 : 80))
    this.pollMs = options.pollMs ?? 50
  }

  /** A connection to the server: plain, or TLS verified by CA or by the pinned fingerprint. */
  private connect(done: (err: Error | null, socket?: Socket) => void): void {
    if (!this.secure) {
      const s = netConnect({ host: this.host, port: this.port })
      s.once('connect', () => done(null, s))
      s.once('error', (e) => done(e))
      return
    }
    const pin = this.options.pinnedFingerprint256
    const s = tlsConnect({
      host: this.host, port: this.port, checkServerIdentity: () => undefined,
      ...this.options.tls,
      ...(pin === undefined ? {} : { rejectUnauthorized: false }),
      ...(/^[\d.]+$|:/.test(this.host) ? {} : { servername: this.host }),
    })
    s.once('secureConnect', () => {
      const fp = s.getPeerCertificate()?.fingerprint256
      if (pin !== undefined && fp !== pin) {
        s.destroy()
        done(new RestError(`The server at ${this.host}:${this.port} presented a certificate other than the one the job registered (fingerprint ${fp ?? 'none'})`))
        return
      }
      done(null, s)
    })
    s.once('error', (e) => done(e))
  }

  private async call(method: string, path: string, body?: unknown, raw?: { data: Buffer; contentType: string }): Promise<unknown> {
    const payload = raw !== undefined ? raw.data : body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (payload !== undefined) headers['content-type'] = raw?.contentType ?? 'application/json'
    if (this.options.secret !== undefined) headers.authorization = `Bearer ${this.options.secret}`
    let status: number
    let text: string
    try {
      ;({ status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request({
          host: this.host, port: this.port, path, method, headers,
          createConnection: (_opts, cb) => {
            this.connect((err, socket) => (err === null ? cb(null, socket!) : cb(err, undefined as unknown as Socket)))
            return undefined
          },
        }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
          res.on('error', reject)
        })
        req.setTimeout(this.options.timeoutMs ?? 60_000, () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 60_000} ms`)))
        req.on('error', reject)
        req.end(payload)
      }))
    } catch (err) {
      if (err instanceof RestError) throw err
      const e = err as NodeJS.ErrnoException
      const tlsHint = this.secure && /certificate|self.signed|verify|alert/i.test(e.message)
        ? { hint: 'Check security.ssl.rest.truststore (it must trust the server\'s certificate) and, under mutual TLS, security.ssl.rest.keystore.' }
        : {}
      throw new RestError(`Cannot reach the job manager at ${this.base}: ${e.message}`, tlsHint)
    }
    let json: unknown = {}
    if (text !== '') {
      try {
        json = JSON.parse(text)
      } catch {
        throw new RestError(`The job manager at ${this.base} answered ${method} ${path} with something that is not JSON`)
      }
    }
    if (status === 401) {
      throw new RestError(
        this.options.secret === undefined
          ? `The job manager at ${this.base} requires a credential and none was found for it (HTTP 401)`
          : `The job manager at ${this.base} refused the job's secret (HTTP 401)`,
        { hint: UNAUTHORIZED_HINT },
      )
    }
    if (status < 200 || status >= 300) {
      const errors = (json as { errors?: unknown[] }).errors
      const msg = Array.isArray(errors) && errors.length > 0 ? restErrorMessage(errors.map(String)) : ''
      throw new RestError(msg === '' ? `HTTP ${status}` : msg)
    }
    return json
  }

  async jobsOverview(): Promise<JobOverview[]> {
    const r = (await this.call('GET', '/jobs/overview')) as { jobs?: JobOverview[] }
    return r.jobs ?? []
  }

  async jobStatus(jobId: string): Promise<string> {
    const r = (await this.call('GET', `/jobs/${jobId}`)) as { state?: string }
    return r.state ?? 'UNKNOWN'
  }

  async cancel(jobId: string): Promise<void> {
    await this.call('PATCH', `/jobs/${jobId}?mode=cancel`)
  }

  /**
   * Uploads a job jar (`POST /jars/upload`, multipart/form-data with the field `jarfile`, as
   * Flink's web UI does); the jar id the job manager gave it.
   */
  async uploadJar(fileName: string, data: Buffer): Promise<string> {
    const boundary = `----tsflink${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`
    const safeName = fileName.replace(/["\r\n\\]/g, '_')
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="jarfile"; filename="${safeName}"\r\nContent-Type: application/x-java-archive\r\n\r\n`)
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
    const r = (await this.call('POST', '/jars/upload', undefined, { data: Buffer.concat([head, data, tail]), contentType: `multipart/form-data; boundary=${boundary}` })) as { filename?: unknown; status?: unknown }
    if (typeof r.filename !== 'string' || r.status !== 'success') throw new RestError(`The job manager at ${this.base} did not accept the jar (status ${String(r.status)})`)
    return r.filename.slice(r.filename.lastIndexOf('/') + 1)
  }

  /** Runs an uploaded jar (`POST /jars/:jarid/run`): the JobID. */
  async runJar(jarId: string, body: Record<string, unknown>): Promise<string> {
    const r = (await this.call('POST', `/jars/${encodeURIComponent(jarId)}/run`, body)) as { jobid?: unknown }
    if (typeof r.jobid !== 'string') throw new RestError(`The job manager at ${this.base} answered the run of ${jarId} without a JobID`)
    return r.jobid
  }

  /** Deletes an uploaded jar (`DELETE /jars/:jarid`). */
  async deleteJar(jarId: string): Promise<void> {
    await this.call('DELETE', `/jars/${encodeURIComponent(jarId)}`)
  }

  /** Any GET, for tools and tests (e.g. /jobs/:id/exceptions). */
  async get(path: string): Promise<unknown> {
    return this.call('GET', path)
  }

  private async poll(path: string): Promise<Record<string, unknown>> {
    for (;;) {
      const r = (await this.call('GET', path)) as { status?: { id?: string }; operation?: Record<string, unknown> }
      if (r.status?.id === 'COMPLETED') {
        const op = r.operation ?? {}
        const cause = (op['failure-cause'] ?? op.failureCause) as { 'stack-trace'?: string } | undefined
        if (cause !== undefined) {
          throw new RestError(restErrorLine(cause['stack-trace'] ?? 'unknown cause') || 'unknown cause')
        }
        return op
      }
      await new Promise((r2) => setTimeout(r2, this.pollMs))
    }
  }

  /** Triggers a savepoint and waits for its location. */
  async savepoint(jobId: string, opts: { targetDirectory?: string | undefined; cancelJob?: boolean; format?: 'canonical' | 'native' }): Promise<string> {
    const body: Record<string, unknown> = { 'cancel-job': opts.cancelJob === true, formatType: (opts.format ?? 'canonical').toUpperCase() }
    if (opts.targetDirectory !== undefined) body['target-directory'] = opts.targetDirectory
    const t = (await this.call('POST', `/jobs/${jobId}/savepoints`, body)) as { 'request-id': string }
    const op = await this.poll(`/jobs/${jobId}/savepoints/${t['request-id']}`)
    return String(op.location)
  }

  async stopWithSavepoint(jobId: string, opts: { targetDirectory?: string | undefined; drain: boolean; format?: 'canonical' | 'native' }): Promise<string> {
    const body: Record<string, unknown> = { drain: opts.drain, formatType: (opts.format ?? 'canonical').toUpperCase() }
    if (opts.targetDirectory !== undefined) body.targetDirectory = opts.targetDirectory
    const t = (await this.call('POST', `/jobs/${jobId}/stop`, body)) as { 'request-id': string }
    const op = await this.poll(`/jobs/${jobId}/savepoints/${t['request-id']}`)
    return String(op.location)
  }

  async disposeSavepoint(path: string): Promise<void> {
    const t = (await this.call('POST', '/savepoint-disposal', { 'savepoint-path': path })) as { 'request-id': string }
    await this.poll(`/savepoint-disposal/${t['request-id']}`)
  }

  /** Waits until the job reached a terminal state (or its endpoint went away with it). */
  async awaitTerminal(jobId: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      let state: string
      try {
        state = await this.jobStatus(jobId)
      } catch {
        return 'GONE'
      }
      if (['CANCELED', 'FINISHED', 'FAILED', 'SUSPENDED'].includes(state)) return state
      if (Date.now() > deadline) throw new RestError(`Job ${jobId} did not end within ${timeoutMs} ms (state ${state})`)
      await new Promise((r) => setTimeout(r, this.pollMs))
    }
  }
}
