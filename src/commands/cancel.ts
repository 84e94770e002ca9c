/**
 * `tsflink cancel <jobId>` and Flink's deprecated `cancel -s [targetDirectory] <jobId>`
 * (savepoint first; the job is cancelled only once it completed), with Flink's lines.
 * Tests: test/integration/savepoints.test.ts, test/integration/cli-conformance.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { sanitize } from '../cli/formatters.js'
import { startProgress } from '../cli/progress.js'
import { checkJobId, clientFor, savepointTarget } from '../cli/services/job-control.js'
import { TsflinkError } from '../runtime/errors.js'

export default class Cancel extends BaseCommand<{ jobId: string; savepointPath?: string }> {
  static override summary = 'Cancel a running job, optionally after a savepoint (-s, deprecated as in Flink: use stop).'
  static override description = `With -s the job is cancelled only once the savepoint completed; if the savepoint fails, the job keeps running.
${EXIT_CODES_HELP}`

  static override usage = 'cancel [OPTIONS] <Job ID>'

  static override examples = [
    '<%= config.bin %> cancel 0123456789abcdef0123456789abcdef',
    '<%= config.bin %> cancel -s /savepoints 0123456789abcdef0123456789abcdef',
  ]

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
  }

  static override optionalValueFlags = ['withSavepoint']

  static override flags = {
    withSavepoint: Flags.string({
      char: 's',
      helpValue: '<targetDirectory>',
      description: '**DEPRECATION WARNING**: Cancelling a job with savepoint is deprecated. Use "stop" instead. Trigger savepoint and cancel job. The target directory is optional. If no directory is specified, the configured default directory (execution.checkpointing.savepoint-dir) is used.',
    }),
    type: Flags.string({ options: ['canonical', 'native'], description: 'The format of the savepoint taken with -s: canonical (the default) or native.', helpValue: '<canonical|native>' }),
  }

  async run(): Promise<{ jobId: string; savepointPath?: string }> {
    const { args, flags } = await this.parse(Cancel)
    const config = this.loadConfiguration(flags)
    if (flags.withSavepoint === undefined) {
      if (args.jobId === undefined) throw new TsflinkError('Missing JobID. Specify a JobID to cancel a job.', { kind: 'usage' })
      const jobId = checkJobId(args.jobId)
      this.say(`Cancelling job ${jobId}.`)
      const client = clientFor(jobId, flags.jobmanager, config)
      await client.cancel(jobId)
      await client.awaitTerminal(jobId)
      this.say(`Cancelled job ${jobId}.`)
      return { jobId }
    }
    this.say('DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use "stop" instead.')
    // As Flink: `-s` takes the next word unless it is an option, so `cancel -s <jobId>` gave it the JobID.
    const jobArg = args.jobId ?? (flags.withSavepoint === '' ? undefined : flags.withSavepoint)
    if (jobArg === undefined) throw new TsflinkError('Missing JobID. Specify a JobID to cancel a job.', { kind: 'usage' })
    const jobId = checkJobId(jobArg)
    const dir = args.jobId !== undefined && flags.withSavepoint !== '' ? flags.withSavepoint : undefined
    const format = flags.type === 'native' ? 'native' : 'canonical'
    this.say(dir === undefined
      ? `Cancelling job ${jobId} with ${format.toUpperCase()} savepoint to default savepoint directory.`
      : `Cancelling job ${jobId} with ${format.toUpperCase()} savepoint to ${sanitize(dir)}.`)
    const client = clientFor(jobId, flags.jobmanager, config)
    const progress = await startProgress(`Waiting for the savepoint of job ${jobId}, then cancelling it`, this.jsonEnabled())
    let path: string
    try {
      path = await client.savepoint(jobId, { targetDirectory: savepointTarget(dir, config), cancelJob: true, format })
      progress.update(`Waiting for job ${jobId} to end`)
      await client.awaitTerminal(jobId)
    } finally {
      progress.stop()
    }
    this.say(`Cancelled job ${jobId}. Savepoint stored in ${sanitize(path)}.`)
    return { jobId, savepointPath: path }
  }
}
