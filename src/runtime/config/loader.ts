/**
 * Finds and reads the YAML configuration: `--config-dir`, else $TSFLINK_CONF_DIR, else
 * $FLINK_CONF_DIR, else ./conf; in it `config.yaml` (nested or flat keys) or the legacy
 * `flink-conf.yaml` (flat). Malformed YAML is an error naming file and line; unknown keys are
 * returned as warnings for the caller to show. Reads files; writes nothing.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseDocument } from 'yaml'
import { ConfigError } from '../errors.js'
import { Configuration } from './configuration.js'
import { optionFor } from './options.js'

export interface LoadedConfig {
  config: Configuration
  /** The file read, if any. */
  file: string | undefined
  warnings: string[]
}

export function findConfigDir(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) return resolve(explicit)
  const fromEnv = env.TSFLINK_CONF_DIR ?? env.FLINK_CONF_DIR
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv)
  return resolve('conf')
}

export function loadConfig(explicitDir?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const dir = findConfigDir(explicitDir, env)
  if (explicitDir !== undefined && !existsSync(dir)) {
    throw new ConfigError(`Configuration directory '${dir}' does not exist`, { kind: 'usage' })
  }
  for (const name of ['config.yaml', 'flink-conf.yaml']) {
    const file = join(dir, name)
    if (existsSync(file)) return { ...parseConfigText(readFileSync(file, 'utf8'), file), file }
  }
  return { config: new Configuration(), file: undefined, warnings: [] }
}

/** Parses YAML text (nested maps are flattened with dots) and validates known keys' values. */
export function parseConfigText(text: string, origin: string): { config: Configuration; warnings: string[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false })
  const first = doc.errors[0]
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line
    const what = first.message.split('\n')[0]
    throw new ConfigError(`Malformed YAML in ${origin}${line === undefined ? '' : ` at line ${line}`}: ${what}`)
  }
  const data: unknown = doc.toJS()
  const config = new Configuration()
  const warnings: string[] = []
  if (data === null || data === undefined) return { config, warnings }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`Malformed configuration in ${origin}: expected a map of keys to values`)
  }
  flatten(data as Record<string, unknown>, '', (key, value) => {
    if (optionFor(key) === undefined) warnings.push(`Unknown configuration key '${key}' in ${origin}`)
    config.set(key, value)
  })
  config.validate(origin)
  return { config, warnings }
}

function flatten(obj: Record<string, unknown>, prefix: string, put: (k: string, v: string) => void): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix === '' ? k : `${prefix}.${k}`
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, key, put)
    else if (Array.isArray(v)) put(key, v.join(';'))
    else put(key, v === null ? '' : String(v))
  }
}

/** Parses `-D key=value` arguments. */
export function parseDynamicProperties(pairs: readonly string[]): Configuration {
  const c = new Configuration()
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0) throw new ConfigError(`Invalid -D argument '${p}': expected key=value`, { kind: 'usage' })
    c.set(p.slice(0, i).trim(), p.slice(i + 1).trim())
  }
  c.validate('-D', 'usage')
  return c
}
