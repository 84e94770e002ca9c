/**
 * Runs one command through oclif, by id: loads oclif's configuration (package.json and
 * oclif.manifest.json) and the command's module, nothing else. oclif's own argv handling (help
 * and version anywhere on the line) is bypassed: the command parses with Flink's grammar.
 * Does nothing when imported. Tests: every test that runs bin/run.js.
 */
import { Config } from '@oclif/core/config'
import { flush } from '@oclif/core/flush'
import { handle } from '@oclif/core/handle'
import { settings } from '@oclif/core/settings'

export async function dispatch(root: string, id: string, argv: string[]): Promise<void> {
  // Always the built commands: never look for TypeScript sources next to them.
  settings.enableAutoTranspile = false
  try {
    const config = await Config.load(root)
    await config.runCommand(id, argv)
    await flush()
  } catch (err) {
    await handle(err as Error)
  }
}
