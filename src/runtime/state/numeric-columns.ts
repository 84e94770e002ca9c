/**
 * NumericColumns: the entries of one keyed state whose values are numbers, kept in typed arrays
 * (one slot per key) so that a snapshot is a memory copy and its encoding can run on another
 * thread. Counts, sums and other numeric reductions (the bulk of keyed state in practice) take
 * this path; any other value lives in a StateTable (heap-keyed-backend.ts decides per entry).
 *
 * Keys are numbers or well-formed strings (strings are stored once, UTF-8, in an append-only
 * arena when the key is first seen); each slot also holds its key group, computed once at insert,
 * so the encoder never hashes. `image()` copies the used prefix of every column into fresh
 * buffers that can be transferred to the encoder thread: the synchronous part of a snapshot is a
 * few memcpy's (~20 bytes per key), and processing goes on at once on the live columns.
 *
 * Architecture Invariant: an image never shares memory with the live columns, so later writes
 * cannot reach a snapshot; a freed slot is tagged FREE in the same copy, so a deleted key is never
 * encoded.
 * Pure. Tests: test/numeric-columns.test.ts, test/section-encoder.test.ts.
 */
import { keyGroupForKey, type StateKey } from '../core/key-groups.js'

export const FREE = 0
export const NUMBER_KEY = 1
export const STRING_KEY = 2

/** A transferable copy of a state's numeric entries at snapshot time. */
export interface NumericImage {
  name: string
  /** Slots in use (high-water mark); slots at or above it are unused. */
  count: number
  /** Per slot: FREE, NUMBER_KEY or STRING_KEY. */
  tag: Uint8Array
  /** Per slot: the key group of its key. */
  keyGroup: Uint16Array
  /** Per slot: the number key, or the arena offset of the string key's UTF-8 bytes. */
  key: Float64Array
  /** Per slot: the string key's length in bytes. */
  keyLength: Uint32Array
  value: Float64Array
  arena: Uint8Array
}

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the configured lib does not declare it). */
type WellFormed = string & { isWellFormed(): boolean }

/** True when `key` can be a column key: a number, or a string that survives UTF-8 unchanged. */
export function columnKey(key: StateKey): boolean {
  return typeof key === 'number' || (typeof key === 'string' && (key as WellFormed).isWellFormed())
}

export class NumericColumns {
  private readonly index = new Map<StateKey, number>()
  private free: number[] = []
  private count = 0
  private tag = new Uint8Array(0)
  private keyGroup = new Uint16Array(0)
  private key = new Float64Array(0)
  private keyLength = new Uint32Array(0)
  private value = new Float64Array(0)
  private arena = Buffer.alloc(0)
  private arenaUsed = 0
  /** Arena bytes of keys that were removed (reclaimed when they outweigh the live ones). */
  private arenaGarbage = 0

  constructor(private readonly maxParallelism: number) {}

  get size(): number {
    return this.index.size
  }

  /** The slot of `key`, or undefined. */
  slotOf(key: StateKey): number | undefined {
    return this.index.get(key)
  }

  valueAt(slot: number): number {
    return this.value[slot]!
  }

  setAt(slot: number, v: number): void {
    this.value[slot] = v
  }

  /** Adds a key that is not present yet (columnKey(key) must hold). */
  insert(key: StateKey, v: number): void {
    let slot = this.free.pop()
    if (slot === undefined) {
      if (this.count === this.tag.length) this.grow()
      slot = this.count++
    }
    if (typeof key === 'number') {
      this.tag[slot] = NUMBER_KEY
      this.key[slot] = key
    } else {
      const s = key as string
      this.tag[slot] = STRING_KEY
      this.ensureArena(s.length * 3)
      const n = this.arena.write(s, this.arenaUsed, 'utf8')
      this.key[slot] = this.arenaUsed
      this.keyLength[slot] = n
      this.arenaUsed += n
    }
    this.keyGroup[slot] = keyGroupForKey(key, this.maxParallelism)
    this.value[slot] = v
    this.index.set(key, slot)
  }

  remove(key: StateKey): boolean {
    const slot = this.index.get(key)
    if (slot === undefined) return false
    this.index.delete(key)
    if (this.tag[slot] === STRING_KEY) this.arenaGarbage += this.keyLength[slot]!
    this.tag[slot] = FREE
    if (this.index.size === 0) {
      this.count = 0
      this.free = []
      this.arenaUsed = 0
      this.arenaGarbage = 0
    } else this.free.push(slot)
    if (this.arenaGarbage > 1 << 20 && this.arenaGarbage > this.arenaUsed / 2) this.compactArena()
    return true
  }

  /** Every live entry (for tests and for tools; snapshots use image()). */
  *entries(): Generator<[StateKey, number]> {
    for (const [k, slot] of this.index) yield [k, this.value[slot]!]
  }

  /** Copies the columns' used prefixes: a snapshot that shares no memory with this table. */
  image(name: string): NumericImage {
    const n = this.count
    return {
      name,
      count: n,
      tag: this.tag.slice(0, n),
      keyGroup: this.keyGroup.slice(0, n),
      key: this.key.slice(0, n),
      keyLength: this.keyLength.slice(0, n),
      value: this.value.slice(0, n),
      arena: new Uint8Array(this.arena.buffer.slice(this.arena.byteOffset, this.arena.byteOffset + this.arenaUsed)),
    }
  }

  private grow(): void {
    const cap = Math.max(1024, this.tag.length * 2)
    const tag = new Uint8Array(cap)
    tag.set(this.tag)
    const keyGroup = new Uint16Array(cap)
    keyGroup.set(this.keyGroup)
    const key = new Float64Array(cap)
    key.set(this.key)
    const keyLength = new Uint32Array(cap)
    keyLength.set(this.keyLength)
    const value = new Float64Array(cap)
    value.set(this.value)
    this.tag = tag
    this.keyGroup = keyGroup
    this.key = key
    this.keyLength = keyLength
    this.value = value
  }

  private ensureArena(extra: number): void {
    if (this.arenaUsed + extra <= this.arena.length) return
    const next = Buffer.allocUnsafeSlow(Math.max(1 << 16, (this.arenaUsed + extra) * 2))
    this.arena.copy(next, 0, 0, this.arenaUsed)
    this.arena = next
  }

  /** Rewrites the arena with the live string keys only. */
  private compactArena(): void {
    const next = Buffer.allocUnsafeSlow(Math.max(1 << 16, (this.arenaUsed - this.arenaGarbage) * 2))
    let used = 0
    for (let slot = 0; slot < this.count; slot++) {
      if (this.tag[slot] !== STRING_KEY) continue
      const off = this.key[slot]!
      const len = this.keyLength[slot]!
      this.arena.copy(next, used, off, off + len)
      this.key[slot] = used
      used += len
    }
    this.arena = next
    this.arenaUsed = used
    this.arenaGarbage = 0
  }
}
