/**
 * checkpoints list | restore | prune through the real CLI.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { HistoryWriter, restoresIdentically } from '../checkpoint-history.js'
import { CLI, ROOT, committedLines, runCli, sleep, tmp } from '../helpers.js'

const JOB = '0123456789abcdef0123456789abcdef'
const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
const day = (n: number): Date => new Date(Date.now() - n * 86_400_000)

describe('tsflink checkpoints list', () => {
  it('shows valid, orphan and incomplete entries as a table and as JSON', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(3))
    h.checkpoint(2, day(2))
    h.checkpoint(3, day(1), { withMetadata: false })
    const table = await runCli(['checkpoints', 'list', '--dir', root])
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /ID.*Job.*Kind.*Completed.*Size.*Status.*Path/)
    const json = await runCli(['checkpoints', 'list', '--dir', root, '--json'])
    const rows = JSON.parse(json.stdout) as { checkpointId: number; status: string; kind: string; jobId: string; path: string; completedAt: string | null; sizeBytes: number }[]
    const byId = new Map(rows.map((r) => [r.checkpointId, r]))
    assert.equal(byId.get(2)!.status, 'valid')
    assert.equal(byId.get(1)!.status, 'orphan')
    assert.equal(byId.get(3)!.status, 'incomplete')
    assert.equal(byId.get(2)!.kind, 'checkpoint')
    assert.equal(byId.get(2)!.jobId, JOB)
    assert.ok(!Number.isNaN(Date.parse(byId.get(2)!.completedAt!)))
    assert.ok(byId.get(2)!.sizeBytes > 0)
  })

  it('a bad JobID is a usage error; an unknown one names it', async () => {
    const bad = await runCli(['checkpoints', 'list', 'xyz'])
    assert.equal(bad.code, 2)
    const home = tmp()
    const unknown = await runCli(['checkpoints', 'list', JOB], { env: { TSFLINK_HOME: home } })
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, new RegExp(JOB))
  })
})

describe('tsflink checkpoints prune', () => {
  it('--json prints deleted, kept and bytes freed', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 3; i++) h.checkpoint(i, day(5 - i))
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { deleted: string[]; kept: string[]; bytesFreed: number }
    assert.ok(out.deleted.includes(join(root, JOB, 'chk-1')))
    assert.deepEqual(out.kept, [join(root, JOB, 'chk-3')])
    assert.ok(out.bytesFreed > 0)
    assert.ok(restoresIdentically(h.checkpoints[2]!))
  })

  it('killed with -9 at random points and re-run: whatever list shows as valid restores, and it converges', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 400; i++) h.checkpoint(i, day(500 - i), { compact: i % 10 === 0 })
    const byPath = new Map(h.checkpoints.map((c) => [c.path, c]))
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, [CLI, 'checkpoints', 'prune', '--dir', root, '--keep', '1'], { stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      await sleep(150 + Math.floor(Math.random() * 500))
      child.kill('SIGKILL')
      await exited
      const list = await runCli(['checkpoints', 'list', '--dir', root, '--json'])
      assert.equal(list.code, 0, list.stderr)
      for (const row of JSON.parse(list.stdout) as { path: string; status: string }[]) {
        if (row.status === 'valid' || row.status === 'orphan') assert.ok(restoresIdentically(byPath.get(row.path)!), `round ${round}: ${row.path} is listed valid and must restore`)
      }
    }
    const final = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1'])
    assert.equal(final.code, 0, final.stderr)
    assert.deepEqual(readdirSync(join(root, JOB)).filter((n) => n.startsWith('chk-')), ['chk-400'])
    assert.ok(restoresIdentically(h.checkpoints[399]!))
  })
})

describe('tsflink checkpoints restore', () => {
  it('resumes a killed job from its latest checkpoint, by JobID, without naming the job file', async () => {
    const home = tmp()
    const cp = join(home, 'cp')
    const out = join(home, 'out')
    const total = 20_000
    const child = spawn(process.execPath, [CLI, 'run', '-D', 'execution.checkpointing.interval=50ms', '-D', `execution.checkpointing.dir=${cp}`,
      COUNTER, out, String(total), '5000'], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
    const exited = new Promise((r) => child.on('exit', r))
    for (let i = 0; i < 200 && !(existsSync(cp) && readdirSync(cp).some((j) => readdirSync(join(cp, j)).some((c) => existsSync(join(cp, j, c, '_metadata'))))); i++) await sleep(25)
    await sleep(500)
    child.kill('SIGKILL')
    await exited
    const jobId = readdirSync(cp)[0]!
    const r = await runCli(['checkpoints', 'restore', jobId, '-D', `execution.checkpointing.dir=${cp}`], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Restoring from .*chk-\d+$/m)
    const lines = committedLines(out)
    assert.equal(lines.length, total)
    assert.equal(new Set(lines).size, total, 'no line twice')
  })

  it('refuses a folder without a valid checkpoint', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(1), { withMetadata: false })
    const r = await runCli(['checkpoints', 'restore', join(root, JOB)])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /No valid checkpoint/)
  })
})
