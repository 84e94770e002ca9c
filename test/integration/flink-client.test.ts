/**
 * Apache Flink's own CLI (`bin/flink` of the installed distribution, test/servers/flink.ts
 * flinkClient; no Flink cluster) against a running tsflink job, with `-m 127.0.0.1:<port>`:
 * `list`, `savepoint`, `stop` and `cancel` work when the job opted out of the REST secret
 * (`rest.authentication: none`, README "Security"), the savepoints Flink's CLI triggered restore
 * in tsflink with exactly-once output, and with the default token authentication Flink's CLI is
 * refused (401) and nothing happens. Flink's own REST message classes (test/flink-probe/RestProbe.java)
 * read the job's answers with Flink's strict JSON mapper and see the same values. Skips (naming what is missing) without Java; fails in CI.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { ROOT, committedLines, expectedCounts, runCli, sleep } from '../helpers.js'
import { flinkClient, flinkRestProbe, flinkSkipReason } from '../servers/flink.js'
import { freePort } from '../servers/ports.js'

const skip = flinkSkipReason()
const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
const TOTAL = 20000

describe('Flink\'s own CLI against a tsflink job', { skip }, () => {
  let flink: ReturnType<typeof flinkClient>
  let home: string
  let dir: string
  const env = (): NodeJS.ProcessEnv => ({ TSFLINK_HOME: home })

  before(() => {
    flink = flinkClient()
    // Removed in after(): tmp()'s own cleanup does not run when registered inside a hook.
    home = mkdtempSync(join(tmpdir(), 'tsflink-flink-client-home-'))
    dir = mkdtempSync(join(tmpdir(), 'tsflink-flink-client-'))
  })
  after(() => {
    flink?.cleanup()
    for (const d of [home, dir]) if (d !== undefined) rmSync(d, { recursive: true, force: true })
  })

  /** Starts the counter job detached on a known REST port; its JobID and that port. */
  const start = async (out: string, rate: number, extra: string[] = []): Promise<{ jobId: string; address: string }> => {
    const port = await freePort()
    const r = await runCli(['run', '-d', '-D', `rest.port=${port}`, '-D', 'execution.checkpointing.interval=200ms',
      '-D', `execution.checkpointing.dir=${join(dir, 'ck')}`, '-D', `execution.checkpointing.savepoint-dir=${join(dir, 'sp')}`, ...extra,
      COUNTER, out, String(TOTAL), String(rate)], { env: env() })
    assert.equal(r.code, 0, r.stderr)
    const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)?.[1]
    assert.ok(jobId, r.stdout)
    // A detached job is submitted once it is CREATED; on a busy machine its tasks deploy a while later.
    for (let i = 0; i < 240 && (await tsflinkState(jobId)) !== 'RUNNING'; i++) await sleep(250)
    assert.equal(await tsflinkState(jobId), 'RUNNING', `job ${jobId} did not start running`)
    return { jobId, address: `127.0.0.1:${port}` }
  }
  const tsflinkState = async (jobId: string): Promise<string | undefined> => {
    const r = await runCli(['list', '-a'], { env: env() })
    return new RegExp(`: ${jobId} : \\S+ \\((\\w+)\\)`).exec(r.stdout)?.[1]
  }
  const gone = async (jobId: string): Promise<void> => {
    for (let i = 0; i < 200 && (await tsflinkState(jobId)) !== undefined; i++) await sleep(250)
    assert.equal(await tsflinkState(jobId), undefined, `job ${jobId} still listed`)
  }

  it('with rest.authentication: none, list, savepoint and stop work; tsflink restores from Flink\'s savepoint exactly once', { timeout: 300_000 }, async () => {
    const out = join(dir, 'out')
    const { jobId, address } = await start(out, 200, ['-D', 'rest.authentication=none'])

    const list = flink.run(['list', '-m', address])
    assert.equal(list.status, 0, list.stdout + list.stderr)
    assert.match(list.stdout, new RegExp(`^\\d\\d\\.\\d\\d\\.\\d{4} \\d\\d:\\d\\d:\\d\\d : ${jobId} : counter \\(RUNNING\\)$`, 'm'))

    const sp = flink.run(['savepoint', '-m', address, jobId])
    assert.equal(sp.status, 0, sp.stdout + sp.stderr)
    const spPath = /^Savepoint completed\. Path: (\S+)$/m.exec(sp.stdout)?.[1]
    assert.ok(spPath && spPath.startsWith(join(dir, 'sp', 'savepoint-')), sp.stdout)
    const meta = parseMetadata(readFileSync(join(spPath, '_metadata')), spPath)
    assert.equal(meta.kind.type, 'savepoint')
    assert.equal(meta.jobId, jobId)

    const stop = flink.run(['stop', '-m', address, jobId])
    assert.equal(stop.status, 0, stop.stdout + stop.stderr)
    assert.match(stop.stdout, new RegExp(`^Suspending job "${jobId}" with a CANONICAL savepoint\\.$`, 'm'))
    const stopPath = /^Savepoint completed\. Path: (\S+)$/m.exec(stop.stdout)?.[1]
    assert.ok(stopPath && existsSync(join(stopPath, '_metadata')), stop.stdout)
    await gone(jobId)

    // The stop's savepoint committed the output up to it; the restored job writes the rest, once.
    const out2 = join(dir, 'out2')
    const resumed = await runCli(['run', '-s', stopPath, COUNTER, out2, String(TOTAL), '100000'], { env: env() })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.deepEqual([...committedLines(out), ...committedLines(out2)].sort(), expectedCounts(TOTAL))
    assert.ok(committedLines(out).length > 0, 'the first job committed output before the stop')
  })

  it('Flink\'s own REST message classes read what tsflink serves, with its strict mapper, and see the same values', { timeout: 300_000 }, async () => {
    const { jobId, address } = await start(join(dir, 'out5'), 100, ['-p', '2', '-D', 'rest.authentication=none', '-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true'])
    try {
      await probeAll(jobId, address)
    } finally {
      const cancel = await runCli(['cancel', jobId], { env: env() })
      assert.equal(cancel.code, 0, cancel.stderr)
      await gone(jobId)
    }
  })

  const probeAll = async (jobId: string, address: string): Promise<void> => {
    const base = `http://${address}`
    const ours = async (path: string): Promise<Record<string, unknown>> => (await (await fetch(base + path)).json()) as Record<string, unknown>
    for (let i = 0; i < 200 && ((await ours(`/jobs/${jobId}/checkpoints`)).counts as { completed: number }).completed < 3; i++) await sleep(100)
    const messages: [string, string][] = [
      ['/jobs/overview', 'org.apache.flink.runtime.messages.webmonitor.MultipleJobsDetails'],
      [`/jobs/${jobId}`, 'org.apache.flink.runtime.rest.messages.job.JobDetailsInfo'],
      [`/jobs/${jobId}/plan`, 'org.apache.flink.runtime.rest.messages.JobPlanInfo'],
      [`/jobs/${jobId}/checkpoints`, 'org.apache.flink.runtime.rest.messages.checkpoints.CheckpointingStatistics'],
      [`/jobs/${jobId}/checkpoints/config`, 'org.apache.flink.runtime.rest.messages.checkpoints.CheckpointConfigInfo'],
      [`/jobs/${jobId}/exceptions`, 'org.apache.flink.runtime.rest.messages.JobExceptionsInfoWithHistory'],
    ]
    const understood = new Map<string, Record<string, unknown>>()
    for (const [path, cls] of messages) {
      const r = flinkRestProbe(base + path, cls)
      assert.equal(r.status, 0, `${path} as ${cls}: ${r.stdout}`)
      understood.set(path, JSON.parse(r.stdout) as Record<string, unknown>)
    }
    // What Flink read is what tsflink meant: the summary, the subtask counts, the plan's edges.
    const stats = understood.get(`/jobs/${jobId}/checkpoints`)!
    const summary = stats.summary as Record<string, { min: number; max: number }>
    const history = stats.history as { state_size: number; checkpointed_size: number }[]
    const counts = stats.counts as { completed: number }
    // The summary covers every completed checkpoint, the history the latest 10: compare where they agree.
    if (counts.completed === history.length) assert.equal(summary.state_size!.max, Math.max(...history.map((h) => h.state_size)))
    assert.ok(history.length >= 3, JSON.stringify(history))
    assert.ok(summary.state_size!.max >= Math.max(...history.map((h) => h.state_size)))
    assert.ok(summary.checkpointed_size!.min <= Math.min(...history.map((h) => h.checkpointed_size)))
    assert.ok(summary.state_size!.min > 0 && summary.end_to_end_duration!.max >= summary.end_to_end_duration!.min)
    assert.ok(history.every((h) => h.state_size > 0), 'sizes are real')
    const details = understood.get(`/jobs/${jobId}`)!
    const ourDetails = await ours(`/jobs/${jobId}`)
    assert.deepEqual(details['status-counts'], ourDetails['status-counts'])
    assert.deepEqual((details.vertices as { tasks: unknown }[]).map((v) => v.tasks), (ourDetails.vertices as { tasks: unknown }[]).map((v) => v.tasks))
    const plan = (understood.get(`/jobs/${jobId}/plan`)!.plan as { nodes: { id: string; inputs?: { ship_strategy: string }[] }[] })
    assert.deepEqual(plan.nodes.map((n) => n.id), (ourDetails.vertices as { id: string }[]).map((v) => v.id))
    assert.ok(plan.nodes.some((n) => n.inputs?.some((i) => i.ship_strategy === 'HASH')), 'the keyBy edge')
  }

  it('cancel works; with the default token authentication Flink\'s CLI is refused (401) and the job keeps running', { timeout: 300_000 }, async () => {
    const open = await start(join(dir, 'out3'), 100, ['-D', 'rest.authentication=none'])
    const cancel = flink.run(['cancel', '-m', open.address, open.jobId])
    assert.equal(cancel.status, 0, cancel.stdout + cancel.stderr)
    assert.match(cancel.stdout, new RegExp(`^Cancelled job ${open.jobId}\\.$`, 'm'))
    await gone(open.jobId)

    const secured = await start(join(dir, 'out4'), 100)
    for (const args of [['cancel', '-m', secured.address, secured.jobId], ['list', '-m', secured.address]]) {
      const r = flink.run(args)
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
      assert.match(r.stdout + r.stderr, /Unauthorized/)
    }
    assert.equal(await tsflinkState(secured.jobId), 'RUNNING')
    const ours = await runCli(['cancel', secured.jobId], { env: env() })
    assert.equal(ours.code, 0, ours.stderr)
    await gone(secured.jobId)
  })
})
