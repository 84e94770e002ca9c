import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  keyGroupForKey, keyGroupRangeForSubtask, keyHash, normalizeKey, operatorIndexForKeyGroup,
} from '../src/runtime/core/key-groups.js'

describe('key groups', () => {
  // Expected values computed with Java's hashCode and Flink's MathUtils.murmurHash.
  const vectors: [string | number | boolean, number, number][] = [
    [0, 0, 94], [1, 1, 86], [42, 42, 29], [-7, -7, 33], [123456789, 123456789, 81],
    ['hello', 99162322, 35], ['word-count', 376847500, 115], ['', 0, 94],
    [5000000000, 705032705, 124], [3.25, 1074397184, 20], [true, 1231, 77],
  ]
  for (const [key, hash, group] of vectors) {
    it(`${JSON.stringify(key)} hashes like Java and lands in key group ${group} of 128`, () => {
      assert.equal(keyHash(key), hash)
      assert.equal(keyGroupForKey(key, 128), group)
    })
  }

  it('assigns key groups to subtasks in contiguous ranges covering all groups once', () => {
    for (const p of [1, 2, 3, 7, 128]) {
      const seen: number[] = []
      for (let i = 0; i < p; i++) {
        const r = keyGroupRangeForSubtask(128, p, i)
        for (let g = r.start; g <= r.end; g++) {
          seen.push(g)
          assert.equal(operatorIndexForKeyGroup(128, p, g), i)
        }
      }
      assert.deepEqual(seen, [...Array(128).keys()])
    }
  })

  it('normalizes composite keys to canonical JSON, independent of field order', () => {
    assert.equal(normalizeKey({ b: 1, a: [2, 'x'] }), normalizeKey({ a: [2, 'x'], b: 1 }))
    assert.equal(normalizeKey(['a', 1]), '["a",1]')
    assert.equal(normalizeKey('a'), 'a')
    assert.throws(() => normalizeKey(undefined), /undefined/)
    assert.throws(() => normalizeKey(null), /null/)
  })
})
