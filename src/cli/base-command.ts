/**
 * The one base of every command: global flags (-m, -yid, --config-dir, -D), `--json`, Flink's
 * command-line grammar (flink-options.ts: `-detached`, `-cm claim`, program arguments after the
 * job file), `-h`/`--help` per action, and the single error path: an error becomes one clear line
 * on stderr (then a hint), and an exit code from its type. Exit codes: 0 success, 1 the operation
 * failed, 2 usage error. Commands return a typed result; `--json` prints it as one JSON document
 * on stdout. Must not import the runtime's heavy modules (storage, connectors, tsx): every
 * command loads this file. Tests: test/integration/cli-conformance.test.ts (the grammar alone:
 * test/flink-options.test.ts).
 */
import { Command } from '@oclif/core/command'
import { ExitError } from '@oclif/core/errors'
import * as Flags from '@oclif/core/flags'
import type { Interfaces } from '@oclif/core'
import { describeError, isTsflinkError, TsflinkError } from '../runtime/errors.js'
import { loadConfig, parseDynamicProperties } from '../runtime/config/loader.js'
import type { Configuration } from '../runtime/config/configuration.js'
import { OptionParseError, parseCommandLine, toOclifArgv, type CommandGrammar, type OptionDef, type ParsedCommandLine } from './flink-options.js'
import { sanitize } from './formatters.js'
import { actionHelp, EXIT_CODES_LINE, type HelpCommand, type HelpFlag } from './help.js'

export const EXIT_CODES_HELP = EXIT_CODES_LINE

export const HELP_HINT = 'Use the help option (-h or --help) to get help on the command.'

/** Flink's deployment targets (-t) that tsflink serves: the embedded runtime, or -m host:port. */
const TARGETS = ['local', 'remote']

interface GrammarSource {
  flags?: Record<string, unknown> | undefined
  baseFlags?: Record<string, unknown> | undefined
  enableJsonFlag?: boolean | undefined
  args?: Record<string, unknown> | undefined
  strict?: boolean | undefined
  programArgs?: boolean | undefined
  optionalValueFlags?: readonly string[] | undefined
}

interface FlagLike {
  char?: string
  aliases?: string[]
  charAliases?: string[]
  type?: string
  multiple?: boolean
  options?: readonly string[]
}

/** A command's grammar from its oclif flag definitions (the same fields oclif.manifest.json keeps). */
export function grammarOf(cmd: GrammarSource): CommandGrammar {
  const all: Record<string, unknown> = {
    ...(cmd.baseFlags ?? {}),
    ...(cmd.flags ?? {}),
    ...(cmd.enableJsonFlag === true ? { json: { type: 'boolean' } } : {}),
  }
  const optional = cmd.optionalValueFlags ?? []
  const options: OptionDef[] = Object.entries(all).map(([name, raw]) => {
    const f = raw as FlagLike
    return {
      name,
      char: f.char,
      aliases: [...(f.aliases ?? []), ...(f.charAliases ?? [])],
      value: f.type === 'option',
      optionalValue: optional.includes(name),
      multiple: f.multiple === true,
      options: f.options,
    }
  })
  const programArgs = cmd.programArgs ?? cmd.strict === false
  return { options, programAfter: programArgs ? Object.keys(cmd.args ?? {}).length : undefined }
}

/** A command class as the help formatter reads it: every flag, base and JSON flags included, with its name. */
function helpOf(cmd: GrammarSource & HelpCommand): HelpCommand {
  const all: Record<string, unknown> = {
    ...(cmd.baseFlags ?? {}),
    ...(cmd.flags ?? {}),
    ...(cmd.enableJsonFlag === true ? { json: { type: 'boolean', description: 'Format output as json.', helpGroup: 'GLOBAL' } } : {}),
  }
  const flags = Object.fromEntries(Object.entries(all).map(([name, f]) => [name, { ...(f as HelpFlag), name }]))
  return { id: cmd.id, summary: cmd.summary, description: cmd.description, usage: cmd.usage, args: cmd.args, flags, optionalValueFlags: cmd.optionalValueFlags }
}

export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    jobmanager: Flags.string({ char: 'm', description: 'Address (host:port) of the JobManager (REST endpoint) to connect to', helpGroup: 'GLOBAL', helpValue: '<host:port>' }),
    'config-dir': Flags.string({ description: 'Directory holding config.yaml or flink-conf.yaml', helpGroup: 'GLOBAL', helpValue: '<dir>' }),
    dynamic: Flags.string({ char: 'D', multiple: true, multipleNonGreedy: true, description: 'Configuration override key=value (repeatable)', helpGroup: 'GLOBAL', helpValue: '<property=value>' }),
    target: Flags.string({ char: 't', aliases: ['executor', 'e'], description: 'Deployment target: local (the embedded runtime) or remote (-m host:port)', helpGroup: 'GLOBAL', hidden: true }),
    yarnapplicationId: Flags.string({ aliases: ['yid'], description: 'YARN application id of the job manager to talk to (its REST address comes from the ResourceManager)', helpGroup: 'GLOBAL', helpValue: '<applicationId>' }),
    zookeeperNamespace: Flags.string({ char: 'z', description: 'ZooKeeper namespace for high availability (ignored: tsflink has no ZooKeeper)', helpGroup: 'GLOBAL', hidden: true }),
  }

  /**
   * Whether positional arguments after the declared ones belong to a program (Flink's
   * stop-at-non-option). Default: for commands that are not strict.
   */
  static programArgs: boolean | undefined

  /** Flags whose value may be left out, as Flink's `cancel -s [dir]`: then their value is ''. */
  static optionalValueFlags: readonly string[] = []

  /** The command line as Flink's grammar read it; set by parse(). */
  protected commandLine: ParsedCommandLine | undefined

  abstract override run(): Promise<T>

  /** Everything after the program file, exactly as given. */
  protected programArguments(): string[] {
    return this.commandLine?.program ?? []
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protected override async parse<F extends Record<string, any>, B extends Record<string, any>, A extends Record<string, any>>(
    options?: Interfaces.Input<F, B, A>,
    argv: string[] = this.argv,
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const source = (options ?? this.ctor) as unknown as GrammarSource
    const grammar = grammarOf(source)
    let line: ParsedCommandLine
    try {
      line = parseCommandLine(grammar, argv)
    } catch (err) {
      if (err instanceof OptionParseError) throw new TsflinkError(err.message, { kind: 'usage', hint: HELP_HINT })
      throw err
    }
    this.commandLine = line
    if (line.help) {
      process.stdout.write(actionHelp(helpOf(this.ctor as unknown as GrammarSource & HelpCommand)))
      this.exit(0)
    }
    const parsed = await super.parse(options, toOclifArgv(grammar, line))
    checkTarget(parsed.flags as Record<string, unknown>)
    await this.jobManagerFromYarn(parsed.flags as Record<string, unknown>)
    return parsed
  }

  /**
   * `-yid <applicationId>`: the job manager's REST address, found through the YARN ResourceManager
   * (runtime/control/yarn.ts), becomes the `-m` of the command. Flink's `-m yarn-cluster` beside it
   * means the same; any other -m is a conflict.
   */
  private async jobManagerFromYarn(flags: Record<string, unknown>): Promise<void> {
    const appId = flags.yarnapplicationId
    if (typeof appId !== 'string') return
    const m = flags.jobmanager
    if (typeof m === 'string' && m !== 'yarn-cluster') {
      throw new TsflinkError(`Give either -m ${m} or -yid ${appId}, not both`, { kind: 'usage', hint: HELP_HINT })
    }
    const config = loadConfig(flags['config-dir'] as string | undefined).config.merged(parseDynamicProperties((flags.dynamic as string[] | undefined) ?? []))
    const { jobManagerFromYarn } = await import('../runtime/control/yarn.js')
    flags.jobmanager = await jobManagerFromYarn(appId, config)
  }

  override jsonEnabled(): boolean {
    if (this.commandLine !== undefined) return this.commandLine.flags.has('json')
    return super.jsonEnabled()
  }

  /** Configuration: file (from --config-dir or the environment), then -D on top. Warnings go to stderr. */
  protected loadConfiguration(flags: { 'config-dir'?: string | undefined; dynamic?: string[] | undefined }): Configuration {
    const loaded = loadConfig(flags['config-dir'])
    for (const w of loaded.warnings) process.stderr.write(`Warning: ${sanitize(w)}\n`)
    return loaded.config.merged(parseDynamicProperties(flags.dynamic ?? []))
  }

  /** Human output; suppressed under --json. */
  protected say(line: string): void {
    if (!this.jsonEnabled()) process.stdout.write(`${line}\n`)
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof ExitError) throw err
    const oclifExit = (err as { oclif?: { exit?: number } }).oclif?.exit
    let exit: number
    let hint: string | undefined
    let message: string
    if (isTsflinkError(err)) {
      exit = err.kind === 'usage' ? 2 : 1
      hint = err.hint
      message = firstLine(describeError(err))
    } else if (oclifExit !== undefined) {
      // oclif's parser: a bad flag value, a missing or unexpected argument. Keep the reason.
      exit = oclifExit === 0 ? 0 : 2
      message = parserMessage(err.message)
      hint = HELP_HINT
    } else {
      exit = 1
      message = firstLine(describeError(err))
    }
    message = sanitize(message)
    process.stderr.write(`Error: ${message}\n`)
    if (hint !== undefined) process.stderr.write(`Hint: ${sanitize(hint)}\n`)
    if (process.env.TSFLINK_DEBUG === '1' && err.stack !== undefined) process.stderr.write(`${err.stack}\n`)
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ error: { message, ...(hint === undefined ? {} : { hint }), exitCode: exit } })}\n`)
    this.exit(exit)
  }
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'Unknown error'
}

/** oclif's "Parsing --keep \n\tExpected an integer … \nSee more help with --help" as one line. */
function parserMessage(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l !== '' && l !== 'See more help with --help')
  if (lines.length === 0) return 'Invalid command line'
  const [head, ...rest] = lines
  return rest.length === 0 ? head! : `${head!.replace(/:$/, '')}: ${rest.join('; ')}`
}

/** Flink's cluster-selection options: -t names the embedded runtime or a REST endpoint (-yid: jobManagerFromYarn). */
function checkTarget(flags: Record<string, unknown>): void {
  const target = flags.target
  if (typeof target === 'string' && !TARGETS.includes(target.toLowerCase())) {
    throw new TsflinkError(`Deployment target '${target}' is not available: tsflink runs jobs on its embedded runtime (-t local) and talks to job managers over REST (-t remote, -m host:port)`, { kind: 'usage' })
  }
}
