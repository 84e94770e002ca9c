import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { formatBytes } from '../../cli/formatters.js'
import { oneLineParseError, resolvePathOrJob, resolveTarget, verifyCheckpoints, type VerifyResult } from '../../cli/services/checkpoints.js'
import { TsflinkError } from '../../runtime/errors.js'

export default class CheckpointsVerify extends BaseCommand<VerifyResult> {
  static override summary = 'Check that checkpoints and savepoints are whole: every referenced file there, with its size and checksum.'
  static override description = `Reads every _metadata below the target and every file it references: the file must exist with the size _metadata records and, where _metadata records a checksum (format v2), the same checksum. Prints one line per checkpoint; exit 1 if any is missing a file or damaged, naming each file.
Without a target, the configured checkpoints directory is verified. Directories without _metadata are not completed checkpoints and are skipped (a single directory without _metadata fails).
${EXIT_CODES_HELP}`

  static override examples = [
    '<%= config.bin %> checkpoints verify /data/checkpoints/0123456789abcdef0123456789abcdef/chk-42',
    '<%= config.bin %> checkpoints verify 0123456789abcdef0123456789abcdef',
    '<%= config.bin %> checkpoints verify --dir s3://bucket/checkpoints --json',
  ]

  static override args = {
    target: Args.string({ description: 'A checkpoint or savepoint directory (or its _metadata), a job folder, or a JobID' }),
  }

  static override flags = {
    dir: Flags.string({ description: 'A checkpoints root, job folder or savepoints folder to verify' }),
  }

  async run(): Promise<VerifyResult> {
    const { args, flags } = await this.parse(CheckpointsVerify)
    const config = this.loadConfiguration(flags)
    if (args.target !== undefined && flags.dir !== undefined) throw new TsflinkError('Give either a path or JobID, or --dir, not both', { kind: 'usage' })
    const dir = args.target === undefined ? resolveTarget({ dir: flags.dir }, config) : resolvePathOrJob(args.target, config)
    const result = await verifyCheckpoints(dir, config)
    for (const c of result.checked) {
      if (c.ok) {
        this.say(`OK      ${c.path} (${c.files} files, ${formatBytes(c.sizeBytes)})`)
        continue
      }
      this.say(`FAILED  ${c.path}${c.problem === undefined ? '' : `: ${c.problem}`}`)
      for (const p of c.problems) this.say(`        ${p.kind === 'missing' ? 'missing' : 'damaged'}: ${p.problem}`)
    }
    for (const s of result.skipped) process.stderr.write(`Note: ${s.path}: ${s.reason}\n`)
    if (result.ok) return result
    const failed = result.checked.filter((c) => !c.ok).length
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(result)}\n`)
    process.stderr.write(result.checked.length === 0
      ? `Error: no completed checkpoint or savepoint in ${dir}\n`
      : `Error: ${failed} of ${result.checked.length} checkpoint(s)/savepoint(s) failed verification\n`)
    return this.exit(1)
  }

  protected override catch(err: Error & { exitCode?: number }): Promise<unknown> {
    return super.catch(oneLineParseError(err))
  }
}
