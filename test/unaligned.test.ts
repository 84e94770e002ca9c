/**
 * Unaligned checkpoints under backpressure, through the real CLI: the checkpoint persists the
 * records in flight, and a job restored from it (same or other parallelism) produces exactly the
 * output of a run without failures. Also the pure redistribution of channel state on restore.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { serialize } from 'node:v8'
import { loadReplay, planReplay, type ChannelStateBatch } from '../src/runtime/checkpoint/channel-state.js'
import type { CheckpointMetadata, FileReference } from '../src/runtime/checkpoint/metadata.js'
import { checksumOf, parseMetadata } from '../src/runtime/checkpoint/metadata.js'
import { MemoryStorage } from '../src/runtime/storage/memory-storage.js'
import { keyGroupForKey, keyGroupRangeForSubtask } from '../src/runtime/core/key-groups.js'
import { CLI, ROOT, committedLines, expectedCounts, runCli, sleep, tmp } from './helpers.js'

const JOB = join(ROOT, 'test', 'jobs', 'backpressure.ts')

/** The newest completed checkpoint whose metadata holds channel state, or undefined. */
function checkpointWithChannelState(cp: string): { dir: string; meta: CheckpointMetadata } | undefined {
  if (!existsSync(cp)) return undefined
  for (const job of readdirSync(cp)) {
    const chks = readdirSync(join(cp, job)).filter((n) => n.startsWith('chk-')).sort((a, b) => Number(b.slice(4)) - Number(a.slice(4)))
    for (const c of chks) {
      const f = join(cp, job, c, '_metadata')
      if (!existsSync(f)) continue
      const meta = parseMetadata(readFileSync(f), f)
      if (meta.operators.some((o) => o.subtasks.some((s) => s.channel !== undefined))) return { dir: join(cp, job, c), meta }
    }
  }
  return undefined
}

describe('unaligned checkpoints', () => {
  for (const p of [2, 3]) {
    it(`persist in-flight records under backpressure; kill -9 and restore at p=${p} is exactly-once`, async () => {
      const dir = tmp()
      const cp = join(dir, 'cp')
      const out = join(dir, 'out')
      const total = 60_000
      const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', 'execution.checkpointing.unaligned.enabled=true', '-D', `execution.checkpointing.dir=${cp}`]
      const child = spawn(process.execPath, [CLI, 'run', '-p', '2', ...conf, JOB, out, String(total), '100'],
        { env: { ...process.env, TSFLINK_HOME: dir }, stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      let found: ReturnType<typeof checkpointWithChannelState>
      for (let i = 0; i < 300 && found === undefined; i++) {
        await sleep(50)
        found = checkpointWithChannelState(cp)
      }
      child.kill('SIGKILL')
      await exited
      assert.ok(found !== undefined, 'no checkpoint persisted in-flight records')
      const before = committedLines(out).length
      assert.ok(before < total, 'the job was killed before it finished')
      const r = await runCli(['run', '-p', String(p), '-s', found.dir, ...conf, JOB, out, String(total), '0'], { env: { TSFLINK_HOME: dir } })
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(committedLines(out), expectedCounts(total))
    })
  }
})

describe('channel state redistribution', () => {
  const meta = (parallelism: number, files: string[], listed: FileReference[] = []): CheckpointMetadata => ({
    jobId: 'j'.repeat(32), jobName: 'x', checkpointId: 1, timestamp: 0, completedAt: '', backend: 'hashmap', program: null, files: listed,
    kind: { type: 'checkpoint', incremental: false, format: 'native' },
    operators: [{ operatorId: 'op', uid: 'count', name: 'count', parallelism, maxParallelism: 128,
      subtasks: files.map((file, subtask) => ({ subtask, channel: { file, batches: 1 } })) }],
  } as unknown as CheckpointMetadata)

  it('keyed input at another parallelism: every key goes to the subtask owning its key group, in order', async () => {
    const storage = new MemoryStorage()
    const batches: ChannelStateBatch[][] = [0, 1].map((s) => [{ channel: 0, records: [], keys: [], timestamps: null }])
    for (let v = 0; v < 400; v++) {
      const b = batches[v % 2]![0]!
      b.records.push(v)
      b.keys!.push(v % 50)
    }
    const data = batches.map((b) => serialize(b))
    await storage.write('/cp/chk-1/c0', data[0]!)
    await storage.write('/cp/chk-1/c1', data[1]!)
    const listed = data.map((d, i) => ({ path: `c${i}`, size: d.length, checksum: checksumOf(d) }))
    const plan = planReplay('/cp/chk-1', meta(2, ['c0', 'c1'], listed), [{ operatorId: 'op', name: 'count', parallelism: 3, maxParallelism: 128, isHead: true, keyed: true }])!
    const seen: number[] = []
    for (let s = 0; s < 3; s++) {
      const range = keyGroupRangeForSubtask(128, 3, s)
      const got = await loadReplay(plan.operators.get('op')![s]!, () => storage)
      for (const b of got) {
        b.keys!.forEach((k, i) => {
          const kg = keyGroupForKey(k as number, 128)
          assert.ok(kg >= range.start && kg <= range.end, `key ${String(k)} replayed in subtask ${s}`)
          seen.push(b.records[i] as number)
        })
      }
    }
    assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 400 }, (_, i) => i), 'every record replayed exactly once')
  })

  it('in-flight records are checked against _metadata: an unlisted or damaged file fails, naming it', async () => {
    const storage = new MemoryStorage()
    const data = serialize([{ channel: 0, records: [1, 2, 3], keys: null, timestamps: null }])
    await storage.write('/cp/chk-1/c0', data)
    const target = [{ operatorId: 'op', name: 'count', parallelism: 1, maxParallelism: 128, isHead: true, keyed: false }]
    const good = planReplay('/cp/chk-1', meta(1, ['c0'], [{ path: 'c0', size: data.length, checksum: checksumOf(data) }]), target)!
    assert.deepEqual((await loadReplay(good.operators.get('op')![0]!, () => storage))[0]!.records, [1, 2, 3])
    const unlisted = planReplay('/cp/chk-1', meta(1, ['c0']), target)!
    await assert.rejects(loadReplay(unlisted.operators.get('op')![0]!, () => storage), /\/cp\/chk-1\/c0 is not listed/)
    const damaged = Buffer.from(data)
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0xff
    await storage.write('/cp/chk-1/c0', damaged)
    await assert.rejects(loadReplay(good.operators.get('op')![0]!, () => storage), /\/cp\/chk-1\/c0.*checksum/)
  })

  it('same parallelism: each subtask replays its own records', async () => {
    const plan = planReplay('/cp/chk-1', meta(2, ['c0', 'c1']), [{ operatorId: 'op', name: 'count', parallelism: 2, maxParallelism: 128, isHead: true, keyed: true }])!
    assert.deepEqual(plan.operators.get('op')!.map((s) => s.map((x) => [x.location, x.keyGroups])), [[['/cp/chk-1/c0', undefined]], [['/cp/chk-1/c1', undefined]]])
  })

  it('an operator that no longer heads its task cannot take in-flight records', () => {
    assert.throws(() => planReplay('/cp/chk-1', meta(2, ['c0', 'c1']), [{ operatorId: 'op', name: 'count', parallelism: 2, maxParallelism: 128, isHead: false, keyed: true }]),
      /no longer heads its task/)
  })
})
