/**
 * StateTable: one keyed state's values on the heap, with O(1) snapshots.
 *
 * The table is a stack of Map layers, oldest first; only the top layer is written. A snapshot pushes
 * a fresh top layer and pins every layer below it, which are immutable from then on, so taking a
 * snapshot never copies state and never pauses processing for more than a few allocations. A read
 * looks from the top down; a delete below the top leaves a TOMBSTONE. `maintain()` folds the top
 * layer into the one below in bounded chunks once no snapshot pins that layer, so between snapshots
 * the table returns to one layer and one lookup per read.
 *
 * Architecture Invariant: a pinned layer is never mutated; a snapshot view resolves "newest wins"
 * over its layers, and reading it while the task keeps processing gives the state at snapshot time.
 * Values that are objects are copied on the first update-read after a snapshot (`getForUpdate`),
 * as Flink's copy-on-write state map does, so in-place mutation cannot reach a snapshot.
 *
 * Pure. Tests: test/state-table.test.ts.
 */
import type { StateKey } from '../core/key-groups.js'

export const TOMBSTONE: unique symbol = Symbol('tombstone')
type Slot<V> = V | typeof TOMBSTONE

interface Layer<V> {
  map: Map<StateKey, Slot<V>>
  pins: number
}

/** An immutable, "newest wins" view of a table at the moment `snapshot()` was called. */
export class TableSnapshot<V> {
  private released = false

  constructor(private readonly layers: Layer<V>[]) {}

  /** Visits every live entry once; the caller may pause between entries (chunked serialization). */
  *entries(): Generator<[StateKey, V]> {
    const layers = this.layers
    for (let i = layers.length - 1; i >= 0; i--) {
      const map = layers[i]!.map
      for (const [k, v] of map) {
        let shadowed = false
        for (let j = i + 1; j < layers.length; j++) {
          if (layers[j]!.map.has(k)) {
            shadowed = true
            break
          }
        }
        if (!shadowed && v !== TOMBSTONE) yield [k, v]
      }
    }
  }

  release(): void {
    if (this.released) return
    this.released = true
    for (const l of this.layers) l.pins--
  }
}

export class StateTable<V> {
  private layers: Layer<V>[] = [{ map: new Map(), pins: 0 }]
  private top: Map<StateKey, Slot<V>> = this.layers[0]!.map

  get(key: StateKey): V | undefined {
    const v = this.top.get(key)
    if (v !== undefined) return v === TOMBSTONE ? undefined : v
    const layers = this.layers
    for (let i = layers.length - 2; i >= 0; i--) {
      const w = layers[i]!.map.get(key)
      if (w !== undefined) return w === TOMBSTONE ? undefined : w
    }
    return undefined
  }

  /**
   * Like get, but a value that is an object and lives in a lower (possibly pinned) layer is copied
   * into the top layer first, so the caller may mutate the result in place.
   */
  getForUpdate(key: StateKey, copy: (v: V) => V): V | undefined {
    const v = this.top.get(key)
    if (v !== undefined) return v === TOMBSTONE ? undefined : v
    if (this.layers.length === 1) return undefined
    const w = this.get(key)
    if (w === undefined || w === null || typeof w !== 'object') return w
    const c = copy(w)
    this.top.set(key, c)
    return c
  }

  put(key: StateKey, value: V): void {
    this.top.set(key, value)
  }

  remove(key: StateKey): void {
    if (this.layers.length === 1) this.top.delete(key)
    else this.top.set(key, TOMBSTONE)
  }

  /** Entries held in all layers: live ones, shadowed ones and tombstones (memory, not keys). */
  get sizeHint(): number {
    let n = 0
    for (const l of this.layers) n += l.map.size
    return n
  }

  get layerCount(): number {
    return this.layers.length
  }

  /** Freezes the current contents in O(1) and returns a view of them; release() it when done. */
  snapshot(): TableSnapshot<V> {
    const frozen = this.layers.slice()
    if (this.top.size > 0 || frozen.length === 1) {
      for (const l of frozen) l.pins++
      const next: Layer<V> = { map: new Map(), pins: 0 }
      this.layers.push(next)
      this.top = next.map
    } else {
      // The top layer is empty: it is identical to the view without it, so pin only the layers below.
      frozen.pop()
      for (const l of frozen) l.pins++
    }
    return new TableSnapshot(frozen)
  }

  /**
   * Folds the top layer into the layer below, at most `budget` entries per call, once that layer
   * is no longer pinned. Returns true when the budget ran out with more to fold now (a layer still
   * pinned is not "more to fold now").
   */
  maintain(budget = 4096): boolean {
    while (this.layers.length > 1) {
      const below = this.layers[this.layers.length - 2]!
      if (below.pins > 0) return false
      // A tombstone folded into the bottom layer has nothing left to hide: it goes.
      const intoBottom = this.layers.length === 2
      for (const [k, v] of this.top) {
        if (budget === 0) return true
        if (v === TOMBSTONE && intoBottom) below.map.delete(k)
        else below.map.set(k, v)
        this.top.delete(k)
        budget--
      }
      this.layers.pop()
      this.top = below.map
    }
    return false
  }
}
