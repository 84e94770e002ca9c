/**
 * InternalTimerService: event-time timers fire when the watermark reaches them, processing-time
 * timers when the clock does, each in time order, at most once per (key, time, domain); deleted
 * timers never fire; a snapshot restores into a fresh service with the same timers. Expected
 * firings come from the definition (every timer with time ≤ watermark, ascending), checked
 * against a model on random histories.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InternalTimerService } from '../src/runtime/operators/timer-service.js'
import type { StateKey } from '../src/runtime/core/key-groups.js'
import { seededRandom } from './helpers.js'

type Fired = [ts: number, key: StateKey]

function fireUpTo(s: InternalTimerService, wm: number): Fired[] {
  const fired: Fired[] = []
  s.advanceWatermark(wm, (ts, key) => fired.push([ts, key]))
  return fired
}

function fireProcessing(s: InternalTimerService, now: number): Fired[] {
  const fired: Fired[] = []
  s.advanceProcessingTime(now, (ts, key) => fired.push([ts, key]))
  return fired
}

describe('event-time timers', () => {
  it('fire when the watermark reaches their time (≤), in time order, and only once', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('b', 30)
    s.registerEventTimeTimer('a', 10)
    s.registerEventTimeTimer('c', 20)
    s.registerEventTimeTimer('a', 40)
    assert.deepEqual(fireUpTo(s, 9), [], 'nothing before its time')
    assert.deepEqual(fireUpTo(s, 10), [[10, 'a']], 'a timer fires when the watermark equals its time')
    assert.deepEqual(fireUpTo(s, 35), [[20, 'c'], [30, 'b']])
    assert.deepEqual(fireUpTo(s, 35), [], 'a fired timer is gone')
    assert.equal(s.currentWatermark, 35)
    assert.deepEqual(fireUpTo(s, Number.POSITIVE_INFINITY), [[40, 'a']], 'the final watermark fires every timer left')
    assert.equal(s.size, 0)
  })

  it('one timer per (key, time): registering again does not fire twice; keys 1 and "1" are different keys', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('k', 5)
    s.registerEventTimeTimer('k', 5)
    s.registerEventTimeTimer(1, 5)
    s.registerEventTimeTimer('1', 5)
    assert.equal(s.size, 3)
    const fired = fireUpTo(s, 5)
    assert.equal(fired.length, 3)
    assert.deepEqual(fired.map(([, k]) => `${typeof k}:${String(k)}`).sort(), ['number:1', 'string:1', 'string:k'])
  })

  it('a deleted timer never fires; deleting an unknown one does nothing; it can be registered again', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('a', 10)
    s.registerEventTimeTimer('b', 10)
    s.deleteEventTimeTimer('a', 10)
    s.deleteEventTimeTimer('zz', 99)
    s.deleteProcessingTimeTimer('b', 10) // other domain: the event-time timer stays
    assert.deepEqual(fireUpTo(s, 100), [[10, 'b']])
    s.registerEventTimeTimer('a', 200)
    s.deleteEventTimeTimer('a', 200)
    s.registerEventTimeTimer('a', 200)
    assert.deepEqual(fireUpTo(s, 200), [[200, 'a']], 'registered again after a delete: fires once')
  })

  it('a timer registered while timers fire, at or before the watermark, fires in the same advance', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('a', 10)
    const fired: Fired[] = []
    s.advanceWatermark(50, (ts, key) => {
      fired.push([ts, key])
      if (key === 'a') s.registerEventTimeTimer('b', ts + 5)
      if (key === 'b') s.registerEventTimeTimer('c', 60)
    })
    assert.deepEqual(fired, [[10, 'a'], [15, 'b']])
    assert.deepEqual(fireUpTo(s, 60), [[60, 'c']])
  })
})

describe('processing-time timers', () => {
  it('fire when the clock reaches them, in time order; the earliest is reported for the wake-up', () => {
    const s = new InternalTimerService()
    assert.equal(s.nextProcessingTime(), undefined)
    assert.equal(s.registerProcessingTimeTimer('a', 100), true, 'the first timer is the earliest')
    assert.equal(s.registerProcessingTimeTimer('b', 300), false, 'a later one is not')
    assert.equal(s.registerProcessingTimeTimer('c', 50), true, 'an earlier one is')
    assert.equal(s.registerProcessingTimeTimer('c', 50), false, 'the same timer again changes nothing')
    assert.equal(s.nextProcessingTime(), 50)
    s.deleteProcessingTimeTimer('c', 50)
    assert.equal(s.nextProcessingTime(), 100, 'a deleted timer is no longer the next wake-up')
    assert.deepEqual(fireProcessing(s, 99), [])
    assert.deepEqual(fireProcessing(s, 1000), [[100, 'a'], [300, 'b']])
    assert.equal(s.nextProcessingTime(), undefined)
  })

  it('event-time and processing-time timers are separate: a watermark fires no processing-time timer', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('k', 10)
    s.registerProcessingTimeTimer('k', 10)
    assert.deepEqual(fireUpTo(s, 1000), [[10, 'k']])
    assert.deepEqual(fireProcessing(s, 1000), [[10, 'k']])
    assert.equal(s.size, 0)
  })
})

describe('snapshot and restore', () => {
  it('a restored service holds the same timers in both domains, and fires them the same way', () => {
    const s = new InternalTimerService()
    s.registerEventTimeTimer('a', 30)
    s.registerEventTimeTimer(7, 10)
    s.registerEventTimeTimer('gone', 20)
    s.deleteEventTimeTimer('gone', 20)
    s.registerProcessingTimeTimer('p', 500)
    s.registerProcessingTimeTimer(true, 400)
    assert.deepEqual(fireUpTo(s, 10), [[10, 7]])
    const snap = s.snapshot()
    // A snapshot is a copy: what happens afterwards does not change it.
    s.registerEventTimeTimer('late', 5)
    fireUpTo(s, 100)
    const key = (e: readonly [number, number, StateKey]): string => `${e[0]}|${e[1]}|${typeof e[2]}:${String(e[2])}`
    assert.deepEqual(snap.map(key).sort(), ['0|30|string:a', '1|400|boolean:true', '1|500|string:p'])

    const r = new InternalTimerService()
    r.restore(snap)
    assert.equal(r.size, 3)
    assert.equal(r.nextProcessingTime(), 400)
    assert.deepEqual(fireUpTo(r, 29), [])
    assert.deepEqual(fireUpTo(r, 30), [[30, 'a']])
    assert.deepEqual(fireProcessing(r, 450), [[400, true]])
    assert.deepEqual(fireProcessing(r, 500), [[500, 'p']])
  })
})

describe('against a model (random histories)', () => {
  it('fires exactly the live timers ≤ each watermark, in time order, and snapshots restore them', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = seededRandom(seed)
      let s = new InternalTimerService()
      /** The model: live event-time timers as "key|ts". */
      const live = new Map<string, [number, StateKey]>()
      let wm = Number.NEGATIVE_INFINITY
      for (let step = 0; step < 60; step++) {
        const r = rnd()
        const key: StateKey = rnd() < 0.5 ? `k${Math.floor(rnd() * 5)}` : Math.floor(rnd() * 5)
        const ts = Math.floor(rnd() * 100)
        const id = `${typeof key}:${String(key)}|${ts}`
        if (r < 0.45) {
          s.registerEventTimeTimer(key, ts)
          // A timer at or below the current watermark waits for the next advance, as in Flink.
          live.set(id, [ts, key])
        } else if (r < 0.6) {
          s.deleteEventTimeTimer(key, ts)
          live.delete(id)
        } else if (r < 0.9) {
          const next = Math.max(wm, Math.floor(rnd() * 110))
          const expected = [...live.values()].filter(([t]) => t <= next).map(([t]) => t).sort((a, b) => a - b)
          const fired = fireUpTo(s, next)
          assert.deepEqual(fired.map(([t]) => t), expected, `seed ${seed} step ${step}: firing times up to ${next}`)
          for (const [t, k] of fired) assert.ok(live.delete(`${typeof k}:${String(k)}|${t}`), `seed ${seed}: fired a timer that is not live`)
          wm = next
        } else {
          const restored = new InternalTimerService()
          restored.restore(s.snapshot())
          restored.currentWatermark = s.currentWatermark
          s = restored
        }
      }
      assert.equal(s.size, live.size, `seed ${seed}: live timers`)
    }
  })
})
