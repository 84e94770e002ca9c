/**
 * Progress on long waits: a spinner on stderr when stderr is a terminal, and nothing anywhere
 * else: never on stdout, never with --json, never when stderr is a pipe. Terminals are real
 * pseudo-terminals (util-linux `script`), with stdout redirected to a file so the two streams
 * can be told apart.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CLI, ROOT, runCli, sleep, tmp } from '../helpers.js'
import { onPty } from '../pty.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
// eslint-disable-next-line no-control-regex
const ANY_ESCAPE = /\u001b/
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[\d+(;\d+)*m/
const q = JSON.stringify
const tsflink = (args: string[]): string => [process.execPath, CLI, ...args].map((a) => q(a)).join(' ')

describe('progress', () => {
  // Made here rather than with tmp(), whose clean-up would run before the job is cancelled.
  const home = mkdtempSync(join(tmpdir(), 'tsflink-test-'))
  let jobId = ''
  const env = { TSFLINK_HOME: home }

  before(async () => {
    const r = await runCli(['run', '-d', COUNTER, join(home, 'out'), '100000000', '500'], { env })
    assert.equal(r.code, 0, r.stderr)
    jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)![1]!
  })
  after(async () => {
    const r = await runCli(['cancel', jobId], { env })
    assert.equal(r.code, 0, r.stderr)
    rmSync(home, { recursive: true, force: true })
  })

  it('stderr a pipe: nothing but the results, on stdout', async () => {
    const r = await runCli(['savepoint', jobId, join(home, 'sp')], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.doesNotMatch(r.stdout, ANY_ESCAPE)
    assert.equal(r.stdout.trim().split('\n').length, 4)
  })

  it('--json on a terminal: one JSON document on stdout, nothing on the terminal', async () => {
    const out = join(tmp(), 'out')
    const { code, terminal } = await onPty(`${tsflink(['savepoint', jobId, join(home, 'sp'), '--json'])} > ${q(out)}`, env)
    assert.equal(code, 0)
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { jobId: string; path: string }
    assert.equal(doc.jobId, jobId)
    assert.equal(terminal.trim(), '', 'nothing drawn on the terminal')
  })

  for (const [what, args, text, first] of [
    ['savepoint', () => ['savepoint', jobId, join(home, 'sp')], () => `Waiting for the savepoint of job ${jobId}`, () => `Triggering savepoint for job ${jobId}.`],
    ['checkpoint', () => ['checkpoint', jobId], () => `Waiting for the checkpoint of job ${jobId}`, () => `Triggering checkpoint for job ${jobId}.`],
  ] as const) {
    it(`${what} on a terminal: a spinner on stderr, stdout unchanged`, async () => {
      const out = join(tmp(), 'out')
      const { code, terminal } = await onPty(`${tsflink(args())} > ${q(out)}`, env)
      assert.equal(code, 0, terminal)
      assert.ok(terminal.includes(text()), `the terminal showed the spinner: ${JSON.stringify(terminal)}`)
      const stdout = readFileSync(out, 'utf8')
      assert.doesNotMatch(stdout, ANY_ESCAPE, 'no spinner on stdout')
      assert.deepEqual(stdout.split('\n').slice(0, 2), [first(), 'Waiting for response...'])
    })
  }

  it('NO_COLOR: the spinner draws without colour', async () => {
    const { code, terminal } = await onPty(`${tsflink(['savepoint', jobId, join(home, 'sp')])} > /dev/null`, { ...env, NO_COLOR: '1' })
    assert.equal(code, 0)
    assert.ok(terminal.includes('Waiting for the savepoint'))
    assert.doesNotMatch(terminal, SGR)
  })

  it('a terminal of unknown width (0 columns): no spinner, and the command ends', async () => {
    const out = join(tmp(), 'out')
    const { code, terminal } = await onPty(`${tsflink(['savepoint', jobId, join(home, 'sp')])} > ${q(out)}`, env, { columns: 0 })
    assert.equal(code, 0)
    assert.equal(terminal.trim(), '')
    assert.match(readFileSync(out, 'utf8'), /^Savepoint completed\. Path: /m)
  })

  it('a restore shows "Restoring from <path>" until the job runs, then nothing; stdout stays clean', async () => {
    const sp = await runCli(['savepoint', jobId, join(home, 'sp-restore')], { env })
    const path = /^Savepoint completed\. Path: (.+)$/m.exec(sp.stdout)![1]!
    // The savepoint's source split ends where the original job's did (10^8 records): the
    // restored job runs until it is stopped.
    const restoreAndStop = async (redirect: string): Promise<{ restoredId: string; terminal: string; whenRunning: number }> => {
      let sofar = (): string => ''
      const running = onPty(`${tsflink(['run', '-s', path, COUNTER, join(tmp(), 'out'), '1000000000', '1000'])}${redirect}`, env, { seen: (f) => (sofar = f) })
      let restoredId: string | undefined
      for (let i = 0; i < 400 && restoredId === undefined; i++) {
        await sleep(50)
        const list = await runCli(['list', '--json'], { env })
        restoredId = (JSON.parse(list.stdout) as { jobs: { jobId: string; state: string }[] }).jobs.find((j) => j.jobId !== jobId && j.state === 'RUNNING')?.jobId
      }
      assert.ok(restoredId !== undefined, 'the restored job runs')
      // What the terminal had received once the job ran (a frame drawn just then may follow).
      await sleep(300)
      const whenRunning = sofar().length
      await sleep(3000)
      const stop = await runCli(['stop', restoredId, '-p', join(home, 'sp-stop')], { env })
      assert.equal(stop.code, 0, stop.stderr)
      const { code, terminal } = await running
      assert.equal(code, 0, terminal)
      assert.ok(terminal.includes(`Restoring from ${path}`), JSON.stringify(terminal))
      return { restoredId, terminal, whenRunning }
    }

    // stdout to a file: the spinner stays on the terminal, the results in the file.
    const stdout = join(tmp(), 'stdout')
    const separate = await restoreAndStop(` > ${q(stdout)}`)
    const out = readFileSync(stdout, 'utf8')
    assert.doesNotMatch(out, ANY_ESCAPE)
    assert.match(out, new RegExp(`^Job has been submitted with JobID ${separate.restoredId}\\n`))
    assert.match(out, new RegExp(`^Job with JobID ${separate.restoredId} has finished\\.$`, 'm'))

    // Both streams on the terminal: once the job runs the spinner is gone (a spinner left on
    // would redraw about 12 times a second until the job ends, 3 s later).
    const { restoredId, terminal, whenRunning } = await restoreAndStop('')
    assert.ok(terminal.includes(`Job has been submitted with JobID ${restoredId}`), terminal)
    assert.ok(whenRunning > 0 && terminal.slice(0, whenRunning).includes('Restoring'), 'the spinner showed while the job started')
    const framesAfter = terminal.slice(whenRunning).split('Restoring job').length - 1
    assert.ok(framesAfter <= 2, `spinner frames while the job ran: ${framesAfter}`)
    assert.match(terminal, new RegExp(`Job with JobID ${restoredId} has finished\\.`))
  })


})
