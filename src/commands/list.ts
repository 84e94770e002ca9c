/**
 * `tsflink list [-r|-s|-a]`: jobs in Flink's format. Must stay quick: scripts call it in loops.
 * Tests: test/integration/savepoints.test.ts, test/integration/cli-conformance.test.ts.
 */
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { listLines } from '../cli/formatters.js'
import { listJobs, type ListedJob } from '../cli/services/job-control.js'

export default class List extends BaseCommand<{ jobs: ListedJob[] }> {
  static override summary = 'List running and scheduled jobs (-a: terminated ones too).'
  static override description = `Jobs are found through the local registry of running jobs (processes that ended are ignored), or at -m host:port.
${EXIT_CODES_HELP}`

  static override usage = 'list [OPTIONS]'

  static override flags = {
    running: Flags.boolean({ char: 'r', default: false, description: 'Show only running programs and their JobIDs' }),
    scheduled: Flags.boolean({ char: 's', default: false, description: 'Show only scheduled programs and their JobIDs' }),
    all: Flags.boolean({ char: 'a', default: false, description: 'Show all programs and their JobIDs' }),
  }

  async run(): Promise<{ jobs: ListedJob[] }> {
    const { flags } = await this.parse(List)
    this.say('Waiting for response...')
    const jobs = await listJobs(flags.jobmanager, this.loadConfiguration(flags))
    const only = flags.running || flags.scheduled || flags.all
    const show = {
      running: !only || flags.running || flags.all,
      scheduled: !only || flags.scheduled || flags.all,
      terminated: flags.all,
    }
    for (const line of listLines(jobs, show)) this.say(line)
    return { jobs }
  }
}
