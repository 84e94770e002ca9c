/**
 * The embedded LSM backend's memory budget: memtables flush in the background once they reach
 * half the write-buffer share, without a checkpoint; what is held for reads stays within the read
 * share; instances split the process budget; the configuration keys parse and refuse bad values.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import { Configuration } from '../src/runtime/config/configuration.js'
import { parseMemorySize } from '../src/runtime/config/memory-size.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { configureLsmMemory, configureLsmMemoryFrom, lsmMemorySettings, DEFAULT_MEMORY } from '../src/runtime/state/lsm/memory.js'
import { tmp } from './helpers.js'

const ALL = { start: 0, end: 127 }
const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('LSM memory budget', () => {
  it('flushes in the background when the memtables reach the write-buffer budget, and reads stay within the read budget', async () => {
    const budget = 4 << 20
    const b = new LsmKeyedStateBackend(ALL, 128, join(tmp(), 'work'), { memoryBytes: budget })
    const v = b.getState(new ValueStateDescriptor<string>('v'))
    const KEYS = 120_000
    let peakMemtable = 0
    let peakRead = 0
    for (let k = 0; k < KEYS; k++) {
      b.currentKey = k
      v.update(`value-${k}`)
      if (k % 256 === 255) {
        // Between batches, as the task calls it.
        b.maintain()
        peakMemtable = Math.max(peakMemtable, b.memtableBytes)
        peakRead = Math.max(peakRead, b.readBytes)
        await tick()
      }
    }
    await b.whenIdle()
    // 120 000 entries of about 100 bytes each are far more than 2 MB of write buffer: flushes
    // happened with no checkpoint, and the active memtable never grew past half of it (plus one batch).
    assert.ok(b.budgetFlushes >= 5, `budget flushes: ${b.budgetFlushes}`)
    assert.ok(b.tableCount > 0)
    assert.ok(peakMemtable <= budget / 4 + 256 * 200, `memtable peak ${peakMemtable} of ${budget / 4}`)
    assert.ok(peakRead <= budget / 2, `read side peak ${peakRead} of ${budget / 2}`)
    for (let k = 0; k < KEYS; k += 13) {
      b.currentKey = k
      assert.equal(v.value(), `value-${k}`)
    }
    b.dispose()
  })

  it('shares the process budget among the instances alive', () => {
    const before = lsmMemorySettings()
    try {
      configureLsmMemory({ managedBytes: 300 << 20 })
      const a = new LsmKeyedStateBackend(ALL, 128, join(tmp(), 'a'))
      const share = (x: LsmKeyedStateBackend): number => (x as unknown as { memory: { bytes: number } }).memory.bytes
      const one = share(a)
      const b = new LsmKeyedStateBackend(ALL, 128, join(tmp(), 'b'))
      assert.equal(share(a), share(b))
      assert.ok(share(a) <= one / 2 + 1, `two instances: ${share(a)} each of ${one}`)
      b.dispose()
      assert.equal(share(a), one)
      a.dispose()
    } finally {
      configureLsmMemory(before)
    }
  })

  it('reads taskmanager.memory.managed.size and the write-buffer ratio; refuses bad values naming the key', () => {
    const before = lsmMemorySettings()
    try {
      assert.equal(parseMemorySize('256m'), 256 * 2 ** 20)
      assert.equal(parseMemorySize('1 gb'), 2 ** 30)
      assert.equal(parseMemorySize('1048576'), 2 ** 20)
      assert.equal(parseMemorySize('lots'), undefined)
      configureLsmMemoryFrom(new Configuration().set('taskmanager.memory.managed.size', '96m').set('state.backend.rocksdb.memory.write-buffer-ratio', '0.25'))
      assert.deepEqual(lsmMemorySettings(), { managedBytes: 96 << 20, writeBufferRatio: 0.25 })
      configureLsmMemoryFrom(new Configuration())
      assert.deepEqual(lsmMemorySettings(), DEFAULT_MEMORY)
      assert.throws(() => configureLsmMemoryFrom(new Configuration().set('taskmanager.memory.managed.size', 'lots')), /'taskmanager\.memory\.managed\.size'.*not a memory size/)
      assert.throws(() => configureLsmMemoryFrom(new Configuration().set('taskmanager.memory.managed.size', '10k')), /'taskmanager\.memory\.managed\.size'/)
      assert.throws(() => configureLsmMemoryFrom(new Configuration().set('state.backend.rocksdb.memory.write-buffer-ratio', '2')), /write-buffer-ratio/)
      assert.throws(() => configureLsmMemoryFrom(new Configuration().set('state.backend.rocksdb.memory.managed', 'false')), /state\.backend\.rocksdb\.memory\.managed/)
    } finally {
      configureLsmMemory(before)
    }
  })
})
