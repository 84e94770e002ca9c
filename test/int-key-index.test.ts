/**
 * IntKeyIndex against a Map as the model: random inserts, lookups and removals (removal shifts
 * entries back, the hard part of linear probing), keys that collide on purpose, growth, negative
 * keys and -0, and which keys it takes at all.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IntKeyIndex, isIndexKey } from '../src/runtime/state/int-key-index.js'

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
}

function check(index: IntKeyIndex, model: Map<number, number>, keys: Iterable<number>): void {
  assert.equal(index.size, model.size)
  for (const k of keys) assert.equal(index.get(k), model.get(k) ?? -1, `key ${k}`)
}

describe('IntKeyIndex', () => {
  it('agrees with a Map over random inserts, lookups and removals', () => {
    for (const [seed, range] of [[1, 50], [2, 1000], [3, 1 << 30]] as const) {
      const r = rng(seed)
      const index = new IntKeyIndex(2)
      const model = new Map<number, number>()
      const seen = new Set<number>()
      for (let step = 0; step < 40_000; step++) {
        const k = r(range) - (range >> 1)
        seen.add(k)
        const op = r(10)
        if (op < 5) {
          if (!model.has(k)) {
            index.insert(k, step)
            model.set(k, step)
          }
        } else if (op < 8) {
          assert.equal(index.delete(k), model.get(k) ?? -1, `delete ${k}`)
          model.delete(k)
        } else {
          assert.equal(index.get(k), model.get(k) ?? -1, `get ${k}`)
        }
        if (step % 4999 === 0) check(index, model, seen)
      }
      check(index, model, seen)
      assert.deepEqual([...index.entries()].sort((a, b) => a[0] - b[0]), [...model].sort((a, b) => a[0] - b[0]))
    }
  })

  it('keeps every key of a long probe run findable when one in the middle is removed', () => {
    // Multiples of 64 share their low bits: in a 16-entry table eight of them crowd into few homes,
    // so they form long probe runs whatever the hash does with the other bits.
    for (let order = 0; order < 20; order++) {
      const r = rng(order)
      const index = new IntKeyIndex(4)
      const keys = Array.from({ length: 8 }, (_, i) => (i + order) * 64)
      keys.forEach((k, i) => index.insert(k, i))
      const gone = new Set<number>()
      for (let n = 0; n < 8; n++) {
        const victim = keys[r(keys.length)]!
        assert.equal(index.delete(victim), gone.has(victim) ? -1 : keys.indexOf(victim))
        gone.add(victim)
        keys.forEach((k, i) => assert.equal(index.get(k), gone.has(k) ? -1 : i, `key ${k} after removing ${[...gone]}`))
      }
    }
  })

  it('grows past its first size and keeps every slot', () => {
    const index = new IntKeyIndex(1)
    for (let k = 0; k < 100_000; k++) index.insert(k * 7919, k)
    assert.equal(index.size, 100_000)
    for (let k = 0; k < 100_000; k++) assert.equal(index.get(k * 7919), k)
    assert.equal(index.get(1), -1)
  })

  it('-0 is the key 0, as in a Map; slot 0 is a slot like any other', () => {
    const index = new IntKeyIndex()
    index.insert(0, 0)
    assert.equal(index.get(-0), 0)
    assert.equal(index.delete(-0), 0)
    assert.equal(index.size, 0)
  })

  it('takes int32 numbers only', () => {
    for (const k of [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]) assert.equal(isIndexKey(k), true, String(k))
    for (const k of [2 ** 31, -(2 ** 31) - 1, 0.5, Number.NaN, Infinity, '1', 1n]) assert.equal(isIndexKey(k), false, String(k))
  })
})
