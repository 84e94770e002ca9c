import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { checkJobId, clientFor, disposeSavepoint, savepointTarget } from '../cli/services/job-control.js'
import { withSpinner } from '../cli/spinner.js'
import { TsflinkError } from '../runtime/errors.js'

export default class Savepoint extends BaseCommand<{ jobId?: string; path: string; disposed?: boolean }> {
  static override summary = 'Trigger a savepoint of a running job, or dispose of one (-d).'
  static override description = `Without a target directory, execution.checkpointing.savepoint-dir (state.savepoints.dir) from the configuration is used, else the job's own.
${EXIT_CODES_HELP}`

  static override examples = [
    '<%= config.bin %> savepoint 0123456789abcdef0123456789abcdef /savepoints',
    'p=$(<%= config.bin %> savepoint $JOB_ID --json | jq -r .path)',
    '<%= config.bin %> savepoint -d /savepoints/savepoint-012345-6789abcdef01',
  ]

  static override args = {
    jobId: Args.string({ description: 'JobID of the running job (32 hex)' }),
    targetDirectory: Args.string({ description: 'Directory the savepoint is created in' }),
  }

  static override flags = {
    dispose: Flags.string({ char: 'd', description: 'Dispose of the savepoint at this path' }),
    type: Flags.string({ options: ['canonical', 'native'], default: 'canonical', description: 'Savepoint format' }),
  }

  async run(): Promise<{ jobId?: string; path: string; disposed?: boolean }> {
    const { args, flags } = await this.parse(Savepoint)
    const config = this.loadConfiguration(flags)
    if (flags.dispose !== undefined) {
      this.say(`Disposing savepoint '${flags.dispose}'.`)
      const path = await disposeSavepoint(flags.dispose, flags.jobmanager, config)
      this.say(`Savepoint '${flags.dispose}' disposed.`)
      return { path, disposed: true }
    }
    if (args.jobId === undefined) throw new TsflinkError('Missing JobID: tsflink savepoint <jobId> [targetDirectory]', { kind: 'usage' })
    const jobId = checkJobId(args.jobId)
    const client = clientFor(jobId, flags.jobmanager, config)
    const target = savepointTarget(args.targetDirectory, config)
    this.say(`Triggering savepoint for job ${jobId}.`)
    this.say('Waiting for response...')
    const path = await withSpinner('Taking savepoint', !this.jsonEnabled(), () =>
      client.savepoint(jobId, { targetDirectory: target, format: flags.type as 'canonical' | 'native' }))
    this.say(`Savepoint completed. Path: ${path}`)
    this.say('You can resume your program from this savepoint with the run command.')
    return { jobId, path }
  }
}
