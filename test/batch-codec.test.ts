import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBatch, encodeBatch, V8_FORM, type BatchParts } from '../src/runtime/task/batch-codec.js'

/** Encodes, copies the bytes as a transfer would (to an 8-aligned offset in a larger buffer), decodes. */
function roundTrip(b: BatchParts): { out: BatchParts; bytes: number; form: number } {
  const { buffer, form } = encodeBatch(b)
  const landing = new Uint8Array(buffer.byteLength + 16)
  landing.set(new Uint8Array(buffer), 8)
  return { out: decodeBatch(landing.subarray(8, 8 + buffer.byteLength), form, b.records.length), bytes: buffer.byteLength, form }
}

/** Same values, Object.is per element (tells -0 from 0 and NaN from everything). */
function sameParts(a: BatchParts, b: BatchParts): void {
  for (const part of ['records', 'keys', 'timestamps'] as const) {
    const x = a[part]
    const y = b[part]
    if (x === null || y === null) {
      assert.equal(x, y, `${part}: both null or neither`)
      continue
    }
    assert.ok(Array.isArray(x), `${part} decodes to a plain array`)
    assert.equal(x.length, y.length, `${part} length`)
    for (let i = 0; i < y.length; i++) assert.ok(Object.is(x[i], y[i]), `${part}[${i}]: ${String(x[i])} vs ${String(y[i])}`)
  }
}

const odd = [0, -0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 53 + 2, 0.1, -1e-300, 5e-324, Number.MAX_VALUE, Infinity, -Infinity, NaN]

describe('batches crossing between threads', () => {
  it('number batches keep every value, with and without keys and timestamps, at 8 bytes per number', () => {
    for (const keys of [null, odd.map((_v, i) => i * 7 - 3)]) {
      for (const timestamps of [null, odd.map((_v, i) => 1_700_000_000_000 + i)]) {
        const b = { records: odd, keys, timestamps }
        const { out, bytes, form } = roundTrip(b)
        sameParts(out, b)
        assert.notEqual(form, V8_FORM)
        assert.equal(bytes, 8 * odd.length * (1 + (keys === null ? 0 : 1) + (timestamps === null ? 0 : 1)))
      }
    }
  })

  it('an empty batch and a full batch of 1024 round-trip', () => {
    sameParts(roundTrip({ records: [], keys: [], timestamps: null }).out, { records: [], keys: [], timestamps: null })
    const records = Array.from({ length: 1024 }, (_v, i) => i * 1.5)
    const keys = records.map((r) => r % 97)
    sameParts(roundTrip({ records, keys, timestamps: null }).out, { records, keys, timestamps: null })
  })

  it('anything but numbers anywhere in the batch crosses v8-serialized, unchanged', () => {
    const cases: BatchParts[] = [
      { records: [1, 2, 'three'], keys: null, timestamps: null },
      { records: [1, 2, 3], keys: [1, 'b', 3], timestamps: null },
      { records: [1, 2, 3], keys: null, timestamps: [1, undefined as unknown as number, 3] },
      { records: [{ word: 'a', n: 1 }, [1, 2], null], keys: ['a', 'b', 'c'], timestamps: [1, 2, 3] },
      { records: [1n, 2, 3], keys: null, timestamps: null },
      { records: [1, true, 3], keys: null, timestamps: null },
    ]
    for (const b of cases) {
      const { out, form } = roundTrip(b)
      assert.equal(form, V8_FORM, JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)))
      assert.deepEqual(out, b)
    }
  })
})
