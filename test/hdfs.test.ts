/**
 * Checkpoints and savepoints on HDFS end to end, through the real CLI and a real Hadoop mini
 * cluster on 127.0.0.1 (test/servers/hadoop.ts; WebHDFS): kill -9 and restore from HDFS, list and
 * prune of an HDFS root, savepoints moved between HDFS, S3 and the filesystem and restored from
 * each, the prune lock on HDFS held by another host, examples/hdfs.ts, an unreachable WebHDFS. The same Storage
 * contract as the filesystem and S3 runs against HDFS in test/storage.test.ts.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Configuration } from '../src/runtime/config/configuration.js'
import { parseLease } from '../src/runtime/checkpoint/lease.js'
import { HdfsStorage, hdfsSettingsFrom } from '../src/runtime/storage/hdfs-storage.js'
import { S3Storage, s3SettingsFrom } from '../src/runtime/storage/s3-storage.js'
import type { Storage } from '../src/runtime/storage/storage.js'
import { CLI, ROOT, committedLines, expectedCounts, runCli, sleep, tmp } from './helpers.js'
import { hadoopSkip, startHadoop, type HadoopCluster } from './servers/hadoop.js'
import { startS3, type S3Server } from './servers/s3.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')

/** Copies every object below `from` to the same relative place below `to`. */
async function copyTree(src: Storage, from: string, dst: Storage, to: string): Promise<number> {
  const objects = await src.list(from)
  for (const o of objects) await dst.write(`${to}/${o.location.slice(from.length + 1)}`, await src.read(o.location))
  return objects.length
}

describe('checkpoints and savepoints on HDFS', { skip: hadoopSkip() }, () => {
  let hadoop: HadoopCluster
  let hdfs: HdfsStorage
  let s3: S3Server
  let nn: string
  let cli: string[]
  before(async () => {
    ;[hadoop, s3] = await Promise.all([startHadoop({ hdfs: true }), startS3('moved')])
    hdfs = new HdfsStorage(hdfsSettingsFrom(new Configuration(hadoop.config)))
    nn = hadoop.nameNode
    cli = [...hadoop.cliConfig, ...s3.cliConfig]
  })
  after(async () => {
    await hadoop?.stop()
    await s3?.stop()
  })

  it('a job killed with -9 resumes from its latest HDFS checkpoint; list and prune work on the HDFS root', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const cp = `${nn}/flink/checkpoints`
    const total = 20_000
    const child = spawn(process.execPath, [CLI, 'run', ...cli, '-D', 'execution.checkpointing.interval=60ms', '-D', `execution.checkpointing.dir=${cp}`,
      '-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true', '-D', 'execution.checkpointing.num-retained=3',
      COUNTER, out, String(total), '2000'], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
    let running = true
    const exited = new Promise((r) => child.on('exit', r)).finally(() => (running = false))
    // 10 s of input at most: three checkpoints complete long before, even on a loaded machine.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && running;) {
      await sleep(50)
      if ((await hdfs.list(cp)).filter((o) => o.location.endsWith('/_metadata')).length >= 3) break
    }
    await sleep(200)
    assert.ok(running, 'the job was still running when it was killed')
    child.kill('SIGKILL')
    await exited

    const listed = await runCli(['checkpoints', 'list', '--dir', cp, '--json', ...cli], { env: { TSFLINK_HOME: home } })
    assert.equal(listed.code, 0, listed.stderr)
    const rows = JSON.parse(listed.stdout) as { jobId: string; status: string; checkpointId: number; incremental: boolean }[]
    const valid = rows.filter((r) => r.status === 'valid' || r.status === 'orphan')
    assert.ok(valid.length >= 1, `a checkpoint to resume from: ${listed.stdout}`)
    assert.ok(valid.every((r) => r.incremental), 'incremental checkpoints')
    const jobId = valid[0]!.jobId
    // The checkpoints on HDFS are the ones whose _metadata exists there (first principles, not the CLI's word).
    const withMetadata = (await hdfs.list(`${cp}/${jobId}`)).filter((o) => /\/chk-\d+\/_metadata$/.test(o.location)).map((o) => Number(/chk-(\d+)/.exec(o.location)![1]))
    assert.deepEqual(valid.map((r) => r.checkpointId).sort((a, b) => a - b), withMetadata.sort((a, b) => a - b))

    const pruned = await runCli(['checkpoints', 'prune', '--dir', cp, '--keep', '1', '--json', ...cli], { env: { TSFLINK_HOME: home } })
    assert.equal(pruned.code, 0, pruned.stderr)
    const after = JSON.parse((await runCli(['checkpoints', 'list', '--dir', cp, '--json', ...cli], { env: { TSFLINK_HOME: home } })).stdout) as { status: string; checkpointId: number }[]
    // The killed job's lease is still within its time to live: the checkpoint it names stays besides the newest one.
    const lease = parseLease(await hdfs.read(`${cp}/${jobId}/_lease`))
    assert.ok(lease.ok, 'the killed job left its lease')
    const newest = Math.max(...valid.map((r) => r.checkpointId))
    const expected = new Set([newest, ...(lease.lease.latestCompleted === null ? [] : [lease.lease.latestCompleted])])
    assert.deepEqual(after.filter((r) => r.status === 'valid').map((r) => r.checkpointId).sort(), [...expected].sort())
    for (const id of valid.map((r) => r.checkpointId).filter((id) => !expected.has(id))) {
      assert.deepEqual(await hdfs.list(`${cp}/${jobId}/chk-${id}`), [], `chk-${id} is gone from HDFS`)
    }

    const resumed = await runCli(['checkpoints', 'restore', jobId, ...cli, '-D', `execution.checkpointing.dir=${cp}`], { env: { TSFLINK_HOME: home } })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual(committedLines(out), expectedCounts(total))
  })

  it('a savepoint taken to HDFS restores after moves HDFS → S3 → files → HDFS, from each place', async () => {
    const home = tmp()
    const total = 60_000 // long enough that cancel -s comes before the end on a loaded machine
    const out = join(home, 'out')
    const started = await runCli(['run', '-d', ...cli, '-D', 'execution.checkpointing.interval=100ms', COUNTER, out, String(total), '5000'], { env: { TSFLINK_HOME: home } })
    assert.equal(started.code, 0, started.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.stdout)![1]!
    await sleep(800)
    const cancel = await runCli(['cancel', '-s', `${nn}/flink/savepoints`, jobId, ...cli], { env: { TSFLINK_HOME: home } })
    assert.equal(cancel.code, 0, cancel.stderr)
    const sp = /Savepoint stored in (hdfs:\/\/.+)\.$/m.exec(cancel.stdout)![1]!
    assert.ok((await hdfs.stat(`${sp}/_metadata`)) !== undefined, 'the savepoint is on HDFS')
    assert.ok(committedLines(out).length < total, 'cancelled mid-way')

    // HDFS → S3, S3 → files, files → HDFS (another folder); the original is deleted.
    const s3Store = new S3Storage(s3SettingsFrom(new Configuration(s3.config)))
    const onS3 = 's3://moved/savepoints/from-hdfs'
    const n = await copyTree(hdfs, sp, s3Store, onS3)
    assert.ok(n >= 2)
    const local = join(home, 'local-savepoint')
    for (const o of await s3Store.list(onS3)) {
      const rel = o.location.slice(onS3.length + 1)
      mkdirSync(join(local, rel, '..'), { recursive: true })
      writeFileSync(join(local, rel), await s3Store.read(o.location))
    }
    const back = `${nn}/elsewhere/my-savepoint`
    for (const o of await s3Store.list(onS3)) await hdfs.write(`${back}/${o.location.slice(onS3.length + 1)}`, await s3Store.read(o.location))
    await hdfs.deleteTree(sp)
    assert.equal(await hdfs.stat(`${sp}/_metadata`), undefined)

    for (const [where, from] of [['HDFS', back], ['S3', onS3], ['files', local]] as const) {
      const o = join(home, `out-${where}`)
      const r = await runCli(['run', '-s', from, ...cli, COUNTER, o, String(total), '100000'], { env: { TSFLINK_HOME: home } })
      assert.equal(r.code, 0, `${where}: ${r.stderr}`)
      // The restored job commits what the savepoint holds (besides what the cancelled run's
      // checkpoints committed) and goes on from there: together, every key's counts 1..n once
      // each (no loss, no duplicate).
      assert.deepEqual([...committedLines(out), ...committedLines(o)].sort(), expectedCounts(total), `restored from ${where}`)
    }
  })

  it('the prune lock on HDFS holds against a prune on another host', async () => {
    const root = `${nn}/locked`
    await hdfs.write(`${root}/0123456789abcdef0123456789abcdef/chk-1/state`, Buffer.from('s'))
    await hdfs.write(`${root}/.tsflink-prune.lock`, Buffer.from(JSON.stringify({ pid: 4242, host: 'another-host', since: new Date().toISOString() })))
    const before = (await hdfs.list(root)).map((o) => o.location).sort()
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', ...cli], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^Error: Another prune is running on ${root.replace(/[.]/g, '\\.')} \\(pid 4242 on another-host\\); refusing to run twice at once$`, 'm'))
    assert.deepEqual((await hdfs.list(root)).map((o) => o.location).sort(), before, 'nothing deleted, the lock untouched')
  })

  it('savepoint -d disposes of an HDFS savepoint, and refuses an HDFS folder that is not one', async () => {
    const notOne = `${nn}/dispose/not-a-savepoint`
    await hdfs.write(`${notOne}/state`, Buffer.from('keep me'))
    const refused = await runCli(['savepoint', '-d', notOne, ...hadoop.cliConfig], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(refused.code, 1)
    assert.equal(refused.stderr.split('\n')[0], `Error: Cannot dispose '${notOne}': it is not a savepoint (no _metadata there)`)
    assert.equal((await hdfs.read(`${notOne}/state`)).toString(), 'keep me')

    // A real savepoint: taken by a job to HDFS.
    const home = tmp()
    const started = await runCli(['run', '-d', ...hadoop.cliConfig, COUNTER, join(home, 'out'), '1000000', '2000'], { env: { TSFLINK_HOME: home } })
    assert.equal(started.code, 0, started.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.stdout)![1]!
    const cancel = await runCli(['cancel', '-s', `${nn}/dispose`, jobId, ...hadoop.cliConfig], { env: { TSFLINK_HOME: home } })
    assert.equal(cancel.code, 0, cancel.stderr)
    const taken = /Savepoint stored in (hdfs:\/\/.+)\.$/m.exec(cancel.stdout)![1]!
    assert.ok((await hdfs.list(taken)).length >= 2)
    const disposed = await runCli(['savepoint', '-d', taken, ...hadoop.cliConfig], { env: { TSFLINK_HOME: home } })
    assert.equal(disposed.code, 0, disposed.stderr)
    assert.deepEqual(await hdfs.list(taken), [], 'the savepoint is gone')
    assert.equal((await hdfs.read(`${notOne}/state`)).toString(), 'keep me', 'its neighbour stays')
  })

  it('examples/hdfs.ts runs, checkpointing to HDFS', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const cp = `${nn}/example/checkpoints`
    const child = spawn(process.execPath, [CLI, 'run', ...hadoop.cliConfig, join(ROOT, 'examples', 'hdfs.ts'), cp, out, '20000', '4000'],
      { env: { ...process.env, TSFLINK_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    let done = false
    void exited.then(() => (done = true))
    let checkpointed = false
    while (!done && !checkpointed) {
      checkpointed = (await hdfs.list(cp)).some((o) => o.location.endsWith('/_metadata'))
      await sleep(100)
    }
    assert.equal(await exited, 0, stderr)
    assert.ok(checkpointed, 'a checkpoint completed on HDFS while the job ran')
    // n mod 10 counted: key k saw 2 000 numbers, so its lines are k:1 … k:2000.
    const expected = Array.from({ length: 10 }, (_, k) => Array.from({ length: 2000 }, (_, i) => `${k}:${i + 1}`)).flat().sort()
    assert.deepEqual(committedLines(out), expected)
  })

  it('an unreachable WebHDFS is one clear error line, not a hang or a stack trace', async () => {
    const r = await runCli(['checkpoints', 'list', '--dir', `${nn}/flink/checkpoints`, '-D', 'fs.hdfs.webhdfs.address=127.0.0.1:9'], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(r.code, 1)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0]!, /^Error: .*HDFS listing of hdfs:\/\/127\.0\.0\.1:\d+\/flink\/checkpoints failed: ECONNREFUSED/)
  })
})
