/**
 * Sorted string tables: the immutable files of the embedded LSM state backend.
 *
 * File layout, version 2 (little endian):
 *   block*            v8-serialized arrays of up to 32 entries, sorted by encoded key
 *   index             v8-serialized SstIndex (first key, offset and CRC-32 of every block; bloom
 *                     filter; key groups present; level and owned key groups for the LSM)
 *   footer (24 bytes) "TSST", u32 version 2, u64 index offset, u32 index length, u32 index CRC-32
 * Offsets are 64-bit: a table may be larger than 4 GiB. Every block and the index carry a CRC-32
 * that is verified when they are read: a corrupt block fails the read with an error naming the
 * file. Version 1 tables (u32 offsets, no checksums; footer "TSST", 1, u32 index offset, u32
 * index length) are still read, so checkpoints taken before stay restorable.
 *
 * An entry is [encodedKey, keyGroup, stateName, key, deleted (0|1), value]. Encoded keys start with
 * the key group (4 hex digits), so a key-group range is one contiguous run of the file.
 * The writer takes entries as arrays (blocks go through v8.serialize) or, for the common entry of a
 * flush (an int32 key with a number value, `addInt`), as parts it writes directly in v8's
 * serialization format: the same bytes v8.serialize writes for that entry, without building the
 * entry, its encoded key or the block array first.
 * Pure file format: a streaming writer (memory bounded by one block), a reader with a shared block
 * cache, range scans. Must not import the task, the checkpoint coordinator or the CLI.
 * Tests: test/lsm.test.ts, test/lsm-compaction.test.ts, test/lsm-memtable.test.ts.
 */
import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { deserialize, serialize } from 'node:v8'
import { crc32 } from 'node:zlib'
import { murmurHash, stringHash, type StateKey } from '../../core/key-groups.js'
import { TAG_ARRAY, TAG_END_ARRAY, TAG_INT, TAG_ONE_BYTE_STRING, V8_HEADER, smiIfInt, writeNumber, writeSmi, writeVarint } from '../../core/v8-wire.js'

export type SstEntry = [enc: string, keyGroup: number, name: string, key: StateKey, deleted: 0 | 1, value: unknown]

const MAGIC = 0x54535354 // "TSST"
const VERSION = 2
const FOOTER = 24
const FOOTER_V1 = 16
/** Entries per block: small blocks keep a point lookup that misses the cache cheap. */
export const BLOCK_ENTRIES = 32
const BLOOM_BITS_PER_KEY = 10

/** A block's bytes before its entries: the header, 'A' and a one-byte entry count (at most BLOCK_ENTRIES). */
const BLOCK_HEAD = V8_HEADER.length + 2
/** The most bytes addInt writes for an entry beyond its prefix and name. */
const MAX_DIRECT_BYTES = 48

/** The sort key of a state entry: key group, state name, typed key. */
export function encodeKey(keyGroup: number, name: string, key: StateKey): string {
  const tag = typeof key === 'string' ? 's' : typeof key === 'number' ? 'n' : typeof key === 'boolean' ? 'b' : 'i'
  return `${keyGroupPrefix(keyGroup)}\u0000${name}\u0000${tag}${String(key)}`
}

/** The first characters of every encoded key of a key group; encoded keys of key group g sort before those of g+1. */
export function keyGroupPrefix(keyGroup: number): string {
  return keyGroup.toString(16).padStart(4, '0')
}

/**
 * The order of int32 keys' encoded forms (`String(key)` compared as strings: "-…" before digits,
 * "10" before "9") as a number below 2^41: the decimal digits right-padded with zeros to 10, times
 * 16, plus the digit count (a prefix sorts first); non-negative keys above all negative ones.
 */
export function intKeyOrder(k: number): number {
  const u = k < 0 ? -k : k
  const d = u < 1e5 ? (u < 100 ? (u < 10 ? 1 : 2) : u < 1e3 ? 3 : u < 1e4 ? 4 : 5) : u < 1e7 ? (u < 1e6 ? 6 : 7) : u < 1e8 ? 8 : u < 1e9 ? 9 : 10
  return (k < 0 ? 0 : 2 ** 40) + u * POW10[10 - d]! * 16 + d
}

const POW10 = Array.from({ length: 11 }, (_, i) => 10 ** i)

/**
 * What every entry of one state and key group shares, for SstWriter.addInt: its encoded key's
 * prefix (up to the key's tag), that prefix's hash and bytes, the state name as v8 writes it.
 */
export interface DirectPrefix {
  keyGroup: number
  name: string
  /** The encoded key without the key's digits: key group, state name, tag 'n'. */
  prefix: string
  /** stringHash of `prefix` (the hash of an encoded key continues from it). */
  hash: number
  prefixBytes: Uint8Array
  /** The name as a v8 one-byte string ('"', length, bytes). */
  nameBytes: Uint8Array
}

/** A DirectPrefix, or undefined when the name is not a one-byte (Latin-1) string v8 writes as such. */
export function directPrefix(keyGroup: number, name: string): DirectPrefix | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[^\u0000-\u00ff]/.test(name)) return undefined
  const prefix = `${keyGroupPrefix(keyGroup)}\u0000${name}\u0000n`
  const nameBytes = serialize(name).subarray(2)
  if (nameBytes[0] !== TAG_ONE_BYTE_STRING) return undefined
  return { keyGroup, name, prefix, hash: stringHash(prefix), prefixBytes: Buffer.from(prefix, 'latin1'), nameBytes: Uint8Array.from(nameBytes) }
}

/** The two hashes of a key a bloom filter probes with; computed once per lookup, for every table. */
export function bloomHash(enc: string): [number, number] {
  const h1 = stringHash(enc) >>> 0
  return [h1, murmurHash(h1) >>> 0]
}

export interface SstIndex {
  /** First encoded key of every block. */
  firstKeys: string[]
  /** Start of every block, then the end of the last one (n + 1 numbers). */
  offsets: Float64Array
  /** CRC-32 of every block. */
  crcs: Uint32Array
  count: number
  bloom: Uint8Array
  bits: number
  minKeyGroup: number
  maxKeyGroup: number
  /** Key groups present, ascending, with the index of their first block. */
  groups: [keyGroup: number, firstBlock: number][]
  /** 0: a flushed memtable (may overlap any table); 1: a compacted table owning `owns`. */
  level: 0 | 1
  /** The key groups a level-1 table is the bottom of (it may hold fewer). */
  owns?: [number, number]
  /** Bytes of the blocks. */
  dataBytes: number
}

/** What a caller sets on a table it writes. */
export interface SstMeta {
  level: 0 | 1
  owns?: [number, number]
}

/** Memory a decoded block is charged in a cache (its serialized size times this). */
const DECODED_FACTOR = 5

/**
 * A cache of decoded blocks with a byte capacity, shared by the readers of one store: the oldest
 * block leaves first unless it was read since it was (re)inserted, in which case it gets a second
 * chance at the young end (CLOCK, an approximation of LRU whose hit costs a flag, not a move).
 */
export class BlockCache {
  private readonly map = new Map<string, { block: Map<string, SstEntry>; bytes: number; used: boolean }>()
  private used = 0

  constructor(private capacity = 8 << 20) {}

  get bytes(): number {
    return this.used
  }

  setCapacity(bytes: number): void {
    this.capacity = Math.max(0, bytes)
    this.evict()
  }

  get(id: string): Map<string, SstEntry> | undefined {
    const b = this.map.get(id)
    if (b === undefined) return undefined
    b.used = true
    return b.block
  }

  put(id: string, block: Map<string, SstEntry>, serializedBytes: number): void {
    const bytes = serializedBytes * DECODED_FACTOR
    if (bytes > this.capacity) return
    this.map.set(id, { block, bytes, used: false })
    this.used += bytes
    this.evict()
  }

  /** Drops the blocks of one table (closed or deleted). */
  dropTable(prefix: string): void {
    for (const [id, b] of this.map) {
      if (id.startsWith(prefix)) {
        this.map.delete(id)
        this.used -= b.bytes
      }
    }
  }

  private evict(): void {
    // Each block gets at most one second chance per call: the loop ends.
    let chances = this.map.size
    while (this.used > this.capacity && this.map.size > 0) {
      const [id, b] = this.map.entries().next().value!
      this.map.delete(id)
      if (b.used && chances-- > 0) {
        b.used = false
        this.map.set(id, b)
      } else this.used -= b.bytes
    }
  }
}

let readerSeq = 0

function corrupt(path: string, what: string): Error {
  return new Error(`State table ${path} is corrupt: ${what}`)
}

/** Parses the footer and index of a table held in `read` (file or buffer). */
function readIndex(path: string, size: number, read: (offset: number, length: number) => Buffer): SstIndex {
  if (size < FOOTER_V1) throw corrupt(path, 'too short to be a state table')
  const tail = read(Math.max(0, size - FOOTER), Math.min(FOOTER, size))
  const t = tail.length
  if (t >= FOOTER && tail.readUInt32LE(t - FOOTER) === MAGIC && tail.readUInt32LE(t - FOOTER + 4) === VERSION) {
    const off = Number(tail.readBigUInt64LE(t - FOOTER + 8))
    const len = tail.readUInt32LE(t - FOOTER + 16)
    const crc = tail.readUInt32LE(t - FOOTER + 20)
    if (off + len > size - FOOTER) throw corrupt(path, `index at ${off} (+${len}) lies beyond the end`)
    const raw = read(off, len)
    if (crc32(raw) !== crc) throw corrupt(path, 'index checksum mismatch')
    return deserialize(raw) as SstIndex
  }
  if (tail.readUInt32LE(t - FOOTER_V1) === MAGIC && tail.readUInt32LE(t - FOOTER_V1 + 4) === 1) return indexFromV1(path, size, tail, read)
  throw corrupt(path, 'not a version 1 or 2 state table (bad footer)')
}

/** A version 1 table (no checksums), read through the version 2 index shape. */
function indexFromV1(path: string, size: number, tail: Buffer, read: (offset: number, length: number) => Buffer): SstIndex {
  const t = tail.length
  const off = tail.readUInt32LE(t - 8)
  const len = tail.readUInt32LE(t - 4)
  if (off + len > size) throw corrupt(path, 'index lies beyond the end')
  const v1 = deserialize(read(off, len)) as { blocks: [string, string, number, number][]; count: number; bloom: Uint8Array; bits: number; minKeyGroup: number; maxKeyGroup: number }
  const n = v1.blocks.length
  const offsets = new Float64Array(n + 1)
  for (let i = 0; i < n; i++) offsets[i] = v1.blocks[i]![2]
  offsets[n] = n === 0 ? 0 : v1.blocks[n - 1]![2] + v1.blocks[n - 1]![3]
  const groups: [number, number][] = []
  for (let i = 0; i < n; i++) {
    const first = parseInt(v1.blocks[i]![0].slice(0, 4), 16)
    const last = parseInt(v1.blocks[i]![1].slice(0, 4), 16)
    for (let g = first; g <= last; g++) if (groups.length === 0 || groups[groups.length - 1]![0] < g) groups.push([g, i])
  }
  return {
    firstKeys: v1.blocks.map((b) => b[0]), offsets, crcs: new Uint32Array(0), count: v1.count, bloom: v1.bloom, bits: v1.bits,
    minKeyGroup: v1.minKeyGroup, maxKeyGroup: v1.maxKeyGroup, groups, level: 0, dataBytes: offsets[n]!,
  }
}

function decodeBlock(path: string, index: SstIndex, i: number, raw: Buffer): SstEntry[] {
  if (index.crcs.length > 0 && crc32(raw) !== index.crcs[i]) throw corrupt(path, `block ${i} at offset ${index.offsets[i]} fails its checksum`)
  try {
    return deserialize(raw) as SstEntry[]
  } catch (e) {
    throw corrupt(path, `block ${i} at offset ${index.offsets[i]} cannot be decoded (${(e as Error).message})`)
  }
}

/** Reads one table: point lookups through the bloom filter and block index, or scans. */
export class SstReader {
  readonly index: SstIndex
  private fd: number
  readonly size: number
  private readonly id = `t${readerSeq++}:`

  constructor(
    readonly path: string,
    private readonly cache: BlockCache = new BlockCache(1 << 20),
  ) {
    this.fd = openSync(path, 'r')
    try {
      this.size = fstatSync(this.fd).size
      this.index = readIndex(path, this.size, (o, l) => this.read(o, l))
    } catch (e) {
      closeSync(this.fd)
      throw e
    }
  }

  get count(): number {
    return this.index.count
  }

  get level(): 0 | 1 {
    return this.index.level
  }

  get keyGroups(): [number, number] {
    return [this.index.minKeyGroup, this.index.maxKeyGroup]
  }

  /** Memory the index and bloom filter hold (an estimate). */
  get indexBytes(): number {
    return this.index.bloom.length + this.index.firstKeys.length * 80 + 256
  }

  private read(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length)
    let done = 0
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done)
      if (n === 0) throw corrupt(this.path, `ends before offset ${offset + length}`)
      done += n
    }
    return buf
  }

  private rawBlock(i: number): SstEntry[] {
    const o = this.index.offsets
    return decodeBlock(this.path, this.index, i, this.read(o[i]!, o[i + 1]! - o[i]!))
  }

  private block(i: number): Map<string, SstEntry> {
    const id = this.id + i
    let b = this.cache.get(id)
    if (b === undefined) {
      const entries = this.rawBlock(i)
      b = new Map()
      for (const e of entries) b.set(e[0], e)
      this.cache.put(id, b, this.index.offsets[i + 1]! - this.index.offsets[i]!)
    }
    return b
  }

  mayContain(enc: string, hash: [number, number] = bloomHash(enc)): boolean {
    const { bloom, bits } = this.index
    const [h1, h2] = hash
    for (let i = 0; i < 3; i++) {
      const p = (h1 + i * h2) % bits
      if ((bloom[p >> 3]! & (1 << (p & 7))) === 0) return false
    }
    return true
  }

  /** The block that would hold `enc`, or -1. */
  private blockFor(enc: string): number {
    const keys = this.index.firstKeys
    let lo = 0
    let hi = keys.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (keys[mid]! <= enc) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found
  }

  get(enc: string, hash?: [number, number]): SstEntry | undefined {
    if (!this.mayContain(enc, hash)) return undefined
    const i = this.blockFor(enc)
    return i < 0 ? undefined : this.block(i).get(enc)
  }

  /** Every entry, in key order (tombstones included); blocks are read one at a time. */
  *entries(): Generator<SstEntry> {
    for (let i = 0; i < this.index.firstKeys.length; i++) yield* this.rawBlock(i)
  }

  /** The entries of key groups lo..hi, in key order (tombstones included). */
  *range(lo: number, hi: number): Generator<SstEntry> {
    const groups = this.index.groups
    let start = -1
    for (const [g, b] of groups) {
      if (g >= lo) {
        if (g <= hi) start = b
        break
      }
    }
    if (start < 0) return
    for (let i = start; i < this.index.firstKeys.length; i++) {
      for (const e of this.rawBlock(i)) {
        if (e[1] < lo) continue
        if (e[1] > hi) return
        yield e
      }
    }
  }

  /** Key groups present in lo..hi. */
  groupsIn(lo: number, hi: number): number[] {
    return this.index.groups.filter(([g]) => g >= lo && g <= hi).map(([g]) => g)
  }

  close(): void {
    if (this.fd < 0) return
    closeSync(this.fd)
    this.fd = -1
    this.cache.dropTable(this.id)
  }
}

/** Every entry of a table held in memory (restoring from a snapshot), in key order; `file` names it in errors. */
export function* sstEntriesFromBuffer(data: Buffer, file = 'state table'): Generator<SstEntry> {
  const index = readIndex(file, data.length, (o, l) => data.subarray(o, o + l))
  const o = index.offsets
  for (let i = 0; i < index.firstKeys.length; i++) yield* decodeBlock(file, index, i, data.subarray(o[i]!, o[i + 1]!))
}

/**
 * Writes a table as entries arrive in key order; holds one block and a bloom filter bitmap in
 * memory. `finish()` writes index and footer, fsyncs nothing (local working files), and returns
 * the file size; `abort()` deletes the partial file.
 */
export class SstWriter {
  private fd: number | undefined
  /** The block being filled, when its entries came as arrays (empty while `direct` holds the block). */
  private block: SstEntry[] = []
  /** The block being filled as bytes (after BLOCK_HEAD reserved bytes), when it began with addInt. */
  private direct = new Uint8Array(0)
  private directAt = BLOCK_HEAD
  private directCount = 0
  private directFirstKey = ''
  /** The entries of the bytes block, to rebuild it as arrays when an array entry joins it. */
  private readonly directPrefixes: DirectPrefix[] = []
  private readonly directKeys = new Int32Array(BLOCK_ENTRIES)
  private readonly directValues = new Float64Array(BLOCK_ENTRIES)
  private pending: Buffer[] = []
  private pendingBytes = 0
  private offset = 0
  private readonly firstKeys: string[] = []
  private readonly offsets: number[] = []
  private readonly crcs: number[] = []
  private readonly groups: [number, number][] = []
  /** stringHash of every encoded key added (the bloom filter is built from them at finish). */
  private hashes = new Uint32Array(1024)
  private count = 0
  /** The last key added: its encoded form, or (after addInt) its prefix and int key, encoded when needed. */
  private lastKey: string | undefined
  private lastPrefix: DirectPrefix | undefined
  private lastInt = 0
  private lastOrder = 0
  private minKg = Number.POSITIVE_INFINITY
  private maxKg = Number.NEGATIVE_INFINITY
  private readonly digits = new Uint8Array(11)

  constructor(
    readonly path: string,
    private readonly meta: SstMeta,
  ) {}

  get entries(): number {
    return this.count
  }

  /** Bytes written or buffered so far. */
  get bytes(): number {
    return this.offset + this.pendingBytes + (this.directCount > 0 ? this.directAt : 0)
  }

  get lastKeyGroup(): number {
    return this.maxKg
  }

  private lastKeyString(): string | undefined {
    if (this.lastPrefix !== undefined) {
      this.lastKey = this.lastPrefix.prefix + String(this.lastInt)
      this.lastPrefix = undefined
    }
    return this.lastKey
  }

  private hash(h: number): void {
    if (this.count > this.hashes.length) {
      const more = new Uint32Array(2 * this.hashes.length)
      more.set(this.hashes)
      this.hashes = more
    }
    this.hashes[this.count - 1] = h
  }

  /** Bookkeeping of every entry: key groups, count. */
  private counted(kg: number): void {
    // A new key group starts in the block being filled, whose number is the count of blocks cut.
    if (this.groups.length === 0 || this.groups[this.groups.length - 1]![0] !== kg) this.groups.push([kg, this.firstKeys.length])
    if (kg < this.minKg) this.minKg = kg
    if (kg > this.maxKg) this.maxKg = kg
    this.count++
  }

  /** Appends an entry (keys strictly ascending); await `drain()` when `needsDrain`. */
  add(e: SstEntry): void {
    const last = this.lastKeyString()
    if (last !== undefined && e[0] <= last) throw new Error(`${this.path}: entries out of order (${JSON.stringify(e[0])} after ${JSON.stringify(last)})`)
    this.lastKey = e[0]
    this.counted(e[1])
    this.hash(stringHash(e[0]))
    if (this.directCount > 0) {
      // A block begun as bytes becomes a block of arrays (as one v8.serialize of the block writes
      // it: alignment of two-byte strings, for one, depends on where they fall in the block).
      for (let i = 0; i < this.directCount; i++) {
        const p = this.directPrefixes[i]!
        const k = this.directKeys[i]!
        this.block.push([p.prefix + String(k), p.keyGroup, p.name, k, 0, smiIfInt(this.directValues[i]!)])
      }
      this.directCount = 0
      this.directAt = BLOCK_HEAD
    }
    this.block.push(e)
    if (this.block.length >= BLOCK_ENTRIES) this.cut()
  }

  /**
   * Appends the live entry [p.prefix + String(key), p.keyGroup, p.name, key, 0, value] for an int32
   * `key` (keys strictly ascending, as add(); `order` is intKeyOrder(key) when the caller has it).
   * Written as v8.serialize would write it, straight into the block's bytes: no entry array, and its
   * encoded key is a string only when it starts a block.
   */
  addInt(p: DirectPrefix, key: number, value: number, order = intKeyOrder(key)): void {
    if ((key | 0) !== key) throw new Error(`${this.path}: addInt takes int32 keys, not ${key}`)
    key |= 0 // -0 is the key 0, as in a Map
    if (this.lastPrefix === p) {
      if (order <= this.lastOrder) throw new Error(`${this.path}: entries out of order (${JSON.stringify(p.prefix + String(key))} after ${JSON.stringify(p.prefix + String(this.lastInt))})`)
    } else {
      const last = this.lastKeyString()
      const enc = p.prefix + String(key)
      if (last !== undefined && enc <= last) throw new Error(`${this.path}: entries out of order (${JSON.stringify(enc)} after ${JSON.stringify(last)})`)
    }
    this.lastPrefix = p
    this.lastInt = key
    this.lastOrder = order
    this.counted(p.keyGroup)
    // The key's decimal digits (reversed into `digits`), and the encoded key's hash continued over them.
    const digits = this.digits
    let u = key < 0 ? -key : key
    let nd = 0
    do {
      const q = (u / 10) | 0 // u may be 2^31 (key -2^31): u / 10 is an int32 all the same
      digits[nd++] = 48 + u - 10 * q
      u = q
    } while (u > 0)
    let h = p.hash
    if (key < 0) h = (Math.imul(31, h) + 45) | 0
    for (let i = nd - 1; i >= 0; i--) h = (Math.imul(31, h) + digits[i]!) | 0
    this.hash(h)
    if (this.block.length > 0) {
      // A block begun with arrays stays one.
      this.block.push([p.prefix + String(key), p.keyGroup, p.name, key, 0, smiIfInt(value)])
      if (this.block.length >= BLOCK_ENTRIES) this.cut()
      return
    }
    if (this.directCount === 0) {
      this.directAt = BLOCK_HEAD
      this.directFirstKey = p.prefix + String(key)
    }
    this.directPrefixes[this.directCount] = p
    this.directKeys[this.directCount] = key
    this.directValues[this.directCount] = value
    this.reserve(p.prefixBytes.length + p.nameBytes.length + MAX_DIRECT_BYTES)
    const out = this.direct
    let at = this.directAt
    out[at++] = TAG_ARRAY
    out[at++] = 6
    // The encoded key: a one-byte string.
    out[at++] = TAG_ONE_BYTE_STRING
    at = writeVarint(out, at, p.prefixBytes.length + nd + (key < 0 ? 1 : 0))
    // Byte loops: for a few bytes they beat a call to set().
    const pb = p.prefixBytes
    for (let i = 0; i < pb.length; i++) out[at++] = pb[i]!
    if (key < 0) out[at++] = 45
    for (let i = nd - 1; i >= 0; i--) out[at++] = digits[i]!
    out[at++] = TAG_INT
    at = writeVarint(out, at, p.keyGroup << 1)
    const nb = p.nameBytes
    for (let i = 0; i < nb.length; i++) out[at++] = nb[i]!
    at = writeSmi(out, at, key)
    out[at++] = TAG_INT
    out[at++] = 0
    at = writeNumber(out, at, value)
    out[at++] = TAG_END_ARRAY
    out[at++] = 0
    out[at++] = 6
    this.directAt = at
    if (++this.directCount >= BLOCK_ENTRIES) this.cut()
  }

  private reserve(n: number): void {
    if (this.directAt + n <= this.direct.length) return
    const next = new Uint8Array(Math.max(4096, 2 * (this.directAt + n)))
    next.set(this.direct.subarray(0, this.directAt))
    this.direct = next
  }

  get needsDrain(): boolean {
    return this.pendingBytes >= 256 << 10
  }

  private cut(): void {
    let data: Buffer
    if (this.directCount > 0) {
      this.reserve(3)
      const out = this.direct
      const n = this.directCount
      out.set(V8_HEADER, 0)
      out[V8_HEADER.length] = TAG_ARRAY
      out[V8_HEADER.length + 1] = n
      let at = this.directAt
      out[at++] = TAG_END_ARRAY
      out[at++] = 0
      out[at++] = n
      data = Buffer.from(out.subarray(0, at))
      this.firstKeys.push(this.directFirstKey)
      this.directCount = 0
      this.directAt = BLOCK_HEAD
    } else {
      if (this.block.length === 0) return
      data = serialize(this.block)
      this.firstKeys.push(this.block[0]![0])
      this.block = []
    }
    this.offsets.push(this.offset + this.pendingBytes)
    this.crcs.push(crc32(data))
    this.pending.push(data)
    this.pendingBytes += data.length
    if (this.needsDrain) this.drain()
  }

  /**
   * Writes what is buffered. Synchronous on purpose: a few hundred KB go to the page cache in well
   * under a millisecond, while awaiting the thread pool would hand the event loop to processing
   * for a whole turn per write and starve the flush.
   */
  drain(): void {
    if (this.pending.length === 0) return
    this.fd ??= openSync(this.path, 'w')
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    let done = 0
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, this.offset + done)
    this.offset += data.length
  }

  finish(): number {
    this.cut()
    this.drain()
    const bits = Math.max(64, this.count * BLOOM_BITS_PER_KEY)
    const bloom = new Uint8Array(Math.ceil(bits / 8))
    const hashes = this.hashes
    for (let i = 0; i < this.count; i++) {
      const h1 = hashes[i]!
      // The three probes of mayContain, (h1 + i * h2) % bits, in 32-bit integer arithmetic.
      const step = (murmurHash(h1) >>> 0) % bits
      const p0 = h1 % bits
      let p1 = p0 + step
      if (p1 >= bits) p1 -= bits
      let p2 = p1 + step
      if (p2 >= bits) p2 -= bits
      bloom[p0 >> 3]! |= 1 << (p0 & 7)
      bloom[p1 >> 3]! |= 1 << (p1 & 7)
      bloom[p2 >> 3]! |= 1 << (p2 & 7)
    }
    this.hashes = new Uint32Array(0)
    const offsets = Float64Array.from([...this.offsets, this.offset])
    const index: SstIndex = {
      firstKeys: this.firstKeys, offsets, crcs: Uint32Array.from(this.crcs), count: this.count, bloom, bits,
      minKeyGroup: this.count === 0 ? 0 : this.minKg, maxKeyGroup: this.count === 0 ? -1 : this.maxKg, groups: this.groups,
      level: this.meta.level, ...(this.meta.owns === undefined ? {} : { owns: this.meta.owns }), dataBytes: this.offset,
    }
    const raw = serialize(index)
    const footer = Buffer.alloc(FOOTER)
    footer.writeUInt32LE(MAGIC, 0)
    footer.writeUInt32LE(VERSION, 4)
    footer.writeBigUInt64LE(BigInt(this.offset), 8)
    footer.writeUInt32LE(raw.length, 16)
    footer.writeUInt32LE(crc32(raw), 20)
    this.pending.push(raw, footer)
    this.pendingBytes += raw.length + FOOTER
    this.drain()
    closeSync(this.fd!)
    this.fd = undefined
    return this.offset
  }

  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd)
      } catch {
        // closed
      }
    }
    this.fd = undefined
    try {
      unlinkSync(this.path)
    } catch {
      // never created
    }
  }
}

/** Writes sorted entries as one table (tests, small tables). */
export async function writeSst(path: string, entries: Iterable<SstEntry>, meta: SstMeta = { level: 0 }): Promise<number> {
  const w = new SstWriter(path, meta)
  try {
    for (const e of entries) {
      w.add(e)
      if (w.needsDrain) w.drain()
    }
    return w.finish()
  } catch (e) {
    w.abort()
    throw e
  }
}
