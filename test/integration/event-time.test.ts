/**
 * Event time through the real CLI (test/jobs/event-time.ts: two sources unioned, keyed, counted in
 * tumbling windows that event-time timers close): watermarks from bounded out-of-orderness, the
 * minimum over inputs and channels, an ended input releasing the watermark, the final watermark
 * firing every timer at the end of input; timers restored from a checkpoint after kill -9 (at
 * another parallelism and backend) and from a stop savepoint; `stop --drain`. Expected windows
 * are counted here from the records' timestamps (first principles), never by running tsflink.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, committedLines, runCli, sleep, startCli, tmp, untilRunning } from '../helpers.js'

const JOB = join(ROOT, 'test', 'jobs', 'event-time.ts')
const KEYS = 4
const WINDOW = 1000
const OOO = 50

/** The job's timestamps (see event-time.ts). */
const tsOf = (src: 'a' | 'b', i: number): number => (src === 'a' ? 10 * i + ((i * 7919) % OOO) : i)

interface Output {
  recs: string[]
  /** `key start` → counts of every window line for it, with how it fired. */
  windows: Map<string, { count: number; how: string }[]>
  late: string[]
}

function parse(lines: string[]): Output {
  const o: Output = { recs: [], windows: new Map(), late: [] }
  for (const l of lines) {
    const p = l.split(' ')
    if (p[0] === 'rec') o.recs.push(`${p[1]} ${p[2]}`)
    else if (p[0] === 'late') o.late.push(l)
    else if (p[0] === 'win') {
      const k = `${p[1]} ${p[2]}`
      const list = o.windows.get(k) ?? []
      list.push({ count: Number(p[3]), how: p[4]! })
      o.windows.set(k, list)
    } else assert.fail(`unexpected line '${l}'`)
  }
  return o
}

/** Window counts of the given records, per `key start`. */
function windowsOf(recs: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>()
  for (const r of recs) {
    const [src, n] = r.split(' ') as ['a' | 'b', string]
    const i = Number(n)
    const ts = tsOf(src, i)
    const k = `${i % KEYS} ${ts - (ts % WINDOW)}`
    m.set(k, (m.get(k) ?? 0) + 1)
  }
  return m
}

function allRecs(fast: number, slow: number): string[] {
  return [...Array.from({ length: fast }, (_, i) => `a ${i}`), ...Array.from({ length: slow }, (_, i) => `b ${i}`)]
}

/** Every record exactly once, every window exactly once with its exact count, nothing late. */
function assertExact(o: Output, fast: number, slow: number): void {
  assert.deepEqual(o.late, [], 'no record is behind the watermark')
  const expected = allRecs(fast, slow)
  assert.equal(o.recs.length, expected.length, 'one line per record')
  assert.deepEqual([...new Set(o.recs)].sort(), expected.sort(), 'every record exactly once')
  const want = windowsOf(expected)
  const got = new Map([...o.windows].map(([k, l]) => [k, l.map((w) => w.count)]))
  assert.deepEqual(new Map([...got].sort()), new Map([...want].map(([k, c]) => [k, [c]] as const).sort()), 'each window fires once, with its exact count')
}

function args(out: string, o: { fast: number; rate: number | 'Infinity'; slow: number; watermarks?: 'bounded' | 'none' }): string[] {
  return [JOB, `out=${out}`, `fast=${o.fast}`, `rate=${o.rate}`, `keys=${KEYS}`, `window=${WINDOW}`, `ooo=${OOO}`, `slow=${o.slow}`, `watermarks=${o.watermarks ?? 'bounded'}`]
}

describe('event time through jobs', () => {
  it('bounded out-of-orderness: no record late, exact windows; the watermark is the minimum over inputs and channels and an ended input releases it; the final watermark fires the rest', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const fast = 12_000
    const slow = 300
    // 'fast' (2 subtasks, 2 s at 6000/s) and 'slow' (1 subtask, done after ~50 ms) feed both keyed subtasks: 3 channels each.
    const r = await runCli(['run', '-p', '2', ...args(out, { fast, rate: 6000, slow })], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const o = parse(committedLines(out))
    assertExact(o, fast, slow)
    // Each fast split j (records i ≡ j mod 2) ends with the watermark maxTs_j − ooo − 1, then the final one.
    const last = [0, 1].map((j) => Math.max(...Array.from({ length: fast / 2 }, (_, n) => tsOf('a', 2 * n + j))) - OOO - 1)
    const low = Math.min(...last)
    const high = Math.max(...last)
    let live = 0
    for (const [k, [w]] of o.windows) {
      const end = Number(k.split(' ')[1]) + WINDOW - 1
      // The slow input ended long before: windows up to the last regular watermark of both fast splits close on it.
      if (end <= low) assert.equal(w!.how, 'live', `window ${k} (end ${end} ≤ ${low}) fires on a regular watermark`)
      if (end > high) assert.equal(w!.how, 'end', `window ${k} (end ${end} > ${high}) fires only on the final watermark`)
      if (w!.how === 'live') live++
    }
    assert.ok(live > 0 && live < o.windows.size, `${live} of ${o.windows.size} windows closed before the end of input`)
  })

  it('without watermarks every event-time timer fires at the end of input, with exact counts', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const r = await runCli(['run', '-p', '1', ...args(out, { fast: 3000, rate: 'Infinity', slow: 200, watermarks: 'none' })], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const o = parse(committedLines(out))
    assertExact(o, 3000, 200)
    assert.ok([...o.windows.values()].every(([w]) => w!.how === 'end'), 'every window fired on the final watermark')
  })

  it('timers are restored from a retained checkpoint after kill -9, at another parallelism and backend', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const cp = join(home, 'cp')
    const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`]
    const fast = 60_000
    const slow = 500
    const job = startCli(['run', '-p', '2', ...conf, ...args(out, { fast, rate: 5000, slow })], { env: { TSFLINK_HOME: home } })
    const jobId = await job.jobId
    assert.ok(jobId !== undefined, job.stderr)
    const completed = (): number => (existsSync(join(cp, jobId)) ? readdirSync(join(cp, jobId)).filter((n) => existsSync(join(cp, jobId, n, '_metadata'))).length : 0)
    for (let i = 0; i < 400 && completed() === 0; i++) await sleep(10)
    await sleep(700)
    job.child.kill('SIGKILL')
    assert.equal((await job.exited).signal, 'SIGKILL', 'killed while running')
    const before = parse(committedLines(out))
    assert.ok(before.windows.size > 0 && before.recs.length < fast + slow, 'killed after some windows were committed, before the end')
    const r = await runCli(['checkpoints', 'restore', '-p', '3', '-D', 'state.backend.type=rocksdb', ...conf, jobId, ...args(out, { fast, rate: 'Infinity', slow })], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assertExact(parse(committedLines(out)), fast, slow)
  })

  // Restored at parallelism 1, one source subtask reads both splits of 'fast' one after the other.
  // Flink keeps a watermark per split and emits their minimum (FLIP-27 source readers); tsflink's
  // source operator has one watermark generator per subtask, so the second split's records arrive
  // behind the watermark of the first. Known defect (src/runtime/task/source-operator.ts): reported, not fixed here.
  for (const p of [3, 1]) {
    it(`stop takes a savepoint with the pending timers; run -s -p ${p} fires them: every window once, exact`, async () => {
      const home = tmp()
      const out = join(home, 'out')
      const sp = join(home, 'savepoints')
      const env = { TSFLINK_HOME: home }
      const conf = ['-D', 'execution.checkpointing.interval=200ms', '-D', `execution.checkpointing.dir=${join(home, 'cp')}`]
      const fast = 60_000
      const slow = 500
      const job = startCli(['run', '-p', '2', ...conf, ...args(out, { fast, rate: 5000, slow })], { env })
      const jobId = await job.jobId
      assert.ok(jobId !== undefined, job.stderr)
      await untilRunning(jobId, env)
      await sleep(1200)
      const stop = await runCli(['stop', '--savepointPath', sp, jobId], { env })
      assert.equal(stop.code, 0, `${stop.stderr}\njob: ${job.stdout}\n${job.stderr}`)
      const path = /Savepoint completed\. Path: (.*)$/m.exec(stop.stdout)?.[1]
      assert.ok(path !== undefined, stop.stdout)
      const end = await job.exited
      assert.equal(end.code, 0, job.stderr)
      assert.match(job.stdout, /Job with JobID [0-9a-f]{32} has finished\./)
      const stopped = parse(committedLines(out))
      assert.ok(stopped.recs.length > 0 && stopped.recs.length < fast + slow, `stopped midway (${stopped.recs.length} records committed)`)
      const pending = [...windowsOf(stopped.recs).keys()].filter((k) => !stopped.windows.has(k))
      assert.ok(pending.length > 0, 'some windows were still open at the stop: their timers are in the savepoint')
      const r = await runCli(['run', '-p', String(p), '-s', path, ...conf, ...args(out, { fast, rate: 'Infinity', slow })], { env })
      assert.equal(r.code, 0, r.stderr)
      const all = parse(committedLines(out))
      assertExact(all, fast, slow)
      // At -p 3 one source subtask of 'fast' has no split (and 'slow' has ended): neither holds the watermark back.
      const restored = [...all.windows].filter(([k]) => !stopped.windows.has(k))
      assert.ok(restored.some(([, [w]]) => w!.how === 'live'), 'windows close on regular watermarks after the restore')
    })
  }

  it('stop --drain: the final watermark fires every timer, the sink commits, the job finishes; the savepoint restores', async () => {
    const home = tmp()
    const out = join(home, 'out')
    const sp = join(home, 'savepoints')
    const env = { TSFLINK_HOME: home }
    const conf = ['-D', 'execution.checkpointing.interval=200ms', '-D', `execution.checkpointing.dir=${join(home, 'cp')}`]
    const fast = 60_000
    const slow = 500
    const job = startCli(['run', '-p', '2', ...conf, ...args(out, { fast, rate: 5000, slow })], { env })
    const jobId = await job.jobId
    assert.ok(jobId !== undefined, job.stderr)
    await untilRunning(jobId, env)
    await sleep(1200)
    const stop = await runCli(['stop', '--drain', '--savepointPath', sp, jobId], { env })
    assert.equal(stop.code, 0, `${stop.stderr}\njob: ${job.stdout}\n${job.stderr}`)
    const path = /Savepoint completed\. Path: (.*)$/m.exec(stop.stdout)?.[1]
    assert.ok(path !== undefined, stop.stdout)
    const end = await job.exited
    assert.equal(end.code, 0, job.stderr)
    assert.match(job.stdout, /Job with JobID [0-9a-f]{32} has finished\./)
    const drained = parse(committedLines(out))
    assert.deepEqual(drained.late, [])
    assert.ok(drained.recs.length > 0 && drained.recs.length < fast + slow, `stopped midway (${drained.recs.length} records committed)`)
    assert.equal(new Set(drained.recs).size, drained.recs.length, 'no record twice')
    // Every committed record's window fired, exactly once, with the count of those records.
    const want = windowsOf(drained.recs)
    assert.deepEqual(new Map([...drained.windows].map(([k, l]) => [k, l.map((w) => w.count)] as const).sort()), new Map([...want].map(([k, c]) => [k, [c]] as const).sort()))
    assert.ok([...drained.windows.values()].some(([w]) => w!.how === 'end'), 'the drain fired the open windows')
    const r = await runCli(['run', '-p', '3', '-s', path, ...conf, ...args(out, { fast, rate: 'Infinity', slow })], { env })
    assert.equal(r.code, 0, r.stderr)
    const all = parse(committedLines(out))
    assert.deepEqual(all.late, [])
    const expected = allRecs(fast, slow)
    assert.equal(all.recs.length, expected.length, 'one line per record')
    assert.deepEqual([...new Set(all.recs)].sort(), expected.sort(), 'every record exactly once across the drain and the restore')
    // A window open at the drain fired then with what it had, and again after the restore with the rest.
    const sums = new Map([...all.windows].map(([k, l]) => [k, l.reduce((s, w) => s + w.count, 0)] as const))
    assert.deepEqual(new Map([...sums].sort()), new Map([...windowsOf(expected)].sort()))
  })
})
