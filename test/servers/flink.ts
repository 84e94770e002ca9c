/**
 * Starts a real Apache Flink standalone session cluster for a test file: one JobManager and one
 * TaskManager on 127.0.0.1 with free ports, their own conf and log folders under a temp folder,
 * small heaps. Flink is installed once by scripts/install-flink.sh into .cache/flink/<version>/;
 * the test job (test/flink-job) is compiled once by flink-job.ts.
 * `stop()` kills both JVMs for sure (SIGTERM, then SIGKILL); a watchdog kills them as well when the
 * test process dies without stopping them. Without Java (or with Flink not installable) the Flink
 * suites skip, naming what is missing; in CI (CI=true) that is a failure instead.
 * `plugins: ['s3']` loads Flink's S3 file system plugin (fetched once with Maven, s3Plugin()).
 * Used by test/integration/flink-cluster.test.ts, flink-cli.test.ts, flink-client.test.ts,
 * flink-s3.test.ts and scripts/flink-fixtures.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { freePort } from './ports.js'

const ROOT = resolve(import.meta.dirname, '..', '..')

/** The Flink version the tests run against (scripts/install-flink.sh installs it). */
export const FLINK_VERSION = process.env['TSFLINK_TEST_FLINK_VERSION'] ?? '2.2.1'

let availability: { home?: string; missing?: string } | undefined

/**
 * FLINK_HOME of the installed test distribution (installing it on first use), or the reason why
 * there is none. In CI a missing Java or a failed install throws instead.
 */
export function flinkHome(version = FLINK_VERSION): { home?: string; missing?: string } {
  if (availability && version === FLINK_VERSION) return availability
  let result: { home?: string; missing?: string }
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' })
  if (java.error || java.status !== 0) {
    result = { missing: 'Java (no `java` on PATH; Flink needs Java 11 or 17)' }
  } else {
    const install = spawnSync('bash', [resolve(ROOT, 'scripts', 'install-flink.sh'), version], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const home = install.stdout.trim().split('\n').pop() ?? ''
    result = install.status === 0 && existsSync(join(home, 'bin', 'flink'))
      ? { home }
      : { missing: `Apache Flink ${version} (scripts/install-flink.sh failed with exit ${install.status})` }
  }
  if (result.missing && process.env['CI'] === 'true') throw new Error(`Flink tests cannot run in CI: missing ${result.missing}`)
  if (version === FLINK_VERSION) availability = result
  return result
}

/** `undefined` when the Flink suites can run; otherwise a loud skip reason naming what is missing. */
export function flinkSkipReason(): string | undefined {
  const { missing } = flinkHome()
  if (!missing) return undefined
  const reason = `Flink suites skipped: missing ${missing}`
  process.stderr.write(`\n*** ${reason} ***\n\n`)
  return reason
}

export interface FlinkClusterOptions {
  version?: string
  /** Task slots of the one TaskManager (default 4). */
  slots?: number
  /** Extra configuration keys (flat Flink keys); `{dir}` in a value stands for the cluster's temp folder. */
  config?: Record<string, string>
  /** File system plugins to load (FLINK_PLUGINS_DIR of the cluster's own): 's3' is flink-s3-fs-hadoop (s3flinkPlugin()). */
  plugins?: 's3'[]
}

export interface FlinkCluster {
  version: string
  home: string
  /** `127.0.0.1:<rest port>`, what `-m` takes. */
  address: string
  restUrl: string
  /** Temp folder of this cluster: conf/, log/, checkpoints/, savepoints/. */
  dir: string
  confDir: string
  logDir: string
  checkpointsDir: string
  savepointsDir: string
  /** Runs the real `bin/flink` against this cluster's configuration. */
  flink(args: string[], timeoutMs?: number): { status: number | null; stdout: string; stderr: string }
  /** GET (or another method) on the REST API; JSON answer. */
  rest<T = unknown>(path: string, init?: { method?: string; body?: unknown }): Promise<T>
  /** What the TaskManager wrote to stdout so far (print() sinks end up here). */
  taskManagerOut(): string
  /** Both JVM logs, for failure messages. */
  logs(): string
  stop(): Promise<void>
}


/** The `env.java.opts.all` line of the distribution's default config (Java 17 needs its --add-opens). */
function defaultJavaOpts(home: string): string {
  const text = readFileSync(join(home, 'conf', 'config.yaml'), 'utf8')
  const match = /^\s*all:\s*(--add-.*)$/m.exec(text)
  return match?.[1]?.trim() ?? ''
}

function yamlScalar(value: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(value) && !/^(true|false|null|yes|no|on|off)$/i.test(value) ? value : JSON.stringify(value)
}

export async function startFlinkCluster(options: FlinkClusterOptions = {}): Promise<FlinkCluster> {
  const version = options.version ?? FLINK_VERSION
  const { home, missing } = flinkHome(version)
  if (!home) throw new Error(`cannot start Flink: missing ${missing}`)
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-flink-'))
  const confDir = join(dir, 'conf')
  const logDir = join(dir, 'log')
  const checkpointsDir = join(dir, 'checkpoints')
  const savepointsDir = join(dir, 'savepoints')
  for (const d of [confDir, logDir, checkpointsDir, savepointsDir, join(dir, 'pid'), join(dir, 'tmp')]) mkdirSync(d, { recursive: true })
  const [restPort, rpcPort, tmRpcPort, dataPort, blobPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  const config: Record<string, string> = {
    'env.java.opts.all': `${defaultJavaOpts(home)} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC`,
    'jobmanager.rpc.address': '127.0.0.1',
    'jobmanager.bind-host': '127.0.0.1',
    'jobmanager.rpc.port': String(rpcPort),
    'jobmanager.memory.process.size': '768m',
    'jobmanager.execution.failover-strategy': 'region',
    'taskmanager.host': '127.0.0.1',
    'taskmanager.bind-host': '127.0.0.1',
    'taskmanager.rpc.port': String(tmRpcPort),
    'taskmanager.data.port': String(dataPort),
    'taskmanager.numberOfTaskSlots': String(options.slots ?? 4),
    'taskmanager.memory.process.size': '1280m',
    'blob.server.port': String(blobPort),
    'rest.address': '127.0.0.1',
    'rest.bind-address': '127.0.0.1',
    'rest.port': String(restPort),
    'io.tmp.dirs': join(dir, 'tmp'),
    'parallelism.default': '1',
    'execution.checkpointing.dir': `file://${checkpointsDir}`,
    'execution.checkpointing.savepoint-dir': `file://${savepointsDir}`,
    'state.checkpoints.dir': `file://${checkpointsDir}`,
    'state.savepoints.dir': `file://${savepointsDir}`,
    'heartbeat.interval': '2000',
    'heartbeat.timeout': '20000',
    'resourcemanager.taskmanager-registration.timeout': '60 s',
    ...Object.fromEntries(Object.entries(options.config ?? {}).map(([k, v]) => [k, v.replaceAll('{dir}', dir)])),
  }
  writeFileSync(join(confDir, 'config.yaml'), Object.entries(config).map(([k, v]) => `${k}: ${yamlScalar(v)}\n`).join(''))
  for (const f of ['log4j-console.properties', 'log4j-cli.properties', 'log4j.properties', 'logback-console.xml', 'logback.xml']) {
    if (existsSync(join(home, 'conf', f))) copyFileSync(join(home, 'conf', f), join(confDir, f))
  }
  const pluginsDir = join(dir, 'plugins')
  for (const plugin of options.plugins ?? []) {
    const jar = s3Plugin()
    mkdirSync(join(pluginsDir, `${plugin}-fs-hadoop`), { recursive: true })
    copyFileSync(jar, join(pluginsDir, `${plugin}-fs-hadoop`, basename(jar)))
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FLINK_HOME: home,
    ...(options.plugins === undefined ? {} : { FLINK_PLUGINS_DIR: pluginsDir }),
    FLINK_CONF_DIR: confDir,
    FLINK_LOG_DIR: logDir,
    FLINK_PID_DIR: join(dir, 'pid'),
    FLINK_IDENT_STRING: 'tsflink-test',
    STD_REDIRECT_TO_FILE: 'true',
  }
  delete env['FLINK_ENV_JAVA_OPTS']
  const children: ChildProcess[] = []
  const startDaemon = (script: string): ChildProcess => {
    const out = openSync(join(logDir, `${script}.console`), 'a')
    const child = spawn(join(home, 'bin', `${script}.sh`), ['start-foreground'], { env, stdio: ['ignore', out, out] })
    closeSync(out)
    children.push(child)
    return child
  }
  const jm = startDaemon('jobmanager')
  const tm = startDaemon('taskmanager')
  // Watchdog: if this test process dies without stop(), kill the JVMs (the start scripts exec into them).
  const watchdog = spawn('bash', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${jm.pid} ${tm.pid} 2>/dev/null`], { stdio: 'ignore', detached: true })
  watchdog.unref()
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
  process.once('exit', killAll)

  const restUrl = `http://127.0.0.1:${restPort}`
  const logs = (): string => readdirSync(logDir).filter((f) => f.endsWith('.log') || f.endsWith('.console'))
    .map((f) => `--- ${f}\n${readFileSync(join(logDir, f), 'utf8').split('\n').slice(-60).join('\n')}`).join('\n')
  const rest = async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const response = await fetch(restUrl + path, {
      method: init.method ?? 'GET',
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } }),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`Flink REST ${init.method ?? 'GET'} ${path}: ${response.status} ${text}`)
    return (text ? JSON.parse(text) : undefined) as T
  }
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killAll)
    const exits = children.map((c) => c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())))
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM')
    const timer = setTimeout(killAll, 5000)
    await Promise.all(exits)
    clearTimeout(timer)
    try { process.kill(-watchdog.pid!, 'SIGKILL') } catch { /* already gone */ }
    if (process.env['TSFLINK_KEEP_FLINK_DIR'] !== '1') rmSync(dir, { recursive: true, force: true })
  }

  const cluster: FlinkCluster = {
    version, home, address: `127.0.0.1:${restPort}`, restUrl, dir, confDir, logDir, checkpointsDir, savepointsDir,
    flink(args, timeoutMs = 120_000) {
      const r = spawnSync(join(home, 'bin', 'flink'), args, { env, encoding: 'utf8', timeout: timeoutMs })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    rest,
    taskManagerOut() {
      return readdirSync(logDir).filter((f) => f.includes('taskexecutor') && f.endsWith('.out'))
        .map((f) => readFileSync(join(logDir, f), 'utf8')).join('')
    },
    logs,
    stop,
  }

  // Ready when the REST API answers and a TaskManager registered its slots.
  const deadline = Date.now() + 180_000
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null)
    if (dead) {
      const text = logs()
      await stop()
      throw new Error(`a Flink JVM exited during startup (${dead === jm ? 'jobmanager' : 'taskmanager'}, exit ${dead.exitCode ?? dead.signalCode})\n${text}`)
    }
    try {
      const overview = await rest<{ taskmanagers: number; 'slots-total': number }>('/overview')
      if (overview.taskmanagers >= 1 && overview['slots-total'] >= 1) break
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      const text = logs()
      await stop()
      throw new Error(`Flink cluster did not come up within 180 s\n${text}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return cluster
}

/**
 * Flink's S3 file system plugin (flink-s3-fs-hadoop), fetched once from Maven Central with Maven
 * into .cache/flink-plugins/ (the PyPI distribution has no opt/ jars). Plugins are loaded in
 * their own class loader, so the plugin of the nearest published release (S3_PLUGIN_VERSION)
 * serves the test distribution. Throws, naming what failed, when Maven cannot fetch it.
 */
export const S3_PLUGIN_VERSION = process.env['TSFLINK_TEST_S3_PLUGIN_VERSION'] ?? '2.2.0'
export function s3Plugin(version = S3_PLUGIN_VERSION): string {
  const out = join(ROOT, '.cache', 'flink-plugins', version)
  const jar = join(out, `flink-s3-fs-hadoop-${version}.jar`)
  if (existsSync(jar)) return jar
  const work = `${out}.fetch-${process.pid}`
  const r = spawnSync('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=org.apache.flink:flink-s3-fs-hadoop:${version}`, `-DoutputDirectory=${work}`], { encoding: 'utf8' })
  if (r.status !== 0 || !existsSync(join(work, basename(jar)))) {
    rmSync(work, { recursive: true, force: true })
    throw new Error(`fetching flink-s3-fs-hadoop ${version} with Maven failed (exit ${r.status}): ${String(r.stdout).slice(-2000)}${String(r.stderr).slice(-2000)}`)
  }
  mkdirSync(out, { recursive: true })
  renameSync(join(work, basename(jar)), jar)
  rmSync(work, { recursive: true, force: true })
  return jar
}

/** Polls `f` every 250 ms until it returns something other than undefined. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** The lines the test job (test/flink-job CounterJob) printed on the TaskManager so far: n, key, count. */
export function counterLines(cluster: FlinkCluster): { n: number; key: number; count: number }[] {
  return cluster.taskManagerOut().split('\n').flatMap((l) => {
    const m = /n=(\d+) key=(\d+) count=(\d+)/.exec(l)
    return m ? [{ n: Number(m[1]), key: Number(m[2]), count: Number(m[3]) }] : []
  })
}

/**
 * Checks the lines a job restored from a snapshot printed (`restored`, after `before` of the jobs
 * before it): every count is exact (record n is the n / keys + 1-th of its key), the source
 * resumed where the snapshot left it (not at 0, not past what was printed before), and no record
 * was skipped. Returns the first n after the restore.
 */
export function assertCountsContinue(before: { n: number }[], restored: { n: number; key: number; count: number }[], keys: number): number {
  if (restored.length === 0) throw new Error('the restored job printed nothing')
  for (const l of restored) {
    if (l.count !== Math.floor(l.n / keys) + 1) throw new Error(`after the restore: n=${l.n} key=${l.key} count=${l.count}, expected ${Math.floor(l.n / keys) + 1}`)
  }
  const maxBefore = before.reduce((m, l) => Math.max(m, l.n), -1)
  const first = restored[0]!.n
  if (!(first > 0 && first <= maxBefore + 1)) throw new Error(`resumed at ${first} (before: up to ${maxBefore})`)
  restored.forEach((l, i) => {
    if (l.n !== first + i) throw new Error(`record ${first + i} skipped or reordered after the restore (got ${l.n})`)
  })
  return first
}

/** What Flink's own deserializer finds in a `_metadata` (test/flink-job MetadataDump): the test oracle for what a checkpoint references. */
export interface FlinkMetadataDump {
  checkpointId: number
  files: { path: string; relative: boolean; shared: boolean; size?: number; minSize?: number }[]
}

/** Runs MetadataDump (built into the test job's jar) on the checkpoint or savepoint directory `dir`. */
export function dumpMetadata(cluster: FlinkCluster, jar: string, dir: string): FlinkMetadataDump {
  const r = spawnSync('java', ['-cp', `${jar}:${join(cluster.home, 'lib')}/*`, 'tsflink.testjob.MetadataDump', dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`MetadataDump ${dir} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as FlinkMetadataDump
}

/**
 * Flink's own reading of a REST answer (test/flink-probe/RestProbe.java, compiled once with javac
 * against the distribution's lib/ into .cache/flink-probe/): GETs `url` and parses it with Flink's
 * message class `messageClass` and its strict JSON mapper. status 0 and what Flink understood
 * (written back as JSON), or 1 and the error.
 */
export function flinkRestProbe(url: string, messageClass: string, bearer?: string): { status: number | null; stdout: string } {
  const { home, missing } = flinkHome()
  if (!home) throw new Error(`no Flink: missing ${missing}`)
  const source = join(ROOT, 'test', 'flink-probe', 'RestProbe.java')
  const out = join(ROOT, '.cache', 'flink-probe', createHash('sha256').update(readFileSync(source)).update(home).digest('hex').slice(0, 16))
  if (!existsSync(join(out, 'RestProbe.class'))) {
    const work = `${out}.build-${process.pid}`
    mkdirSync(work, { recursive: true })
    const javac = spawnSync('javac', ['-d', work, '-cp', `${join(home, 'lib')}/*`, source], { encoding: 'utf8' })
    if (javac.status !== 0) throw new Error(`javac RestProbe.java failed: ${javac.stderr}`)
    rmSync(out, { recursive: true, force: true })
    renameSync(work, out)
  }
  const r = spawnSync('java', ['-cp', `${join(home, 'lib')}/*:${out}`, 'RestProbe', url, messageClass, ...(bearer === undefined ? [] : [bearer])], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout.trim() }
}

/** Every file below `dir` (recursively), as absolute paths, sorted. */
export function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    return e.isDirectory() ? filesBelow(p) : [p]
  }).sort()
}

/**
 * Flink's own CLI (`bin/flink` of the installed distribution) with a configuration of its own and
 * no cluster: for driving other REST endpoints (tsflink's) with `-m host:port`. REST retries are
 * off, so a refused request fails at once. `extraConfig`: more config.yaml keys.
 */
export function flinkClient(extraConfig: Record<string, string> = {}): { home: string; run(args: string[], timeoutMs?: number): { status: number | null; stdout: string; stderr: string }; cleanup(): void } {
  const { home, missing } = flinkHome()
  if (!home) throw new Error(`no Flink CLI: missing ${missing}`)
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-flink-cli-'))
  const confDir = join(dir, 'conf')
  mkdirSync(confDir)
  mkdirSync(join(dir, 'log'))
  const config: Record<string, string> = {
    'env.java.opts.all': `${defaultJavaOpts(home)} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC`,
    'rest.retry.max-attempts': '0',
    'rest.retry.delay': '100',
    ...extraConfig,
  }
  writeFileSync(join(confDir, 'config.yaml'), Object.entries(config).map(([k, v]) => `${k}: ${yamlScalar(v)}\n`).join(''))
  for (const f of ['log4j-cli.properties', 'logback.xml']) if (existsSync(join(home, 'conf', f))) copyFileSync(join(home, 'conf', f), join(confDir, f))
  const env: NodeJS.ProcessEnv = { ...process.env, FLINK_HOME: home, FLINK_CONF_DIR: confDir, FLINK_LOG_DIR: join(dir, 'log') }
  delete env['FLINK_ENV_JAVA_OPTS']
  return {
    home,
    run(args, timeoutMs = 120_000) {
      const r = spawnSync(join(home, 'bin', 'flink'), args, { env, encoding: 'utf8', timeout: timeoutMs })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    },
    cleanup() { rmSync(dir, { recursive: true, force: true }) },
  }
}
