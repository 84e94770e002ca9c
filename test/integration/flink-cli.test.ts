/**
 * tsflink's job-control commands with `-m host:port` against a real Apache Flink cluster
 * (test/servers/flink.ts; one cluster for this file), run as the real CLI (bin/run.js) in a
 * subprocess: `list [-r|-s|-a]` prints what Flink's own CLI prints; `checkpoint [-full]` yields a
 * checkpoint whose `_metadata` says so; `savepoint` (canonical, `-type native`) and `-d` dispose;
 * `cancel -s`, `stop -p` and `stop --drain` end the job with a savepoint of the right kind, and real
 * Flink (`bin/flink run -s`) restores from tsflink's savepoints with counts that continue exactly.
 * `run -m host:port job.jar` submits the Java job over REST (attached and detached, with -c, -p, -D,
 * -s, -n). Unknown jobs and unreachable job managers: one line on stderr, exit 1. One job runs at a
 * time, so the TaskManager's output belongs to it. Skips (naming what is missing) without Java; fails in CI.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseFlinkMetadata, type FlinkCheckpointMetadata } from '../../src/runtime/checkpoint/flink-metadata.js'
import { runCli } from '../helpers.js'
import { assertCountsContinue, counterLines, flinkSkipReason, startFlinkCluster, waitFor, type FlinkCluster } from '../servers/flink.js'
import { buildTestJob } from '../servers/flink-job.js'

const skip = flinkSkipReason()
const KEYS = 50
const JOB_ID = /^[0-9a-f]{32}$/

function localPath(p: string): string {
  return p.replace(/^file:\/*/, '/')
}

function metadataOf(dir: string): FlinkCheckpointMetadata {
  return parseFlinkMetadata(readFileSync(join(localPath(dir), '_metadata')))
}

describe('tsflink -m against a real Flink cluster', { skip }, () => {
  let cluster: FlinkCluster
  let jar: string
  let home: string
  let work: string
  // Checkpoints only when asked for (tsflink checkpoint); retained so their _metadata can be read.
  const conf = [
    '-Dstate.backend.type=rocksdb',
    '-Dexecution.checkpointing.incremental=true',
    '-Dexecution.checkpointing.interval=1h',
    '-Dexecution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION',
  ]

  before(async () => {
    jar = buildTestJob(process.env['TSFLINK_TEST_FLINK_VERSION'] ?? '2.2.1')
    // Removed in after(): tmp()'s own cleanup does not run when registered inside a hook.
    home = mkdtempSync(join(tmpdir(), 'tsflink-flink-cli-home-'))
    work = mkdtempSync(join(tmpdir(), 'tsflink-flink-cli-work-'))
    cluster = await startFlinkCluster({ config: { 'execution.checkpointing.num-retained': '5' } })
  })
  after(async () => {
    await cluster?.stop()
    for (const d of [home, work]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  const tsflink = (args: string[]): ReturnType<typeof runCli> => runCli([...args, '-m', cluster.address], { env: { TSFLINK_HOME: home } })
  const submit = (extra: string[] = []): string => {
    const r = cluster.flink(['run', '-d', ...conf, ...extra, jar, '--rate', '400', '--keys', String(KEYS)])
    const jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)?.[1]
    assert.ok(jobId, `bin/flink run failed (${r.status}): ${r.stdout}\n${r.stderr}`)
    return jobId
  }
  const state = async (jobId: string): Promise<string> => (await cluster.rest<{ state: string }>(`/jobs/${jobId}`)).state
  const reaches = async (jobId: string, wanted: string): Promise<void> => {
    await waitFor(`${jobId} ${wanted}`, async () => ((await state(jobId)) === wanted ? true : undefined))
  }
  /** Waits until the job runs and printed at least `n` more lines than `from`. */
  const printed = async (from: number, n: number): Promise<void> => {
    await waitFor(`${n} printed lines`, async () => (counterLines(cluster).length >= from + n ? true : undefined))
  }
  /** Flink's CLI lines without the JVM's noise (SLF4J, warnings). */
  const flinkLines = (out: string): string[] => out.split('\n').filter((l) => l !== '' && !/^(SLF4J|WARNING)/.test(l))

  let job = ''
  let savepointOfCancel = ''
  let savepointOfStop = ''
  let linesBefore: { n: number; key: number; count: number }[] = []

  it('list, list -r, -s, -a print what Flink\'s own CLI prints; checkpoint and checkpoint -full trigger the kind asked for', async () => {
    job = submit()
    await reaches(job, 'RUNNING')
    await printed(0, 100)
    for (const opt of [[], ['-r'], ['-s'], ['-a']]) {
      const ours = await tsflink(['list', ...opt])
      const theirs = cluster.flink(['list', ...opt, '-m', cluster.address])
      assert.equal(ours.code, 0, ours.stderr)
      assert.equal(theirs.status, 0, theirs.stderr)
      assert.deepEqual(ours.stdout.trimEnd().split('\n'), flinkLines(theirs.stdout), `list ${opt.join(' ')}`)
    }
    const listed = await tsflink(['list'])
    assert.match(listed.stdout, new RegExp(`^\\d\\d\\.\\d\\d\\.\\d{4} \\d\\d:\\d\\d:\\d\\d : ${job} : tsflink test counter \\(RUNNING\\)$`, 'm'))

    const first = await tsflink(['checkpoint', job])
    assert.equal(first.code, 0, first.stderr)
    const firstId = Number(new RegExp(`^Checkpoint (\\d+) for job ${job} completed\\.$`, 'm').exec(first.stdout)?.[1])
    assert.ok(firstId >= 1, first.stdout)
    const full = await tsflink(['checkpoint', job, '-full'])
    assert.equal(full.code, 0, full.stderr)
    const fullId = Number(new RegExp(`^Checkpoint\\(FULL\\) (\\d+) for job ${job} completed\\.$`, 'm').exec(full.stdout)?.[1])
    assert.ok(fullId > firstId, full.stdout)
    // What Flink wrote says which kind each was (interval 1h: only these two exist).
    const jobDir = join(cluster.checkpointsDir, job)
    assert.deepEqual(readdirSync(jobDir).filter((d) => d.startsWith('chk-')).sort(), [`chk-${firstId}`, `chk-${fullId}`].sort())
    const a = metadataOf(join(jobDir, `chk-${firstId}`))
    const b = metadataOf(join(jobDir, `chk-${fullId}`))
    assert.equal(a.checkpointId, firstId)
    assert.equal(a.properties?.sharingFilesStrategy, 'FORWARD_BACKWARD', 'the configured (incremental) kind')
    assert.equal(b.checkpointId, fullId)
    assert.equal(b.properties?.name, 'Full Checkpoint')
    assert.equal(b.properties?.sharingFilesStrategy, 'FORWARD', 'a full checkpoint shares nothing with earlier ones')
  })

  it('savepoint (canonical into the configured dir, native into a given one), then savepoint -d disposes through the job manager', async () => {
    const canonical = await tsflink(['savepoint', job])
    assert.equal(canonical.code, 0, canonical.stderr)
    const lines = canonical.stdout.trimEnd().split('\n')
    assert.equal(lines[0], `Triggering savepoint for job ${job}.`)
    assert.equal(lines[1], 'Waiting for response...')
    const path = /^Savepoint completed\. Path: (\S+)$/.exec(lines[2] ?? '')?.[1]
    assert.ok(path, canonical.stdout)
    assert.equal(lines[3], 'You can resume your program from this savepoint with the run command.')
    assert.ok(localPath(path).startsWith(`${cluster.savepointsDir}/savepoint-${job.slice(0, 6)}-`), path)
    const m = metadataOf(path)
    assert.equal(m.properties?.type, 'savepoint')
    assert.equal(m.properties?.formatType, 'CANONICAL')

    const nativeDir = join(work, 'native')
    const native = await tsflink(['savepoint', '-type', 'native', job, nativeDir])
    assert.equal(native.code, 0, native.stderr)
    const nativePath = /Path: (\S+)/.exec(native.stdout)?.[1]
    assert.ok(nativePath && localPath(nativePath).startsWith(`${nativeDir}/savepoint-`), native.stdout)
    assert.equal(metadataOf(nativePath).properties?.formatType, 'NATIVE')

    const dispose = await tsflink(['savepoint', '-d', localPath(nativePath)])
    assert.equal(dispose.code, 0, dispose.stderr)
    assert.deepEqual(dispose.stdout.trimEnd().split('\n'), [
      `Disposing savepoint '${localPath(nativePath)}'.`, 'Waiting for response...', `Savepoint '${localPath(nativePath)}' disposed.`,
    ])
    assert.equal(existsSync(localPath(nativePath)), false, 'the job manager deleted it')
    assert.ok(existsSync(join(localPath(path), '_metadata')), 'the other savepoint is untouched')
    assert.equal(await state(job), 'RUNNING')
  })

  it('unknown JobID and unreachable job manager: one line on stderr, exit 1, the job untouched', async () => {
    const unknown = '0123456789abcdef0123456789abcdef'
    for (const cmd of [['cancel', unknown], ['savepoint', unknown], ['stop', unknown], ['checkpoint', unknown]]) {
      const r = await tsflink(cmd)
      assert.equal(r.code, 1, `${cmd.join(' ')}: ${r.stdout}${r.stderr}`)
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '))
      assert.equal(errors.length, 1, r.stderr)
      assert.match(errors[0]!, /(could not be found|Could not find Flink job \(0123456789abcdef0123456789abcdef\))/)
      assert.doesNotMatch(errors[0]!, /org\.apache\.flink|\tat /, 'no Java class names or stack traces')
    }
    const away = await runCli(['list', '-m', '127.0.0.1:1'], { env: { TSFLINK_HOME: home } })
    assert.equal(away.code, 1)
    assert.match(away.stderr, /^Error: Cannot reach the job manager at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/m)
    assert.equal(await state(job), 'RUNNING')
  })

  it('cancel -s takes a savepoint, then cancels; real Flink restores from it with exact counts', { timeout: 240_000 }, async () => {
    const dir = join(work, 'cancel')
    mkdirSync(dir)
    const r = await tsflink(['cancel', '-s', dir, job])
    assert.equal(r.code, 0, r.stderr)
    const path = new RegExp(`^Cancelled job ${job}\\. Savepoint stored in (\\S+)\\.$`, 'm').exec(r.stdout)?.[1]
    assert.ok(path && localPath(path).startsWith(`${dir}/savepoint-`), r.stdout)
    assert.match(r.stdout, new RegExp(`^Cancelling job ${job} with CANONICAL savepoint to ${dir}\\.$`, 'm'))
    assert.equal(await state(job), 'CANCELED')
    assert.equal(metadataOf(path).properties?.type, 'savepoint')
    savepointOfCancel = path

    linesBefore = counterLines(cluster)
    job = submit(['-s', path])
    await printed(linesBefore.length, 200)
    const restored = counterLines(cluster).slice(linesBefore.length)
    assertCountsContinue(linesBefore, restored, KEYS)
  })

  it('stop -p takes a savepoint and finishes the job; real Flink restores from it with exact counts', { timeout: 240_000 }, async () => {
    const dir = join(work, 'stop')
    const r = await tsflink(['stop', '-p', dir, job])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Suspending job "${job}" with a CANONICAL savepoint\\.$`, 'm'))
    const path = /^Savepoint completed\. Path: (\S+)$/m.exec(r.stdout)?.[1]
    assert.ok(path && localPath(path).startsWith(`${dir}/savepoint-`), r.stdout)
    assert.equal(await state(job), 'FINISHED')
    const m = metadataOf(path)
    assert.equal(m.properties?.postCheckpointAction, 'SUSPEND')
    savepointOfStop = path

    const beforeStop = counterLines(cluster)
    job = submit(['-s', path])
    await printed(beforeStop.length, 200)
    // Stop-with-savepoint stops the source at the savepoint: the restored job continues right after
    // the last record printed before it (no replay, nothing skipped).
    const restored = counterLines(cluster).slice(beforeStop.length)
    const first = assertCountsContinue(beforeStop, restored, KEYS)
    assert.equal(first, beforeStop.reduce((m2, l) => Math.max(m2, l.n), -1) + 1)
  })

  it('stop --drain ends the job with a terminating savepoint in the configured directory', { timeout: 240_000 }, async () => {
    const r = await tsflink(['stop', '--drain', job])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Draining job "${job}" with a CANONICAL savepoint\\.$`, 'm'))
    const path = /^Savepoint completed\. Path: (\S+)$/m.exec(r.stdout)?.[1]
    assert.ok(path && localPath(path).startsWith(`${cluster.savepointsDir}/savepoint-`), r.stdout)
    assert.equal(await state(job), 'FINISHED')
    assert.equal(metadataOf(path).properties?.postCheckpointAction, 'TERMINATE')
    assert.ok(savepointOfCancel !== '' && savepointOfStop !== '')
  })

  it('run -m job.jar, attached: -p, -c and -D reach the job; it finishes with Flink\'s lines and exact counts', { timeout: 240_000 }, async () => {
    const before = counterLines(cluster).length
    const r = await runCli(['run', '-m', cluster.address, '-p', '2', '-c', 'tsflink.testjob.CounterJob', '-D', 'execution.checkpointing.interval=7s', jar,
      '--count', '300', '--rate', '1000', '--keys', String(KEYS)], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/.exec(lines[0] ?? '')?.[1]
    assert.ok(jobId !== undefined && JOB_ID.test(jobId), r.stdout)
    assert.deepEqual(lines.slice(1, 3), ['Program execution finished', `Job with JobID ${jobId} has finished.`])
    assert.match(lines[3] ?? '', /^Job Runtime: \d+ ms$/)
    assert.equal(lines.length, 4)
    const job = await cluster.rest<{ state: string; vertices: { name: string; parallelism: number }[] }>(`/jobs/${jobId}`)
    assert.equal(job.state, 'FINISHED')
    assert.equal(job.vertices.find((v) => /counter/.test(v.name))?.parallelism, 2, JSON.stringify(job.vertices))
    const cpConfig = await cluster.rest<{ interval: number }>(`/jobs/${jobId}/checkpoints/config`)
    assert.equal(cpConfig.interval, 7000, '-D reached the job')
    const printedLines = counterLines(cluster).slice(before)
    assert.deepEqual(printedLines.map((l) => l.n).sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i))
    for (const l of printedLines) assert.equal(l.count, Math.floor(l.n / KEYS) + 1, `n=${l.n}`)
  })

  it('run -m -d -s <savepoint tsflink took> -n job.jar: submitted detached, restored from it, counts continue exactly', { timeout: 240_000 }, async () => {
    const before = counterLines(cluster)
    const r = await runCli(['run', '-m', cluster.address, '-d', '-s', savepointOfStop, '-n', jar, '--rate', '400', '--keys', String(KEYS)], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/.exec(r.stdout.trimEnd())?.[1]
    assert.ok(jobId, r.stdout)
    await printed(before.length, 200)
    const restored = await cluster.rest<{ latest: { restored: { external_path: string } | null } }>(`/jobs/${jobId}/checkpoints`)
    assert.equal(localPath(restored.latest.restored?.external_path ?? ''), localPath(savepointOfStop))
    assertCountsContinue(before, counterLines(cluster).slice(before.length), KEYS)
    const cancel = await tsflink(['cancel', jobId])
    assert.equal(cancel.code, 0, cancel.stderr)
    assert.equal(await state(jobId), 'CANCELED')
  })

  it('a jar without -m, a missing jar, an unknown entry class: one line on stderr, non-zero, nothing submitted', async () => {
    const jobsBefore = (await cluster.rest<{ jobs: unknown[] }>('/jobs/overview')).jobs.length
    const env = { TSFLINK_HOME: home }
    const local = await runCli(['run', jar], { env })
    assert.equal(local.code, 2)
    assert.match(local.stderr, /^Error: A Java job jar runs on a Flink cluster: give its job manager with -m host:port/m)
    const missing = await runCli(['run', '-m', cluster.address, join(work, 'no-such.jar')], { env })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Error: JAR file does not exist: .*no-such\.jar$/m)
    const noClass = await runCli(['run', '-m', cluster.address, '-c', 'no.such.Main', jar], { env })
    assert.equal(noClass.code, 1)
    assert.match(noClass.stderr, /^Error: The program's entry point class 'no\.such\.Main' was not found in the jar file\.$/m)
    assert.equal((await cluster.rest<{ jobs: unknown[] }>('/jobs/overview')).jobs.length, jobsBefore)
    assert.deepEqual((await cluster.rest<{ files: unknown[] }>('/jars')).files, [], 'every upload deleted')
  })
})
