/**
 * Flink's command-line grammar, applied to a command's options before oclif sees them. Flink's
 * CliFrontend parses with Apache Commons CLI's DefaultParser; this module follows its rules:
 * - an option takes one or two dashes: `-detached`, `-type native`, `-cm claim`,
 *   `--claimMode=claim`; a long name may be shortened to a unique prefix (`--claim`); short
 *   options may be joined with their value or with each other (`-p3`, `-Dkey=value`, `-dn`);
 * - an option whose value is optional (`cancel -s [dir]`, `stop -p [dir]`) takes the next token
 *   only when that token is not an option;
 * - in a command that runs a program, everything after the program file belongs to the program;
 * - values of options with a fixed set of values are case-insensitive (`-cm CLAIM`).
 * The parsed line is written back as canonical oclif argv (`--name=value … -- positionals`), so
 * oclif's typed flags and validation still apply, and nothing after `--` can be read as a flag.
 * Pure: imports nothing. Tests: test/flink-options.test.ts.
 */

export interface OptionDef {
  /** The oclif flag name, also the option's long name. */
  name: string
  /** One-letter short name. */
  char?: string | undefined
  /** More names: Flink's multi-letter short names (`cm`, `sae`, `type`) and legacy long names. */
  aliases?: readonly string[] | undefined
  /** Whether the option takes a value (oclif type 'option'). */
  value: boolean
  /** The value may be left out (Commons CLI's optional argument); then it is given as ''. */
  optionalValue?: boolean | undefined
  /** May be given several times, every value kept (otherwise the first one counts, as in Flink). */
  multiple?: boolean | undefined
  /** The allowed values; matched case-insensitively and rewritten to their declared spelling. */
  options?: readonly string[] | undefined
}

export interface CommandGrammar {
  options: readonly OptionDef[]
  /** After this many positional arguments the rest of the line belongs to a program (run: 1). */
  programAfter?: number | undefined
}

export interface ParsedCommandLine {
  /** Values per flag name, in order: `true` for a switch, '' for an optional value left out. */
  flags: Map<string, (string | true)[]>
  /** Positional arguments (for a program command: up to and including the program file). */
  positionals: string[]
  /** The program's own arguments, untouched. */
  program: string[]
  /** -h / --help was given among the options. */
  help: boolean
}

/** A malformed command line; the message follows Commons CLI's wording. */
export class OptionParseError extends Error {}

/** Options every action understands, as in Flink: help, and the deprecated, ignored -v/--verbose. */
const BUILTIN: OptionDef[] = [
  { name: 'help', char: 'h', value: false },
  { name: 'verbose', char: 'v', value: false },
]

const NEGATIVE_NUMBER = /^-\d+(\.\d+)?$/

export function parseCommandLine(grammar: CommandGrammar, argv: readonly string[]): ParsedCommandLine {
  const defs = [...grammar.options, ...BUILTIN.filter((b) => !grammar.options.some((o) => o.name === b.name || o.char === b.char))]
  const short = new Map<string, OptionDef>()
  const long = new Map<string, OptionDef>()
  for (const d of defs) {
    long.set(d.name, d)
    if (d.char !== undefined) short.set(d.char, d)
    for (const a of d.aliases ?? []) {
      short.set(a, d)
      if (a.length > 1) long.set(a, d)
    }
  }

  /** Long options matching `name` exactly, else every one it is a prefix of (Commons CLI's partial matching). */
  const matchLong = (name: string): OptionDef[] => {
    const exact = long.get(name)
    if (exact !== undefined) return [exact]
    const found: OptionDef[] = []
    for (const [n, d] of long) if (n.startsWith(name) && !found.includes(d)) found.push(d)
    return found
  }
  const oneLong = (name: string, token: string): OptionDef | undefined => {
    const m = matchLong(name)
    if (m.length > 1) throw new OptionParseError(`Ambiguous option: '${token}' (could be: ${m.map((d) => `'${d.name}'`).join(', ')})`)
    return m[0]
  }
  /** A long name that `t` starts with, for `-parallelism3` (a long option glued to its value). */
  const longPrefix = (t: string): OptionDef | undefined => {
    for (let i = t.length - 1; i > 1; i--) {
      const d = long.get(t.slice(0, i))
      if (d !== undefined) return d
    }
    return undefined
  }
  const isOption = (token: string): boolean => {
    if (!token.startsWith('-') || token.length === 1) return false
    const eq = token.indexOf('=')
    const name = (eq === -1 ? token : token.slice(0, eq)).replace(/^--?/, '')
    if (name === '') return false
    if (matchLong(name).length > 0) return true
    if (!token.startsWith('--') && longPrefix(name) !== undefined) return true
    return short.has(name) || short.has(name[0]!)
  }
  const isArgument = (token: string): boolean => !isOption(token) || NEGATIVE_NUMBER.test(token)

  const flags = new Map<string, (string | true)[]>()
  const positionals: string[] = []
  const program: string[] = []
  let pending: OptionDef | undefined
  let pendingToken = ''
  let rest = false

  const add = (d: OptionDef, v: string | true): void => {
    const list = flags.get(d.name)
    if (list === undefined) flags.set(d.name, [v])
    else list.push(v)
  }
  const missing = (d: OptionDef, token: string): OptionParseError =>
    new OptionParseError(`Missing argument for option: ${token} (${describe(d)})`)
  const closePending = (): void => {
    if (pending === undefined) return
    if (!pending.optionalValue) throw missing(pending, pendingToken)
    add(pending, '')
    pending = undefined
  }
  const option = (d: OptionDef, token: string, value?: string): void => {
    closePending()
    if (!d.value) {
      if (value !== undefined) throw new OptionParseError(`Option ${token} takes no value (${describe(d)})`)
      add(d, true)
    } else if (value !== undefined) {
      add(d, value)
    } else {
      pending = d
      pendingToken = token
    }
  }
  const unknown = (token: string): never => {
    throw new OptionParseError(`Unrecognized option: ${token}`)
  }
  const positional = (token: string): void => {
    closePending()
    if (grammar.programAfter !== undefined && positionals.length >= grammar.programAfter) {
      program.push(token)
      rest = true
      return
    }
    positionals.push(token)
    if (grammar.programAfter !== undefined && positionals.length >= grammar.programAfter) rest = true
  }

  const longToken = (token: string): void => {
    const body = token.slice(2)
    const eq = body.indexOf('=')
    const name = eq === -1 ? body : body.slice(0, eq)
    const d = oneLong(name, eq === -1 ? token : token.slice(0, eq + 2))
    if (d === undefined) return unknown(token)
    option(d, token, eq === -1 ? undefined : body.slice(eq + 1))
  }

  const shortToken = (token: string): void => {
    const t = token.slice(1)
    const eq = t.indexOf('=')
    if (eq === -1) {
      const s = short.get(t)
      if (s !== undefined) return option(s, token)
      const l = oneLong(t, token)
      if (l !== undefined) return option(l, token)
      const glued = longPrefix(t)
      if (glued !== undefined && glued.value) return option(glued, token, t.slice(glued.name.length))
      return concatenated(token)
    }
    const name = t.slice(0, eq)
    const s = short.get(name)
    if (s !== undefined && s.value) return option(s, token, t.slice(eq + 1))
    const prop = short.get(t[0]!)
    if (prop !== undefined && prop.value && prop.multiple && t[0] === 'D') return option(prop, token, t.slice(1))
    const l = oneLong(name, token.slice(0, eq + 1))
    if (l === undefined) return unknown(token)
    option(l, token, t.slice(eq + 1))
  }

  /** `-dn` (two switches), `-p3`, `-Dkey=value`, `-d/path`: one letter at a time, as Commons CLI does. */
  const concatenated = (token: string): void => {
    for (let i = 1; i < token.length; i++) {
      const d = short.get(token[i]!)
      if (d === undefined) return unknown(i === 1 ? token : `-${token.slice(i)} (in ${token})`)
      if (d.value && i + 1 < token.length) return option(d, `-${token[i]}`, token.slice(i + 1))
      option(d, `-${token[i]}`)
    }
  }

  for (const token of argv) {
    if (rest) {
      if (grammar.programAfter !== undefined) program.push(token)
      else positionals.push(token)
      continue
    }
    if (pending !== undefined && isArgument(token)) {
      add(pending, token)
      pending = undefined
      continue
    }
    if (token === '--') {
      closePending()
      rest = true
      continue
    }
    if (token === '-' || !token.startsWith('-') || NEGATIVE_NUMBER.test(token)) positional(token)
    else if (token.startsWith('--')) longToken(token)
    else shortToken(token)
  }
  closePending()

  // After `--`, positionals that a program command did not take yet are still its program file.
  if (grammar.programAfter !== undefined) {
    while (positionals.length < grammar.programAfter && program.length > 0) positionals.push(program.shift()!)
  }

  for (const d of defs) {
    const values = flags.get(d.name)
    if (values === undefined || d.options === undefined) continue
    flags.set(d.name, values.map((v) => (typeof v === 'string' ? d.options!.find((o) => o.toLowerCase() === v.toLowerCase()) ?? v : v)))
  }
  const help = flags.has('help')
  flags.delete('help')
  flags.delete('verbose')
  return { flags, positionals, program, help }
}

/** The parsed line as argv oclif parses without surprises: `--name=value` flags, then `--`, then the positionals. */
export function toOclifArgv(grammar: CommandGrammar, line: ParsedCommandLine): string[] {
  const out: string[] = []
  for (const [name, values] of line.flags) {
    const d = grammar.options.find((o) => o.name === name)
    if (d === undefined) continue
    const kept = d.multiple ? values : values.slice(0, 1)
    for (const v of kept) out.push(v === true ? `--${name}` : `--${name}=${v}`)
  }
  return [...out, '--', ...line.positionals, ...line.program]
}

function describe(d: OptionDef): string {
  const names = [...(d.char === undefined ? [] : [`-${d.char}`]), ...(d.aliases ?? []).filter((a) => a.length > 1).map((a) => `-${a}`), `--${d.name}`]
  return names.join(', ')
}
