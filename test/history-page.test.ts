/**
 * The checkpoint history page in a real browser: Debian's chromium, headless, driven by
 * playwright-core, against a real job started with `tsflink run -d` (checkpoint every 400 ms: fewer
 * than the 10 the REST history lists complete between two refreshes of the page, every 2 s).
 * The address is the one `tsflink web <jobId>` prints; the page's rows must match the job's REST
 * data (GET /jobs/:id/checkpoints, asked with the job's secret), its duration chart must have one
 * point per completed checkpoint it lists, and without the secret the page shows the API's
 * refusal. The page itself is served to anyone, every API endpoint still refuses without a
 * credential. Without chromium the test skips loudly (scripts/install-chromium.sh), in CI
 * (CI=true) it fails. TSFLINK_UPDATE_SCREENSHOT=1 writes docs/checkpoint-history.png.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { ROOT, runCli, sleep, tmp, untilRunning } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const JOB = join(ROOT, 'test', 'jobs', 'state-kinds.ts')

function skipReason(): string | false {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return false
  const reason = `Checkpoint history page test skipped: ${CHROMIUM} (Debian's chromium package) not found; run scripts/install-chromium.sh as root`
  process.stderr.write(`\n*** ${reason} ***\n\n`)
  return reason
}

interface Checkpoint { id: number; status: string; is_savepoint: boolean; trigger_timestamp: number; end_to_end_duration: number; state_size?: number; checkpointed_size?: number; processed_data?: number; persisted_data?: number }
interface Stats { counts: { completed: number }; history: Checkpoint[] }

/** The page's formatting rules (README): times in UTC ISO form, durations in ms, sizes in B/KiB/…, '–' when unknown. */
const time = (t: number): string => new Date(t).toISOString().replace('T', ' ').replace('Z', ' UTC')
function bytes(n: number | undefined): string {
  if (typeof n !== 'number' || n < 0) return '–'
  if (n < 1024) return `${n} B`
  const u = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(1)} ${u[i]}`
}

const skip = skipReason()

describe('checkpoint history page', { skip }, () => {
  // Registered before tmp()'s own cleanup, so the job is gone before its folder is removed.
  after(async () => {
    await browser?.close()
    if (jobId !== '') await runCli(['cancel', jobId], { env })
    try {
      if (pid !== 0) process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
  })
  const home = tmp()
  const env = { TSFLINK_HOME: home }
  let jobId = ''
  let url = ''
  let base = ''
  let secret = ''
  let browser: Browser | undefined
  let pid = 0

  before(async () => {
    const r = await runCli(['run', '-d', '-D', 'execution.checkpointing.interval=400ms', JOB, '1000000000', '500', '20'], { env })
    assert.equal(r.code, 0, r.stderr)
    jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)![1]!
    assert.match(r.stderr, new RegExp(`^Its checkpoint history: tsflink web ${jobId}$`, 'm'))
    const entry = JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { pid: number; rest: string; secret: string }
    pid = entry.pid
    secret = entry.secret
    base = `http://${entry.rest}`
    await untilRunning(jobId, env)
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  })

  const rest = async (): Promise<Stats> => {
    const r = await fetch(`${base}/jobs/${jobId}/checkpoints`, { headers: { authorization: `Bearer ${secret}` } })
    assert.equal(r.status, 200)
    return (await r.json()) as Stats
  }

  it('tsflink web prints the page\'s address with the job\'s secret in the fragment', async () => {
    const r = await runCli(['web', jobId], { env })
    assert.equal(r.code, 0, r.stderr)
    url = `${base}/#/jobs/${jobId}/checkpoints?token=${secret}`
    assert.equal(r.stdout, `Checkpoint history: ${url}\n`)
    const json = await runCli(['web', jobId, '--json'], { env })
    assert.deepEqual(JSON.parse(json.stdout), { jobId, url })
    const gone = await runCli(['web', '0123456789abcdef0123456789abcdef'], { env })
    assert.equal(gone.code, 1)
    assert.match(gone.stderr, /^Error: No running job with JobID 0123456789abcdef0123456789abcdef was found$/m)
  })

  it('the page is served without a credential and holds no job data; the API still refuses without one', async () => {
    const page = await fetch(`${base}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'sha256-[A-Za-z0-9+/=]+'; .*connect-src 'self'/)
    const html = await page.text()
    assert.ok(!html.includes(jobId) && !html.includes(secret), 'no job id or secret in the page')
    assert.ok(!/\b(src|href)=["']?https?:/i.test(html), 'no external asset')
    for (const path of ['/jobs', `/jobs/${jobId}`, `/jobs/${jobId}/checkpoints`, '/overview', '/index.html/../jobs']) {
      const r = await fetch(`${base}${path}`)
      assert.equal(r.status, 401, path)
    }
  })

  it('in chromium: the rows are the REST history, the chart has one point per completed checkpoint', async () => {
    // At least 5 completed checkpoints before the page opens.
    for (let i = 0; i < 200 && (await rest()).counts.completed < 5; i++) await sleep(100)
    const page = await browser!.newPage({ viewport: { width: 1280, height: 800 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
    assert.equal(page.url(), `${base}/#/jobs/${jobId}/checkpoints`, 'the secret leaves the address bar')
    const seen = await rest()
    const newest = Math.max(...seen.history.map((c) => c.id))
    await page.waitForSelector(`#rows tr[data-id="${newest}"]`, { timeout: 15_000 })
    const rows = await page.$$eval('#rows tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
    const byId = new Map(rows.map((r) => [Number(r[0]), r]))
    assert.ok(seen.history.length >= 5)
    for (const c of seen.history) {
      assert.deepEqual(byId.get(c.id), [
        String(c.id), c.status, c.is_savepoint ? 'savepoint' : 'checkpoint', time(c.trigger_timestamp), `${c.end_to_end_duration} ms`,
        bytes(c.state_size ?? c.checkpointed_size), bytes(c.processed_data), bytes(c.persisted_data),
      ], `row of checkpoint ${c.id}`)
    }
    // Newest first, ids descending.
    const ids = rows.map((r) => Number(r[0]))
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a))
    const completed = rows.filter((r) => r[1] === 'COMPLETED').length
    const points = await page.$eval('#duration polyline', (p) => (p.getAttribute('points') ?? '').trim().split(/\s+/).length)
    assert.equal(points, completed, 'one chart point per completed checkpoint listed')
    assert.equal(await page.locator('#duration circle').count(), completed)
    const sized = rows.filter((r) => r[1] === 'COMPLETED' && r[5] !== '–').length
    assert.equal(Number(await page.getAttribute('#size', 'data-points')), sized)
    // It refreshes itself: a newer checkpoint appears without a reload.
    await page.waitForSelector(`#rows tr[data-id="${newest + 2}"]`, { timeout: 15_000 })
    assert.deepEqual(errors, [])
    if (process.env.TSFLINK_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: join(ROOT, 'docs', 'checkpoint-history.png') })
    await page.close()
  })

  it('in chromium without the secret: the page shows the refusal, no rows', async () => {
    const context = await browser!.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/#/jobs/${jobId}/checkpoints`)
    await page.waitForFunction("document.getElementById('error').textContent !== ''", undefined, { timeout: 15_000 })
    assert.match((await page.textContent('#error')) ?? '', /^Unauthorized: open the address "tsflink web [0-9a-f]{32}" prints/)
    assert.equal(await page.locator('#rows tr').count(), 0)
    await context.close()
  })
})
