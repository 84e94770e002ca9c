/**
 * The LSM backend's memtables (lsm/memtable.ts) and their flush: a Memtable against a Map as the
 * model (int32 keys at the boundaries, other numbers, strings, booleans, bigints; number values
 * in the columns, other values and deletions in the Map, keys moving between the two), growth to
 * many keys, and flushes written straight from the columns: the table must hold exactly the
 * model's entries and be byte for byte the table that v8.serialize of entry arrays gives (the
 * format's definition), for several states, names that sort tricky, and names written as arrays.
 * Then the backend itself: every key read back after its memtables were flushed and dropped, and
 * after a restore.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { keyGroupForKey, type StateKey } from '../src/runtime/core/key-groups.js'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { FlushPlan, Memtable, TOMBSTONE, type FlushPart } from '../src/runtime/state/lsm/memtable.js'
import { SstReader, SstWriter, encodeKey, intKeyOrder, writeSst, type SstEntry } from '../src/runtime/state/lsm/sstable.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

const MAXP = 128
const INT_EDGES = [-(2 ** 31), -(2 ** 31) + 1, -1000, -10, -9, -1, 0, 1, 9, 10, 99, 100, 2 ** 31 - 2, 2 ** 31 - 1]
/** Keys the int index must not take (or takes as another key): beyond int32, fractions, -0, strings, booleans, bigints. */
const OTHER_KEYS: StateKey[] = [2 ** 31, -(2 ** 31) - 1, 1.5, -0.25, 2 ** 53, -0, '', '0', '1', 'a', 'ключ', '\ud800', true, false, 5n, -(2n ** 70n)]

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
}

/** A Map normalizes -0 to 0, as the memtable must. */
const norm = (k: StateKey): StateKey => (k === 0 ? 0 : k)

/** The entries a flush of `model` (state name → key → value or TOMBSTONE) must write, sorted as encoded keys. */
function expectedEntries(model: Map<string, Map<StateKey, unknown>>, maxP: number): SstEntry[] {
  const out: SstEntry[] = []
  for (const [name, m] of model) {
    for (const [k, v] of m) {
      const kg = keyGroupForKey(k, maxP)
      out.push(v === TOMBSTONE ? [encodeKey(kg, name, k), kg, name, k, 1, null] : [encodeKey(kg, name, k), kg, name, k, 0, v])
    }
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/** Flushes frozen memtables into one table at `path` as the backend does (a FlushPlan into a writer). */
function flushTo(path: string, parts: FlushPart[], maxP: number): SstReader {
  const plan = new FlushPlan(parts, maxP)
  try {
    for (const _ of plan.prepare()) {
      // the backend yields to processing here
    }
    const w = new SstWriter(path, { level: 0 })
    for (const [, write] of plan.groups()) write(w)
    w.finish()
  } finally {
    plan.release()
  }
  return new SstReader(path)
}

/** Flushes `parts`, checks the table against the model (entries, point reads) and against the reference bytes. */
async function checkFlush(dir: string, parts: FlushPart[], model: Map<string, Map<StateKey, unknown>>, maxP = MAXP): Promise<void> {
  const want = expectedEntries(model, maxP)
  const r = flushTo(join(dir, 'flushed.sst'), parts, maxP)
  try {
    const got = [...r.entries()]
    assert.equal(got.length, want.length)
    for (let i = 0; i < want.length; i++) assert.deepEqual(got[i], want[i], `entry ${i}: ${JSON.stringify(want[i]![0])}`)
    for (const e of want) {
      const hit = r.get(e[0])
      assert.ok(hit !== undefined, `point read of ${JSON.stringify(e[0])}`)
      assert.deepEqual(hit, e)
    }
  } finally {
    r.close()
  }
  // The reference: the same entries as fresh arrays through v8.serialize (SstWriter.add). v8 writes
  // a number as it is represented (an integral double as a double), so numbers are given in their
  // canonical form first: int32 values (not -0) as Smis.
  const canon = (x: unknown): unknown => (typeof x === 'number' && (x | 0) === x && !Object.is(x, -0) ? x | 0 : x)
  await writeSst(join(dir, 'reference.sst'), want.map((e) => [e[0], e[1], e[2], canon(e[3]) as StateKey, e[4], canon(e[5])] as SstEntry))
  assert.ok(readFileSync(join(dir, 'flushed.sst')).equals(readFileSync(join(dir, 'reference.sst'))), 'flushed bytes differ from v8.serialize of the entries')
}

describe('LSM memtable', () => {
  it('orders int32 keys as their encoded forms compare (intKeyOrder)', () => {
    const r = rng(3)
    const keys = [...INT_EDGES]
    for (let i = 0; i < 5000; i++) keys.push((r(2 ** 32) | 0) >> r(31))
    const byOrder = [...new Set(keys)].sort((a, b) => intKeyOrder(a) - intKeyOrder(b)).map(String)
    const byString = [...new Set(keys)].map(String).sort()
    assert.deepEqual(byOrder, byString)
    assert.ok(intKeyOrder(-(2 ** 31)) < 2 ** 41 && intKeyOrder(2 ** 31 - 1) < 2 ** 41)
  })

  it('agrees with a Map over random sets and deletes of every kind of key and value, and flushes exactly its entries', async () => {
    const r = rng(11)
    const pool: StateKey[] = [...INT_EDGES, ...OTHER_KEYS]
    for (let i = 0; i < 300; i++) pool.push(r(4000) - 2000)
    const values = (): unknown => {
      switch (r(9)) {
        case 0: return r(1000)
        case 1: return -r(1000)
        case 2: return r(1000) / 8
        case 3: return -0
        case 4: return 2 ** 40 + r(10)
        case 5: return `s${r(100)}`
        case 6: return { n: r(100) }
        case 7: return [r(10), 'x']
        default: return TOMBSTONE
      }
    }
    const mem = new Memtable(MAXP)
    const model = new Map<StateKey, unknown>()
    for (let step = 0; step < 20_000; step++) {
      const k = pool[r(pool.length)]!
      const v = values()
      mem.set(k, v)
      model.set(norm(k), v)
      if (step % 997 === 0) for (const q of pool) assert.deepEqual(mem.get(q), model.get(norm(q)), `step ${step}, key ${String(q)}`)
    }
    for (const q of pool) assert.deepEqual(mem.get(q), model.get(norm(q)), `key ${String(q)}`)
    assert.equal(mem.get(123_456), undefined)
    assert.equal(mem.size, model.size)
    // Every key once (a key in both stores would show twice), with the model's value.
    const seen = new Map<StateKey, unknown>()
    for (const [k, v] of mem.entries()) {
      assert.equal(seen.has(norm(k)), false, `key ${String(k)} held twice`)
      seen.set(norm(k), v)
    }
    assert.deepEqual(seen, model)
    assert.ok(mem.columnEntries > 0 && mem.columnEntries < mem.size, 'both stores in use')
    await checkFlush(tmp(), [{ name: 'count', mem }], new Map([['count', model]]))
  })

  it('grows to many keys; deletes then re-inserts move keys between the stores; a flush writes them all', async () => {
    const mem = new Memtable(MAXP)
    const model = new Map<StateKey, unknown>()
    const N = 200_000
    for (let i = 0; i < N; i++) {
      // Spread over the whole int32 range, and dense near zero; some values fractions or beyond int32.
      const k = i % 2 === 0 ? i - N / 2 : Math.imul(i, 0x9e3779b1)
      const v = i % 5 === 0 ? i + 0.5 : i % 7 === 0 ? 2 ** 33 + i : i % 11 === 0 ? -i : i
      mem.set(k, v)
      model.set(norm(k), v)
    }
    for (const k of INT_EDGES) {
      mem.set(k, k / 2)
      model.set(norm(k), k / 2)
    }
    // Numbers only: every entry goes the direct way.
    await checkFlush(tmp(), [{ name: 'count', mem }], new Map([['count', model]]))
    const keys = [...model.keys()]
    for (let i = 0; i < keys.length; i += 3) {
      mem.set(keys[i]!, TOMBSTONE)
      model.set(keys[i]!, TOMBSTONE)
    }
    for (let i = 0; i < keys.length; i += 9) {
      mem.set(keys[i]!, -i)
      model.set(keys[i]!, -i)
    }
    assert.equal(mem.size, model.size)
    for (const k of keys) assert.deepEqual(mem.get(k), model.get(k), `key ${String(k)}`)
    await checkFlush(tmp(), [{ name: 'count', mem }], new Map([['count', model]]))
  })

  it('flushes key groups of tens of thousands of keys (a small max parallelism)', async () => {
    for (const maxP of [1, 3]) {
      const mem = new Memtable(maxP)
      const model = new Map<StateKey, unknown>()
      for (let i = 0; i < 30_000; i++) {
        const k = Math.imul(i, 0x9e3779b1)
        mem.set(k, i)
        model.set(norm(k), i)
      }
      await checkFlush(tmp(), [{ name: 'count', mem }], new Map([['count', model]]), maxP)
    }
  })

  it('flushes several states in encoded-key order: names that prefix each other, Latin-1, non-Latin-1 and NUL names', async () => {
    for (const names of [['a', 'ab', 'a b', 'b', 'é-state'], ['ключ', 'a', 'z'], ['x\u0000y', 'x\u0000a', 'x', 'xy']]) {
      const r = rng(names.length)
      const model = new Map<string, Map<StateKey, unknown>>()
      const parts: FlushPart[] = []
      for (const name of names) {
        const mem = new Memtable(MAXP)
        const m = new Map<StateKey, unknown>()
        for (let i = 0; i < 3000; i++) {
          const k: StateKey = r(5) === 0 ? `k${r(500)}` : r(2 ** 32) | 0
          const v = r(7) === 0 ? TOMBSTONE : r(7) === 1 ? { i } : r(3) === 0 ? i + 0.5 : i
          mem.set(k, v)
          m.set(k, v)
        }
        for (const k of INT_EDGES) {
          mem.set(k, k)
          m.set(k, k)
        }
        model.set(name, m)
        parts.push({ name, mem })
      }
      await checkFlush(tmp(), parts, model)
    }
  })

  it('charges number entries in the columns to the write buffer: counts flush on the budget, without a checkpoint', async () => {
    const budget = 16 << 20
    const b = new LsmKeyedStateBackend({ start: 0, end: MAXP - 1 }, MAXP, join(tmp(), 'work'), { memoryBytes: budget })
    const v = b.getState(new ValueStateDescriptor<number>('count'))
    let peak = 0
    const KEYS = 600_000
    for (let k = 0; k < KEYS; k++) {
      b.currentKey = k
      v.update(k)
      if (k % 256 === 255) {
        b.maintain()
        peak = Math.max(peak, b.memtableBytes)
        await new Promise((r) => setImmediate(r))
      }
    }
    await b.whenIdle()
    // At least NUMERIC_ENTRY_CHARGE (96) bytes an entry (the columns hold ~40: 23 in the columns,
    // 8-16 in the int index's table): 600 k entries are ~58 MB, seven times the 8 MB write buffer;
    // the active memtable flushes at 4 MB and overshoots by at most what one batch adds.
    assert.ok(b.budgetFlushes >= 7, `budget flushes: ${b.budgetFlushes}`)
    // The minimum charge, on a memtable that holds less.
    const c = new LsmKeyedStateBackend({ start: 0, end: MAXP - 1 }, MAXP, join(tmp(), 'work'), { memoryBytes: 256 << 20 })
    const w = c.getState(new ValueStateDescriptor<number>('count'))
    for (let k = 0; k < 50_000; k++) {
      c.currentKey = k
      w.update(k)
    }
    assert.ok(c.memtableBytes >= 50_000 * 96, `charged ${c.memtableBytes} for 50 000 entries`)
    c.dispose()
    assert.ok(peak >= (budget / 4) * 0.5 && peak <= budget / 4 + (3 << 20), `memtable peak ${peak} of ${budget / 4}`)
    for (let k = 0; k < KEYS; k += 7) {
      b.currentKey = k
      assert.equal(v.value(), k)
    }
    b.dispose()
  })

  it('the backend reads every key back after its memtables were flushed and dropped, and after a restore into both backends', async () => {
    const root = tmp()
    const b = new LsmKeyedStateBackend({ start: 0, end: MAXP - 1 }, MAXP, join(root, 'work'), { memtableEntries: 2000, compactionThread: false, memoryBytes: 4 << 20 })
    const D = new ValueStateDescriptor<unknown>('v')
    const v = b.getState(D)
    const model = new Map<StateKey, unknown>()
    const r = rng(5)
    const keys: StateKey[] = [...INT_EDGES, ...OTHER_KEYS.filter((k) => typeof k !== 'boolean')]
    for (let i = 0; i < 20_000; i++) keys.push(Math.imul(i, 0x9e3779b1) >> r(20))
    const write = (k: StateKey, x: unknown): void => {
      b.currentKey = k
      v.update(x)
      model.set(norm(k), x === null ? undefined : x)
    }
    for (let round = 0; round < 3; round++) {
      for (const k of keys) {
        const p = r(10)
        write(k, p === 0 ? null : p === 1 ? `s${round}` : p === 2 ? round + 0.5 : round * 1000 + r(1000))
        b.maintain()
      }
      await b.whenIdle()
    }
    assert.ok(b.levels.l0 + b.levels.l1 > 4, 'flushed to tables')
    const check = async (backend: LsmKeyedStateBackend | HeapKeyedStateBackend, what: string): Promise<void> => {
      const s = backend.getState(D)
      for (const k of keys) {
        backend.currentKey = k
        assert.deepEqual(s.value() ?? undefined, model.get(norm(k)), `${what}: key ${String(k)}`)
      }
    }
    await check(b, 'after flushes')
    const location = join(root, 'chk-1')
    const barrier: CheckpointBarrier = { id: 1 as never, timestamp: 1, type: 'checkpoint', format: 'native', location, incremental: false }
    const storage = new FsStorage()
    let files = 0
    const persisted = await b.snapshot([], barrier).persist({ location, storage, fileName: (k) => `${k}-${files++}` })
    b.dispose()
    // Restores check every file against its reference (size, checksum), as from `_metadata`.
    const listed = new Map(persisted.files.map((f) => [join(location, f.path), f]))
    const handles = [{ checkpointDir: location, location, handle: persisted.handle!, files: listed }]
    const lsm = new LsmKeyedStateBackend({ start: 0, end: MAXP - 1 }, MAXP, join(root, 'work2'), { compactionThread: false })
    await lsm.restore(handles, () => storage)
    await check(lsm, 'restored into the LSM backend')
    lsm.dispose()
    const heap = new HeapKeyedStateBackend({ start: 0, end: MAXP - 1 }, MAXP)
    await heap.restore(handles, () => storage)
    await check(heap, 'restored into the hashmap backend')
  })
})
