/**
 * Job control over Flink's REST API: find a job's endpoint (the registry, or -m), then list,
 * savepoint, cancel, stop, dispose. Knows nothing of flags or output formats.
 */
import { storageFor } from '../../runtime/storage/resolve.js'
import { disposeSavepoint as disposeLocally } from '../../runtime/checkpoint/dispose.js'
import { JobRegistry } from '../../runtime/control/registry.js'
import { RestClient, type JobOverview } from '../../runtime/control/rest-client.js'
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

/** The REST client of the process running `jobId`, or of the given job manager. */
export function clientFor(jobId: string, jobmanager: string | undefined): RestClient {
  if (jobmanager !== undefined) return new RestClient(jobmanager)
  const entry = new JobRegistry().find(jobId)
  if (entry === undefined) {
    throw new TsflinkError(`No running job with JobID ${jobId} was found`, { hint: "'tsflink list' shows running jobs; -m host:port reaches a job manager directly." })
  }
  return new RestClient(entry.rest)
}

export interface ListedJob {
  jobId: string
  name: string
  state: string
  startTime: number
}

export async function listJobs(jobmanager: string | undefined): Promise<ListedJob[]> {
  const endpoints = jobmanager !== undefined ? [jobmanager] : new JobRegistry().list().map((e) => e.rest)
  const jobs: ListedJob[] = []
  for (const endpoint of endpoints) {
    let overview: JobOverview[]
    try {
      overview = await new RestClient(endpoint).jobsOverview()
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
    await new RestClient(jobmanager).disposeSavepoint(path)
    return path
  }
  const location = normalizeLocation(path)
  return disposeLocally(location, storageFor(location, config))
}
