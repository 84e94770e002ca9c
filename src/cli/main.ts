/**
 * The front end `bin/run.js` calls: answers what needs no command at all (no action, -h/--help,
 * -v/--version, an unknown action) from oclif.manifest.json alone, as Flink's CliFrontend does,
 * then hands the action to oclif (dispatch.ts, loaded only then). Keeping this file free of oclif
 * and of the runtime is what makes `tsflink --help` start fast. Does nothing when imported.
 * Tests: test/integration/cli-conformance.test.ts; start-up time: bench/cli-start.ts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sanitize } from './formatters.js'
import { displayId, ordered, rootHelp, type HelpCommand } from './help.js'

interface Manifest {
  commands: Record<string, HelpCommand>
}

/** The package root: this file is two levels below it, in src/cli or in the bundle's folder. */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url))
}

function readManifest(root: string): Manifest {
  try {
    return JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')) as Manifest
  } catch (err) {
    throw new Error(`Cannot read ${join(root, 'oclif.manifest.json')} (run npm run build): ${(err as Error).message}`)
  }
}

function version(root: string): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version
}

/** The command an argv names: the longest run of leading words that is a command id (`checkpoints list`). */
export function resolveAction(ids: readonly string[], argv: readonly string[]): { id: string; rest: string[] } | { topic: string } | undefined {
  let found: { id: string; rest: string[] } | undefined
  let topic: string | undefined
  for (let n = 1; n <= argv.length; n++) {
    const word = argv[n - 1]!
    if (word.startsWith('-')) break
    const candidate = argv.slice(0, n).join(':')
    if (ids.includes(candidate)) found = { id: candidate, rest: argv.slice(n) }
    else if (ids.some((id) => id.startsWith(`${candidate}:`))) topic = candidate
    else break
  }
  if (found !== undefined) return found
  return topic === undefined ? undefined : { topic }
}

function invalidAction(action: string, commands: HelpCommand[]): void {
  const valid = ordered(commands).map((c) => `"${displayId(c.id)}"`)
  process.stderr.write([
    `Error: "${sanitize(action)}" is not a valid action.`,
    '',
    `Valid actions are ${valid.slice(0, -1).join(', ')}, or ${valid.at(-1)}.`,
    '',
    'Specify the version option (-v or --version) to print the tsflink version.',
    '',
    'Specify the help option (-h or --help) to get help on the command.',
    '',
  ].join('\n'))
  process.exitCode = 1
}

export async function main(argv: string[]): Promise<void> {
  const root = packageRoot()
  const first = argv[0]
  if (first === '-v' || first === '--version') {
    process.stdout.write(`Version: ${version(root)}\n`)
    return
  }
  const manifest = readManifest(root)
  const commands = Object.values(manifest.commands)
  if (first === undefined || first === '-h' || first === '--help') {
    process.stdout.write(rootHelp('tsflink', commands))
    if (first === undefined) {
      process.stderr.write('Please specify an action.\n')
      process.exitCode = 1
    }
    return
  }
  const action = resolveAction(Object.keys(manifest.commands), argv)
  if (action === undefined) return invalidAction(first, commands)
  if ('topic' in action) {
    const next = argv[action.topic.split(':').length]
    if (next !== undefined && !next.startsWith('-')) return invalidAction(`${displayId(action.topic)} ${next}`, commands)
    process.stdout.write(rootHelp('tsflink', commands.filter((c) => c.id.startsWith(`${action.topic}:`))))
    return
  }
  const { dispatch } = await import('./dispatch.js')
  await dispatch(root, action.id, action.rest)
}
