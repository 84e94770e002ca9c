/**
 * Sorted string tables: the immutable files of the embedded LSM state backend.
 *
 * File layout, version 1 (little endian):
 *   block*            v8-serialized arrays of entries, sorted by encoded key
 *   index             v8-serialized { blocks: [firstKey, lastKey, offset, length][], count, bloom, minKeyGroup, maxKeyGroup }
 *   footer (16 bytes) "TSST", u32 version, u32 index offset, u32 index length
 * An entry is [encodedKey, keyGroup, stateName, key, deleted (0|1), value]. Encoded keys start with
 * the key group (4 hex digits), so a key-group range is one contiguous run of the file.
 * Pure file format plus a reader with a shared block cache. Tests: test/lsm.test.ts.
 */
import { closeSync, openSync, readSync, fstatSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { deserialize, serialize } from 'node:v8'
import { murmurHash, stringHash, type StateKey } from '../../core/key-groups.js'

export type SstEntry = [enc: string, keyGroup: number, name: string, key: StateKey, deleted: 0 | 1, value: unknown]

const MAGIC = 0x54535354 // "TSST"
const VERSION = 1
const BLOCK_ENTRIES = 256
const BLOOM_BITS_PER_KEY = 10

/** The sort key of a state entry: key group, state name, typed key. */
export function encodeKey(keyGroup: number, name: string, key: StateKey): string {
  const tag = typeof key === 'string' ? 's' : typeof key === 'number' ? 'n' : typeof key === 'boolean' ? 'b' : 'i'
  return `${keyGroup.toString(16).padStart(4, '0')}\u0000${name}\u0000${tag}${String(key)}`
}

function bloomPositions(enc: string, bits: number): [number, number, number] {
  const h1 = stringHash(enc) >>> 0
  const h2 = murmurHash(h1) >>> 0
  return [h1 % bits, (h1 + h2) % bits, (h1 + 2 * h2) % bits]
}

interface SstIndex {
  blocks: [string, string, number, number][]
  count: number
  bloom: Uint8Array
  bits: number
  minKeyGroup: number
  maxKeyGroup: number
}

/** A small LRU of decoded blocks, shared by the readers of one store. */
export class BlockCache {
  private readonly map = new Map<string, Map<string, SstEntry>>()
  constructor(private readonly capacity = 8192) {}

  get(id: string): Map<string, SstEntry> | undefined {
    const b = this.map.get(id)
    if (b !== undefined) {
      this.map.delete(id)
      this.map.set(id, b)
    }
    return b
  }

  put(id: string, block: Map<string, SstEntry>): void {
    this.map.set(id, block)
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!)
  }
}

let readerSeq = 0

/** Reads one table: point lookups through the bloom filter and block index, or a full scan. */
export class SstReader {
  private readonly index: SstIndex
  private readonly fd: number
  readonly size: number
  private readonly id = `t${readerSeq++}`

  constructor(
    readonly path: string,
    private readonly cache: BlockCache = new BlockCache(64),
  ) {
    this.fd = openSync(path, 'r')
    this.size = fstatSync(this.fd).size
    if (this.size < 16) throw new Error(`${path} is not a state table (too short)`)
    const footer = Buffer.alloc(16)
    readSync(this.fd, footer, 0, 16, this.size - 16)
    if (footer.readUInt32LE(0) !== MAGIC || footer.readUInt32LE(4) !== VERSION) throw new Error(`${path} is not a version ${VERSION} state table`)
    const off = footer.readUInt32LE(8)
    const len = footer.readUInt32LE(12)
    this.index = deserialize(this.read(off, len)) as SstIndex
  }

  get count(): number {
    return this.index.count
  }

  get keyGroups(): [number, number] {
    return [this.index.minKeyGroup, this.index.maxKeyGroup]
  }

  private read(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length)
    readSync(this.fd, buf, 0, length, offset)
    return buf
  }

  private block(i: number): Map<string, SstEntry> {
    const id = `${this.id}:${i}`
    let b = this.cache.get(id)
    if (b === undefined) {
      const [, , offset, length] = this.index.blocks[i]!
      b = new Map((deserialize(this.read(offset, length)) as SstEntry[]).map((e) => [e[0], e]))
      this.cache.put(id, b)
    }
    return b
  }

  mayContain(enc: string): boolean {
    const { bloom, bits } = this.index
    for (const p of bloomPositions(enc, bits)) if ((bloom[p >> 3]! & (1 << (p & 7))) === 0) return false
    return true
  }

  get(enc: string): SstEntry | undefined {
    if (!this.mayContain(enc)) return undefined
    const blocks = this.index.blocks
    let lo = 0
    let hi = blocks.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const [first, last] = blocks[mid]!
      if (enc < first) hi = mid - 1
      else if (enc > last) lo = mid + 1
      else return this.block(mid).get(enc)
    }
    return undefined
  }

  /** Every entry, in key order (tombstones included). */
  *entries(): Generator<SstEntry> {
    for (let i = 0; i < this.index.blocks.length; i++) {
      const [, , offset, length] = this.index.blocks[i]!
      yield* deserialize(this.read(offset, length)) as SstEntry[]
    }
  }

  close(): void {
    closeSync(this.fd)
  }
}

/** Every entry of a table held in memory (restoring from a snapshot), in key order. */
export function* sstEntriesFromBuffer(data: Buffer): Generator<SstEntry> {
  if (data.length < 16 || data.readUInt32LE(data.length - 16) !== MAGIC) throw new Error('not a state table')
  const off = data.readUInt32LE(data.length - 8)
  const len = data.readUInt32LE(data.length - 4)
  const index = deserialize(data.subarray(off, off + len)) as SstIndex
  for (const [, , offset, length] of index.blocks) yield* deserialize(data.subarray(offset, offset + length)) as SstEntry[]
}

/** Writes a table without blocking the event loop for long: blocks are encoded between yields. */
export async function writeSst(path: string, entries: readonly SstEntry[]): Promise<number> {
  const parts: Buffer[] = []
  const blocks: [string, string, number, number][] = []
  let offset = 0
  const bits = Math.max(64, entries.length * BLOOM_BITS_PER_KEY)
  const bloom = new Uint8Array(Math.ceil(bits / 8))
  let minKg = Number.POSITIVE_INFINITY
  let maxKg = Number.NEGATIVE_INFINITY
  let deadline = performance.now() + 4
  for (let i = 0; i < entries.length; i += BLOCK_ENTRIES) {
    const block = entries.slice(i, i + BLOCK_ENTRIES)
    const data = serialize(block)
    blocks.push([block[0]![0], block[block.length - 1]![0], offset, data.length])
    parts.push(data)
    offset += data.length
    for (const e of block) {
      for (const p of bloomPositions(e[0], bits)) bloom[p >> 3]! |= 1 << (p & 7)
      if (e[1] < minKg) minKg = e[1]
      if (e[1] > maxKg) maxKg = e[1]
    }
    if (performance.now() > deadline) {
      await new Promise<void>((r) => setImmediate(r))
      deadline = performance.now() + 4
    }
  }
  const index = serialize({ blocks, count: entries.length, bloom, bits, minKeyGroup: minKg, maxKeyGroup: maxKg })
  const footer = Buffer.alloc(16)
  footer.writeUInt32LE(MAGIC, 0)
  footer.writeUInt32LE(VERSION, 4)
  footer.writeUInt32LE(offset, 8)
  footer.writeUInt32LE(index.length, 12)
  const all = [...parts, index, footer]
  await writeFile(path, all)
  return all.reduce((n, b) => n + b.length, 0)
}
