/**
 * Encodes numeric column images (numeric-columns.ts) in the key-group sections format of
 * keyed-backend.ts: for each key group, ascending, one v8-serialized `{ s: { [state]: [k0, v0, …] },
 * t: [timers] }`, merged with the sections the task serialized for its other entries and timers
 * (`other`), so that every key group has exactly one section. Runs on the snapshot encoder thread
 * (section-encoder-worker.ts) for big tables and inline for small ones; both give the same bytes.
 * `encodeImagesToFile` writes them to a local file as it goes (the encoder thread's way for a
 * local checkpoint). Pure but for that file. Tests: test/section-encoder.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import { UPPER_BOUND_MAX_PARALLELISM } from '../core/key-groups.js'
import { MAX_NUMBER_BYTES, TAG_ARRAY, TAG_END_ARRAY, TAG_END_OBJECT, TAG_OBJECT, V8_HEADER, writeNumber, writeVarint } from '../core/v8-wire.js'
import { crcChecksum } from '../checkpoint/metadata.js'
import { NODE_FS_OPS, writeDurablySync, type SyncFsOps } from '../storage/durable-write.js'
import { CHUNK, CHUNK_BITS, FREE, NUMBER_KEY, arenaBuffers, keyString, type NumericImage } from './numeric-columns.js'

export interface EncodedSections {
  /** The sections, back to back, in their own ArrayBuffer (transferable). */
  data: Uint8Array
  /** [keyGroup, offset, length] per section, ascending key groups. */
  keyGroups: [number, number, number][]
}

/**
 * An array whose elements are tagged values, so that pushing a fraction does not turn every later
 * integer into a double (v8 writes a Smi as a 1-5 byte varint, a double in 9 bytes).
 */
function taggedArray(): unknown[] {
  const a: unknown[] = ['']
  a.pop()
  return a
}

interface Section {
  s: Record<string, unknown[]>
  t: unknown[]
}

/** An image with the number of its live slots per key group. */
interface Counted {
  image: NumericImage
  segments: Buffer[]
  /** Live slots per key group. */
  count: Uint32Array
}

function counted(image: NumericImage): Counted {
  const count = new Uint32Array(UPPER_BOUND_MAX_PARALLELISM)
  count.set(image.groupCounts)
  return { image, segments: arenaBuffers(image.arena), count }
}

/**
 * Entries encoded per pass over the columns, at most (a pass takes consecutive key groups while
 * they fit, at least one): as JavaScript arrays (~16 bytes an entry), and as bytes written directly
 * (~7 bytes an entry, room for 18 reserved but not touched). Each pass reads every slot's key group,
 * so fewer, bigger passes are faster: one pass over 4 M keys encodes in ~130 ms, eight in ~265 ms.
 */
const ARRAY_PASS_ENTRIES = 1 << 20
const DIRECT_PASS_ENTRIES = 1 << 23

/** Consecutive runs of `groups` (ascending) whose entries fit in `max` per pass: [from, to) each. */
function planPasses(all: readonly Counted[], groups: readonly number[], max: number): [number, number][] {
  const passes: [number, number][] = []
  let from = -1
  let to = -1
  let n = 0
  for (const kg of groups) {
    let c = 0
    for (const x of all) c += x.count[kg]!
    if (from >= 0 && n + c > max) {
      passes.push([from, to])
      from = -1
      n = 0
    }
    if (from < 0) from = kg
    to = kg + 1
    n += c
  }
  if (from >= 0) passes.push([from, to])
  return passes
}

/**
 * Fills `flats[g - from]` (emptied first) with the [k0, v0, k1, v1, …] of the image's slots in key
 * group g, for g in [from, to), in one sequential pass over the columns. Reading the slots in
 * order keeps the memory access sequential: gathering one key group's slots, scattered over the
 * whole table, cost a cache miss per column per slot (~225 ns per entry at 4 M keys).
 */
function fillFlats({ image, segments }: Counted, from: number, to: number, flats: unknown[][]): void {
  for (const f of flats) f.length = 0
  const width = to - from
  for (let base = 0, ci = 0; base < image.count; base += CHUNK, ci++) {
    const { tag, keyGroup, key, keyLength, value } = image.chunks[ci]!
    const n = Math.min(CHUNK, image.count - base)
    for (let j = 0; j < n; j++) {
      const g = keyGroup[j]! - from
      // One unsigned comparison for from <= group < to.
      if (g >>> 0 >= width || tag[j] === FREE) continue
      const flat = flats[g]!
      // Integral numbers are pushed as int32 (Smis) in a branch of their own: through a helper
      // returning int32-or-double, optimized code would box them as doubles. -0 stays a double.
      if (tag[j] === NUMBER_KEY) {
        const x = key[j]!
        const k = x | 0
        if (k === x && (k !== 0 || 1 / x > 0)) flat.push(k)
        else flat.push(x)
      } else flat.push(keyString(segments, key[j]!, keyLength[j]!))
      const x = value[j]!
      const v = x | 0
      if (v === x && (v !== 0 || 1 / x > 0)) flat.push(v)
      else flat.push(x)
    }
  }
}

/**
 * The sections' bytes, one part per key group in ascending order, produced as they are consumed:
 * the columns are read in passes over consecutive key groups (planPasses), so only those groups'
 * entries are in memory at a time. `keyGroups` receives [keyGroup, offset, length] of each part as it is yielded.
 */
function* sectionParts(images: readonly NumericImage[], other: EncodedSections | undefined, keyGroups: [number, number, number][], passEntries?: number): Generator<Uint8Array> {
  const all = images.map(counted)
  const names = other === undefined ? directNames(all) : undefined
  if (names !== undefined) {
    yield* directSectionParts(all, names, keyGroups, passEntries ?? DIRECT_PASS_ENTRIES)
    return
  }
  const others = new Map<number, Uint8Array>()
  if (other !== undefined) for (const [kg, off, len] of other.keyGroups) others.set(kg, other.data.subarray(off, off + len))
  const groups = new Set(others.keys())
  for (const c of all) {
    for (let kg = 0; kg < UPPER_BOUND_MAX_PARALLELISM; kg++) if (c.count[kg]! > 0) groups.add(kg)
  }
  const sorted = [...groups].sort((a, b) => a - b)
  const passes = planPasses(all, sorted, passEntries ?? ARRAY_PASS_ENTRIES)
  let offset = 0
  let pass = -1
  let passFrom = 0
  let flats: unknown[][][] = []
  for (const kg of sorted) {
    if (pass < 0 || kg >= passes[pass]![1]) {
      const [from, to] = passes[++pass]!
      passFrom = from
      flats = all.map((c) => {
        const f = Array.from({ length: to - from }, taggedArray)
        if (c.count.subarray(from, to).some((n) => n > 0)) fillFlats(c, from, to, f)
        return f
      })
    }
    const task = others.get(kg)
    const section: Section = task === undefined ? { s: {}, t: [] } : (deserialize(task) as Section)
    let numeric = false
    all.forEach((c, i) => {
      if (c.count[kg] === 0) return
      numeric = true
      const flat = flats[i]![kg - passFrom]!
      // An own property: a state's name ('toString', '__proto__') is a property key like any other.
      const name = c.image.name
      const there = Object.hasOwn(section.s, name) ? section.s[name] : undefined
      if (there === undefined) Object.defineProperty(section.s, name, { value: flat, enumerable: true, writable: true, configurable: true })
      else for (const x of flat) there.push(x)
    })
    const buf = numeric || task === undefined ? serialize(section) : task
    keyGroups.push([kg, offset, buf.length])
    offset += buf.length
    yield buf
  }
}

// ---- Sections written directly in v8's serialization format ----
//
// The common snapshot (number keys, numeric values, no other entries or timers) is written byte
// by byte as v8.serialize would write `{ s: { [state]: [k0, v0, …] }, t: [] }`, with the wire
// format's pieces in core/v8-wire.ts. No JavaScript array is built and nothing is serialized
// twice: ~10x less work per entry. The bytes are the same as
// v8.serialize's (test/section-encoder.test.ts compares them), so readers are unchanged.

const KEY_S = serialize('s').subarray(2)
/** `t: []` and the end of the section object (two properties). */
const TAIL = Uint8Array.from([...serialize('t').subarray(2), TAG_ARRAY, 0, TAG_END_ARRAY, 0, 0, TAG_END_OBJECT, 2])

/**
 * Each image's state name as a property key in v8's format, when every image can be written
 * directly: number keys only (no string arena) and a name v8 writes as a one-byte string (an
 * array-index name like "12" is written as a number, a two-byte one with alignment padding).
 */
function directNames(all: readonly Counted[]): Uint8Array[] | undefined {
  const names: Uint8Array[] = []
  for (const { image } of all) {
    if (image.arena.length > 0 || /^(0|[1-9][0-9]*)$/.test(image.name)) return undefined
    const bytes = serialize(image.name).subarray(2)
    if (bytes[0] !== 0x22) return undefined
    names.push(bytes)
  }
  return names
}

/** One image's entries of key groups [from, to), written as array elements per group (one sequential pass). */
interface Region {
  bytes: Uint8Array
  /** Per group of the pass: where its elements start, and where they end once written. */
  start: Int32Array
  end: Int32Array
}

function fillRegion({ image, count }: Counted, from: number, to: number): Region {
  const width = to - from
  const start = new Int32Array(width)
  const end = new Int32Array(width)
  let size = 0
  for (let g = 0; g < width; g++) {
    start[g] = end[g] = size
    size += 2 * MAX_NUMBER_BYTES * (count[from + g] ?? 0)
  }
  const bytes = new Uint8Array(size)
  for (let base = 0, ci = 0; base < image.count; base += CHUNK, ci++) {
    const { tag, keyGroup, key, value } = image.chunks[ci]!
    const n = Math.min(CHUNK, image.count - base)
    for (let j = 0; j < n; j++) {
      const g = keyGroup[j]! - from
      if (g >>> 0 >= width || tag[j] === FREE) continue
      end[g] = writeNumber(bytes, writeNumber(bytes, end[g]!, key[j]!), value[j]!)
    }
  }
  return { bytes, start, end }
}

function* directSectionParts(all: readonly Counted[], names: readonly Uint8Array[], keyGroups: [number, number, number][], passEntries: number): Generator<Uint8Array> {
  const groups: number[] = []
  for (let kg = 0; kg < UPPER_BOUND_MAX_PARALLELISM; kg++) if (all.some((c) => c.count[kg]! > 0)) groups.push(kg)
  const passes = planPasses(all, groups, passEntries)
  let offset = 0
  let pass = -1
  let passFrom = 0
  let regions: (Region | undefined)[] = []
  const lengthBytes = new Uint8Array(5)
  for (const kg of groups) {
    if (pass < 0 || kg >= passes[pass]![1]) {
      const [from, to] = passes[++pass]!
      passFrom = from
      regions = [] // the previous pass's bytes may go before this pass's are made
      regions = all.map((c) => (c.count.subarray(from, to).some((n) => n > 0) ? fillRegion(c, from, to) : undefined))
    }
    const g = kg - passFrom
    const present = all.map((c, i) => i).filter((i) => all[i]!.count[kg]! > 0)
    let size = V8_HEADER.length + 1 + KEY_S.length + 1 + 6 + TAIL.length
    for (const i of present) size += names[i]!.length + 1 + 5 + (regions[i]!.end[g]! - regions[i]!.start[g]!) + 2 + 5
    const out = new Uint8Array(size)
    let at = 0
    out.set(V8_HEADER, at)
    at += V8_HEADER.length
    out[at++] = TAG_OBJECT
    out.set(KEY_S, at)
    at += KEY_S.length
    out[at++] = TAG_OBJECT
    for (const i of present) {
      const r = regions[i]!
      const elements = 2 * all[i]!.count[kg]!
      const lengthEnd = writeVarint(lengthBytes, 0, elements)
      out.set(names[i]!, at)
      at += names[i]!.length
      out[at++] = TAG_ARRAY
      out.set(lengthBytes.subarray(0, lengthEnd), at)
      at += lengthEnd
      out.set(r.bytes.subarray(r.start[g]!, r.end[g]!), at)
      at += r.end[g]! - r.start[g]!
      out[at++] = TAG_END_ARRAY
      out[at++] = 0
      out.set(lengthBytes.subarray(0, lengthEnd), at)
      at += lengthEnd
    }
    out[at++] = TAG_END_OBJECT
    at = writeVarint(out, at, present.length)
    out.set(TAIL, at)
    at += TAIL.length
    const part = out.subarray(0, at)
    keyGroups.push([kg, offset, part.length])
    offset += part.length
    yield part
  }
}

/** `passEntries`: entries per pass over the columns (tests make it small to get many passes). */
export function encodeImages(images: readonly NumericImage[], other?: EncodedSections, passEntries?: number): EncodedSections | undefined {
  const keyGroups: [number, number, number][] = []
  const parts = [...sectionParts(images, other, keyGroups, passEntries)]
  if (parts.length === 0) return undefined
  let size = 0
  for (const p of parts) size += p.length
  const data = new Uint8Array(new ArrayBuffer(size))
  let at = 0
  for (const p of parts) {
    data.set(p, at)
    at += p.length
  }
  return { data, keyGroups }
}

/** Sections written straight to a file by the encoder: where they are, not their bytes. */
export interface WrittenSections {
  keyGroups: [number, number, number][]
  /** The file's size and content checksum (its FileReference's). */
  written: { size: number; checksum: string }
}

/**
 * Encodes as `encodeImages` does, writing the sections to the local file `path` as they are
 * produced and making it durable (durable-write.ts), so that at most one key group's bytes are in
 * memory: no buffer of the whole snapshot, no copy of it to another thread.
 */
export function encodeImagesToFile(images: readonly NumericImage[], other: EncodedSections | undefined, path: string, ops: SyncFsOps = NODE_FS_OPS): WrittenSections | undefined {
  const keyGroups: [number, number, number][] = []
  const parts = sectionParts(images, other, keyGroups)
  const first = parts.next()
  if (first.done === true) return undefined
  const all = (function* () {
    yield first.value
    yield* parts
  })()
  const { size, crc } = writeDurablySync(ops, path, all, false)
  return { keyGroups, written: { size, checksum: crcChecksum(crc) } }
}
