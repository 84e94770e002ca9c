/**
 * Encodes numeric column images (numeric-columns.ts) in the key-group sections format of
 * keyed-backend.ts: for each key group, ascending, one v8-serialized `{ s: { [state]: [k0, v0, …] },
 * t: [timers] }`, merged with the sections the task serialized for its other entries and timers
 * (`other`), so that every key group has exactly one section. Runs on the snapshot encoder thread
 * (section-encoder-worker.ts) for big tables and inline for small ones; both give the same bytes.
 * Pure. Tests: test/section-encoder.test.ts.
 */
import { deserialize, serialize } from 'node:v8'
import { NUMBER_KEY, STRING_KEY, type NumericImage } from './numeric-columns.js'

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

export function encodeImages(images: readonly NumericImage[], other?: EncodedSections): EncodedSections | undefined {
  const byGroup = new Map<number, Record<string, unknown[]>>()
  for (const im of images) {
    const arena = Buffer.from(im.arena.buffer, im.arena.byteOffset, im.arena.byteLength)
    const { tag, key, keyLength, keyGroup, value, name } = im
    let lastGroup = -1
    let flat: unknown[] = []
    for (let i = 0; i < im.count; i++) {
      const t = tag[i]
      if (t !== NUMBER_KEY && t !== STRING_KEY) continue
      const kg = keyGroup[i]!
      if (kg !== lastGroup) {
        let states = byGroup.get(kg)
        if (states === undefined) byGroup.set(kg, (states = {}))
        flat = states[name] ??= taggedArray()
        lastGroup = kg
      }
      // Integral numbers are pushed as int32 (Smis) in a branch of their own: through a helper
      // returning int32-or-double, optimized code would box them as doubles. -0 stays a double.
      if (t === NUMBER_KEY) {
        const x = key[i]!
        const n = x | 0
        if (n === x && (n !== 0 || 1 / x > 0)) flat.push(n)
        else flat.push(x)
      } else flat.push(arena.toString('utf8', key[i]!, key[i]! + keyLength[i]!))
      const x = value[i]!
      const n = x | 0
      if (n === x && (n !== 0 || 1 / x > 0)) flat.push(n)
      else flat.push(x)
    }
  }
  const others = new Map<number, Uint8Array>()
  if (other !== undefined) for (const [kg, off, len] of other.keyGroups) others.set(kg, other.data.subarray(off, off + len))
  if (byGroup.size === 0 && others.size === 0) return undefined
  const groups = [...new Set([...byGroup.keys(), ...others.keys()])].sort((a, b) => a - b)
  const parts: Uint8Array[] = []
  const keyGroups: [number, number, number][] = []
  let offset = 0
  for (const kg of groups) {
    const numeric = byGroup.get(kg)
    const task = others.get(kg)
    let buf: Uint8Array
    if (task === undefined) buf = serialize({ s: numeric, t: [] })
    else if (numeric === undefined) buf = task
    else {
      const section = deserialize(task) as Section
      for (const [name, flat] of Object.entries(numeric)) {
        const there = section.s[name]
        if (there === undefined) section.s[name] = flat
        else for (const x of flat) there.push(x)
      }
      buf = serialize(section)
    }
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
