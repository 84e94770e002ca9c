/**
 * `tsflink run` as a user runs it: the real CLI in a subprocess, real files.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { verifyFiles } from '../../src/runtime/checkpoint/restore-point.js'
import { FsStorage } from '../../src/runtime/storage/fs-storage.js'
import { CLI, ROOT, committedLines, runCli, sleep, tmp, expectedCounts } from '../helpers.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')


describe('tsflink run', () => {
  it('runs a job file from a folder without node_modules and prints Flink\'s lines', async () => {
    const dir = tmp()
    const job = join(dir, 'job.ts')
    writeFileSync(job, "import { StreamExecutionEnvironment } from 'tsflink'\nconst env = StreamExecutionEnvironment.getExecutionEnvironment()\nenv.fromElements('a', 'b', 'c').map((s: string) => s.toUpperCase()).print()\nawait env.execute('letters')\n")
    const r = await runCli(['run', job], { cwd: dir, env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.match(lines[0]!, /^Job has been submitted with JobID [0-9a-f]{32}$/)
    const id = lines[0]!.slice(-32)
    assert.deepEqual(lines.slice(1, 4), ['A', 'B', 'C'])
    assert.equal(lines.at(-2), `Job with JobID ${id} has finished.`)
    assert.match(lines.at(-1)!, /^Job Runtime: \d+ ms$/)
  })

  it('--json (before the job file) prints one JSON document on stdout', async () => {
    const dir = tmp()
    const r = await runCli(['run', '--json', COUNTER, join(dir, 'out'), '100', '100000'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout) as { jobs: { jobId: string; status: string }[] }
    assert.equal(doc.jobs[0]!.status, 'FINISHED')
    assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(100))
  })

  it('-p and -D reach the job: parallelism and checkpoint interval', async () => {
    const dir = tmp()
    const r = await runCli(['run', '-p', '2', '-D', 'execution.checkpointing.interval=50ms', '-D', `execution.checkpointing.dir=${join(dir, 'cp')}`, '--json',
      COUNTER, join(dir, 'out'), '5000', '5000'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    const doc = JSON.parse(r.stdout) as { jobs: { checkpoints: number }[] }
    // About a second of input at a 50 ms interval: well above 3 even on a busy machine (none without -D).
    assert.ok(doc.jobs[0]!.checkpoints >= 3, `checkpoints: ${doc.jobs[0]!.checkpoints}`)
    assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(5000))
    const parts = readdirSync(join(dir, 'out')).filter((n) => n.startsWith('part-'))
    assert.ok(parts.some((n) => /-1-\d+$/.test(n)), `a second subtask wrote output: ${parts.join(' ')}`)
  })

  it('kill -9 leaves only complete checkpoints looking complete, and the job resumes from the latest', async () => {
    const dir = tmp()
    const cp = join(dir, 'cp')
    const out = join(dir, 'out')
    const total = 6000
    const child = spawn(process.execPath, [CLI, 'run', '-D', 'execution.checkpointing.interval=40ms', '-D', `execution.checkpointing.dir=${cp}`,
      COUNTER, out, String(total), '4000'], { env: { ...process.env, TSFLINK_HOME: dir }, stdio: 'ignore' })
    const exited = new Promise((r) => child.on('exit', r))
    // Wait for several completed checkpoints, then kill without warning.
    // Bounded by time: a loaded machine may take a while to start the job's slots.
    for (const started = Date.now(); Date.now() - started < 60_000;) {
      await sleep(25)
      const jobs = existsSync(cp) ? readdirSync(cp) : []
      const chks = jobs.flatMap((j) => readdirSync(join(cp, j)).filter((c) => existsSync(join(cp, j, c, '_metadata'))))
      if (chks.length >= 1 && Date.now() - started > 500) break
    }
    child.kill('SIGKILL')
    await exited
    const [jobId] = readdirSync(cp)
    assert.ok(jobId !== undefined)
    const storage = new FsStorage()
    let complete = 0
    let latest: string | undefined
    let latestId = -1
    for (const name of readdirSync(join(cp, jobId))) {
      const d = join(cp, jobId, name)
      if (!existsSync(join(d, '_metadata'))) continue
      const meta = parseMetadata(readFileSync(join(d, '_metadata')), d)
      await verifyFiles(d, meta, storage)
      complete++
      if (meta.checkpointId > latestId) {
        latestId = meta.checkpointId
        latest = d
      }
    }
    assert.ok(complete >= 1 && latest !== undefined)
    assert.ok(committedLines(out).length < total, 'the job was killed before its end')

    // Resume from the retained checkpoint: the output continues exactly where it stopped.
    const r = await runCli(['run', '-s', join(latest, '_metadata'), '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.interval=40ms',
      COUNTER, out, String(total), '20000'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })
})

describe('tsflink run with bad input', () => {
  const cases: [string, string, RegExp][] = [
    ['syntax error', 'const x: number = ;\n', /^Error: The program '.*bad\.ts' failed: .*bad\.ts:1:\d+: ERROR: /],
    ['no execute()', "import { StreamExecutionEnvironment } from 'tsflink'\nStreamExecutionEnvironment.getExecutionEnvironment().fromElements(1).print()\n", /^Error: The program didn't contain a Flink job\. Perhaps you forgot to call execute\(\)/],
    ['throws while building', "throw new Error('no input configured')\n", /^Error: The program '.*bad\.ts' failed: no input configured$/m],
    ['no operators', "import { StreamExecutionEnvironment } from 'tsflink'\nawait StreamExecutionEnvironment.getExecutionEnvironment().execute()\n", /^Error: No operators defined in streaming topology/],
  ]
  for (const [what, source, message] of cases) {
    it(`${what}: one clear line, exit 1`, async () => {
      const dir = tmp()
      writeFileSync(join(dir, 'bad.ts'), source)
      const r = await runCli(['run', join(dir, 'bad.ts')], { env: { TSFLINK_HOME: dir } })
      assert.equal(r.code, 1)
      assert.match(r.stderr.split('\n')[0]!, message)
    })
  }

  it('a job that fails for good: exit 1 naming the cause', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'bad.ts'), "import { StreamExecutionEnvironment } from 'tsflink'\nconst env = StreamExecutionEnvironment.getExecutionEnvironment()\nenv.fromElements(1, 2, 3).map((x: number) => { if (x === 2) throw new Error('cannot handle 2'); return x }).print()\nawait env.execute()\n")
    const r = await runCli(['run', join(dir, 'bad.ts')], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 1)
    assert.match(r.stderr.split('\n')[0]!, /^Error: Job failed: cannot handle 2/)
  })

  it('missing job file: exit 1; unknown flag: exit 2', async () => {
    const missing = await runCli(['run', '/nonexistent/job.ts'])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Error: Job file '\/nonexistent\/job\.ts' does not exist/)
    const bad = await runCli(['run', '--no-such-flag', COUNTER])
    assert.equal(bad.code, 2)
  })

  it('malformed configuration: exit 1 naming file and line', async () => {
    const dir = tmp()
    mkdirSync(join(dir, 'conf'))
    writeFileSync(join(dir, 'conf', 'config.yaml'), 'execution:\n  checkpointing:\n    interval: [10 s\n')
    const r = await runCli(['run', '--config-dir', join(dir, 'conf'), COUNTER, join(dir, 'out'), '1', '1'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Error: Malformed YAML in .*config\.yaml at line \d+/)
  })

  it('a bad -D value: exit 2 naming the key', async () => {
    const r = await runCli(['run', '-D', 'execution.checkpointing.interval=often', COUNTER, '/tmp/x', '1', '1'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /'execution\.checkpointing\.interval'/)
  })

  it('restoring from a directory that is not a checkpoint fails and creates nothing', async () => {
    const dir = tmp()
    const r = await runCli(['run', '-s', join(dir, 'nothing-here'), COUNTER, join(dir, 'out'), '10', '10'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no _metadata there/)
    assert.equal(existsSync(join(dir, 'out')), false)
  })
})
