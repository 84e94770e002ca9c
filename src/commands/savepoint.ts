/**
 * `tsflink savepoint <jobId> [targetDirectory]` and `savepoint -d <path>`, with Flink's options
 * (`-type`, `-detached`) and lines. A dispose first checks that its path is a savepoint.
 * Tests: test/integration/savepoints.test.ts, test/integration/cli-conformance.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { sanitize } from '../cli/formatters.js'
import { startProgress } from '../cli/progress.js'
import { checkDisposable, checkJobId, clientFor, disposeSavepoint, savepointTarget, triggerDetachedSavepoint } from '../cli/services/job-control.js'
import { TsflinkError } from '../runtime/errors.js'

interface SavepointResult {
  jobId?: string
  path?: string
  triggerId?: string
  disposed?: boolean
}

export default class Savepoint extends BaseCommand<SavepointResult> {
  static override summary = 'Trigger a savepoint of a running job, or dispose of one (-d).'
  static override description = `Without a target directory, execution.checkpointing.savepoint-dir (state.savepoints.dir) from the configuration is used, else the job's own.
A dispose (-d) deletes only a directory holding a savepoint's _metadata, given explicitly.
${EXIT_CODES_HELP}`

  static override usage = 'savepoint [OPTIONS] <Job ID> [<target directory>]'

  static override examples = [
    '<%= config.bin %> savepoint 0123456789abcdef0123456789abcdef /savepoints',
    'p=$(<%= config.bin %> savepoint $JOB_ID --json | jq -r .path)',
    '<%= config.bin %> savepoint -d /savepoints/savepoint-012345-6789abcdef01',
  ]

  // Flink ignores arguments beyond the target directory, with a note.
  static override strict = false
  static override programArgs = false

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
    targetDirectory: Args.string({ description: 'Directory the savepoint is created in' }),
  }

  static override flags = {
    dispose: Flags.string({ char: 'd', description: 'Path of savepoint to dispose.', helpValue: '<savepoint path>' }),
    type: Flags.string({ options: ['canonical', 'native'], description: 'The format of the savepoint: canonical (any state backend, the default) or native (this backend\'s own format).', helpValue: '<canonical|native>' }),
    detached: Flags.boolean({ default: false, description: 'Trigger the savepoint and return at once, printing its trigger id.' }),
    jarfile: Flags.string({ char: 'j', hidden: true, description: 'Flink program JAR file (accepted for compatibility; not needed)' }),
  }

  async run(): Promise<SavepointResult> {
    const { args, flags } = await this.parse(Savepoint)
    const config = this.loadConfiguration(flags)
    if (flags.dispose !== undefined) {
      await checkDisposable(flags.dispose, flags.jobmanager, config)
      this.say(`Disposing savepoint '${sanitize(flags.dispose)}'.`)
      this.say('Waiting for response...')
      const path = await disposeSavepoint(flags.dispose, flags.jobmanager, config)
      this.say(`Savepoint '${sanitize(flags.dispose)}' disposed.`)
      return { path, disposed: true }
    }
    if (args.jobId === undefined) throw new TsflinkError('Missing JobID. Specify a Job ID to trigger a savepoint.', { kind: 'usage' })
    const jobId = checkJobId(args.jobId)
    if ((this.commandLine?.positionals.length ?? 0) > 2) this.say('Provided more arguments than required. Ignoring not needed arguments.')
    const format = flags.type === 'native' ? 'native' : 'canonical'
    const client = clientFor(jobId, flags.jobmanager, config)
    const target = savepointTarget(args.targetDirectory, config)
    if (flags.detached) {
      this.say(`Triggering savepoint in detached mode for job ${jobId}.`)
      const triggerId = await triggerDetachedSavepoint(client, jobId, { targetDirectory: target, format })
      this.say(`Successfully trigger manual savepoint, triggerId: ${sanitize(triggerId)}`)
      return { jobId, triggerId }
    }
    this.say(`Triggering savepoint for job ${jobId}.`)
    this.say('Waiting for response...')
    const progress = await startProgress(`Waiting for the savepoint of job ${jobId}`, this.jsonEnabled())
    let path: string
    try {
      path = await client.savepoint(jobId, { targetDirectory: target, format })
    } finally {
      progress.stop()
    }
    this.say(`Savepoint completed. Path: ${sanitize(path)}`)
    this.say('You can resume your program from this savepoint with the run command.')
    return { jobId, path }
  }
}
