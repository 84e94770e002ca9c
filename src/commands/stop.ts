import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { checkJobId, clientFor, savepointTarget } from '../cli/services/job-control.js'
import { withSpinner } from '../cli/spinner.js'

export default class Stop extends BaseCommand<{ jobId: string; path: string }> {
  static override summary = 'Stop a running job with a savepoint.'
  static override description = `Sources stop at the savepoint's barrier; the job finishes once the savepoint completed, committing exactly-once sinks.
With --drain a final watermark fires every event-time timer first.
${EXIT_CODES_HELP}`

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)', required: true }),
  }

  static override flags = {
    savepointPath: Flags.string({ char: 'p', description: 'Directory the savepoint is created in' }),
    drain: Flags.boolean({ char: 'd', default: false, description: 'Emit a final watermark before the savepoint' }),
    type: Flags.string({ options: ['canonical', 'native'], default: 'canonical', description: 'Savepoint format' }),
  }

  async run(): Promise<{ jobId: string; path: string }> {
    const { args, flags } = await this.parse(Stop)
    const config = this.loadConfiguration(flags)
    const jobId = checkJobId(args.jobId)
    const client = clientFor(jobId, flags.jobmanager, config)
    this.say(`Suspending job "${jobId}" with a savepoint.`)
    const path = await withSpinner('Stopping with savepoint', !this.jsonEnabled(), () =>
      client.stopWithSavepoint(jobId, { targetDirectory: savepointTarget(flags.savepointPath, config), drain: flags.drain, format: flags.type as 'canonical' | 'native' }))
    await client.awaitTerminal(jobId)
    this.say(`Savepoint completed. Path: ${path}`)
    return { jobId, path }
  }
}
