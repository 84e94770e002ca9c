/**
 * Checkpoints and savepoints on S3 end to end, through the real CLI and a real S3-protocol server
 * (s3rver) on 127.0.0.1: kill -9 and restore from S3, savepoints moved between S3 and the
 * filesystem, list and prune of an S3 root, prune honouring a running job's lease and a savepoint
 * in progress on S3, the prune lock held by another host, an unreachable S3 during checkpoints.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Configuration } from '../../src/runtime/config/configuration.js'
import { parseLease, serializeLease, type Lease } from '../../src/runtime/checkpoint/lease.js'
import { serializeMetadata as serializeCurrent, type CheckpointMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { S3Storage, s3SettingsFrom } from '../../src/runtime/storage/s3-storage.js'
import { CLI, ROOT, committedLines, runCli, sleep, tmp, expectedCounts, killWhenDone, untilRunning } from '../helpers.js'
import { S3_SECRET_KEY, startS3, type S3Server } from '../servers/s3.js'

/** The fixtures here list files without content checksums, as `_metadata` format version 1 does (still read). */
const serializeMetadata = (meta: CheckpointMetadata): Buffer => serializeCurrent(meta, 1)

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
const JOB = '0123456789abcdef0123456789abcdef'

function lease(p: Partial<Lease> = {}): Buffer {
  return serializeLease({
    format: 'tsflink-lease', version: 1, kind: 'job', jobId: JOB, owner: { host: 'another-host', pid: 1, startedAt: Date.now() - 60_000 },
    renewedAt: Date.now(), ttlMs: 60_000, latestCompleted: null, inProgress: [], savepointsInProgress: [], ended: false, ...p,
  })
}

/** Three completed checkpoints of JOB below `root`, each with a private file and a shared one. */
async function history(storage: S3Storage, root: string): Promise<void> {
  for (const id of [1, 2, 3]) {
    const files = [{ path: `state-${id}`, data: `state ${id}` }, { path: `../shared/sst-${id}`, data: `table ${id}` }]
    for (const f of files) await storage.write(`${root}/${JOB}/${f.path.startsWith('..') ? f.path.slice(3) : `chk-${id}/${f.path}`}`, Buffer.from(f.data))
    const at = new Date(Date.now() - (5 - id) * 86_400_000)
    await storage.write(`${root}/${JOB}/chk-${id}/_metadata`, serializeMetadata({
      jobId: JOB as never, jobName: 'j', checkpointId: id as never, timestamp: at.getTime(), completedAt: at.toISOString(),
      kind: { type: 'checkpoint', incremental: true, format: 'native' }, backend: 'rocksdb', program: null, operators: [],
      files: files.map((f) => ({ path: f.path, size: f.data.length })),
    }))
  }
}


describe('checkpoints and savepoints on S3', () => {
  let s3: S3Server
  let storage: S3Storage
  before(async () => {
    s3 = await startS3('flink')
    storage = new S3Storage(s3SettingsFrom(new Configuration(s3.config)))
  })
  after(async () => s3.stop())

  it('a job killed with -9 resumes from its latest S3 checkpoint; list and prune work on the S3 root', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const cp = 's3://flink/checkpoints'
    const total = 20_000
    const child = spawn(process.execPath, [CLI, 'run', ...s3.cliConfig, '-D', 'execution.checkpointing.interval=60ms', '-D', `execution.checkpointing.dir=${cp}`,
      '-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true', '-D', 'execution.checkpointing.num-retained=3',
      COUNTER, out, String(total), '5000'], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
    const exited = new Promise((r) => child.on('exit', r))
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      await sleep(30)
      if ((await storage.list(cp)).filter((o) => o.location.endsWith('/_metadata')).length >= 3) break
    }
    await sleep(200)
    child.kill('SIGKILL')
    await exited

    const listed = await runCli(['checkpoints', 'list', '--dir', cp, '--json', ...s3.cliConfig], { env: { TSFLINK_HOME: home } })
    assert.equal(listed.code, 0, listed.stderr)
    const rows = JSON.parse(listed.stdout) as { jobId: string; status: string; checkpointId: number; incremental: boolean }[]
    const valid = rows.filter((r) => r.status === 'valid' || r.status === 'orphan')
    assert.ok(valid.length >= 1)
    assert.ok(valid.every((r) => r.incremental))
    const jobId = valid[0]!.jobId

    const pruned = await runCli(['checkpoints', 'prune', '--dir', cp, '--keep', '1', '--json', ...s3.cliConfig], { env: { TSFLINK_HOME: home } })
    assert.equal(pruned.code, 0, pruned.stderr)
    const after = JSON.parse((await runCli(['checkpoints', 'list', '--dir', cp, '--json', ...s3.cliConfig], { env: { TSFLINK_HOME: home } })).stdout) as { status: string; checkpointId: number }[]
    // The killed job's lease is still within its time to live (prune cannot tell a dead process on
    // another host from a slow one): the checkpoint it names stays besides the newest one.
    const lease = parseLease(await storage.read(`${cp}/${jobId}/_lease`))
    assert.ok(lease.ok, 'the killed job left its lease')
    const newest = Math.max(...valid.map((r) => r.checkpointId))
    const expected = new Set([newest, ...(lease.lease.latestCompleted === null ? [] : [lease.lease.latestCompleted])])
    assert.deepEqual(after.filter((r) => r.status === 'valid').map((r) => r.checkpointId).sort(), [...expected].sort())

    const resumed = await runCli(['checkpoints', 'restore', jobId, ...s3.cliConfig, '-D', `execution.checkpointing.dir=${cp}`], { env: { TSFLINK_HOME: home } })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })

  it('a savepoint taken to S3 restores from the filesystem after a copy, and back', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const total = 60_000 // long enough that cancel -s comes before the end on a loaded machine
    const started = await runCli(['run', '-d', ...s3.cliConfig, '-D', 'execution.checkpointing.interval=100ms', COUNTER, out, String(total), '5000'], { env: { TSFLINK_HOME: home } })
    assert.equal(started.code, 0, started.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.stdout)![1]!
    await sleep(600)
    const cancel = await runCli(['cancel', '-s', 's3://flink/savepoints', jobId, ...s3.cliConfig], { env: { TSFLINK_HOME: home } })
    assert.equal(cancel.code, 0, cancel.stderr)
    const sp = /Savepoint stored in (s3:\/\/.+)\.$/m.exec(cancel.stdout)![1]!
    // Copy S3 → filesystem.
    const local = join(home, 'copied-savepoint')
    for (const o of await storage.list(sp)) {
      const rel = o.location.slice(sp.length + 1)
      mkdirSync(join(local, rel, '..'), { recursive: true })
      writeFileSync(join(local, rel), await storage.read(o.location))
    }
    // And filesystem → S3 again, under another name.
    const again = 's3://flink/moved/my-savepoint'
    for (const o of await storage.list(sp)) await storage.write(`${again}/${o.location.slice(sp.length + 1)}`, await storage.read(o.location))
    await storage.deleteTree(sp)
    const fromS3 = await runCli(['run', '-s', again, ...s3.cliConfig, COUNTER, out, String(total), '100000'], { env: { TSFLINK_HOME: home } })
    assert.equal(fromS3.code, 0, fromS3.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
    const out2 = join(home, 'out2')
    const fromFs = await runCli(['run', '-s', local, COUNTER, out2, String(total), '100000'], { env: { TSFLINK_HOME: home } })
    assert.equal(fromFs.code, 0, fromFs.stderr)
  })

  it('prune on S3 honours a running job\'s lease and a savepoint in progress that this host knows nothing of', async () => {
    const root = 's3://flink/leased'
    await history(storage, root)
    await storage.write(`${root}/${JOB}/chk-4/state-4`, Buffer.from('being written'))
    await storage.write(`${root}/${JOB}/shared/uploading`, Buffer.from('no _metadata names this yet'))
    await storage.write(`${root}/${JOB}/_lease`, lease({ latestCompleted: 3, inProgress: [4] }))
    await storage.write(`${root}/savepoint-012345-abcdefabcdef/state`, Buffer.from('savepoint being written'))
    await storage.write(`${root}/savepoint-012345-abcdefabcdef/_in_progress`, lease({ kind: 'savepoint' }))
    const before = (await storage.list(root)).map((o) => o.location).sort()
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--include-savepoints', '--json', ...s3.cliConfig], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as { deleted: string[] }).deleted, [`${root}/${JOB}/chk-1`, `${root}/${JOB}/chk-2`])
    const after = (await storage.list(root)).map((o) => o.location).sort()
    assert.deepEqual(after, before.filter((l) => !l.startsWith(`${root}/${JOB}/chk-1/`) && !l.startsWith(`${root}/${JOB}/chk-2/`)), 'shared files, the checkpoint and the savepoint in progress all stay')
    // Once the job's lease has ended, what no kept checkpoint references goes.
    await storage.write(`${root}/${JOB}/_lease`, lease({ latestCompleted: 3, ended: true }))
    const ended = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--json', ...s3.cliConfig], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(ended.code, 0, ended.stderr)
    assert.deepEqual((JSON.parse(ended.stdout) as { deleted: string[] }).deleted.sort(), [`${root}/${JOB}/chk-4`, `${root}/${JOB}/shared/sst-1`, `${root}/${JOB}/shared/sst-2`, `${root}/${JOB}/shared/uploading`])
  })

  it('the prune lock on S3 holds against a prune on another host (s3rver ignores If-None-Match: the lock does not rely on it)', async () => {
    const root = 's3://flink/locked'
    await history(storage, root)
    await storage.write(`${root}/.tsflink-prune.lock`, Buffer.from(JSON.stringify({ pid: 4242, host: 'another-host', since: new Date().toISOString() })))
    const before = (await storage.list(root)).map((o) => o.location).sort()
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', ...s3.cliConfig], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Error: Another prune is running on s3:\/\/flink\/locked \(pid 4242 on another-host\); refusing to run twice at once$/m)
    assert.deepEqual((await storage.list(root)).map((o) => o.location).sort(), before, 'nothing deleted, the other host\'s lock untouched')
    assert.equal(JSON.parse((await storage.read(`${root}/.tsflink-prune.lock`)).toString()).host, 'another-host')
  })

  it('an unreachable S3 fails checkpoints: tolerated, the job runs on; not tolerated, it fails; the secret is never printed', async (t) => {
    const home = tmp()
    const down = ['-D', 's3.endpoint=http://127.0.0.1:9', '-D', 's3.access-key=AKIDEXAMPLE', '-D', `s3.secret-key=${S3_SECRET_KEY}-very-secret`,
      '-D', 'execution.checkpointing.interval=50ms', '-D', 'execution.checkpointing.dir=s3://nowhere/cp', '-D', 'execution.checkpointing.timeout=2s']
    const started = await runCli(['run', '-d', ...down, '-D', 'execution.checkpointing.tolerable-failed-checkpoints=1000', COUNTER, join(home, 'out'), '100000000', '2000'], { env: { TSFLINK_HOME: home } })
    assert.equal(started.code, 0, started.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.stdout)![1]!
    killWhenDone(t, home, jobId)
    await untilRunning(jobId, { TSFLINK_HOME: home })
    const entry = JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { rest: string; secret: string }
    type Stats = { counts: { completed: number; failed: number } }
    const deadline = Date.now() + 30_000
    let stats: Stats
    do {
      await sleep(200)
      stats = (await (await fetch(`http://${entry.rest}/jobs/${jobId}/checkpoints`, { headers: { authorization: `Bearer ${entry.secret}` } })).json()) as Stats
    } while (stats.counts.failed < 3 && Date.now() < deadline)
    assert.equal(stats.counts.completed, 0)
    assert.ok(stats.counts.failed >= 3, `failed checkpoints: ${stats.counts.failed}`)
    const list = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.match(list.stdout, new RegExp(`${jobId} : counter \\(RUNNING\\)`))
    await runCli(['cancel', jobId], { env: { TSFLINK_HOME: home } })
    assert.ok(!readFileSync(join(home, 'log', `${jobId}.log`), 'utf8').includes('very-secret'))

    const strict = await runCli(['run', ...down, '-D', 'execution.checkpointing.tolerable-failed-checkpoints=0', '-D', 'restart-strategy.type=none',
      COUNTER, join(home, 'out2'), '100000000', '2000'], { env: { TSFLINK_HOME: home } })
    assert.equal(strict.code, 1)
    assert.match(strict.stderr, /^Error: Job failed: Exceeded checkpoint tolerable failure threshold \(0\).*S3/m)
    assert.ok(!`${strict.stdout}${strict.stderr}`.includes('very-secret'), 'the secret key never appears')
  })
})
