/**
 * `tsflink info [OPTIONS] <job.ts> [arguments]`: the job's execution plan as JSON, as
 * `flink info` prints it, built without running anything.
 * Tests: test/integration/cli-conformance.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import type { ExecutionPlan } from '../cli/services/info.js'
import { TsflinkError } from '../runtime/errors.js'
import { checkProgramKind, NON_TS_PROGRAM_FLAGS } from './run.js'

export default class Info extends BaseCommand<ExecutionPlan> {
  static override summary = 'Show the execution plan of a job program (JSON), without running it.'
  static override description = `The program runs up to its env.execute(); the job it would submit is described, not run. Arguments after the job file go to the program.
With --json only the plan is printed.
${EXIT_CODES_HELP}`

  static override usage = 'info [OPTIONS] <job.ts> <arguments>'

  static override strict = false

  static override args = {
    jobFile: Args.string({ description: 'The job program (.ts or .js)' }),
  }

  static override flags = {
    parallelism: Flags.integer({ char: 'p', min: 1, description: 'The parallelism with which to run the program. Optional flag to override the default value specified in the configuration.', helpValue: '<parallelism>' }),
    ...NON_TS_PROGRAM_FLAGS,
  }

  async run(): Promise<ExecutionPlan> {
    const { args, flags } = await this.parse(Info)
    checkProgramKind(flags, args.jobFile)
    if (args.jobFile === undefined) throw new TsflinkError('Missing the job file. Usage: tsflink info [OPTIONS] <job.ts> [arguments]', { kind: 'usage' })
    const config = this.loadConfiguration(flags)
    const { programPlan } = await import('../cli/services/info.js')
    const plan = await programPlan({ file: args.jobFile, args: this.programArguments(), config, parallelism: flags.parallelism, printStream: process.stderr })
    this.say('----------------------- Execution Plan -----------------------')
    this.say(JSON.stringify({ nodes: plan.nodes }, null, 2))
    this.say('--------------------------------------------------------------')
    this.say('')
    this.say('No description provided.')
    return plan
  }
}
