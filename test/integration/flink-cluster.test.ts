/**
 * Against a real Apache Flink cluster (test/servers/flink.ts; one cluster for this file): the Java
 * counter job (test/flink-job) runs with RocksDB incremental checkpoints retained on
 * cancellation, submitted with the real `bin/flink run -d`, and is cancelled. Every retained
 * `_metadata` is read with tsflink's reader of Flink's format: every file it references exists
 * with the recorded size, the files in shared/ that no retained checkpoint references are only
 * those a checkpoint still in flight at cancellation wrote, and the sizes add up to what Flink's
 * REST API reports. Then real Flink restores from the latest retained checkpoint and the counts
 * continue exactly. Skips (naming what is missing) without Java; fails in CI.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { inlineState, parseFlinkMetadata, referencedFiles } from '../../src/runtime/checkpoint/flink-metadata.js'
import { runCli, tmp } from '../helpers.js'
import { assertCountsContinue, dumpMetadata, filesBelow, flinkSkipReason, startFlinkCluster, type FlinkCluster } from '../servers/flink.js'
import { buildTestJob } from '../servers/flink-job.js'

const skip = flinkSkipReason()
const KEYS = 20000
/** The jobs' checkpoint timeout, which prune is told too (its rule: files newer than latest completed + timeout stay). */
const TIMEOUT_S = 15
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface CheckpointStats { id: number; status: string; state_size: number; external_path: string }

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(250)
  }
}

function localPath(p: string): string {
  return p.replace(/^file:\/*/, '/')
}

/** The job's printed lines: n, key, count. */
function outputLines(cluster: FlinkCluster): { n: number; key: number; count: number }[] {
  return cluster.taskManagerOut().split('\n').flatMap((l) => {
    const m = /n=(\d+) key=(\d+) count=(\d+)/.exec(l)
    return m ? [{ n: Number(m[1]), key: Number(m[2]), count: Number(m[3]) }] : []
  })
}

describe('a real Flink cluster', { skip }, () => {
  let cluster: FlinkCluster
  let jar: string
  const conf = [
    '-Dstate.backend.type=rocksdb',
    '-Dexecution.checkpointing.incremental=true',
    '-Dexecution.checkpointing.interval=400ms',
    '-Dexecution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION',
    `-Dexecution.checkpointing.timeout=${TIMEOUT_S}s`,
    '-Dexecution.checkpointing.tolerable-failed-checkpoints=1000',
  ]

  before(async () => {
    jar = buildTestJob(process.env['TSFLINK_TEST_FLINK_VERSION'] ?? '2.2.1')
    cluster = await startFlinkCluster({ config: { 'execution.checkpointing.num-retained': '3' } })
  })
  after(async () => { await cluster?.stop() })

  const submit = (extra: string[]): string => {
    const r = cluster.flink(['run', '-d', ...conf, ...extra, jar, '--rate', '3000', '--keys', String(KEYS)])
    const jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)?.[1]
    assert.ok(jobId, `bin/flink run failed (${r.status}): ${r.stdout}\n${r.stderr}`)
    return jobId
  }
  const completed = async (jobId: string, n: number): Promise<CheckpointStats[]> => waitFor(`${n} completed checkpoints`, async () => {
    const s = await cluster.rest<{ counts: { completed: number }; history: CheckpointStats[] }>(`/jobs/${jobId}/checkpoints`)
    return s.counts.completed >= n ? s.history.filter((c) => c.status === 'COMPLETED') : undefined
  })
  const cancel = async (jobId: string): Promise<void> => {
    const r = cluster.flink(['cancel', jobId])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    await waitFor('CANCELED', async () => ((await cluster.rest<{ state: string }>(`/jobs/${jobId}`)).state === 'CANCELED' ? true : undefined))
  }

  let firstJob = ''
  let secondJob = ''
  let latestRetained = ''

  it('retains incremental checkpoints whose _metadata references exactly files that exist, with their sizes', async () => {
    firstJob = submit([])
    const history = await completed(firstJob, 6)
    await cancel(firstJob)
    const jobDir = join(cluster.checkpointsDir, firstJob)
    const retained = readdirSync(jobDir).filter((d) => /^chk-\d+$/.test(d) && existsSync(join(jobDir, d, '_metadata')))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
    assert.equal(retained.length, 3, `retained: ${retained.join(', ')}`)
    latestRetained = join(jobDir, retained.at(-1)!)

    const referencedShared = new Set<string>()
    let sharedByTwo = false
    for (const chk of retained) {
      const dir = join(jobDir, chk)
      const metadata = parseFlinkMetadata(readFileSync(join(dir, '_metadata')))
      assert.equal(`chk-${metadata.checkpointId}`, chk)
      assert.equal(metadata.properties?.type, 'checkpoint')
      assert.equal(metadata.properties?.sharingFilesStrategy, 'FORWARD_BACKWARD', 'incremental')
      const refs = referencedFiles(metadata)
      for (const r of refs) {
        const p = r.relative ? join(dir, r.path) : localPath(r.path)
        assert.ok(existsSync(p), `${chk} references ${p}, which does not exist`)
        if (r.size !== undefined) assert.equal(statSync(p).size, r.size, p)
        if (p.startsWith(`${jobDir}/shared/`)) {
          if (referencedShared.has(p)) sharedByTwo = true
          referencedShared.add(p)
        }
      }
      // Flink's REST API reports the checkpoint's full state size: files plus inline state.
      const stats = history.find((c) => c.id === metadata.checkpointId)
      if (stats) {
        const bytes = refs.reduce((sum, r) => sum + (r.size ?? 0), 0) + inlineState(metadata).bytes
        assert.equal(bytes, stats.state_size, `${chk}: referenced bytes vs REST state_size`)
      }
    }
    assert.ok(referencedShared.size > 0, 'the retained checkpoints reference files in shared/')
    assert.ok(sharedByTwo, 'incremental checkpoints share files')
    // Files in shared/ that no retained checkpoint references: only what a checkpoint still in
    // flight at cancellation uploaded, i.e. nothing older than the latest completed checkpoint.
    const latestCompleted = statSync(join(latestRetained, '_metadata')).mtimeMs
    const shared = readdirSync(join(jobDir, 'shared')).map((f) => join(jobDir, 'shared', f))
    const unreferenced = shared.filter((f) => !referencedShared.has(f))
    for (const f of unreferenced) assert.ok(statSync(f).mtimeMs >= latestCompleted - 5, `${f} is unreferenced but older than the latest checkpoint`)
    assert.ok(referencedShared.size > 0 && [...referencedShared].every((f) => shared.includes(f)))
    // Every printed count is exact: record n is the (n / keys + 1)-th of its key.
    const lines = outputLines(cluster)
    assert.ok(lines.length > 100)
    for (const l of lines) assert.equal(l.count, Math.floor(l.n / KEYS) + 1, `n=${l.n}`)
  })

  it('checkpoints verify, then prune --keep 1 on Flink\'s own directory: the other checkpoints and every shared file the kept one does not reference go, nothing else', { timeout: 240_000 }, async () => {
    assert.ok(latestRetained, 'the first test retained checkpoints')
    const env = { TSFLINK_HOME: tmp('tsflink-flink-prune-home-') }
    const root = cluster.checkpointsDir
    const jobDir = join(root, firstJob)
    const timeout = ['-D', `execution.checkpointing.timeout=${TIMEOUT_S}s`]
    const cli = (args: string[]): ReturnType<typeof runCli> => runCli(args, { env })
    const retained = readdirSync(jobDir).filter((d) => /^chk-\d+$/.test(d) && existsSync(join(jobDir, d, '_metadata'))).map((d) => join(jobDir, d)).sort()

    // verify: every retained checkpoint checks out; a missing shared file is named, exit 1.
    const ok = await cli(['checkpoints', 'verify', '--dir', root])
    assert.equal(ok.code, 0, ok.stdout + ok.stderr)
    for (const d of retained) assert.match(ok.stdout, new RegExp(`^OK +${d} \\(`, 'm'))
    const oldest = retained.find((d) => !d.endsWith(latestRetained.slice(latestRetained.lastIndexOf('/'))))!
    const victim = localPath(dumpMetadata(cluster, jar, oldest).files.find((f) => f.shared)!.path)
    renameSync(victim, `${victim}.away`)
    const missing = await cli(['checkpoints', 'verify', '--dir', root])
    renameSync(`${victim}.away`, victim)
    assert.equal(missing.code, 1)
    assert.match(missing.stdout, new RegExp(`^FAILED +${oldest}$`, 'm'))
    assert.ok(missing.stdout.includes(`missing: referenced file file:${victim} is missing`) || missing.stdout.includes(victim), missing.stdout)

    // Within latest completed + timeout the job may still be writing: no shared file goes.
    const latestCompleted = statSync(join(latestRetained, '_metadata')).mtimeMs
    if (Date.now() < latestCompleted + TIMEOUT_S * 1000 - 2000) {
      const early = await cli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--dry-run', ...timeout])
      assert.equal(early.code, 0, early.stderr)
      assert.doesNotMatch(early.stdout, /\/shared\//, 'a shared file chosen while the job may still run')
    }
    await waitFor('latest completed + timeout to pass', async () => (Date.now() > latestCompleted + TIMEOUT_S * 1000 + 1000 ? true : undefined), 60_000)

    // A file newer than latest completed + timeout: something still writes there; no shared file goes.
    const stray = join(jobDir, 'shared', 'stray-upload')
    writeFileSync(stray, 'x')
    const late = await cli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--dry-run', ...timeout])
    assert.equal(late.code, 0, late.stderr)
    assert.doesNotMatch(late.stdout, /\/shared\//)
    utimesSync(stray, new Date(latestCompleted - 60_000), new Date(latestCompleted - 60_000))
    const stale = await cli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--dry-run', ...timeout])
    assert.match(stale.stdout, new RegExp(`^Would delete ${stray}$`, 'm'), 'the same file, old: garbage')
    rmSync(stray)

    // Fail closed: a Flink _metadata of an unknown format version next to it stops every deletion.
    const fake = join(root, 'ffffffffffffffffffffffffffffffff', 'chk-1')
    mkdirSync(fake, { recursive: true })
    const bytes = readFileSync(join(latestRetained, '_metadata'))
    bytes.writeInt32BE(99, 4)
    writeFileSync(join(fake, '_metadata'), bytes)
    const before = filesBelow(root)
    const refused = await cli(['checkpoints', 'prune', '--dir', root, '--keep', '1', ...timeout])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^Error: Refusing to prune .*version 99.*nothing was deleted/m)
    assert.deepEqual(filesBelow(root), before, 'nothing deleted')
    rmSync(join(root, 'ffffffffffffffffffffffffffffffff'), { recursive: true })

    // The prune. Oracle: Flink's own deserializer lists what the kept checkpoint references.
    const all = filesBelow(root)
    const kept = new Set([...filesBelow(latestRetained), ...dumpMetadata(cluster, jar, latestRetained).files.map((f) => (f.relative ? join(latestRetained, f.path) : localPath(f.path)))])
    const pruned = await cli(['checkpoints', 'prune', '--dir', root, '--keep', '1', ...timeout])
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr)
    assert.deepEqual(filesBelow(root), all.filter((f) => kept.has(f)), 'exactly the kept checkpoint and what it references remain')
    assert.ok(all.some((f) => f.includes('/shared/') && !kept.has(f)) || retained.length > 1, 'something was there to prune')
    for (const d of retained.filter((x) => x !== latestRetained)) {
      assert.equal(existsSync(d), false, `${d} deleted`)
      assert.match(pruned.stdout, new RegExp(`^Deleted ${d}$`, 'm'))
    }
    const again = await cli(['checkpoints', 'verify', latestRetained])
    assert.equal(again.code, 0, again.stdout + again.stderr)
  })

  it('real Flink restores from the latest retained checkpoint and the counts continue exactly', { timeout: 240_000 }, async () => {
    assert.ok(latestRetained, 'the first test retained a checkpoint')
    const before = outputLines(cluster)
    const maxBefore = before.reduce((m, l) => Math.max(m, l.n), -1)
    const jobId = submit(['-s', `file://${latestRetained}`])
    secondJob = jobId
    await completed(jobId, 2)
    await waitFor('output after the restore', async () => (outputLines(cluster).length > before.length + 200 ? true : undefined))
    await cancel(jobId)
    const all = outputLines(cluster)
    const restored = all.slice(before.length)
    for (const l of restored) assert.equal(l.count, Math.floor(l.n / KEYS) + 1, `after restore: n=${l.n} key=${l.key} count=${l.count}`)
    // The source resumed at its checkpointed position: not from 0, and no record skipped.
    const firstAfter = restored.reduce((m, l) => Math.min(m, l.n), Infinity)
    assert.ok(firstAfter > 0 && firstAfter <= maxBefore + 1, `resumed at ${firstAfter} (before: up to ${maxBefore})`)
    const seen = new Set(all.map((l) => l.n))
    const maxAfter = restored.reduce((m, l) => Math.max(m, l.n), -1)
    for (let n = 0; n <= maxAfter; n++) assert.ok(seen.has(n), `record ${n} never counted`)
  })

  it('after a claim-mode restore chain: prune --keep 1 keeps what the claiming job references, and real Flink restores from its kept checkpoint exactly', { timeout: 360_000 }, async () => {
    assert.ok(secondJob, 'the restore test ran a second job')
    const root = cluster.checkpointsDir
    const newest = (jobId: string): string | undefined => readdirSync(join(root, jobId)).filter((d) => /^chk-\d+$/.test(d) && existsSync(join(root, jobId, d, '_metadata')))
      .sort((a, b) => Number(b.slice(4)) - Number(a.slice(4))).map((d) => join(root, jobId, d))[0]
    const from = newest(secondJob)
    assert.ok(from, 'the second job retained a checkpoint')
    const before = outputLines(cluster)
    // Checkpoints only when asked (tsflink checkpoint -m). (RocksDB's compaction rewrites the
    // restored files here, so this job's checkpoint re-uploads them; the next test turns compaction
    // off to get references into the claimed folder.)
    const third = submit(['-s', `file://${from}`, '-cm', 'claim', '-Dexecution.checkpointing.interval=1h'])
    await waitFor('output after the claim-mode restore', async () => (outputLines(cluster).length > before.length + 200 ? true : undefined))
    const triggered = await runCli(['checkpoint', '-m', cluster.address, third], { env: { TSFLINK_HOME: tmp('tsflink-flink-claim-home-') } })
    assert.equal(triggered.code, 0, triggered.stdout + triggered.stderr)
    await cancel(third)
    assertCountsContinue(before, outputLines(cluster).slice(before.length), KEYS)
    const kept3 = newest(third)!

    const latestCompleted = statSync(join(kept3, '_metadata')).mtimeMs
    await waitFor('latest completed + timeout to pass', async () => (Date.now() > latestCompleted + TIMEOUT_S * 1000 + 1000 ? true : undefined), 60_000)
    // Oracle (Flink's own deserializer): per job folder its newest checkpoint and what it references stay; a folder without one is left alone.
    const expected = new Set<string>()
    for (const jobId of readdirSync(root).filter((d) => /^[0-9a-f]{32}$/.test(d))) {
      const kept = newest(jobId)
      if (kept === undefined) {
        for (const f of filesBelow(join(root, jobId))) expected.add(f)
        continue
      }
      for (const f of filesBelow(kept)) expected.add(f)
      for (const f of dumpMetadata(cluster, jar, kept).files) expected.add(f.relative ? join(kept, f.path) : localPath(f.path))
    }
    const all = filesBelow(root)
    const pruned = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '-D', `execution.checkpointing.timeout=${TIMEOUT_S}s`], { env: { TSFLINK_HOME: tmp('tsflink-flink-prune-home-') } })
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr)
    assert.deepEqual(filesBelow(root), all.filter((f) => expected.has(f)), 'exactly the newest checkpoint of each job and what it references remain')
    assert.ok(all.length > filesBelow(root).length, 'something was pruned')

    const before4 = outputLines(cluster)
    const fourth = submit(['-s', `file://${kept3}`])
    await waitFor('output after the restore from the pruned chain', async () => (outputLines(cluster).length > before4.length + 200 ? true : undefined))
    await cancel(fourth)
    assertCountsContinue(before4, outputLines(cluster).slice(before4.length), KEYS)
  })

  it('a claim-mode restore into another checkpoint directory: prune --also-read keeps the old folder\'s files the new job references, and Flink restores from the new job\'s checkpoint exactly', { timeout: 420_000 }, async () => {
    // RocksDB without compaction and no inline state: the files a restored job finds in its
    // database are still there at its next checkpoint, so that checkpoint references them in the
    // old job's folder (with compaction the restored files are soon rewritten and re-uploaded).
    const claimConf = ['-Dstate.backend.rocksdb.compaction.style=NONE', '-Dstate.storage.fs.memory-threshold=0', '-Dexecution.checkpointing.interval=1h']
    const root1 = join(cluster.dir, 'claim-old')
    const root2 = join(cluster.dir, 'claim-new')
    const env = { TSFLINK_HOME: tmp('tsflink-flink-claim2-home-') }
    const checkpoint = async (jobId: string): Promise<void> => {
      const r = await runCli(['checkpoint', '-m', cluster.address, jobId], { env })
      assert.equal(r.code, 0, r.stdout + r.stderr)
    }
    const chks = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []).filter((d) => /^chk-\d+$/.test(d) && existsSync(join(dir, d, '_metadata')))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4))).map((d) => join(dir, d))
    const refs = (dir: string): string[] => dumpMetadata(cluster, jar, dir).files.map((f) => (f.relative ? join(dir, f.path) : localPath(f.path)))

    // The old job: three checkpoints in root1, cancelled.
    const before = outputLines(cluster)
    const oldJob = submit([...claimConf, `-Dexecution.checkpointing.dir=file://${root1}`])
    for (let i = 1; i <= 3; i++) {
      await waitFor('more output', async () => (outputLines(cluster).length > before.length + 200 * i ? true : undefined))
      await checkpoint(oldJob)
    }
    await cancel(oldJob)
    const oldDir = join(root1, oldJob)
    const [oldest, older, restoredFrom] = chks(oldDir)
    assert.ok(oldest !== undefined && older !== undefined && restoredFrom !== undefined, `three checkpoints in ${oldDir}`)

    // The new job: restored from the old one's latest in claim mode, checkpointing into root2. It
    // owns the claimed checkpoint: its third checkpoint subsumes it (the cluster retains 3), and
    // Flink deletes it.
    const before2 = outputLines(cluster)
    const newJob = submit([...claimConf, '-s', `file://${restoredFrom}`, '-cm', 'claim', `-Dexecution.checkpointing.dir=file://${root2}`])
    await waitFor('output after the claim-mode restore', async () => (outputLines(cluster).length > before2.length + 200 ? true : undefined))
    for (let i = 0; i < 3; i++) await checkpoint(newJob)
    await waitFor('Flink to delete the claimed checkpoint', async () => (existsSync(join(restoredFrom, '_metadata')) ? undefined : true), 60_000)
    await cancel(newJob)
    assertCountsContinue(before2, outputLines(cluster).slice(before2.length), KEYS)
    const newKept = chks(join(root2, newJob)).at(-1)!

    // Oracle (Flink's own deserializer): the new job's checkpoint uses files in the old job's
    // shared/ that the old job's remaining checkpoint does not.
    const usedOld = refs(newKept).filter((f) => f.startsWith(`${oldDir}/`))
    const olderRefs = new Set(refs(older))
    const onlyNew = usedOld.filter((f) => !olderRefs.has(f))
    assert.ok(onlyNew.length > 0, `the new job references old files the old job's remaining checkpoint does not: ${usedOld.join(', ')}`)

    const latestCompleted = Math.max(...[older, newKept].map((d) => statSync(join(d, '_metadata')).mtimeMs))
    await waitFor('latest completed + timeout to pass', async () => (Date.now() > latestCompleted + TIMEOUT_S * 1000 + 1000 ? true : undefined), 60_000)
    const prune = (extra: string[]): ReturnType<typeof runCli> => runCli(['checkpoints', 'prune', '--dir', root1, '--keep', '1', '-D', `execution.checkpointing.timeout=${TIMEOUT_S}s`, ...extra], { env })
    // root1 alone cannot see root2: those files would go.
    const blind = await prune(['--dry-run'])
    assert.equal(blind.code, 0, blind.stderr)
    for (const f of onlyNew) assert.match(blind.stdout, new RegExp(`^Would delete ${f}$`, 'm'))
    // With root2 read too: exactly the old job's kept checkpoint, what it references, and what the new job references stay.
    const all = filesBelow(root1)
    const expected = new Set([...filesBelow(older), ...olderRefs, ...usedOld])
    const pruned = await prune(['--also-read', root2])
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr)
    assert.deepEqual(filesBelow(root1), all.filter((f) => expected.has(f)), pruned.stdout)
    assert.equal(existsSync(oldest), false, 'the old job\'s oldest checkpoint went')
    // Another root that cannot be read: nothing is deleted.
    const missing = await prune(['--also-read', join(cluster.dir, 'no-such-root')])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /no-such-root/)

    const before3 = outputLines(cluster)
    const third = submit(['-s', `file://${newKept}`])
    await waitFor('output after the restore from the pruned chain', async () => (outputLines(cluster).length > before3.length + 200 ? true : undefined))
    await cancel(third)
    assertCountsContinue(before3, outputLines(cluster).slice(before3.length), KEYS)
  })
})
