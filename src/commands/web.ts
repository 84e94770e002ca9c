/**
 * `tsflink web <jobId>`: prints the address of the job's checkpoint history page (served by its
 * REST server, runtime/control/history-page.ts), with the job's secret in the URL fragment so a
 * browser can open it; `-m host:port` for a job found by its endpoint. Prints; starts nothing.
 * Tests: test/history-page.test.ts.
 */
import * as Args from '@oclif/core/args'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { checkJobId } from '../cli/services/job-control.js'
import { historyPageUrl } from '../runtime/control/history-page.js'
import { JobRegistry } from '../runtime/control/registry.js'
import { TsflinkError } from '../runtime/errors.js'

interface WebResult {
  jobId: string
  url: string
}

export default class Web extends BaseCommand<WebResult> {
  static override summary = 'Print the address of a running job\'s checkpoint history page.'
  static override description = `The page (served by the job's REST server on rest.address) shows every checkpoint's status, trigger time, duration, state size and processed/persisted bytes, with charts, and refreshes itself. The address carries the job's secret in its fragment (#…?token=), which the browser never sends to a server: share it only with whoever may control the job.
${EXIT_CODES_HELP}`

  static override usage = 'web [OPTIONS] <Job ID>'

  static override examples = ['<%= config.bin %> web 0123456789abcdef0123456789abcdef']

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
  }

  async run(): Promise<WebResult> {
    const { args, flags } = await this.parse(Web)
    if (args.jobId === undefined) throw new TsflinkError('Missing JobID. Specify the Job ID of a running job.', { kind: 'usage' })
    const jobId = checkJobId(args.jobId)
    const registry = new JobRegistry()
    const entry = flags.jobmanager === undefined ? registry.find(jobId) : registry.findByEndpoint(flags.jobmanager)
    if (entry === undefined && flags.jobmanager === undefined) {
      throw new TsflinkError(`No running job with JobID ${jobId} was found`, { hint: "'tsflink list' shows running jobs; -m host:port reaches a job manager directly." })
    }
    const endpoint = entry?.rest ?? flags.jobmanager!
    const url = historyPageUrl(endpoint, jobId, { secret: entry?.secret, tls: entry?.tls !== undefined })
    this.say(`Checkpoint history: ${url}`)
    if (entry?.secret !== undefined && !this.jsonEnabled()) process.stderr.write('Note: the address carries the job\'s secret; share it only with whoever may control the job.\n')
    return { jobId, url }
  }
}
