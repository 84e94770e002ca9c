import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { jobEndLines } from '../../cli/formatters.js'
import { oneLineParseError, restoreTarget } from '../../cli/services/checkpoints.js'
import { runJob, type RunResult } from '../../cli/services/run.js'
import { readRestorePoint } from '../../runtime/checkpoint/restore-point.js'
import { TsflinkError } from '../../runtime/errors.js'
import { storageFor } from '../../runtime/storage/resolve.js'

export default class CheckpointsRestore extends BaseCommand<RunResult> {
  static override summary = 'Resume a job from a retained checkpoint.'
  static override description = `Takes a checkpoint directory (or its _metadata; a path, file: URI or s3:// location), a job's checkpoint folder or a JobID: then the newest checkpoint whose _metadata and every referenced file (size and checksum) check out; when a newer one does not, a warning on stderr names it and says which one is used. A folder holding checkpoints of several jobs is refused, listing them. The job file may be omitted: the checkpoint records the program it came from and its arguments.
${EXIT_CODES_HELP}`

  static override strict = false

  static override args = {
    checkpoint: Args.string({ description: 'Checkpoint path, job checkpoint folder, or JobID', required: true }),
    jobFile: Args.string({ description: 'The job program (default: the one the checkpoint records)' }),
  }

  static override flags = {
    parallelism: Flags.integer({ char: 'p', min: 1, description: 'Default parallelism of the job' }),
    allowNonRestoredState: Flags.boolean({ char: 'n', default: false, description: 'Skip state that cannot be mapped to the program' }),
    claimMode: Flags.string({ options: ['claim', 'no_claim'], default: 'no_claim', description: 'Who owns the files of the restored checkpoint' }),
  }

  async run(): Promise<RunResult> {
    const { args, argv, flags } = await this.parse(CheckpointsRestore)
    const config = this.loadConfiguration(flags)
    const { path, warnings } = await restoreTarget(args.checkpoint, config)
    for (const w of warnings) process.stderr.write(`${w}\n`)
    const point = await readRestorePoint(path, storageFor(path, config))
    let file = args.jobFile
    let jobArgs = (argv as string[]).slice(2)
    if (file === undefined) {
      const program = point.metadata.program
      if (program === null) throw new TsflinkError(`Checkpoint ${path} does not record its program: give the job file`, { kind: 'usage' })
      file = program.file
      jobArgs = program.args
    }
    this.say(`Restoring from ${path}`)
    return runJob(
      {
        file, args: jobArgs, config, parallelism: flags.parallelism,
        restore: { path, allowNonRestoredState: flags.allowNonRestoredState, claimMode: flags.claimMode as 'claim' | 'no_claim' },
        printStream: this.jsonEnabled() ? process.stderr : process.stdout,
      },
      {
        submitted: (jobId) => this.say(`Job has been submitted with JobID ${jobId}`),
        finished: (r) => {
          for (const line of jobEndLines(r)) this.say(line)
        },
      },
    )
  }

  protected override catch(err: Error & { exitCode?: number }): Promise<unknown> {
    return super.catch(oneLineParseError(err))
  }
}
