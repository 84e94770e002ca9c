/**
 * Keyed state backends (hashmap and the embedded LSM) behind one interface: the state objects
 * (Value, List, Map, Reducing) agree with a model through random operations, and every snapshot,
 * taken while processing goes on, restores into either backend at parallelism 1 to 3 (key groups
 * move); deletions survive a round trip; every state file written carries a checksum and a corrupt
 * one fails the restore, naming the file.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor, ValueStateDescriptor, type ValueState } from '../src/runtime/core/state.js'
import type { KeyedStateHandle } from '../src/runtime/checkpoint/metadata.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import type { KeyedRestore } from '../src/runtime/checkpoint/state-assignment.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { SectionEncoder } from '../src/runtime/state/encoder-pool.js'
import { keyGroupForKey, keyGroupRangeForSubtask, type KeyGroupRange } from '../src/runtime/core/key-groups.js'
import type { KeyedStateBackend } from '../src/runtime/state/keyed-backend.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { StateError } from '../src/runtime/errors.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

const fs = new FsStorage()
const MAXP = 128
const ALL: KeyGroupRange = { start: 0, end: MAXP - 1 }

type BackendName = 'hashmap' | 'lsm'
const BACKENDS: BackendName[] = ['hashmap', 'lsm']

function create(kind: BackendName, range: KeyGroupRange, work: string): KeyedStateBackend {
  return kind === 'hashmap' ? new HeapKeyedStateBackend(range, MAXP) : new LsmKeyedStateBackend(range, MAXP, work)
}

const barrier = (id: number, location: string, opts: Partial<CheckpointBarrier> = {}): CheckpointBarrier =>
  ({ id: id as never, timestamp: id, type: 'checkpoint', format: 'native', location, incremental: true, ...opts })

async function persist(b: KeyedStateBackend, br: CheckpointBarrier): Promise<KeyedRestore[]> {
  const r = await b.snapshot([], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-${br.id}-${Math.random().toString(16).slice(2)}` })
  return handles(br.location, r.handle)
}

const handles = (dir: string, h: KeyedStateHandle | undefined): KeyedRestore[] =>
  h === undefined ? [] : [{ checkpointDir: dir, location: 'file' in h ? join(dir, h.file) : dir, handle: h }]

/** Restores `from` into `parallelism` fresh backends of `kind`; returns them by subtask. */
async function restoreInto(kind: BackendName, parallelism: number, from: KeyedRestore[], work: string): Promise<KeyedStateBackend[]> {
  const out: KeyedStateBackend[] = []
  for (let i = 0; i < parallelism; i++) {
    const range = keyGroupRangeForSubtask(MAXP, parallelism, i)
    const b = create(kind, range, join(work, `restore-${kind}-${parallelism}-${i}`))
    const mine = from.filter((k) => !(k.handle.keyGroupRange[1] < range.start || k.handle.keyGroupRange[0] > range.end))
    await b.restore(mine, () => fs)
    out.push(b)
  }
  return out
}

const owner = (bs: KeyedStateBackend[], key: string | number): KeyedStateBackend => {
  const kg = keyGroupForKey(key, MAXP)
  return bs.find((b) => kg >= b.keyGroupRange.start && kg <= b.keyGroupRange.end)!
}

describe('keyed backends: deleted state stays deleted on restore', () => {
  const sources: [BackendName, boolean][] = [['hashmap', false], ['lsm', true], ['lsm', false]]
  for (const [source, incremental] of sources) {
    for (const target of BACKENDS) {
      for (const parallelism of [1, 2, 3]) {
        it(`${source}${source === 'lsm' ? (incremental ? ' incremental' : ' full') : ''} → ${target} at p=${parallelism}`, async () => {
          const root = tmp()
          const b = create(source, ALL, join(root, 'work'))
          const v = b.getState(new ValueStateDescriptor<string>('v'))
          const m = b.getMapState(new MapStateDescriptor<string, number>('m'))
          const l = b.getListState(new ListStateDescriptor<number>('l'))
          const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`)
          for (const k of keys) {
            b.currentKey = k
            v.update(`value-${k}`)
            m.put('a', 1)
            l.add(1)
          }
          await persist(b, barrier(1, join(root, 'job', 'chk-1'), { incremental }))
          // Delete the state of every even key (each state kind its own way), keep the odd ones.
          for (const [i, k] of keys.entries()) {
            if (i % 2 !== 0) continue
            b.currentKey = k
            v.clear()
            m.remove('a')
            l.update([])
          }
          const chk2 = await persist(b, barrier(2, join(root, 'job', 'chk-2'), { incremental }))
          b.dispose()
          const restored = await restoreInto(target, parallelism, chk2, root)
          for (const [i, k] of keys.entries()) {
            const r = owner(restored, k)
            r.currentKey = k
            const deleted = i % 2 === 0
            assert.equal(r.getState(new ValueStateDescriptor<string>('v')).value(), deleted ? null : `value-${k}`, `value of ${k}`)
            assert.equal(r.getMapState(new MapStateDescriptor<string, number>('m')).contains('a'), !deleted, `map of ${k}`)
            assert.deepEqual(r.getListState(new ListStateDescriptor<number>('l')).get(), deleted ? [] : [1], `list of ${k}`)
          }
          for (const r of restored) r.dispose()
        })
      }
    }
  }

  it('a deleted key stays deleted through a rescale from p=2 to p=1 and p=3 (LSM, incremental)', async () => {
    const root = tmp()
    const halves = [0, 1].map((i) => new LsmKeyedStateBackend(keyGroupRangeForSubtask(MAXP, 2, i), MAXP, join(root, `w${i}`)))
    const keys = Array.from({ length: 60 }, (_, i) => i)
    for (const k of keys) {
      const b = owner(halves, k)
      b.currentKey = k
      b.getState(new ValueStateDescriptor<number>('v')).update(k)
    }
    for (const [i, b] of halves.entries()) await persist(b, barrier(1, join(root, 'job', `chk-1-${i}`)))
    for (const k of keys) {
      if (k % 3 !== 0) continue
      const b = owner(halves, k)
      b.currentKey = k
      b.getState(new ValueStateDescriptor<number>('v')).clear()
    }
    const chk2: KeyedRestore[] = []
    for (const [i, b] of halves.entries()) chk2.push(...(await persist(b, barrier(2, join(root, 'job', `chk-2-${i}`)))))
    for (const b of halves) b.dispose()
    for (const [target, p] of [['lsm', 1], ['lsm', 3], ['hashmap', 1], ['hashmap', 3], ['lsm', 2]] as const) {
      const restored = await restoreInto(target, p, chk2, root)
      for (const k of keys) {
        const r = owner(restored, k)
        r.currentKey = k
        assert.equal(r.getState(new ValueStateDescriptor<number>('v')).value(), k % 3 === 0 ? null : k, `${target} p=${p} key ${k}`)
      }
      for (const r of restored) r.dispose()
    }
  })
})

describe('keyed backends: restore checks every state file against its checksum', () => {
  /** Snapshot of a backend with a little state and a timer; the handle carries the checkpoint's file list. */
  async function snapshotWithFiles(kind: BackendName, root: string, opts: Partial<CheckpointBarrier>): Promise<{ restore: KeyedRestore[]; files: string[] }> {
    const b = create(kind, ALL, join(root, 'work'))
    const v = b.getState(new ValueStateDescriptor<number>('v'))
    for (let k = 0; k < 50; k++) {
      b.currentKey = k
      v.update(k)
    }
    const br = barrier(1, join(root, 'job', 'chk-1'), opts)
    const r = await b.snapshot([[0, 1000, 7]], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-1` })
    b.dispose()
    const files = new Map(r.files.map((f) => [join(br.location, f.path), f]))
    assert.ok(r.files.every((f) => /^crc32:[0-9a-f]{8}$/.test(f.checksum ?? '')), 'every file written has a checksum')
    return { restore: handles(br.location, r.handle).map((h) => ({ ...h, files })), files: [...files.keys()] }
  }

  const cases: [string, BackendName, Partial<CheckpointBarrier>][] = [
    ['hashmap sections', 'hashmap', {}],
    ['LSM incremental tables and timers', 'lsm', { incremental: true }],
    ['LSM full tables and timers', 'lsm', { incremental: false }],
    ['LSM canonical savepoint', 'lsm', { type: 'savepoint', format: 'canonical' }],
  ]
  for (const [name, kind, opts] of cases) {
    for (const target of BACKENDS) {
      for (const parallelism of [1, 2]) {
        it(`${name} → ${target} at p=${parallelism}: a state file overwritten with other bytes of the same size fails the restore, naming it`, async () => {
          const root = tmp()
          const { restore, files } = await snapshotWithFiles(kind, root, opts)
          // Intact: restores.
          for (const r of await restoreInto(target, parallelism, restore, join(root, 'ok'))) r.dispose()
          for (const file of files) {
            const original = readFileSync(file)
            const evil = Buffer.from(original)
            evil[evil.length >> 1] = evil[evil.length >> 1]! ^ 0x5a
            writeFileSync(file, evil)
            await assert.rejects(restoreInto(target, parallelism, restore, join(root, 'bad')), (e: unknown) => {
              assert.ok(e instanceof StateError, String(e))
              assert.match(e.message, new RegExp(`State file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt: content does not match its checksum`))
              return true
            })
            writeFileSync(file, original)
          }
        })
      }
    }
  }

  it('a file the handle names but _metadata does not list fails the restore', async () => {
    const root = tmp()
    const { restore } = await snapshotWithFiles('hashmap', root, {})
    const unlisted = restore.map((k) => ({ ...k, files: new Map() }))
    await assert.rejects(restoreInto('hashmap', 1, unlisted, root), /is not listed in the checkpoint's _metadata/)
  })
})

describe('keyed backends: the state objects against a model', () => {
  const VAL = new ValueStateDescriptor<number>('value')
  const LIST = new ListStateDescriptor<number>('list')
  const MAP = new MapStateDescriptor<string, number>('map')
  /** Not commutative: the order of reduction shows. */
  const reduce = (a: number, b: number): number => (a * 31 + b) % 1_000_003
  const RED = new ReducingStateDescriptor<number>('sum', reduce)

  /** Every third key is a string (with a non-ASCII letter), the others numbers. */
  const keyOf = (k: number): string | number => (k % 3 === 0 ? `k${k}-ü` : k)

  interface Model { v: Map<number, number | string>; l: Map<number, number[]>; m: Map<number, Map<string, number>>; r: Map<number, number> }
  const copyModel = (x: Model): Model => ({
    v: new Map(x.v), l: new Map([...x.l].map(([k, a]) => [k, [...a]])), m: new Map([...x.m].map(([k, a]) => [k, new Map(a)])), r: new Map(x.r),
  })

  /** Every state of every key equals the model. */
  function assertState(bs: KeyedStateBackend[], model: Model, keys: number, what: string): void {
    for (let k = 0; k < keys; k++) {
      const b = owner(bs, keyOf(k))
      b.currentKey = keyOf(k)
      assert.equal(b.getState(VAL).value(), model.v.get(k) ?? null, `${what}: value of ${k}`)
      assert.deepEqual(b.getListState(LIST).get(), model.l.get(k) ?? [], `${what}: list of ${k}`)
      const mm = b.getMapState(MAP)
      const expected = model.m.get(k) ?? new Map<string, number>()
      assert.deepEqual(new Map(mm.entries()), expected, `${what}: map of ${k}`)
      assert.deepEqual([...mm.keys()].sort(), [...expected.keys()].sort())
      assert.deepEqual([...mm.values()].sort(), [...expected.values()].sort())
      assert.equal(mm.isEmpty(), expected.size === 0)
      assert.equal(b.getReducingState(RED).get(), model.r.get(k) ?? null, `${what}: sum of ${k}`)
    }
  }

  // 'hashmap, encoder thread': every snapshot's numeric entries are encoded on the encoder thread.
  for (const kind of [...BACKENDS, 'hashmap, encoder thread'] as const) {
    it(`${kind}: random operations agree with the model; every snapshot restores into both backends at p=1..3`, async () => {
      const seed0 = Number(process.env.TSFLINK_SEED ?? 4242)
      let seed = seed0
      const rnd = (n: number): number => {
        seed = (seed + 0x6d2b79f5) | 0
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) % n
      }
      const KEYS = 150
      const root = tmp()
      const encoder = new SectionEncoder(0)
      const b = kind === 'hashmap' ? new HeapKeyedStateBackend(ALL, MAXP)
        : kind === 'lsm' ? new LsmKeyedStateBackend(ALL, MAXP, join(root, 'work'), { memtableEntries: 300, targetFileBytes: 4096 })
          : new HeapKeyedStateBackend(ALL, MAXP, { encoder })
      const model: Model = { v: new Map(), l: new Map(), m: new Map(), r: new Map() }
      const snaps: { restore: KeyedRestore[]; model: Model }[] = []
      const persists: Promise<void>[] = []
      // A new name per call, as the runtime's stateFileName gives: a file must be referenced by the name it was written under.
      let names = 0
      const later = new Map<number, () => void>()
      const ctx = `seed ${seed0}`
      for (let step = 1; step <= 6000; step++) {
        const k = rnd(KEYS)
        b.currentKey = keyOf(k)
        const v = b.getState(VAL)
        const l = b.getListState(LIST)
        const m = b.getMapState(MAP)
        const r = b.getReducingState(RED)
        switch (rnd(15)) {
          case 0: v.update(step); model.v.set(k, step); break
          case 1: v.update(rnd(2) === 0 ? null : undefined); model.v.delete(k); break
          case 2: v.clear(); model.v.delete(k); break
          case 3: l.add(step); model.l.set(k, [...(model.l.get(k) ?? []), step]); break
          case 4: l.addAll([step, -step]); model.l.set(k, [...(model.l.get(k) ?? []), step, -step]); break
          case 5: {
            const vs = rnd(3) === 0 ? [] : [step]
            l.update(vs)
            if (vs.length === 0) model.l.delete(k)
            else model.l.set(k, vs)
            break
          }
          case 6: l.clear(); model.l.delete(k); break
          case 7: {
            const mk = `k${rnd(4)}`
            m.put(mk, step)
            model.m.set(k, new Map(model.m.get(k) ?? []).set(mk, step))
            break
          }
          case 8: {
            const entries: [string, number][] = [[`k${rnd(4)}`, step], [`k${rnd(4)}`, -step]]
            m.putAll(entries)
            const mm = new Map(model.m.get(k) ?? [])
            for (const [a, x] of entries) mm.set(a, x)
            model.m.set(k, mm)
            break
          }
          case 9: {
            const mk = `k${rnd(4)}`
            m.remove(mk)
            const mm = new Map(model.m.get(k) ?? [])
            mm.delete(mk)
            if (mm.size === 0) model.m.delete(k)
            else model.m.set(k, mm)
            break
          }
          case 10: m.clear(); model.m.delete(k); break
          case 11: {
            r.add(step % 7)
            const cur = model.r.get(k)
            model.r.set(k, cur === undefined ? step % 7 : reduce(cur, step % 7))
            break
          }
          case 12: r.clear(); model.r.delete(k); break
          case 13: {
            // A value that is not a number, in a state that mostly holds numbers.
            ;(v as unknown as ValueState<string>).update(`s${step}`)
            model.v.set(k, `s${step}`)
            break
          }
          default: {
            // Reads return copies: changing them changes nothing.
            l.get().push(99)
            const got = v.value()
            assert.equal(got, model.v.get(k) ?? null, `${ctx}: value of ${k} at step ${step}`)
          }
        }
        if (step % 250 === 0) b.maintain()
        if (step % 1000 === 0) {
          // The synchronous half now; the asynchronous half 300 operations later, as a slow disk
          // would have it: the snapshot must not see what happened in between.
          const id = step
          const dir = join(root, 'job', `chk-${id}`)
          const job = b.snapshot([], barrier(id, dir))
          const snap = { restore: [] as KeyedRestore[], model: copyModel(model) }
          snaps.push(snap)
          later.set(step + 300, () => persists.push(job.persist({ location: dir, storage: fs, fileName: (x) => `${x}-${id}-${++names}` }).then((res) => {
            const files = new Map(res.files.map((f) => [join(dir, f.path), f]))
            snap.restore = handles(dir, res.handle).map((h) => ({ ...h, files }))
            b.notifyCheckpointComplete(id)
          })))
        }
        later.get(step)?.()
        if (step % 100 === 0) await new Promise((res) => setImmediate(res))
      }
      for (const [at, persist] of later) if (at > 6000) persist()
      await Promise.all(persists)
      assertState([b], model, KEYS, `${ctx}: live ${kind}`)
      for (const [i, s] of snaps.entries()) {
        for (const target of BACKENDS) {
          for (const p of [1, 2, 3]) {
            const restored = await restoreInto(target, p, s.restore, join(root, `r${i}`))
            assertState(restored, s.model, KEYS, `${ctx}: snapshot ${i + 1} of ${kind} restored into ${target} at p=${p}`)
            for (const x of restored) x.dispose()
          }
        }
      }
      b.dispose()
      await encoder.close()
    })
  }

  for (const kind of BACKENDS) {
    it(`${kind}: an object changed after a snapshot is not changed in that snapshot`, async () => {
      const root = tmp()
      const b = create(kind, ALL, join(root, 'work'))
      const d = new ValueStateDescriptor<{ n: number; tags: string[] }>('obj')
      const l = new ListStateDescriptor<{ n: number }>('objs')
      b.currentKey = 'k'
      b.getState(d).update({ n: 1, tags: ['a'] })
      b.getListState(l).add({ n: 1 })
      const dir = join(root, 'chk-1')
      const job = b.snapshot([], barrier(1, dir))
      const o = b.getState(d).value()!
      o.n = 2
      o.tags.push('b')
      b.getState(d).update(o)
      b.getListState(l).add({ n: 2 })
      const r = await job.persist({ location: dir, storage: fs, fileName: (x) => `${x}-1` })
      const [restored] = await restoreInto(kind, 1, handles(dir, r.handle), root)
      restored!.currentKey = 'k'
      assert.deepEqual(restored!.getState(d).value(), { n: 1, tags: ['a'] })
      assert.deepEqual(restored!.getListState(l).get(), [{ n: 1 }])
      b.currentKey = 'k'
      assert.deepEqual(b.getState(d).value(), { n: 2, tags: ['a', 'b'] })
      restored!.dispose()
      b.dispose()
    })

    it(`${kind}: defaults, and one kind per state name`, () => {
      const b = create(kind, ALL, join(tmp(), 'work'))
      b.currentKey = 1
      assert.equal(b.getState(new ValueStateDescriptor<number>('d', 5)).value(), 5)
      b.getState(new ValueStateDescriptor<number>('d', 5)).update(6)
      assert.equal(b.getState(new ValueStateDescriptor<number>('d', 5)).value(), 6)
      assert.throws(() => b.getListState(new ListStateDescriptor<number>('d')), /State 'd' is registered as value state and cannot be used as list state/)
      assert.equal(b.getReducingState(new ReducingStateDescriptor<number>('r', (x, y) => x * y)).get(), null)
      const m = b.getMapState(new MapStateDescriptor<string, number>('m'))
      assert.equal(m.get('x'), undefined)
      assert.equal(m.contains('x'), false)
      m.remove('x')
      assert.equal(m.isEmpty(), true)
      b.dispose()
    })
  }
})
