/**
 * Chaos, as users meet failures (in the spirit of flink-jepsen and bytewax's recovery tests): a
 * keyed job with the exactly-once file sink (test/jobs/chaos-counter.ts: a replayable generator,
 * a running count and sum per key that is cleared every RESET records, an event-time timer per key
 * for its total at the end) runs through the real CLI and is killed with `kill -9` again and again:
 * - at random moments (also while it starts and restores);
 * - while a checkpoint is being persisted: a `chk-<n>` folder newer than the last completed one
 *   exists without `_metadata` (the state is big enough that this window lasts tens of ms; no
 *   fault-injection hook);
 * - right after a checkpoint completed, before or while the sink commits its pending files;
 * - with `tsflink checkpoints prune --keep 1` on the same root: either while prune holds its lock
 *   (sometimes prune is killed too), or after three prunes ran beside the job and it completed a
 *   checkpoint after them (what prune deleted must not be what the running job needs).
 * Each time it is resumed from the latest retained checkpoint with `tsflink checkpoints restore
 * <jobId | path>` or `tsflink run -s <path>`, at another parallelism (1, 2, 3) and mostly another
 * state backend (hashmap, rocksdb, incremental or not). At the end it runs to the end of its
 * bounded input (without the rate limit, which is no part of the state), and the committed output
 * (`part-*` files) must be exactly what a failure-free run produces, computed here from first
 * principles: every record once, every running count and sum right, every key's final total
 * right. 0 lost, 0 duplicated.
 *
 * After every kill it also checks: the committed output so far has no duplicate and no unexpected
 * line; the newest checkpoint seen completed is still there (or a newer one); `checkpoints
 * restore` named the latest checkpoint. A failure prints the seed and what every round did.
 *
 * Knobs: TSFLINK_CHAOS_KILLS (default 10; `npm run chaos` uses 20), TSFLINK_CHAOS_SEED (replays
 * the same plan: kinds of kill, delays, parallelism, backends, resume commands; the moments
 * themselves depend on timing).
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, committedLines, seededRandom, sleep, startCli, tmp, type CliProcess } from '../helpers.js'

const SEED = process.env.TSFLINK_CHAOS_SEED !== undefined ? Number(process.env.TSFLINK_CHAOS_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32)
const KILLS = Number(process.env.TSFLINK_CHAOS_KILLS ?? 10)
const JOB = join(ROOT, 'test', 'jobs', 'chaos-counter.ts')
/** Records per second, across all source subtasks. */
const RATE = 15_000
/** A multiple of 6, so every key's records come from one generator split at any first parallelism. */
const KEYS = 30_000
/** Bytes of padding in each key's state: ~6 MB of state, so persisting takes tens of ms. */
const PAD = 150
/**
 * Enough input that the job does not reach its end before the last kill: a round moves it about a
 * second on average (at most ~5 s); if it ever ends early the test says so rather than pass.
 */
const RECORDS = RATE * (KILLS * 2 + 4)
/** Every key's state is cleared when its count reaches this: deleted state must stay deleted. */
const RESET = 5
const LOCK = '.tsflink-prune.lock'

type Resume = 'run-s' | 'restore-jobid' | 'restore-path'
type KillKind = 'random' | 'persist' | 'commit' | 'prune'

interface Latest {
  jobId: string
  id: number
  path: string
}

/**
 * What a failure-free run writes (first principles): record i is the n-th record (n = i div K,
 * from 0) of key i mod K; the key's state was last cleared after its record RESET·⌊n/RESET⌋ − 1, so
 * its running count is n mod RESET + 1 and its sum adds key + t·K over those records t. Each
 * key's total at the end covers the records after its last reset (`0 0` if it was just cleared).
 */
function expectedLines(records: number, keys: number, reset: number): Set<string> {
  const sumOf = (key: number, from: number, to: number): number => (to - from + 1) * key + (keys * (from + to) * (to - from + 1)) / 2
  const lines = new Set<string>()
  for (let i = 0; i < records; i++) {
    const key = i % keys
    const n = Math.floor(i / keys)
    const from = n - (n % reset)
    lines.add(`${i} ${key} ${n - from + 1} ${sumOf(key, from, n)}`)
  }
  for (let key = 0; key < Math.min(keys, records); key++) {
    const m = Math.floor((records - 1 - key) / keys) + 1
    const c = m % reset
    lines.add(c === 0 ? `${key} total 0 0` : `${key} total ${c} ${sumOf(key, m - c, m - 1)}`)
  }
  return lines
}

/** Completed (has `_metadata`) and started checkpoint ids of one job folder. */
function checkpointsOf(cp: string, jobId: string): { completed: number[]; started: number[] } {
  const dir = join(cp, jobId)
  const completed: number[] = []
  const started: number[] = []
  let names: string[] = []
  try {
    names = readdirSync(dir)
  } catch {
    return { completed, started }
  }
  for (const n of names) {
    const m = /^chk-(\d+)$/.exec(n)
    if (m === null) continue
    started.push(Number(m[1]))
    if (existsSync(join(dir, n, '_metadata'))) completed.push(Number(m[1]))
  }
  return { completed: completed.sort((a, b) => a - b), started: started.sort((a, b) => a - b) }
}

/** The checkpoint to resume from: the newest completed one of the most recent run that has one. */
function latestCheckpoint(cp: string, runs: string[]): Latest | undefined {
  for (let i = runs.length - 1; i >= 0; i--) {
    const jobId = runs[i]!
    const id = checkpointsOf(cp, jobId).completed.at(-1)
    if (id !== undefined) return { jobId, id, path: join(cp, jobId, `chk-${id}`) }
  }
  return undefined
}

/** Committed lines so far; none before the sink created its folder. */
function committedSoFar(out: string): string[] {
  return existsSync(out) ? committedLines(out) : []
}

function tail(s: string, n = 1500): string {
  return s.length <= n ? s : `…${s.slice(-n)}`
}


interface Kill {
  note: string
  /** The kill hit a checkpoint whose folder existed without `_metadata`, and it stayed so. */
  duringPersist: boolean
  /** Hidden pending files of the sink left by a kill right after a checkpoint completed. */
  pending: string[]
  /** The kill hit while prune held its lock. */
  duringPrune: boolean
  /** Prunes run on the root during the round. */
  prunes: CliProcess[]
  /** The last prune was killed with the job. */
  pruneKilled: boolean
}

/** Waits for the moment of `kind`, then kills the job with SIGKILL. */
async function killAt(kind: KillKind, proc: CliProcess, cp: string, out: string, rnd: () => number, env: NodeJS.ProcessEnv): Promise<Kill> {
  const kill: Kill = { note: '', duringPersist: false, pending: [], duringPrune: false, prunes: [], pruneKilled: false }
  const exited = proc.exited.then(() => 'exited' as const)
  if (kind === 'random') {
    // Anywhere from start-up and restore to running.
    const delay = Math.floor(rnd() * 3000)
    if ((await Promise.race([sleep(delay).then(() => 'time' as const), exited])) === 'exited') return { ...kill, note: 'never: it exited first' }
    proc.child.kill('SIGKILL')
    return { ...kill, note: `at random, ${delay} ms after start` }
  }
  const id = await proc.jobId
  if (id === undefined) return { ...kill, note: 'never: it exited before it was submitted' }
  if (kind === 'persist') {
    // A newer checkpoint's folder exists without `_metadata`: its state is being persisted.
    const wantCompleted = Math.floor(rnd() * 3)
    const seenCompleted = new Set<number>()
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline) {
      const { completed, started } = checkpointsOf(cp, id)
      for (const n of completed) seenCompleted.add(n)
      const inProgress = started.filter((n) => n > (completed.at(-1) ?? -1))
      if (seenCompleted.size >= wantCompleted && inProgress.length > 0) {
        proc.child.kill('SIGKILL')
        await proc.exited
        const open = inProgress.filter((n) => !existsSync(join(cp, id, `chk-${n}`, '_metadata')))
        return open.length > 0
          ? { ...kill, duringPersist: true, note: `while chk-${open.join(',')} was being persisted (${seenCompleted.size} completed before)` }
          : { ...kill, note: `just as chk-${inProgress.join(',')} completed` }
      }
      if ((await Promise.race([sleep(1).then(() => 'tick' as const), exited])) === 'exited') return { ...kill, note: 'never: it exited first' }
    }
    proc.child.kill('SIGKILL')
    return { ...kill, note: 'after 5 s without catching a checkpoint in progress' }
  }
  if (kind === 'commit') {
    // A new `_metadata` just appeared: the sink is about to commit (or committing) its pending files.
    const wantCompleted = 1 + Math.floor(rnd() * 3)
    const seenCompleted = new Set<number>(checkpointsOf(cp, id).completed)
    const before = seenCompleted.size
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline) {
      const { completed } = checkpointsOf(cp, id)
      for (const n of completed) seenCompleted.add(n)
      if (seenCompleted.size - before >= wantCompleted) {
        proc.child.kill('SIGKILL')
        await proc.exited
        const pending = existsSync(out) ? readdirSync(out).filter((n) => n.startsWith(`.part-${id.slice(0, 8)}-`) && n.endsWith('.pending')) : []
        return { ...kill, pending, note: `right after chk-${completed.at(-1)} completed (${pending.length} pending files left)` }
      }
      if ((await Promise.race([sleep(1).then(() => 'tick' as const), exited])) === 'exited') return { ...kill, note: 'never: it exited first' }
    }
    proc.child.kill('SIGKILL')
    return { ...kill, note: 'after 5 s without seeing a checkpoint complete' }
  }
  // Prune on the same root while the job runs.
  await sleep(200 + Math.floor(rnd() * 1200))
  if (rnd() < 0.5) {
    // Prune runs to its end, three times, while the job keeps running; the job must go on
    // checkpointing and committing after it. Killed once a checkpoint completed after the prunes.
    const prunes: CliProcess[] = []
    for (let n = 0; n < 3; n++) {
      const p = startCli(['checkpoints', 'prune', '--dir', cp, '--keep', '1', '--json'], { env })
      prunes.push(p)
      if ((await p.exited).code !== 0) break
    }
    const before = checkpointsOf(cp, id).completed.at(-1) ?? -1
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline && (checkpointsOf(cp, id).completed.at(-1) ?? -1) <= before) {
      if ((await Promise.race([sleep(2).then(() => 'tick' as const), exited])) === 'exited') return { ...kill, prunes, note: 'never: it exited after the prunes' }
    }
    proc.child.kill('SIGKILL')
    const after = checkpointsOf(cp, id).completed.at(-1) ?? -1
    return { ...kill, prunes, note: after > before ? `after 3 prunes beside it, once chk-${after} completed after them` : 'after 3 prunes beside it (no checkpoint completed after them within 5 s)' }
  }
  // The job is killed while prune holds its lock (deleting), sometimes prune too.
  const alsoPrune = rnd() < 0.4
  const prune = startCli(['checkpoints', 'prune', '--dir', cp, '--keep', '1', '--json'], { env })
  const pruneEnded = prune.exited.then(() => 'ended' as const)
  for (;;) {
    if (existsSync(join(cp, LOCK))) {
      proc.child.kill('SIGKILL')
      if (alsoPrune) prune.child.kill('SIGKILL')
      return { ...kill, prunes: [prune], pruneKilled: alsoPrune, duringPrune: true, note: `while prune held its lock${alsoPrune ? ', prune killed too' : ''}` }
    }
    if ((await Promise.race([sleep(1).then(() => 'tick' as const), pruneEnded])) === 'ended') {
      proc.child.kill('SIGKILL')
      return { ...kill, prunes: [prune], note: 'right after prune ended (its lock was never seen)' }
    }
  }
}

describe('chaos: kill -9 at random moments, resume, compare with a failure-free run', () => {
  it(`${KILLS} kills (seed ${SEED}): the committed output is exact, 0 lost, 0 duplicated`, { timeout: 15 * 60_000 }, async () => {
    process.stderr.write(`chaos seed: ${SEED} (replay: TSFLINK_CHAOS_SEED=${SEED} npm run chaos)\n`)
    const startedAt = Date.now()
    const rnd = seededRandom(SEED)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
    const home = tmp('tsflink-chaos-')
    const cp = join(home, 'cp')
    const out = join(home, 'out')
    const env = { TSFLINK_HOME: home }
    const expected = expectedLines(RECORDS, KEYS, RESET)
    const log: string[] = []
    const fail = (msg: string): never => assert.fail(`${msg}\nseed ${SEED} (replay: TSFLINK_CHAOS_SEED=${SEED} npm run chaos)\n${log.join('\n')}`)

    // The plan: a quarter of the kills of each kind, in an order the seed shuffles.
    const kinds = Array.from({ length: KILLS }, (_, i): KillKind => (['persist', 'commit', 'prune', 'random'] as const)[i % 4]!)
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1))
      ;[kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!]
    }
    /** JobIDs of the runs so far, oldest first. */
    const runs: string[] = []
    let parallelism = pick([1, 2, 3])
    let backend = pick(['hashmap', 'rocksdb'] as const)
    const hits = { persist: 0, commit: 0, prune: 0, pruneKilled: 0, pruneBeside: 0 }
    /**
     * Pending files a kill left right after a checkpoint completed. One that a later run commits
     * (`.part-<p>-<s>-<n>-a<attempt>.pending` becomes `part-<p>-<s>-<n>`) belonged to a completed
     * checkpoint: that kill hit the window between `_metadata` and the sink's commit.
     */
    const uncommitted: string[] = []

    for (let round = 0; round <= KILLS; round++) {
      const final = round === KILLS
      const latest = latestCheckpoint(cp, runs)
      if (round > 0) {
        parallelism = pick([1, 2, 3].filter((p) => p !== parallelism))
        if (rnd() < 0.7) backend = backend === 'hashmap' ? 'rocksdb' : 'hashmap'
      }
      const incremental = backend === 'rocksdb' && rnd() < 0.5
      const intervalMs = pick([100, 200, 300])
      const retained = pick([1, 2])
      const conf = [
        '-p', String(parallelism),
        '-D', `execution.checkpointing.interval=${intervalMs}ms`,
        '-D', `execution.checkpointing.dir=${cp}`,
        '-D', 'execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION',
        '-D', `execution.checkpointing.num-retained=${retained}`,
        '-D', `state.backend.type=${backend}`,
        '-D', `execution.checkpointing.incremental=${incremental}`,
        '-D', 'restart-strategy.type=fixed-delay',
        '-D', 'restart-strategy.fixed-delay.attempts=3',
        '-D', 'restart-strategy.fixed-delay.delay=100ms',
      ]
      // The last run reads the rest without a rate limit (the rate is no part of the state).
      const program = [JOB, out, String(RECORDS), final ? 'Infinity' : String(RATE), String(KEYS), String(PAD), String(RESET)]
      let resume: Resume | 'fresh'
      let args: string[]
      if (latest === undefined) {
        resume = 'fresh'
        args = ['run', ...conf, ...program]
      } else {
        resume = round % 2 === 1 ? 'run-s' : pick(['restore-jobid', 'restore-path'] as const)
        if (resume === 'run-s') args = ['run', '-s', rnd() < 0.5 ? latest.path : join(latest.path, '_metadata'), ...conf, ...program]
        else args = ['checkpoints', 'restore', ...conf, resume === 'restore-jobid' ? latest.jobId : latest.path, ...(final ? program : [])]
      }
      const desc = `round ${round}: ${resume}${latest === undefined ? '' : ` from ${latest.jobId.slice(0, 8)}…/chk-${latest.id}`} -p ${parallelism} ${backend}${incremental ? ' incremental' : ''}, every ${intervalMs} ms, ${retained} retained`
      const roundStart = Date.now()
      const took = (): string => `${((Date.now() - roundStart) / 1000).toFixed(1)} s`
      const proc = startCli(args, { env })
      let jobId: string | undefined
      let submittedAfter = ''
      void proc.jobId.then((id) => {
        if (id !== undefined && !runs.includes(id)) runs.push(id)
        jobId = id
        submittedAfter = `submitted after ${took()}, `
      })
      /** `checkpoints restore` names the checkpoint it picked: the latest one. */
      const checkRestoredFrom = (): void => {
        const from = /^Restoring from (.*)$/m.exec(proc.stdout)?.[1]
        if (from !== undefined && from !== latest?.path) fail(`${desc}: restored from ${from}, but the latest checkpoint is ${latest?.path ?? 'none'}`)
      }

      if (final) {
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5 * 60_000)
        const end = await proc.exited
        clearTimeout(timer)
        log.push(`${desc} → ran to the end (exit ${end.code ?? end.signal}) in ${took()}`)
        checkRestoredFrom()
        if (end.code !== 0) fail(`The final run did not finish (exit ${end.code ?? end.signal}):\n${tail(proc.stderr)}\n${tail(proc.stdout)}`)
        assert.match(proc.stdout, /Job with JobID [0-9a-f]{32} has finished\./)
        break
      }

      // Watch the job's checkpoints while it runs: the newest one seen completed must survive the kill.
      let newestSeen = -1
      const watch = setInterval(() => {
        if (jobId !== undefined) newestSeen = Math.max(newestSeen, checkpointsOf(cp, jobId).completed.at(-1) ?? -1)
      }, 5)
      let kill: Kill
      try {
        kill = await killAt(kinds[round]!, proc, cp, out, rnd, env)
      } finally {
        clearInterval(watch)
      }
      const end = await proc.exited
      if (end.signal !== 'SIGKILL') {
        fail(`${desc}: the job ended by itself before the kill (exit ${end.code}); ${end.code === 0 ? 'the input is too short for this many kills' : `it failed:\n${tail(proc.stderr)}`}`)
      }
      let deleted = 0
      for (const [n, p] of kill.prunes.entries()) {
        const e = await p.exited
        if (kill.pruneKilled && n === kill.prunes.length - 1) continue
        if (e.code !== 0) fail(`${desc}: a concurrent prune failed (exit ${e.code}):\n${tail(p.stderr)}`)
        deleted += (JSON.parse(p.stdout) as { deleted: string[] }).deleted.length
      }
      if (kill.prunes.length > 0) kill.note += `; prune deleted ${deleted} paths`
      if (kill.duringPersist) hits.persist++
      if (kill.duringPrune) hits.prune++
      if (kill.prunes.length === 3) hits.pruneBeside++
      uncommitted.push(...kill.pending)
      if (kill.pruneKilled) hits.pruneKilled++
      checkRestoredFrom()
      jobId ??= /JobID ([0-9a-f]{32})/.exec(proc.stdout)?.[1]
      if (jobId !== undefined) {
        const left = checkpointsOf(cp, jobId).completed.at(-1) ?? -1
        if (left < newestSeen) fail(`${desc}: chk-${newestSeen} of job ${jobId} was seen completed, but after the kill the newest left is ${left < 0 ? 'none' : `chk-${left}`}`)
      }
      // Exactly-once holds at every moment: what is committed was written once, and is right.
      const committed = committedSoFar(out)
      const seen = new Set<string>()
      for (const l of committed) {
        if (!expected.has(l)) fail(`${desc}: the committed output has a line no failure-free run writes: '${l}'`)
        if (seen.has(l)) fail(`${desc}: the committed output has a line twice: '${l}'`)
        seen.add(l)
      }
      log.push(`${desc} → kill -9 ${kill.note}; ${committed.length} lines committed; ${submittedAfter}killed after ${took()}`)
    }

    // The committed output against what a failure-free run must write.
    const committed = committedLines(out)
    hits.commit = uncommitted.filter((n) => existsSync(join(out, n.replace(/^\.(part-.*)-a\d+\.pending$/, '$1')))).length
    const counts = new Map<string, number>()
    for (const l of committed) counts.set(l, (counts.get(l) ?? 0) + 1)
    const lost = [...expected].filter((l) => !counts.has(l))
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([l, n]) => `${l} (×${n})`)
    const unexpected = [...counts.keys()].filter((l) => !expected.has(l))
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1)
    process.stderr.write(`chaos seed ${SEED}: ${KILLS} kills (${hits.persist} during a persist, ${hits.commit} pending files of a completed checkpoint left to the restore to commit, ${hits.prune} during a prune, ${hits.pruneKilled} of them with prune killed too, ${hits.pruneBeside} after prunes beside the running job) in ${seconds} s\n${log.join('\n')}\n`)
    if (lost.length + duplicated.length + unexpected.length > 0) {
      fail(`The committed output differs from a failure-free run: ${lost.length} lost (e.g. ${lost.slice(0, 5).join(' | ')}), `
        + `${duplicated.length} duplicated (e.g. ${duplicated.slice(0, 5).join(' | ')}), ${unexpected.length} unexpected (e.g. ${unexpected.slice(0, 5).join(' | ')})`)
    }
    assert.equal(committed.length, expected.size)
    assert.ok(hits.persist >= 1, `at least one kill hit a checkpoint being persisted (seed ${SEED})`)
  })
})
