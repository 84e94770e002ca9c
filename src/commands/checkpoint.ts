/**
 * `tsflink checkpoint <jobId> [-full]`: triggers a checkpoint and waits for it (Flink 1.19+'s
 * `flink checkpoint`), with Flink's lines.
 * Tests: test/integration/cli-conformance.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { startProgress } from '../cli/progress.js'
import { checkJobId, clientFor, triggerCheckpoint } from '../cli/services/job-control.js'
import { TsflinkError } from '../runtime/errors.js'

export default class Checkpoint extends BaseCommand<{ jobId: string; checkpointId: number; checkpointType: 'FULL' | 'CONFIGURED' }> {
  static override summary = 'Trigger a checkpoint of a running job and wait for it.'
  static override description = `The checkpoint is of the kind the job is configured for (full or incremental); -full asks for a full one.
${EXIT_CODES_HELP}`

  static override usage = 'checkpoint [OPTIONS] <Job ID>'

  static override examples = ['<%= config.bin %> checkpoint 0123456789abcdef0123456789abcdef -full']

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
  }

  static override flags = {
    full: Flags.boolean({ default: false, description: 'Defines whether to trigger this checkpoint as a full one.' }),
  }

  async run(): Promise<{ jobId: string; checkpointId: number; checkpointType: 'FULL' | 'CONFIGURED' }> {
    const { args, flags } = await this.parse(Checkpoint)
    if (args.jobId === undefined) throw new TsflinkError('Missing JobID. Specify a Job ID to manipulate a checkpoint.', { kind: 'usage' })
    const jobId = checkJobId(args.jobId)
    const config = this.loadConfiguration(flags)
    const client = clientFor(jobId, flags.jobmanager, config)
    this.say(`Triggering checkpoint for job ${jobId}.`)
    this.say('Waiting for response...')
    const progress = await startProgress(`Waiting for the checkpoint of job ${jobId}`, this.jsonEnabled())
    let checkpointId: number
    try {
      checkpointId = await triggerCheckpoint(client, jobId, flags.full)
    } finally {
      progress.stop()
    }
    this.say(`Checkpoint${flags.full ? '(FULL)' : ''} ${checkpointId} for job ${jobId} completed.`)
    this.say('You can resume your program from this checkpoint with the run command.')
    return { jobId, checkpointId, checkpointType: flags.full ? 'FULL' : 'CONFIGURED' }
  }
}
