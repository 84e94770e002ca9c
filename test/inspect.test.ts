/**
 * `tsflink savepoint inspect` and `savepoint diff` through the real CLI (bin/run.js) against real
 * savepoints of test/jobs/state-kinds.ts (50 keys, one state of each keyed kind), and against
 * Apache Flink's own savepoints (fixtures written by Flink 2.2, whose expected.json is Flink's
 * own dump). Oracles from first principles: the job's keys (n mod 50, every key seen once 50
 * records went through), operator ids md5('uid:' + uid), key groups of the SPEC, the files and
 * sizes on disk. Also: `savepoint <jobId>` and `savepoint -d` still resolve as before.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { ROOT, runCli, savepointByStop, sleep, tmp, untilRunning } from './helpers.js'

const JOB = join(ROOT, 'test', 'jobs', 'state-kinds.ts')
const KEYS = 50
const md5 = (s: string): string => createHash('md5').update(s).digest('hex')

interface State { name: string; kind: string; scope: string; keys?: number; elements?: number; bytes: number }
interface Operator { operatorId: string; uid: string | null; name: string | null; parallelism: number; maxParallelism: number; states: State[]; files: { path: string; size: number }[] }
interface Report {
  path: string; format: string; formatVersion: number; jobId: string | null; jobName: string | null; checkpointId: number
  kind: { type: string; incremental: boolean | null; format: string | null }; operators: Operator[]; files: { path: string; size: number }[]; totalBytes: number
}

/** Runs the job detached at parallelism p, waits until every key has had records, stops it with a savepoint. */
async function savepointOf(home: string, p: number, variant: string, restoreFrom?: string): Promise<string> {
  // 1000 records/s: after 0.5 s every one of the 50 keys has had records.
  const args = ['-p', String(p), ...(restoreFrom === undefined ? [] : ['-s', restoreFrom]), '-D', 'execution.checkpointing.interval=200ms', JOB, '1000000000', '1000', String(KEYS), variant]
  return savepointByStop(args, { TSFLINK_HOME: home }, join(home, 'sp'), 500)
}

async function inspectJson(home: string, path: string): Promise<Report> {
  const r = await runCli(['savepoint', 'inspect', path, '--json'], { env: { TSFLINK_HOME: home } })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Report
}

describe('savepoint inspect and diff', () => {
  const home = tmp()
  let sp1 = ''
  let sp2 = ''
  before(async () => {
    sp1 = await savepointOf(home, 2, 'default')
    // The same job restored at parallelism 3 with an operator added (uid 'extra', keys n mod 3).
    sp2 = await savepointOf(home, 3, 'extra', sp1)
  })

  it('inspect --json: job, kind, every operator with its hashed id, parallelism, states, exact key counts and files', async () => {
    const r = await inspectJson(home, sp1)
    const meta = JSON.parse(readFileSync(join(sp1, '_metadata'), 'utf8')) as { version: number; body: { jobId: string; checkpointId: number } }
    assert.equal(r.format, 'tsflink')
    assert.equal(r.formatVersion, meta.version)
    assert.equal(r.jobId, meta.body.jobId)
    assert.equal(r.jobName, 'state-kinds')
    assert.equal(r.checkpointId, meta.body.checkpointId)
    assert.deepEqual(r.kind, { type: 'savepoint', incremental: false, format: 'canonical' })
    assert.deepEqual(r.operators.map((o) => o.uid).sort(), ['numbers', 'sink', 'stats'])
    for (const o of r.operators) {
      assert.equal(o.operatorId, md5(`uid:${o.uid!}`), `operator id of ${o.uid}`)
      assert.equal(o.parallelism, 2)
      assert.equal(o.maxParallelism, 128)
    }
    const stats = r.operators.find((o) => o.uid === 'stats')!
    assert.equal(stats.name, 'Stats per key')
    assert.deepEqual(stats.states.map((s) => [s.name, s.kind, s.scope, s.keys]), [
      ['count', 'value/reducing', 'keyed', KEYS],
      ['recent', 'list', 'keyed', KEYS],
      ['seen', 'map', 'keyed', KEYS],
      ['sum', 'value/reducing', 'keyed', KEYS],
    ])
    for (const s of stats.states) assert.ok(s.bytes > 0, `bytes of ${s.name}`)
    // The source's operator list state: one split per old subtask.
    const numbers = r.operators.find((o) => o.uid === 'numbers')!
    assert.deepEqual(numbers.states.map((s) => [s.kind, s.elements]), [['operator list', 2]])
    assert.deepEqual(r.operators.find((o) => o.uid === 'sink')!.states, [])
    // Files: exactly what is on disk (besides _metadata), each with its size; each operator's are among them.
    const onDisk = (p: string): number => statSync(join(sp1, p)).size
    for (const f of r.files) assert.equal(f.size, onDisk(f.path), f.path)
    assert.equal(r.totalBytes, r.files.reduce((n, f) => n + f.size, 0))
    const all = new Set(r.files.map((f) => f.path))
    for (const o of r.operators) for (const f of o.files) assert.ok(all.has(f.path), f.path)
    assert.equal(stats.files.length, 2, 'one keyed file per subtask')
    assert.equal(numbers.files.length, 2, 'one operator state file per subtask')
  })

  it('inspect prints a table with the same facts; the _metadata file and a file: URI name the same savepoint', async () => {
    const r = await runCli(['savepoint', 'inspect', join(sp1, '_metadata')], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Path: +${sp1}$`, 'm'))
    assert.match(r.stdout, /^Kind: +savepoint \(canonical\)$/m)
    assert.match(r.stdout, /^Format: +tsflink _metadata version 2$/m)
    assert.match(r.stdout, new RegExp(`│ stats +│ ${md5('uid:stats')} │ Stats per key +│ 2 +│ 128 +│ count +│ value/reducing +│ ${KEYS} keys +│`))
    assert.match(r.stdout, new RegExp(`│ +│ +│ +│ +│ +│ seen +│ map +│ ${KEYS} keys +│`))
    const uri = await inspectJson(home, `file://${sp1}`)
    assert.equal(uri.path, sp1)
  })

  it('diff: parallelism 2 → 3 for every operator, the added operator with its state, key counts unchanged', async () => {
    const r = await runCli(['savepoint', 'diff', sp1, sp2, '--json'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const d = JSON.parse(r.stdout) as { changed: boolean; operators: { key: string; change: string; parallelism?: { before: number; after: number }; maxParallelism?: unknown; renamed: boolean; states: { name: string; change: string; keysBefore?: number; keysAfter?: number }[] }[] }
    assert.equal(d.changed, true)
    assert.deepEqual(d.operators.map((o) => [o.key, o.change]), [['extra', 'added'], ['numbers', 'changed'], ['sink', 'changed'], ['stats', 'changed']])
    for (const o of d.operators.filter((x) => x.change === 'changed')) {
      assert.deepEqual(o.parallelism, { before: 2, after: 3 }, o.key)
      assert.equal(o.maxParallelism, undefined, o.key)
      assert.equal(o.renamed, false)
    }
    // Keys n mod 3: exactly 3 keys in the new operator's state.
    assert.deepEqual(d.operators[0]!.states.map((s) => [s.name, s.change, s.keysAfter]), [['seen-extra', 'added', 3]])
    for (const s of d.operators.find((o) => o.key === 'stats')!.states) {
      assert.equal(s.keysBefore, KEYS, s.name)
      assert.equal(s.keysAfter, KEYS, s.name)
    }
    const text = await runCli(['savepoint', 'diff', sp1, sp2], { env: { TSFLINK_HOME: home } })
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /│ extra +│ added +│ state 'seen-extra' added \(value\/reducing, 3 keys\) +│/)
    assert.match(text.stdout, /│ stats +│ changed +│ parallelism 2 → 3 +│/)
    // A savepoint compared with itself: nothing changed, still exit 0.
    const same = await runCli(['savepoint', 'diff', sp1, sp1, '--json'], { env: { TSFLINK_HOME: home } })
    assert.equal(same.code, 0, same.stderr)
    const sd = JSON.parse(same.stdout) as { changed: boolean; operators: { change: string }[] }
    assert.equal(sd.changed, false)
    assert.ok(sd.operators.every((o) => o.change === 'same'))
  })

  it('diff: a removed operator and a removed state, from the restored job back to the first', async () => {
    const r = await runCli(['savepoint', 'diff', sp2, sp1, '--json'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const d = JSON.parse(r.stdout) as { operators: { key: string; change: string; states: { name: string; change: string; keysBefore?: number }[] }[] }
    const extra = d.operators.find((o) => o.key === 'extra')!
    assert.equal(extra.change, 'removed')
    assert.deepEqual(extra.states.map((s) => [s.name, s.change, s.keysBefore]), [['seen-extra', 'removed', 3]])
  })

  it('bad input: one line on stderr, exit 1 for what cannot be read, 2 for a usage error; nothing is touched', async () => {
    const env = { TSFLINK_HOME: home }
    const before = readFileSync(join(sp1, '_metadata'))
    const missing = await runCli(['savepoint', 'inspect', join(home, 'nope')], { env })
    assert.equal(missing.code, 1)
    assert.equal(missing.stdout, '')
    assert.match(missing.stderr, /^Error: '.*nope' holds no _metadata \(not a completed checkpoint or savepoint\)\n$/)
    const noArg = await runCli(['savepoint', 'inspect'], { env })
    assert.equal(noArg.code, 2)
    assert.match(noArg.stderr, /^Error: Missing the path of a savepoint or checkpoint/)
    const oneArg = await runCli(['savepoint', 'diff', sp1], { env })
    assert.equal(oneArg.code, 2)
    const diffMissing = await runCli(['savepoint', 'diff', sp1, join(home, 'nope'), '--json'], { env })
    assert.equal(diffMissing.code, 1)
    assert.match(diffMissing.stdout, /^\{"error":\{"message":"'.*nope' holds no _metadata/)
    assert.deepEqual(readFileSync(join(sp1, '_metadata')), before)
  })

  it('savepoint <jobId> and savepoint -d still resolve to the savepoint command', async () => {
    const env = { TSFLINK_HOME: home }
    const trigger = await runCli(['savepoint', '0123456789abcdef0123456789abcdef'], { env })
    assert.equal(trigger.code, 1)
    assert.match(trigger.stderr, /^Error: No running job with JobID 0123456789abcdef0123456789abcdef was found$/m)
    const dispose = await runCli(['savepoint', '-d', join(home, 'nope')], { env })
    assert.equal(dispose.code, 1)
    assert.match(dispose.stderr, /^Error: Cannot dispose '.*nope': no such savepoint$/m)
    const help = await runCli(['savepoint', 'inspect', '-h'], { env })
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^Action "savepoint inspect": /m)
    const root = await runCli(['--help'], { env })
    assert.match(root.stdout, /^Action "savepoint diff": /m)
  })
})

describe('savepoint inspect on a retained incremental checkpoint of the rocksdb backend', () => {
  it('counts each key once across the incremental tables (newer entries replace older ones)', async () => {
    const home = tmp()
    const checkpoints = join(home, 'chk')
    const env = { TSFLINK_HOME: home }
    const r = await runCli(['run', '-d', '-p', '2', '-D', 'execution.checkpointing.interval=150ms', '-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true',
      '-D', 'execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION', '-D', `execution.checkpointing.dir=${checkpoints}`,
      JOB, '1000000000', '1000', String(KEYS)], { env })
    assert.equal(r.code, 0, r.stderr)
    const jobId = /^Job has been submitted with JobID ([0-9a-f]{32})$/m.exec(r.stdout)![1]!
    await untilRunning(jobId, env)
    // Several incremental checkpoints, each writing every key again (1000 records/s over 50 keys).
    await sleep(1500)
    const cancel = await runCli(['cancel', jobId], { env })
    assert.equal(cancel.code, 0, cancel.stderr)
    const list = await runCli(['checkpoints', 'list', '--dir', join(checkpoints, jobId), '--json'], { env })
    const latest = (JSON.parse(list.stdout) as { path: string; checkpointId: number; status: string }[]).filter((c) => c.status !== 'incomplete').sort((a, b) => b.checkpointId - a.checkpointId)[0]!
    const report = await inspectJson(home, latest.path)
    assert.deepEqual(report.kind, { type: 'checkpoint', incremental: true, format: 'native' })
    const stats = report.operators.find((o) => o.uid === 'stats')!
    assert.ok(stats.files.some((f) => f.path.startsWith('../shared/')), 'tables shared between incremental checkpoints')
    assert.ok(stats.files.length > 2, `more than one table per subtask: ${stats.files.length}`)
    assert.deepEqual(stats.states.map((s) => [s.name, s.kind, s.keys]), [['count', 'value/reducing', KEYS], ['recent', 'list', KEYS], ['seen', 'map', KEYS], ['sum', 'value/reducing', KEYS]])
  })
})

describe('savepoint inspect on Apache Flink savepoints', () => {
  for (const fixture of ['flink-2.2.1/hashmap/canonical', 'flink-1.20.3/hashmap/canonical']) {
    it(`${fixture}: operators, parallelism and files as Flink's own dump says`, async () => {
      const dir = join(ROOT, 'test', 'fixtures', fixture)
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as {
        flinkDump: { checkpointId: number; operators: { id: string; parallelism: number; maxParallelism: number }[]; files: { path: string; size: number }[] }
      }
      const r = await inspectJson(tmp(), dir)
      assert.equal(r.format, 'flink')
      assert.equal(r.checkpointId, expected.flinkDump.checkpointId)
      assert.equal(r.kind.type, 'savepoint')
      assert.deepEqual(r.operators.map((o) => [o.operatorId, o.parallelism, o.maxParallelism]).sort(),
        expected.flinkDump.operators.map((o) => [o.id, o.parallelism, o.maxParallelism]).sort())
      assert.deepEqual(r.files.map((f) => [f.path, f.size]), expected.flinkDump.files.map((f) => [f.path, f.size]))
    })
  }
})
