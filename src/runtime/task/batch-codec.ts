/**
 * The bytes of a batch that crosses to another thread. A batch whose records, keys and timestamps
 * are all numbers (counts, ids, sums: the common case of keyed pipelines) crosses as one
 * Float64Array, records then keys then timestamps; any other batch as a v8-serialized
 * [records, keys, timestamps]. Both keep every number as it was (NaN, -0, infinities, fractions),
 * and both give the receiver plain arrays, so no consumer can tell the forms apart.
 * The numeric form costs about a fifth of the v8 form per record (bench/runtime.ts `slots` crosses
 * half its records this way).
 * Pure. Tests: test/batch-codec.test.ts, test/workers.test.ts (batches across slots).
 */
import { deserialize, serialize } from 'node:v8'
import { smiIfInt } from '../core/v8-wire.js'

/** `form` of a v8-serialized batch; a numeric batch's form is NUMERIC plus the parts it carries. */
export const V8_FORM = 0
const NUMERIC = 1
const WITH_KEYS = 2
const WITH_TIMESTAMPS = 4

export interface BatchParts {
  records: unknown[]
  keys: unknown[] | null
  timestamps: number[] | null
}

export interface EncodedBatch {
  /** The batch's own memory (transferable). */
  buffer: ArrayBuffer
  form: number
}

function allNumbers(xs: readonly unknown[]): boolean {
  for (let i = 0; i < xs.length; i++) if (typeof xs[i] !== 'number') return false
  return true
}

function ownBuffer(buf: Buffer): ArrayBuffer {
  const ab = buf.buffer as ArrayBuffer
  return buf.byteOffset === 0 && buf.byteLength === ab.byteLength ? ab : ab.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
}

export function encodeBatch({ records, keys, timestamps }: BatchParts): EncodedBatch {
  const n = records.length
  if (allNumbers(records) && (keys === null || allNumbers(keys)) && (timestamps === null || allNumbers(timestamps))) {
    const parts = 1 + (keys === null ? 0 : 1) + (timestamps === null ? 0 : 1)
    const f = new Float64Array(n * parts)
    f.set(records as number[])
    let at = n
    if (keys !== null) {
      f.set(keys as number[], at)
      at += n
    }
    if (timestamps !== null) f.set(timestamps, at)
    return { buffer: f.buffer, form: NUMERIC | (keys === null ? 0 : WITH_KEYS) | (timestamps === null ? 0 : WITH_TIMESTAMPS) }
  }
  // Record writers fill arrays made at their final size, which V8 keeps as "holey": its serializer
  // takes a slower path for those (~1.5x per batch of strings) than a copy into packed arrays costs.
  return { buffer: ownBuffer(serialize([[...records], keys === null ? null : [...keys], timestamps === null ? null : [...timestamps]])), form: V8_FORM }
}

/**
 * `n` numbers of `f` from `from`, int32 values (not -0) as small integers: an array of those holds
 * them unboxed, as the sender's did, so a consumer that stores one (the current key) allocates
 * nothing; a double read straight from the Float64Array would be boxed on each such store.
 */
function numbers(f: Float64Array, from: number, n: number): number[] {
  const out = new Array<number>(n)
  for (let i = 0; i < n; i++) out[i] = smiIfInt(f[from + i]!)
  return out
}

/** The parts of a batch from its bytes; `records` is how many records it holds. */
export function decodeBatch(data: Uint8Array, form: number, records: number): BatchParts {
  if (form === V8_FORM) {
    const [r, keys, timestamps] = deserialize(data) as [unknown[], unknown[] | null, number[] | null]
    return { records: r, keys, timestamps }
  }
  const f = new Float64Array(data.buffer, data.byteOffset, data.byteLength / 8)
  let at = records
  const keys = (form & WITH_KEYS) === 0 ? null : numbers(f, at, records)
  if (keys !== null) at += records
  const timestamps = (form & WITH_TIMESTAMPS) === 0 ? null : numbers(f, at, records)
  return { records: numbers(f, 0, records), keys, timestamps }
}
