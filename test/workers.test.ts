/**
 * Task slots in worker threads, through the real CLI: where user code runs, and what happens when
 * it throws, kills its thread, runs out of memory, never returns, or builds another graph.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, it } from 'node:test'
import { CLI, ROOT, committedLines, expectedCounts, killWhenDone, runCli, sleep, tmp } from './helpers.js'

const SLOTS = join(ROOT, 'test', 'jobs', 'slots.ts')

const RESTART = ['-D', 'restart-strategy.type=fixed-delay', '-D', 'restart-strategy.fixed-delay.attempts=3', '-D', 'restart-strategy.fixed-delay.delay=10ms']

function checkpointing(dir: string): string[] {
  return ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${join(dir, 'cp')}`]
}

describe('task slots in worker threads', () => {
  it('a program that imports the runtime from its TypeScript sources, loaded as the CLI loads programs, runs in slots too', async () => {
    const dir = tmp()
    const job = join(dir, 'from-sources.mts')
    writeFileSync(job, [
      `import { StreamExecutionEnvironment } from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))}`,
      "import { isMainThread } from 'node:worker_threads'",
      'const env = StreamExecutionEnvironment.getExecutionEnvironment()',
      "env.fromSequence(1, 5).map((x: number) => `${x * 2} ${isMainThread ? 'main' : 'slot'}`).print()",
      "await env.execute('from sources')",
    ].join('\n'))
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      // Loaded as the CLI loads programs (tsx's tsImport, which gives every module URL a query).
      const loader = `import { importProgram } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src', 'runtime', 'job', 'program.ts')).href)}\nawait importProgram(${JSON.stringify(job)}, [])`
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', loader], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr.on('data', (d: Buffer) => (out += d.toString()))
      child.on('close', (code) => resolve({ code, out }))
    })
    assert.equal(r.code, 0, r.out)
    assert.deepEqual(r.out.trim().split('\n').map((l) => l.replace(/^\d+> /, '')).sort(), ['10 slot', '2 slot', '4 slot', '6 slot', '8 slot'])
  })

  it('a savepoint asked while the slots still load the program waits until the job runs', async (t) => {
    const dir = tmp()
    const job = join(dir, 'slow-start.ts')
    // Loading in a slot takes 1.5 s longer than on the main thread: the job is CREATED meanwhile.
    writeFileSync(job, [
      "import { isMainThread } from 'node:worker_threads'",
      "import { DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'",
      'if (!isMainThread) await new Promise((r) => setTimeout(r, 1500))',
      'const env = StreamExecutionEnvironment.getExecutionEnvironment()',
      "env.fromSource(new DataGeneratorSource((i: number) => i, Infinity, RateLimiterStrategy.perSecond(100)), WatermarkStrategy.noWatermarks(), 'n').uid('n')",
      "  .keyBy((v: number) => v % 3).sum().uid('sum').addSink(() => {})",
      "await env.execute('slow start')",
    ].join('\n'))
    const env = { TSFLINK_HOME: dir }
    const run = await runCli(['run', '-d', job], { env })
    assert.equal(run.code, 0, run.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(run.stdout)![1]!
    killWhenDone(t, dir, jobId)
    const listed = await runCli(['list'], { env })
    assert.match(listed.stdout, new RegExp(`${jobId} : slow start \\((CREATED|INITIALIZING)\\)`), 'the job is still starting')
    const sp = await runCli(['savepoint', jobId, join(dir, 'sp')], { env })
    assert.equal(sp.code, 0, sp.stderr)
    const path = /Savepoint completed\. Path: (\S+)/.exec(sp.stdout)![1]!
    assert.ok(readFileSync(join(path.replace(/^file:/, ''), '_metadata')).length > 0)
    const cancel = await runCli(['cancel', jobId], { env })
    assert.equal(cancel.code, 0, cancel.stderr)
  })

  it('user code runs in worker threads, one parallel pipeline per slot, never on the main thread', async () => {
    const dir = tmp()
    const threads = join(dir, 'threads')
    const r = await runCli(['run', '-p', '2', '-D', 'taskmanager.numberOfTaskSlots=2', SLOTS, join(dir, 'out'), '3000', 'ok', threads], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(3000))
    const opened = readFileSync(threads, 'utf8').trim().split('\n').map((l) => l.split(' '))
    assert.equal(opened.length, 2, 'one map instance per subtask')
    assert.ok(opened.every(([t]) => t !== 'main'), `user code ran on the main thread: ${JSON.stringify(opened)}`)
    assert.notEqual(opened[0]![0], opened[1]![0], 'the two subtasks ran in different threads')
  })

  it('everything a job prints in its slots reaches stdout before the job ends', async () => {
    const dir = tmp()
    const job = join(dir, 'print.ts')
    writeFileSync(job, "import { StreamExecutionEnvironment } from 'tsflink'\nconst env = StreamExecutionEnvironment.getExecutionEnvironment()\nenv.fromSequence(1, 100000).map((x: number) => `line ${x}`).print()\nawait env.execute('print')\n")
    for (const p of ['1', '2']) {
      const r = await runCli(['run', '-p', p, job], { env: { TSFLINK_HOME: dir } })
      assert.equal(r.code, 0, r.stderr)
      const lines = r.stdout.split('\n').filter((l) => / line \d+$|^line \d+$/.test(l))
      assert.equal(lines.length, 100_000, `p=${p}`)
      assert.match(r.stdout.trim().split('\n').at(-1)!, /^Job Runtime: \d+ ms$/, 'the job\'s end is printed after its output')
    }
  })

  it('more subtasks than slots share the slots', async () => {
    const dir = tmp()
    const threads = join(dir, 'threads')
    const r = await runCli(['run', '-p', '3', '-D', 'taskmanager.numberOfTaskSlots=2', SLOTS, join(dir, 'out'), '3000', 'ok', threads], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(3000))
    const opened = readFileSync(threads, 'utf8').trim().split('\n').map((l) => l.split(' '))
    assert.equal(opened.length, 3)
    assert.equal(new Set(opened.map(([t]) => t)).size, 2, 'three subtasks in two threads')
  })

  for (const [mode, what] of [['throw', 'an exception in user code'], ['exit', 'a worker thread that exits'], ['oom', 'a worker thread out of memory']] as const) {
    it(`${what} fails over by the restart strategy; the output stays exactly-once`, async () => {
      const dir = tmp()
      const heap = mode === 'oom' ? ['-D', 'taskmanager.memory.task.heap.size=96m'] : []
      const r = await runCli(['run', '-p', '2', ...RESTART, ...checkpointing(dir), ...heap, SLOTS, join(dir, 'out'), '20000', mode],
        { env: { TSFLINK_HOME: dir } })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(20000))
    })
  }

  it('user code that never returns fails over after heartbeat.timeout; the output stays exactly-once', async () => {
    const dir = tmp()
    const r = await runCli(['run', '-p', '2', ...RESTART, ...checkpointing(dir), '-D', 'heartbeat.timeout=2s', '-D', 'task.cancellation.timeout=1s',
      SLOTS, join(dir, 'out'), '20000', 'spin-once'], { env: { TSFLINK_HOME: dir }, timeout: 60_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(committedLines(join(dir, 'out')), expectedCounts(20000))
  })

  it('without restarts, the failure names its cause', async () => {
    const dir = tmp()
    const r = await runCli(['run', '-D', 'taskmanager.memory.task.heap.size=96m', SLOTS, join(dir, 'out'), '20000', 'oom'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /out of memory/)
  })

  it('a program that builds another graph in the slots fails with a clear message', async () => {
    const dir = tmp()
    const r = await runCli(['run', SLOTS, join(dir, 'out'), '100', 'shape'], { env: { TSFLINK_HOME: dir } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /different job graph/)
  })

  /** Sends SIGTERM a second after the job was submitted; returns how long the process took to end (fails after 15 s). */
  async function endsOnSigterm(child: ReturnType<typeof spawn>): Promise<number> {
    let stdout = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    for (let i = 0; i < 100 && !stdout.includes('submitted'); i++) await sleep(100)
    await sleep(1000)
    const t0 = Date.now()
    child.kill('SIGTERM')
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)])
    if (code === 'timeout') child.kill('SIGKILL')
    assert.notEqual(code, 'timeout', 'the job did not end after SIGTERM')
    return Date.now() - t0
  }

  it('user code that never returns: SIGTERM still ends the job within task.cancellation.timeout', async () => {
    const dir = tmp()
    const child = spawn(process.execPath, [CLI, 'run', '-D', 'task.cancellation.timeout=1s', SLOTS, join(dir, 'out'), '0', 'spin'],
      { env: { ...process.env, TSFLINK_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] })
    assert.ok((await endsOnSigterm(child)) < 10_000)
  })

  it('a busy job ends promptly on SIGTERM (cancellation needs no timeout when user code returns)', async () => {
    const dir = tmp()
    const child = spawn(process.execPath, [CLI, 'run', '-p', '2', SLOTS, join(dir, 'out'), '0', 'burn'],
      { env: { ...process.env, TSFLINK_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] })
    const took = await endsOnSigterm(child)
    assert.ok(took < 5000, `took ${took} ms`)
  })
})
