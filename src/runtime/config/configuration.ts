/**
 * Configuration: flat `key → string` settings with typed getters that accept both a key's new and
 * legacy names. Precedence is decided by whoever merges: defaults < file < -D < job code.
 * Pure. Tests: test/config.test.ts.
 */
import { ConfigError } from '../errors.js'
import { parseDuration } from './duration.js'
import { parseMemorySize } from './memory-size.js'
import { optionFor, rangeProblem, validateValue } from './options.js'

export class Configuration {
  private readonly values = new Map<string, string>()
  /** The name each value was set under (a legacy name, say), for messages. */
  private readonly spelled = new Map<string, string>()

  constructor(entries: Iterable<[string, string]> = []) {
    for (const [k, v] of entries) this.set(k, v)
  }

  /** Sets a key; a legacy name is stored under the option's current name. */
  set(key: string, value: string | number | boolean): this {
    const opt = optionFor(key)
    this.values.set(opt?.key ?? key, String(value))
    this.spelled.set(opt?.key ?? key, key)
    return this
  }

  /** The key as the user wrote it (e.g. `state.checkpoints.dir`), for messages. */
  private nameOf(key: string): string {
    const opt = optionFor(key)
    return this.spelled.get(opt?.key ?? key) ?? key
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined
  }

  raw(key: string): string | undefined {
    const opt = optionFor(key)
    return this.values.get(opt?.key ?? key)
  }

  /** A copy with `other`'s values laid over this one's. */
  merged(other: Configuration): Configuration {
    const c = new Configuration()
    for (const src of [this, other]) {
      for (const [k, v] of src.values) {
        c.values.set(k, v)
        c.spelled.set(k, src.spelled.get(k) ?? k)
      }
    }
    return c
  }

  entries(): [string, string][] {
    return [...this.values]
  }

  /** Throws a ConfigError naming the first key whose value does not fit its type. */
  validate(origin: string, kind: 'usage' | 'operation' = 'operation'): void {
    for (const [k, v] of this.values) {
      const opt = optionFor(k)
      if (opt === undefined) continue
      const problem = validateValue(opt, v)
      if (problem !== undefined) throw new ConfigError(`Invalid value for '${this.nameOf(k)}' in ${origin}: ${problem}`, { kind })
    }
  }

  getString(key: string): string | undefined {
    const v = this.raw(key)
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }

  getInt(key: string): number | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    if (!/^-?\d+$/.test(v)) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not a whole number`)
    return this.inRange(key, v, Number(v), false)
  }

  getNumber(key: string): number | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n)) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not a number`)
    return this.inRange(key, v, n, false)
  }

  /** Values set in code skip the loader's validation: typed getters check the option's range too. */
  private inRange(key: string, raw: string, value: number, duration: boolean): number {
    const opt = optionFor(key)
    const problem = opt === undefined ? undefined : rangeProblem(opt, raw, value, duration)
    if (problem !== undefined) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': ${problem}`)
    return value
  }

  getBool(key: string): boolean | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    if (!/^(true|false)$/i.test(v)) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not true or false`)
    return v.toLowerCase() === 'true'
  }

  getDuration(key: string): number | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    const ms = parseDuration(v)
    if (ms === undefined) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not a duration (e.g. 500 ms, 10 s, 3min, 1 h)`)
    return this.inRange(key, v, ms, true)
  }

  /** A memory size in bytes ("256m", "1 gb"). */
  getMemorySize(key: string): number | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    const bytes = parseMemorySize(v)
    if (bytes === undefined) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not a memory size (e.g. 256m, 1 gb, 1048576)`)
    return this.inRange(key, v, bytes, false)
  }

  getEnum<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const v = this.getString(key)
    if (v === undefined) return undefined
    const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase())
    if (hit === undefined) throw new ConfigError(`Invalid value for '${this.nameOf(key)}': '${v}' is not one of ${allowed.join(', ')}`)
    return hit
  }
}
