/**
 * The shared-state registry, pure: reference counts, deletion only at zero, pending checkpoints
 * protect what they may reference, deleted files are never referenced again.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SharedStateRegistry } from '../src/runtime/checkpoint/shared-state-registry.js'

describe('SharedStateRegistry', () => {
  it('deletes a file only when the last checkpoint referencing it is released', () => {
    const r = new SharedStateRegistry()
    assert.deepEqual(r.reference(1, ['a', 'b']), [])
    assert.deepEqual(r.reference(2, ['b', 'c']), [])
    assert.equal(r.count('a'), 1)
    assert.equal(r.count('b'), 2)
    assert.deepEqual(r.release(1, []), ['a'])
    assert.equal(r.count('b'), 1)
    assert.equal(r.isDeleted('a'), true)
    assert.equal(r.isDeleted('b'), false)
    assert.deepEqual(r.release(2, []).sort(), ['b', 'c'])
    assert.equal(r.count('b'), 0)
  })

  it('a checkpoint referencing a file twice counts once', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['a', 'a'])
    r.reference(1, ['a'])
    assert.equal(r.count('a'), 1)
    assert.deepEqual(r.release(1, []), ['a'])
  })

  it('releasing an unknown or already released checkpoint does nothing', () => {
    const r = new SharedStateRegistry()
    assert.deepEqual(r.release(9, []), [])
    r.reference(1, ['a'])
    r.reference(2, ['a'])
    assert.deepEqual(r.release(1, []), [])
    assert.deepEqual(r.release(1, []), [])
    assert.equal(r.count('a'), 1)
  })

  it('a file only an aborted checkpoint uploaded is deleted when it is released', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['old'])
    r.reference(2, ['old', 'new-of-2'])
    assert.deepEqual(r.release(2, []), ['new-of-2'])
    assert.equal(r.count('old'), 1)
  })

  it('a file at zero waits while checkpoints that were pending at that moment have not ended', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['a'])
    assert.deepEqual(r.release(1, [2, 3]), [])
    assert.equal(r.waitingCount, 1)
    assert.equal(r.isDeleted('a'), false)
    assert.deepEqual(r.ended(2), [])
    assert.deepEqual(r.ended(7), [], 'a checkpoint that was not pending then does not count')
    assert.deepEqual(r.ended(3), ['a'])
    assert.equal(r.waitingCount, 0)
    assert.equal(r.isDeleted('a'), true)
    assert.deepEqual(r.ended(3), [])
  })

  it('the released checkpoint itself does not block its own files', () => {
    const r = new SharedStateRegistry()
    r.reference(4, ['a'])
    assert.deepEqual(r.release(4, [4]), ['a'])
  })

  it('a pending checkpoint that references a waiting file revives it', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['a'])
    r.release(1, [2])
    assert.deepEqual(r.reference(2, ['a']), [])
    assert.equal(r.waitingCount, 0)
    assert.equal(r.count('a'), 1)
    assert.deepEqual(r.ended(2), [], 'checkpoint 2 completed and still references it')
    assert.equal(r.isDeleted('a'), false)
    assert.deepEqual(r.release(2, []), ['a'])
  })

  it('a checkpoint that references a deleted file is told so, and the file is not counted', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['a', 'b'])
    r.reference(3, ['b'])
    r.release(1, [])
    assert.deepEqual(r.reference(2, ['a', 'b', 'c']), ['a'])
    assert.equal(r.count('a'), 0)
    assert.equal(r.count('b'), 2)
    assert.deepEqual(r.release(2, []), ['c'])
  })

  it('remembers a bounded number of deleted files, forgetting the oldest', () => {
    const r = new SharedStateRegistry(2)
    r.reference(1, ['a', 'b', 'c'])
    r.release(1, [])
    assert.deepEqual([r.isDeleted('a'), r.isDeleted('b'), r.isDeleted('c')], [false, true, true])
    assert.deepEqual(r.reference(2, ['a', 'b']), ['b'])
  })

  it('every waiting file has its own blockers', () => {
    const r = new SharedStateRegistry()
    r.reference(1, ['a'])
    r.reference(2, ['b'])
    r.release(1, [5])
    r.release(2, [5, 6])
    assert.deepEqual(r.ended(5), ['a'])
    assert.deepEqual(r.ended(6), ['b'])
  })

  it('model check: no file is deleted while a live checkpoint references it; every unreferenced file is deleted once nothing pending blocks it', () => {
    const seed0 = Number(process.env.TSFLINK_SEED ?? 20240611)
    let seed = seed0
    const rnd = (n: number): number => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) % n
    }
    const cases = Number(process.env.TSFLINK_PROPERTY_CASES ?? 300)
    for (let c = 0; c < cases; c++) {
      const r = new SharedStateRegistry()
      // The oracle: which checkpoints hold which files, which are pending, which files are gone.
      const holds = new Map<number, Set<string>>()
      const pending = new Set<number>()
      const deleted = new Set<string>()
      /** file → pending checkpoints that must end before it may go (recorded when it hit zero). */
      const blockedBy = new Map<string, Set<number>>()
      let nextId = 1
      let nextFile = 0
      const live = (): Set<string> => new Set([...holds.values()].flatMap((s) => [...s]))
      const take = (files: string[]): void => {
        for (const f of files) {
          assert.ok(!live().has(f), `case ${c} (seed ${seed0}): ${f} deleted while referenced`)
          assert.ok(!deleted.has(f), `case ${c}: ${f} deleted twice`)
          deleted.add(f)
          blockedBy.delete(f)
        }
      }
      const end = (id: number): void => {
        const out = r.ended(id)
        const expected = [...blockedBy].filter(([f, b]) => b.delete(id) && b.size === 0 && !live().has(f)).map(([f]) => f)
        assert.deepEqual(out.sort(), expected.sort(), `case ${c}: deletable after ${id} ended`)
        take(out)
      }
      for (let step = 0; step < 60; step++) {
        const op = rnd(4)
        if (op === 0 || holds.size === 0) {
          // A checkpoint starts and references some known files and some new ones.
          const id = nextId++
          pending.add(id)
          const known = [...live(), ...deleted]
          const files = new Set<string>()
          for (let i = rnd(4); i > 0; i--) files.add(known.length > 0 && rnd(2) === 0 ? known[rnd(known.length)]! : `f${nextFile++}`)
          const gone = r.reference(id, files)
          assert.deepEqual(gone.sort(), [...files].filter((f) => deleted.has(f)).sort(), `case ${c}: files reported gone`)
          holds.set(id, new Set([...files].filter((f) => !deleted.has(f))))
          for (const f of holds.get(id)!) blockedBy.delete(f)
        } else if (op === 1 && pending.size > 0) {
          // A pending checkpoint ends (completes: it keeps its files).
          const id = [...pending][rnd(pending.size)]!
          pending.delete(id)
          end(id)
        } else {
          // A checkpoint is released (subsumed, or aborted: then it also ends).
          const ids = [...holds.keys()]
          const id = ids[rnd(ids.length)]!
          const mine = holds.get(id)!
          holds.delete(id)
          const aborted = pending.delete(id)
          const stillLive = live()
          const zero = [...mine].filter((f) => !stillLive.has(f))
          const blockers = [...pending]
          const out = r.release(id, blockers)
          assert.deepEqual(out.sort(), (blockers.length === 0 ? zero : []).sort(), `case ${c}: deletable on release of ${id}`)
          if (blockers.length > 0) for (const f of zero) blockedBy.set(f, new Set(blockers))
          take(out)
          if (aborted) end(id)
        }
        for (const f of live()) assert.ok(!r.isDeleted(f), `case ${c}: live ${f} marked deleted`)
        for (const [f, s] of holds) for (const x of s) assert.ok(r.count(x) >= 1, `case ${c}: ${x} of ${f} not counted`)
      }
    }
  })
})
