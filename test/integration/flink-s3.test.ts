/**
 * The checkpoint tools on Apache Flink's own checkpoint directories in S3: a real Flink cluster
 * (test/servers/flink.ts, with Flink's S3 file system plugin flink-s3-fs-hadoop) checkpoints the
 * Java counter job (RocksDB, incremental, retained on cancellation) into an S3-protocol server
 * (s3rver, test/servers/s3.ts) and is cancelled. Then `tsflink checkpoints list | verify | prune
 * --keep 1` run on the s3:// root: prune deletes exactly the older checkpoints and the shared files
 * the kept one does not reference (oracle: Flink's own deserializer, MetadataDump, on the kept
 * `_metadata`), and real Flink restores from the kept checkpoint with counts that continue exactly.
 * Skips (naming what is missing) without Java; fails in CI.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Configuration } from '../../src/runtime/config/configuration.js'
import { S3Storage, s3SettingsFrom } from '../../src/runtime/storage/s3-storage.js'
import { runCli } from '../helpers.js'
import { assertCountsContinue, counterLines, dumpMetadata, flinkSkipReason, startFlinkCluster, waitFor, type FlinkCluster } from '../servers/flink.js'
import { buildTestJob } from '../servers/flink-job.js'
import { S3_ACCESS_KEY, S3_SECRET_KEY, startS3, type S3Server } from '../servers/s3.js'

const skip = flinkSkipReason()
const KEYS = 2000
const TIMEOUT_S = 10
const ROOT_URI = 's3://flink/checkpoints'

describe('Flink checkpointing to S3, pruned by tsflink', { skip }, () => {
  let s3: S3Server
  let cluster: FlinkCluster
  let storage: S3Storage
  let jar: string
  let work: string
  let home: string

  before(async () => {
    jar = buildTestJob(process.env['TSFLINK_TEST_FLINK_VERSION'] ?? '2.2.1')
    work = mkdtempSync(join(tmpdir(), 'tsflink-flink-s3-'))
    home = mkdtempSync(join(tmpdir(), 'tsflink-flink-s3-home-'))
    s3 = await startS3('flink')
    storage = new S3Storage(s3SettingsFrom(new Configuration(s3.config)))
    cluster = await startFlinkCluster({
      plugins: ['s3'],
      config: {
        's3.endpoint': s3.endpoint, 's3.path.style.access': 'true', 's3.access-key': S3_ACCESS_KEY, 's3.secret-key': S3_SECRET_KEY,
        's3.endpoint.region': 'us-east-1', 'execution.checkpointing.num-retained': '3',
      },
    })
  })
  after(async () => {
    await cluster?.stop()
    await s3?.stop()
    for (const d of [work, home]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  const conf = (extra: string[] = []): string[] => [
    '-Dstate.backend.type=rocksdb', '-Dexecution.checkpointing.incremental=true', '-Dexecution.checkpointing.interval=400ms',
    '-Dexecution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION', `-Dexecution.checkpointing.timeout=${TIMEOUT_S}s`,
    '-Dexecution.checkpointing.tolerable-failed-checkpoints=1000', `-Dexecution.checkpointing.dir=${ROOT_URI}`, ...extra,
  ]
  const submit = (extra: string[] = []): string => {
    const r = cluster.flink(['run', '-d', ...conf(extra), jar, '--rate', '2000', '--keys', String(KEYS)])
    const jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)?.[1]
    assert.ok(jobId, `bin/flink run failed (${r.status}): ${r.stdout}\n${r.stderr}\n${cluster.logs()}`)
    return jobId
  }
  const cancel = async (jobId: string): Promise<void> => {
    const r = cluster.flink(['cancel', jobId])
    assert.equal(r.status, 0, r.stdout + r.stderr)
    await waitFor('CANCELED', async () => ((await cluster.rest<{ state: string }>(`/jobs/${jobId}`)).state === 'CANCELED' ? true : undefined))
  }
  const tsflink = (args: string[]): ReturnType<typeof runCli> => runCli([...args, ...s3.cliConfig, '-D', `execution.checkpointing.timeout=${TIMEOUT_S}s`], { env: { TSFLINK_HOME: home } })
  // Flink's S3 file system (S3A) also writes empty `<folder>/` objects, directory markers: not files, left out here.
  const objects = async (): Promise<string[]> => (await storage.list(ROOT_URI)).map((o) => o.location).filter((l) => !l.endsWith('/')).sort()

  it('list, verify and prune --keep 1 on the s3:// root: exactly the unreferenced files go; real Flink restores from the kept checkpoint', { timeout: 420_000 }, async () => {
    const job = submit()
    await waitFor('5 completed checkpoints', async () => {
      const s = await cluster.rest<{ counts: { completed: number } }>(`/jobs/${job}/checkpoints`)
      return s.counts.completed >= 5 ? true : undefined
    })
    await cancel(job)
    const jobDir = `${ROOT_URI}/${job}`
    const metadataObjects = (await objects()).filter((o) => /\/chk-\d+\/_metadata$/.test(o))
    const retained = metadataObjects.map((o) => o.slice(0, -'/_metadata'.length)).sort((a, b) => Number(a.split('chk-')[1]) - Number(b.split('chk-')[1]))
    assert.equal(retained.length, 3, `num-retained 3: ${retained.join(', ')}`)
    const kept = retained.at(-1)!

    const listed = await tsflink(['checkpoints', 'list', '--dir', ROOT_URI, '--json'])
    assert.equal(listed.code, 0, listed.stderr)
    const rows = JSON.parse(listed.stdout) as { jobId: string; checkpointId: number; status: string; path: string }[]
    assert.deepEqual(rows.filter((r) => r.jobId === job && r.status === 'valid').map((r) => r.path).sort(), [...retained].sort(), listed.stdout)
    const verified = await tsflink(['checkpoints', 'verify', '--dir', ROOT_URI])
    assert.equal(verified.code, 0, verified.stdout + verified.stderr)
    for (const d of retained) assert.match(verified.stdout, new RegExp(`^OK +${d} \\(`, 'm'))

    // Oracle: Flink's own deserializer on the kept checkpoint's _metadata (copied out of S3).
    const local = join(work, 'kept')
    rmSync(local, { recursive: true, force: true })
    mkdirSync(local, { recursive: true })
    writeFileSync(join(local, '_metadata'), await storage.read(`${kept}/_metadata`))
    const referenced = dumpMetadata(cluster, jar, local).files.map((f) => (f.relative ? `${kept}/${f.path}` : f.path.replace(/^s3a?:\/\//, 's3://')))
    assert.ok(referenced.some((f) => f.startsWith(`${jobDir}/shared/`)), 'the kept checkpoint references shared files')

    const all = await objects()
    const expected = new Set([...all.filter((o) => o.startsWith(`${kept}/`)), ...referenced])
    for (const r of referenced) assert.ok(all.includes(r), `referenced ${r} exists`)
    assert.ok(all.some((o) => o.startsWith(`${jobDir}/shared/`) && !expected.has(o)), 'unreferenced shared files to prune')
    // Flink counts as running until latest completed + the checkpoint timeout has passed.
    await new Promise((r) => setTimeout(r, (TIMEOUT_S + 2) * 1000))
    const pruned = await tsflink(['checkpoints', 'prune', '--dir', ROOT_URI, '--keep', '1'])
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr)
    const left = await objects()
    assert.deepEqual(left.filter((o) => !expected.has(o)), [], `nothing but the kept checkpoint and what it references is left\n${pruned.stdout}`)
    assert.deepEqual(all.filter((o) => expected.has(o) && !left.includes(o)), [], `nothing the kept checkpoint needs was deleted\n${pruned.stdout}`)
    for (const d of retained.slice(0, -1)) assert.match(pruned.stdout, new RegExp(`^Deleted ${d}$`, 'm'))

    // Real Flink restores from the kept checkpoint on S3; the counts continue exactly.
    const before = counterLines(cluster)
    const restored = submit(['-s', kept])
    await waitFor('output after the restore', async () => (counterLines(cluster).length > before.length + 200 ? true : undefined))
    await cancel(restored)
    assertCountsContinue(before, counterLines(cluster).slice(before.length), KEYS)
  })
})
