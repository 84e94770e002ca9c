/**
 * Starts a real Hadoop mini cluster for a test file: HDFS (MiniDFSCluster: a NameNode serving
 * WebHDFS and one DataNode) and/or YARN (MiniYARNCluster: a ResourceManager; no NodeManager), in
 * one JVM on 127.0.0.1 with free ports, from the jars scripts/install-hadoop.sh resolves from Maven
 * Central (run here if they are missing). Its launcher, test/servers/hadoop/MiniHadoop.java, is
 * compiled here once per source version into .cache/hadoop/<version>/.
 *
 * `registerAm()` runs test/servers/hadoop/UnmanagedAm.java: an application submitted to the
 * ResourceManager with an unmanaged application master, registered with the host, RPC port and
 * tracking URL given (what a Flink job manager on YARN registers).
 *
 * Without Java (a JDK) or Maven the HDFS and YARN tests skip, naming what is missing; in CI
 * (CI=true) they fail. The cluster's JVM runs in a process group of its own that dies with the
 * test process (its wrapper shell watches our stdin); stop() kills the group and deletes the data.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { freePort } from './ports.js'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SOURCES = join(ROOT, 'test', 'servers', 'hadoop')
/** The Hadoop version the tests run: the install script's default, or HADOOP_VERSION. */
export const HADOOP_VERSION = process.env.HADOOP_VERSION ?? /version=\$\{HADOOP_VERSION:-([^}]+)\}/.exec(readFileSync(join(ROOT, 'scripts', 'install-hadoop.sh'), 'utf8'))![1]!
const home = (): string => join(ROOT, '.cache', 'hadoop', HADOOP_VERSION)
const installed = (): boolean => existsSync(join(home(), '.complete'))

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
}

let checked: string | false | undefined
/** Why the HDFS/YARN tests cannot run here (a reason to skip), or false. In CI always false: a missing peer fails. */
export function hadoopSkip(): string | false {
  if (checked !== undefined) return checked
  if (process.env.CI === 'true') return (checked = false)
  const missing = [
    has('java', ['-version']) ? undefined : 'java (17+)',
    has('javac', ['-version']) ? undefined : 'javac (a JDK, to compile the mini cluster launcher)',
    installed() || has('mvn', ['-v']) ? undefined : 'mvn (Maven, to fetch Hadoop from Maven Central)',
  ].filter((m) => m !== undefined)
  checked = missing.length === 0 ? false : `HDFS/YARN tests skipped: ${missing.join(' and ')} not found; install them, then scripts/install-hadoop.sh`
  if (checked !== false) process.stderr.write(`\n*** ${checked} ***\n\n`)
  return checked
}


const LOG4J = [
  'log4j.rootLogger=WARN, stderr',
  'log4j.appender.stderr=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stderr.Target=System.err',
  'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stderr.layout.ConversionPattern=%d{HH:mm:ss,SSS} %p %c{1}: %m%n',
  '',
].join('\n')

/** Installs Hadoop if needed and compiles the launchers (once per source version); returns the class path. */
function prepare(): string {
  if (!installed()) execFileSync('bash', [join(ROOT, 'scripts', 'install-hadoop.sh')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, HADOOP_VERSION } })
  const libs = join(home(), 'libs')
  const files = ['MiniHadoop.java', 'UnmanagedAm.java'].map((f) => join(SOURCES, f))
  const hash = createHash('sha256')
  for (const f of files) hash.update(readFileSync(f))
  const classes = join(home(), `classes-${hash.digest('hex').slice(0, 12)}`)
  if (!existsSync(join(classes, 'UnmanagedAm.class'))) {
    const work = mkdtempSync(join(home(), 'compiling-'))
    try {
      execFileSync('javac', ['-nowarn', '-d', work, '-cp', `${libs}/*`, ...files], { stdio: ['ignore', 'ignore', 'inherit'] })
      writeFileSync(join(work, 'log4j.properties'), LOG4J)
      try {
        renameSync(work, classes)
      } catch (e) {
        if (!existsSync(join(classes, 'UnmanagedAm.class'))) throw e // else another test file won the race
      }
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }
  return `${classes}:${libs}/*`
}

const JVM = [
  '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto', '-XX:-UsePerfData', '-Djava.awt.headless=true',
  // Hadoop 3.4 on Java 17 (Guice's class generation, Hadoop's reflection).
  ...['java.lang', 'java.lang.reflect', 'java.util', 'java.util.concurrent', 'java.net', 'java.io', 'java.nio', 'sun.nio.ch'].map((p) => `--add-opens=java.base/${p}=ALL-UNNAMED`),
]

export interface UnmanagedAm {
  readonly appId: string
  /** Unregisters (final status SUCCEEDED): the application is FINISHED. */
  finish(): Promise<void>
  /** SIGKILL: the AM is gone, the application stays RUNNING until the RM's AM liveness timeout. */
  kill(): Promise<void>
}

export interface HadoopCluster {
  /** hdfs://127.0.0.1:<NameNode RPC port>, when HDFS runs. */
  readonly nameNode: string
  /** 127.0.0.1:<NameNode HTTP port>: WebHDFS. */
  readonly webhdfs: string
  /** 127.0.0.1:<port> of the ResourceManager's web/REST server, when YARN runs. */
  readonly rmWebapp: string
  /** A HADOOP_CONF_DIR holding the ResourceManager's yarn-site.xml, when YARN runs. */
  readonly confDir: string
  /** -D arguments that point tsflink at this cluster (fs.hdfs.webhdfs.address). */
  readonly cliConfig: string[]
  readonly config: [string, string][]
  /** Submits an application with an unmanaged AM and registers it with this host, RPC port and tracking URL. */
  registerAm(opts: { host: string; port: number; trackingUrl: string; name?: string }): Promise<UnmanagedAm>
  /** Kills the cluster's JVM (process group) and every AM started here, and deletes the data. */
  stop(): Promise<void>
}

async function lineFrom(c: ChildProcess, what: string, output: () => string, timeoutMs: number): Promise<string> {
  const lines = createInterface({ input: c.stdout! })
  return new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not answer within ${timeoutMs / 1000} s:\n${output()}`)), timeoutMs)
    lines.once('line', (l) => {
      clearTimeout(timer)
      ok(l)
    })
    c.once('exit', (code) => {
      clearTimeout(timer)
      fail(new Error(`${what} exited with ${code}:\n${output()}`))
    })
  })
}

export async function startHadoop(parts: { hdfs?: boolean; yarn?: boolean } = { hdfs: true }): Promise<HadoopCluster> {
  const cp = prepare()
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-hadoop-'))
  const [nnRpc, nnHttp, rm, rmScheduler, rmTracker, rmAdmin, rmWeb] = await Promise.all(Array.from({ length: 7 }, () => freePort()))
  const which = [parts.hdfs === true ? 'dfs' : '', parts.yarn === true ? 'yarn' : ''].filter((p) => p !== '').join(',')
  const conf = [
    `tsflink.nn.rpc.port=${nnRpc}`, `tsflink.nn.http.port=${nnHttp}`,
    // Listings come in pages of 100 entries (Hadoop's default is 1000), so that the tests' folders
    // of a few hundred files need several LISTSTATUS_BATCH pages.
    'dfs.ls.limit=100',
    `yarn.resourcemanager.hostname=127.0.0.1`,
    `yarn.resourcemanager.address=127.0.0.1:${rm}`,
    `yarn.resourcemanager.scheduler.address=127.0.0.1:${rmScheduler}`,
    `yarn.resourcemanager.resource-tracker.address=127.0.0.1:${rmTracker}`,
    `yarn.resourcemanager.admin.address=127.0.0.1:${rmAdmin}`,
    `yarn.resourcemanager.webapp.address=127.0.0.1:${rmWeb}`,
  ]
  const args = ['-Xms64m', '-Xmx512m', ...JVM, `-Dlog4j.configuration=log4j.properties`, '-cp', cp, 'MiniHadoop', dir, which, ...conf]
  // The JVM runs in the wrapper's process group; the group is killed when our end of the wrapper's
  // stdin closes (this process ended, however) or when stop() kills it.
  const wrapper = 'exec 3<&0; java "$@" </dev/null & j=$!; { cat <&3 >/dev/null; kill -9 -- -$$; } & wait "$j"; kill -9 -- -$$'
  const child = spawn('bash', ['-c', wrapper, 'hadoop', ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, cwd: dir })
  let output = ''
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)))
  const killGroup = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((r) => child.once('exit', r))
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
    child.stdin!.end()
    await gone
  }
  try {
    const line = await lineFrom(child, `Hadoop ${HADOOP_VERSION} mini cluster (${which})`, () => output, Number(process.env.HADOOP_READY_MS ?? 180_000))
    if (line !== 'READY') throw new Error(`Hadoop mini cluster said '${line}':\n${output}`)
  } catch (e) {
    await killGroup()
    rmSync(dir, { recursive: true, force: true })
    throw e
  }

  const ams: ChildProcess[] = []
  const webhdfs = `127.0.0.1:${nnHttp}`
  const confDir = join(dir, 'conf')
  return {
    nameNode: `hdfs://127.0.0.1:${nnRpc}`,
    webhdfs,
    rmWebapp: `127.0.0.1:${rmWeb}`,
    confDir,
    cliConfig: ['-D', `fs.hdfs.webhdfs.address=${webhdfs}`],
    config: [['fs.hdfs.webhdfs.address', webhdfs]],
    async registerAm({ host, port, trackingUrl, name = 'tsflink' }) {
      const am = spawn('java', ['-Xms32m', '-Xmx128m', ...JVM, '-Dlog4j.configuration=log4j.properties', '-cp', cp, 'UnmanagedAm', confDir, host, String(port), trackingUrl, name],
        { stdio: ['pipe', 'pipe', 'pipe'], cwd: dir })
      ams.push(am)
      let amOut = ''
      am.stderr!.on('data', (d: Buffer) => (amOut = (amOut + d.toString()).slice(-20_000)))
      const appId = await lineFrom(am, 'the unmanaged AM', () => amOut, 120_000)
      if (!/^application_\d+_\d+$/.test(appId)) throw new Error(`the unmanaged AM said '${appId}':\n${amOut}`)
      const lines = createInterface({ input: am.stdout! })
      const exited = new Promise((r) => am.once('exit', r))
      return {
        appId,
        async finish() {
          const done = new Promise<void>((ok) => lines.on('line', (l) => l === 'FINISHED' && ok()))
          am.stdin!.write('finish\n')
          await Promise.race([done, exited])
          await exited
        },
        async kill() {
          if (am.exitCode === null && am.signalCode === null) am.kill('SIGKILL')
          await exited
        },
      }
    },
    async stop() {
      for (const am of ams) {
        if (am.exitCode === null && am.signalCode === null) {
          const gone = new Promise((r) => am.once('exit', r))
          am.kill('SIGKILL')
          await gone
        }
      }
      await killGroup()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
