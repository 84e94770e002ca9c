/**
 * The merge of one LSM compaction step, by file path only, so that it runs on any thread: the
 * compaction worker (compaction-worker.ts) or, where no worker is used, the task's own thread in
 * slices. A k-way merge of sorted table streams (level 0 newest first, then level 1), newest
 * version wins, deletions dropped (level 1 is the bottom), written as level-1 tables of at most
 * `targetBytes` split at key-group boundaries. Memory: one block per input and one output block.
 * Must not import the task, the checkpoint coordinator or the CLI.
 * Tests: test/lsm-compaction.test.ts, test/lsm.test.ts.
 */
import { rmSync, statSync } from 'node:fs'
import { BlockCache, SstReader, SstWriter, type SstEntry } from './sstable.js'

/** One compaction step, as it crosses threads (plain data). */
export interface MergeRequest {
  /** Level-0 tables holding pending data in lo..hi, newest first. */
  inputs: string[]
  /**
   * Per input, the key groups of lo..hi taken from it, when not all it holds there (undefined:
   * all): its data of a key group merged before is older than what that merge wrote to level 1,
   * and must not come back over it.
   */
  groups?: (number[] | undefined)[]
  /** The level-1 tables replaced (read whole). */
  base: string[]
  lo: number
  hi: number
  targetBytes: number
  /** Output tables are `${outPrefix}${n}.sst`, n = 0, 1, … */
  outPrefix: string
}

export interface MergeOutput {
  path: string
  lo: number
  hi: number
  size: number
}

/** A k-way merge of sorted entry streams; among equal keys the stream listed first (newest) comes first. */
export class MergeHeap {
  private readonly heads: [SstEntry, number][] = []

  constructor(private readonly streams: Iterator<SstEntry>[]) {
    for (let i = 0; i < streams.length; i++) this.pull(i)
  }

  private less(a: [SstEntry, number], b: [SstEntry, number]): boolean {
    return a[0][0] < b[0][0] || (a[0][0] === b[0][0] && a[1] < b[1])
  }

  private pull(i: number): void {
    const r = this.streams[i]!.next()
    if (r.done === true) return
    const h = this.heads
    h.push([r.value, i])
    let c = h.length - 1
    while (c > 0) {
      const p = (c - 1) >> 1
      if (!this.less(h[c]!, h[p]!)) break
      ;[h[c], h[p]] = [h[p]!, h[c]!]
      c = p
    }
  }

  next(): SstEntry | undefined {
    const h = this.heads
    if (h.length === 0) return undefined
    const top = h[0]!
    const lastItem = h.pop()!
    if (h.length > 0) {
      h[0] = lastItem
      let p = 0
      for (;;) {
        const l = 2 * p + 1
        const r = l + 1
        let m = p
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === p) break
        ;[h[m], h[p]] = [h[p]!, h[m]!]
        p = m
      }
    }
    this.pull(top[1])
    return top[0]
  }
}

function* inGroups(entries: Iterable<SstEntry>, groups: ReadonlySet<number>): Generator<SstEntry> {
  for (const e of entries) if (groups.has(e[1])) yield e
}

/**
 * Runs a merge, yielding every few hundred entries so that a caller on a busy thread can slice it;
 * returns the tables written. On failure, or when abandoned, the partial outputs are deleted.
 */
export function* mergeSteps(req: MergeRequest): Generator<void, MergeOutput[]> {
  const cache = new BlockCache(0)
  const readers: SstReader[] = []
  const out: MergeOutput[] = []
  let w: SstWriter | undefined
  let done = false
  try {
    const streams: Iterator<SstEntry>[] = []
    req.inputs.forEach((p, i) => {
      const r = new SstReader(p, cache)
      readers.push(r)
      const only = req.groups?.[i]
      streams.push(only === undefined ? r.range(req.lo, req.hi) : inGroups(r.range(req.lo, req.hi), new Set(only)))
    })
    for (const p of req.base) {
      const r = new SstReader(p, cache)
      readers.push(r)
      streams.push(r.entries())
    }
    const heap = new MergeHeap(streams)
    let wLo = req.lo
    let last: string | undefined
    let n = 0
    const close = (hi: number): void => {
      w!.finish()
      out.push({ path: w!.path, lo: wLo, hi, size: 0 })
      w = undefined
    }
    for (let e = heap.next(); e !== undefined; e = heap.next()) {
      if (e[0] === last) continue // an older version
      last = e[0]
      if (e[4] === 1) continue // level 1 is the bottom: deletions are dropped
      if (w !== undefined && w.bytes >= req.targetBytes && e[1] !== w.lastKeyGroup) {
        close(e[1] - 1)
        wLo = e[1]
      }
      w ??= new SstWriter(`${req.outPrefix}${out.length}.sst`, { level: 1 })
      w.add(e)
      if (w.needsDrain) w.drain()
      if ((++n & 255) === 0) yield
    }
    if (w !== undefined) close(req.hi)
    // The written size, index and footer included.
    for (const o of out) o.size = statSync(o.path).size
    done = true
    return out
  } finally {
    for (const r of readers) r.close()
    // Failed or abandoned (the caller stopped iterating): no partial output stays behind.
    if (!done) {
      w?.abort()
      for (const o of out) rmSync(o.path, { force: true })
    }
  }
}

/** Runs a merge to its end (on the compaction worker). */
export function runMerge(req: MergeRequest): MergeOutput[] {
  const it = mergeSteps(req)
  for (;;) {
    const r = it.next()
    if (r.done === true) return r.value
  }
}
