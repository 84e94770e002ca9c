/**
 * Savepoints and job control end to end, through the real CLI in subprocesses:
 * run -d → savepoint → cancel → run -s continues exactly where the savepoint was; rescaling;
 * removed and added operators; a moved savepoint; failures that must lose nothing.
 */
import assert from 'node:assert/strict'
import { cpSync, existsSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, committedLines, runCli, sleep, tmp, expectedCounts, untilRunning } from '../helpers.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')


/** Starts the counter job detached; returns its JobID. */
async function startDetached(home: string, out: string, total: number, rate: number, extra: string[] = []): Promise<string> {
  const r = await runCli(['run', '-d', ...extra, '-D', 'execution.checkpointing.interval=100ms', COUNTER, out, String(total), String(rate)], { env: { TSFLINK_HOME: home } })
  assert.equal(r.code, 0, r.stderr)
  const m = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)
  assert.ok(m, r.stdout)
  // run -d returns once the job is submitted; its slots may still be loading the program.
  await untilRunning(m[1]!, { TSFLINK_HOME: home })
  return m[1]!
}

async function savepointAndCancel(home: string, jobId: string, dir: string): Promise<string> {
  await sleep(700)
  const r = await runCli(['cancel', '-s', dir, jobId], { env: { TSFLINK_HOME: home } })
  assert.equal(r.code, 0, r.stderr)
  const m = new RegExp(`^Cancelled job ${jobId}\\. Savepoint stored in (.+)\\.$`, 'm').exec(r.stdout)
  assert.ok(m, r.stdout)
  return m[1]!
}

describe('savepoints through the CLI', () => {
  it('run -d, list, savepoint, cancel, run -s: counting continues exactly where the savepoint was', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const total = 30_000
    const jobId = await startDetached(home, out, total, 5000)
    const list = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.match(list.stdout, new RegExp(`^\\d\\d\\.\\d\\d\\.\\d{4} \\d\\d:\\d\\d:\\d\\d : ${jobId} : counter \\(RUNNING\\)$`, 'm'))

    await sleep(500)
    const sp = await runCli(['savepoint', jobId, join(home, 'sp')], { env: { TSFLINK_HOME: home } })
    assert.equal(sp.code, 0, sp.stderr)
    const lines = sp.stdout.trim().split('\n')
    assert.equal(lines[0], `Triggering savepoint for job ${jobId}.`)
    assert.equal(lines[1], 'Waiting for response...')
    assert.match(lines[2]!, new RegExp(`^Savepoint completed\\. Path: ${join(home, 'sp')}/savepoint-${jobId.slice(0, 6)}-[0-9a-f]{12}$`))
    assert.equal(lines[3], 'You can resume your program from this savepoint with the run command.')
    const path = lines[2]!.slice('Savepoint completed. Path: '.length)

    const cancel = await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(cancel.code, 0, cancel.stderr)
    assert.match(cancel.stdout, new RegExp(`^Cancelled job ${jobId}\\.$`, 'm'))
    const before = committedLines(out)
    assert.ok(before.length < total, 'cancelled before the end')

    // The job ran on after the savepoint, so the resumed job writes elsewhere: its counts must
    // continue each key exactly after the savepoint's count, with nothing repeated or skipped.
    const out2 = join(home, 'out2')
    const resumed = await runCli(['run', '-s', path, COUNTER, out2, String(total), '100000'], { env: { TSFLINK_HOME: home } })
    assert.equal(resumed.code, 0, resumed.stderr)
    const final = new Map<number, number>()
    for (let i = 0; i < total; i++) final.set(i % 7, (final.get(i % 7) ?? 0) + 1)
    const counts = (lines: string[], key: number): number[] =>
      lines.filter((l) => l.startsWith(`${key}:`)).map((l) => Number(l.split(':')[1])).sort((a, b) => a - b)
    for (const [key, n] of final) {
      const after = counts(committedLines(out2), key)
      const first = after[0]!
      assert.ok(first > 1, `key ${key} resumed from its savepoint count, not from zero`)
      assert.deepEqual(after, Array.from({ length: n - first + 1 }, (_, i) => first + i), `key ${key} continues without gaps or repeats`)
      const old = new Set(counts(committedLines(out), key))
      for (let c = 1; c < first; c++) assert.ok(old.has(c), `key ${key}: count ${c} was written before the savepoint`)
    }
  })

  for (const [from, to] of [[3, 2], [1, 4]] as const) {
    it(`restores at another parallelism (${from} -> ${to}) by key group`, async () => {
      const home = tmp()
      const out = join(home, 'out')
      const total = 30_000
      const jobId = await startDetached(home, out, total, 6000, ['-p', String(from)])
      const path = await savepointAndCancel(home, jobId, join(home, 'sp'))
      const r = await runCli(['run', '-p', String(to), '-s', path, COUNTER, out, String(total), '100000'], { env: { TSFLINK_HOME: home } })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(committedLines(out), expectedCounts(total))
    })
  }

  it('state of a removed operator fails the restore without -n, and is skipped with it', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    const path = await savepointAndCancel(home, jobId, join(home, 'sp'))
    const out2 = join(home, 'out2')
    const refused = await runCli(['run', '-s', path, COUNTER, out2, '100', '100000', 'no-counter'], { env: { TSFLINK_HOME: home } })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^Error: Failed to rollback to checkpoint\/savepoint .*Cannot map checkpoint\/savepoint state for operator .*uid 'count'.* to the new program, because the operator is not available in the new program/)
    assert.match(refused.stderr, /--allowNonRestoredState/)
    assert.equal(existsSync(out2), false, 'nothing ran')
    const allowed = await runCli(['run', '-n', '-s', path, COUNTER, out2, '100', '100000', 'no-counter'], { env: { TSFLINK_HOME: home } })
    assert.equal(allowed.code, 0, allowed.stderr)
  })

  it('an added operator starts empty; a moved savepoint still restores', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const total = 20_000
    const jobId = await startDetached(home, out, total, 5000)
    const path = await savepointAndCancel(home, jobId, join(home, 'sp'))
    const moved = join(home, 'elsewhere', 'my-savepoint')
    mkdirSync(join(home, 'elsewhere'))
    cpSync(path, moved, { recursive: true })
    rmSync(path, { recursive: true })
    const r = await runCli(['run', '-s', moved, COUNTER, out, String(total), '100000', 'extra'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })

  it('a savepoint of the LSM backend (incremental checkpoints on) restores into the hashmap backend', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const total = 20_000
    const jobId = await startDetached(home, out, total, 5000, ['-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true', '-D', `execution.checkpointing.dir=${join(home, 'cp')}`])
    const path = await savepointAndCancel(home, jobId, join(home, 'sp'))
    const r = await runCli(['run', '-D', 'state.backend.type=hashmap', '-s', path, COUNTER, out, String(total), '100000'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })

  it('two savepoints at once both complete, at distinct paths', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    const [a, b] = await Promise.all([
      runCli(['savepoint', jobId, join(home, 'sp'), '--json'], { env: { TSFLINK_HOME: home } }),
      runCli(['savepoint', jobId, join(home, 'sp'), '--json'], { env: { TSFLINK_HOME: home } }),
    ])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    const pa = (JSON.parse(a.stdout) as { path: string }).path
    const pb = (JSON.parse(b.stdout) as { path: string }).path
    assert.notEqual(pa, pb)
    assert.ok(existsSync(join(pa, '_metadata')) && existsSync(join(pb, '_metadata')))
    await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
  })

  it('cancel -s with an unwritable target: the job keeps running, exit 1 says why', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    writeFileSync(join(home, 'a-file'), 'not a directory')
    const r = await runCli(['cancel', '-s', join(home, 'a-file', 'sp'), jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Error: .*(ENOTDIR|not a directory)/)
    const list = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.match(list.stdout, new RegExp(`${jobId} : counter \\(RUNNING\\)`))
    await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
  })

  it('stop: a final savepoint, sinks committed, the job finishes', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const total = 30_000
    const jobId = await startDetached(home, out, total, 5000)
    await sleep(600)
    const r = await runCli(['stop', '--savepointPath', join(home, 'sp'), jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const m = /^Savepoint completed\. Path: (.+)$/m.exec(r.stdout)
    assert.ok(m)
    const committed = committedLines(out).length
    assert.ok(committed > 0 && committed < total)
    // Everything up to the savepoint is committed: resuming produces the rest exactly once.
    const resumed = await runCli(['run', '-s', m[1]!, COUNTER, out, String(total), '100000'], { env: { TSFLINK_HOME: home } })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })
})

describe('job control errors', () => {
  it('a malformed JobID is a usage error (exit 2)', async () => {
    for (const cmd of [['savepoint', 'not-a-job-id'], ['cancel', '1234'], ['stop', 'XYZ']]) {
      const r = await runCli(cmd)
      assert.equal(r.code, 2, `${cmd.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /^Error: Invalid JobID/)
    }
  })

  it('an unknown JobID fails with exit 1 naming it', async () => {
    const home = tmp()
    const id = 'f'.repeat(32)
    const r = await runCli(['cancel', id], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^Error: No running job with JobID ${id} was found`))
  })

  it('a killed job process disappears from list', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    const registry = join(home, 'jobs', `${jobId}.json`)
    const { pid } = JSON.parse((await import('node:fs')).readFileSync(registry, 'utf8')) as { pid: number }
    process.kill(pid, 'SIGKILL')
    await sleep(200)
    const r = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0)
    assert.doesNotMatch(r.stdout, new RegExp(jobId))
    assert.match(r.stdout, /^No running jobs\.$/m)
    assert.equal(readdirSync(join(home, 'jobs')).length, 0, 'the stale entry was cleaned up')
  })

  it('savepoint without a directory and none configured names the key', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    const r = await runCli(['savepoint', jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /state\.savepoints\.dir/)
    const withConfig = await runCli(['savepoint', jobId, '-D', `state.savepoints.dir=${join(home, 'configured')}`], { env: { TSFLINK_HOME: home } })
    assert.equal(withConfig.code, 0, withConfig.stderr)
    assert.match(withConfig.stdout, new RegExp(`Path: ${join(home, 'configured')}/savepoint-`))
    await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
  })

  it('savepoint -d disposes a savepoint and refuses anything else', async () => {
    const home = tmp()
    const jobId = await startDetached(home, join(home, 'out'), 1_000_000, 2000)
    const path = await savepointAndCancel(home, jobId, join(home, 'sp'))
    const notSp = join(home, 'out')
    const refused = await runCli(['savepoint', '-d', notSp], { env: { TSFLINK_HOME: home } })
    assert.equal(refused.code, 1)
    assert.ok(existsSync(notSp), 'nothing was deleted')
    const r = await runCli(['savepoint', '-d', path], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Savepoint '${path}' disposed\\.$`, 'm'))
    assert.equal(existsSync(path), false)
  })
})
