/**
 * The embedded LSM backend: a model check with puts and deletes through flushes and compactions
 * whose snapshots (taken while processing goes on) restore into both backends at other
 * parallelisms; incremental checkpoints upload only new tables and reuse only confirmed uploads;
 * canonical savepoints restore into the hashmap backend and back, at any parallelism, and are
 * written in bounded sections (by entries and by bytes, timers included) that both backends read.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { deserialize } from 'node:v8'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ValueStateDescriptor, MapStateDescriptor, ListStateDescriptor } from '../src/runtime/core/state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { isSstHandle, type KeyGroupsStateHandle, type KeyedStateHandle } from '../src/runtime/checkpoint/metadata.js'
import type { KeyedRestore } from '../src/runtime/checkpoint/state-assignment.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { keyGroupRangeForSubtask, keyGroupForKey } from '../src/runtime/core/key-groups.js'
import type { KeyedStateBackend } from '../src/runtime/state/keyed-backend.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import {
  CheckpointingMode, Configuration, DataGeneratorSource, EmbeddedRocksDBStateBackend, FileSink, RateLimiterStrategy, RestartStrategies,
  RichMapFunction, StreamExecutionEnvironment, WatermarkStrategy,
} from '../src/index.js'
import { committedLines, tmp } from './helpers.js'

const fs = new FsStorage()
const ALL = { start: 0, end: 127 }
const barrier = (id: number, location: string, opts: Partial<CheckpointBarrier> = {}): CheckpointBarrier =>
  ({ id: id as never, timestamp: id, type: 'checkpoint', format: 'native', location, incremental: true, ...opts })

async function persist(b: KeyedStateBackend, br: CheckpointBarrier): Promise<{ handle: KeyedStateHandle | undefined; bytes: number; files: string[] }> {
  const r = await b.snapshot([], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-${br.id}` })
  return { handle: r.handle, bytes: r.files.reduce((n, f) => n + f.size, 0), files: r.files.map((f) => f.path) }
}

const restoreFrom = (dir: string, handle: KeyedStateHandle): KeyedRestore[] => [{ checkpointDir: dir, location: 'file' in handle ? join(dir, handle.file) : dir, handle }]

describe('LSM backend', () => {
  it('model check: puts and deletes through flushes and compactions; every snapshot restores into both backends at p=1..3', async () => {
    const seed0 = Number(process.env.TSFLINK_SEED ?? 7331)
    let seed = seed0
    const rnd = (n: number): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) % n
    }
    const KEYS = 1200
    // Fewer steps when a mutation run asks for fewer cases; always 8 snapshots.
    const STEPS = Number(process.env.TSFLINK_PROPERTY_CASES ?? 300) >= 300 ? 24_000 : 8_000
    const EVERY = STEPS / 8
    const root = tmp()
    const b = new LsmKeyedStateBackend(ALL, 128, join(root, 'work'), { memtableEntries: 400, targetFileBytes: 8192, memoryBytes: 1 << 20 })
    const V = new ValueStateDescriptor<number>('v')
    const M = new MapStateDescriptor<number, number>('m')
    const v = b.getState(V)
    const m = b.getMapState(M)
    const modelV = new Map<number, number>()
    const modelM = new Map<number, Map<number, number>>()
    const snapshots: { id: number; restore: KeyedRestore[]; compactions: number; v: Map<number, number>; m: Map<number, Map<number, number>> }[] = []
    let persisting: Promise<void> = Promise.resolve()
    let deletes = 0
    for (let step = 1; step <= STEPS; step++) {
      const k = rnd(KEYS)
      b.currentKey = k
      const op = rnd(10)
      if (op === 0) {
        v.clear()
        if (modelV.delete(k)) deletes++
      } else if (op === 1) {
        const mk = rnd(3)
        m.remove(mk)
        const mm = modelM.get(k)
        if (mm?.delete(mk) === true) deletes++
        if (mm?.size === 0) modelM.delete(k)
      } else if (op === 2) {
        m.clear()
        if (modelM.delete(k)) deletes++
      } else if (op < 7) {
        const next = (v.value() ?? 0) + 1
        v.update(next)
        modelV.set(k, next)
      } else {
        const mk = rnd(3)
        m.put(mk, step)
        let mm = modelM.get(k)
        if (mm === undefined) modelM.set(k, (mm = new Map()))
        mm.set(mk, step)
      }
      if (step % 200 === 0) {
        // Between batches, as a task does; the background flushes and compactions run meanwhile.
        b.maintain()
        await new Promise((r) => setTimeout(r, 1))
      }
      if (step % EVERY === 0) {
        // The snapshot is taken now; it persists while processing goes on; it completes later.
        // Every other one waits for the background work first, so snapshots fall between compactions.
        const id = step / EVERY
        if (id % 2 === 0) await b.whenIdle()
        const dir = join(root, 'job', `chk-${id}`)
        const job = b.snapshot([], barrier(id, dir))
        snapshots.push({ id, restore: [], compactions: b.compactions, v: new Map(modelV), m: new Map([...modelM].map(([key, x]) => [key, new Map(x)])) })
        const snap = snapshots[snapshots.length - 1]!
        const previous = persisting
        persisting = (async () => {
          await previous
          const r = await job.persist({ location: dir, storage: fs, fileName: (kind) => `${kind}-${id}` })
          const files = new Map(r.files.map((f) => [join(dir, f.path), f]))
          snap.restore = restoreFrom(dir, r.handle!).map((x) => ({ ...x, files }))
          b.notifyCheckpointComplete(id)
        })()
      }
    }
    await persisting
    const context = `seed ${seed0}`
    assert.ok(deletes > 1000, `${context}: deletes happened (${deletes})`)
    // Snapshots were taken before, between and after compactions.
    const seen = new Set(snapshots.map((x) => x.compactions))
    assert.ok(seen.size >= 3 && b.compactions >= 3, `${context}: snapshots across compactions (${snapshots.map((x) => x.compactions).join(', ')})`)
    const check = (target: KeyedStateBackend[], s: { v: Map<number, number>; m: Map<number, Map<number, number>> }, what: string): void => {
      for (let k = 0; k < KEYS; k++) {
        const owner = target.find((x) => { const kg = keyGroupForKey(k, 128); return kg >= x.keyGroupRange.start && kg <= x.keyGroupRange.end })!
        owner.currentKey = k
        assert.equal(owner.getState(V).value() ?? undefined, s.v.get(k), `${context}: ${what}: value of key ${k}`)
        assert.deepEqual(new Map(owner.getMapState(M).entries()), s.m.get(k) ?? new Map(), `${context}: ${what}: map of key ${k}`)
      }
    }
    check([b], { v: modelV, m: modelM }, 'live state')
    assert.ok(snapshots.length >= 6)
    for (const snap of snapshots) {
      for (const [kind, p] of [['lsm', 1], ['lsm', 2], ['hashmap', 1], ['hashmap', 3]] as const) {
        const targets: KeyedStateBackend[] = []
        for (let i = 0; i < p; i++) {
          const range = keyGroupRangeForSubtask(128, p, i)
          const t = kind === 'lsm' ? new LsmKeyedStateBackend(range, 128, join(root, `r-${snap.id}-${kind}-${p}-${i}`)) : new HeapKeyedStateBackend(range, 128)
          await t.restore(snap.restore, () => fs)
          targets.push(t)
        }
        check(targets, snap, `chk-${snap.id} restored into ${kind} at p=${p}`)
        for (const t of targets) t.dispose()
      }
    }
    b.dispose()
  })

  it('incremental checkpoints upload only new tables and reference the older ones', async () => {
    const root = tmp()
    const b = new LsmKeyedStateBackend(ALL, 128, join(root, 'work'))
    const v = b.getState(new ValueStateDescriptor<string>('v'))
    for (let k = 0; k < 100_000; k++) {
      b.currentKey = k
      v.update(`value-${k}`)
    }
    const first = await persist(b, barrier(1, join(root, 'job', 'chk-1')))
    b.notifyCheckpointComplete(1)
    for (let k = 0; k < 1000; k++) {
      b.currentKey = k * 100
      v.update(`changed-${k}`)
    }
    const second = await persist(b, barrier(2, join(root, 'job', 'chk-2')))
    assert.ok(isSstHandle(second.handle!))
    const newBytes = second.bytes - first.bytes
    assert.ok(newBytes <= 0.05 * first.bytes, `touching 1% wrote ${newBytes} of ${first.bytes} bytes`)
    assert.ok(first.files.every((f) => second.files.includes(f)), 'the second checkpoint references the first one\'s tables')
    // The shared folder holds exactly the tables the two checkpoints list, nothing uploaded twice.
    assert.equal(readdirSync(join(root, 'job', 'shared')).length, new Set([...first.files, ...second.files]).size)

    // Restore the second into a fresh LSM backend and into the hashmap backend.
    for (const target of [new LsmKeyedStateBackend(ALL, 128, join(root, 'work2')), new HeapKeyedStateBackend(ALL, 128)]) {
      await target.restore(restoreFrom(join(root, 'job', 'chk-2'), second.handle!), () => fs)
      const tv = target.getState(new ValueStateDescriptor<string>('v'))
      for (const k of [0, 100, 99_900, 1, 55_555]) {
        target.currentKey = k
        assert.equal(tv.value(), k % 100 === 0 && k < 100_000 ? `changed-${k / 100}` : `value-${k}`)
      }
      target.dispose()
    }
    b.dispose()
  })

  it('an incremental checkpoint reuses only uploads a completed checkpoint confirmed', async () => {
    const root = tmp()
    const b = new LsmKeyedStateBackend(ALL, 128, join(root, 'work'))
    const v = b.getState(new ValueStateDescriptor<number>('v'))
    const write = (from: number, to: number): void => {
      for (let k = from; k < to; k++) {
        b.currentKey = k
        v.update(k)
      }
    }
    const shared = (files: string[]): string[] => files.filter((f) => f.startsWith('../shared/'))
    write(0, 100)
    const one = await persist(b, barrier(1, join(root, 'job', 'chk-1')))
    write(100, 200)
    // Checkpoint 1 is still pending: checkpoint 2 uploads its own copy of every table.
    const two = await persist(b, barrier(2, join(root, 'job', 'chk-2')))
    assert.equal(shared(two.files).length, 2)
    assert.ok(shared(one.files).every((f) => !two.files.includes(f)))
    // Checkpoint 2 is aborted, 1 completes: checkpoint 3 reuses 1's upload, never 2's.
    b.notifyCheckpointAborted(2)
    b.notifyCheckpointComplete(1)
    const three = await persist(b, barrier(3, join(root, 'job', 'chk-3')))
    assert.deepEqual(three.files.filter((f) => one.files.includes(f)), one.files)
    assert.deepEqual(three.files.filter((f) => two.files.includes(f)), [])
    // 3 completes: 4 reuses 3's uploads (all of them: nothing changed).
    b.notifyCheckpointComplete(3)
    const four = await persist(b, barrier(4, join(root, 'job', 'chk-4')))
    assert.deepEqual(four.files, three.files)
    // A completion the backend has no uploads for (a savepoint) leaves the base as it is.
    b.notifyCheckpointComplete(5)
    const six = await persist(b, barrier(6, join(root, 'job', 'chk-6')))
    assert.deepEqual(six.files, three.files)
    b.dispose()
  })

  it('canonical savepoints of either backend restore into the other, at another parallelism', async () => {
    const root = tmp()
    const heap = new HeapKeyedStateBackend(ALL, 128)
    const m = heap.getMapState(new MapStateDescriptor<string, number>('m'))
    const l = heap.getListState(new ListStateDescriptor<number>('l'))
    for (let k = 0; k < 500; k++) {
      heap.currentKey = `k${k}`
      m.put('a', k)
      l.add(k)
      l.add(-k)
    }
    const sp = await persist(heap, barrier(1, join(root, 'sp1'), { type: 'savepoint', format: 'canonical' }))
    const halves = [0, 1].map((i) => keyGroupRangeForSubtask(128, 2, i))
    const lsms = halves.map((r, i) => new LsmKeyedStateBackend(r, 128, join(root, `w${i}`)))
    for (const x of lsms) await x.restore(restoreFrom(join(root, 'sp1'), sp.handle!), () => fs)
    for (let k = 0; k < 500; k++) {
      const key = `k${k}`
      const owner = lsms[keyGroupForKey(key, 128) < 64 ? 0 : 1]!
      owner.currentKey = key
      assert.equal(owner.getMapState(new MapStateDescriptor<string, number>('m')).get('a'), k)
      assert.deepEqual(owner.getListState(new ListStateDescriptor<number>('l')).get(), [k, -k])
    }
    // And back: canonical savepoints of the two LSM halves into one heap backend.
    const back = new HeapKeyedStateBackend(ALL, 128)
    const handles: KeyedRestore[] = []
    for (const [i, x] of lsms.entries()) {
      const p = await persist(x, barrier(2, join(root, `sp2-${i}`), { type: 'savepoint', format: 'canonical' }))
      handles.push(...restoreFrom(join(root, `sp2-${i}`), p.handle!))
      x.dispose()
    }
    await back.restore(handles, () => fs)
    back.currentKey = 'k321'
    assert.deepEqual(back.getListState(new ListStateDescriptor<number>('l')).get(), [321, -321])
  })
})

describe('LSM canonical savepoints as streams', () => {
  it('cuts a key group into bounded sections; both backends restore them (deletes, timers) at p=1..3', async () => {
    const root = tmp()
    const LIMIT = 7
    const b = new LsmKeyedStateBackend(ALL, 128, join(root, 'w'), { memtableEntries: 300, sectionLimits: { entries: LIMIT, bytes: 1 << 30 } })
    const v = b.getState(new ValueStateDescriptor<number>('v'))
    const l = b.getListState(new ListStateDescriptor<string>('l'))
    // The model: what a savepoint must hold, per state and key.
    const model = new Map<string, Map<number, unknown>>([['v', new Map()], ['l', new Map()]])
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 2000; k++) {
        // Key groups 100.. hold no state (only timers).
        if (keyGroupForKey(k, 128) >= 100) continue
        b.currentKey = k
        if ((k + round) % 5 === 0) {
          v.clear()
          model.get('v')!.delete(k)
        } else {
          v.update(k * 10 + round)
          model.get('v')!.set(k, k * 10 + round)
        }
        if (k % 3 === 0) {
          l.add(`r${round}`)
          model.get('l')!.set(k, [...((model.get('l')!.get(k) as string[] | undefined) ?? []), `r${round}`])
        }
        if ((k & 255) === 0) b.maintain()
      }
      await b.whenIdle()
    }
    // Timers on keys with state and on keys of key groups without state (between and after them).
    const stateless = [...Array(5000).keys()].filter((k) => keyGroupForKey(k, 128) >= 100)
    const timers: [0 | 1, number, number][] = [[0, 5, 1], [1, 6, 4], [0, 7, stateless[0]!], [0, 8, stateless[1]!], [1, 9, stateless[40]!]]
    assert.ok(keyGroupForKey(1, 128) < 100 && keyGroupForKey(4, 128) < 100)
    const br = barrier(9, join(root, 'sp'), { type: 'savepoint', format: 'canonical' })
    const r = await b.snapshot(timers, br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-9` })
    const handle = r.handle as KeyGroupsStateHandle
    // Sections: per key group, ceil(live entries / LIMIT) of them (at least one for its timers), consecutive.
    const perGroup = new Map<number, number>()
    for (const [, m] of model) for (const k of m.keys()) perGroup.set(keyGroupForKey(k, 128), (perGroup.get(keyGroupForKey(k, 128)) ?? 0) + 1)
    for (const [, , k] of timers) if (!perGroup.has(keyGroupForKey(k, 128))) perGroup.set(keyGroupForKey(k, 128), 0)
    const expected = [...perGroup].sort((a, b2) => a[0] - b2[0]).flatMap(([kg, n]) => Array<number>(Math.max(1, Math.ceil(n / LIMIT))).fill(kg))
    assert.deepEqual(handle.keyGroups.map(([kg]) => kg), expected)
    const data = readFileSync(join(root, 'sp', handle.file))
    let at = 0
    for (const [, off, len] of handle.keyGroups) {
      assert.equal(off, at)
      at += len
      const sec = deserialize(data.subarray(off, off + len)) as { s: Record<string, unknown[]> }
      assert.ok(Object.values(sec.s).reduce((n, f) => n + f.length / 2, 0) <= LIMIT)
    }
    assert.equal(at, data.length)
    b.dispose()
    for (const p of [1, 2, 3]) {
      for (const kind of ['heap', 'lsm'] as const) {
        const backends: KeyedStateBackend[] = []
        const restored: unknown[] = []
        for (let i = 0; i < p; i++) {
          const range = keyGroupRangeForSubtask(128, p, i)
          const x = kind === 'heap' ? new HeapKeyedStateBackend(range, 128) : new LsmKeyedStateBackend(range, 128, join(root, `r${p}${i}`))
          restored.push(...await x.restore(restoreFrom(join(root, 'sp'), handle), () => fs))
          backends.push(x)
        }
        assert.deepEqual(restored.map(String).sort(), timers.map(String).sort(), `${kind} p=${p}: timers`)
        for (let k = 0; k < 2000; k++) {
          const x = backends.find((y) => keyGroupForKey(k, 128) >= y.keyGroupRange.start && keyGroupForKey(k, 128) <= y.keyGroupRange.end)!
          x.currentKey = k
          assert.equal(x.getState(new ValueStateDescriptor<number>('v')).value(), model.get('v')!.get(k) ?? null, `${kind} p=${p}: v of ${k}`)
          assert.deepEqual(x.getListState(new ListStateDescriptor<string>('l')).get(), model.get('l')!.get(k) ?? [], `${kind} p=${p}: l of ${k}`)
        }
        for (const x of backends) x.dispose()
      }
    }
  })

  it('also cuts sections by the bytes of their values', async () => {
    const root = tmp()
    const b = new LsmKeyedStateBackend(ALL, 128, join(root, 'w'), { sectionLimits: { entries: 1 << 30, bytes: 64 << 10 } })
    const v = b.getState(new ValueStateDescriptor<string>('big'))
    const m = b.getMapState(new MapStateDescriptor<string, string>('obj'))
    // One key group, 100 string values of 10 KB and 100 map values of 10 KB.
    const keys = [...Array(40_000).keys()].filter((k) => keyGroupForKey(k, 128) === 3).slice(0, 100)
    for (const k of keys) {
      b.currentKey = k
      v.update('x'.repeat(10_000))
      m.put('a', 'y'.repeat(10_000))
    }
    const br = barrier(1, join(root, 'sp'), { type: 'savepoint', format: 'canonical' })
    const r = await b.snapshot([], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-1` })
    const handle = r.handle as KeyGroupsStateHandle
    // 2 MB of values in sections of about 64 KB (each may run over by its last values).
    assert.ok(handle.keyGroups.length >= 20, `${handle.keyGroups.length} sections`)
    for (const [kg, , len] of handle.keyGroups) {
      assert.equal(kg, 3)
      assert.ok(len <= 64 * 1024 + 16 * 20_100, `a section of ${len} bytes`)
    }
    const back = new HeapKeyedStateBackend(ALL, 128)
    await back.restore(restoreFrom(join(root, 'sp'), handle), () => fs)
    for (const k of keys) {
      back.currentKey = k
      assert.equal(back.getState(new ValueStateDescriptor<string>('big')).value()?.length, 10_000)
      assert.equal(back.getMapState(new MapStateDescriptor<string, string>('obj')).get('a')?.length, 10_000)
    }
    b.dispose()
  })
})

class FailOnce extends RichMapFunction<number, number> {
  map(v: number): number {
    if (v === 4000 && this.getRuntimeContext().getAttemptNumber() === 0) throw new Error('injected failure')
    return v
  }
}

describe('LSM backend in a job', () => {
  it('recovers exactly-once from incremental checkpoints', async () => {
    const dir = tmp()
    const run = async (failing: boolean): Promise<string[]> => {
      const out = join(dir, failing ? 'out-failing' : 'out-clean')
      const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set('execution.checkpointing.dir', join(dir, 'cp')).set('execution.checkpointing.externalized-checkpoint-retention', 'RETAIN_ON_CANCELLATION'))
      env.setStateBackend(new EmbeddedRocksDBStateBackend(true))
      env.enableCheckpointing(40, CheckpointingMode.EXACTLY_ONCE)
      env.setRestartStrategy(RestartStrategies.fixedDelayRestart(2, 10))
      env.setParallelism(2)
      let stream = env.fromSource(new DataGeneratorSource((i) => i, 6000, RateLimiterStrategy.perSecond(8000)), WatermarkStrategy.noWatermarks(), 'n').uid('n')
      if (failing) stream = stream.map(new FailOnce()).uid('fail')
      stream.keyBy((v: number) => v % 50).map((v: number) => v).uid('pass')
        .keyBy((v: number) => v % 50).reduce((a: number, b: number) => a + b).uid('sum')
        .map((s: number) => String(s)).sinkTo(FileSink.forRowFormat<string>(out).build()).uid('sink')
      const r = await env.execute('lsm job')
      if (failing) assert.equal(r.restarts, 1)
      return committedLines(out)
    }
    const clean = await run(false)
    const failed = await run(true)
    assert.equal(clean.length, 6000)
    assert.deepEqual(failed, clean)
  })
})
