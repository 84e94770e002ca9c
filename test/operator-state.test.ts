/**
 * Operator (non-keyed) list state: split and union lists, restore hand-over, snapshots that later
 * changes do not touch.
 */
import assert from 'node:assert/strict'
import { deserialize } from 'node:v8'
import { describe, it } from 'node:test'
import { ListStateDescriptor } from '../src/runtime/core/state.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'

describe('OperatorStateBackend', () => {
  it('has no snapshot without state', () => {
    assert.equal(new OperatorStateBackend().snapshot(), undefined)
  })

  it('snapshots every list with its distribution mode; later changes do not touch the snapshot', () => {
    const b = new OperatorStateBackend()
    const split = b.getListState(new ListStateDescriptor<number>('offsets'))
    const union = b.getUnionListState(new ListStateDescriptor<string>('files'))
    split.add(1)
    split.addAll([2, 3])
    union.update(['a', 'b'])
    const s = b.snapshot()!
    split.add(4)
    union.clear()
    assert.deepEqual(s.states, { offsets: 'split', files: 'union' })
    assert.deepEqual(deserialize(s.data), { offsets: [1, 2, 3], files: ['a', 'b'] })
    assert.deepEqual(split.get(), [1, 2, 3, 4])
    assert.deepEqual(union.get(), [])
  })

  it('snapshots lists named like properties of Object.prototype, and they survive the metadata round trip', () => {
    const b = new OperatorStateBackend()
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty']
    names.forEach((n, i) => b.getListState(new ListStateDescriptor<number>(n)).update([i, i + 10]))
    const s = b.snapshot()!
    // The modes travel in _metadata (JSON), the elements in the state file (v8).
    const states = JSON.parse(JSON.stringify(s.states)) as Record<string, string>
    const body = deserialize(s.data) as Record<string, unknown>
    assert.deepEqual(Object.keys(states).sort(), [...names].sort())
    for (const [i, n] of names.entries()) {
      assert.ok(Object.hasOwn(body, n), `${n} is an own property of the snapshot`)
      assert.deepEqual(body[n], [i, i + 10], n)
      assert.equal(states[n], 'split', n)
    }
  })

  it('get returns a copy', () => {
    const l = new OperatorStateBackend().getListState(new ListStateDescriptor<number>('l'))
    l.add(1)
    l.get().push(2)
    assert.deepEqual(l.get(), [1])
  })

  it('restored elements are claimed by the first use of their name', () => {
    const b = new OperatorStateBackend()
    assert.equal(b.isRestored, false)
    b.restore('offsets', [7, 8])
    assert.equal(b.isRestored, true)
    const l = b.getListState(new ListStateDescriptor<number>('offsets'))
    assert.deepEqual(l.get(), [7, 8])
    assert.deepEqual(b.getListState(new ListStateDescriptor<number>('other')).get(), [])
  })

  it('one mode per name', () => {
    const b = new OperatorStateBackend()
    b.getListState(new ListStateDescriptor<number>('x'))
    assert.throws(() => b.getUnionListState(new ListStateDescriptor<number>('x')), /Operator state 'x' is registered as split list state and cannot be used as union list state/)
  })
})
