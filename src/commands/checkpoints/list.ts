import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { checkpointTable } from '../../cli/formatters.js'
import { listCheckpoints, oneLineParseError, resolveTarget, type ListedCheckpoint } from '../../cli/services/checkpoints.js'

export default class CheckpointsList extends BaseCommand<ListedCheckpoint[]> {
  static override summary = 'List retained checkpoints and savepoints, with their status.'
  static override description = `Status: valid (its _metadata and every file it references check out), incomplete (no readable _metadata, or a referenced file is missing or damaged), orphan (valid, but its job is gone and it is not the job's latest).
Files are checked by size; --deep also reads them and compares the checksums _metadata records.
Without a JobID or --dir, the configured checkpoints directory is listed.
${EXIT_CODES_HELP}`

  static override args = {
    jobId: Args.string({ description: 'List this job\'s checkpoints' }),
  }

  static override flags = {
    dir: Flags.string({ description: 'A checkpoints root, a job\'s checkpoint folder, or a savepoints folder (a path, file: URI or s3://)' }),
    deep: Flags.boolean({ default: false, description: 'Read every referenced file and check its checksum' }),
  }

  async run(): Promise<ListedCheckpoint[]> {
    const { args, flags } = await this.parse(CheckpointsList)
    const config = this.loadConfiguration(flags)
    const root = resolveTarget({ jobId: args.jobId, dir: flags.dir }, config)
    const rows = await listCheckpoints(root, config, { deep: flags.deep })
    this.say(checkpointTable(rows))
    return rows
  }

  protected override catch(err: Error & { exitCode?: number }): Promise<unknown> {
    return super.catch(oneLineParseError(err))
  }
}
