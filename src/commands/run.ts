/**
 * `tsflink run [OPTIONS] <job.ts> [arguments]`: Flink's `flink run` for TypeScript job files.
 * Everything after the job file belongs to the program. Attached, the exit code says how the job
 * ended, as in Flink: 0 finished, 1 failed or cancelled. A Java job jar with `-m host:port` is
 * submitted to that Flink cluster over REST (`-c`, `-p`, `-s`, `-n`, `-cm`, `-d`, `-D` and the
 * program's arguments go with it). Flink options that need a Python program, or YARN, are
 * accepted and refused with a clear line.
 * `--dry-run -s <path>` prints the restore plan instead of running (services/dry-run.ts).
 * Tests: test/integration/cli-run.test.ts, test/integration/cli-conformance.test.ts,
 * test/integration/flink-cli.test.ts, test/dry-run.test.ts.
 */
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand, EXIT_CODES_HELP } from '../cli/base-command.js'
import { jobEndLines, sanitize } from '../cli/formatters.js'
import { startProgress, type Progress } from '../cli/progress.js'
import { ProgramError, TsflinkError, describeError, isTsflinkError } from '../runtime/errors.js'
import type { RunResult } from '../cli/services/run.js'
import type { JarSubmission } from '../cli/services/submit-jar.js'
import type { RestorePlanReport } from '../runtime/checkpoint/restore-plan.js'
import type { Configuration } from '../runtime/config/configuration.js'

type RunOutput = RunResult | RestorePlanReport | { jobId: string; detached: true; log: string } | { jobId: string; jobmanager: string; detached: boolean; status?: string; durationMs?: number }

const CLAIM_MODES = ['claim', 'no_claim', 'legacy']

/** Flink's options for Python programs: accepted, so that they can be refused by name. */
const PYTHON_FLAGS = {
  python: Flags.string({ aliases: ['py'], hidden: true, description: 'Python script with the program entry point (not supported)' }),
  pyModule: Flags.string({ aliases: ['pym'], hidden: true, description: 'Python module with the program entry point (not supported)' }),
  pyFiles: Flags.string({ aliases: ['pyfs'], hidden: true, description: 'Custom files for a Python job (not supported)' }),
  pyRequirements: Flags.string({ aliases: ['pyreq'], hidden: true, description: 'requirements.txt of a Python job (not supported)' }),
  pyArchives: Flags.string({ aliases: ['pyarch'], hidden: true, description: 'Archives for a Python job (not supported)' }),
  pyExecutable: Flags.string({ aliases: ['pyexec'], hidden: true, description: 'Python interpreter of the UDF workers (not supported)' }),
  pyClientExecutable: Flags.string({ aliases: ['pyclientexec'], hidden: true, description: 'Python interpreter of the client (not supported)' }),
  pyPythonPath: Flags.string({ aliases: ['pypath'], hidden: true, description: 'Python installation of the workers (not supported)' }),
}

/** Options that only a Java program (a job jar) or a Python program has. */
export const NON_TS_PROGRAM_FLAGS = {
  class: Flags.string({ char: 'c', hidden: true, description: 'Class with the program entry point ("main()" method) of a Java job jar (with -m host:port)' }),
  classpath: Flags.string({ char: 'C', multiple: true, hidden: true, description: 'User classpath URL of a Java job (not supported)' }),
  ...PYTHON_FLAGS,
}

/** Refuses, by name, the options of Java and Python programs, and job files that are not TypeScript or JavaScript. */
export function checkProgramKind(flags: Record<string, unknown>, jobFile: string | undefined): void {
  const python = Object.keys(PYTHON_FLAGS).find((k) => flags[k] !== undefined)
  if (python !== undefined || /\.py$/i.test(jobFile ?? '')) {
    throw new TsflinkError('Python programs are not supported: tsflink runs TypeScript and JavaScript job files (-py/--python and the other -py* options are Flink\'s for PyFlink)')
  }
  if (/\.jar$/i.test(jobFile ?? '')) {
    throw new TsflinkError(`A Java job jar runs on a Flink cluster: give its job manager with -m host:port ('${jobFile}'); without -m tsflink runs TypeScript and JavaScript job files`, { kind: 'usage' })
  }
  const java = ['class', 'classpath'].find((k) => flags[k] !== undefined)
  if (java !== undefined) {
    throw new TsflinkError(`--${java} applies to Java job jars; a TypeScript job file is its own entry point`, { kind: 'usage' })
  }
}

export default class Run extends BaseCommand<RunOutput> {
  static override summary = 'Compile and run a job program (job.ts) on the embedded runtime.'
  static override description = `Runs the program attached: it prints the JobID, waits for the job to end and prints its runtime; the exit code is 0 when the job finished, 1 when it failed or was cancelled.
Everything after the job file is passed to the program (process.argv), options included: put tsflink's options, --json too, before the job file.
${EXIT_CODES_HELP}`

  static override usage = 'run [OPTIONS] <job.ts> <arguments>'

  static override examples = [
    '<%= config.bin %> run examples/word-count.ts',
    '<%= config.bin %> run -p 3 -D execution.checkpointing.interval=10s job.ts --input data.txt',
    '<%= config.bin %> run -s /savepoints/savepoint-1a2b3c-0123456789ab -cm claim job.ts',
  ]

  static override strict = false

  static override args = {
    jobFile: Args.string({ description: 'The job program (.ts or .js)' }),
  }

  static override flags = {
    detached: Flags.boolean({ char: 'd', aliases: ['yd', 'yarndetached'], default: false, description: 'If present, runs the job in detached mode (in the background; its output goes to $TSFLINK_HOME/log/<jobId>.log)' }),
    parallelism: Flags.integer({ char: 'p', min: 1, description: 'The parallelism with which to run the program. Optional flag to override the default value specified in the configuration.', helpValue: '<parallelism>' }),
    fromSavepoint: Flags.string({ char: 's', description: 'Path to a savepoint or retained checkpoint (directory or its _metadata) to restore the job from (for example /savepoints/savepoint-1537).', helpValue: '<savepointPath>' }),
    allowNonRestoredState: Flags.boolean({ char: 'n', default: false, description: 'Allow to skip savepoint state that cannot be restored. You need to allow this if you removed an operator from your program that was part of the program when the savepoint was triggered.' }),
    claimMode: Flags.string({ aliases: ['cm'], options: CLAIM_MODES, description: 'Defines how to restore from the given savepoint: claim (the job owns its files and deletes them once subsumed) or no_claim (the default: the files are never touched). Case-insensitive.', helpValue: '<claimMode>' }),
    restoreMode: Flags.string({ aliases: ['rm'], options: CLAIM_MODES, description: 'This option is deprecated, please use \'claimMode\' instead.', helpValue: '<restoreMode>' }),
    'dry-run': Flags.boolean({ default: false, description: 'With -s: build the program\'s job without running it and print the restore plan (which operator gets which state, state without an operator, operators starting empty, key-group redistribution); exit 0 if the restore would succeed, 1 with the reason otherwise. Nothing runs, nothing is written.' }),
    shutdownOnAttachedExit: Flags.boolean({ aliases: ['sae'], default: false, description: 'If the job is submitted in attached mode, cancel it when the CLI is terminated abruptly (always the case: the job runs inside the CLI).' }),
    jarfile: Flags.string({ char: 'j', hidden: true, description: 'The program file (deprecated in Flink: give it as the first argument)' }),
    arguments: Flags.string({ char: 'a', multiple: true, hidden: true, description: 'Program arguments (deprecated in Flink; not supported: give them after the job file)' }),
    ...NON_TS_PROGRAM_FLAGS,
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    const { isDetachedChild, tellLauncher } = await import('../cli/services/detach.js')
    if (isDetachedChild()) {
      const oclifExit = (err as { oclif?: { exit?: number } }).oclif?.exit
      const exitCode = isTsflinkError(err) ? (err.kind === 'usage' ? 2 : 1) : oclifExit === undefined ? 1 : 2
      tellLauncher({ type: 'error', message: describeError(err).split('\n')[0] ?? 'error', ...(isTsflinkError(err) && err.hint !== undefined ? { hint: err.hint } : {}), exitCode })
    }
    return super.catch(err)
  }

  async run(): Promise<RunOutput> {
    const { args, flags } = await this.parse(Run)
    if (flags.arguments !== undefined) {
      throw new TsflinkError('-a/--arguments is not supported: give the program\'s arguments after the job file', { kind: 'usage' })
    }
    let file = args.jobFile
    let programArgs = this.programArguments()
    if (flags.jarfile !== undefined) {
      // Flink's deprecated -j: the program file as an option; every argument belongs to the program.
      if (file !== undefined) programArgs = [file, ...programArgs]
      file = flags.jarfile
    }
    // A dry run never submits or runs anything: checked before any path that would.
    if (flags['dry-run'] && flags.jobmanager !== undefined) throw new TsflinkError('--dry-run plans a restore on the embedded runtime; it cannot go to a job manager (-m)', { kind: 'usage' })
    if (file !== undefined && /\.jar$/i.test(file) && flags.jobmanager !== undefined) {
      if (flags.classpath !== undefined) throw new TsflinkError('-C/--classpath is not supported with -m: the job manager loads the jar\'s own classes', { kind: 'usage' })
      checkProgramKind({ ...flags, class: undefined }, undefined)
      const claimMode = claimModeOf(flags.claimMode, flags.restoreMode, (line) => this.say(line))
      return this.submitJar(file, flags.jobmanager, this.loadConfiguration(flags), {
        jar: file, entryClass: flags.class, parallelism: flags.parallelism, args: programArgs,
        restore: flags.fromSavepoint === undefined ? undefined : { path: flags.fromSavepoint, allowNonRestoredState: flags.allowNonRestoredState, claimMode },
        config: flags.dynamic ?? [],
      }, flags.detached)
    }
    checkProgramKind(flags, file)
    if (file === undefined) throw new TsflinkError('Missing the job file. Usage: tsflink run [OPTIONS] <job.ts> [arguments]', { kind: 'usage' })
    const claimMode = claimModeOf(flags.claimMode, flags.restoreMode, (line) => this.say(line))
    if (flags['dry-run']) return this.dryRun(file, programArgs, flags, claimMode)
    const { isDetachedChild, runDetached, tellLauncher } = await import('../cli/services/detach.js')
    if (flags.detached && !isDetachedChild()) {
      // The background process gets the same command line, parsed already, minus -d and --json.
      const canonical = this.argv
      const end = canonical.indexOf('--')
      const rest = canonical.filter((a, i) => (end >= 0 && i > end) || (a !== '--detached' && a !== '--json'))
      const { jobId, log } = await runDetached(rest)
      this.say(`Job has been submitted with JobID ${jobId}`)
      process.stderr.write(`The job runs in the background; its output goes to ${sanitize(log)}\n`)
      process.stderr.write(`Its checkpoint history: tsflink web ${jobId}\n`)
      return { jobId, detached: true, log }
    }
    if (flags.jobmanager !== undefined) {
      throw new ProgramError(`run executes jobs on the embedded runtime; it cannot submit to a job manager at ${flags.jobmanager}`, { kind: 'usage' })
    }
    const config = this.loadConfiguration(flags)
    const json = this.jsonEnabled()
    const restoring = flags.fromSavepoint
    let progress: Progress | undefined = restoring === undefined ? undefined : await startProgress(`Restoring from ${sanitize(restoring)}`, json)
    const { runJob } = await import('../cli/services/run.js')
    let result: RunResult
    try {
      result = await runJob(
        {
          file,
          args: programArgs,
          config,
          parallelism: flags.parallelism,
          restore: restoring === undefined ? undefined : { path: restoring, allowNonRestoredState: flags.allowNonRestoredState, claimMode },
          printStream: json ? process.stderr : process.stdout,
        },
        {
          submitted: (jobId) => {
            const line = `Job has been submitted with JobID ${jobId}`
            if (progress !== undefined && !json) progress.print(line)
            else this.say(line)
            progress?.update(`Restoring job ${jobId} from ${sanitize(restoring ?? '')}`)
            tellLauncher({ type: 'submitted', jobId })
          },
          running: () => {
            progress?.stop()
            progress = undefined
          },
          finished: (r) => {
            for (const line of jobEndLines(r)) this.say(line)
          },
        },
      )
    } finally {
      progress?.stop()
    }
    const notFinished = result.jobs.find((j) => j.status !== 'FINISHED')
    if (notFinished !== undefined) {
      throw new TsflinkError(`Job ${notFinished.jobId} ${notFinished.status === 'CANCELED' ? 'was cancelled' : `ended ${notFinished.status}`}`, {
        hint: 'An attached run exits 1 unless every job it ran finished (as Flink).',
      })
    }
    return result
  }

  /** `run --dry-run -s <path>`: the restore plan of the program's job; exit 1 with the reason when the restore would fail. */
  private async dryRun(
    file: string, programArgs: string[],
    flags: { fromSavepoint?: string | undefined; allowNonRestoredState: boolean; parallelism?: number | undefined; detached: boolean; jobmanager?: string | undefined; 'config-dir'?: string | undefined; dynamic?: string[] | undefined },
    claimMode: 'claim' | 'no_claim',
  ): Promise<RunOutput> {
    if (flags.fromSavepoint === undefined) throw new TsflinkError('--dry-run needs -s <savepointPath>: it plans a restore', { kind: 'usage' })
    if (flags.detached) throw new TsflinkError('--dry-run runs nothing: it cannot be detached (-d)', { kind: 'usage' })
    const config = this.loadConfiguration(flags)
    const json = this.jsonEnabled()
    const [{ dryRun }, { restorePlanText }] = await Promise.all([import('../cli/services/dry-run.js'), import('../cli/inspect-formatters.js')])
    const plan = await dryRun({
      file, args: programArgs, config, parallelism: flags.parallelism,
      restore: { path: flags.fromSavepoint, allowNonRestoredState: flags.allowNonRestoredState, claimMode },
      printStream: process.stderr,
    })
    this.say(restorePlanText(plan))
    if (plan.ok) return plan
    if (json) process.stdout.write(`${JSON.stringify(plan)}\n`)
    process.stderr.write(`Error: ${sanitize((plan.error ?? 'the restore would fail').split('\n')[0]!)}\n`)
    if (plan.hint !== undefined) process.stderr.write(`Hint: ${sanitize(plan.hint)}\n`)
    return this.exit(1)
  }

  /** `run -m host:port job.jar`: the jar goes to that Flink cluster; attached, this waits for the job's end. */
  private async submitJar(
    jar: string, jobmanager: string, config: Configuration,
    s: Omit<JarSubmission, 'config'> & { config: string[] }, detached: boolean,
  ): Promise<RunOutput> {
    const [{ clientFor }, { awaitJarJob, dynamicProperties, submitJar }] = await Promise.all([import('../cli/services/job-control.js'), import('../cli/services/submit-jar.js')])
    const client = clientFor('', jobmanager, config)
    const jobId = await submitJar(client, { ...s, jar, config: dynamicProperties(s.config) })
    this.say(`Job has been submitted with JobID ${jobId}`)
    if (detached) return { jobId, jobmanager, detached: true }
    const progress = await startProgress(`Waiting for job ${jobId} on ${sanitize(jobmanager)}`, this.jsonEnabled())
    let end
    try {
      end = await awaitJarJob(client, jobId)
    } finally {
      progress.stop()
    }
    if (end.status !== 'FINISHED') {
      throw new TsflinkError(`Job ${jobId} ${end.status === 'CANCELED' ? 'was cancelled' : `ended ${end.status}`}`, { hint: 'An attached run exits 1 unless the job finished (as Flink).' })
    }
    for (const line of ['Program execution finished', `Job with JobID ${jobId} has finished.`, `Job Runtime: ${end.durationMs} ms`]) this.say(line)
    return { jobId, jobmanager, detached: false, status: end.status, durationMs: end.durationMs }
  }
}

/** -cm / --claimMode (or the deprecated -rm / --restoreMode), as the restore request takes it. */
function claimModeOf(claim: string | undefined, restore: string | undefined, say: (line: string) => void): 'claim' | 'no_claim' {
  let mode = claim
  if (mode === undefined && restore !== undefined) {
    say("The option 'restoreMode' is deprecated. Please use 'claimMode' instead.")
    mode = restore
  }
  if (mode === 'legacy') {
    throw new TsflinkError('Claim mode LEGACY is not supported (Flink deprecated it, and removed it in 2.0): use NO_CLAIM (the default: the snapshot\'s files are never touched) or CLAIM (the job takes them over)', { kind: 'usage' })
  }
  return mode === 'claim' ? 'claim' : 'no_claim'
}
