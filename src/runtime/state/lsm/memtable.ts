/**
 * The memtables of the embedded LSM backend (lsm-keyed-backend.ts) and their flush into tables.
 *
 * A Memtable holds one state's newest writes. Entries whose value is a number (and whose key is a
 * number or a string) live in NumericColumns: int32 keys are found through an IntKeyIndex, a
 * typed-array hash table outside V8's heap, and values sit in typed arrays, so the common keyed
 * count or sum neither allocates per write nor gives the garbage collector a million-entry Map to
 * mark. Every other entry, and every deletion (a TOMBSTONE, which must shadow older tables), lives
 * in a Map. A key is in at most one of the two.
 *
 * A frozen memtable is never written again (the backend replaces it with a new one), so a flush
 * reads its columns in place: `flushGroups` yields the key groups of a frozen layer in ascending
 * order, each as a function that adds the group's entries to a table writer in encoded-key order.
 * Int32 keys with number values are sorted by their encoded order as numbers (intKeyOrder, packed
 * with their slot into 64-bit integers: a native sort, no comparator) and written by
 * SstWriter.addInt without building an entry; the others are built as entries and merged in.
 *
 * Architecture Invariant: a key is in the columns or in the Map, never both; a flush writes exactly
 * the entries get() sees, in strictly ascending encoded keys.
 * Does nothing when imported; must not import the task or the CLI. Tests: test/lsm-memtable.test.ts,
 * test/lsm.test.ts, test/keyed-backend.test.ts.
 */
import { keyGroupForKey, type StateKey } from '../../core/key-groups.js'
import { CHUNK, NUMBER_KEY, NumericColumns, STRING_KEY, arenaBuffers, columnKey, keyString } from '../numeric-columns.js'
import { ENTRY_OVERHEAD } from './memory.js'
import { smiIfInt } from '../../core/v8-wire.js'
import { directPrefix, encodeKey, intKeyOrder, type SstEntry, type SstWriter } from './sstable.js'

export const TOMBSTONE: unique symbol = Symbol('deleted')

/**
 * What a number entry in the columns is charged at least: what it was charged as a Map entry
 * (ENTRY_OVERHEAD + 16). The budget's RSS bound (10 M keys, 256 MB: peak RSS <= 600 MB) was
 * measured with that charge; charged only their ~40 bytes, memtables and cached layers held about
 * twice the entries and the run's RSS rose from ~500 MB to ~600 MB (V8's heap, thread heaps and
 * flush transients are outside the estimate). The columns' smaller real size is that headroom.
 */
export const NUMERIC_ENTRY_CHARGE = ENTRY_OVERHEAD + 16

export class Memtable {
  /** Entries with a number value and a column key; created with the first one. */
  private nums: NumericColumns | undefined
  /** Every other entry: other values, deletions (TOMBSTONE), keys the columns do not take. */
  readonly other = new Map<StateKey, unknown>()

  constructor(private readonly maxParallelism: number) {}

  get size(): number {
    return (this.nums?.size ?? 0) + this.other.size
  }

  /** Entries in the columns (tests). */
  get columnEntries(): number {
    return this.nums?.size ?? 0
  }

  /**
   * Estimated memory: `valueBytes` + ENTRY_OVERHEAD per Map entry; for the columns what their typed
   * arrays hold (~40 bytes an entry), but never less than NUMERIC_ENTRY_CHARGE an entry.
   */
  bytes(valueBytes: number): number {
    const n = this.nums
    return (n === undefined ? 0 : Math.max(n.bytes, n.size * NUMERIC_ENTRY_CHARGE)) + this.other.size * (ENTRY_OVERHEAD + valueBytes)
  }

  /** The value of `key`: TOMBSTONE when deleted here, undefined when this memtable does not know it. */
  get(key: StateKey): unknown {
    const n = this.nums
    if (n !== undefined) {
      const slot = n.slotOf(key)
      if (slot !== undefined) return n.valueAt(slot)
    }
    return this.other.size === 0 ? undefined : this.other.get(key)
  }

  /** Sets `key` to `value` (TOMBSTONE: deleted). */
  set(key: StateKey, value: unknown): void {
    const n = this.nums
    if (typeof value === 'number') {
      if (n !== undefined) {
        const slot = n.slotOf(key)
        if (slot !== undefined) {
          n.setAt(slot, value)
          return
        }
      }
      if (columnKey(key)) {
        if (this.other.size > 0) this.other.delete(key)
        ;(this.nums ??= new NumericColumns(this.maxParallelism)).insert(key, value)
        return
      }
    } else if (n !== undefined && n.size > 0) n.remove(key)
    this.other.set(key, value)
  }

  /** Every entry, deletions as TOMBSTONE (tests, tools; flushes use flushGroups). */
  *entries(): Generator<[StateKey, unknown]> {
    if (this.nums !== undefined) yield* this.nums.entries()
    yield* this.other
  }

  /** The columns as an image (read in place: a frozen memtable is not written); release() it after. */
  image(name: string): ReturnType<NumericColumns['image']> | undefined {
    return this.nums === undefined || this.nums.size === 0 ? undefined : this.nums.image(name)
  }
}

/** One state's frozen memtable in a flush. */
export interface FlushPart {
  name: string
  mem: Memtable
}

/** What a flush writes of one state, prepared: int32-keyed column entries by key group, and other entries. */
interface PreparedPart {
  name: string
  /** Per key group g: its int32-keyed column entries are keys/values[start[g] .. start[g + 1]). */
  start: Int32Array | undefined
  keys: Int32Array | undefined
  values: Float64Array | undefined
  /** Entries written as arrays, per key group (sorted when the group is written). */
  entries: Map<number, SstEntry[]>
  /** False when the name is not written directly (not one-byte): every entry goes as an array. */
  direct: boolean
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
/** Bits of a group-local index packed under intKeyOrder (< 2^41) in a 64-bit sort key. */
const INDEX_BITS = 22

/**
 * The entries of frozen memtables (one layer across states), for a flush: prepare() (a generator:
 * the caller may pause between its steps) reads the columns once, then groups() yields every key
 * group with entries, ascending, as a function writing that group's entries in encoded-key order.
 * Call release() when done (it unpins the column images).
 */
export class FlushPlan {
  private readonly parts: PreparedPart[] = []
  private readonly releases: (() => void)[] = []
  /** Sampled values and keys of Map entries per state (the backend's memory estimate). */
  readonly samples = new Map<string, { values: unknown[]; keys: StateKey[] }>()

  constructor(
    private readonly input: readonly FlushPart[],
    private readonly maxParallelism: number,
  ) {}

  *prepare(): Generator<void> {
    // Entries of one key group sort by state name, then key: states in the order of their names
    // as encoded keys compare them (the name, then a NUL). A name holding a NUL may interleave
    // with another's entries: then every entry is an array entry, all states' in one list per key
    // group, sorted together.
    const ordered = [...this.input].sort((a, b) => {
      const x = `${a.name}\u0000`
      const y = `${b.name}\u0000`
      return x < y ? -1 : x > y ? 1 : 0
    })
    const nul = ordered.some((p) => p.name.includes('\u0000'))
    const maxP = this.maxParallelism
    const shared = nul ? new Map<number, SstEntry[]>() : undefined
    for (const { name, mem } of ordered) {
      const entries = shared ?? new Map<number, SstEntry[]>()
      const add = (e: SstEntry): void => {
        let list = entries.get(e[1])
        if (list === undefined) entries.set(e[1], (list = []))
        list.push(e)
      }
      const direct = !nul && directPrefix(0, name) !== undefined
      const held = mem.image(name)
      let start: Int32Array | undefined
      let keys: Int32Array | undefined
      let values: Float64Array | undefined
      if (held !== undefined) {
        this.releases.push(held.release)
        const im = held.image
        const segments = arenaBuffers(im.arena)
        // Count int32-keyed entries per key group, then copy them out grouped (a counting sort by
        // key group, reading the columns in order; a group is then contiguous when it is sorted and
        // written); every other column entry becomes an array entry.
        const count = new Int32Array(maxP + 1)
        for (let base = 0, ci = 0; base < im.count; base += CHUNK, ci++) {
          const { tag, keyGroup, key, keyLength, value } = im.chunks[ci]!
          const n = Math.min(CHUNK, im.count - base)
          for (let j = 0; j < n; j++) {
            const t = tag[j]
            if (t === NUMBER_KEY && direct && (key[j]! | 0) === key[j]) count[keyGroup[j]! + 1]!++
            // -0 is the key 0, as in a Map.
            else if (t === NUMBER_KEY) add(entry(keyGroup[j]!, name, key[j]! === 0 ? 0 : key[j]!, value[j]!))
            else if (t === STRING_KEY) add(entry(keyGroup[j]!, name, keyString(segments, key[j]!, keyLength[j]!), value[j]!))
          }
          yield
        }
        for (let g = 0; g < maxP; g++) count[g + 1]! += count[g]!
        start = count
        keys = new Int32Array(count[maxP]!)
        values = new Float64Array(count[maxP]!)
        const at = count.slice(0, maxP)
        for (let base = 0, ci = 0; base < im.count; base += CHUNK, ci++) {
          const { tag, keyGroup, key, value } = im.chunks[ci]!
          const n = Math.min(CHUNK, im.count - base)
          for (let j = 0; j < n; j++) {
            if (tag[j] === NUMBER_KEY && direct && (key[j]! | 0) === key[j]) {
              const i = at[keyGroup[j]!]!++
              keys[i] = key[j]!
              values[i] = value[j]!
            }
          }
          yield
        }
        held.release()
      }
      const sampleValues: unknown[] = []
      const sampleKeys: StateKey[] = []
      let i = 0
      for (const [k, v] of mem.other) {
        const kg = keyGroupForKey(k, maxP)
        // Numbers as v8 represents int32s it computed, so that their bytes do not depend on how they were made.
        const key = typeof k === 'number' ? smiIfInt(k) : k
        add(v === TOMBSTONE ? [encodeKey(kg, name, k), kg, name, key, 1, null] : [encodeKey(kg, name, k), kg, name, key, 0, typeof v === 'number' ? smiIfInt(v) : v])
        if (sampleValues.length < 32 && (i & 7) === 0) {
          sampleValues.push(v)
          sampleKeys.push(k)
        }
        if ((++i & 1023) === 0) yield
      }
      if (sampleValues.length > 0) this.samples.set(name, { values: sampleValues, keys: sampleKeys })
      if (shared === undefined) this.parts.push({ name, start, keys, values, entries, direct })
    }
    if (shared !== undefined) this.parts.push({ name: '', start: undefined, keys: undefined, values: undefined, entries: shared, direct: false })
  }

  /** Unpins the column images. */
  release(): void {
    for (const r of this.releases.splice(0)) r()
  }

  /** Key groups with entries, ascending, each with a function writing them to `w` in key order. */
  *groups(): Generator<[number, (w: SstWriter) => void]> {
    const maxP = this.maxParallelism
    const has = new Uint8Array(maxP)
    for (const p of this.parts) {
      if (p.start !== undefined) for (let g = 0; g < maxP; g++) if (p.start[g + 1]! > p.start[g]!) has[g] = 1
      for (const g of p.entries.keys()) has[g] = 1
    }
    for (let g = 0; g < maxP; g++) {
      if (has[g] === 0) continue
      yield [g, (w) => {
        for (const p of this.parts) this.writePart(p, g, w)
      }]
    }
  }

  /** Writes state `p`'s entries of key group `g`: int32-keyed column entries directly, merged with the array entries. */
  private writePart(p: PreparedPart, g: number, w: SstWriter): void {
    const arrays = p.entries.get(g)
    if (arrays !== undefined) {
      arrays.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      p.entries.delete(g)
    }
    const from = p.start?.[g] ?? 0
    const n = (p.start?.[g + 1] ?? 0) - from
    if (n === 0) {
      if (arrays !== undefined) for (const e of arrays) w.add(e)
      return
    }
    const keys = p.keys!
    const values = p.values!
    const orders = new Float64Array(n)
    const order = sortedByKey(keys, from, n, orders)
    const prefix = directPrefix(g, p.name)!
    let j = 0
    for (let i = 0; i < n; i++) {
      const index = order[i]!
      const at = from + index
      const key = keys[at]!
      if (arrays !== undefined && j < arrays.length) {
        // Array entries that sort before this key go first (built keys are compared as strings).
        const enc = prefix.prefix + String(key)
        while (j < arrays.length && arrays[j]![0] < enc) w.add(arrays[j++]!)
      }
      w.addInt(prefix, key, values[at]!, orders[index]!)
    }
    if (arrays !== undefined) while (j < arrays.length) w.add(arrays[j++]!)
  }
}

/**
 * The group-local indexes 0..n-1 of keys[from..from+n) in ascending intKeyOrder, which `orders`
 * receives by index: each key's order (< 2^41) and its index (< 2^22) packed into one 64-bit
 * integer, sorted natively (no comparator).
 */
function sortedByKey(keys: Int32Array, from: number, n: number, orders: Float64Array): Int32Array {
  const out = new Int32Array(n)
  if (n >= 2 ** INDEX_BITS) {
    // Beyond what the packing holds: a comparator sort (slower, never expected from one flush's key group).
    for (let i = 0; i < n; i++) {
      orders[i] = intKeyOrder(keys[from + i]!)
      out[i] = i
    }
    return out.sort((a, b) => orders[a]! - orders[b]!)
  }
  const packed = new BigUint64Array(n)
  const words = new Uint32Array(packed.buffer)
  const lo = LITTLE_ENDIAN ? 0 : 1
  const hi = 1 - lo
  const shift = 2 ** (32 - INDEX_BITS)
  for (let i = 0; i < n; i++) {
    const o = intKeyOrder(keys[from + i]!)
    // o * 2^22 + i, as two 32-bit words: o's high bits above, its low 10 bits over the index.
    words[2 * i + hi] = Math.floor(o / shift)
    words[2 * i + lo] = ((o % shift) * 2 ** INDEX_BITS + i) >>> 0
  }
  packed.sort()
  const mask = 2 ** INDEX_BITS - 1
  for (let i = 0; i < n; i++) {
    const index = words[2 * i + lo]! & mask
    out[i] = index
    orders[index] = words[2 * i + hi]! * shift + (words[2 * i + lo]! >>> INDEX_BITS)
  }
  return out
}

/** A column entry as an array; numbers read from the columns as v8 would represent them computed (as addInt writes them). */
function entry(kg: number, name: string, key: StateKey, value: number): SstEntry {
  return [encodeKey(kg, name, key), kg, name, typeof key === 'number' ? smiIfInt(key) : key, 0, smiIfInt(value)]
}

