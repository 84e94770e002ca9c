/**
 * NumericColumns: slots for number and string keys, reuse of freed slots, the arena's compaction,
 * key groups computed as Flink computes them, images that later writes cannot reach, arena
 * segments that stay at 1 MB however many there are, and how many copies of the table stay held.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { keyGroupForKey } from '../src/runtime/core/key-groups.js'
import { CHUNK, FREE, NUMBER_KEY, NumericColumns, STRING_KEY, columnKey, type NumericImage } from '../src/runtime/state/numeric-columns.js'

/** Decodes an image from its layout (independent of the encoder): key → [value, keyGroup]. */
function decode(im: NumericImage): Map<string | number, [number, number]> {
  const out = new Map<string | number, [number, number]>()
  for (let i = 0; i < im.count; i++) {
    const c = im.chunks[Math.floor(i / CHUNK)]!
    const j = i % CHUNK
    if (c.tag[j] === FREE) continue
    assert.ok(c.tag[j] === NUMBER_KEY || c.tag[j] === STRING_KEY)
    let k: string | number = c.key[j]!
    if (c.tag[j] === STRING_KEY) {
      // The key's place: segment * 2^32 + offset.
      const seg = im.arena[Math.floor(k / 2 ** 32)]!
      const off = k % 2 ** 32
      k = Buffer.from(seg.buffer, seg.byteOffset + off, c.keyLength[j]!).toString('utf8')
    }
    assert.equal(out.has(k), false, `key ${String(k)} is in two slots`)
    out.set(k, [c.value[j]!, c.keyGroup[j]!])
  }
  return out
}

/** Live keys per key group, counted from the keys themselves. */
function groupCounts(keys: Iterable<string | number>, maxParallelism: number): Uint32Array {
  const counts = new Uint32Array(maxParallelism)
  for (const k of keys) counts[keyGroupForKey(k, maxParallelism)]!++
  return counts
}

/** An image's entries, read now; the image is released. */
function take(c: NumericColumns): Map<string | number, [number, number]> {
  const { image, release } = c.image('s')
  try {
    return decode(image)
  } finally {
    release()
  }
}

describe('NumericColumns', () => {
  it('holds number and string keys; later writes do not reach an image until it is released', () => {
    const c = new NumericColumns(128)
    const keys = [0, -1, 1.5, 2 ** 40, 'a', 'ключ', '😀 key', '']
    keys.forEach((k, i) => c.insert(k, i * 10))
    const { image: im, release } = c.image('s')
    c.setAt(c.slotOf('a')!, 999)
    c.remove(0)
    c.insert('new', 1)
    const seen = decode(im)
    release()
    assert.equal(seen.size, keys.length)
    assert.deepEqual(im.groupCounts, groupCounts(keys, 128), 'entries per key group at the image')
    keys.forEach((k, i) => assert.deepEqual(seen.get(k), [i * 10, keyGroupForKey(k, 128)], `key ${String(k)}`))
    const now = take(c)
    assert.equal(now.get('a')![0], 999)
    assert.equal(now.has(0), false)
    assert.equal(now.get('new')![0], 1)
    assert.equal(c.size, keys.length)
  })

  it('reuses the memory of a chunk it replaced once no image reads it, and never before', () => {
    const c = new NumericColumns(128)
    for (let i = 0; i < 2 * CHUNK; i++) c.insert(i, 0)
    const a = c.image('s')
    const b = c.image('s')
    c.setAt(c.slotOf(1)!, 1) // chunk 0 copied; a and b read the old one
    a.release()
    const d = c.image('s')
    c.setAt(c.slotOf(1)!, 2) // copied again: b still reads the first chunk, so it is not reused
    assert.equal(decode(b.image).get(1)![0], 0)
    b.release()
    d.release()
    const e = c.image('s')
    c.setAt(c.slotOf(1)!, 3) // copied into a chunk no image reads any more, which is then written
    assert.ok([b, d].some((x) => decode(x.image).get(1)![0] === 3), 'a released image\'s chunk became the live one')
    assert.equal(decode(e.image).get(1)![0], 2)
    e.release()
    assert.equal(take(c).get(1)![0], 3)
  })

  it('a table that was copied on write while small keeps growing, and copies on write when large', () => {
    // The small table's one chunk is replaced while an image pins it; once released, that small
    // part must never be taken as the memory of a full-size chunk's copy.
    const c = new NumericColumns(128)
    for (let i = 0; i < 10; i++) c.insert(i, i)
    const small = c.image('s')
    c.setAt(c.slotOf(3)!, 30)
    c.insert('k', 1) // a key copied on write too
    small.release()
    for (let i = 10; i < 2 * CHUNK + 5; i++) c.insert(i, i)
    const large = c.image('s')
    c.setAt(c.slotOf(5)!, 50)
    c.insert(-1, -1)
    c.remove(7)
    const seen = decode(large.image)
    large.release()
    assert.equal(seen.size, 2 * CHUNK + 6)
    assert.deepEqual([seen.get(5)![0], seen.get(3)![0], seen.get(7)![0], seen.has(-1)], [5, 30, 7, false])
    const now = take(c)
    assert.deepEqual([now.get(5)![0], now.get(-1)![0], now.has(7), now.size], [50, -1, false, 2 * CHUNK + 6])
  })

  it('forgets a removed key at once, also the one it found last', () => {
    const c = new NumericColumns(128)
    c.insert('a', 1)
    assert.equal(c.valueAt(c.slotOf('a')!), 1)
    assert.equal(c.remove('a'), true)
    c.insert('b', 2) // takes the freed slot
    c.slotOf('b')
    assert.equal(c.remove('b'), true)
    assert.equal(c.slotOf('b'), undefined, 'a key removed right after it was found')
    assert.equal(c.slotOf('a'), undefined)
    assert.equal(c.valueAt(c.slotOf('b')!), 2)
    assert.equal(c.remove('a'), false)
  })

  it('copies a chunk only while an image pins it: after release() writes go in place', () => {
    const c = new NumericColumns(128)
    for (let i = 0; i < 3 * CHUNK; i++) c.insert(i, 0)
    const first = c.image('s')
    c.setAt(c.slotOf(5)!, 1) // chunk 0 is copied: the image keeps 0
    assert.equal(decode(first.image).get(5)![0], 0)
    first.release()
    const second = c.image('s')
    second.release()
    c.setAt(c.slotOf(CHUNK + 7)!, 2) // chunk 1 is no longer pinned: written where the image reads
    assert.equal(decode(second.image).get(CHUNK + 7)![0], 2)
    const third = c.image('s')
    c.insert(3 * CHUNK, 9) // a new slot past the image's count: the image does not see it
    c.setAt(c.slotOf(2 * CHUNK + 1)!, 3)
    const seen = decode(third.image)
    third.release()
    assert.equal(seen.size, 3 * CHUNK)
    assert.equal(seen.get(2 * CHUNK + 1)![0], 0)
    assert.equal(take(c).get(2 * CHUNK + 1)![0], 3)
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
        const seen = take(c)
        assert.deepEqual(new Map([...seen].map(([key, [v]]) => [key, v])), model, `step ${step}`)
        const { image, release } = c.image('s')
        release()
        assert.deepEqual(image.groupCounts, groupCounts(model.keys(), 4096), `entries per key group at step ${step}`)
      }
    }
    const { image: im, release } = c.image('s')
    release()
    // Freed slots are reused: never more slots than keys ever alive at once.
    assert.ok(im.count <= 5000, `${im.count} slots for at most 5000 keys`)
    assert.deepEqual(new Map([...decode(im)].map(([key, [v, kg]]) => (assert.equal(kg, keyGroupForKey(key, 4096)), [key, v]))), model)
  })

  it('compacts the arena when removed string keys outweigh the live ones', () => {
    const c = new NumericColumns(128)
    const long = (i: number): string => `${i}:${'y'.repeat(1000)}`
    for (let i = 0; i < 3000; i++) c.insert(long(i), i)
    const bytes = (im: NumericImage): number => im.arena.reduce((n, seg) => n + seg.length, 0)
    const early = c.image('s')
    const before = bytes(early.image)
    for (let i = 0; i < 2900; i++) c.remove(long(i))
    // An image taken before the compaction still reads every key it had.
    const old = decode(early.image)
    early.release()
    assert.equal(old.size, 3000)
    for (let i = 0; i < 3000; i += 7) assert.equal(old.get(long(i))?.[0], i)
    const { image: after } = c.image('s')
    // Compaction waits for 1 MB of garbage, and segments are allocated ahead, so up to 2 MB stay.
    assert.ok(before > 3_000_000 && bytes(after) < 2 << 20, `arena ${bytes(after)} bytes after removing 2900 of 3000 keys (was ${before})`)
    assert.deepEqual([...decode(after)].map(([k, [v]]) => [k, v]).sort((a, b) => Number(a[1]) - Number(b[1])), Array.from({ length: 100 }, (_, j) => [long(2900 + j), 2900 + j]))
  })

  it('a compaction leaves the keys of an image it did not touch readable (copy-on-write of other chunks)', () => {
    const c = new NumericColumns(128)
    const key = (i: number): string => (i < CHUNK ? `${i}:${'z'.repeat(100)}` : `short ${i}`)
    const n = CHUNK + 2000
    for (let i = 0; i < n; i++) c.insert(key(i), i)
    const early = c.image('s')
    // Removing from the first chunk only: the second chunk's keys move in the compaction.
    for (let i = 0; i < CHUNK; i++) c.remove(key(i))
    const old = decode(early.image)
    early.release()
    assert.equal(old.size, n)
    for (let i = CHUNK; i < n; i++) assert.equal(old.get(key(i))?.[0], i, key(i))
    const now = take(c)
    assert.equal(now.size, 2000)
    for (let i = CHUNK; i < n; i++) assert.equal(now.get(key(i))?.[0], i, key(i))
  })

  it('keeps string keys in segments of up to 1 MB however many segments the arena has', () => {
    // Segments grow from 4 KB to 1 MB and stay at 1 MB: about 25 MB of keys take about 30
    // segments, not one segment per key once the arena holds 20 of them.
    const c = new NumericColumns(128)
    const key = (i: number): string => `${String(i).padStart(8, '0')}:${'s'.repeat(91)}` // 100 bytes
    const n = 250_000
    for (let i = 0; i < n; i++) c.insert(key(i), i)
    const { image, release } = c.image('s')
    release()
    const bytes = image.arena.reduce((sum, seg) => sum + seg.length, 0)
    // 4 KB + 8 KB + … + 512 KB (8 segments, < 1 MB), then 1 MB ones, each filled to within a key of its end.
    const bound = 8 + Math.ceil((n * 100) / ((1 << 20) - 300)) + 1
    assert.ok(image.arena.length <= bound, `${image.arena.length} segments (${bytes} bytes) for ${n * 100} bytes of keys; at most ${bound} expected`)
    const seen = decode(image)
    for (let i = 0; i < n; i += 997) assert.equal(seen.get(key(i))?.[0], i)
    assert.equal(seen.get(key(n - 1))?.[0], n - 1)
  })

  it('holds at most one copy of the table once overlapping images are released', () => {
    // The header's promise: steady checkpointing allocates nothing and holds at most one copy of the
    // table. Shared memory is measured after full collections (gc taken from V8 as the encoder
    // thread takes it).
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    setFlagsFromString('--no-expose-gc')
    const held = (): number => {
      gc()
      gc()
      return process.memoryUsage().arrayBuffers
    }
    const c = new NumericColumns(128)
    const chunks = 8
    for (let i = 0; i < chunks * CHUNK; i++) c.insert(i, 0)
    const touch = (v: number): void => {
      for (let n = 0; n < chunks; n++) c.setAt(c.slotOf(n * CHUNK)!, v)
    }
    const checkpoint = (v: number): void => {
      const im = c.image('s')
      touch(v)
      im.release()
    }
    checkpoint(1)
    const steady = held() // the table and one copy of its values
    const overlap = (): void => {
      const images = [1, 2, 3, 4].map((v) => {
        const im = c.image('s')
        touch(10 + v)
        return im
      })
      for (const im of images) im.release()
    }
    overlap() // the images go, and with them what only they read
    for (let v = 0; v < 5; v++) checkpoint(100 + v)
    const after = held()
    const copy = chunks * CHUNK * 8 // the values of every chunk once
    assert.ok(after - steady < copy / 4, `${((after - steady) / 2 ** 20).toFixed(1)} MB more than in steady checkpointing before (a copy of the values is ${copy / 2 ** 20} MB)`)
    assert.equal(take(c).get(0)![0], 104)
  })

  it('takes numbers and well-formed strings as keys, nothing else', () => {
    assert.equal(columnKey(1), true)
    assert.equal(columnKey('ok'), true)
    assert.equal(columnKey('\uD800 lone surrogate'), false)
    assert.equal(columnKey(true), false)
    assert.equal(columnKey(10n), false)
  })
})
