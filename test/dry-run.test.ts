/**
 * `tsflink run --dry-run -s <path>` through the real CLI against a real savepoint of
 * test/jobs/state-kinds.ts (parallelism 2, max parallelism 128), and each verdict checked against
 * a real restore right after: a plan that says the restore succeeds restores for real (exit 0), a
 * plan that says it fails fails for real with the same error line. Key groups per subtask come
 * from the SPEC's formula, not from the code under test. A dry run writes nothing: no checkpoint
 * directory, no registry entry, the savepoint untouched.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { ROOT, killWhenDone, runCli, savepointByStop, sleep, tmp, untilRunning } from './helpers.js'

const JOB = join(ROOT, 'test', 'jobs', 'state-kinds.ts')
const MAX = 128

/** Key groups of subtask i of n (SPEC: subtask = keyGroup * parallelism / maxParallelism), by counting. */
function ranges(n: number): [number, number][] {
  const out: [number, number][] = Array.from({ length: n }, () => [Infinity, -Infinity])
  for (let kg = 0; kg < MAX; kg++) {
    const r = out[Math.floor((kg * n) / MAX)]!
    r[0] = Math.min(r[0], kg)
    r[1] = Math.max(r[1], kg)
  }
  return out
}

interface Plan {
  ok: boolean
  error?: string
  allowNonRestoredState: boolean
  operators: { uid: string; status: string; parallelism: number; maxParallelism: number; from?: { parallelism: number; maxParallelism: number }; subtasks?: { subtask: number; keyGroups: [number, number]; readsKeyedFrom: number[]; lists: Record<string, number> }[]; error?: string }[]
  unclaimed: { uid: string; dropped: boolean }[]
}

const errorLine = (stderr: string): string | undefined => stderr.split('\n').find((l) => l.startsWith('Error: '))

describe('run --dry-run -s', () => {
  const home = tmp()
  const env = { TSFLINK_HOME: home }
  const checkpoints = join(home, 'checkpoints-of-the-new-job')
  let sp = ''
  let snapshotFiles: [string, number][] = []

  before(async () => {
    sp = await savepointByStop(['-p', '2', '-D', 'execution.checkpointing.interval=200ms', JOB, '1000000000', '1000', '50'], env, join(home, 'sp'))
    snapshotFiles = readdirSync(sp).sort().map((f) => [f, statSync(join(sp, f)).mtimeMs])
  })

  /** A dry run with --json; checks that it wrote nothing. */
  async function dryRun(args: string[], variant: string): Promise<{ code: number | null; plan: Plan; stderr: string }> {
    // With checkpointing on, a real run creates its checkpoint directory at once (as Flink does).
    const r = await runCli(['run', '--dry-run', '--json', '-s', sp, ...args, '-D', 'execution.checkpointing.interval=200ms', '-D', `execution.checkpointing.dir=${checkpoints}`, JOB, '1', '1000', '50', variant], { env })
    assert.equal(existsSync(checkpoints), false, 'a dry run creates no checkpoint directory')
    assert.deepEqual(readdirSync(join(home, 'jobs')), [], 'a dry run registers no job')
    assert.deepEqual(readdirSync(sp).sort().map((f) => [f, statSync(join(sp, f)).mtimeMs]), snapshotFiles, 'the savepoint is untouched')
    return { code: r.code, plan: JSON.parse(r.stdout) as Plan, stderr: r.stderr }
  }

  /**
   * The real restore the plan speaks of (into a checkpoint folder of its own): `run -d -s`, which
   * returns once the job was created (a restore that does not map fails there, with the reason);
   * a job that was created must then reach RUNNING (its tasks deployed with the restored state),
   * and is cancelled.
   */
  async function realRun(t: { after: (fn: () => void) => void }, args: string[], variant: string): Promise<{ code: number | null; stderr: string }> {
    const dir = tmp()
    const r = await runCli(['run', '-d', '-s', sp, ...args, '-D', `execution.checkpointing.dir=${dir}`, JOB, '1000000000', '1000', '50', variant], { env })
    if (r.code !== 0) return r
    const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)![1]!
    killWhenDone(t, home, jobId)
    await untilRunning(jobId, env)
    const cancel = await runCli(['cancel', jobId], { env })
    assert.equal(cancel.code, 0, cancel.stderr)
    // The job's process leaves the registry as it exits.
    for (let i = 0; i < 100 && existsSync(join(home, 'jobs', `${jobId}.json`)); i++) await sleep(100)
    return r
  }

  it('rescale 2 → 3: every operator gets its state, key groups move by range, and the real restore succeeds', async (t) => {
    const { code, plan, stderr } = await dryRun(['-p', '3'], 'default')
    assert.equal(code, 0, stderr)
    assert.equal(plan.ok, true)
    assert.deepEqual(plan.unclaimed, [])
    const byUid = new Map(plan.operators.map((o) => [o.uid, o]))
    assert.deepEqual([...byUid.keys()].sort(), ['numbers', 'sink', 'stats'])
    const stats = byUid.get('stats')!
    assert.equal(stats.status, 'restored')
    assert.deepEqual(stats.from, { ...stats.from, parallelism: 2, maxParallelism: MAX })
    const old = ranges(2)
    const now = ranges(3)
    assert.deepEqual(stats.subtasks!.map((s) => s.keyGroups), now)
    // A new subtask reads every old subtask whose key groups overlap its own.
    assert.deepEqual(stats.subtasks!.map((s) => s.readsKeyedFrom), now.map(([a, b]) => old.flatMap(([c, d], i) => (c <= b && a <= d ? [i] : []))))
    // The source's split list (one split per old subtask) is split over the new subtasks: 1, 1, 0.
    const numbers = byUid.get('numbers')!
    assert.equal(numbers.status, 'restored')
    assert.deepEqual(numbers.subtasks!.map((s) => s.lists['source-splits']), [1, 1, 0])
    assert.equal(byUid.get('sink')!.status, 'empty')

    const real = await realRun(t, ['-p', '3'], 'default')
    assert.equal(real.code, 0, real.stderr)
  })

  it('an added operator starts empty; the restore succeeds', async (t) => {
    const { code, plan } = await dryRun([], 'extra')
    assert.equal(code, 0)
    assert.equal(plan.operators.find((o) => o.uid === 'extra')!.status, 'empty')
    const real = await realRun(t, [], 'extra')
    assert.equal(real.code, 0, real.stderr)
  })

  it('a removed uid fails without -n, exactly as the real restore fails', async (t) => {
    const { code, plan, stderr } = await dryRun([], 'no-stats')
    assert.equal(code, 1)
    assert.equal(plan.ok, false)
    assert.deepEqual(plan.unclaimed.map((u) => [u.uid, u.dropped]), [['stats', false]])
    const line = errorLine(stderr)
    assert.match(line ?? '', /^Error: Failed to rollback to checkpoint\/savepoint .*uid 'stats'.* not available in the new program\.$/)
    assert.match(stderr, /^Hint: If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI\.$/m)

    const real = await realRun(t, [], 'no-stats')
    assert.equal(real.code, 1)
    assert.equal(errorLine(real.stderr), line, 'the dry run gives the real restore\'s reason')
  })

  it('a removed uid with -n: its state is dropped, the restore succeeds', async (t) => {
    const { code, plan, stderr } = await dryRun(['-n'], 'no-stats')
    assert.equal(code, 0, stderr)
    assert.equal(plan.ok, true)
    assert.deepEqual(plan.unclaimed.map((u) => [u.uid, u.dropped]), [['stats', true]])
    const real = await realRun(t, ['-n'], 'no-stats')
    assert.equal(real.code, 0, real.stderr)
  })

  it('a changed max parallelism is an error naming it, as in the real restore', async (t) => {
    const { code, plan, stderr } = await dryRun([], 'max64')
    assert.equal(code, 1)
    assert.equal(plan.ok, false)
    const line = errorLine(stderr)
    assert.match(line ?? '', /^Error: The maximum parallelism \(64\) of operator '.+' differs from the maximum parallelism \(128\) its state was written with\./)
    for (const uid of ['numbers', 'stats']) assert.equal(plan.operators.find((o) => o.uid === uid)!.status, 'error', uid)
    const real = await realRun(t, [], 'max64')
    assert.equal(real.code, 1)
    assert.equal(errorLine(real.stderr), line)
  })

  it('the table: one row per operator, and the verdict', async (t) => {
    const r = await runCli(['run', '--dry-run', '-p', '3', '-s', sp, JOB, '1', '1000', '50'], { env })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Restore plan: savepoint \d+ of job [0-9a-f]{32} \(state-kinds\) at /m)
    assert.match(r.stdout, /│ stats +│ [0-9a-f]{32} │ 2 → 3 +│ 128 +│ restored \(keyed state\) +│ subtask 0: key groups 0-42 ← old subtask 0 +│/)
    assert.match(r.stdout, /^The restore would succeed\.$/m)
  })

  it('usage: --dry-run needs -s (exit 2); a savepoint that is not there fails (exit 1); nothing written', async (t) => {
    const noS = await runCli(['run', '--dry-run', JOB, '1', '1000', '50'], { env })
    assert.equal(noS.code, 2)
    assert.match(noS.stderr, /^Error: --dry-run needs -s <savepointPath>/)
    const jar = await runCli(['run', '--dry-run', '-m', '127.0.0.1:1', '-s', sp, 'job.jar'], { env })
    assert.equal(jar.code, 2)
    assert.match(jar.stderr, /^Error: --dry-run plans a restore on the embedded runtime; it cannot go to a job manager \(-m\)$/m)
    const missing = await runCli(['run', '--dry-run', '-s', join(home, 'nope'), '-D', `execution.checkpointing.dir=${checkpoints}`, JOB, '1', '1000', '50'], { env })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^Error: Cannot restore from '.*nope': no _metadata there/)
    assert.equal(existsSync(checkpoints), false)
    assert.ok(readFileSync(join(sp, '_metadata')).length > 0)
  })
})
