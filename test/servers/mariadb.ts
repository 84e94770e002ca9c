/**
 * Starts a real MariaDB server (MySQL protocol) for a test file: Debian's mariadb-server (installed
 * by scripts/install-mariadb.sh), as the current user, on 127.0.0.1 with a free port, its data
 * folder initialized by mariadb-install-db in a folder of its own (never the system's server).
 * The user `root` has no password on 127.0.0.1; the database `tsflink` exists.
 *
 * Without mariadb-server the JDBC tests skip, naming what is missing; in CI (CI=true) they fail.
 * The server dies with the test process (its wrapper shell watches our stdin); stop() kills it and
 * deletes the data.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createConnection, type Connection } from 'mysql2/promise'
import { freePort } from './ports.js'

function find(names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin']
  for (const n of names) for (const d of dirs) if (d !== '' && existsSync(join(d, n))) return join(d, n)
  return undefined
}
const server = (): string | undefined => find(['mariadbd', 'mysqld'])
const installDb = (): string | undefined => find(['mariadb-install-db', 'mysql_install_db'])

let checked: string | false | undefined
/** Why the JDBC tests cannot run here (a reason to skip), or false. In CI always false: a missing server fails. */
export function mariadbSkip(): string | false {
  if (checked !== undefined) return checked
  if (process.env.CI === 'true' || (server() !== undefined && installDb() !== undefined)) return (checked = false)
  checked = 'JDBC (MySQL) tests skipped: mariadbd / mariadb-install-db (Debian package mariadb-server) not found; run scripts/install-mariadb.sh as root'
  process.stderr.write(`\n*** ${checked} ***\n\n`)
  return checked
}

export interface MariaDB {
  readonly host: string
  readonly port: number
  /** jdbc:mysql://127.0.0.1:<port>/tsflink */
  readonly url: string
  readonly user: string
  /** A new connection to the tsflink database (the caller closes it). */
  connect(): Promise<Connection>
  /** Runs one statement on a shared connection. */
  query<R = unknown>(sql: string, params?: unknown[]): Promise<R>
  /** Stops the server and deletes its data. */
  stop(): Promise<void>
}

export async function startMariaDB(): Promise<MariaDB> {
  const bin = server()
  const install = installDb()
  if (bin === undefined || install === undefined) throw new Error('mariadbd not found: run scripts/install-mariadb.sh (as root) first')
  const home = mkdtempSync(join(tmpdir(), 'tsflink-mariadb-'))
  const data = join(home, 'data')
  const user = userInfo().username
  execFileSync(install, ['--no-defaults', `--datadir=${data}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve'], { stdio: ['ignore', 'ignore', 'pipe'] })
  const port = await freePort()
  const args = [
    '--no-defaults', `--datadir=${data}`, `--socket=${join(home, 'mysqld.sock')}`, `--pid-file=${join(home, 'mysqld.pid')}`,
    `--port=${port}`, '--bind-address=127.0.0.1', '--skip-name-resolve', `--user=${user}`, '--skip-log-bin',
    '--innodb-buffer-pool-size=64M', `--log-error=${join(home, 'error.log')}`, '--max-connections=500',
  ]
  let child: ChildProcess | undefined
  let output = ''
  const kill = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    try {
      process.kill(-c.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
    c.stdin!.end()
    await gone
  }
  // The server runs in a process group of its own, killed when our end of the wrapper's stdin
  // closes (this process ended, however).
  const wrapper = 'exec 3<&0; "$0" "$@" </dev/null & b=$!; echo ready; { cat <&3 >/dev/null; kill -9 -- -$$; } & wait "$b"; kill -9 -- -$$'
  const c = spawn('bash', ['-c', wrapper, bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  child = c
  c.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)))
  await new Promise<void>((ok, fail) => {
    createInterface({ input: c.stdout! }).once('line', () => ok())
    c.once('exit', (code) => fail(new Error(`MariaDB wrapper exited with ${code}`)))
  })
  const exited = new Promise<never>((_, fail) => c.once('exit', (code) => fail(new Error(`MariaDB exited with ${code} while starting:\n${output}`))))
  exited.catch(() => {})
  let admin: Connection
  try {
    admin = await Promise.race([ready(port), exited])
  } catch (e) {
    await kill()
    throw e
  }
  await admin.query('CREATE DATABASE tsflink')
  await admin.query('USE tsflink')
  const connections: Connection[] = [admin]
  return {
    host: '127.0.0.1',
    port,
    url: `jdbc:mysql://127.0.0.1:${port}/tsflink`,
    user: 'root',
    async connect() {
      const conn = await createConnection({ host: '127.0.0.1', port, user: 'root', database: 'tsflink' })
      connections.push(conn)
      return conn
    },
    async query<R>(sql: string, params: unknown[] = []) {
      const [rows] = await admin.query(sql, params)
      return rows as R
    },
    async stop() {
      for (const conn of connections) conn.destroy()
      await kill()
      rmSync(home, { recursive: true, force: true })
    },
  }
}

/** Resolves with a connection once the server answers (2 min at most). */
async function ready(port: number): Promise<Connection> {
  const until = Date.now() + 120_000
  for (;;) {
    try {
      return await createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 })
    } catch (e) {
      if (Date.now() > until) throw new Error('MariaDB did not start within 2 min', { cause: e })
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
