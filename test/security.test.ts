/**
 * Hostile neighbours (issue "Hostile neighbours and bad input", Security): another local user can
 * do nothing to a job — every request without the job's secret gets 401 and changes nothing, also
 * as user `nobody` (setpriv) — the registry entry holding the secret is the owner's alone, `-m`
 * finds the secret by endpoint, and with authentication switched off what callers may name is
 * confined (canonical paths, their own directories) and disposal never deletes through a symbolic
 * link swapped in while it runs.
 */
import assert from 'node:assert/strict'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Configuration, DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from '../src/index.js'
import { JobRegistry, type RegistryEntry } from '../src/runtime/control/registry.js'
import { parseBindPorts } from '../src/runtime/control/rest-options.js'
import { canonicalLocation } from '../src/runtime/control/confine.js'
import { JobRestServer } from '../src/runtime/control/rest-server.js'
import type { JobMaster } from '../src/runtime/job/job-master.js'
import { storageFor } from '../src/runtime/storage/resolve.js'
import { ROOT, runCli, sleep, tmp } from './helpers.js'
import { NOBODY, giveToNobody, otherUserUnavailable, requireOtherUser, runAsNobody, runCliAsNobody, stopJob } from './other-user.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')

/** Polls until `ok` or the deadline; fails with `what` otherwise. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** A node script for nobody: sends the given requests without a credential, prints status codes as JSON. */
const REQUESTS_SCRIPT = `
const [base, json] = process.argv.slice(2)
const out = []
for (const r of JSON.parse(json)) {
  const res = await fetch(base + r.path, { method: r.method, headers: r.headers ?? {}, ...(r.body === undefined ? {} : { body: JSON.stringify(r.body) }) })
  out.push({ status: res.status, body: await res.text() })
}
console.log(JSON.stringify(out))
`

describe('a job run by root, with default security', () => {
  // Registered before tmp()'s cleanup, so that it runs first: the job must be gone before its folder.
  after(async () => stopJob(home, jobId))
  const home = tmp()
  let jobId: string
  let entry: RegistryEntry
  let base: string
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${entry.secret}` })
  const authed = async (path: string, init: RequestInit = {}): Promise<Response> => fetch(base + path, { ...init, headers: { ...auth(), ...(init.headers as Record<string, string> | undefined) } })
  const state = async (): Promise<string> => ((await (await authed(`/jobs/${jobId}`)).json()) as { state: string }).state
  const scripts = tmp()

  before(async () => {
    giveToNobody(home, scripts)
    writeFileSync(join(scripts, 'requests.mjs'), REQUESTS_SCRIPT)
    const r = await runCli(['run', '-d', '-D', 'execution.checkpointing.interval=200ms', '-D', `state.savepoints.dir=${join(home, 'configured-sp')}`,
      COUNTER, join(home, 'out'), '100000000', '500'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)![1]!
    entry = JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as RegistryEntry
    base = `http://${entry.rest}`
    await until('the job to run', async () => ((await state()) === 'RUNNING' ? true : undefined))
  })

  it('the registry is the owner\'s alone: folder 0700, entry 0600, a 256-bit secret', () => {
    assert.equal(statSync(join(home, 'jobs')).mode & 0o777, 0o700)
    assert.equal(statSync(join(home, 'jobs', `${jobId}.json`)).mode & 0o777, 0o600)
    assert.match(entry.secret ?? '', /^[0-9a-f]{64}$/)
  })

  it('an existing registry folder with wider permissions is narrowed', () => {
    const dir = join(tmp(), 'jobs')
    mkdirSync(dir, { mode: 0o777 })
    new JobRegistry(dir).register({ jobId: 'ab'.repeat(16), jobName: 'x', pid: process.pid, rest: '127.0.0.1:1', startTime: 0, secret: 's' })
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.equal(statSync(join(dir, `${'ab'.repeat(16)}.json`)).mode & 0o777, 0o600)
  })

  it('without the secret every endpoint answers 401 and nothing changes; /config answers anyone', async () => {
    const sp = join(home, 'sp-by-stranger')
    const requests: [string, string, unknown?][] = [
      ['GET', '/jobs'], ['GET', '/jobs/overview'], ['GET', '/overview'], ['GET', `/jobs/${jobId}`], ['GET', `/jobs/${jobId}/status`],
      ['GET', `/jobs/${jobId}/checkpoints`], ['GET', `/jobs/${jobId}/checkpoints/config`], ['GET', `/jobs/${jobId}/exceptions`],
      ['PATCH', `/jobs/${jobId}?mode=cancel`], ['POST', `/jobs/${jobId}/savepoints`, { 'target-directory': sp, 'cancel-job': true }],
      ['POST', `/jobs/${jobId}/stop`, { targetDirectory: sp }], ['POST', `/jobs/${jobId}/checkpoints`, {}],
      ['POST', '/savepoint-disposal', { 'savepoint-path': join(home, 'out') }],
    ]
    for (const [method, path, body] of requests) {
      for (const headers of [{}, { authorization: `Bearer ${'0'.repeat(64)}` }, { authorization: `Basic ${entry.secret}` }, { authorization: `Bearer ${entry.secret}x` }]) {
        const r = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
        assert.equal(r.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`)
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/)
        assert.deepEqual(Object.keys((await r.json()) as object), ['errors'])
      }
    }
    const config = await fetch(`${base}/config`)
    assert.equal(config.status, 200)
    assert.equal(((await config.json()) as { 'flink-version': string })['flink-version'], 'tsflink')
    await sleep(300)
    assert.equal(await state(), 'RUNNING')
    assert.equal(existsSync(sp), false, 'no savepoint was written')
    assert.ok(existsSync(join(home, 'out')), 'nothing was disposed')
    const stats = (await (await authed(`/jobs/${jobId}/checkpoints`)).json()) as { latest: { savepoint: unknown } }
    assert.equal(stats.latest.savepoint, null)
  })

  it('as user nobody: cancel, a savepoint into root\'s folder and disposal are all refused (401)', async (t) => {
    if (!requireOtherUser(t)) return
    const victim = join(home, 'victim-savepoint')
    mkdirSync(victim)
    writeFileSync(join(victim, '_metadata'), 'root\'s')
    const r = await runAsNobody([join(scripts, 'requests.mjs'), base, JSON.stringify([
      { method: 'PATCH', path: `/jobs/${jobId}?mode=cancel` },
      { method: 'POST', path: `/jobs/${jobId}/savepoints`, body: { 'target-directory': `${home}/x/../y`, 'cancel-job': false } },
      { method: 'POST', path: '/savepoint-disposal', body: { 'savepoint-path': victim } },
      { method: 'GET', path: `/jobs/${jobId}` },
    ])])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as { status: number }[]).map((x) => x.status), [401, 401, 401, 401])
    await sleep(300)
    assert.equal(await state(), 'RUNNING')
    assert.equal(existsSync(join(home, 'y')), false)
    assert.equal(readFileSync(join(victim, '_metadata'), 'utf8'), 'root\'s')
  })

  it('as user nobody: the registry entry cannot be read', async (t) => {
    if (!requireOtherUser(t)) return
    const r = await runAsNobody(['-e', `require('fs').readFileSync(${JSON.stringify(join(home, 'jobs', `${jobId}.json`))})`])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /EACCES/)
  })

  it('as user nobody, the CLI with -m gets a clear 401 and a hint; the job runs on', async (t) => {
    if (!requireOtherUser(t)) return
    const nobodyHome = join(scripts, 'nobody-home')
    for (const args of [['cancel', '-m', entry.rest, jobId], ['list', '-m', entry.rest], ['savepoint', '-m', entry.rest, jobId, join(scripts, 'sp')]]) {
      const r = await runCliAsNobody(args, { TSFLINK_HOME: nobodyHome })
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
      const lines = r.stderr.split('\n')
      assert.equal(lines[0], `Error: The job manager at http://${entry.rest} requires a credential and none was found for it (HTTP 401)`)
      assert.match(lines[1] ?? '', /^Hint: Run the command as the user who started the job: its registry entry .* holds the job's secret/)
    }
    assert.equal(await state(), 'RUNNING')
    assert.equal(existsSync(join(scripts, 'sp')), false)
  })

  it('the owner\'s CLI finds the secret: by JobID, and by endpoint with -m', async () => {
    const list = await runCli(['list', '-m', entry.rest], { env: { TSFLINK_HOME: home } })
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${jobId} : counter \\(RUNNING\\)`))
    const sp = await runCli(['savepoint', '-m', entry.rest.replace('127.0.0.1', 'localhost'), jobId, join(home, 'sp-m')], { env: { TSFLINK_HOME: home } })
    assert.equal(sp.code, 0, sp.stderr)
    assert.match(sp.stdout, new RegExp(`Savepoint completed\\. Path: ${join(home, 'sp-m')}/savepoint-`))
    const byId = await runCli(['savepoint', jobId], { env: { TSFLINK_HOME: home } })
    assert.equal(byId.code, 0, byId.stderr)
    assert.match(byId.stdout, new RegExp(`Path: ${join(home, 'configured-sp')}/savepoint-`))
  })
})

describe('locations callers may name', () => {
  it('canonical paths only: no ., .. or empty segments; file: prefixes accepted', () => {
    assert.equal(canonicalLocation('/a/b/'), '/a/b')
    assert.equal(canonicalLocation('file:///a/b'), '/a/b')
    assert.equal(canonicalLocation('file:/a/b'), '/a/b')
    assert.equal(canonicalLocation('s3://bucket/p/q'), 's3://bucket/p/q')
    for (const bad of ['/root/x/../y', '/a/./b', '/a//b', 'relative/dir', 's3://bucket/a/../b', '..', 'file:a']) {
      assert.throws(() => canonicalLocation(bad), (e: Error & { status?: number }) => e.status === 400, bad)
    }
  })

  it('rest.bind-port: a port, a range or a list', () => {
    assert.deepEqual(parseBindPorts('8081'), [8081])
    assert.deepEqual(parseBindPorts('50100-50102, 50200'), [50100, 50101, 50102, 50200])
    assert.throws(() => parseBindPorts('50200-50100'), /rest\.bind-port/)
    assert.throws(() => parseBindPorts('http'), /rest\.bind-port/)
  })

  it('rest.bind-port: the server takes the first free port of the range, as Flink does', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const taken = (blocker.address() as { port: number }).port
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(tmp(), 'cp')))
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(100)), WatermarkStrategy.noWatermarks(), 'g').addSink(() => {})
    const { master, result } = await env.executeAsync('ports')
    const server = new JobRestServer(master, { address: '127.0.0.1', ports: [taken, taken + 1, taken + 2], storageFor })
    try {
      const endpoint = await server.start()
      assert.notEqual(endpoint, `127.0.0.1:${taken}`)
      assert.ok([`127.0.0.1:${taken + 1}`, `127.0.0.1:${taken + 2}`].includes(endpoint), endpoint)
      const only = new JobRestServer(master, { address: '127.0.0.1', ports: [taken], storageFor })
      await assert.rejects(only.start(), new RegExp(`cannot listen on 127\\.0\\.0\\.1, port ${taken}`))
    } finally {
      master.cancel()
      await result.catch(() => {})
      await server.stop()
      blocker.close()
    }
  })
})

describe('authentication none: confinement, as user nobody', { skip: otherUserUnavailable() !== undefined && (process.env.CI ?? '') === '' ? 'needs root and setpriv' : false }, () => {
  let master: JobMaster
  let result: Promise<unknown>
  let server: JobRestServer
  let base: string
  // Registered before the folders' removal, so the job (checkpointing into rootDir) stops first.
  after(async () => {
    // Unset when `before` failed.
    ;(master as JobMaster | undefined)?.cancel()
    await (result as Promise<unknown> | undefined)?.catch(() => {})
    await (server as JobRestServer | undefined)?.stop()
  })
  const rootDir = tmp() // root's, 0700
  const att = tmp('tsflink-attacker-')
  const scripts = tmp()

  const asNobody = async (requests: unknown[]): Promise<{ status: number; body: string }[]> => {
    const r = await runAsNobody([join(scripts, 'requests.mjs'), base, JSON.stringify(requests)])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as { status: number; body: string }[]
  }
  const poll = async (path: string): Promise<Record<string, unknown>> => until(`operation ${path}`, async () => {
    const s = (await (await fetch(base + path)).json()) as { status: { id: string }; operation?: Record<string, unknown> }
    return s.status.id === 'COMPLETED' ? (s.operation ?? {}) : undefined
  })
  const savepointInto = async (dir: string): Promise<string> => (await master.triggerSavepoint(dir)).location

  before(async () => {
    if (otherUserUnavailable() !== undefined) throw new Error(`Cannot run as another user in CI: ${otherUserUnavailable()}`)
    giveToNobody(att, scripts)
    writeFileSync(join(scripts, 'requests.mjs'), REQUESTS_SCRIPT)
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration()
      .set('execution.checkpointing.dir', join(rootDir, 'cp')).set('execution.checkpointing.savepoint-dir', join(rootDir, 'sps')))
    env.enableCheckpointing(100)
    env.fromSource(new DataGeneratorSource((i) => i, Infinity, RateLimiterStrategy.perSecond(1000)), WatermarkStrategy.noWatermarks(), 'gen')
      .uid('gen').keyBy((v: number) => v % 5).sum().uid('sum').addSink(() => {})
    ;({ master, result } = await env.executeAsync('none'))
    server = new JobRestServer(master, { address: '127.0.0.1', ports: [0], storageFor, authentication: 'none' })
    base = `http://${await server.start()}`
    await until('the job to run', async () => (master.status === 'RUNNING' ? true : undefined))
  })

  it('a non-canonical target is a 400; a folder nobody does not own is a 403; nobody\'s own folder is fine', async () => {
    const mine = join(att, 'mine')
    mkdirSync(mine)
    giveToNobody(mine)
    const [dots, foreign, own] = await asNobody([
      { method: 'POST', path: `/jobs/${master.jobId}/savepoints`, body: { 'target-directory': `${rootDir}/x/../y` } },
      { method: 'POST', path: `/jobs/${master.jobId}/savepoints`, body: { 'target-directory': join(rootDir, 'stolen') } },
      { method: 'POST', path: `/jobs/${master.jobId}/savepoints`, body: { 'target-directory': join(mine, 'sp') } },
    ])
    assert.equal(dots!.status, 400, dots!.body)
    assert.match(dots!.body, /not canonical/)
    assert.equal(foreign!.status, 403, foreign!.body)
    assert.equal(own!.status, 202, own!.body)
    const op = await poll(`/jobs/${master.jobId}/savepoints/${(JSON.parse(own!.body) as { 'request-id': string })['request-id']}`)
    assert.match(String(op.location), new RegExp(`^${join(mine, 'sp')}/savepoint-`))
    assert.equal(existsSync(join(rootDir, 'y')), false)
    assert.equal(existsSync(join(rootDir, 'stolen')), false)
  })

  it('disposal: nobody may not dispose root\'s savepoint outside the job\'s folders; a symlink to it does not help', async () => {
    const rootsOwn = await savepointInto(join(rootDir, 'private'))
    const link = join(att, 'link')
    const { symlinkSync } = await import('node:fs')
    symlinkSync(join(rootDir, 'private'), link)
    const [direct, viaLink] = await asNobody([
      { method: 'POST', path: '/savepoint-disposal', body: { 'savepoint-path': rootsOwn } },
      { method: 'POST', path: '/savepoint-disposal', body: { 'savepoint-path': join(link, rootsOwn.split('/').at(-1)!) } },
    ])
    assert.equal(direct!.status, 403, direct!.body)
    assert.equal(viaLink!.status, 403, viaLink!.body)
    assert.ok(existsSync(join(rootsOwn, '_metadata')))
  })

  it('disposal never deletes through a symbolic link swapped in while it runs', async () => {
    const N = 120
    const template = await savepointInto(join(rootDir, 'tpl'))
    // Root's savepoints in a folder only root may enter: the victims.
    const secret = join(rootDir, 'secret')
    for (let i = 0; i < N; i++) cpSync(template, join(secret, `sp${i}`), { recursive: true })
    // Nobody's copies, in a folder nobody swaps for a link to root's folder in a tight loop.
    const p = join(att, 'race', 'p')
    for (let i = 0; i < N; i++) cpSync(template, join(p, `sp${i}`), { recursive: true })
    const { execFileSync } = await import('node:child_process')
    execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, join(att, 'race')])
    writeFileSync(join(scripts, 'swap.mjs'), `
      import { renameSync, symlinkSync } from 'node:fs'
      const [dir, target, ms] = process.argv.slice(2)
      symlinkSync(target, dir + '/p.link')
      const end = Date.now() + Number(ms)
      let swaps = 0
      // Each state is held a while (p the link up to ~1 ms, p the real folder up to ~4 ms), so
      // that disposals see both on a busy machine too, and the link still changes thousands of times.
      const hold = (ms) => { const until = performance.now() + Math.random() * ms; while (performance.now() < until); }
      while (Date.now() < end) {
        try { renameSync(dir + '/p', dir + '/p.real'); renameSync(dir + '/p.link', dir + '/p'); hold(1); renameSync(dir + '/p', dir + '/p.link'); renameSync(dir + '/p.real', dir + '/p'); hold(4); swaps++ } catch {}
      }
      console.log(swaps)
    `)
    writeFileSync(join(scripts, 'dispose.mjs'), `
      const [base, dir, n] = process.argv.slice(2)
      const results = []
      const one = async (i) => {
        const t = await fetch(base + '/savepoint-disposal', { method: 'POST', body: JSON.stringify({ 'savepoint-path': dir + '/p/sp' + i }) })
        if (t.status !== 200) return results.push('refused ' + t.status)
        const id = (await t.json())['request-id']
        for (const deadline = Date.now() + 20000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 5))) {
          const s = await (await fetch(base + '/savepoint-disposal/' + id)).json()
          if (s.status.id === 'COMPLETED') return results.push(s.operation['failure-cause'] === undefined ? 'disposed' : 'failed: ' + s.operation['failure-cause']['stack-trace'])
        }
        results.push('timeout')
      }
      for (let i = 0; i < Number(n); i += 4) await Promise.all([0, 1, 2, 3].filter((k) => i + k < Number(n)).map((k) => one(i + k)))
      console.log(JSON.stringify(results))
    `)
    const swapper = runAsNobody([join(scripts, 'swap.mjs'), join(att, 'race'), secret, '8000'])
    await sleep(300)
    const disposer = await runAsNobody([join(scripts, 'dispose.mjs'), base, join(att, 'race'), String(N)])
    const swapped = await swapper
    assert.equal(disposer.code, 0, disposer.stderr)
    const results = JSON.parse(disposer.stdout) as string[]
    if (process.env.TSFLINK_TEST_DEBUG === '1') console.error(results.map((r) => r.replace(/sp\d+/g, 'spN').slice(0, 90)).reduce((m, r) => m.set(r, (m.get(r) ?? 0) + 1), new Map<string, number>()))
    assert.ok(Number(swapped.stdout) > 1000, `the link was swapped ${swapped.stdout} times`)
    assert.ok(results.includes('disposed'), `some disposals went through: ${results.slice(0, 5).join('; ')}`)
    assert.ok(results.every((r) => !r.startsWith('timeout')), results.join('; '))
    // Every victim is whole: its _metadata and every file.
    const files = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String).sort()
    const expected = files(template)
    for (let i = 0; i < N; i++) assert.deepEqual(files(join(secret, `sp${i}`)), expected, `root's sp${i} was touched`)
  })
})
