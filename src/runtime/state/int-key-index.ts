/**
 * IntKeyIndex: a map from 32-bit integer keys to slots (non-negative integers), as an
 * open-addressing hash table in one Int32Array: each entry is [key, slot + 1] side by side (0 marks
 * an empty entry), probed linearly from a Fibonacci hash of the key; removal shifts the entries
 * after it back (no tombstones), and the table doubles at half full. For the numeric columns'
 * integer keys (the common keys of keyed state) it costs 8-16 bytes per key outside V8's heap
 * (a `Map` entry costs ~30 bytes on it, all of which the garbage collector marks) and a lookup
 * is a multiply and, mostly, one cache line.
 * Pure. Tests: test/int-key-index.test.ts.
 */

/** Fibonacci hashing's multiplier: 2^32 / golden ratio. */
const GOLDEN = 0x9e3779b9 | 0
/** Keys that differ only in their low GROUP_BITS bits have neighbouring homes (one cache line). */
const GROUP_BITS = 3
const GROUP_MASK = (1 << GROUP_BITS) - 1

export class IntKeyIndex {
  /** Entries: table[2i] the key, table[2i + 1] its slot + 1 (0: empty). */
  private table: Int32Array
  private bits: number
  private mask: number
  private count = 0

  constructor(initialBits = 4) {
    initialBits = Math.max(GROUP_BITS + 1, initialBits)
    this.bits = initialBits
    this.mask = (1 << initialBits) - 1
    this.table = new Int32Array(2 << initialBits)
  }

  get size(): number {
    return this.count
  }

  /** Bytes of the table (outside V8's heap). */
  get bytes(): number {
    return this.table.byteLength
  }

  /** The slot of `key` (an int32), or -1. */
  get(key: number): number {
    const i = this.find(key)
    return i < 0 ? -1 : this.table[2 * i + 1]! - 1
  }

  /** The entry holding `key`, or -1. */
  private find(key: number): number {
    const t = this.table
    const mask = this.mask
    let i = this.home(key)
    for (;;) {
      const s = t[2 * i + 1]!
      if (s === 0) return -1
      if (t[2 * i] === key) return i
      i = (i + 1) & mask
    }
  }

  /** Maps `key` (an int32, not present) to `slot`. */
  insert(key: number, slot: number): void {
    if (this.count >= (this.mask + 1) >>> 1) this.grow()
    this.place(key, slot)
    this.count++
  }

  /** Removes `key`; its slot, or -1 when it was not present. */
  delete(key: number): number {
    const i = this.find(key)
    if (i < 0) return -1
    const t = this.table
    const mask = this.mask
    const slot = t[2 * i + 1]! - 1
    // Backward shift: move later entries of the probe run into the hole when their home allows it.
    let hole = i
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const s = t[2 * j + 1]!
      if (s === 0) break
      const home = this.home(t[2 * j]!)
      // The entry at j may fill the hole if its home is not within (hole, j] cyclically.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        t[2 * hole] = t[2 * j]!
        t[2 * hole + 1] = s
        hole = j
      }
    }
    t[2 * hole] = 0
    t[2 * hole + 1] = 0
    this.count--
    return slot
  }

  /** Every [key, slot], in table order. */
  *entries(): Generator<[number, number]> {
    const t = this.table
    for (let i = 0; i < t.length; i += 2) if (t[i + 1] !== 0) yield [t[i]!, t[i + 1]! - 1]
  }

  /**
   * Where `key`'s probe starts: a Fibonacci hash of the key without its low bits picks a group of
   * 2^GROUP_BITS entries, the low bits the entry in it. So keys met in order (0, 1, 2, …) share
   * cache lines instead of costing a cache miss each, while strided keys still spread.
   */
  private home(key: number): number {
    return ((Math.imul(key >> GROUP_BITS, GOLDEN) >>> (32 - this.bits + GROUP_BITS)) << GROUP_BITS) | (key & GROUP_MASK)
  }

  private place(key: number, slot: number): void {
    const t = this.table
    const mask = this.mask
    let i = this.home(key)
    while (t[2 * i + 1] !== 0) i = (i + 1) & mask
    t[2 * i] = key
    t[2 * i + 1] = slot + 1
  }

  private grow(): void {
    const old = this.table
    this.bits++
    this.mask = (1 << this.bits) - 1
    this.table = new Int32Array(2 << this.bits)
    for (let i = 0; i < old.length; i += 2) if (old[i + 1] !== 0) this.place(old[i]!, old[i + 1]! - 1)
  }
}

/** True when `key` is a number the index takes: an integer in int32 range (-0 counts as 0, as in a Map). */
export function isIndexKey(key: unknown): key is number {
  return typeof key === 'number' && (key | 0) === key
}
