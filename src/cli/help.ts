/**
 * Help in the shape of Flink's `flink --help`: "<ACTION> [OPTIONS] [ARGUMENTS]", then per action
 * its syntax and options (`-d,--dispose <arg>   Path of savepoint to dispose.`). Built from the
 * same descriptions oclif keeps (a command class or its entry in oclif.manifest.json), so the
 * front end prints it without loading any command. Pure: imports nothing.
 * Tests: test/integration/cli-conformance.test.ts.
 */

export interface HelpFlag {
  name: string
  char?: string | undefined
  aliases?: readonly string[] | undefined
  description?: string | undefined
  helpValue?: string | string[] | undefined
  helpGroup?: string | undefined
  hidden?: boolean | undefined
  type: 'boolean' | 'option'
}

export interface HelpCommand {
  id: string
  summary?: string | undefined
  description?: string | undefined
  usage?: string | string[] | undefined
  hidden?: boolean | undefined
  args?: Record<string, { required?: boolean | undefined; name?: string | undefined }> | undefined
  flags: Record<string, HelpFlag>
  optionalValueFlags?: readonly string[] | undefined
}

const WIDTH = 80
const LEFT = 5
const GAP = 3
/** Flink's order of actions; other commands follow in alphabetical order. */
const ORDER = ['run', 'info', 'list', 'stop', 'cancel', 'savepoint', 'checkpoint']

export const EXIT_CODES_LINE = 'Exit codes: 0 success, 1 the operation failed (as in Flink), 2 usage error (bad option, option value or JobID).'

export function displayId(id: string): string {
  return id.replaceAll(':', ' ')
}

function summaryOf(c: HelpCommand): string {
  return c.summary ?? (c.description ?? '').split('\n')[0] ?? ''
}

function syntaxOf(c: HelpCommand): string {
  const u = Array.isArray(c.usage) ? c.usage[0] : c.usage
  if (u !== undefined) return u
  const args = Object.entries(c.args ?? {}).map(([name, a]) => (a.required === true ? `<${name}>` : `[<${name}>]`))
  return [displayId(c.id), '[OPTIONS]', ...args].join(' ')
}

function optionName(f: HelpFlag, optional: boolean): string {
  const short = f.char ?? (f.aliases ?? []).find((a) => a.length > 1 && !/[A-Z]/.test(a))
  const names = short === undefined ? `--${f.name}` : `-${short},--${f.name}`
  if (f.type === 'boolean') return names
  const value = (Array.isArray(f.helpValue) ? f.helpValue[0] : f.helpValue) ?? '<arg>'
  const shown = value.startsWith('<') ? value : `<${value}>`
  return optional ? `${names} [${shown}]` : `${names} ${shown}`
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  for (const para of text.split('\n')) {
    let line = ''
    for (const word of para.split(/\s+/).filter((w) => w !== '')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line)
        line = word
      } else {
        line = line === '' ? word : `${line} ${word}`
      }
    }
    lines.push(line)
  }
  return lines
}

/** Options as commons-cli's HelpFormatter lays them out: padded names, wrapped descriptions. */
function optionLines(flags: HelpFlag[], optional: readonly string[]): string[] {
  const rows = flags.map((f) => [optionName(f, optional.includes(f.name)), f.description ?? ''] as const)
  const nameWidth = Math.max(0, ...rows.map(([n]) => n.length))
  const descWidth = Math.max(20, WIDTH - LEFT - nameWidth - GAP)
  const out: string[] = []
  for (const [name, desc] of rows) {
    const wrapped = wrap(desc, descWidth)
    out.push(`${' '.repeat(LEFT)}${name.padEnd(nameWidth)}${' '.repeat(GAP)}${wrapped[0] ?? ''}`.trimEnd())
    for (const more of wrapped.slice(1)) out.push(`${' '.repeat(LEFT + nameWidth + GAP)}${more}`)
  }
  return out
}

function visibleFlags(c: HelpCommand, global: boolean): HelpFlag[] {
  return Object.values(c.flags).filter((f) => !f.hidden && (f.helpGroup === 'GLOBAL') === global)
}

/** One action's section: what it does, its syntax and its own options. */
export function actionHelp(c: HelpCommand, withGlobal = true): string {
  const id = displayId(c.id)
  const lines = ['', `Action "${id}": ${summaryOf(c)}`, '', `  Syntax: ${syntaxOf(c)}`]
  const own = visibleFlags(c, false)
  if (own.length > 0) lines.push(`  "${id}" action options:`, ...optionLines(own, c.optionalValueFlags ?? []))
  if (withGlobal) {
    const global = visibleFlags(c, true)
    if (global.length > 0) lines.push('  Options for every action:', ...optionLines(global, []))
  }
  return `${lines.join('\n')}\n`
}

/** Visible commands in Flink's order of actions, then the others alphabetically. */
export function ordered(commands: HelpCommand[]): HelpCommand[] {
  const rank = (id: string): number => {
    const i = ORDER.indexOf(id)
    return i === -1 ? ORDER.length : i
  }
  // Plain comparison, not localeCompare: its first call loads ICU's collator (15-20 ms of --help).
  return commands.filter((c) => !c.hidden).sort((a, b) => rank(a.id) - rank(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** `tsflink --help`: every action, then the options every action takes, then the exit codes. */
export function rootHelp(bin: string, commands: HelpCommand[]): string {
  const list = ordered(commands)
  const out = [`${bin} <ACTION> [OPTIONS] [ARGUMENTS]`, '', 'The following actions are available:']
  for (const c of list) out.push(actionHelp(c, false).trimEnd())
  const global = list[0] === undefined ? [] : visibleFlags(list[0], true)
  if (global.length > 0) out.push('', '  Options for every action:', ...optionLines(global, []))
  out.push('', `  ${EXIT_CODES_LINE}`, '')
  return `${out.join('\n')}\n`
}
