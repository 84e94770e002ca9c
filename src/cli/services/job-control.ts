/**
 * Job control over Flink's REST API: find a job's endpoint (the registry, or -m), then list,
 * savepoint, checkpoint, cancel, stop, dispose. Knows nothing of flags or output formats.
 * Loads only what the quick commands need; storage (and with it the AWS SDK) only for a dispose.
 * Tests: test/integration/savepoints.test.ts, test/integration/cli-conformance.test.ts.
 */
import { existsSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { loadConfig } from '../../runtime/config/loader.js'
import { restClientFor } from '../../runtime/control/connect.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { RestError, type JobOverview, type RestClient } from '../../runtime/control/rest-client.js'
import { TsflinkError } from '../../runtime/errors.js'
import { isJobId } from '../../runtime/ids.js'
import type { Configuration } from '../../runtime/config/configuration.js'
import { isRemote, normalizeLocation } from '../../runtime/storage/paths.js'

/** A JobID as Flink's JobID.fromHexString reads it: 32 hex digits, either case; printed in lower case. */
export function checkJobId(id: string | undefined): string {
  const lower = id?.toLowerCase()
  if (lower === undefined || !isJobId(lower)) {
    throw new TsflinkError(`Invalid JobID '${id ?? ''}': a JobID is 32 hexadecimal characters (0-9, a-f)`, { kind: 'usage' })
  }
  return lower
}

/**
 * The REST client of the process running `jobId`, or of the given job manager, with the job's
 * secret when this user's registry knows the endpoint. `config` brings the REST TLS keys
 * (security.ssl.rest.*); without it the configuration of the environment (TSFLINK_CONF_DIR, …) is used.
 */
export function clientFor(jobId: string, jobmanager: string | undefined, config?: Configuration): RestClient {
  const registry = new JobRegistry()
  if (jobmanager !== undefined) return restClientFor(jobmanager, registry.findByEndpoint(jobmanager), config ?? ambientConfig())
  const entry = registry.find(jobId)
  if (entry === undefined) {
    throw new TsflinkError(`No running job with JobID ${jobId} was found`, { hint: "'tsflink list' shows running jobs; -m host:port reaches a job manager directly." })
  }
  return restClientFor(entry.rest, entry, config ?? ambientConfig())
}

function ambientConfig(): Configuration | undefined {
  try {
    return loadConfig().config
  } catch {
    return undefined
  }
}

export interface ListedJob {
  jobId: string
  name: string
  state: string
  startTime: number
}

export async function listJobs(jobmanager: string | undefined, config?: Configuration): Promise<ListedJob[]> {
  const registry = new JobRegistry()
  const cfg = config ?? ambientConfig()
  const clients = jobmanager !== undefined
    ? [restClientFor(jobmanager, registry.findByEndpoint(jobmanager), cfg)]
    : registry.list().map((e) => restClientFor(e.rest, e, cfg))
  const jobs: ListedJob[] = []
  for (const client of clients) {
    let overview: JobOverview[]
    try {
      overview = await client.jobsOverview()
    } catch (err) {
      if (jobmanager !== undefined) throw err
      continue // the process ended between the registry read and the request
    }
    for (const j of overview) jobs.push({ jobId: j.jid, name: j.name, state: j.state, startTime: j['start-time'] })
  }
  return jobs.sort((a, b) => a.startTime - b.startTime)
}

/** The directory to use: given, else the configuration's; undefined lets the job use its own. */
export function savepointTarget(given: string | undefined, config: Configuration): string | undefined {
  const dir = given !== undefined && given !== '' ? given : config.getString('execution.checkpointing.savepoint-dir')
  return dir === undefined ? undefined : normalizeLocation(dir)
}

/**
 * Refuses a dispose before anything is asked of anyone unless `path` names a savepoint that is
 * there: a directory holding `_metadata`, or that `_metadata` file. A misread command line
 * (`-detached` read as `-d etached`) therefore never deletes anything. An hdfs:// path with -m is
 * left to that job manager (which reads HDFS its own way); without -m it is checked over WebHDFS.
 */
export async function checkDisposable(path: string, jobmanager: string | undefined, config: Configuration): Promise<void> {
  if (path === '') throw new TsflinkError('Missing required argument: savepoint path. Usage: tsflink savepoint -d <savepoint-path>', { kind: 'usage' })
  const location = normalizeLocation(path)
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase()
  if (scheme === 's3' || scheme === 's3a' || (scheme === 'hdfs' && jobmanager === undefined)) {
    const { storageFor } = await import('../../runtime/storage/resolve.js')
    const storage = storageFor(location, config)
    const target = basename(location) === '_metadata' ? location : `${location.replace(/\/+$/, '')}/_metadata`
    if ((await storage.stat(target)) === undefined) throw new TsflinkError(`Cannot dispose '${path}': it is not a savepoint (no _metadata there)`)
    return
  }
  if (isRemote(location)) {
    if (jobmanager === undefined) throw new TsflinkError(`Cannot dispose '${path}' locally: tsflink reads local paths, s3:// and hdfs:// only; give the job manager with -m host:port`)
    return
  }
  let stat
  try {
    stat = statSync(location)
  } catch {
    throw new TsflinkError(`Cannot dispose '${path}': no such savepoint`, { hint: 'savepoint -d takes the path of a savepoint directory (or its _metadata file).' })
  }
  const metadata = stat.isDirectory() ? join(location, '_metadata') : location
  if (basename(metadata) !== '_metadata' || !existsSync(metadata)) {
    throw new TsflinkError(`Cannot dispose '${path}': it is not a savepoint (no _metadata there)`)
  }
}

export async function disposeSavepoint(path: string, jobmanager: string | undefined, config: Configuration): Promise<string> {
  if (jobmanager !== undefined) {
    await restClientFor(jobmanager, new JobRegistry().findByEndpoint(jobmanager), config).disposeSavepoint(path)
    return path
  }
  const [{ storageFor }, { disposeSavepoint: disposeLocally }] = await Promise.all([
    import('../../runtime/storage/resolve.js'),
    import('../../runtime/checkpoint/dispose.js'),
  ])
  const location = normalizeLocation(path)
  return disposeLocally(location, storageFor(location, config))
}

/**
 * Requests RestClient has no method for yet: a checkpoint trigger, and the detached savepoint
 * and stop triggers that return at once. They go through the client's own request path, so they
 * carry whatever it sends (endpoint, credentials).
 */
interface RawRest {
  call(method: string, path: string, body?: unknown): Promise<unknown>
  poll(path: string): Promise<Record<string, unknown>>
}

function raw(client: RestClient): RawRest {
  const r = client as unknown as Partial<RawRest>
  if (typeof r.call !== 'function' || typeof r.poll !== 'function') throw new TsflinkError('This REST client cannot send raw requests')
  return { call: r.call.bind(client), poll: r.poll.bind(client) }
}

function triggerId(answer: unknown): string {
  const id = (answer as { 'request-id'?: unknown })['request-id']
  if (typeof id !== 'string') throw new RestError('The job manager answered without a request id')
  return id
}

/** POST /jobs/:id/checkpoints, then waits: the id of the completed checkpoint (Flink 1.19+). */
export async function triggerCheckpoint(client: RestClient, jobId: string, full: boolean): Promise<number> {
  const r = raw(client)
  const id = triggerId(await r.call('POST', `/jobs/${jobId}/checkpoints`, { checkpointType: full ? 'FULL' : 'CONFIGURED' }))
  const op = await r.poll(`/jobs/${jobId}/checkpoints/${id}`)
  const checkpointId = op.checkpointId
  if (typeof checkpointId !== 'number') throw new RestError('The job manager reported the checkpoint complete without its id')
  return checkpointId
}

/** A savepoint triggered without waiting for it (savepoint -detached): the trigger id. */
export async function triggerDetachedSavepoint(client: RestClient, jobId: string, opts: { targetDirectory: string | undefined; format: 'canonical' | 'native' }): Promise<string> {
  const body: Record<string, unknown> = { 'cancel-job': false, formatType: opts.format.toUpperCase() }
  if (opts.targetDirectory !== undefined) body['target-directory'] = opts.targetDirectory
  return triggerId(await raw(client).call('POST', `/jobs/${jobId}/savepoints`, body))
}

/** Stop-with-savepoint triggered without waiting for it (stop -detached): the trigger id. */
export async function triggerDetachedStop(client: RestClient, jobId: string, opts: { targetDirectory: string | undefined; drain: boolean; format: 'canonical' | 'native' }): Promise<string> {
  const body: Record<string, unknown> = { drain: opts.drain, formatType: opts.format.toUpperCase() }
  if (opts.targetDirectory !== undefined) body.targetDirectory = opts.targetDirectory
  return triggerId(await raw(client).call('POST', `/jobs/${jobId}/stop`, body))
}
