/**
 * Keys to key groups to subtasks, exactly as Flink's KeyGroupRangeAssignment does:
 * keyGroup = murmur(hash(key)) % maxParallelism; subtask = keyGroup * parallelism / maxParallelism.
 * Key groups are the unit in which keyed state moves when a job is rescaled.
 * Pure. Tests: test/key-groups.test.ts.
 */

export const DEFAULT_MAX_PARALLELISM = 128
export const UPPER_BOUND_MAX_PARALLELISM = 1 << 15

/** The key a state table is indexed by: primitives as they are, composite keys as canonical JSON. */
export type StateKey = string | number | boolean | bigint

/** Composite keys (arrays, objects) become their canonical JSON so that equal keys are one key. */
export function normalizeKey(key: unknown): StateKey {
  switch (typeof key) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return key
    case 'undefined':
      throw new Error('A key selector returned undefined: every record needs a key')
    default:
      if (key === null) throw new Error('A key selector returned null: every record needs a key')
      return canonicalJson(key)
  }
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  if (typeof v === 'bigint') return v.toString()
  return JSON.stringify(v) ?? 'null'
}

/** Java's hashCode of the value a Flink user would have as the key (String, Integer, Long, Double, Boolean). */
export function keyHash(key: StateKey): number {
  if (typeof key === 'string') return stringHash(key)
  if (typeof key === 'number') {
    if ((key | 0) === key) return key
    if (Number.isSafeInteger(key)) return longHash(BigInt(key))
    return doubleHash(key)
  }
  if (typeof key === 'boolean') return key ? 1231 : 1237
  return longHash(key)
}

export function stringHash(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

function longHash(v: bigint): number {
  const u = BigInt.asUintN(64, v)
  return Number(BigInt.asIntN(32, u ^ (u >> 32n)))
}

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
function doubleHash(d: number): number {
  f64[0] = Number.isNaN(d) ? NaN : d
  return (u32[0]! ^ u32[1]!) | 0
}

/** Flink's MathUtils.murmurHash: one round of murmur3 over a 32-bit code, made non-negative. */
export function murmurHash(code: number): number {
  code = Math.imul(code, 0xcc9e2d51)
  code = (code << 15) | (code >>> 17)
  code = Math.imul(code, 0x1b873593)
  code = (code << 13) | (code >>> 19)
  code = (Math.imul(code, 5) + 0xe6546b64) | 0
  code ^= 4
  code ^= code >>> 16
  code = Math.imul(code, 0x85ebca6b)
  code ^= code >>> 13
  code = Math.imul(code, 0xc2b2ae35)
  code ^= code >>> 16
  if (code >= 0) return code
  if (code !== -2147483648) return -code
  return 0
}

export function keyGroupForKey(key: StateKey, maxParallelism: number): number {
  return murmurHash(keyHash(key)) % maxParallelism
}

export function operatorIndexForKeyGroup(maxParallelism: number, parallelism: number, keyGroup: number): number {
  return Math.floor((keyGroup * parallelism) / maxParallelism)
}

/** Inclusive range of key groups [start, end]. */
export interface KeyGroupRange {
  readonly start: number
  readonly end: number
}

export function keyGroupRangeForSubtask(maxParallelism: number, parallelism: number, index: number): KeyGroupRange {
  const start = Math.floor((index * maxParallelism + parallelism - 1) / parallelism)
  const end = Math.floor(((index + 1) * maxParallelism - 1) / parallelism)
  return { start, end }
}

export function rangeContains(r: KeyGroupRange, keyGroup: number): boolean {
  return keyGroup >= r.start && keyGroup <= r.end
}

/** Flink's default: roundUpToPowerOfTwo(1.5 × parallelism), within [128, 32768]. */
export function defaultMaxParallelism(parallelism: number): number {
  const target = Math.ceil(parallelism * 1.5)
  let p = 1
  while (p < target) p <<= 1
  return Math.min(Math.max(p, DEFAULT_MAX_PARALLELISM), UPPER_BOUND_MAX_PARALLELISM)
}
