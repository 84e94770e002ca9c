import { Args, Flags } from '@oclif/core'
import { BaseCommand, EXIT_CODES_HELP } from '../../cli/base-command.js'
import { formatBytes } from '../../cli/formatters.js'
import { startProgress } from '../../cli/progress.js'
import { oneLineParseError, pruneCheckpoints, resolveTarget } from '../../cli/services/checkpoints.js'
import { parseDuration } from '../../runtime/config/duration.js'
import { TsflinkError } from '../../runtime/errors.js'

interface PruneOutput {
  deleted: string[]
  kept: string[]
  bytesFreed: number
  failed?: { path: string; reason: string }[]
}

export default class CheckpointsPrune extends BaseCommand<PruneOutput> {
  static override summary = 'Delete old checkpoints safely, and shared files no kept checkpoint references.'
  static override description = `Never deletes: the latest valid checkpoint of a job; what a running job's lease names (its latest checkpoint, its checkpoints and savepoints in progress), a running job's folders without _metadata, or any file in its shared/ or taskowned/; a savepoint in progress; a savepoint unless --include-savepoints; a directory whose _metadata cannot be read (and then no shared file at all); a file a kept checkpoint references; a folder not recognised by its content as a job folder or savepoint; anything outside the given root or behind a symbolic link.
A job is running when its folder holds a live _lease (or the local registry lists it).
Each checkpoint loses its _metadata first, so an interrupted prune never leaves half a checkpoint that looks valid; a re-run finishes the work. Two prunes on one root at once: the second refuses. A deletion that fails is reported (exit 1) after the rest is done.
${EXIT_CODES_HELP}`

  static override examples = [
    '<%= config.bin %> checkpoints prune --keep 3',
    '<%= config.bin %> checkpoints prune --dir /data/checkpoints --older-than 7d --dry-run',
    '<%= config.bin %> checkpoints prune 0123456789abcdef0123456789abcdef --keep 1 --json',
    '<%= config.bin %> checkpoints prune --dir s3://bucket/old-checkpoints --also-read s3://bucket/checkpoints --keep 1',
  ]

  static override args = {
    jobId: Args.string({ description: 'Prune only this job\'s checkpoints' }),
  }

  static override flags = {
    dir: Flags.string({ description: 'The root to prune (a checkpoints root, one job\'s folder, or a savepoints folder)' }),
    keep: Flags.integer({ min: 0, default: 1, description: 'Valid checkpoints to keep per job (at least 1 always stays)' }),
    'older-than': Flags.string({ description: 'Delete only checkpoints completed longer ago than this (e.g. 7d, 12 h)' }),
    'include-savepoints': Flags.boolean({ default: false, description: 'Apply the policy to savepoints too (never to one in progress)' }),
    'dry-run': Flags.boolean({ default: false, description: 'Print what would be deleted; delete nothing' }),
    'also-read': Flags.string({ multiple: true, description: 'Another checkpoints root (or job folder) whose checkpoints may reference files in the one pruned, e.g. of a job restored in claim mode into another checkpoint directory: read, never pruned (repeatable)' }),
  }

  async run(): Promise<PruneOutput> {
    const { args, flags } = await this.parse(CheckpointsPrune)
    const config = this.loadConfiguration(flags)
    let olderThanMs: number | undefined
    if (flags['older-than'] !== undefined) {
      olderThanMs = parseDuration(flags['older-than'])
      if (olderThanMs === undefined) throw new TsflinkError(`Invalid --older-than '${flags['older-than']}': expected a duration such as 7d or 12 h`, { kind: 'usage' })
    }
    const root = resolveTarget({ jobId: args.jobId, dir: flags.dir }, config)
    const progress = await startProgress(`Scanning ${root}…`, this.jsonEnabled())
    let result
    try {
      result = await pruneCheckpoints(root, config, {
        keep: flags.keep, olderThanMs, includeSavepoints: flags['include-savepoints'], dryRun: flags['dry-run'],
        ...(flags['also-read'] === undefined ? {} : { alsoRead: flags['also-read'] }),
        onProgress: (p) => progress.update(`Deleted ${p.dirsDone}/${p.dirsTotal} directories, ${p.filesDone}/${p.filesTotal} shared files; ${formatBytes(p.bytesFreed)} freed`),
      })
    } finally {
      progress.stop()
    }
    const { plan, deleted, failed, bytesFreed } = result
    if (plan.refused !== undefined) throw new TsflinkError(`Refusing to prune ${root}: ${plan.refused}`)
    const verb = flags['dry-run'] ? 'Would delete' : 'Deleted'
    for (const p of deleted) this.say(`${verb} ${p}`)
    for (const n of plan.notes) process.stderr.write(`Note: ${n.path}: ${n.reason}\n`)
    this.say(`${flags['dry-run'] ? 'Would free' : 'Freed'} ${formatBytes(bytesFreed)}; kept ${plan.keep.length} checkpoint(s)/savepoint(s).`)
    const out: PruneOutput = { deleted, kept: plan.keep.map((e) => e.path), bytesFreed, ...(failed.length > 0 ? { failed } : {}) }
    if (failed.length === 0) return out
    for (const f of failed) process.stderr.write(`Failed: ${f.path}: ${f.reason}\n`)
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(out)}\n`)
    process.stderr.write(`Error: ${failed.length} deletion(s) failed; everything else was pruned (a re-run retries them)\n`)
    return this.exit(1)
  }

  protected override catch(err: Error & { exitCode?: number }): Promise<unknown> {
    return super.catch(oneLineParseError(err))
  }
}
