/**
 * StateTable: O(1) snapshots over copy-on-write layers, folding back in bounded chunks, tombstones,
 * copy on update-read; a random history against a plain Map at every snapshot.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StateTable } from '../src/runtime/state/state-table.js'

const view = <V>(s: { entries(): Iterable<[unknown, V]> }): Map<unknown, V> => new Map(s.entries())

describe('StateTable', () => {
  it('a snapshot sees the state at snapshot time while writes go on', () => {
    const t = new StateTable<number>()
    for (let i = 0; i < 100; i++) t.put(i, i)
    const s = t.snapshot()
    t.put(1, 1000)
    t.remove(2)
    t.put(500, 5)
    assert.equal(t.get(1), 1000)
    assert.equal(t.get(2), undefined)
    const seen = view(s)
    assert.equal(seen.size, 100)
    assert.equal(seen.get(1), 1)
    assert.equal(seen.get(2), 2)
    assert.equal(seen.has(500), false)
    s.release()
  })

  it('overlapping snapshots each see their own moment', () => {
    const t = new StateTable<string>()
    t.put('a', 'a1')
    const s1 = t.snapshot()
    t.put('a', 'a2')
    t.put('b', 'b2')
    const s2 = t.snapshot()
    t.remove('a')
    assert.deepEqual([...view(s1)], [['a', 'a1']])
    assert.deepEqual(view(s2), new Map([['a', 'a2'], ['b', 'b2']]))
    assert.equal(t.get('a'), undefined)
    s1.release()
    s2.release()
    while (t.maintain(1)) { /* fold a little at a time */ }
    assert.equal(t.layerCount, 1)
    assert.equal(t.get('a'), undefined)
    assert.equal(t.get('b'), 'b2')
  })

  it('folds layers back once released, keeping every value', () => {
    const t = new StateTable<number>()
    for (let i = 0; i < 1000; i++) t.put(i, i)
    const s = t.snapshot()
    for (let i = 0; i < 1000; i += 2) t.put(i, -i)
    for (let i = 1; i < 1000; i += 4) t.remove(i)
    assert.equal(t.maintain(), false, 'a pinned layer is not folded')
    s.release()
    let rounds = 0
    while (t.maintain(100)) rounds++
    assert.ok(rounds > 0, 'maintain() folded in more than one call')
    assert.equal(t.layerCount, 1)
    for (let i = 0; i < 1000; i++) {
      const expected = i % 2 === 0 ? -i : i % 4 === 1 ? undefined : i
      assert.equal(t.get(i), expected)
    }
  })

  it('copies object values on update-read so in-place mutation cannot reach a snapshot', () => {
    const t = new StateTable<{ n: number }>()
    t.put('k', { n: 1 })
    const s = t.snapshot()
    const v = t.getForUpdate('k', structuredClone)!
    v.n = 99
    assert.equal(view(s).get('k')!.n, 1)
    assert.equal(t.get('k')!.n, 99)
  })

  it('a random history agrees with a plain Map at every snapshot', () => {
    let seed = 7
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n)
    const t = new StateTable<number>()
    const model = new Map<number, number>()
    const open: { snap: ReturnType<StateTable<number>['snapshot']>; expect: Map<number, number> }[] = []
    for (let step = 0; step < 20_000; step++) {
      const op = rnd(100)
      const k = rnd(300)
      if (op < 60) { t.put(k, step); model.set(k, step) }
      else if (op < 75) { t.remove(k); model.delete(k) }
      else if (op < 77) open.push({ snap: t.snapshot(), expect: new Map(model) })
      else if (op < 80 && open.length > 0) {
        const o = open.splice(rnd(open.length), 1)[0]!
        assert.deepEqual(view(o.snap), o.expect)
        o.snap.release()
      } else t.maintain(rnd(50) + 1)
      if (step % 1000 === 0) for (const [mk, mv] of model) assert.equal(t.get(mk), mv)
    }
    for (const o of open) assert.deepEqual(view(o.snap), o.expect)
  })

  it('folds every released layer in one call when the budget allows', () => {
    const t = new StateTable<number>()
    t.put(1, 1)
    const s1 = t.snapshot()
    t.put(2, 2)
    const s2 = t.snapshot()
    t.put(3, 3)
    assert.equal(t.layerCount, 3)
    s1.release()
    s2.release()
    assert.equal(t.maintain(100), false)
    assert.equal(t.layerCount, 1)
    assert.deepEqual([1, 2, 3].map((k) => t.get(k)), [1, 2, 3])
  })

  it('folds at most the budget per call', () => {
    const t = new StateTable<number>()
    const s = t.snapshot()
    t.put(1, 1)
    t.put(2, 2)
    s.release()
    assert.equal(t.maintain(1), true)
    assert.equal(t.layerCount, 2)
    assert.equal(t.maintain(1), false)
    assert.equal(t.layerCount, 1)
    assert.equal(t.maintain(1), false)
  })

  it('a pinned layer is never folded into', () => {
    const t = new StateTable<number>()
    t.put(1, 1)
    const s = t.snapshot()
    t.put(1, 2)
    assert.equal(t.maintain(100), false)
    assert.equal(t.layerCount, 2)
    assert.deepEqual([...s.entries()], [[1, 1]])
    s.release()
    assert.equal(t.maintain(100), false)
    assert.equal(t.layerCount, 1)
  })

  it('tombstones do not accumulate: folded into the bottom, a deleted key takes no room', () => {
    const t = new StateTable<number>()
    for (let i = 0; i < 10; i++) t.put(i, i)
    const s = t.snapshot()
    for (let i = 0; i < 10; i += 2) t.remove(i)
    assert.equal(t.sizeHint, 15, 'ten entries and five tombstones')
    s.release()
    t.maintain()
    assert.equal(t.sizeHint, 5)
    // Without a snapshot, a delete removes at once.
    t.remove(1)
    assert.equal(t.sizeHint, 4)
  })

  it('a tombstone between two pinned layers keeps hiding the older value', () => {
    const t = new StateTable<number>()
    t.put(1, 1)
    const s1 = t.snapshot()
    t.remove(1)
    const s2 = t.snapshot()
    t.put(2, 2)
    assert.equal(t.get(1), undefined, 'the tombstone in a lower layer hides the value below it')
    assert.equal(t.getForUpdate(1, (x) => x), undefined)
    s2.release()
    t.maintain()
    assert.equal(t.get(1), undefined)
    assert.deepEqual([...s1.entries()], [[1, 1]])
    s1.release()
    t.maintain()
    assert.equal(t.get(1), undefined)
    assert.equal(t.sizeHint, 1)
  })

  it('getForUpdate: absent, deleted after a snapshot, primitives and null are returned without a copy', () => {
    const t = new StateTable<unknown>()
    let copies = 0
    const copy = (v: unknown): unknown => (copies++, structuredClone(v))
    assert.equal(t.getForUpdate('none', copy), undefined)
    t.put('n', 5)
    t.put('z', null)
    t.put('o', { a: 1 })
    t.put('gone', { b: 1 })
    const s = t.snapshot()
    t.remove('gone')
    assert.equal(t.getForUpdate('gone', copy), undefined)
    assert.equal(t.getForUpdate('none', copy), undefined)
    assert.equal(t.getForUpdate('n', copy), 5)
    assert.equal(t.getForUpdate('z', copy), null)
    assert.equal(copies, 0)
    const o = t.getForUpdate('o', copy) as { a: number }
    assert.equal(copies, 1)
    assert.equal(t.getForUpdate('o', copy), o, 'copied once, then updated in place')
    assert.equal(copies, 1)
    s.release()
  })

  it('a snapshot with nothing new since the last pins the same layers; releasing one twice releases once', () => {
    const t = new StateTable<number>()
    t.put(1, 1)
    const s1 = t.snapshot()
    const s2 = t.snapshot()
    assert.equal(t.layerCount, 2, 'an empty top layer is not stacked again')
    s1.release()
    s1.release()
    t.put(1, 100)
    t.maintain()
    assert.deepEqual([...s2.entries()], [[1, 1]], 's2 still pins the layer s1 released')
    s2.release()
    t.maintain()
    assert.equal(t.layerCount, 1)
    assert.equal(t.get(1), 100)
  })

  it('a first snapshot of an empty table still stacks a layer', () => {
    const t = new StateTable<number>()
    const s = t.snapshot()
    t.put(1, 1)
    assert.deepEqual([...s.entries()], [])
    s.release()
  })
})
