/**
 * Starts a real RabbitMQ broker for a test file: Debian's rabbitmq-server (installed by
 * scripts/install-rabbitmq.sh), as the current user, on 127.0.0.1 with free ports (AMQP,
 * distribution and its own epmd) and its own data folder, so that it never meets a system broker.
 *
 * Without rabbitmq-server the RabbitMQ tests skip, naming what is missing; in CI (CI=true) they
 * fail. The broker and its epmd die with the test process (their wrapper shell watches our stdin),
 * and stop() kills them and deletes the data.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect } from 'amqplib'
import { freePort } from './ports.js'

/** The broker's start script, run directly (the /usr/sbin wrapper would switch to the rabbitmq user). */
function serverScript(): string | undefined {
  const direct = '/usr/lib/rabbitmq/bin/rabbitmq-server'
  if (existsSync(direct)) return direct
  const lib = '/usr/lib/rabbitmq/lib'
  if (!existsSync(lib)) return undefined
  for (const d of readdirSync(lib)) if (existsSync(join(lib, d, 'sbin', 'rabbitmq-server'))) return join(lib, d, 'sbin', 'rabbitmq-server')
  return undefined
}

const hasEpmd = (): boolean => (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'epmd')))

let checked: string | false | undefined
/** Why the RabbitMQ tests cannot run here (a reason to skip), or false. In CI always false: a missing broker fails. */
export function rabbitmqSkip(): string | false {
  if (checked !== undefined) return checked
  if (process.env.CI === 'true' || (serverScript() !== undefined && hasEpmd())) return (checked = false)
  checked = 'RabbitMQ tests skipped: rabbitmq-server (Debian package) not found; run scripts/install-rabbitmq.sh as root'
  process.stderr.write(`\n*** ${checked} ***\n\n`)
  return checked
}


export interface RabbitMQBroker {
  readonly host: string
  readonly port: number
  /** amqp://guest:guest@127.0.0.1:<port>/ */
  readonly url: string
  /** SIGKILL: the broker is gone, its data kept (what it had not written to disk is lost). */
  kill(): Promise<void>
  /** Starts the killed broker again on the same ports and data; resolves when it serves. */
  restart(): Promise<void>
  /** Stops the broker and deletes its data. */
  stop(): Promise<void>
}

export async function startRabbitMQ(): Promise<RabbitMQBroker> {
  const script = serverScript()
  if (script === undefined || !hasEpmd()) throw new Error('rabbitmq-server not found: run scripts/install-rabbitmq.sh (as root) first')
  const home = mkdtempSync(join(tmpdir(), 'tsflink-rabbitmq-'))
  for (const d of ['home', 'mnesia', 'log']) mkdirSync(join(home, d))
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()]
  writeFileSync(join(home, 'rabbitmq.conf'), [
    `listeners.tcp.1 = 127.0.0.1:${port}`,
    // The tests' client is guest on the loopback interface (RabbitMQ's default allows exactly that).
    'log.console = true',
    'log.console.level = warning',
    'log.file = false',
    '',
  ].join('\n'))
  writeFileSync(join(home, 'enabled_plugins'), '[].\n')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(home, 'home'),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_NODENAME: `tsflink${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(home, 'mnesia'),
    RABBITMQ_LOG_BASE: join(home, 'log'),
    RABBITMQ_CONFIG_FILE: join(home, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(home, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(home, 'rabbitmq.pid'),
    RABBITMQ_CONF_ENV_FILE: join(home, 'rabbitmq-env.conf'),
    ERL_CRASH_DUMP: join(home, 'log', 'erl_crash.dump'),
  }
  const url = `amqp://guest:guest@127.0.0.1:${port}/`

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
  const launch = async (): Promise<void> => {
    // Its own epmd in the foreground, then the broker, in a process group of their own: the group
    // is killed when our end of the wrapper's stdin closes (this process ended, however).
    const wrapper = [
      'exec 3<&0',
      'epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 </dev/null &',
      // The broker must find this epmd, or Erlang starts a daemon one that would outlive the group.
      'for i in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$ERL_EPMD_PORT") 2>/dev/null && break; sleep 0.05; done',
      '"$0" </dev/null & b=$!',
      'echo ready',
      '{ cat <&3 >/dev/null; kill -9 -- -$$; } &',
      'wait "$b"',
      'kill -9 -- -$$',
    ].join('\n')
    const c = spawn('bash', ['-c', wrapper, script], { stdio: ['pipe', 'pipe', 'pipe'], env, detached: true })
    child = c
    c.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)))
    const lines = createInterface({ input: c.stdout! })
    await new Promise<void>((ok, fail) => {
      lines.once('line', () => ok())
      c.once('exit', (code) => fail(new Error(`RabbitMQ wrapper exited with ${code}`)))
    })
    lines.on('line', (l) => (output = (output + l + '\n').slice(-20_000)))
    const exited = new Promise<never>((_, fail) => c.once('exit', (code) => fail(new Error(`RabbitMQ exited with ${code} while starting:\n${output}`))))
    exited.catch(() => {})
    try {
      await Promise.race([ready(url), exited])
    } catch (e) {
      await kill()
      throw e
    }
  }
  await launch()
  return {
    host: '127.0.0.1',
    port,
    url,
    kill,
    async restart() {
      await kill()
      await launch()
    },
    async stop() {
      await kill()
      rmSync(home, { recursive: true, force: true })
    },
  }
}

/** Resolves once the broker accepts an AMQP connection (2 min at most: a busy machine starts Erlang slowly). */
async function ready(url: string): Promise<void> {
  const until = Date.now() + Number(process.env.RMQ_READY_MS ?? 120_000)
  for (;;) {
    try {
      const c = await connect(url, { timeout: 1000 })
      await c.close()
      return
    } catch (e) {
      if (Date.now() > until) throw new Error('RabbitMQ did not start within 2 min', { cause: e })
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}
