/**
 * The REST API speaks Flink's protocol, with the job's real values: every response is validated
 * against Flink's OpenAPI spec (test/fixtures/flink-rest-v1-dispatcher.yml: types, enums, patterns,
 * required and unknown fields, oneOf alternatives, discriminators) and its values are checked against
 * what the test did to the job (checkpoints it triggered, their ids and times, savepoint formats and
 * status transitions, the configured checkpoint settings, failures and restores). Every polling loop
 * has a deadline. The client is checked against a fake job manager that answers as the spec says.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import {
  Configuration, DataGeneratorSource, RateLimiterStrategy, RestartStrategies, RichMapFunction, StreamExecutionEnvironment, WatermarkStrategy,
} from '../../src/index.js'
import { RestClient } from '../../src/runtime/control/rest-client.js'
import { JobRestServer } from '../../src/runtime/control/rest-server.js'
import type { JobMaster } from '../../src/runtime/job/job-master.js'
import { storageFor } from '../../src/runtime/storage/resolve.js'
import { parseMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { percentile } from '../../src/runtime/control/checkpoint-stats.js'
import { ROOT, sleep, tmp } from '../helpers.js'

// ---- a validator for the parts of OpenAPI 3.0 Flink's spec uses ----

type Schema = {
  $ref?: string; type?: string; properties?: Record<string, Schema>; required?: string[]; items?: Schema; allOf?: Schema[]; oneOf?: Schema[]
  additionalProperties?: Schema | boolean; discriminator?: { propertyName: string; mapping?: Record<string, string> }; enum?: unknown[]; pattern?: string
}
const spec = parse(readFileSync(join(ROOT, 'test', 'fixtures', 'flink-rest-v1-dispatcher.yml'), 'utf8')) as { components: { schemas: Record<string, Schema> } }
// Flink's SerializedThrowableSerializer writes `class` and `stack-trace` besides `serialized-throwable`;
// the generated spec lists only the last. Error bodies ({"errors": [...]}) have no schema there.
spec.components.schemas.SerializedThrowable!.properties = {
  ...spec.components.schemas.SerializedThrowable!.properties, class: { type: 'string' }, 'stack-trace': { type: 'string' },
}
// Flink writes a SlotSharingGroupId as its hex string (SlotSharingGroupIDSerializer, as real Flink 2.2
// answers and its REST client reads); the generated spec describes the Java object instead.
spec.components.schemas.SlotSharingGroupId = { type: 'string', pattern: '[0-9a-f]{32}' }
// A plan node's optimizer_properties is raw JSON (Flink 2.2 writes {}, and its REST client reads it as such); the spec says string.
spec.components.schemas.PlanNode!.properties!.optimizer_properties = { type: 'object' }
spec.components.schemas.ErrorResponseBody = { type: 'object', required: ['errors'], properties: { errors: { type: 'array', items: { type: 'string' } } } }

function deref(s: Schema): Schema {
  let cur = s
  while (cur.$ref !== undefined) {
    const next = spec.components.schemas[cur.$ref.split('/').at(-1)!]
    assert.ok(next !== undefined, `unknown schema ${cur.$ref}`)
    cur = next
  }
  return cur
}

/** A schema with its allOf parts merged (a part's discriminator too: problems() drops it once it has chosen). */
function resolveSchema(s: Schema): Schema {
  const cur = deref(s)
  if (cur.allOf === undefined) return cur
  const merged: Schema = { type: 'object', properties: { ...cur.properties }, required: [...(cur.required ?? [])] }
  for (const part of cur.allOf.map(resolveSchema)) {
    Object.assign(merged.properties!, part.properties ?? {})
    merged.required!.push(...(part.required ?? []))
    if (part.discriminator !== undefined) merged.discriminator = part.discriminator
  }
  return merged
}

/**
 * Checks `value` against `schema`; returns the problems (empty when it conforms). Flink writes
 * absent @Nullable members as null and its spec marks none nullable: null is accepted for members
 * that are not required, nowhere else. Unknown members are problems unless additionalProperties.
 */
function problems(value: unknown, schema: Schema, path: string): string[] {
  const s = resolveSchema(schema)
  if (s.oneOf !== undefined) {
    const results = s.oneOf.map((alt) => problems(value, alt, path))
    return results.some((r) => r.length === 0) ? [] : [`${path}: matches none of oneOf (${results.map((r) => r[0]).join(' | ')})`]
  }
  if (value === null || value === undefined) return [`${path}: is ${String(value)}`]
  if (s.enum !== undefined && !s.enum.includes(value)) return [`${path}: ${JSON.stringify(value)} is not one of ${s.enum.join(', ')}`]
  switch (s.type) {
    case 'integer':
      return Number.isInteger(value) ? [] : [`${path}: ${JSON.stringify(value)} is not an integer`]
    case 'number':
      return typeof value === 'number' ? [] : [`${path}: ${JSON.stringify(value)} is not a number`]
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: ${JSON.stringify(value)} is not a boolean`]
    case 'string':
      if (typeof value !== 'string') return [`${path}: ${JSON.stringify(value)} is not a string`]
      return s.pattern !== undefined && !new RegExp(`^(?:${s.pattern})$`).test(value) ? [`${path}: '${value}' does not match ${s.pattern}`] : []
    case 'array':
      if (!Array.isArray(value)) return [`${path}: is not an array`]
      return value.flatMap((v, i) => problems(v, s.items ?? {}, `${path}[${i}]`))
    default:
      break
  }
  if (s.type !== 'object' && s.properties === undefined && s.additionalProperties === undefined) return []
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: is not an object`]
  const obj = value as Record<string, unknown>
  const d = s.discriminator
  if (d !== undefined) {
    const target = d.mapping?.[String(obj[d.propertyName])]
    if (target === undefined) return [`${path}: ${d.propertyName} '${String(obj[d.propertyName])}' is not one of ${Object.keys(d.mapping ?? {}).join(', ')}`]
    const { discriminator: _, ...concrete } = resolveSchema({ $ref: target })
    return problems(value, concrete, path)
  }
  const out: string[] = []
  for (const r of s.required ?? []) if (!(r in obj) || obj[r] === null) out.push(`${path}: required member '${r}' is missing`)
  for (const [k, v] of Object.entries(obj)) {
    const prop = s.properties?.[k]
    if (prop !== undefined) {
      if (v !== null) out.push(...problems(v, prop, `${path}.${k}`))
    } else if (s.additionalProperties === undefined || s.additionalProperties === false) {
      out.push(`${path}: member '${k}' is not in Flink's spec`)
    } else if (s.additionalProperties !== true) {
      out.push(...problems(v, s.additionalProperties, `${path}.${k}`))
    }
  }
  return out
}

function conforms(value: unknown, schemaName: string): void {
  const p = problems(value, { $ref: `#/components/schemas/${schemaName}` }, schemaName)
  assert.deepEqual(p, [], `does not conform to ${schemaName}:\n${JSON.stringify(value, null, 1).slice(0, 2000)}`)
}

describe('the spec validator can fail', () => {
  it('on a wrong type, an unknown member, a bad enum, a null required member, a bad pattern, a oneOf no alternative fits', () => {
    const fails = (v: unknown, name: string, why: RegExp): void => {
      const p = problems(v, { $ref: `#/components/schemas/${name}` }, name)
      assert.ok(p.some((x) => why.test(x)), `${JSON.stringify(v)}: ${p.join('; ')}`)
    }
    fails({ jobs: [{ id: 'ab'.repeat(16), status: 'RUNNING', extra: 1 }] }, 'JobIdsWithStatusOverview', /'extra' is not in Flink's spec/)
    fails({ jobs: [{ id: 'ab'.repeat(16), status: 'SLEEPING' }] }, 'JobIdsWithStatusOverview', /not one of/)
    fails({ jobs: [{ id: 'XYZ', status: 'RUNNING' }] }, 'JobIdsWithStatusOverview', /does not match/)
    fails({ jobs: [null] }, 'JobIdsWithStatusOverview', /is null/)
    fails({ status: { id: null } }, 'AsynchronousOperationResult', /required member 'id'/)
    fails({ status: { id: 'COMPLETED' }, operation: { location: 7 } }, 'AsynchronousOperationResult', /matches none of oneOf/)
    fails({ counts: { completed: 1.5 } }, 'CheckpointingStatistics', /not an integer/)
    fails({ latest: { completed: { className: 'finished', id: 1 } } }, 'CheckpointingStatistics', /className 'finished'/)
    fails({ latest: { completed: { className: 'completed', id: 1, external_path: 5 } } }, 'CheckpointingStatistics', /external_path: 5 is not a string/)
    assert.deepEqual(problems({ latest: { completed: null, savepoint: null } }, { $ref: '#/components/schemas/CheckpointingStatistics' }, 'x'), [])
  })
})

// ---- the server, against a real job ----

interface Stats {
  counts: { restored: number; total: number; in_progress: number; completed: number; failed: number }
  latest: { completed: Record<string, unknown> | null; savepoint: Record<string, unknown> | null; failed: unknown; restored: Record<string, unknown> | null }
  summary: Record<string, unknown>
  history: Record<string, unknown>[]
}
interface Op { status: { id: string }; operation?: Record<string, unknown> }

/** Every ExecutionState at 0 (status-counts and a vertex's tasks list them all, as Flink). */
const NO_TASKS = { CREATED: 0, SCHEDULED: 0, DEPLOYING: 0, RUNNING: 0, FINISHED: 0, CANCELING: 0, CANCELED: 0, FAILED: 0, RECONCILING: 0, INITIALIZING: 0 }

/**
 * The summary against the history entries (all completed ones are in it here): min and max are
 * theirs, avg the integer mean, p50 the median (Commons Math's estimate at position (n+1)/2).
 */
function assertSummary(stats: Stats): void {
  const summary = stats.summary as Record<string, Record<string, number>>
  assert.equal(stats.history.length, stats.counts.completed, 'every completed checkpoint is in the history')
  const fields: [string, (h: Record<string, unknown>) => number][] = [
    ['state_size', (h) => h.state_size as number], ['checkpointed_size', (h) => h.checkpointed_size as number],
    ['end_to_end_duration', (h) => (h.latest_ack_timestamp as number) - (h.trigger_timestamp as number)],
    ['persisted_data', (h) => h.persisted_data as number], ['processed_data', () => 0],
  ]
  for (const [name, of] of fields) {
    const values = stats.history.map(of).sort((a, b) => a - b)
    const s = summary[name]!
    assert.equal(s.min, values[0], `${name}.min`)
    assert.equal(s.max, values.at(-1), `${name}.max`)
    assert.equal(s.avg, Math.floor(values.reduce((a, b) => a + b, 0) / values.length), `${name}.avg`)
    const mid = (values.length + 1) / 2
    const median = Number.isInteger(mid) ? values[mid - 1]! : (values[Math.floor(mid) - 1]! + values[Math.floor(mid)]!) / 2
    assert.equal(s.p50, median, `${name}.p50`)
    assert.equal(s.p999, values.at(-1), `${name}.p999 of a few: the largest`)
    assert.equal(s.p90, percentile(values, 90))
  }
  assert.deepEqual(summary.alignment_buffered, { min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 })
}

describe('tsflink REST server, against Flink\'s spec and the job\'s real state', () => {
  let master: JobMaster
  let result: Promise<unknown>
  let server: JobRestServer
  let base: string
  let headers: Record<string, string>
  const dir = tmp()
  const cp = join(dir, 'cp')
  const configured = {
    'execution.checkpointing.dir': cp,
    'execution.checkpointing.interval': '1 h', // on, but no periodic checkpoint during the test: every one is triggered here
    'execution.checkpointing.timeout': '45 s',
    'execution.checkpointing.min-pause': '20 ms',
    'execution.checkpointing.max-concurrent-checkpoints': '2',
    'execution.checkpointing.tolerable-failed-checkpoints': '3',
    'execution.checkpointing.externalized-checkpoint-retention': 'RETAIN_ON_CANCELLATION',
    'execution.checkpointing.num-retained': '5',
    'state.backend.type': 'rocksdb',
  }
  let before0: number
  const triggered: number[] = []
  const savepoints: { id: number; location: string; format: string }[] = []

  const get = async (path: string, schema?: string): Promise<unknown> => {
    const r = await fetch(base + path, { headers })
    assert.equal(r.status, 200, `${path}: HTTP ${r.status} ${await r.clone().text()}`)
    const body: unknown = await r.json()
    if (schema !== undefined) conforms(body, schema)
    return body
  }
  const post = async (path: string, body: unknown, schema = 'TriggerResponse'): Promise<string> => {
    const r = await fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) })
    assert.equal(r.status, 202, `${path}: HTTP ${r.status} ${await r.clone().text()}`)
    const t = (await r.json()) as { 'request-id': string }
    conforms(t, schema)
    return t['request-id']
  }
  /** Polls an operation to COMPLETED within a deadline; returns the statuses seen, in order. */
  const pollOperation = async (path: string, ms = 20_000): Promise<{ seen: string[]; final: Op }> => {
    const seen: string[] = []
    const deadline = Date.now() + ms
    for (;;) {
      const s = (await get(path, 'AsynchronousOperationResult')) as Op
      seen.push(s.status.id)
      if (s.status.id === 'COMPLETED') return { seen, final: s }
      assert.ok(Date.now() < deadline, `${path} still ${s.status.id} after ${ms} ms`)
      await sleep(5)
    }
  }

  before(async () => {
    before0 = Date.now()
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration(Object.entries(configured)))
    env.setParallelism(2)
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(2000)), WatermarkStrategy.noWatermarks(), 'gen')
      .uid('gen').keyBy((v: number) => v % 5).sum().uid('sum').addSink(() => {})
    ;({ master, result } = await env.executeAsync('rest test'))
    server = new JobRestServer(master, { address: '127.0.0.1', ports: [0], storageFor })
    base = `http://${await server.start()}`
    headers = { authorization: `Bearer ${server.secret}` }
    const deadline = Date.now() + 20_000
    while (master.status !== 'RUNNING') {
      assert.ok(Date.now() < deadline, 'the job did not start')
      await sleep(10)
    }
  })

  after(async () => {
    master.cancel()
    await result.catch(() => {})
    await server.stop()
  })

  it('GET /jobs, /jobs/overview, /jobs/:id, /jobs/:id/status: ids, names, states, times, tasks', async () => {
    assert.deepEqual(await get('/jobs', 'JobIdsWithStatusOverview'), { jobs: [{ id: master.jobId, status: 'RUNNING' }] })
    const t0 = Date.now()
    const overview = (await get('/jobs/overview', 'MultipleJobsDetails')) as { jobs: Record<string, unknown>[] }
    const t1 = Date.now()
    assert.equal(overview.jobs.length, 1)
    const o = overview.jobs[0]!
    assert.equal(o.jid, master.jobId)
    assert.equal(o.name, 'rest test')
    assert.equal(o.state, 'RUNNING')
    const start = o['start-time'] as number
    assert.ok(start >= before0 && start <= t0, `start-time ${start} lies between the test start ${before0} and the request ${t0}`)
    assert.equal(o['end-time'], -1)
    assert.ok((o.duration as number) >= t0 - start - 5 && (o.duration as number) <= t1 - start + 5, `duration ${String(o.duration)} = now - start, now in [${t0}, ${t1}]`)
    // 2 vertices (the keyBy breaks the chain) × parallelism 2, all running.
    assert.deepEqual(o.tasks, { total: 4, created: 0, scheduled: 0, deploying: 0, running: 4, finished: 0, canceling: 0, canceled: 0, failed: 0, reconciling: 0, initializing: 0 })

    const d = (await get(`/jobs/${master.jobId}`, 'JobDetailsInfo')) as Record<string, unknown>
    assert.equal(d.jid, master.jobId)
    assert.equal(d.state, 'RUNNING')
    assert.equal(d['start-time'], start)
    assert.equal(d['end-time'], -1)
    assert.equal(d.maxParallelism, 128)
    assert.ok((d.now as number) >= t0, `now ${String(d.now)} >= ${t0}`)
    assert.equal(d.duration, (d.now as number) - start, 'duration = now - start, at one instant')
    const stamps = d.timestamps as Record<string, number>
    assert.equal(stamps.CREATED, start)
    assert.ok(Object.values(stamps).every((t) => t >= start && t <= (d.now as number)), JSON.stringify(stamps))
    assert.ok((o['last-modification'] as number) >= start && (o['last-modification'] as number) <= t1)
    const vertices = d.vertices as Record<string, unknown>[]
    assert.deepEqual(vertices.map((v) => v.parallelism), [2, 2])
    assert.ok(vertices.every((v) => v.status === 'RUNNING' && v['start-time'] === start && v.maxParallelism === 128), JSON.stringify(vertices))
    // Each vertex's subtasks: both running; status-counts counts vertices per state (as Flink).
    for (const v of vertices) assert.deepEqual(v.tasks, { ...NO_TASKS, RUNNING: 2 }, JSON.stringify(v))
    assert.deepEqual(d['status-counts'], { ...NO_TASKS, RUNNING: 2 })
    assert.deepEqual(await get(`/jobs/${master.jobId}/status`, 'JobStatusInfo'), { status: 'RUNNING' })

    // The plan: the source and the keyed sum with its chained sink, joined by a HASH edge (keyBy).
    const plan = (await get(`/jobs/${master.jobId}/plan`, 'JobPlanInfo')) as { plan: { jid: string; name: string; type: string; nodes: Record<string, unknown>[] } }
    assert.deepEqual(d.plan, plan.plan, 'the details carry the same plan')
    assert.equal(plan.plan.jid, master.jobId)
    assert.equal(plan.plan.name, 'rest test')
    assert.equal(plan.plan.type, 'STREAMING')
    const [source, sum] = vertices
    assert.deepEqual(plan.plan.nodes.map((n) => ({ ...n, description: undefined })), [
      { id: source!.id, parallelism: 2, operator: '', operator_strategy: '', optimizer_properties: {}, description: undefined },
      { id: sum!.id, parallelism: 2, operator: '', operator_strategy: '', optimizer_properties: {}, description: undefined, inputs: [{ num: 0, id: source!.id, ship_strategy: 'HASH', exchange: 'pipelined_bounded' }] },
    ])
    assert.match(plan.plan.nodes[0]!.description as string, /^[^<]*gen<br\/>$/, 'one operator: its name')
    const [head, chained] = (sum!.name as string).split(' -> ')
    assert.equal(plan.plan.nodes[1]!.description, `${head!}<br/>+- ${chained!}<br/>`, 'the chain, head first')
  })

  it('GET /jobs/:id/checkpoints/config equals the configured settings', async () => {
    const c = await get(`/jobs/${master.jobId}/checkpoints/config`, 'CheckpointConfigInfo')
    assert.deepEqual(c, {
      mode: 'EXACTLY_ONCE',
      interval: 3_600_000,
      timeout: 45_000,
      min_pause: 20,
      max_concurrent: 2,
      externalization: { enabled: true, delete_on_cancellation: false },
      state_backend: 'EmbeddedRocksDBStateBackend',
      checkpoint_storage: 'FileSystemCheckpointStorage',
      unaligned_checkpoints: false,
      tolerable_failed_checkpoints: 3,
      aligned_checkpoint_timeout: 0,
      checkpoints_after_tasks_finish: true,
      state_changelog_enabled: false,
      changelog_periodic_materialization_interval: 600_000,
      changelog_storage: 'memory',
    })
  })

  it('checkpoints: trigger three, each completes with the next id; statistics count exactly them', async () => {
    for (let i = 0; i < 3; i++) {
      const id = await post(`/jobs/${master.jobId}/checkpoints`, {})
      const { seen, final } = await pollOperation(`/jobs/${master.jobId}/checkpoints/${id}`)
      assert.ok(seen.slice(0, -1).every((s) => s === 'IN_PROGRESS'))
      conforms(final.operation, 'CheckpointInfo')
      triggered.push(final.operation!.checkpointId as number)
    }
    assert.deepEqual(triggered, [1, 2, 3], 'ids count up from 1')
    const t = Date.now()
    const stats = (await get(`/jobs/${master.jobId}/checkpoints`, 'CheckpointingStatistics')) as Stats
    assert.deepEqual(stats.counts, { restored: 0, total: 3, in_progress: 0, completed: 3, failed: 0 })
    assert.deepEqual(stats.history.map((h) => h.id), [3, 2, 1], 'newest first')
    for (const h of stats.history) {
      assert.equal(h.className, 'completed')
      assert.equal(h.status, 'COMPLETED')
      assert.equal(h.is_savepoint, false)
      assert.equal(h.checkpoint_type, 'CHECKPOINT')
      assert.equal(h.savepointFormat, null)
      assert.equal(h.external_path, join(cp, master.jobId, `chk-${h.id as number}`))
      assert.ok(existsSync(join(h.external_path as string, '_metadata')), 'num-retained 5 keeps all three')
      const trig = h.trigger_timestamp as number
      const ack = h.latest_ack_timestamp as number
      assert.ok(trig >= before0 && trig <= ack && ack <= t, 'trigger <= ack <= now')
      assert.equal(h.end_to_end_duration, ack - trig)
    }
    const times = stats.history.map((h) => h.trigger_timestamp as number)
    assert.deepEqual([...times].sort((a, b) => b - a), times, 'later ids were triggered later')
    assert.deepEqual(stats.latest.completed, stats.history[0])
    // Sizes, from what each _metadata lists and what is on disk: state_size is every referenced
    // byte; these checkpoints are full (not incremental), so each wrote all of it itself.
    for (const h of stats.history) {
      const meta = parseMetadata(readFileSync(join(h.external_path as string, '_metadata')), 'm')
      const onDisk = meta.files.reduce((n, f) => n + statSync(join(h.external_path as string, f.path)).size, 0)
      assert.ok(onDisk > 0)
      assert.equal(h.state_size, onDisk, `chk-${h.id as number} state_size`)
      assert.equal(h.checkpointed_size, onDisk, `chk-${h.id as number} checkpointed_size`)
      assert.equal(h.persisted_data, 0, 'aligned: no in-flight data')
      assert.equal(h.num_subtasks, 4)
      assert.equal(h.num_acknowledged_subtasks, 4)
    }
    assertSummary(stats)
    assert.equal(stats.latest.savepoint, null)
    assert.equal(stats.latest.failed, null)
    assert.equal(stats.latest.restored, null)
  })

  it('savepoints: IN_PROGRESS then COMPLETED for good; canonical and native formats are reported as taken', async () => {
    for (const format of ['CANONICAL', 'NATIVE']) {
      const id = await post(`/jobs/${master.jobId}/savepoints`, { 'target-directory': join(dir, 'sp'), 'cancel-job': false, formatType: format })
      const { seen, final } = await pollOperation(`/jobs/${master.jobId}/savepoints/${id}`)
      assert.ok(seen.length >= 1 && seen.slice(0, -1).every((s) => s === 'IN_PROGRESS') && seen.at(-1) === 'COMPLETED', seen.join(' → '))
      for (let i = 0; i < 3; i++) assert.equal(((await get(`/jobs/${master.jobId}/savepoints/${id}`)) as Op).status.id, 'COMPLETED', 'stays completed')
      conforms(final.operation, 'SavepointInfo')
      const location = final.operation!.location as string
      assert.match(location, new RegExp(`^${join(dir, 'sp')}/savepoint-${master.jobId.slice(0, 6)}-[0-9a-f]{12}$`))
      assert.ok(existsSync(join(location, '_metadata')))
      savepoints.push({ id: triggered.length + savepoints.length + 1, location, format })
    }
    const stats = (await get(`/jobs/${master.jobId}/checkpoints`, 'CheckpointingStatistics')) as Stats
    assert.deepEqual(stats.counts, { restored: 0, total: 5, in_progress: 0, completed: 5, failed: 0 })
    assert.deepEqual(stats.history.map((h) => [h.id, h.is_savepoint, h.checkpoint_type, h.savepointFormat]),
      [[5, true, 'SAVEPOINT', 'NATIVE'], [4, true, 'SAVEPOINT', 'CANONICAL'], [3, false, 'CHECKPOINT', null], [2, false, 'CHECKPOINT', null], [1, false, 'CHECKPOINT', null]])
    assert.equal(stats.latest.savepoint!.id, 5)
    assert.equal(stats.latest.savepoint!.external_path, savepoints[1]!.location)
    assert.equal(stats.latest.completed!.id, 3, 'latest.completed is the latest checkpoint, not a savepoint')
    assertSummary(stats)
  })

  it('a savepoint that fails completes with Flink\'s failure cause, and the job runs on', async () => {
    const file = join(dir, 'a-file')
    writeFileSync(file, '')
    const id = await post(`/jobs/${master.jobId}/savepoints`, { 'target-directory': join(file, 'sp'), 'cancel-job': true })
    const { final } = await pollOperation(`/jobs/${master.jobId}/savepoints/${id}`)
    conforms(final.operation, 'SavepointInfo')
    const cause = final.operation!['failure-cause'] as Record<string, string>
    conforms(cause, 'SerializedThrowable')
    assert.match(cause['stack-trace']!, /a-file/)
    assert.equal(final.operation!.location, undefined)
    assert.equal(master.status, 'RUNNING', 'cancel-job applies only after a completed savepoint')
  })

  it('GET /jobs/:id/exceptions: none yet; /config; unknown ids are Flink\'s 404s', async () => {
    assert.deepEqual(await get(`/jobs/${master.jobId}/exceptions`, 'JobExceptionsInfoWithHistory'), { exceptionHistory: { entries: [], truncated: false } })
    conforms(await get('/config'), 'DashboardConfiguration')
    for (const path of [`/jobs/${'0'.repeat(32)}`, `/jobs/${master.jobId}/savepoints/${'f'.repeat(32)}`, `/jobs/${master.jobId}/nothing`]) {
      const r = await fetch(base + path, { headers })
      assert.equal(r.status, 404, path)
      const body = (await r.json()) as { errors: unknown[] }
      conforms(body, 'ErrorResponseBody')
      assert.deepEqual(Object.keys(body), ['errors'])
    }
  })

  it('operation results expire after rest.async.store-duration, and at most 1000 are kept', async () => {
    let now = 1_000_000
    const s2 = new JobRestServer(master, { address: '127.0.0.1', ports: [0], storageFor, operationTtlMs: 60_000, now: () => now })
    const b2 = `http://${await s2.start()}`
    const h2 = { authorization: `Bearer ${s2.secret}` }
    try {
      const t = (await (await fetch(`${b2}/jobs/${master.jobId}/checkpoints`, { method: 'POST', headers: h2, body: '{}' })).json()) as { 'request-id': string }
      const path = `${b2}/jobs/${master.jobId}/checkpoints/${t['request-id']}`
      const deadline = Date.now() + 20_000
      while (((await (await fetch(path, { headers: h2 })).json()) as Op).status.id !== 'COMPLETED') {
        assert.ok(Date.now() < deadline, 'checkpoint did not complete')
        await sleep(5)
      }
      now += 59_999
      assert.equal((await fetch(path, { headers: h2 })).status, 200, 'kept until the store duration passed')
      now += 1
      assert.equal((await fetch(path, { headers: h2 })).status, 404, 'gone after it')
      // Disposals of a missing savepoint fail at once: 1005 of them leave 1000 results.
      for (let i = 0; i < 1005; i++) {
        const r = await fetch(`${b2}/savepoint-disposal`, { method: 'POST', headers: h2, body: JSON.stringify({ 'savepoint-path': join(dir, `missing-${i}`) }) })
        assert.equal(r.status, 200)
        await r.text()
      }
      await sleep(200)
      assert.equal(s2.operationCount, 1000)
    } finally {
      await s2.stop()
    }
  })

  it('after a cancel: CANCELED, with end-time and duration consistent', async () => {
    master.cancel()
    const deadline = Date.now() + 20_000
    let d: Record<string, unknown>
    for (;;) {
      d = (await get(`/jobs/${master.jobId}`, 'JobDetailsInfo')) as Record<string, unknown>
      if (d.state === 'CANCELED') break
      assert.ok(Date.now() < deadline, `still ${String(d.state)}`)
      await sleep(10)
    }
    const start = d['start-time'] as number
    const end = d['end-time'] as number
    assert.ok(end >= start && end <= Date.now())
    assert.equal(d.duration, end - start)
    const stamps = d.timestamps as Record<string, number>
    assert.equal(stamps.CANCELED, end, 'the status was entered when the job ended')
    assert.ok(stamps.CANCELLING! <= end, JSON.stringify(stamps))
    assert.deepEqual(await get('/jobs'), { jobs: [{ id: master.jobId, status: 'CANCELED' }] })
    for (const v of d.vertices as Record<string, unknown>[]) {
      assert.equal(v.status, 'CANCELED')
      assert.deepEqual(v.tasks, { ...NO_TASKS, CANCELED: 2 })
    }
    assert.deepEqual(d['status-counts'], { ...NO_TASKS, CANCELED: 2 })
    const o = ((await get('/jobs/overview', 'MultipleJobsDetails')) as { jobs: Record<string, unknown>[] }).jobs[0]!
    assert.deepEqual(o.tasks, { total: 4, created: 0, scheduled: 0, deploying: 0, running: 0, finished: 0, canceling: 0, canceled: 4, failed: 0, reconciling: 0, initializing: 0 })
  })

  it('a job restored from the savepoint reports it under latest.restored', async () => {
    const sp = savepoints[0]!
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration(Object.entries(configured)))
    env.setParallelism(2)
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(100)), WatermarkStrategy.noWatermarks(), 'gen')
      .uid('gen').keyBy((v: number) => v % 5).sum().uid('sum').addSink(() => {})
    const { readRestorePoint } = await import('../../src/runtime/checkpoint/restore-point.js')
    const spec = await env.prepare('restored')
    const point = await readRestorePoint(sp.location, storageFor(sp.location))
    const { JobMaster: Master } = await import('../../src/runtime/job/job-master.js')
    const m2 = new Master({ ...spec, restore: { location: point.location, metadata: point.metadata, allowNonRestoredState: false, claimMode: 'no_claim' } })
    const r2 = m2.run()
    const s2 = new JobRestServer(m2, { address: '127.0.0.1', ports: [0], storageFor })
    const b2 = `http://${await s2.start()}`
    try {
      const stats = (await (await fetch(`${b2}/jobs/${m2.jobId}/checkpoints`, { headers: { authorization: `Bearer ${s2.secret}` } })).json()) as Stats
      conforms(stats, 'CheckpointingStatistics')
      assert.deepEqual(stats.latest.restored, { id: sp.id, external_path: sp.location, is_savepoint: true, restore_timestamp: m2.startTime })
      assert.equal(stats.counts.restored, 1)
    } finally {
      m2.cancel()
      await r2.catch(() => {})
      await s2.stop()
    }
  })
})

describe('task counts come from the subtasks, not from the job\'s status', () => {
  it('a bounded source that finished while the job runs: its vertex FINISHED, the others RUNNING', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(tmp(), 'cp')))
    env.setParallelism(1)
    const short = env.fromSource(new DataGeneratorSource((i) => i, 5, RateLimiterStrategy.perSecond(1000)), WatermarkStrategy.noWatermarks(), 'short').uid('short')
    const long = env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(50)), WatermarkStrategy.noWatermarks(), 'long').uid('long')
    short.union(long).rebalance().map((v: number) => v).uid('m').addSink(() => {})
    const { master, result } = await env.executeAsync('partly finished')
    const server = new JobRestServer(master, { address: '127.0.0.1', ports: [0], storageFor })
    const base = `http://${await server.start()}`
    const headers = { authorization: `Bearer ${server.secret}` }
    try {
      const deadline = Date.now() + 20_000
      let d: { state: string; vertices: { name: string; status: string; tasks: Record<string, number> }[]; 'status-counts': Record<string, number>; plan: { nodes: { id: string; inputs?: { ship_strategy: string }[] }[] } }
      for (;;) {
        d = (await (await fetch(`${base}/jobs/${master.jobId}`, { headers })).json()) as typeof d
        if (d.vertices.some((v) => v.status === 'FINISHED')) break
        assert.ok(Date.now() < deadline, JSON.stringify(d.vertices))
        await sleep(20)
      }
      conforms(d, 'JobDetailsInfo')
      assert.equal(d.state, 'RUNNING')
      const byName = Object.fromEntries(d.vertices.map((v) => [v.name, v]))
      assert.deepEqual(byName['short']?.tasks, { ...NO_TASKS, FINISHED: 1 }, JSON.stringify(d.vertices))
      assert.deepEqual(byName['long']?.tasks, { ...NO_TASKS, RUNNING: 1 })
      assert.deepEqual(d['status-counts'], { ...NO_TASKS, FINISHED: 1, RUNNING: 2 })
      const o = ((await (await fetch(`${base}/jobs/overview`, { headers })).json()) as { jobs: { tasks: Record<string, number> }[] }).jobs[0]!
      assert.equal(o.tasks.finished, 1)
      assert.equal(o.tasks.running, 2)
      assert.equal(o.tasks.total, 3)
      // The map reads both sources over REBALANCE edges (rebalance() after the union).
      assert.deepEqual(d.plan.nodes.map((n) => (n.inputs ?? []).map((i) => i.ship_strategy)), [[], [], ['REBALANCE', 'REBALANCE']])
    } finally {
      master.cancel()
      await result.catch(() => {})
      await server.stop()
    }
  })
})

class FailEarly extends RichMapFunction<number, number> {
  map(v: number): number {
    const attempt = this.getRuntimeContext().getAttemptNumber()
    if (attempt < 2) throw new Error(`boom on attempt ${attempt}`)
    return v
  }
}

describe('GET /jobs/:id/exceptions of a job that failed and restarted', () => {
  it('serves the failures newest first, as Flink\'s exception history', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(tmp(), 'cp')))
    env.setRestartStrategy(RestartStrategies.fixedDelayRestart(5, 300))
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(100)), WatermarkStrategy.noWatermarks(), 'gen')
      .map(new FailEarly()).uid('f').addSink(() => {})
    const { master, result } = await env.executeAsync('failing')
    const server = new JobRestServer(master, { address: '127.0.0.1', ports: [0], storageFor })
    const base = `http://${await server.start()}`
    const headers = { authorization: `Bearer ${server.secret}` }
    try {
      const deadline = Date.now() + 20_000
      let ex: { exceptionHistory: { entries: Record<string, unknown>[]; truncated: boolean } }
      for (;;) {
        ex = (await (await fetch(`${base}/jobs/${master.jobId}/exceptions`, { headers })).json()) as typeof ex
        if (ex.exceptionHistory.entries.length === 2 && master.status === 'RUNNING') break
        assert.ok(Date.now() < deadline, `exceptions: ${JSON.stringify(ex)}`)
        await sleep(20)
      }
      conforms(ex, 'JobExceptionsInfoWithHistory')
      const [newest, oldest] = ex.exceptionHistory.entries
      assert.match(newest!.stacktrace as string, /^Error: boom on attempt 1/)
      assert.match(oldest!.stacktrace as string, /^Error: boom on attempt 0/)
      assert.equal(newest!.exceptionName, 'Error')
      assert.ok((newest!.timestamp as number) >= (oldest!.timestamp as number) + 250, 'the restart waited its delay between them')
      assert.equal(ex.exceptionHistory.truncated, false)
      const one = (await (await fetch(`${base}/jobs/${master.jobId}/exceptions?maxExceptions=1`, { headers })).json()) as typeof ex
      assert.equal(one.exceptionHistory.entries.length, 1)
      assert.equal(one.exceptionHistory.truncated, true)
    } finally {
      master.cancel()
      await result.catch(() => {})
      await server.stop()
    }
  })
})

describe('the REST client, against a job manager that answers as the spec says', () => {
  it('triggers a savepoint, polls it, cancels, lists; sends the secret it was given', async () => {
    const jobId = 'ab'.repeat(16)
    const seen: string[] = []
    let polls = 0
    const fake = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`)
      let body = ''
      req.on('data', (d: Buffer) => (body += d.toString()))
      req.on('end', () => {
        const send = (code: number, v: unknown): void => {
          res.writeHead(code, { 'content-type': 'application/json' })
          res.end(JSON.stringify(v))
        }
        if (req.method === 'POST' && req.url === `/jobs/${jobId}/savepoints`) {
          const b = JSON.parse(body) as Record<string, unknown>
          assert.deepEqual(Object.keys(b).sort(), ['cancel-job', 'formatType', 'target-directory'])
          return send(202, { 'request-id': 'trigger-1' })
        }
        if (req.method === 'GET' && req.url === `/jobs/${jobId}/savepoints/trigger-1`) {
          return send(200, ++polls < 3 ? { status: { id: 'IN_PROGRESS' } } : { status: { id: 'COMPLETED' }, operation: { location: 'file:/sp/savepoint-ababab-000000000000' } })
        }
        if (req.method === 'PATCH' && req.url === `/jobs/${jobId}?mode=cancel`) return send(202, {})
        if (req.method === 'GET' && req.url === '/jobs/overview') {
          return send(200, { jobs: [{ jid: jobId, name: 'flink job', state: 'RUNNING', 'start-time': 1, 'end-time': -1, duration: 5, 'last-modification': 1, tasks: {} }] })
        }
        send(404, { errors: ['Not found'] })
      })
    })
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r))
    const client = new RestClient(`127.0.0.1:${(fake.address() as AddressInfo).port}`, { pollMs: 5, secret: 's3cr3t' })
    try {
      assert.equal(await client.savepoint(jobId, { targetDirectory: '/sp' }), 'file:/sp/savepoint-ababab-000000000000')
      assert.equal(polls, 3)
      await client.cancel(jobId)
      const jobs = await client.jobsOverview()
      assert.equal(jobs[0]!.name, 'flink job')
      await assert.rejects(client.jobStatus('cd'.repeat(16)), /Not found/)
      assert.ok(seen.includes(`PATCH /jobs/${jobId}?mode=cancel Bearer s3cr3t`))
      assert.ok(seen.every((s) => s.endsWith('Bearer s3cr3t')))
    } finally {
      fake.close()
    }
  })
})
