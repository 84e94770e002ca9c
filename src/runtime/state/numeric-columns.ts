/**
 * NumericColumns: the entries of one keyed state whose values are numbers, kept in typed arrays
 * over SharedArrayBuffers (one slot per key) so that a snapshot's encoding can run on another
 * thread, reading the columns where they are. Counts, sums and other numeric reductions (the bulk
 * of keyed state in practice) take this path; any other value lives in a StateTable
 * (heap-keyed-backend.ts decides per entry).
 *
 * The columns are cut into chunks of CHUNK slots (a small table has one smaller chunk). `image()` pins every chunk in use and hands out
 * the chunks themselves (O(chunks), no copy); a write to a pinned chunk first replaces it with a
 * copy (copy-on-write, as Flink's copy-on-write state map does per entry), so the image keeps the
 * state at snapshot time while processing goes on. `release()` of the image unpins: chunks
 * written after that are written in place again, and the replaced chunks become the memory of the
 * next copies, so steady checkpointing allocates nothing and holds at most one copy of the table. Keys are numbers or well-formed strings
 * (strings are stored once, UTF-8, in append-only arena segments when the key is first seen);
 * each slot also holds its key group, computed once at insert, so the encoder never hashes.
 *
 * Architecture Invariant: a pinned chunk and a written arena byte are never changed; a freed slot
 * is tagged FREE, so an image never encodes a key deleted before it was taken.
 * Pure. Tests: test/numeric-columns.test.ts, test/section-encoder.test.ts.
 */
import { keyGroupForKey, type StateKey } from '../core/key-groups.js'

export const FREE = 0
export const NUMBER_KEY = 1
export const STRING_KEY = 2

/** Slots per chunk: 64 Ki slots, 1.5 MB. */
export const CHUNK_BITS = 16
export const CHUNK = 1 << CHUNK_BITS
const MASK = CHUNK - 1
/** Bytes per slot: tag 1, key group 2, key length 4, key 8, value 8 (aligned: 8-byte arrays first). */
const SLOT_BYTES = 23
const SEGMENT = 1 << 20
/** A string key's place: segment * 2^32 + offset, exact in a double. */
const SEGMENT_SHIFT = 2 ** 32

/** One chunk's columns, views over one SharedArrayBuffer. */
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

interface LiveChunk extends ColumnChunk {
  /** Images that still read this chunk. */
  pins: number
  /** Replaced by a copy while pinned: once unpinned, its memory is reused for the next copy. */
  retired: boolean
  /** The whole chunk, for copying it in one go. */
  bytes: Uint8Array
}

/** A state's numeric entries at snapshot time; it can be posted to another thread (shared memory). */
export interface NumericImage {
  name: string
  /** Slots in use (high-water mark); slots at or above it are unused. */
  count: number
  chunks: ColumnChunk[]
  /** Arena segments holding string keys. */
  arena: Uint8Array[]
}

const NONE: unique symbol = Symbol('none')

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the configured lib does not declare it). */
type WellFormed = string & { isWellFormed(): boolean }

/** True when `key` can be a column key: a number, or a string that survives UTF-8 unchanged. */
export function columnKey(key: StateKey): boolean {
  return typeof key === 'number' || (typeof key === 'string' && (key as WellFormed).isWellFormed())
}

/** A chunk of `capacity` slots (CHUNK, or less for a small table's only chunk), with `from`'s slots. */
function newChunk(capacity: number, from?: ColumnChunk): LiveChunk {
  const buf = new SharedArrayBuffer(capacity * SLOT_BYTES)
  const c: LiveChunk = {
    key: new Float64Array(buf, 0, capacity),
    value: new Float64Array(buf, capacity * 8, capacity),
    keyLength: new Uint32Array(buf, capacity * 16, capacity),
    keyGroup: new Uint16Array(buf, capacity * 20, capacity),
    tag: new Uint8Array(buf, capacity * 22, capacity),
    pins: 0,
    retired: false,
    bytes: new Uint8Array(buf),
  }
  if (from !== undefined) copyChunk(from, c)
  return c
}

function copyChunk(from: ColumnChunk, to: LiveChunk): void {
  if (from.tag.length === to.tag.length) {
    to.bytes.set(new Uint8Array(from.key.buffer, 0, to.bytes.length))
    return
  }
  to.key.set(from.key)
  to.value.set(from.value)
  to.keyLength.set(from.keyLength)
  to.keyGroup.set(from.keyGroup)
  to.tag.set(from.tag)
}

export class NumericColumns {
  private readonly index = new Map<StateKey, number>()
  /** The key slotOf() found last and its slot (`lastKey` is a symbol when none). */
  private lastKey: StateKey | symbol = NONE
  private lastSlot = -1
  private free: number[] = []
  private count = 0
  private chunks: LiveChunk[] = []
  /** Full-size chunks no image reads any more, kept for the next copy-on-write. */
  private spare: LiveChunk[] = []
  private segments: Buffer[] = []
  /** Bytes used in the last segment. */
  private segmentUsed = 0
  private arenaBytes = 0
  /** Arena bytes of keys that were removed (reclaimed when they outweigh the live ones). */
  private arenaGarbage = 0

  constructor(private readonly maxParallelism: number) {}

  get size(): number {
    return this.index.size
  }

  /**
   * The slot of `key`, or undefined. The last key found is remembered: a state access is usually a
   * read and a write of the same key (value() then update()), and the second lookup is then free.
   */
  slotOf(key: StateKey): number | undefined {
    if (key === this.lastKey) return this.lastSlot
    const slot = this.index.get(key)
    if (slot !== undefined) {
      this.lastKey = key
      this.lastSlot = slot
    }
    return slot
  }

  valueAt(slot: number): number {
    return this.chunks[slot >>> CHUNK_BITS]!.value[slot & MASK]!
  }

  setAt(slot: number, v: number): void {
    let c = this.chunks[slot >>> CHUNK_BITS]!
    if (c.pins !== 0) c = this.unshare(slot >>> CHUNK_BITS)
    c.value[slot & MASK] = v
  }

  /** Adds a key that is not present yet (columnKey(key) must hold). */
  insert(key: StateKey, v: number): void {
    let slot = this.free.pop()
    if (slot === undefined) {
      this.makeRoom()
      slot = this.count++
    }
    let c = this.chunks[slot >>> CHUNK_BITS]!
    if (c.pins !== 0) c = this.unshare(slot >>> CHUNK_BITS)
    const i = slot & MASK
    if (typeof key === 'number') {
      c.tag[i] = NUMBER_KEY
      c.key[i] = key
    } else {
      const [at, n] = this.append(key as string)
      c.tag[i] = STRING_KEY
      c.key[i] = at
      c.keyLength[i] = n
    }
    c.keyGroup[i] = keyGroupForKey(key, this.maxParallelism)
    c.value[i] = v
    this.index.set(key, slot)
    this.lastKey = key
    this.lastSlot = slot
  }

  remove(key: StateKey): boolean {
    const slot = this.index.get(key)
    if (slot === undefined) return false
    this.index.delete(key)
    if (slot === this.lastSlot) this.lastKey = NONE
    let c = this.chunks[slot >>> CHUNK_BITS]!
    if (c.pins !== 0) c = this.unshare(slot >>> CHUNK_BITS)
    const i = slot & MASK
    if (c.tag[i] === STRING_KEY) this.arenaGarbage += c.keyLength[i]!
    c.tag[i] = FREE
    this.free.push(slot)
    if (this.arenaGarbage > SEGMENT && this.arenaGarbage > this.arenaBytes / 2) this.compactArena()
    return true
  }

  /** Every live entry (for tests and for tools; snapshots use image()). */
  *entries(): Generator<[StateKey, number]> {
    for (const [k, slot] of this.index) yield [k, this.valueAt(slot)]
  }

  /** Pins the chunks in use and returns them as a snapshot; call release() once it has been read. */
  image(name: string): { image: NumericImage; release(): void } {
    const used = this.chunks.slice(0, Math.ceil(this.count / CHUNK))
    for (const c of used) c.pins++
    const image: NumericImage = { name, count: this.count, chunks: used, arena: this.segments.slice() }
    let released = false
    const spare = this.spare
    return {
      image,
      release(): void {
        if (released) return
        released = true
        for (const c of used) {
          if (--c.pins !== 0 || !c.retired) continue
          c.retired = false
          spare.push(c)
        }
      },
    }
  }

  /** Replaces pinned chunk `n` with an unpinned copy; the pinned one stays with its images. */
  private unshare(n: number): LiveChunk {
    const old = this.chunks[n]!
    let c: LiveChunk
    const reuse = old.tag.length === CHUNK ? this.spare.pop() : undefined
    if (reuse === undefined) c = newChunk(old.tag.length, old)
    else {
      copyChunk(old, reuse)
      c = reuse
    }
    old.retired = true
    this.chunks[n] = c
    return c
  }

  /** Makes slot `count` exist: a small table's one chunk doubles up to CHUNK slots, then chunks are added. */
  private makeRoom(): void {
    const last = this.chunks[this.chunks.length - 1]
    if (last === undefined) this.chunks.push(newChunk(256))
    else if (this.chunks.length === 1 && last.tag.length < CHUNK && this.count === last.tag.length) this.chunks[0] = newChunk(last.tag.length * 2, last)
    else if (this.count === this.chunks.length * CHUNK) this.chunks.push(newChunk(CHUNK))
  }

  /** Writes a string key into the arena; returns its place and byte length. */
  private append(s: string): [number, number] {
    const need = s.length * 3
    let seg = this.segments[this.segments.length - 1]
    if (seg === undefined || this.segmentUsed + need > seg.length) {
      // Segments grow from 4 KB to 1 MB, so that a state with a few keys holds a few KB.
      const size = Math.min(SEGMENT, 4096 << this.segments.length)
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
    const old = this.segments
    this.segments = []
    this.segmentUsed = 0
    this.arenaBytes = 0
    this.arenaGarbage = 0
    for (let slot = 0; slot < this.count; slot++) {
      let c = this.chunks[slot >>> CHUNK_BITS]!
      const i = slot & MASK
      if (c.tag[i] !== STRING_KEY) continue
      const at = c.key[i]!
      const seg = old[Math.floor(at / SEGMENT_SHIFT)]!
      const off = at % SEGMENT_SHIFT
      const [next] = this.append(seg.toString('utf8', off, off + c.keyLength[i]!))
      if (c.pins !== 0) c = this.unshare(slot >>> CHUNK_BITS)
      c.key[i] = next
    }
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
