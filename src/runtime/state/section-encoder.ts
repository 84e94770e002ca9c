/**
 * Encodes numeric column images (numeric-columns.ts) in the key-group sections format of
 * keyed-backend.ts: for each key group, ascending, one v8-serialized `{ s: { [state]: [k0, v0, …] },
 * t: [timers] }`, merged with the sections the task serialized for its other entries and timers
 * (`other`), so that every key group has exactly one section. Runs on the snapshot encoder thread
 * (section-encoder-worker.ts) for big tables and inline for small ones; both give the same bytes.
 * Pure. Tests: test/section-encoder.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import { UPPER_BOUND_MAX_PARALLELISM } from '../core/key-groups.js'
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

/** An image's live slots ordered by key group (a counting sort): slots of group g are order[start[g]..start[g+1]). */
interface Grouped {
  image: NumericImage
  segments: Buffer[]
  order: Int32Array
  start: Uint32Array
}

function group(image: NumericImage): Grouped {
  const start = new Uint32Array(UPPER_BOUND_MAX_PARALLELISM + 1)
  let live = 0
  for (let i = 0; i < image.count; i++) {
    const c = image.chunks[i >>> CHUNK_BITS]!
    const j = i & (CHUNK - 1)
    if (c.tag[j] === FREE) continue
    start[c.keyGroup[j]! + 1]!++
    live++
  }
  for (let g = 1; g < start.length; g++) start[g]! += start[g - 1]!
  const next = start.slice()
  const order = new Int32Array(live)
  for (let i = 0; i < image.count; i++) {
    const c = image.chunks[i >>> CHUNK_BITS]!
    const j = i & (CHUNK - 1)
    if (c.tag[j] === FREE) continue
    order[next[c.keyGroup[j]!]!++] = i
  }
  return { image, segments: arenaBuffers(image.arena), order, start }
}

/** The flat [k0, v0, k1, v1, …] of one image's slots in key group `g`. */
function flatOf({ image, segments, order, start }: Grouped, g: number): unknown[] {
  const flat = taggedArray()
  for (let o = start[g]!; o < start[g + 1]!; o++) {
    const i = order[o]!
    const c = image.chunks[i >>> CHUNK_BITS]!
    const j = i & (CHUNK - 1)
    // Integral numbers are pushed as int32 (Smis) in a branch of their own: through a helper
    // returning int32-or-double, optimized code would box them as doubles. -0 stays a double.
    if (c.tag[j] === NUMBER_KEY) {
      const x = c.key[j]!
      const n = x | 0
      if (n === x && (n !== 0 || 1 / x > 0)) flat.push(n)
      else flat.push(x)
    } else flat.push(keyString(segments, c.key[j]!, c.keyLength[j]!))
    const x = c.value[j]!
    const n = x | 0
    if (n === x && (n !== 0 || 1 / x > 0)) flat.push(n)
    else flat.push(x)
  }
  return flat
}

export function encodeImages(images: readonly NumericImage[], other?: EncodedSections): EncodedSections | undefined {
  const grouped = images.map(group)
  const others = new Map<number, Uint8Array>()
  if (other !== undefined) for (const [kg, off, len] of other.keyGroups) others.set(kg, other.data.subarray(off, off + len))
  const groups = new Set(others.keys())
  for (const g of grouped) {
    for (let kg = 0; kg < UPPER_BOUND_MAX_PARALLELISM; kg++) if (g.start[kg + 1]! > g.start[kg]!) groups.add(kg)
  }
  if (groups.size === 0) return undefined
  const parts: Uint8Array[] = []
  const keyGroups: [number, number, number][] = []
  let offset = 0
  for (const kg of [...groups].sort((a, b) => a - b)) {
    const task = others.get(kg)
    const section: Section = task === undefined ? { s: {}, t: [] } : (deserialize(task) as Section)
    let numeric = false
    for (const g of grouped) {
      if (g.start[kg + 1]! === g.start[kg]!) continue
      numeric = true
      const flat = flatOf(g, kg)
      const there = section.s[g.image.name]
      if (there === undefined) section.s[g.image.name] = flat
      else for (const x of flat) there.push(x)
    }
    const buf = numeric || task === undefined ? serialize(section) : task
    parts.push(buf)
    keyGroups.push([kg, offset, buf.length])
    offset += buf.length
  }
  const data = new Uint8Array(new ArrayBuffer(offset))
  let at = 0
  for (const p of parts) {
    data.set(p, at)
    at += p.length
  }
  return { data, keyGroups }
}
