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
    assert.ok(rounds > 0)
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
})
