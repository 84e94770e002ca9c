/**
 * The one base of every command: global flags (-m, --config-dir, -D), `--json`, and the single
 * error path: an error becomes one clear line on stderr (then a hint), and an exit code from its
 * type. Exit codes: 0 success, 1 the operation failed, 2 usage error.
 * Commands return a typed result; `--json` prints it as one JSON document on stdout.
 */
import { Command, Flags, Errors } from '@oclif/core'
import { describeError, isTsflinkError } from '../runtime/errors.js'
import { loadConfig, parseDynamicProperties } from '../runtime/config/loader.js'
import type { Configuration } from '../runtime/config/configuration.js'

export const EXIT_CODES_HELP = 'Exit codes: 0 success, 1 the operation failed, 2 usage error.'

export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    jobmanager: Flags.string({ char: 'm', description: 'REST endpoint (host:port) of a running job manager', helpGroup: 'GLOBAL' }),
    'config-dir': Flags.string({ description: 'Directory holding config.yaml or flink-conf.yaml', helpGroup: 'GLOBAL' }),
    dynamic: Flags.string({ char: 'D', multiple: true, multipleNonGreedy: true, description: 'Configuration override key=value', helpGroup: 'GLOBAL' }),
  }

  abstract override run(): Promise<T>

  /** Configuration: file (from --config-dir or the environment), then -D on top. Warnings go to stderr. */
  protected loadConfiguration(flags: { 'config-dir'?: string | undefined; dynamic?: string[] | undefined }): Configuration {
    const loaded = loadConfig(flags['config-dir'])
    for (const w of loaded.warnings) process.stderr.write(`Warning: ${w}\n`)
    return loaded.config.merged(parseDynamicProperties(flags.dynamic ?? []))
  }

  /** Human output; suppressed under --json. */
  protected say(line: string): void {
    if (!this.jsonEnabled()) process.stdout.write(`${line}\n`)
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err
    const oclifExit = (err as { oclif?: { exit?: number } }).oclif?.exit
    let exit: number
    let hint: string | undefined
    if (isTsflinkError(err)) {
      exit = err.kind === 'usage' ? 2 : 1
      hint = err.hint
    } else if (oclifExit !== undefined) {
      exit = oclifExit === 0 ? 0 : 2
    } else {
      exit = 1
    }
    const message = describeError(err).split('\n')[0] ?? 'Unknown error'
    process.stderr.write(`Error: ${message}\n`)
    if (hint !== undefined) process.stderr.write(`Hint: ${hint}\n`)
    if (process.env.TSFLINK_DEBUG === '1' && err.stack !== undefined) process.stderr.write(`${err.stack}\n`)
    if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify({ error: { message, ...(hint === undefined ? {} : { hint }), exitCode: exit } })}\n`)
    this.exit(exit)
  }
}
