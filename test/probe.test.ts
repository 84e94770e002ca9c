/**
 * Fail fast and say why: checkpoint and savepoint storage that cannot be used (a file, a folder
 * this user cannot write, a kernel pseudo filesystem) stops the job before it starts, with one line
 * naming the path, instead of a silent restart loop.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Configuration, StreamExecutionEnvironment } from '../src/index.js'
import { ROOT, runCli, tmp } from './helpers.js'
import { giveToNobody, requireOtherUser, runCliAsNobody } from './other-user.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')

async function runWith(home: string, ...d: string[]): Promise<{ code: number | null; first: string; stdout: string; ms: number }> {
  const start = Date.now()
  // Bounded: before this check such jobs restarted (or spun) for ever.
  const r = await runCli(['run', ...d.flatMap((x) => ['-D', x]), COUNTER, join(home, 'out'), '1000', '1000'], { env: { TSFLINK_HOME: home }, timeout: 30_000, killSignal: 'SIGKILL' })
  return { code: r.code, first: r.stderr.split('\n')[0] ?? '', stdout: r.stdout, ms: Date.now() - start }
}

describe('checkpoint storage is checked when the job starts', () => {
  it('a checkpoint directory that is a file', async () => {
    const home = tmp()
    const file = join(home, 'a-file')
    writeFileSync(file, 'not a folder')
    const r = await runWith(home, 'execution.checkpointing.interval=100ms', `state.checkpoints.dir=${file}`)
    assert.equal(r.code, 1)
    assert.equal(r.first, `Error: Cannot use '${file}' (execution.checkpointing.dir) to store checkpoints and savepoints: it is a file, not a directory`)
    assert.doesNotMatch(r.stdout, /submitted/, 'no job started')
  })

  it('a checkpoint directory below a file', async () => {
    const home = tmp()
    writeFileSync(join(home, 'f'), '')
    const r = await runWith(home, 'execution.checkpointing.interval=100ms', `execution.checkpointing.dir=${join(home, 'f', 'cp')}`)
    assert.equal(r.code, 1)
    assert.match(r.first, new RegExp(`'${join(home, 'f', 'cp')}'.*'${join(home, 'f')}' in its path is a file`))
  })

  it('a checkpoint directory under /proc fails at once (it used to spin in "checkpoint in progress")', async () => {
    const home = tmp()
    const r = await runWith(home, 'execution.checkpointing.interval=100ms', 'state.checkpoints.dir=/proc/tsflink-checkpoints')
    assert.equal(r.code, 1)
    assert.equal(r.first, "Error: Cannot use '/proc/tsflink-checkpoints' (execution.checkpointing.dir) to store checkpoints and savepoints: it is on the kernel's proc pseudo filesystem")
    assert.ok(r.ms < 15_000, `took ${r.ms} ms`)
  })

  it('a savepoint directory that is a file', async () => {
    const home = tmp()
    writeFileSync(join(home, 'sp'), '')
    const r = await runWith(home, `state.savepoints.dir=${join(home, 'sp')}`)
    assert.equal(r.code, 1)
    assert.match(r.first, new RegExp(`'${join(home, 'sp')}' \\(execution\\.checkpointing\\.savepoint-dir\\).*it is a file`))
  })

  it('a good configuration passes, creates the checkpoint folder and writes nothing into it', async () => {
    const home = tmp()
    const cp = join(home, 'new', 'cp')
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', cp).set('execution.checkpointing.interval', '1 h'))
    env.fromElements(1, 2).addSink(() => {})
    const r = await env.execute('ok')
    assert.equal(r.status, 'FINISHED')
    assert.ok(existsSync(cp))
    assert.deepEqual(readdirSync(cp), [], 'no probe file, nothing else (the finished job deleted its checkpoints)')
  })

  it('without checkpointing the checkpoint directory is not touched', async () => {
    const home = tmp()
    writeFileSync(join(home, 'f'), '')
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(home, 'f')))
    env.fromElements(1).addSink(() => {})
    assert.equal((await env.execute('no checkpoints')).status, 'FINISHED')
  })

  it('a folder the job\'s user cannot write, or create (run as nobody)', async (t) => {
    if (!requireOtherUser(t)) return
    const home = tmp()
    giveToNobody(home)
    const locked = join(home, 'root-only')
    mkdirSync(locked, { mode: 0o755 }) // root's, not writable by nobody
    for (const [dir, why] of [[join(locked, 'cp'), 'it cannot be created: permission denied'], [locked, 'it cannot be written: permission denied']] as const) {
      const r = await runCliAsNobody(['run', '-D', 'execution.checkpointing.interval=100ms', '-D', `state.checkpoints.dir=${dir}`,
        COUNTER, join(home, 'out'), '1000', '1000'], { TSFLINK_HOME: join(home, 'nobody-home') })
      assert.equal(r.code, 1, r.stderr)
      assert.equal(r.stderr.split('\n')[0], `Error: Cannot use '${dir}' (execution.checkpointing.dir) to store checkpoints and savepoints: ${why}`)
      assert.doesNotMatch(r.stdout, /submitted/)
    }
  })
})
