/**
 * NumericColumns: slots for number and string keys, reuse of freed slots, the arena's compaction,
 * key groups computed as Flink computes them, and images that later writes cannot reach.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keyGroupForKey } from '../src/runtime/core/key-groups.js'
import { FREE, NUMBER_KEY, NumericColumns, STRING_KEY, columnKey, type NumericImage } from '../src/runtime/state/numeric-columns.js'

/** Decodes an image from its layout (independent of the encoder): key → [value, keyGroup]. */
function decode(im: NumericImage): Map<string | number, [number, number]> {
  const out = new Map<string | number, [number, number]>()
  const arena = Buffer.from(im.arena.buffer, im.arena.byteOffset, im.arena.byteLength)
  for (let i = 0; i < im.count; i++) {
    if (im.tag[i] === FREE) continue
    const k = im.tag[i] === NUMBER_KEY ? im.key[i]! : arena.toString('utf8', im.key[i]!, im.key[i]! + im.keyLength[i]!)
    assert.ok(im.tag[i] === NUMBER_KEY || im.tag[i] === STRING_KEY)
    assert.equal(out.has(k), false, `key ${String(k)} is in two slots`)
    out.set(k, [im.value[i]!, im.keyGroup[i]!])
  }
  return out
}

describe('NumericColumns', () => {
  it('holds number and string keys; an image is a copy that later writes do not reach', () => {
    const c = new NumericColumns(128)
    const keys = [0, -1, 1.5, 2 ** 40, 'a', 'ключ', '😀 key', '']
    keys.forEach((k, i) => c.insert(k, i * 10))
    const im = c.image('s')
    c.setAt(c.slotOf('a')!, 999)
    c.remove(0)
    c.insert('new', 1)
    const seen = decode(im)
    assert.equal(seen.size, keys.length)
    keys.forEach((k, i) => assert.deepEqual(seen.get(k), [i * 10, keyGroupForKey(k, 128)], `key ${String(k)}`))
    const now = decode(c.image('s'))
    assert.equal(now.get('a')![0], 999)
    assert.equal(now.has(0), false)
    assert.equal(now.get('new')![0], 1)
    assert.equal(c.size, keys.length)
  })

  it('reuses freed slots and stays equal to a Map through random inserts, updates and removes', () => {
    let seed = 7
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const c = new NumericColumns(4096)
    const model = new Map<string | number, number>()
    for (let step = 0; step < 200_000; step++) {
      const n = rnd(5000)
      const k = n % 2 === 0 ? n : `key-${n}-${'x'.repeat(n % 300)}`
      if (rnd(3) === 0) {
        assert.equal(c.remove(k), model.delete(k))
      } else {
        const slot = c.slotOf(k)
        if (slot === undefined) c.insert(k, step)
        else c.setAt(slot, step)
        model.set(k, step)
      }
      if (step % 20_000 === 0) {
        const seen = decode(c.image('s'))
        assert.deepEqual(new Map([...seen].map(([key, [v]]) => [key, v])), model, `step ${step}`)
      }
    }
    const im = c.image('s')
    // Freed slots are reused: never more slots than keys ever alive at once.
    assert.ok(im.count <= 5000, `${im.count} slots for at most 5000 keys`)
    assert.deepEqual(new Map([...decode(im)].map(([key, [v, kg]]) => (assert.equal(kg, keyGroupForKey(key, 4096)), [key, v]))), model)
  })

  it('compacts the arena when removed string keys outweigh the live ones', () => {
    const c = new NumericColumns(128)
    const long = (i: number): string => `${i}:${'y'.repeat(1000)}`
    for (let i = 0; i < 3000; i++) c.insert(long(i), i)
    const before = c.image('s').arena.length
    for (let i = 0; i < 2900; i++) c.remove(long(i))
    const after = c.image('s')
    // Compaction waits for 1 MB of garbage, so up to that much may stay.
    assert.ok(after.arena.length < 100 * 1006 + (1 << 20), `arena ${after.arena.length} bytes after removing 2900 of 3000 keys (was ${before})`)
    assert.deepEqual([...decode(after)].map(([k, [v]]) => [k, v]).sort((a, b) => Number(a[1]) - Number(b[1])), Array.from({ length: 100 }, (_, j) => [long(2900 + j), 2900 + j]))
  })

  it('takes numbers and well-formed strings as keys, nothing else', () => {
    assert.equal(columnKey(1), true)
    assert.equal(columnKey('ok'), true)
    assert.equal(columnKey('\uD800 lone surrogate'), false)
    assert.equal(columnKey(true), false)
    assert.equal(columnKey(10n), false)
  })
})
