/**
 * `tsflink savepoint inspect <path>`: what a savepoint or retained checkpoint holds (tsflink's, or
 * Apache Flink's `_metadata` as far as it tells). A table by default, `--json` the report.
 * Tests: test/inspect.test.ts.
 */
import * as Args from '@oclif/core/args'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { TsflinkError } from '../../runtime/errors.js'
import type { InspectReport } from '../../runtime/checkpoint/inspect.js'

export default class SavepointInspect extends BaseCommand<InspectReport> {
  static override summary = 'Show what a savepoint or retained checkpoint holds: operators, states, key counts, files.'
  static override description = `Reads the _metadata (tsflink's, or Apache Flink's binary one) and tsflink's state files: job, checkpoint id, time, kind, format version; per operator its uid, hashed id, name, parallelism, max parallelism, states (kind, number of keys or list elements, bytes) and files with sizes.
Keyed state kinds are told from the stored values (value and reducing state look alike). For Flink's _metadata, keyed state is shown as one entry (its names live in Flink's files).
${EXIT_CODES_HELP}`

  static override usage = 'savepoint inspect [OPTIONS] <path>'

  static override examples = [
    '<%= config.bin %> savepoint inspect /savepoints/savepoint-012345-6789abcdef01',
    '<%= config.bin %> savepoint inspect /checkpoints/0123456789abcdef0123456789abcdef/chk-42 --json',
  ]

  static override args = {
    path: Args.string({ description: 'A savepoint or checkpoint directory, or its _metadata (path, file: URI or s3://)' }),
  }

  async run(): Promise<InspectReport> {
    const { args, flags } = await this.parse(SavepointInspect)
    if (args.path === undefined) throw new TsflinkError('Missing the path of a savepoint or checkpoint. Usage: tsflink savepoint inspect <path>', { kind: 'usage' })
    const config = this.loadConfiguration(flags)
    const { inspect } = await import('../../cli/services/inspect.js')
    const report = await inspect(args.path, config)
    if (!this.jsonEnabled()) {
      const { inspectText } = await import('../../cli/inspect-formatters.js')
      this.say(inspectText(report))
    }
    return report
  }
}
