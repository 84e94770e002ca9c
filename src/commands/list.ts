import { Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { listLines } from '../cli/formatters.js'
import { listJobs, type ListedJob } from '../cli/services/job-control.js'

export default class List extends BaseCommand<{ jobs: ListedJob[] }> {
  static override summary = 'List running and scheduled jobs.'
  static override description = `Jobs are found through the local registry of running jobs (processes that ended are ignored), or at -m host:port.
${EXIT_CODES_HELP}`

  static override flags = {
    running: Flags.boolean({ char: 'r', default: false, description: 'Show only running jobs' }),
    scheduled: Flags.boolean({ char: 's', default: false, description: 'Show only scheduled jobs' }),
    all: Flags.boolean({ char: 'a', default: false, description: 'Show all jobs, terminated ones too' }),
  }

  async run(): Promise<{ jobs: ListedJob[] }> {
    const { flags } = await this.parse(List)
    const jobs = await listJobs(flags.jobmanager, this.loadConfiguration(flags))
    const only = flags.running || flags.scheduled
    const show = {
      running: flags.all || !only || flags.running,
      scheduled: flags.all || !only || flags.scheduled,
      terminated: flags.all,
    }
    for (const line of listLines(jobs, show)) this.say(line)
    return { jobs }
  }
}
