/**
 * `tsflink run -m host:port job.jar …`: submits a Java job jar to a Flink cluster over its REST API,
 * as `flink run` does with a remote target: the jar is uploaded (`POST /jars/upload`), run
 * (`POST /jars/:jarid/run` with the entry class, parallelism, program arguments, savepoint,
 * claim mode and the -D settings), then deleted from the job manager. Attached, it waits for the
 * job to end. Knows nothing of flags or output formats.
 * Tests: test/integration/flink-cli.test.ts.
 */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { RestClient } from '../../runtime/control/rest-client.js'
import { TsflinkError } from '../../runtime/errors.js'

export interface JarSubmission {
  jar: string
  entryClass: string | undefined
  parallelism: number | undefined
  args: string[]
  restore: { path: string; allowNonRestoredState: boolean; claimMode: 'claim' | 'no_claim' } | undefined
  /** Configuration for the job (the command line's -D settings), as Flink's `flinkConfiguration`. */
  config: Record<string, string>
}

/** Uploads, runs and deletes the jar: the JobID of the submitted job. */
export async function submitJar(client: RestClient, s: JarSubmission): Promise<string> {
  let data: Buffer
  try {
    data = await readFile(s.jar)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new TsflinkError(code === 'ENOENT' ? `JAR file does not exist: ${s.jar}` : `Cannot read the JAR file ${s.jar}: ${code ?? String(err)}`)
  }
  const jarId = await client.uploadJar(basename(s.jar), data)
  try {
    const body: Record<string, unknown> = { programArgsList: s.args }
    if (s.entryClass !== undefined) body.entryClass = s.entryClass
    if (s.parallelism !== undefined) body.parallelism = s.parallelism
    if (s.restore !== undefined) {
      body.savepointPath = s.restore.path
      body.allowNonRestoredState = s.restore.allowNonRestoredState
      body.claimMode = s.restore.claimMode.toUpperCase()
    }
    if (Object.keys(s.config).length > 0) body.flinkConfiguration = s.config
    return await client.runJar(jarId, body)
  } finally {
    // The job graph is built by now (or the run failed): the upload is not needed any more.
    await client.deleteJar(jarId).catch(() => undefined)
  }
}

export interface JarJobResult {
  jobId: string
  status: string
  durationMs: number
}

/** Waits until the job reached a terminal state; its status and runtime as the job manager reports them. */
export async function awaitJarJob(client: RestClient, jobId: string, pollMs = 500): Promise<JarJobResult> {
  for (;;) {
    const job = (await client.get(`/jobs/${jobId}`)) as { state?: string; duration?: number }
    const state = job.state ?? 'UNKNOWN'
    if (['FINISHED', 'CANCELED', 'FAILED', 'SUSPENDED'].includes(state)) return { jobId, status: state, durationMs: job.duration ?? 0 }
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** The -D settings of the command line as key → value (the last one wins). */
export function dynamicProperties(defs: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const d of defs ?? []) {
    const i = d.indexOf('=')
    if (i <= 0) throw new TsflinkError(`Invalid -D '${d}': expected key=value`, { kind: 'usage' })
    out[d.slice(0, i).trim()] = d.slice(i + 1).trim()
  }
  return out
}
