/**
 * checkpoints list | verify | restore | prune through the real CLI (bin/run.js as a subprocess),
 * with the spellings and situations users met: paths with '..' and file: URIs, a running job
 * known only by its lease, savepoints being written, user folders named like jobs, symbolic
 * links, a _metadata that is a folder, `--dir /`, bad flag values, damaged state files of the same
 * size, several jobs under one root, a damaged newest checkpoint, progress on a terminal, and
 * prune killed with -9 while it deletes.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { serializeLease, type Lease } from '../../src/runtime/checkpoint/lease.js'
import { checksumOf, parseMetadata, serializeMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { HistoryWriter, restoresIdentically } from '../checkpoint-history.js'
import { CLI, ROOT, committedLines, expectedCounts, runCli, sleep, tmp } from '../helpers.js'

const JOB = '0123456789abcdef0123456789abcdef'
const JOB2 = 'fedcba9876543210fedcba9876543210'
const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')
const day = (n: number): Date => new Date(Date.now() - n * 86_400_000)
const chks = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('chk-')).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))

function lease(jobId: string, p: Partial<Lease> = {}): Buffer {
  return serializeLease({
    format: 'tsflink-lease', version: 1, kind: 'job', jobId, owner: { host: 'another-host', pid: 1, startedAt: Date.now() - 60_000 },
    renewedAt: Date.now(), ttlMs: 60_000, latestCompleted: null, inProgress: [], savepointsInProgress: [], ended: false, ...p,
  })
}

/** A job killed with -9 leaves its lease live for a while; these tests play the time after it expired. */
function expireLease(jobDir: string): void {
  const p = join(jobDir, '_lease')
  if (!existsSync(p)) return
  const l = JSON.parse(readFileSync(p, 'utf8')) as Lease
  writeFileSync(p, serializeLease({ ...l, renewedAt: 0 }))
}

/**
 * Runs test/jobs/counter.ts with checkpoints into `cp` and kills it with -9 once it completed at
 * least three checkpoints and `retained` completed ones are on disk at once; returns its job folder.
 */
async function killedCounter(home: string, cp: string, out: string, total: number, retained: number, extra: string[] = []): Promise<string> {
  const child = spawn(process.execPath, [CLI, 'run', '-D', 'execution.checkpointing.interval=40ms', '-D', `execution.checkpointing.dir=${cp}`, ...extra,
    COUNTER, out, String(total), '5000'], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
  const exited = new Promise((r) => child.on('exit', r))
  const seen = new Set<string>()
  const completed = (): number => {
    const now = existsSync(cp) ? readdirSync(cp).flatMap((j) => chks(join(cp, j)).filter((c) => existsSync(join(cp, j, c, '_metadata'))).map((c) => join(j, c))) : []
    for (const c of now) seen.add(c)
    return now.length
  }
  for (let i = 0; i < 1500 && (completed() < retained || seen.size < 3); i++) await sleep(10)
  child.kill('SIGKILL')
  await exited
  assert.ok(completed() >= retained && seen.size >= 3, `the job completed ${seen.size} checkpoints (${completed()} on disk) before it was killed`)
  const jobDir = join(cp, readdirSync(cp)[0]!)
  expireLease(jobDir)
  return jobDir
}

/** The committed lines a counter restored from some checkpoint must write into a fresh folder: exactly the values after its position. */
function assertExactSuffix(lines: string[], total: number, what: string): void {
  const before = new Set(expectedCounts(total - lines.length))
  assert.deepEqual(lines, expectedCounts(total).filter((l) => !before.has(l)), `${what}: exactly the records after the checkpoint, counted on from its state`)
}

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

  it('takes paths with .., /./ and //, and file:/p, file://p and file:///p, and prints the canonical path', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(2))
    h.checkpoint(2, day(1))
    const spellings = [`${root}/x/../`, `${root.replace(/\//g, '//')}/./`, `file:${root}`, `file:/${root}`, `file://${root}`]
    for (const s of spellings) {
      const r = await runCli(['checkpoints', 'list', '--dir', s, '--json'])
      assert.equal(r.code, 0, `${s}: ${r.stderr}`)
      const rows = JSON.parse(r.stdout) as { path: string; status: string }[]
      assert.deepEqual(rows.map((x) => [x.path, x.status]), [[join(root, JOB, 'chk-1'), 'orphan'], [join(root, JOB, 'chk-2'), 'valid']], s)
    }
    // The configured directory as a file: URI, and a JobID.
    const viaConfig = await runCli(['checkpoints', 'list', JOB, '-D', `execution.checkpointing.dir=file://${root}`, '--json'])
    assert.equal(viaConfig.code, 0, viaConfig.stderr)
    assert.equal((JSON.parse(viaConfig.stdout) as unknown[]).length, 2)
  })

  it('--deep finds a state file overwritten with bytes of the same size (plain list checks sizes only)', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(2), { checksums: true })
    const c2 = h.checkpoint(2, day(1), { checksums: true })
    const victim = join(c2.path, 'private-2')
    writeFileSync(victim, randomBytes(readFileSync(victim).length))
    const plain = JSON.parse((await runCli(['checkpoints', 'list', '--dir', root, '--json'])).stdout) as { checkpointId: number; status: string }[]
    assert.equal(plain.find((r) => r.checkpointId === 2)!.status, 'valid')
    const deep = await runCli(['checkpoints', 'list', '--dir', root, '--deep', '--json'])
    assert.equal(deep.code, 0, deep.stderr)
    const rows = JSON.parse(deep.stdout) as { checkpointId: number; status: string; problem?: string }[]
    const row2 = rows.find((r) => r.checkpointId === 2)!
    assert.equal(row2.status, 'incomplete')
    assert.match(row2.problem!, /private-2 fails its checksum/)
    assert.equal(rows.find((r) => r.checkpointId === 1)!.status, 'valid', 'the older one is now the newest valid one')
  })

  it('--dir / fails with one clear line, not a raw EACCES (list and prune)', async () => {
    for (const args of [['checkpoints', 'list', '--dir', '/'], ['checkpoints', 'prune', '--dir', 'file:///', '--dry-run'], ['checkpoints', 'verify', '--dir', '/']]) {
      const r = await runCli(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /^Error: Refusing to use '.*' \(the filesystem root\) as a checkpoints folder/)
      assert.doesNotMatch(r.stderr, /EACCES/)
    }
  })
})

describe('tsflink checkpoints verify', () => {
  it('OK for whole checkpoints; a damaged file of the same size and a missing file: exit 1, each named', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB, (n) => n - 1)
    h.checkpoint(1, day(3), { checksums: true })
    h.checkpoint(2, day(2), { checksums: true })
    const c3 = h.checkpoint(3, day(1), { checksums: true })
    h.checkpoint(4, day(0), { withMetadata: false })
    const good = await runCli(['checkpoints', 'verify', '--dir', root])
    assert.equal(good.code, 0, good.stderr)
    assert.equal(good.stdout.split('\n').filter((l) => l.startsWith('OK ')).length, 3)
    assert.match(good.stderr, /chk-4: no _metadata \(not a completed checkpoint\)/)

    const shared = [...c3.files.keys()].find((p) => p.includes('/shared/'))!
    writeFileSync(join(c3.path, 'private-3'), randomBytes(readFileSync(join(c3.path, 'private-3')).length))
    const { rmSync } = await import('node:fs')
    rmSync(shared)
    const bad = await runCli(['checkpoints', 'verify', JOB, '-D', `execution.checkpointing.dir=${root}`])
    assert.equal(bad.code, 1)
    assert.match(bad.stdout, new RegExp(`^FAILED  ${c3.path}$`, 'm'))
    assert.match(bad.stdout, /^ +damaged: private-3 fails its checksum \(crc32:[0-9a-f]{8}, _metadata says crc32:[0-9a-f]{8}\)$/m)
    assert.match(bad.stdout, new RegExp(`^ +missing: referenced file \\.\\./shared/${shared.split('/').pop()} is missing$`, 'm'))
    assert.match(bad.stderr, /^Error: \d of 3 checkpoint\(s\)\/savepoint\(s\) failed verification$/m)

    const json = await runCli(['checkpoints', 'verify', `${c3.path}/_metadata`, '--json'])
    assert.equal(json.code, 1)
    const doc = JSON.parse(json.stdout) as { ok: boolean; checked: { path: string; ok: boolean; problems: { file: string; kind: string }[] }[] }
    assert.equal(doc.ok, false)
    assert.deepEqual(doc.checked.map((c) => [c.path, c.ok]), [[c3.path, false]])
    assert.deepEqual(doc.checked[0]!.problems.map((p) => [p.file, p.kind]).sort(), [[`../shared/${shared.split('/').pop()}`, 'missing'], ['private-3', 'checksum']].sort())

    const none = await runCli(['checkpoints', 'verify', join(root, JOB, 'chk-4')])
    assert.equal(none.code, 1, 'a single directory without _metadata is not a checkpoint')
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

  it('a path with .. is pruned like its canonical form', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 3; i++) h.checkpoint(i, day(5 - i))
    const r = await runCli(['checkpoints', 'prune', '--dir', `${root}/${JOB}/../`, '--keep', '1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as { deleted: string[] }).deleted.filter((p) => p.endsWith('chk-1') || p.endsWith('chk-2')), [join(root, JOB, 'chk-1'), join(root, JOB, 'chk-2')])
    assert.deepEqual(chks(join(root, JOB)), ['chk-3'])
  })

  it('a job running elsewhere (its lease, not this host\'s registry, says so) keeps its checkpoint in progress and its fresh shared files', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(3))
    h.checkpoint(2, day(2))
    const inProgress = h.checkpoint(3, new Date(), { withMetadata: false })
    writeFileSync(join(root, JOB, 'shared', 'uploading'), 'a table no _metadata names yet')
    writeFileSync(join(root, JOB, '_lease'), lease(JOB, { latestCompleted: 2, inProgress: [3] }))
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--json'], { env: { TSFLINK_HOME: tmp() } })
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual((JSON.parse(r.stdout) as { deleted: string[] }).deleted, [join(root, JOB, 'chk-1')])
    for (const p of inProgress.files.keys()) assert.ok(existsSync(p), `${p} belongs to the checkpoint in progress`)
    assert.ok(existsSync(join(root, JOB, 'shared', 'uploading')))
    assert.ok(restoresIdentically(h.checkpoints[1]!))
  })

  it('--include-savepoints never deletes a savepoint being written', async () => {
    const root = tmp()
    const sp = join(root, 'savepoint-012345-abcdefabcdef')
    mkdirSync(sp)
    writeFileSync(join(sp, 'op-state-1'), 'written so far')
    writeFileSync(join(sp, '_in_progress'), lease(JOB, { kind: 'savepoint' }))
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--include-savepoints', '--keep', '0', '--older-than', '0s'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(existsSync(join(sp, 'op-state-1')))
    assert.match(r.stderr, /savepoint in progress/)
  })

  it('a folder that only looks like a job folder is not touched', async () => {
    const root = tmp()
    const user = join(root, 'abcdefabcdefabcdefabcdefabcdef12')
    mkdirSync(join(user, 'chk-1'), { recursive: true })
    mkdirSync(join(user, 'shared'))
    writeFileSync(join(user, 'chk-1', 'thesis.tex'), 'years of work')
    writeFileSync(join(user, 'shared', 'important.db'), 'data')
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '0', '--older-than', '0s'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(existsSync(join(user, 'chk-1', 'thesis.tex')) && existsSync(join(user, 'shared', 'important.db')))
  })

  it('never follows a symbolic link to a job folder: nothing behind it changes, and a JobID naming a link is refused', async () => {
    const root = tmp()
    const elsewhere = tmp()
    const other = new HistoryWriter(elsewhere, JOB2)
    other.checkpoint(1, day(9))
    other.checkpoint(2, day(8))
    mkdirSync(join(elsewhere, JOB2, 'chk-7')) // an empty chk-N folder outside the root
    symlinkSync(join(elsewhere, JOB2), join(root, JOB2))
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(2))
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(chks(join(elsewhere, JOB2)), ['chk-1', 'chk-2', 'chk-7'])
    const byId = await runCli(['checkpoints', 'prune', JOB2, '-D', `execution.checkpointing.dir=${root}`])
    assert.equal(byId.code, 1)
    assert.match(byId.stderr, /is a symbolic link/)
    assert.deepEqual(chks(join(elsewhere, JOB2)), ['chk-1', 'chk-2', 'chk-7'])
    assert.ok(restoresIdentically(other.checkpoints[0]!))
  })

  it('a _metadata that is a folder is reported and the rest is pruned', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 3; i++) h.checkpoint(i, day(5 - i))
    const odd = new HistoryWriter(root, JOB2)
    odd.checkpoint(1, day(9))
    odd.checkpoint(2, day(8), { withMetadata: false })
    mkdirSync(join(root, JOB2, 'chk-2', '_metadata'))
    const r = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /chk-2: not valid, left alone: _metadata is a directory/)
    assert.deepEqual(chks(join(root, JOB)), ['chk-3'])
  })

  it('a bad flag value says why (--keep -1)', async () => {
    const r = await runCli(['checkpoints', 'prune', '--keep', '-1', '--dir', tmp()])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^Error: Parsing --keep: Expected an integer greater than or equal to 0 but received: -1$/m)
  })

  it('shows progress (count and bytes freed) on a terminal, on stderr; none without a terminal or with --json', async (t) => {
    if (spawnSync('script', ['--version']).status !== 0) return t.skip('util-linux script(1) is needed to give the CLI a terminal')
    const root = tmp()
    const h = new HistoryWriter(root, JOB, () => 0)
    for (let i = 1; i <= 120; i++) h.checkpoint(i, day(200 - i))
    const cmd = (extra: string): string => `stty cols 100 rows 30; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} checkpoints prune --dir ${JSON.stringify(root)} --keep 1 ${extra}`
    const piped = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--dry-run'])
    assert.doesNotMatch(piped.stderr, /Deleted \d+\/\d+ directories/, 'no terminal: no progress')
    const json = spawnSync('script', ['-qefc', cmd('--json --dry-run'), '/dev/null'], { env: { ...process.env, CI: '' }, encoding: 'utf8' })
    assert.equal(json.status, 0, json.stdout)
    assert.doesNotMatch(json.stdout, /Deleted \d+\/\d+ directories|Scanning/, '--json: no progress')
    const tty = spawnSync('script', ['-qefc', cmd(''), '/dev/null'], { env: { ...process.env, CI: '' }, encoding: 'utf8' })
    assert.equal(tty.status, 0, tty.stdout)
    assert.match(tty.stdout, /Deleted \d+\/119 directories, \d+\/\d+ shared files; [\d.]+ (B|KiB|MiB) freed/)
    assert.deepEqual(chks(join(root, JOB)), ['chk-120'])
  })

  it('killed with -9 while deleting, again and again: every checkpoint list calls valid restores to the exact result, and a re-run converges', async () => {
    const home = tmp()
    const root = join(home, 'ck')
    const out = join(home, 'out')
    const total = 30_000
    // A real job's incremental checkpoints, many retained; then a long synthetic history, so deletion takes a while.
    const jobDir = await killedCounter(home, root, out, total, 30, [
      '-D', 'execution.checkpointing.num-retained=1000', '-D', 'state.backend.type=rocksdb', '-D', 'execution.checkpointing.incremental=true'])
    const h = new HistoryWriter(root, JOB)
    for (let i = 1; i <= 900; i++) h.checkpoint(i, day(1000 - i), { compact: i % 10 === 0 })
    const byPath = new Map(h.checkpoints.map((c) => [c.path, c]))
    let restores = 0
    const restoreAndCompare = async (chk: string): Promise<void> => {
      const fresh = join(home, `restored-${restores++}`)
      const r = await runCli(['run', '-s', chk, COUNTER, fresh, String(total), '1000000'], { env: { TSFLINK_HOME: join(home, 'restores') } })
      assert.equal(r.code, 0, `${chk}: ${r.stderr}`)
      assertExactSuffix(committedLines(fresh), total, chk)
    }
    let midway = 0
    for (let round = 0; round < 3; round++) {
      const completed = [jobDir, join(root, JOB)].flatMap((d) => chks(d).slice(0, -1).map((c) => join(d, c))).filter((d) => existsSync(join(d, '_metadata'))).sort()
      const first = completed.slice(0, 32)
      const child = spawn(process.execPath, [CLI, 'checkpoints', 'prune', '--dir', root, '--keep', '1'], { stdio: 'ignore' })
      let done = false
      const exited = new Promise((r) => child.on('exit', () => r((done = true))))
      // Wait for the lock, then for the first deletion; then let it run a little.
      const deadline = Date.now() + 30_000
      while (!done && Date.now() < deadline && !(existsSync(join(root, '.tsflink-prune.lock')) && first.some((d) => !existsSync(join(d, '_metadata'))))) {
        await new Promise((r) => setImmediate(r))
      }
      await sleep(Math.floor(Math.random() * 40))
      if (!done) midway++
      child.kill('SIGKILL')
      await exited
      const list = await runCli(['checkpoints', 'list', '--dir', root, '--json'])
      assert.equal(list.code, 0, list.stderr)
      const rows = JSON.parse(list.stdout) as { path: string; status: string }[]
      const valid = rows.filter((row) => row.status === 'valid' || row.status === 'orphan')
      for (const row of valid) if (byPath.has(row.path)) assert.ok(restoresIdentically(byPath.get(row.path)!), `round ${round}: ${row.path} is listed valid and must be whole`)
      const real = valid.filter((row) => row.path.startsWith(`${jobDir}/`)).map((row) => row.path)
      assert.ok(real.length > 0, 'the job\'s newest checkpoint is always valid')
      await restoreAndCompare(real[Math.floor(Math.random() * real.length)]!)
    }
    assert.ok(midway >= 2, `prune was killed during deletion in ${midway} of 3 rounds`)
    const final = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1'])
    assert.equal(final.code, 0, final.stderr)
    assert.deepEqual(chks(join(root, JOB)), ['chk-900'])
    assert.ok(restoresIdentically(h.checkpoints[899]!))
    const left = chks(jobDir).filter((c) => existsSync(join(jobDir, c, '_metadata')))
    assert.equal(left.length, 1)
    await restoreAndCompare(join(jobDir, left[0]!))
    const again = await runCli(['checkpoints', 'prune', '--dir', root, '--keep', '1', '--json'])
    assert.deepEqual((JSON.parse(again.stdout) as { deleted: string[] }).deleted, [], 'converged: a re-run finds nothing to do')
  })
})

describe('tsflink checkpoints restore', () => {
  it('resumes a killed job from its latest checkpoint (a file: URI with ..), without naming the job file: exactly the failure-free output', async () => {
    const home = tmp()
    const cp = join(home, 'cp')
    const out = join(home, 'out')
    const total = 20_000
    const jobDir = await killedCounter(home, cp, out, total, 1)
    const jobId = jobDir.split('/').pop()!
    const r = await runCli(['checkpoints', 'restore', `file://${cp}/x/..//${jobId}/`], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Restoring from ${jobDir}/chk-\\d+$`, 'm'))
    assert.deepEqual(committedLines(out), expectedCounts(total), 'every key counted exactly once per record')
  })

  it('says loudly which checkpoint it uses when the newest is damaged, and why', async () => {
    const home = tmp()
    const cp = join(home, 'cp')
    const total = 20_000
    const jobDir = await killedCounter(home, cp, join(home, 'out'), total, 3, ['-D', 'execution.checkpointing.num-retained=3'])
    const jobId = jobDir.split('/').pop()!
    // Record checksums as format v2 does, then damage the newest checkpoint's own state file, keeping its size.
    const complete = chks(jobDir).filter((c) => existsSync(join(jobDir, c, '_metadata')))
    for (const c of complete) {
      const loc = join(jobDir, c, '_metadata')
      const meta = parseMetadata(readFileSync(loc), loc)
      meta.files = meta.files.map((f) => ({ ...f, checksum: checksumOf(readFileSync(join(jobDir, c, f.path))) }))
      writeFileSync(loc, serializeMetadata(meta))
    }
    const newest = join(jobDir, complete[complete.length - 1]!)
    const victim = (parseMetadata(readFileSync(join(newest, '_metadata')), 'x').files.find((f) => !f.path.startsWith('..')))!.path
    writeFileSync(join(newest, victim), randomBytes(readFileSync(join(newest, victim)).length))
    const r = await runCli(['checkpoints', 'restore', jobId, '-D', `execution.checkpointing.dir=${cp}`], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    const previous = join(jobDir, complete[complete.length - 2]!)
    assert.match(r.stderr, new RegExp(`^Warning: newer checkpoint not usable: ${newest}: ${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} fails its checksum`, 'm'))
    assert.match(r.stderr, new RegExp(`^Warning: restoring from ${previous}, the newest checkpoint that checks out; output committed after it may be written again\\.$`, 'm'))
    assert.match(r.stdout, new RegExp(`^Restoring from ${previous}$`, 'm'))
  })

  it('a damaged newest checkpoint of a synthetic history is named too (unreadable _metadata)', async () => {
    const root = tmp()
    const h = new HistoryWriter(root, JOB)
    h.checkpoint(1, day(2))
    h.checkpoint(2, day(1))
    writeFileSync(join(root, JOB, 'chk-2', '_metadata'), '{"format":"tsflink-checkpoint","vers')
    const r = await runCli(['checkpoints', 'restore', join(root, JOB)])
    assert.match(r.stderr, new RegExp(`^Warning: newer checkpoint not usable: ${join(root, JOB, 'chk-2')}: `, 'm'))
    assert.match(r.stderr, new RegExp(`^Warning: restoring from ${join(root, JOB, 'chk-1')}`, 'm'))
  })

  it('asks which job when a root holds checkpoints of several', async () => {
    const root = tmp()
    new HistoryWriter(root, JOB).checkpoint(5, day(2))
    new HistoryWriter(root, JOB2).checkpoint(9, day(1))
    const r = await runCli(['checkpoints', 'restore', root])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^Error: .* holds checkpoints of 2 jobs: ${JOB} \\(newest: chk-5\\), ${JOB2} \\(newest: chk-9\\)\\. Say which`, 'm'))
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
