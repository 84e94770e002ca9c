/**
 * The REST API speaks Flink's protocol: the tsflink server's responses use exactly the field names
 * of Flink's OpenAPI spec (test/fixtures/flink-rest-v1-dispatcher.yml), and the client works
 * against a fake job manager that answers as the spec says.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse } from 'yaml'
import { Configuration, DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from '../../src/index.js'
import { RestClient } from '../../src/runtime/control/rest-client.js'
import { JobRestServer } from '../../src/runtime/control/rest-server.js'
import type { JobMaster } from '../../src/runtime/job/job-master.js'
import { storageFor } from '../../src/runtime/storage/resolve.js'
import { ROOT, tmp } from '../helpers.js'

type Schema = { $ref?: string; type?: string; properties?: Record<string, Schema>; required?: string[]; items?: Schema; allOf?: Schema[]; oneOf?: Schema[]; additionalProperties?: unknown; discriminator?: { propertyName: string; mapping?: Record<string, string> } }
const spec = parse(readFileSync(join(ROOT, 'test', 'fixtures', 'flink-rest-v1-dispatcher.yml'), 'utf8')) as {
  components: { schemas: Record<string, Schema> }
}

function resolveSchema(s: Schema): Schema {
  let cur = s
  while (cur.$ref !== undefined) cur = spec.components.schemas[cur.$ref.split('/').at(-1)!]!
  if (cur.allOf !== undefined) {
    const merged: Schema = { type: 'object', properties: {}, required: [] }
    for (const part of cur.allOf.map(resolveSchema)) {
      Object.assign(merged.properties!, part.properties ?? {})
      merged.required!.push(...(part.required ?? []))
    }
    return merged
  }
  return cur
}

/** Every field of `value` is named in the schema, recursively; required fields are present. */
function conforms(value: unknown, schemaName: string, path = schemaName): void {
  check(value, { $ref: `#/components/schemas/${schemaName}` }, path)
}

function check(value: unknown, schema: Schema, path: string): void {
  const s = resolveSchema(schema)
  if (value === null || value === undefined || s.oneOf !== undefined) return
  if (s.type === 'array' && s.items !== undefined && Array.isArray(value)) {
    value.forEach((v, i) => check(v, s.items!, `${path}[${i}]`))
    return
  }
  if (s.properties === undefined || typeof value !== 'object') return
  const d = s.discriminator
  const sub = d?.mapping?.[String((value as Record<string, unknown>)[d.propertyName])]
  if (sub !== undefined) {
    const concrete = resolveSchema({ $ref: sub })
    if (concrete !== s) return check(value, concrete, path)
  }
  for (const r of s.required ?? []) assert.ok(r in (value as object), `${path}: required field '${r}' missing`)
  for (const [k, v] of Object.entries(value as object)) {
    const prop = s.properties[k]
    assert.ok(prop !== undefined || s.additionalProperties !== undefined, `${path}: field '${k}' is not in Flink's spec`)
    if (prop !== undefined) check(v, prop, `${path}.${k}`)
  }
}

describe('tsflink REST server, against Flink\'s spec', () => {
  let master: JobMaster
  let result: Promise<unknown>
  let server: JobRestServer
  let base: string
  const dir = tmp()

  before(async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, 'cp')))
    env.enableCheckpointing(50)
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(1000)), WatermarkStrategy.noWatermarks(), 'gen')
      .uid('gen').keyBy((v: number) => v % 5).sum().uid('sum').addSink(() => {})
    ;({ master, result } = await env.executeAsync('rest test'))
    server = new JobRestServer(master, { address: '127.0.0.1', port: 0, storageFor })
    base = `http://${await server.start()}`
    while (master.status !== 'RUNNING') await new Promise((r) => setTimeout(r, 10))
  })

  after(async () => {
    master.cancel()
    await result.catch(() => {})
    await server.stop()
  })

  const get = async (path: string): Promise<unknown> => {
    const r = await fetch(base + path)
    assert.equal(r.status, 200, `${path}: HTTP ${r.status}`)
    return r.json()
  }

  it('GET /jobs, /jobs/overview, /jobs/:id, /jobs/:id/status', async () => {
    const jobs = await get('/jobs')
    conforms(jobs, 'JobIdsWithStatusOverview')
    assert.deepEqual(jobs, { jobs: [{ id: master.jobId, status: 'RUNNING' }] })
    const overview = (await get('/jobs/overview')) as { jobs: { jid: string; state: string }[] }
    conforms(overview, 'MultipleJobsDetails')
    assert.equal(overview.jobs[0]!.jid, master.jobId)
    conforms(await get(`/jobs/${master.jobId}`), 'JobDetailsInfo')
    conforms(await get(`/jobs/${master.jobId}/status`), 'JobStatusInfo')
  })

  it('checkpoints: trigger, status, statistics, config', async () => {
    const t = await fetch(`${base}/jobs/${master.jobId}/checkpoints`, { method: 'POST', body: '{}' })
    assert.equal(t.status, 202)
    const trigger = (await t.json()) as { 'request-id': string }
    conforms(trigger, 'TriggerResponse')
    let status: { status: { id: string }; operation?: { checkpointId?: number } }
    do status = (await get(`/jobs/${master.jobId}/checkpoints/${trigger['request-id']}`)) as typeof status
    while (status.status.id !== 'COMPLETED')
    conforms(status, 'AsynchronousOperationResult')
    assert.equal(typeof status.operation!.checkpointId, 'number')
    const stats = await get(`/jobs/${master.jobId}/checkpoints`)
    conforms(stats, 'CheckpointingStatistics')
    const config = (await get(`/jobs/${master.jobId}/checkpoints/config`)) as { mode: string; interval: number }
    conforms(config, 'CheckpointConfigInfo')
    assert.equal(config.mode, 'EXACTLY_ONCE')
    assert.equal(config.interval, 50)
  })

  it('savepoints: trigger and status carry Flink\'s field names', async () => {
    const t = await fetch(`${base}/jobs/${master.jobId}/savepoints`, { method: 'POST', body: JSON.stringify({ 'target-directory': join(dir, 'sp'), 'cancel-job': false, formatType: 'CANONICAL' }) })
    assert.equal(t.status, 202)
    const { 'request-id': id } = (await t.json()) as { 'request-id': string }
    let status: { status: { id: string }; operation?: { location?: string } }
    do status = (await get(`/jobs/${master.jobId}/savepoints/${id}`)) as typeof status
    while (status.status.id !== 'COMPLETED')
    conforms(status, 'AsynchronousOperationResult')
    assert.match(status.operation!.location!, /savepoint-[0-9a-f]{6}-[0-9a-f]{12}$/)
  })

  it('an unknown job is a 404 with Flink\'s error body', async () => {
    const r = await fetch(`${base}/jobs/${'0'.repeat(32)}`)
    assert.equal(r.status, 404)
    const body = (await r.json()) as { errors: unknown[] }
    assert.deepEqual(Object.keys(body), ['errors'])
    assert.ok(body.errors.every((e) => typeof e === 'string'))
  })
})

describe('the REST client, against a job manager that answers as the spec says', () => {
  it('triggers a savepoint, polls it, cancels, lists', async () => {
    const jobId = 'ab'.repeat(16)
    const seen: string[] = []
    let polls = 0
    const fake = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
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
    const client = new RestClient(`127.0.0.1:${(fake.address() as AddressInfo).port}`, 5)
    try {
      assert.equal(await client.savepoint(jobId, { targetDirectory: '/sp' }), 'file:/sp/savepoint-ababab-000000000000')
      assert.equal(polls, 3)
      await client.cancel(jobId)
      const jobs = await client.jobsOverview()
      assert.equal(jobs[0]!.name, 'flink job')
      await assert.rejects(client.jobStatus('cd'.repeat(16)), /Not found/)
      assert.ok(seen.includes(`PATCH /jobs/${jobId}?mode=cancel`))
    } finally {
      fake.close()
    }
  })
})
