/**
 * `tsflink savepoint diff <a> <b>`: what changed from one savepoint or checkpoint to another:
 * operators added, removed or renamed (matched by uid), states added or removed, parallelism and
 * max parallelism, key counts and sizes. Exit 0 whether or not they differ (1 only when one cannot
 * be read): scripts read `changed` from `--json`. Tests: test/inspect.test.ts.
 */
import * as Args from '@oclif/core/args'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { TsflinkError } from '../../runtime/errors.js'
import type { SnapshotDiff } from '../../runtime/checkpoint/inspect.js'

export default class SavepointDiff extends BaseCommand<SnapshotDiff> {
  static override summary = 'Compare two savepoints or checkpoints: operators, states, parallelism, key counts, sizes.'
  static override description = `Operators are matched by uid (by hashed id when they have none): added, removed, renamed; their parallelism and max parallelism; their states added or removed, key or element counts and bytes.
Exit 0 when both were read, whether or not they differ (--json: "changed" says whether they do); 1 when one cannot be read.
${EXIT_CODES_HELP}`

  static override usage = 'savepoint diff [OPTIONS] <a> <b>'

  static override examples = [
    '<%= config.bin %> savepoint diff /savepoints/savepoint-012345-6789abcdef01 /savepoints/savepoint-012345-abcdef012345',
    '<%= config.bin %> savepoint diff old/ new/ --json | jq .changed',
  ]

  static override args = {
    a: Args.string({ description: 'The first (older) savepoint or checkpoint' }),
    b: Args.string({ description: 'The second (newer) savepoint or checkpoint' }),
  }

  async run(): Promise<SnapshotDiff> {
    const { args, flags } = await this.parse(SavepointDiff)
    if (args.a === undefined || args.b === undefined) throw new TsflinkError('Give two savepoints or checkpoints to compare. Usage: tsflink savepoint diff <a> <b>', { kind: 'usage' })
    const config = this.loadConfiguration(flags)
    const { diff } = await import('../../cli/services/inspect.js')
    const d = await diff(args.a, args.b, config)
    if (!this.jsonEnabled()) {
      const { diffText } = await import('../../cli/inspect-formatters.js')
      this.say(diffText(d))
    }
    return d
  }
}
