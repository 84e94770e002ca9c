/**
 * Runs one command through oclif, by id: loads oclif's configuration (package.json and
 * oclif.manifest.json) and the command's module, nothing else. oclif's own argv handling (help
 * and version anywhere on the line) is bypassed: the command parses with Flink's grammar.
 * Does nothing when imported. Tests: every test that runs bin/run.js; bench/cli-start.ts.
 */
import { Config } from '@oclif/core/config'
import { flush } from '@oclif/core/flush'
import { handle } from '@oclif/core/handle'
import { settings } from '@oclif/core/settings'

/**
 * oclif's configuration, loaded without two costs it would add to every start-up: the sort of
 * command ids with localeCompare, whose first call loads ICU's collator (15-20 ms; the ids are
 * ASCII, a plain comparison orders them), and the search for a user theme file (tsflink prints
 * no themed output).
 */
async function loadConfig(root: string): Promise<Config> {
  const localeCompare = String.prototype.localeCompare
  const theme = process.env.TSFLINK_DISABLE_THEME
  String.prototype.localeCompare = function (this: string, that: string): number {
    return this < that ? -1 : this > that ? 1 : 0
  } as typeof localeCompare
  process.env.TSFLINK_DISABLE_THEME = 'true'
  try {
    return await Config.load(root)
  } finally {
    String.prototype.localeCompare = localeCompare
    if (theme === undefined) delete process.env.TSFLINK_DISABLE_THEME
    else process.env.TSFLINK_DISABLE_THEME = theme
  }
}

export async function dispatch(root: string, id: string, argv: string[]): Promise<void> {
  // Always the built commands: never look for TypeScript sources next to them.
  settings.enableAutoTranspile = false
  try {
    const config = await loadConfig(root)
    await config.runCommand(id, argv)
    await flush()
  } catch (err) {
    await handle(err as Error)
  }
}
