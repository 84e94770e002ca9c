/**
 * The snapshot encoder: numeric column images become key-group sections (one per key group,
 * ascending, each key in the section of its key group), merged with the sections the task wrote
 * for other entries and timers; integral numbers are written as small integers (not doubles);
 * the encoder thread gives the same sections as the inline encoder, also when it writes them to
 * a local file itself (same bytes, size and checksum); a
 * closed encoder fails its requests and the next one starts a new thread; an idle encoder thread
 * does not keep a process alive.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { serialize } from 'node:v8'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checksumOf } from '../src/runtime/checkpoint/metadata.js'
import { keyGroupForKey } from '../src/runtime/core/key-groups.js'
import { SectionEncoder } from '../src/runtime/state/encoder-pool.js'
import { readKeyGroupSections, serializeSections, type KeyGroupSection, type TimerEntry } from '../src/runtime/state/keyed-backend.js'
import { NumericColumns } from '../src/runtime/state/numeric-columns.js'
import { encodeImages, type EncodedSections } from '../src/runtime/state/section-encoder.js'
import { tmp } from './helpers.js'

const MAXP = 128
const ALL = { start: 0, end: MAXP - 1 }

function columns(name: string, n: number, key: (i: number) => string | number): NumericColumns {
  const c = new NumericColumns(MAXP)
  for (let i = 0; i < n; i++) c.insert(key(i), i * 2)
  return c
}

function sections(e: EncodedSections): [number, KeyGroupSection][] {
  return [...readKeyGroupSections(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength), e.keyGroups, ALL, 'test')]
}

describe('section encoder', () => {
  it('puts every entry in the section of its key group, one section per group, ascending', () => {
    const a = columns('a', 5000, (i) => i)
    const b = columns('b', 3000, (i) => `key ${i} ü`)
    b.remove('key 7 ü')
    const e = encodeImages([a.image('a').image, b.image('b').image])!
    const secs = sections(e)
    const groups = secs.map(([kg]) => kg)
    assert.deepEqual(groups, [...new Set(groups)].sort((x, y) => x - y), 'unique, ascending key groups')
    const seen = new Map<string, number>()
    for (const [kg, s] of secs) {
      assert.deepEqual(s.t, [])
      for (const [name, flat] of Object.entries(s.s)) {
        for (let i = 0; i < flat.length; i += 2) {
          const k = flat[i] as string | number
          assert.equal(keyGroupForKey(k, MAXP), kg, `${String(k)} in key group ${kg}`)
          seen.set(`${name}/${String(k)}`, flat[i + 1] as number)
        }
      }
    }
    assert.equal(seen.size, 5000 + 2999)
    assert.equal(seen.get('a/4999'), 9998)
    assert.equal(seen.get('b/key 2999 ü'), 5998)
    assert.equal(seen.has('b/key 7 ü'), false)
  })

  it('writes integral numbers as small integers and keeps -0, fractions and NaN', () => {
    const c = new NumericColumns(MAXP)
    for (let i = 0; i < 1000; i++) c.insert(i, i)
    const small = encodeImages([c.image('v').image])!
    // A key and a value of up to 1000 take at most 3 bytes each as a v8 varint; as doubles, 9 each.
    assert.ok(small.data.length < 1000 * 6 + 128 * 40, `${small.data.length} bytes for 1000 small entries`)
    const d = new NumericColumns(MAXP)
    d.insert(-0, -0)
    d.insert(0.5, Number.NaN)
    d.insert(2 ** 53, -1.25)
    const flat = sections(encodeImages([d.image('v').image])!).flatMap(([, s]) => s.s.v!)
    const pairs = new Map<unknown, unknown>()
    for (let i = 0; i < flat.length; i += 2) pairs.set(flat[i], flat[i + 1])
    assert.ok(Object.is(pairs.get(0), -0), '-0 stays -0')
    assert.ok(Number.isNaN(pairs.get(0.5)))
    assert.equal(pairs.get(2 ** 53), -1.25)
    assert.ok(flat.some((k, i) => i % 2 === 0 && Object.is(k, -0)), 'the key -0 stays -0')
  })

  it('merges the task\'s sections (other entries, timers) into the numeric ones', async () => {
    const c = columns('count', 200, (i) => i)
    const timers: TimerEntry[] = [[0, 100, 3], [1, 5, 'x']]
    const other = (await serializeSections([['count', 'only-object', 1], ['list', 3, [1, 2]]], timers, MAXP))!
    const e = encodeImages([c.image('count').image], other)!
    const secs = new Map(sections(e))
    assert.equal(secs.size, e.keyGroups.length)
    const kg3 = secs.get(keyGroupForKey(3, MAXP))!
    assert.deepEqual(kg3.s.list, [3, [1, 2]])
    assert.ok(kg3.t.some((t) => t[2] === 3))
    const counted = (kg3.s.count ?? []).filter((_, i) => i % 2 === 0)
    assert.ok(counted.includes(3))
    const kgx = secs.get(keyGroupForKey('x', MAXP))!
    assert.deepEqual(kgx.t, [[1, 5, 'x']])
    const kgo = secs.get(keyGroupForKey('only-object', MAXP))!
    const flat = kgo.s.count!
    assert.equal(flat[flat.indexOf('only-object') + 1], 1)
    let total = 0
    for (const s of secs.values()) total += (s.s.count?.length ?? 0) / 2
    assert.equal(total, 201)
  })

  it('writes number-keyed sections byte for byte as v8.serialize writes the section objects', () => {
    // Values at every boundary of v8's number encodings: Smis, their varint lengths, doubles.
    const edge = [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, 2 ** 20, 2 ** 30 - 1, 2 ** 30, 2 ** 31 - 1, -(2 ** 31),
      2 ** 31, -(2 ** 31) - 1, 0.5, -0, Number.NaN, Infinity, -Infinity, 1e300, Number.MIN_VALUE, 2 ** 53]
    const keys: number[] = []
    for (let i = 1; i <= 6000; i++) keys.push(i % 3 === 0 ? -i : i % 7 === 0 ? i + 0.25 : 1e7 + i * 977)
    keys.push(...edge.filter((k) => !Number.isNaN(k) && k !== 0), -0)
    const count = new NumericColumns(MAXP)
    const sum = new NumericColumns(MAXP)
    keys.forEach((k, i) => {
      count.insert(k, edge[i % edge.length]!)
      if (i % 2 === 0) sum.insert(k, i * 1.5)
    })
    // The oracle: the section objects built from the inserted entries (insertion order = slot
    // order within a group) with values kept as v8 keeps them in an array, through v8.serialize.
    const tagged = (): unknown[] => {
      const a: unknown[] = ['']
      a.pop()
      return a
    }
    // The format's rule: an integral int32 value (not -0) is a small integer (a Smi), whatever
    // arithmetic produced it; anything else a double.
    const asElement = (x: number): number => {
      const n = x | 0
      return n === x && !Object.is(x, -0) ? n : x
    }
    const expected: [number, Buffer][] = []
    for (let kg = 0; kg < MAXP; kg++) {
      const s: Record<string, unknown[]> = {}
      keys.forEach((k, i) => {
        if (keyGroupForKey(k, MAXP) !== kg) return
        ;(s.count ??= tagged()).push(asElement(k), asElement(edge[i % edge.length]!))
      })
      keys.forEach((k, i) => {
        if (i % 2 !== 0 || keyGroupForKey(k, MAXP) !== kg) return
        ;(s.sum ??= tagged()).push(asElement(k), asElement(i * 1.5))
      })
      if (Object.keys(s).length > 0) expected.push([kg, serialize({ s, t: [] })])
    }
    const e = encodeImages([count.image('count').image, sum.image('sum').image])!
    assert.deepEqual(e.keyGroups.map(([kg]) => kg), expected.map(([kg]) => kg))
    for (const [i, [kg, offset, length]] of e.keyGroups.entries()) {
      assert.deepEqual(Buffer.from(e.data.subarray(offset, offset + length)), expected[i]![1], `key group ${kg}`)
    }
    // A state whose name is an array index: v8 writes that key as a number.
    const byIndex = new NumericColumns(MAXP)
    byIndex.insert(5, 1)
    const one = encodeImages([byIndex.image('12').image])!
    const [[kg, offset, length]] = one.keyGroups as [[number, number, number]]
    assert.equal(kg, keyGroupForKey(5, MAXP))
    assert.deepEqual(Buffer.from(one.data.subarray(offset, offset + length)), serialize({ s: { 12: [5, 1] }, t: [] }))
    // Two-byte names: v8 aligns their characters with a padding byte where the offset asks for it.
    for (const name of ['счёт', 'aсчёт', 'abсчёт']) {
      const two = encodeImages([byIndex.image(name).image])!
      const [[, o2, l2]] = two.keyGroups as [[number, number, number]]
      assert.deepEqual(Buffer.from(two.data.subarray(o2, o2 + l2)), serialize({ s: { [name]: [5, 1] }, t: [] }), name)
    }
  })

  it('gives the same bytes in many passes over the columns as in one, written directly or through arrays', async () => {
    const numbers = columns('n', 20_000, (i) => i * 3)
    const strings = columns('s', 20_000, (i) => (i % 2 === 0 ? i : `k${i}`))
    const other = (await serializeSections([['l', 7, ['x']]], [[0, 1, 2]], MAXP))!
    for (const [what, images, task] of [['direct', [numbers], undefined], ['arrays', [numbers, strings], other]] as const) {
      const copy = task === undefined ? undefined : { data: task.data.slice(), keyGroups: task.keyGroups }
      const one = encodeImages(images.map((c, i) => c.image(['n', 's'][i]!).image), copy)!
      for (const passEntries of [1, 150, 2000]) {
        const again = task === undefined ? undefined : { data: task.data.slice(), keyGroups: task.keyGroups }
        const many = encodeImages(images.map((c, i) => c.image(['n', 's'][i]!).image), again, passEntries)!
        assert.deepEqual(many.keyGroups, one.keyGroups, `${what}, ${passEntries} per pass`)
        assert.deepEqual(many.data, one.data, `${what}, ${passEntries} per pass`)
      }
    }
  })

  it('gives the same sections on its thread as inline', async () => {
    const enc = new SectionEncoder(0)
    try {
      const c = columns('v', 50_000, (i) => (i % 2 === 0 ? i : `s${i}`))
      const other = (await serializeSections([['l', 1, ['x']]], [[0, 1, 2]], MAXP))!
      const inline = encodeImages([c.image('v').image], { data: other.data.slice(), keyGroups: other.keyGroups })!
      const threaded = (await enc.encode([c.image('v').image], other))!
      assert.deepEqual(threaded.keyGroups.map(([kg]) => kg), inline.keyGroups.map(([kg]) => kg))
      assert.deepEqual(sections(threaded), sections(inline))
    } finally {
      await enc.close()
    }
  })

  it('writes to a local file on its thread the same bytes, with their size and checksum', async () => {
    const enc = new SectionEncoder(0)
    try {
      const c = columns('v', 70_000, (i) => (i % 3 === 0 ? `s${i}` : i))
      const other = (await serializeSections([['l', 1, ['x']]], [[0, 1, 2]], MAXP))!
      const inline = encodeImages([c.image('v').image], { data: other.data.slice(), keyGroups: other.keyGroups })!
      const path = join(tmp(), 'chk-1', 'keyed-1')
      const r = await enc.encode([c.image('v').image], other, path)
      assert.ok(r !== undefined && 'written' in r, 'the thread answers where, not what')
      const bytes = readFileSync(path)
      assert.deepEqual(new Uint8Array(bytes), inline.data)
      assert.deepEqual(r.keyGroups, inline.keyGroups)
      assert.deepEqual(r.written, { size: inline.data.length, checksum: checksumOf(inline.data) })
    } finally {
      await enc.close()
    }
  })

  it('fails the requests in flight when closed, and starts a new thread for the next one', async () => {
    const enc = new SectionEncoder(0)
    const c = columns('v', 200_000, (i) => i)
    const failed = assert.rejects(enc.encode([c.image('v').image]), /closed/)
    await enc.close()
    await failed
    const again = await enc.encode([c.image('v').image])
    assert.equal(sections(again!).reduce((n, [, s]) => n + s.s.v!.length / 2, 0), 200_000)
    await enc.close()
  })

  it('does not keep a process alive once its work is done', () => {
    const dir = tmp()
    const script = join(dir, 'encode.mts')
    const pool = fileURLToPath(new URL('../src/runtime/state/encoder-pool.ts', import.meta.url))
    const cols = fileURLToPath(new URL('../src/runtime/state/numeric-columns.ts', import.meta.url))
    writeFileSync(script, `
      import { SectionEncoder } from ${JSON.stringify(pool)}
      import { NumericColumns } from ${JSON.stringify(cols)}
      const c = new NumericColumns(128)
      for (let i = 0; i < 1000; i++) c.insert(i, i)
      const r = await new SectionEncoder(0).encode([c.image('v').image])
      console.log('encoded', r.keyGroups.length)
    `)
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() })
    assert.equal(r.signal, null, 'the process ended by itself (not killed at the timeout)')
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /encoded \d+/)
  })
})
