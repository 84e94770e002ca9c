/**
 * A Flink user's command lines, typed as they would type them for `flink`, run through the real
 * CLI (bin/run.js) in subprocesses against real jobs and real files. Expected lines and exit
 * codes are those of Flink's CliFrontend (1.19/1.20) unless the README's table of differences
 * says otherwise.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { HistoryWriter } from '../checkpoint-history.js'
import { CLI, ROOT, committedLines, runCli, sleep, tmp, untilRunning } from '../helpers.js'
import { onPty } from '../pty.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

/** A job file that records what it was given: its arguments and the parallelism, then runs a tiny pipeline. */
function argsJob(dir: string): string {
  const file = join(dir, 'args-job.ts')
  writeFileSync(file, `import { writeFileSync } from 'node:fs'
import { StreamExecutionEnvironment } from 'tsflink'
const env = StreamExecutionEnvironment.getExecutionEnvironment()
writeFileSync(process.env.ARGS_OUT!, JSON.stringify({ args: process.argv.slice(2), parallelism: env.getParallelism() }))
env.fromElements(1, 2, 3).map((x: number) => x * 2).print()
await env.execute('args')
`)
  return file
}

async function startDetached(home: string, args: string[]): Promise<string> {
  const r = await runCli(['run', '-d', ...args], { env: { TSFLINK_HOME: home } })
  assert.equal(r.code, 0, r.stderr)
  const m = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)
  assert.ok(m, r.stdout)
  // run -d returns once the job is submitted; its slots may still be loading the program.
  await untilRunning(m[1]!, { TSFLINK_HOME: home })
  return m[1]!
}

/** A REST endpoint that only records what reaches it (to prove that nothing did). */
async function recordingServer(): Promise<{ endpoint: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":["recording server"]}')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  }
}

describe('no action, help and version (Flink\'s CliFrontend)', () => {
  it('no action: the help, then "Please specify an action.", exit 1', async () => {
    const r = await runCli([])
    assert.equal(r.code, 1)
    assert.match(r.stdout, /^tsflink <ACTION> \[OPTIONS\] \[ARGUMENTS\]\n\nThe following actions are available:\n/)
    assert.equal(r.stderr, 'Please specify an action.\n')
  })

  for (const flag of ['-h', '--help']) {
    it(`${flag}: every action with its syntax and options, exit 0`, async () => {
      const r = await runCli([flag])
      assert.equal(r.code, 0, r.stderr)
      for (const action of ['run', 'info', 'list', 'stop', 'cancel', 'savepoint', 'checkpoint']) assert.match(r.stdout, new RegExp(`^Action "${action}": `, 'm'))
      assert.match(r.stdout, /^ {2}Syntax: savepoint \[OPTIONS\] <Job ID> \[<target directory>\]$/m)
      assert.match(r.stdout, /^ {5}-s,--withSavepoint \[<targetDirectory>\] +\*\*DEPRECATION WARNING\*\*/m)
      assert.match(r.stdout, /^ {5}-cm,--claimMode <claimMode> /m)
      assert.equal(r.stderr, '')
    })
  }

  for (const flag of ['-v', '--version']) {
    it(`${flag}: "Version: <version>"`, async () => {
      const r = await runCli([flag])
      assert.equal(r.code, 0)
      assert.equal(r.stdout, `Version: ${VERSION}\n`)
    })
  }

  it('an unknown action: Flink\'s message, exit 1', async () => {
    const r = await runCli(['submit', 'job.ts'])
    assert.equal(r.code, 1)
    assert.equal(r.stderr.split('\n')[0], 'Error: "submit" is not a valid action.')
    assert.match(r.stderr, /Valid actions are "run", "info", "list", "stop", "cancel", "savepoint", "checkpoint"/)
  })

  it('-h after an action: that action\'s help; an option error comes first', async () => {
    const r = await runCli(['savepoint', '-h'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^Action "savepoint": /m)
    assert.match(r.stdout, /^ {5}-d,--dispose <savepoint path> +Path of savepoint to dispose\.$/m)
    assert.doesNotMatch(r.stdout, /Action "run"/)
    const bad = await runCli(['cancel', '-h', '-x'])
    assert.equal(bad.code, 2)
    assert.equal(bad.stderr.split('\n')[0], 'Error: Unrecognized option: -x')
  })
})

describe('option errors keep their reason', () => {
  const cases: [string[], number, string][] = [
    [['run', '--parallelism', 'x', 'job.ts'], 2, 'Error: Parsing --parallelism: Expected an integer but received: x'],
    [['run', '-p', '0', 'job.ts'], 2, 'Error: Parsing --parallelism: Expected an integer greater than or equal to 1 but received: 0'],
    [['checkpoints', 'prune', '--keep', '-1'], 2, 'Error: Parsing --keep: Expected an integer greater than or equal to 0 but received: -1'],
    [['list', '-x'], 2, 'Error: Unrecognized option: -x'],
    [['run', '--input', 'data.txt', 'job.ts'], 2, 'Error: Unrecognized option: --input'],
    [['savepoint', '-type', 'compact', '0123456789abcdef0123456789abcdef'], 2, 'Error: Expected --type=compact to be one of: canonical, native'],
    [['savepoint', '-d'], 2, 'Error: Missing argument for option: -d (-d, --dispose)'],
    [['cancel'], 2, 'Error: Missing JobID. Specify a JobID to cancel a job.'],
    [['savepoint'], 2, 'Error: Missing JobID. Specify a Job ID to trigger a savepoint.'],
    [['checkpoint'], 2, 'Error: Missing JobID. Specify a Job ID to manipulate a checkpoint.'],
    [['cancel', 'not-a-job-id'], 2, "Error: Invalid JobID 'not-a-job-id': a JobID is 32 hexadecimal characters (0-9, a-f)"],
    [['run', '-yid', 'application_1700000000000_0001', '-D', 'yarn.resourcemanager.webapp.address=127.0.0.1:9', 'job.ts'], 1, 'Error: Could not reach the YARN ResourceManager at 127.0.0.1:9 (from yarn.resourcemanager.webapp.address): ECONNREFUSED'],
    [['list', '-yid', 'application_1'], 2, "Error: Invalid YARN application id 'application_1': expected application_<cluster timestamp>_<sequence number>"],
    [['run', '-py', 'word_count.py'], 1, "Error: Python programs are not supported: tsflink runs TypeScript and JavaScript job files (-py/--python and the other -py* options are Flink's for PyFlink)"],
    [['run', '-t', 'yarn-per-job', 'job.ts'], 2, "Error: Deployment target 'yarn-per-job' is not available: tsflink runs jobs on its embedded runtime (-t local) and talks to job managers over REST (-t remote, -m host:port)"],
    [['run', '-cm', 'LEGACY', '-s', '/nonexistent', 'job.ts'], 2, "Error: Claim mode LEGACY is not supported (Flink deprecated it, and removed it in 2.0): use NO_CLAIM (the default: the snapshot's files are never touched) or CLAIM (the job takes them over)"],
  ]
  for (const [argv, code, first] of cases) {
    it(`tsflink ${argv.join(' ')}`, async () => {
      const r = await runCli(argv, { env: { TSFLINK_HOME: tmp() } })
      assert.equal(r.stderr.split('\n')[0], first)
      assert.equal(r.code, code)
      assert.equal(r.stdout, '', 'nothing on stdout')
    })
  }
})

describe('run: the program\'s arguments', () => {
  it('everything after the job file reaches the program, flags included; the job runs attached', async () => {
    const dir = tmp()
    const out = join(dir, 'args.json')
    const r = await runCli(['run', '-p', '3', '-D', 'execution.checkpointing.interval=10s', argsJob(dir), '--input', 'data.txt', '-d', '--help', 'x', 'x', '--json'],
      { env: { TSFLINK_HOME: dir, ARGS_OUT: out } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { args: ['--input', 'data.txt', '-d', '--help', 'x', 'x', '--json'], parallelism: 3 })
    assert.match(r.stdout, /^Job with JobID [0-9a-f]{32} has finished\.$/m, 'attached: -d after the job file did not detach')
    assert.equal(existsSync(join(dir, 'log')), false, 'no background process was started')
  })

  it('Flink\'s single-dash spellings before the job file: -detached, -yd, -sae, -p4', async () => {
    const dir = tmp()
    const out = join(dir, 'args.json')
    const r = await runCli(['run', '-sae', '-p4', argsJob(dir), 'a'], { env: { TSFLINK_HOME: dir, ARGS_OUT: out } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { args: ['a'], parallelism: 4 })
    for (const detach of ['-detached', '-yd']) {
      const home = tmp()
      const d = await runCli(['run', detach, argsJob(home), 'b'], { env: { TSFLINK_HOME: home, ARGS_OUT: join(home, 'args.json') } })
      assert.equal(d.code, 0, d.stderr)
      assert.match(d.stdout, /^Job has been submitted with JobID [0-9a-f]{32}\n$/)
      assert.match(d.stderr, /^The job runs in the background; its output goes to /)
      for (let i = 0; i < 200 && !existsSync(join(home, 'args.json')); i++) await sleep(25)
      assert.deepEqual(JSON.parse(readFileSync(join(home, 'args.json'), 'utf8')).args, ['b'])
    }
  })

  it('--json before the job file is tsflink\'s: one JSON document', async () => {
    const dir = tmp()
    const r = await runCli(['run', '--json', argsJob(dir), '--json'], { env: { TSFLINK_HOME: dir, ARGS_OUT: join(dir, 'args.json') } })
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as { jobs: { status: string }[] }).jobs[0]!.status, 'FINISHED')
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')).args, ['--json'])
  })
})

describe('info: the execution plan, nothing run', () => {
  it('prints Flink\'s plan JSON for the program and its arguments, and runs nothing', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const r = await runCli(['info', '-p', '2', COUNTER, out, '1000', '1000'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.equal(lines[0], '----------------------- Execution Plan -----------------------')
    const end = lines.indexOf('--------------------------------------------------------------')
    const plan = JSON.parse(lines.slice(1, end).join('\n')) as { nodes: { id: number; type: string; pact: string; parallelism: number; uid?: string; predecessors?: { id: number; ship_strategy: string }[] }[] }
    // counter.ts: source 'numbers' -keyBy-> process 'count' -> file sink.
    assert.deepEqual(plan.nodes.map((n) => [n.id, n.pact, n.uid, n.parallelism]), [[1, 'Data Source', 'numbers', 2], [2, 'Operator', 'count', 2], [3, 'Data Sink', 'sink', 2]])
    assert.deepEqual(plan.nodes[1]!.predecessors, [{ id: 1, ship_strategy: 'HASH', side: 'second' }])
    assert.deepEqual(plan.nodes[2]!.predecessors, [{ id: 2, ship_strategy: 'FORWARD', side: 'second' }])
    assert.equal(lines.at(-2), 'No description provided.')
    assert.equal(existsSync(out), false, 'no output written')
    assert.equal(existsSync(join(home, 'checkpoints')), false, 'no checkpoint taken')
    assert.deepEqual(existsSync(join(home, 'jobs')) ? readdirSync(join(home, 'jobs')) : [], [], 'no job registered')
    const json = await runCli(['info', '--json', COUNTER, out, '1', '1'], { env: { TSFLINK_HOME: home } })
    assert.equal(json.code, 0, json.stderr)
    assert.equal((JSON.parse(json.stdout) as { nodes: unknown[] }).nodes.length, 3)
  })
})

describe('job control with Flink\'s spellings, against a running job', () => {
  // Made here rather than with tmp(), whose clean-up would run before the job is cancelled.
  const home = mkdtempSync(join(tmpdir(), 'tsflink-test-'))
  const spDir = join(home, 'savepoints')
  const cpDir = join(home, 'checkpoints')
  let jobId = ''
  const cli = (args: string[], opts: { cwd?: string } = {}) => runCli(args, { env: { TSFLINK_HOME: home }, ...opts })

  before(async () => {
    jobId = await startDetached(home, ['-D', 'execution.checkpointing.interval=1h', '-D', `execution.checkpointing.dir=${cpDir}`, '-D', `state.savepoints.dir=${spDir}`,
      COUNTER, join(home, 'out'), '100000000', '500'])
  })
  after(async () => {
    const r = await cli(['cancel', jobId])
    assert.equal(r.code, 0, r.stderr)
    rmSync(home, { recursive: true, force: true })
  })

  it('list: "Waiting for response...", then the job in Flink\'s format; -a too', async () => {
    for (const args of [['list'], ['list', '-a'], ['list', '-r']]) {
      const r = await cli(args)
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.trim().split('\n')
      assert.equal(lines[0], 'Waiting for response...')
      assert.equal(lines[1], '------------------ Running/Restarting Jobs -------------------')
      assert.match(lines[2]!, new RegExp(`^\\d\\d\\.\\d\\d\\.\\d{4} \\d\\d:\\d\\d:\\d\\d : ${jobId} : counter \\(RUNNING\\)$`))
    }
  })

  it('checkpoint <JOBID> and checkpoint -full: Flink\'s lines, and the checkpoint is on disk', async () => {
    const r = await cli(['checkpoint', jobId.toUpperCase()])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0], `Triggering checkpoint for job ${jobId}.`)
    assert.equal(lines[1], 'Waiting for response...')
    const m = new RegExp(`^Checkpoint (\\d+) for job ${jobId} completed\\.$`).exec(lines[2]!)
    assert.ok(m, lines[2])
    assert.equal(lines[3], 'You can resume your program from this checkpoint with the run command.')
    assert.ok(existsSync(join(cpDir, jobId, `chk-${m[1]}`, '_metadata')), 'the checkpoint it names is complete on disk')
    const full = await cli(['checkpoint', '-full', jobId])
    assert.equal(full.code, 0, full.stderr)
    const f = new RegExp(`^Checkpoint\\(FULL\\) (\\d+) for job ${jobId} completed\\.$`, 'm').exec(full.stdout)
    assert.ok(f, full.stdout)
    assert.ok(Number(f[1]) > Number(m[1]))
  })

  it('savepoint <id> <dir> -detached triggers a detached savepoint and never disposes a thing', async () => {
    // The defect: '-detached' read as '-d etached' disposed the savepoint in ./etached.
    const cwd = tmp()
    const first = await cli(['savepoint', jobId, join(home, 'sp-a')])
    assert.equal(first.code, 0, first.stderr)
    const path = /^Savepoint completed\. Path: (.+)$/m.exec(first.stdout)![1]!
    cpSync(path, join(cwd, 'etached'), { recursive: true })
    const r = await cli(['savepoint', jobId, join(home, 'sp-b'), '-detached'], { cwd })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.split('\n')[0], `Triggering savepoint in detached mode for job ${jobId}.`)
    assert.match(r.stdout, /^Successfully trigger manual savepoint, triggerId: [0-9a-f]{32}$/m)
    assert.ok(existsSync(join(cwd, 'etached', '_metadata')), 'the savepoint named like the misread option is untouched')
    assert.ok(existsSync(join(path, '_metadata')))
    for (let i = 0; i < 200 && !(existsSync(join(home, 'sp-b')) && readdirSync(join(home, 'sp-b')).length > 0); i++) await sleep(25)
    assert.equal(readdirSync(join(home, 'sp-b')).length, 1, 'the detached savepoint was taken')
  })

  it('savepoint -type NATIVE and an upper-case JobID: Flink\'s four lines', async () => {
    const r = await cli(['savepoint', '-type', 'NATIVE', jobId.toUpperCase(), join(home, 'sp-c')])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.deepEqual([lines[0], lines[1], lines[3]], [`Triggering savepoint for job ${jobId}.`, 'Waiting for response...', 'You can resume your program from this savepoint with the run command.'])
    const path = /^Savepoint completed\. Path: (.+)$/.exec(lines[2]!)![1]!
    assert.ok(path.startsWith(join(home, 'sp-c', `savepoint-${jobId.slice(0, 6)}-`)))
    const meta = readFileSync(join(path, '_metadata')).toString('latin1')
    assert.match(meta, /native/, 'the savepoint is in the native format')
  })

  it('savepoint -d refuses, before any request, a path that is not a savepoint; disposes one that is', async () => {
    const cwd = tmp()
    mkdirSync(join(cwd, 'etached'))
    writeFileSync(join(cwd, 'etached', 'thesis.tex'), 'precious')
    const rec = await recordingServer()
    try {
      for (const target of ['etached', join(cwd, 'missing'), join(cwd, 'etached', 'thesis.tex')]) {
        for (const m of [[], ['-m', rec.endpoint]]) {
          const r = await cli(['savepoint', ...m, '-d', target], { cwd })
          assert.equal(r.code, 1, `${target}: ${r.stderr}`)
          assert.match(r.stderr, /^Error: Cannot dispose '.*': (no such savepoint|it is not a savepoint \(no _metadata there\))$/m)
          assert.equal(r.stdout, '')
        }
      }
      assert.deepEqual(rec.requests, [], 'no request reached the job manager')
    } finally {
      await rec.close()
    }
    assert.equal(readFileSync(join(cwd, 'etached', 'thesis.tex'), 'utf8'), 'precious')

    const sp = await cli(['savepoint', jobId, join(home, 'sp-d')])
    const path = /^Savepoint completed\. Path: (.+)$/m.exec(sp.stdout)![1]!
    const r = await cli(['savepoint', '-d', path])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), [`Disposing savepoint '${path}'.`, 'Waiting for response...', `Savepoint '${path}' disposed.`])
    assert.equal(existsSync(path), false)
  })
})

describe('stop, cancel and the attached run\'s exit code', () => {
  it('stop --drain -p <JOBID>: Flink\'s lines, the configured directory, the job finishes', async () => {
    const home = tmp()
    const spDir = join(home, 'savepoints')
    const jobId = await startDetached(home, ['-D', `execution.checkpointing.savepoint-dir=${spDir}`, COUNTER, join(home, 'out'), '100000000', '500'])
    const r = await runCli(['stop', '--drain', '-p', jobId.toUpperCase()], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.deepEqual(lines.slice(0, 3), [`Draining job "${jobId}" with a CANONICAL savepoint.`, `Triggering stop-with-savepoint for job ${jobId}.`, 'Waiting for response...'])
    const path = /^Savepoint completed\. Path: (.+)$/.exec(lines[3]!)![1]!
    assert.ok(path.startsWith(join(spDir, `savepoint-${jobId.slice(0, 6)}-`)), path)
    assert.ok(existsSync(join(path, '_metadata')))
    const list = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.doesNotMatch(list.stdout, new RegExp(jobId))
  })

  it('cancel -s <dir> <jobId>: the deprecation warning, then Flink\'s lines', async () => {
    const home = tmp()
    const jobId = await startDetached(home, [COUNTER, join(home, 'out'), '100000000', '500'])
    const dir = join(home, 'sp')
    const r = await runCli(['cancel', '-s', dir, jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0], 'DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use "stop" instead.')
    assert.equal(lines[1], `Cancelling job ${jobId} with CANONICAL savepoint to ${dir}.`)
    const m = new RegExp(`^Cancelled job ${jobId}\\. Savepoint stored in (.+)\\.$`).exec(lines[2]!)
    assert.ok(m, lines[2])
    assert.ok(existsSync(join(m[1]!, '_metadata')))
  })

  it('an attached run whose job is cancelled exits 1, as Flink; one that finishes exits 0', async () => {
    const home = tmp()
    const child = spawn(process.execPath, [CLI, 'run', COUNTER, join(home, 'out'), '100000000', '500'], { env: { ...process.env, TSFLINK_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((r) => child.on('close', r))
    for (let i = 0; i < 400 && !/JobID [0-9a-f]{32}/.test(stdout); i++) await sleep(25)
    const jobId = /JobID ([0-9a-f]{32})/.exec(stdout)![1]!
    const cancel = await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(cancel.code, 0, cancel.stderr)
    assert.deepEqual(cancel.stdout.trim().split('\n'), [`Cancelling job ${jobId}.`, `Cancelled job ${jobId}.`])
    assert.equal(await exited, 1, stderr)
    assert.match(stdout, new RegExp(`^Job with JobID ${jobId} has been cancelled\\.$`, 'm'))
    assert.match(stderr, new RegExp(`^Error: Job ${jobId} was cancelled$`, 'm'))
  })
})

describe('run -s with claim modes in Flink\'s spellings', () => {
  it('-cm CLAIM hands the savepoint to the job (gone once subsumed); -rm no_claim leaves it, with Flink\'s deprecation line', async () => {
    const home = tmp()
    const total = 3000
    const jobId = await startDetached(home, [COUNTER, join(home, 'out'), String(total), '1000'])
    await sleep(400)
    const sp = await runCli(['cancel', '-s', join(home, 'sp'), jobId], { env: { TSFLINK_HOME: home } })
    const path = /Savepoint stored in (.+)\.$/m.exec(sp.stdout)![1]!
    const copy = join(home, 'copy')
    cpSync(path, copy, { recursive: true })

    const kept = await runCli(['run', '-rm', 'no_claim', '-s', copy, '-D', 'execution.checkpointing.interval=50ms', COUNTER, join(home, 'out2'), String(total), '100000'],
      { env: { TSFLINK_HOME: home } })
    assert.equal(kept.code, 0, kept.stderr)
    assert.equal(kept.stdout.split('\n')[0], "The option 'restoreMode' is deprecated. Please use 'claimMode' instead.")
    assert.ok(committedLines(join(home, 'out2')).length > 0)
    assert.ok(existsSync(join(copy, '_metadata')), 'no_claim: the savepoint is untouched')

    const claimed = await runCli(['run', '-cm', 'CLAIM', '-s', copy, '-D', 'execution.checkpointing.interval=50ms', COUNTER, join(home, 'out3'), String(total), '100000'],
      { env: { TSFLINK_HOME: home } })
    assert.equal(claimed.code, 0, claimed.stderr)
    assert.equal(existsSync(join(copy, '_metadata')), false, 'claim: the job owned the savepoint and discarded it with its own checkpoints')
    assert.ok(existsSync(join(path, '_metadata')), 'the original savepoint is another directory, untouched')
  })
})

describe('human output is safe; --json is exact', () => {
  it('a job named with a newline, ANSI and OSC escapes is listed on one line, escaped', async () => {
    const home = tmp()
    const name = 'evil\u001b]0;pwned\u0007\u001b[2J\nfake : line'
    const job = join(home, 'evil.ts')
    writeFileSync(job, `import { DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'
const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromSource(new DataGeneratorSource((i: number) => i, 1e9, RateLimiterStrategy.perSecond(10)), WatermarkStrategy.noWatermarks(), 'gen').addSink(() => {})
await env.execute(${JSON.stringify(name)})
`)
    const jobId = await startDetached(home, [job])
    try {
      const r = await runCli(['list'], { env: { TSFLINK_HOME: home } })
      assert.equal(r.code, 0, r.stderr)
      assert.doesNotMatch(r.stdout, CONTROL)
      assert.match(r.stdout, new RegExp(`^.* : ${jobId} : evil\\\\x1b\\]0;pwned\\\\x07\\\\x1b\\[2J\\\\nfake : line \\(RUNNING\\)$`, 'm'))
      const json = await runCli(['list', '--json'], { env: { TSFLINK_HOME: home } })
      assert.equal((JSON.parse(json.stdout) as { jobs: { name: string }[] }).jobs[0]!.name, name)
    } finally {
      await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
    }
  })

  it('NO_COLOR=1 turns off the colours of the checkpoints table on a terminal', async () => {
    const root = tmp()
    new HistoryWriter(root, '0123456789abcdef0123456789abcdef').checkpoint(1, new Date())
    const onTerminal = async (env: Record<string, string>): Promise<string> => {
      const { code, terminal } = await onPty(`${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} checkpoints list --dir ${JSON.stringify(root)}`, env)
      assert.equal(code, 0)
      return terminal
    }
    // eslint-disable-next-line no-control-regex
    const SGR = /\u001b\[\d+(;\d+)*m/
    assert.match(await onTerminal({}), SGR, 'a terminal gets colour by default')
    const plain = await onTerminal({ NO_COLOR: '1' })
    assert.match(plain, /valid/)
    assert.doesNotMatch(plain, SGR)
  })
})
