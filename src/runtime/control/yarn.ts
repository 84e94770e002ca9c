/**
 * Finds a job manager's REST endpoint through YARN, for `-yid <applicationId>`, the way Flink's
 * YARN client does (YarnClusterDescriptor.retrieve): it asks the ResourceManager for the
 * application's report; an application whose final status is no longer UNDEFINED "doesn't run
 * anymore"; otherwise the job manager is at the report's host and RPC port (a Flink job manager
 * registers with YARN using its REST port as the RPC port, and its web interface as the tracking
 * URL). tsflink reads the report over the ResourceManager's REST API instead of its RPC protocol:
 * GET http://<rm>/ws/v1/cluster/apps/<id>, whose `amRPCAddress` is that host:port (the tracking
 * URL's host and port only where an old ResourceManager leaves amRPCAddress out).
 *
 * The ResourceManager's web address: `yarn.resourcemanager.webapp.address` in tsflink's
 * configuration, else from yarn-site.xml in YARN_CONF_DIR, then HADOOP_CONF_DIR (with Hadoop's
 * defaults and `${...}` substitution: `${yarn.resourcemanager.hostname}:8088`). Plain HTTP;
 * ResourceManager HA (rm-ids) and Kerberos are not supported.
 * Never imports the CLI; never writes to stdout. Tests: test/yarn.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { join } from 'node:path'
import type { Configuration } from '../config/configuration.js'
import { TsflinkError } from '../errors.js'

const APP_ID = /^application_\d+_\d+$/
const TIMEOUT_MS = 15_000

/** Hadoop's defaults for the keys read here (yarn-default.xml). */
const DEFAULTS: Record<string, string> = {
  'yarn.resourcemanager.hostname': '0.0.0.0',
  'yarn.resourcemanager.webapp.address': '${yarn.resourcemanager.hostname}:8088',
}

/** The `<property><name>…</name><value>…</value></property>` pairs of a Hadoop *-site.xml. */
export function parseSiteXml(xml: string): Map<string, string> {
  const out = new Map<string, string>()
  const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&').trim()
  for (const m of xml.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<property\b[^>]*>([\s\S]*?)<\/property>/g)) {
    const name = /<name>([\s\S]*?)<\/name>/.exec(m[1]!)?.[1]
    const value = /<value>([\s\S]*?)<\/value>/.exec(m[1]!)?.[1] ?? (/<value\s*\/>/.test(m[1]!) ? '' : undefined)
    if (name !== undefined && value !== undefined) out.set(unescape(name), unescape(value))
  }
  return out
}

/** Hadoop's variable expansion: `${key}` from the same properties, the defaults, then the environment (`${env.NAME}`). */
function expand(value: string, props: Map<string, string>, env: NodeJS.ProcessEnv, depth = 0): string {
  if (depth > 20) return value
  return value.replace(/\$\{([^}$\s]+)\}/g, (whole, key: string) => {
    const v = key.startsWith('env.') ? env[key.slice(4)] : props.get(key) ?? DEFAULTS[key]
    return v === undefined ? whole : expand(v, props, env, depth + 1)
  })
}

export interface ResourceManagerAddress {
  /** host:port of the ResourceManager's web server (REST API). */
  address: string
  /** Where it came from, for messages. */
  source: string
}

/** The ResourceManager's web address: configuration key, yarn-site.xml in YARN_CONF_DIR / HADOOP_CONF_DIR, or Hadoop's default. */
export function resourceManagerAddress(config: Configuration | undefined, env: NodeJS.ProcessEnv = process.env): ResourceManagerAddress {
  const key = 'yarn.resourcemanager.webapp.address'
  const configured = config?.getString(key)
  if (configured !== undefined && configured !== '') return { address: configured.replace(/^https?:\/\//i, '').replace(/\/+$/, ''), source: key }
  for (const dirVar of ['YARN_CONF_DIR', 'HADOOP_CONF_DIR']) {
    const dir = env[dirVar]
    if (dir === undefined || dir === '') continue
    const file = join(dir, 'yarn-site.xml')
    if (!existsSync(file)) continue
    const props = parseSiteXml(readFileSync(file, 'utf8'))
    const raw = props.get(key) ?? DEFAULTS[key]!
    return { address: expand(raw, props, env), source: `${file} (${dirVar})` }
  }
  return { address: expand(DEFAULTS[key]!, new Map(), env), source: 'Hadoop\'s default (set yarn.resourcemanager.webapp.address, or HADOOP_CONF_DIR to a folder with yarn-site.xml)' }
}

/** What the ResourceManager's REST API says of an application (the fields read here). */
interface AppInfo {
  id?: string
  state?: string
  finalStatus?: string
  amRPCAddress?: string | null
  trackingUrl?: string | null
}

/**
 * The REST endpoint (host:port) of the job manager that runs as YARN application `appId`.
 * Throws a one-line error when the id is malformed, the ResourceManager cannot be reached, the
 * application is unknown, has ended, or has not registered its job manager yet.
 */
export async function jobManagerFromYarn(appId: string, config: Configuration | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (!APP_ID.test(appId)) {
    throw new TsflinkError(`Invalid YARN application id '${appId}': expected application_<cluster timestamp>_<sequence number>`, { kind: 'usage' })
  }
  const rm = resourceManagerAddress(config, env)
  const url = `http://${rm.address}/ws/v1/cluster/apps/${appId}`
  let res: { status: number; text: string }
  try {
    res = await getText(url)
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string }
    const reason = e.name === 'TimeoutError' ? 'timed out' : e.code ?? e.message
    throw new TsflinkError(`Could not reach the YARN ResourceManager at ${rm.address} (from ${rm.source}): ${reason}`)
  }
  const text = res.text
  if (res.status === 404) throw new TsflinkError(`YARN application ${appId} is unknown to the ResourceManager at ${rm.address}`)
  if (res.status !== 200) throw new TsflinkError(`The YARN ResourceManager at ${rm.address} answered HTTP ${res.status} for application ${appId}`)
  let app: AppInfo | undefined
  try {
    app = (JSON.parse(text) as { app?: AppInfo }).app
  } catch {
    // below
  }
  if (app === undefined) throw new TsflinkError(`The YARN ResourceManager at ${rm.address} answered no application report for ${appId}`)
  // Flink: "The Yarn application <id> doesn't run anymore." once its final status is set.
  if (app.finalStatus !== undefined && app.finalStatus !== 'UNDEFINED') {
    throw new TsflinkError(`The YARN application ${appId} doesn't run anymore: it ended ${app.state ?? ''} with final status ${app.finalStatus}`.replace(/ {2,}/g, ' '))
  }
  const rpc = app.amRPCAddress
  if (typeof rpc === 'string' && /:\d+$/.test(rpc) && !rpc.endsWith(':-1')) return rpc
  if (rpc === undefined && typeof app.trackingUrl === 'string') {
    try {
      const u = new URL(app.trackingUrl)
      if (u.port !== '') return `${u.hostname}:${u.port}`
    } catch {
      // not a URL
    }
  }
  throw new TsflinkError(`The YARN application ${appId} is ${app.state ?? 'not running'}: its job manager has not registered with the ResourceManager yet`)
}

/** GET with node:http (fetch refuses some ports outright, and a ResourceManager may listen on any). */
function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((ok, fail) => {
    const req = get(url, { headers: { accept: 'application/json' }, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', fail)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })))
    req.on('error', fail)
  })
}
