/**
 * NumericColumns: the entries of one keyed state whose values are numbers, kept in typed arrays
 * over SharedArrayBuffers (one slot per key) so that a snapshot's encoding can run on another
 * thread, reading the columns where they are. Counts, sums and other numeric reductions (the bulk
 * of keyed state in practice) take this path; any other value lives in a StateTable
 * (heap-keyed-backend.ts decides per entry). The LSM backend's memtables hold their number
 * values in it too (lsm/memtable.ts), and read a frozen one's columns in place to flush it.
 *
 * The columns are cut into chunks of CHUNK slots (a small table has one smaller chunk), each in two
 * parts: keys (with tags and key groups) and values. `image()` pins every chunk in use and hands
 * out the parts themselves (O(chunks), no copy); a write to a pinned part first replaces it with a
 * copy (copy-on-write, as Flink's copy-on-write state map does per entry), so the image keeps the
 * state at snapshot time while processing goes on. `release()` of the image unpins: parts written
 * after that are written in place again, and the replaced parts become the memory of the next
 * copies, so steady checkpointing allocates nothing and holds at most one copy of the table.
 *
 * Keys are numbers or well-formed strings (strings are stored once, UTF-8, in append-only arena
 * segments when the key is first seen); each slot also holds its key group, computed once at
 * insert, so the encoder never hashes. The task finds a key's slot through an IntKeyIndex for
 * int32 keys (a typed-array hash table the garbage collector never marks: at 4 M keys a job ran
 * in 5 s and 494 MB instead of 9.3 s and 608 MB) and a Map for the others.
 *
 * Architecture Invariant: a pinned part and a written arena byte are never changed; a freed slot
 * is tagged FREE, so an image never encodes a key deleted before it was taken.
 * Pure. Tests: test/numeric-columns.test.ts, test/section-encoder.test.ts, test/lsm-memtable.test.ts.
 */
import { keyGroupForKey, type StateKey } from '../core/key-groups.js'
import { objectArray } from '../core/shapes.js'
import { IntKeyIndex, isIndexKey } from './int-key-index.js'

export const FREE = 0
export const NUMBER_KEY = 1
export const STRING_KEY = 2

/** Slots per chunk: 64 Ki slots; keys 960 KB (key 8, key length 4, key group 2, tag 1 byte per slot), values 512 KB. */
export const CHUNK_BITS = 16
export const CHUNK = 1 << CHUNK_BITS
const MASK = CHUNK - 1
const SEGMENT = 1 << 20
/** A string key's place: segment * 2^32 + offset, exact in a double. */
const SEGMENT_SHIFT = 2 ** 32

/** One chunk's columns as an image reads them. */
export interface ColumnChunk {
  /** Per slot: FREE, NUMBER_KEY or STRING_KEY. */
  tag: Uint8Array
  /** Per slot: the key group of its key. */
  keyGroup: Uint16Array
  /** Per slot: the number key, or where the string key's UTF-8 bytes are (segment * 2^32 + offset). */
  key: Float64Array
  /** Per slot: the string key's length in bytes. */
  keyLength: Uint32Array
  value: Float64Array
}

/** Half of a live chunk in one SharedArrayBuffer: its keys (with tags and key groups), or its values. */
interface Part {
  /** The whole part, for copying it in one go. */
  bytes: Uint8Array
  /** Images that still read this part. */
  pins: number
  /** Replaced by a copy while pinned: once unpinned, its memory is reused for the next copy. */
  retired: boolean
}

interface KeysPart extends Part {
  tag: Uint8Array
  keyGroup: Uint16Array
  key: Float64Array
  keyLength: Uint32Array
}

interface ValuesPart extends Part {
  value: Float64Array
}

/**
 * A live chunk: its keys and its values are copied on write separately, so that updating values
 * (the steady state of a keyed count) copies 8 bytes per slot, not 23.
 */
interface LiveChunk {
  k: KeysPart
  v: ValuesPart
}

function newKeys(capacity: number): KeysPart {
  const buf = new SharedArrayBuffer(capacity * 15) // 8-byte keys first, so every view is aligned
  return {
    bytes: new Uint8Array(buf), pins: 0, retired: false,
    key: new Float64Array(buf, 0, capacity),
    keyLength: new Uint32Array(buf, capacity * 8, capacity),
    keyGroup: new Uint16Array(buf, capacity * 12, capacity),
    tag: new Uint8Array(buf, capacity * 14, capacity),
  }
}

function newValues(capacity: number): ValuesPart {
  const buf = new SharedArrayBuffer(capacity * 8)
  return { bytes: new Uint8Array(buf), pins: 0, retired: false, value: new Float64Array(buf) }
}

/** A chunk of `capacity` slots with `from`'s slots (a smaller chunk's when growing). */
function grownChunk(capacity: number, from?: LiveChunk): LiveChunk {
  const c = { k: newKeys(capacity), v: newValues(capacity) }
  if (from !== undefined) {
    c.k.key.set(from.k.key)
    c.k.keyLength.set(from.k.keyLength)
    c.k.keyGroup.set(from.k.keyGroup)
    c.k.tag.set(from.k.tag)
    c.v.value.set(from.v.value)
  }
  return c
}

/** A state's numeric entries at snapshot time; it can be posted to another thread (shared memory). */
export interface NumericImage {
  name: string
  /** Slots in use (high-water mark); slots at or above it are unused. */
  count: number
  chunks: ColumnChunk[]
  /** Arena segments holding string keys. */
  arena: Uint8Array[]
  /** Live entries per key group (index: key group), so the encoder plans without a pass over the slots. */
  groupCounts: Uint32Array
}

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the configured lib does not declare it). */
type WellFormed = string & { isWellFormed(): boolean }

/** True when `key` can be a column key: a number, or a string that survives UTF-8 unchanged. */
export function columnKey(key: StateKey): boolean {
  return typeof key === 'number' || (typeof key === 'string' && (key as WellFormed).isWellFormed())
}

export class NumericColumns {
  /** Slots of int32 keys (the common case: a typed-array hash table outside the JS heap). */
  private readonly ints = new IntKeyIndex()
  /** Slots of every other key (strings, other numbers). */
  private readonly index = new Map<StateKey, number>()
  /** The key slotOf() found last and its slot (`lastKey` is NaN, equal to nothing, when none). */
  private lastKey: StateKey = Number.NaN
  private lastSlot = -1
  private free: number[] = []
  private count = 0
  /** Live entries per key group. */
  private readonly groupCounts: Uint32Array
  private chunks: LiveChunk[] = []
  /** Parts no image reads any more, kept for the next copies-on-write of parts of their size. */
  private spareKeys = objectArray<KeysPart>()
  private spareValues = objectArray<ValuesPart>()
  private segments: Buffer[] = []
  /** Bytes used in the last segment. */
  private segmentUsed = 0
  private arenaBytes = 0
  /** Arena bytes of keys that were removed (reclaimed when they outweigh the live ones). */
  private arenaGarbage = 0

  constructor(private readonly maxParallelism: number) {
    this.groupCounts = new Uint32Array(maxParallelism)
    if (!exercised) {
      exercised = true
      exerciseCopyOnWrite()
    }
  }

  get size(): number {
    return this.ints.size + this.index.size
  }

  /**
   * An estimate of the memory held: the columns' slots (23 bytes each, free ones too), the int
   * index's table, ~80 bytes per Map entry of the other keys, and the string arena. O(chunks).
   */
  get bytes(): number {
    let n = this.ints.bytes + this.index.size * 80 + this.arenaBytes + this.arenaGarbage
    for (const c of this.chunks) n += c.k.bytes.length + c.v.bytes.length
    return n
  }

  /**
   * The slot of `key`, or undefined. The last key found is remembered: a state access is usually a
   * read and a write of the same key (value() then update()), and the second lookup is then free.
   */
  slotOf(key: StateKey): number | undefined {
    if (key === this.lastKey) return this.lastSlot
    let slot: number | undefined
    if (isIndexKey(key)) {
      const s = this.ints.get(key)
      if (s < 0) return undefined
      slot = s
    } else {
      slot = this.index.get(key)
      if (slot === undefined) return undefined
    }
    this.lastKey = key
    this.lastSlot = slot
    return slot
  }

  valueAt(slot: number): number {
    return this.chunks[slot >>> CHUNK_BITS]!.v.value[slot & MASK]!
  }

  setAt(slot: number, v: number): void {
    let values = this.chunks[slot >>> CHUNK_BITS]!.v
    if (values.pins !== 0) values = this.unshareValues(slot >>> CHUNK_BITS)
    values.value[slot & MASK] = v
  }

  /** Adds a key that is not present yet (columnKey(key) must hold). */
  insert(key: StateKey, v: number): void {
    let slot = this.free.pop()
    if (slot === undefined) {
      this.makeRoom()
      slot = this.count++
    }
    const n = slot >>> CHUNK_BITS
    const k = this.chunks[n]!.k.pins === 0 ? this.chunks[n]!.k : this.unshareKeys(n)
    const i = slot & MASK
    if (typeof key === 'number') {
      k.tag[i] = NUMBER_KEY
      k.key[i] = key
    } else {
      const [at, length] = this.append(key as string)
      k.tag[i] = STRING_KEY
      k.key[i] = at
      k.keyLength[i] = length
    }
    const group = keyGroupForKey(key, this.maxParallelism)
    k.keyGroup[i] = group
    this.groupCounts[group]!++
    this.setAt(slot, v)
    if (isIndexKey(key)) this.ints.insert(key, slot)
    else this.index.set(key, slot)
    this.lastKey = key
    this.lastSlot = slot
  }

  remove(key: StateKey): boolean {
    let slot: number | undefined
    if (isIndexKey(key)) {
      const s = this.ints.delete(key)
      if (s < 0) return false
      slot = s
    } else {
      slot = this.index.get(key)
      if (slot === undefined) return false
      this.index.delete(key)
    }
    if (slot === this.lastSlot) this.lastKey = Number.NaN
    const n = slot >>> CHUNK_BITS
    const k = this.chunks[n]!.k.pins === 0 ? this.chunks[n]!.k : this.unshareKeys(n)
    const i = slot & MASK
    if (k.tag[i] === STRING_KEY) this.arenaGarbage += k.keyLength[i]!
    this.groupCounts[k.keyGroup[i]!]!--
    k.tag[i] = FREE
    this.free.push(slot)
    if (this.arenaGarbage > SEGMENT && this.arenaGarbage > this.arenaBytes / 2) this.compactArena()
    return true
  }

  /** Every live entry (for tests and for tools; snapshots use image()). */
  *entries(): Generator<[StateKey, number]> {
    for (const [k, slot] of this.ints.entries()) yield [k, this.valueAt(slot)]
    for (const [k, slot] of this.index) yield [k, this.valueAt(slot)]
  }

  /** Pins the chunks in use and returns them as a snapshot; call release() once it has been read. */
  image(name: string): { image: NumericImage; release(): void } {
    const used = this.chunks.slice(0, Math.ceil(this.count / CHUNK))
    const chunks: ColumnChunk[] = []
    for (const { k, v } of used) {
      k.pins++
      v.pins++
      chunks.push({ tag: k.tag, keyGroup: k.keyGroup, key: k.key, keyLength: k.keyLength, value: v.value })
    }
    const image: NumericImage = { name, count: this.count, chunks, arena: this.segments.slice(), groupCounts: this.groupCounts.slice() }
    let released = false
    const { spareKeys, spareValues } = this
    const columns = this
    return {
      image,
      release(): void {
        if (released) return
        released = true
        // One spare per chunk at most: all that one image at a time needs; the extra copies made
        // while images overlapped (a savepoint during a checkpoint) are let go. A spare is only
        // reused for a part of its own size (a small table's one chunk grows).
        for (const { k, v } of used) {
          if (--k.pins === 0 && k.retired) {
            k.retired = false
            if (spareKeys.length < columns.chunks.length) spareKeys.push(k)
          }
          if (--v.pins === 0 && v.retired) {
            v.retired = false
            if (spareValues.length < columns.chunks.length) spareValues.push(v)
          }
        }
      },
    }
  }

  /** Replaces chunk `n`'s pinned keys with an unpinned copy; the pinned part stays with its images. */
  private unshareKeys(n: number): KeysPart {
    const c = this.chunks[n]!
    const old = c.k
    const cap = old.tag.length
    const spare = this.spareKeys.pop()
    const k = spare !== undefined && spare.tag.length === cap ? spare : newKeys(cap)
    k.bytes.set(old.bytes)
    old.retired = true
    this.chunks[n] = { k, v: c.v }
    return k
  }

  /** Replaces chunk `n`'s pinned values with an unpinned copy. */
  private unshareValues(n: number): ValuesPart {
    const c = this.chunks[n]!
    const old = c.v
    const cap = old.value.length
    const spare = this.spareValues.pop()
    const v = spare !== undefined && spare.value.length === cap ? spare : newValues(cap)
    v.bytes.set(old.bytes)
    old.retired = true
    this.chunks[n] = { k: c.k, v }
    return v
  }

  /** Makes slot `count` exist: a small table's one chunk doubles up to CHUNK slots, then chunks are added. */
  private makeRoom(): void {
    const last = this.chunks[this.chunks.length - 1]
    if (last === undefined) this.chunks.push(grownChunk(256))
    else if (this.chunks.length === 1 && last.k.tag.length < CHUNK && this.count === last.k.tag.length) this.chunks[0] = grownChunk(last.k.tag.length * 2, last)
    else if (this.count === this.chunks.length * CHUNK) this.chunks.push(grownChunk(CHUNK))
  }

  /** Writes a string key into the arena; returns its place and byte length. */
  private append(s: string): [number, number] {
    const need = s.length * 3
    let seg = this.segments[this.segments.length - 1]
    if (seg === undefined || this.segmentUsed + need > seg.length) {
      // Segments grow from 4 KB to 1 MB, so that a state with a few keys holds a few KB.
      const size = Math.min(SEGMENT, 4096 * 2 ** this.segments.length)
      seg = Buffer.from(new SharedArrayBuffer(Math.max(size, need)))
      this.segments.push(seg)
      this.segmentUsed = 0
    }
    const n = seg.write(s, this.segmentUsed, 'utf8')
    const at = (this.segments.length - 1) * SEGMENT_SHIFT + this.segmentUsed
    this.segmentUsed += n
    this.arenaBytes += n
    return [at, n]
  }

  /** Rewrites the live string keys into new segments (old ones stay with the images holding them). */
  private compactArena(): void {
    const old = arenaBuffers(this.segments)
    this.segments = []
    this.segmentUsed = 0
    this.arenaBytes = 0
    this.arenaGarbage = 0
    for (let slot = 0; slot < this.count; slot++) {
      const n = slot >>> CHUNK_BITS
      const i = slot & MASK
      let k = this.chunks[n]!.k
      if (k.tag[i] !== STRING_KEY) continue
      const [next] = this.append(keyString(old, k.key[i]!, k.keyLength[i]!))
      if (k.pins !== 0) k = this.unshareKeys(n)
      k.key[i] = next
    }
  }
}

let exercised = false

/**
 * Runs the copy-on-write paths once per thread, on a throwaway table, before the first real one is
 * used. V8 compiles a task's hot loop, with setAt and insert inlined, long before the first
 * snapshot; compiled without ever seeing a pinned part (no feedback for these paths, `pins` taken
 * for a constant), that code was thrown away at the first checkpoint and the task ran unoptimized
 * until V8 compiled it again: 50-60 ms of processing lost at 1 M keys.
 */
function exerciseCopyOnWrite(): void {
  const c = new NumericColumns(1)
  c.insert(1, 1)
  c.insert('a', 1)
  // V8 gives a function feedback only after several calls (8 in Node 20), so every round runs
  // every path: a copy into the spare part, a copy into a new part (a second image pins the
  // first copy), keys copied on insert and on remove, and the release that keeps a spare.
  for (let round = 0; round < 16; round++) {
    const first = c.image('')
    c.setAt(c.slotOf(1)!, round)
    const second = c.image('')
    c.setAt(c.slotOf(1)!, round)
    c.insert(2, 2)
    c.remove(2)
    first.release()
    second.release()
  }
}

/** An image's arena segments as Buffers, for keyString. */
export function arenaBuffers(arena: readonly Uint8Array[]): Buffer[] {
  return arena.map((seg) => Buffer.from(seg.buffer, seg.byteOffset, seg.byteLength))
}

/** A string key of an image, from its place (segment * 2^32 + offset) and byte length. */
export function keyString(segments: readonly Buffer[], at: number, length: number): string {
  const off = at % SEGMENT_SHIFT
  return segments[(at - off) / SEGMENT_SHIFT]!.toString('utf8', off, off + length)
}
