import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { jobEndLines } from '../cli/formatters.js'
import { runJob, type RunResult } from '../cli/services/run.js'
import { isDetachedChild, runDetached, tellLauncher } from '../cli/services/detach.js'
import { describeError, isTsflinkError } from '../runtime/errors.js'
import { ProgramError } from '../runtime/errors.js'

export default class Run extends BaseCommand<RunResult | { jobId: string; detached: true; log: string }> {
  static override summary = 'Compile and run a job program (job.ts) on the embedded runtime.'
  static override description = `Runs the program attached: it prints the JobID, waits for the job to end and prints its runtime.
Arguments after the job file are passed to the program (process.argv).
${EXIT_CODES_HELP}`

  static override examples = [
    '<%= config.bin %> run examples/word-count.ts',
    '<%= config.bin %> run -p 3 -D execution.checkpointing.interval=10s job.ts --input data.txt',
    '<%= config.bin %> run -s /savepoints/savepoint-1a2b3c-0123456789ab job.ts',
  ]

  static override strict = false

  static override args = {
    jobFile: Args.string({ description: 'The job program (.ts or .js)', required: true }),
  }

  static override flags = {
    detached: Flags.boolean({ char: 'd', default: false, description: 'Run the job in the background and return once it is submitted' }),
    parallelism: Flags.integer({ char: 'p', min: 1, description: 'Default parallelism of the job' }),
    fromSavepoint: Flags.string({ char: 's', description: 'Savepoint or retained checkpoint (directory or its _metadata) to restore from' }),
    allowNonRestoredState: Flags.boolean({ char: 'n', default: false, description: 'Skip state that cannot be mapped to the new program' }),
    claimMode: Flags.string({ options: ['claim', 'no_claim'], default: 'no_claim', description: 'Who owns the files of the restored checkpoint' }),
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (isDetachedChild()) {
      const oclifExit = (err as { oclif?: { exit?: number } }).oclif?.exit
      const exitCode = isTsflinkError(err) ? (err.kind === 'usage' ? 2 : 1) : oclifExit === undefined ? 1 : 2
      tellLauncher({ type: 'error', message: describeError(err).split('\n')[0] ?? 'error', ...(isTsflinkError(err) && err.hint !== undefined ? { hint: err.hint } : {}), exitCode })
    }
    return super.catch(err)
  }

  async run(): Promise<RunResult | { jobId: string; detached: true; log: string }> {
    const { args, argv, flags } = await this.parse(Run)
    if (flags.detached && !isDetachedChild()) {
      // Everything but -d before the job file goes to the background process, unchanged.
      const at = this.argv.indexOf(args.jobFile)
      const rest = this.argv.filter((a, i) => (at < 0 || i < at) ? a !== '-d' && a !== '--detached' : true).filter((a) => a !== '--json')
      const { jobId, log } = await runDetached(rest)
      this.say(`Job has been submitted with JobID ${jobId}`)
      process.stderr.write(`The job runs in the background; its output goes to ${log}\n`)
      return { jobId, detached: true, log }
    }
    if (flags.jobmanager !== undefined) {
      throw new ProgramError(`run executes jobs on the embedded runtime; it cannot submit to a job manager at ${flags.jobmanager}`, { kind: 'usage' })
    }
    const config = this.loadConfiguration(flags)
    const json = this.jsonEnabled()
    const jobArgs = (argv as string[]).slice(1)
    return runJob(
      {
        file: args.jobFile,
        args: jobArgs,
        config,
        parallelism: flags.parallelism,
        restore: flags.fromSavepoint === undefined ? undefined : {
          path: flags.fromSavepoint,
          allowNonRestoredState: flags.allowNonRestoredState,
          claimMode: flags.claimMode as 'claim' | 'no_claim',
        },
        printStream: json ? process.stderr : process.stdout,
      },
      {
        submitted: (jobId) => {
          this.say(`Job has been submitted with JobID ${jobId}`)
          tellLauncher({ type: 'submitted', jobId })
        },
        finished: (r) => {
          for (const line of jobEndLines(r)) this.say(line)
        },
      },
    )
  }
}
