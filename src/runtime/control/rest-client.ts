/**
 * A client of Flink's REST API (tsflink's job endpoint, or a Flink job manager): what the CLI's
 * job-control commands use. Asynchronous operations are triggered, then polled until COMPLETED.
 */
import { TsflinkError } from '../errors.js'

export interface JobOverview {
  jid: string
  name: string
  state: string
  'start-time': number
}

export class RestError extends TsflinkError {}

export class RestClient {
  readonly base: string

  constructor(endpoint: string, private readonly pollMs = 50) {
    this.base = /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, '') : `http://${endpoint}`
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (err) {
      throw new RestError(`Cannot reach the job manager at ${this.base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`)
    }
    const text = await res.text()
    let json: unknown = {}
    if (text !== '') {
      try {
        json = JSON.parse(text)
      } catch {
        throw new RestError(`The job manager at ${this.base} answered ${method} ${path} with something that is not JSON`)
      }
    }
    if (!res.ok) {
      const errors = (json as { errors?: unknown[] }).errors
      const msg = Array.isArray(errors) && errors.length > 0 ? String(errors[0]).split('\n')[0] : `HTTP ${res.status}`
      throw new RestError(msg ?? `HTTP ${res.status}`)
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

  private async poll(path: string): Promise<Record<string, unknown>> {
    for (;;) {
      const r = (await this.call('GET', path)) as { status?: { id?: string }; operation?: Record<string, unknown> }
      if (r.status?.id === 'COMPLETED') {
        const op = r.operation ?? {}
        const cause = (op['failure-cause'] ?? op.failureCause) as { 'stack-trace'?: string } | undefined
        if (cause !== undefined) {
          const first = (cause['stack-trace'] ?? 'unknown cause').split('\n')[0]!.replace(/^[\w.$]+: /, '')
          throw new RestError(first)
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
