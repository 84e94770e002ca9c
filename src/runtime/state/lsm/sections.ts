/**
 * Canonical savepoints of the LSM backend as streams: writing the key-group sections format
 * (keyed-backend.ts) from a merged scan of the tables, and reading it back one section at a time,
 * so that neither direction ever holds all keys as JavaScript values.
 *
 * Writing: the entries arrive in key order (key group, state, key); a key group's entries are cut
 * into sections ("chunks") of bounded size, written one after the other, so a key group may have
 * several consecutive sections in the handle's list (same key group, ascending offsets). Readers
 * of every version take each listed section in turn, so such files restore into the hashmap
 * backend too, and files with one section per key group (the hashmap backend's, and older ones)
 * read as before. The serialized bytes go to a local scratch file, which is then stored as the
 * one state file (the Storage interface writes whole objects: the file's bytes, not its keys,
 * are in memory once for the upload).
 * Reading: sections are deserialized one at a time; the entries of one key group are sorted and
 * written as level-0 tables (memory: one key group, about 1/maxParallelism of the state).
 * Must not import the task, the checkpoint coordinator or the CLI. Tests: test/lsm.test.ts.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { serialize } from 'node:v8'
import { writeStateFile } from '../../checkpoint/file-check.js'
import type { KeyGroupsStateHandle } from '../../checkpoint/metadata.js'
import { keyGroupForKey, type KeyGroupRange, type StateKey } from '../../core/key-groups.js'
import type { KeyGroupSection, PersistContext, PersistedKeyedState, TimerEntry } from '../keyed-backend.js'
import { encodeKey, type SstEntry } from './sstable.js'

/** A section is cut after this many entries … */
export const SECTION_ENTRIES = 16_384
/** … or once its values are estimated at this many bytes. */
export const SECTION_BYTES = 1 << 20

/** Estimated serialized bytes of `v`, times `times`. */
function sizeOf(v: unknown, times: number): number {
  if (typeof v === 'string') return times * (4 + 2 * v.length)
  if (typeof v !== 'object' || v === null) return times * 10
  return times * (2 + serialize(v).length)
}

const yieldNow = (): Promise<void> => new Promise<void>((r) => setImmediate(r))

/**
 * Writes `entries` (key order: key group ascending; [keyGroup, state, key, value], live ones only)
 * and `timers` as a sections file; `scratch` is a local path for the bytes while they are written.
 */
export async function persistSectionStream(
  ctx: PersistContext, entries: Iterable<[number, string, StateKey, unknown]>, timers: readonly TimerEntry[],
  range: KeyGroupRange, maxParallelism: number, scratch: string, limits = { entries: SECTION_ENTRIES, bytes: SECTION_BYTES },
): Promise<PersistedKeyedState> {
  const timersOf = new Map<number, TimerEntry[]>()
  for (const t of timers) {
    const kg = keyGroupForKey(t[2], maxParallelism)
    let l = timersOf.get(kg)
    if (l === undefined) timersOf.set(kg, (l = []))
    l.push(t)
  }
  const timerGroups = [...timersOf.keys()].sort((a, b) => a - b)
  let nextTimer = 0
  const fd = openSync(scratch, 'w')
  let open = true
  const keyGroups: [number, number, number][] = []
  let offset = 0
  const write = (kg: number, section: KeyGroupSection): void => {
    const buf = serialize(section)
    let done = 0
    while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, offset + done)
    keyGroups.push([kg, offset, buf.length])
    offset += buf.length
  }
  /** Sections for the timers of key groups before `kg` that have no entries. */
  const timersBefore = (kg: number): void => {
    while (nextTimer < timerGroups.length && timerGroups[nextTimer]! < kg) {
      const g = timerGroups[nextTimer++]!
      write(g, { s: {}, t: timersOf.get(g)! })
    }
  }
  try {
    let kg = -1
    let section: KeyGroupSection = { s: {}, t: [] }
    let count = 0
    let bytes = 0
    const cut = (): void => {
      if (count > 0 || section.t.length > 0) write(kg, section)
      section = { s: {}, t: [] }
      count = 0
      bytes = 0
    }
    let deadline = performance.now() + 4
    let n = 0
    for (const [g, name, key, value] of entries) {
      if (g !== kg) {
        if (kg >= 0) cut()
        timersBefore(g)
        kg = g
        // A key group's timers go with its first section.
        if (timerGroups[nextTimer] === g) section.t = timersOf.get(timerGroups[nextTimer++]!)!
      } else if (count >= limits.entries || bytes >= limits.bytes) cut()
      ;(section.s[name] ??= []).push(key, value)
      count++
      bytes += sizeOf(key, 1)
      // Objects are measured one in 16 (and the first ones of a section), each standing for 16.
      bytes += typeof value !== 'object' || value === null ? sizeOf(value, 1) : count <= 8 ? sizeOf(value, 1) : count % 16 === 0 ? sizeOf(value, 16) : 0
      if ((++n & 1023) === 0 && performance.now() > deadline) {
        await yieldNow()
        deadline = performance.now() + 4
      }
    }
    if (kg >= 0) cut()
    timersBefore(Number.POSITIVE_INFINITY)
    closeSync(fd)
    open = false
    if (keyGroups.length === 0) return { handle: undefined, files: [] }
    const file = ctx.fileName('keyed')
    const ref = await writeStateFile(ctx.storage, ctx.location, file, readFileSync(scratch))
    const handle: KeyGroupsStateHandle = { file, keyGroupRange: [range.start, range.end], keyGroups }
    return { handle, files: [ref] }
  } finally {
    if (open) closeSync(fd)
    unlinkSync(scratch)
  }
}

/**
 * The state entries of sections (in the handle's order: key groups ascending, a key group's
 * sections consecutive), one key group at a time, sorted by encoded key; timers go to `timers`.
 */
export function* sectionGroups(sections: Iterable<[number, KeyGroupSection]>, timers: TimerEntry[]): Generator<[number, SstEntry[]]> {
  let kg = -1
  let entries: SstEntry[] = []
  const done = (): [number, SstEntry[]] => [kg, entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))]
  for (const [g, s] of sections) {
    if (g !== kg) {
      if (entries.length > 0) yield done()
      kg = g
      entries = []
    }
    for (const [name, flat] of Object.entries(s.s)) {
      for (let i = 0; i < flat.length; i += 2) entries.push([encodeKey(g, name, flat[i] as StateKey), g, name, flat[i] as StateKey, 0, flat[i + 1]])
    }
    for (const t of s.t) timers.push(t)
  }
  if (entries.length > 0) yield done()
}
