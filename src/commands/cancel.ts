import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { checkJobId, clientFor, savepointTarget } from '../cli/services/job-control.js'
import { withSpinner } from '../cli/spinner.js'
import { isJobId } from '../runtime/ids.js'
import { TsflinkError } from '../runtime/errors.js'

export default class Cancel extends BaseCommand<{ jobId: string; savepointPath?: string }> {
  static override summary = 'Cancel a running job, optionally after a savepoint (-s).'
  static override description = `With -s the job is cancelled only once the savepoint completed; if the savepoint fails, the job keeps running.
${EXIT_CODES_HELP}`

  static override examples = [
    '<%= config.bin %> cancel 0123456789abcdef0123456789abcdef',
    '<%= config.bin %> cancel -s /savepoints 0123456789abcdef0123456789abcdef',
  ]

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
  }

  static override flags = {
    withSavepoint: Flags.string({ char: 's', description: 'Take a savepoint (into this directory, or the configured one) before cancelling' }),
  }

  async run(): Promise<{ jobId: string; savepointPath?: string }> {
    const { args, flags } = await this.parse(Cancel)
    const config = this.loadConfiguration(flags)
    let jobArg = args.jobId
    let dir = flags.withSavepoint
    const withSavepoint = flags.withSavepoint !== undefined
    // `cancel -s <jobId>`: the flag took the JobID; the savepoint goes to the configured directory.
    if (jobArg === undefined && dir !== undefined && isJobId(dir)) {
      jobArg = dir
      dir = undefined
    }
    if (jobArg === undefined) throw new TsflinkError('Missing JobID: tsflink cancel [-s [targetDirectory]] <jobId>', { kind: 'usage' })
    const jobId = checkJobId(jobArg)
    const client = clientFor(jobId, flags.jobmanager, config)
    if (!withSavepoint) {
      this.say(`Cancelling job ${jobId}.`)
      await client.cancel(jobId)
      await client.awaitTerminal(jobId)
      this.say(`Cancelled job ${jobId}.`)
      return { jobId }
    }
    const target = savepointTarget(dir, config)
    this.say(`Cancelling job ${jobId} with a savepoint${target === undefined ? '' : ` to ${target}`}.`)
    const path = await withSpinner('Taking savepoint', !this.jsonEnabled(), () => client.savepoint(jobId, { targetDirectory: target, cancelJob: true }))
    await client.awaitTerminal(jobId)
    this.say(`Cancelled job ${jobId}. Savepoint stored in ${path}.`)
    return { jobId, savepointPath: path }
  }
}
