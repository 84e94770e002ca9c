/**
 * `tsflink stop [-p [dir]] [-d] <jobId>`: stop with a savepoint, with Flink's options and lines.
 * Tests: test/integration/savepoints.test.ts, test/integration/cli-conformance.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { sanitize } from '../cli/formatters.js'
import { startProgress } from '../cli/progress.js'
import { checkJobId, clientFor, savepointTarget, triggerDetachedStop } from '../cli/services/job-control.js'
import { TsflinkError } from '../runtime/errors.js'

export default class Stop extends BaseCommand<{ jobId: string; path?: string; triggerId?: string }> {
  static override summary = 'Stop a running job with a savepoint (streaming jobs only).'
  static override description = `Sources stop at the savepoint's barrier; the job finishes once the savepoint completed, committing exactly-once sinks.
With --drain a final watermark fires every event-time timer first.
${EXIT_CODES_HELP}`

  static override usage = 'stop [OPTIONS] <Job ID>'

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
  }

  static override optionalValueFlags = ['savepointPath']

  static override flags = {
    savepointPath: Flags.string({
      char: 'p',
      helpValue: '<savepointPath>',
      description: 'Path to the savepoint (for example /savepoints or s3://bucket/savepoints). If no directory is specified, the configured default will be used ("execution.checkpointing.savepoint-dir").',
    }),
    drain: Flags.boolean({ char: 'd', default: false, description: 'Send MAX_WATERMARK before taking the savepoint and stopping the pipeline.' }),
    type: Flags.string({ options: ['canonical', 'native'], description: 'The format of the savepoint: canonical (the default) or native.', helpValue: '<canonical|native>' }),
    detached: Flags.boolean({ default: false, description: 'Trigger the stop-with-savepoint and return at once, printing its trigger id.' }),
  }

  async run(): Promise<{ jobId: string; path?: string; triggerId?: string }> {
    const { args, flags } = await this.parse(Stop)
    const config = this.loadConfiguration(flags)
    // As Flink: `-p` takes the next word unless it is an option, so `stop -p <jobId>` gave it the JobID.
    const given = flags.savepointPath === '' ? undefined : flags.savepointPath
    const jobArg = args.jobId ?? given
    if (jobArg === undefined) throw new TsflinkError('Missing JobID. Specify a JobID to stop a job.', { kind: 'usage' })
    const jobId = checkJobId(jobArg)
    const dir = args.jobId !== undefined ? given : undefined
    const format = flags.type === 'native' ? 'native' : 'canonical'
    this.say(`${flags.drain ? 'Draining job' : 'Suspending job'} "${jobId}" with a ${format.toUpperCase()} savepoint.`)
    const client = clientFor(jobId, flags.jobmanager, config)
    const target = savepointTarget(dir, config)
    if (flags.detached) {
      this.say(`Triggering stop-with-savepoint in detached mode for job ${jobId}.`)
      const triggerId = await triggerDetachedStop(client, jobId, { targetDirectory: target, drain: flags.drain, format })
      this.say(`Successfully trigger stop-with-savepoint in detached mode, triggerId: ${sanitize(triggerId)}`)
      return { jobId, triggerId }
    }
    this.say(`Triggering stop-with-savepoint for job ${jobId}.`)
    this.say('Waiting for response...')
    const progress = await startProgress(`Stopping job ${jobId} with a savepoint`, this.jsonEnabled())
    let path: string
    try {
      path = await client.stopWithSavepoint(jobId, { targetDirectory: target, drain: flags.drain, format })
      progress.update(`Waiting for job ${jobId} to finish`)
      await client.awaitTerminal(jobId)
    } finally {
      progress.stop()
    }
    this.say(`Savepoint completed. Path: ${sanitize(path)}`)
    return { jobId, path }
  }
}
