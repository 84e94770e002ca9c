/**
 * Job control over Flink's REST API: find a job's endpoint (the registry, or -m), then list,
 * savepoint, cancel, stop, dispose. Knows nothing of flags or output formats.
 */
import { storageFor } from '../../runtime/storage/resolve.js'
import { disposeSavepoint as disposeLocally } from '../../runtime/checkpoint/dispose.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { restClientFor } from '../../runtime/control/connect.js'
import { type JobOverview, type RestClient } from '../../runtime/control/rest-client.js'
import { loadConfig } from '../../runtime/config/loader.js'
import { TsflinkError } from '../../runtime/errors.js'
import { isJobId } from '../../runtime/ids.js'
import type { Configuration } from '../../runtime/config/configuration.js'
import { normalizeLocation } from '../../runtime/storage/paths.js'

export function checkJobId(id: string | undefined): string {
  if (id === undefined || !isJobId(id)) {
    throw new TsflinkError(`Invalid JobID '${id ?? ''}': a JobID is 32 hexadecimal characters (0-9, a-f)`, { kind: 'usage' })
  }
  return id
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
  const dir = given ?? config.getString('execution.checkpointing.savepoint-dir')
  return dir === undefined ? undefined : normalizeLocation(dir)
}

export async function disposeSavepoint(path: string, jobmanager: string | undefined, config: Configuration): Promise<string> {
  if (jobmanager !== undefined) {
    await restClientFor(jobmanager, new JobRegistry().findByEndpoint(jobmanager), config).disposeSavepoint(path)
    return path
  }
  const location = normalizeLocation(path)
  return disposeLocally(location, storageFor(location, config))
}
