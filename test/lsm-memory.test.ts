/**
 * The embedded LSM backend's memory budget: memtables flush in the background once they reach
 * half the write-buffer share, without a checkpoint; what is held for reads stays within the read
 * share; far more state than a hard heap limit is written and read back within a small budget
 * (a child process that runs out of heap if anything is held beyond it); instances split the
 * process budget; the configuration keys parse and refuse bad values.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, it } from 'node:test'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import { Configuration } from '../src/runtime/config/configuration.js'
import { parseMemorySize } from '../src/runtime/config/memory-size.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { configureLsmMemory, configureLsmMemoryFrom, lsmMemorySettings, DEFAULT_MEMORY } from '../src/runtime/state/lsm/memory.js'
import { ROOT, tmp } from './helpers.js'

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

  it('holds far more state than its heap: 120 MB of values written (60 MB live) and read back in a 64 MB heap with a 16 MB budget', () => {
    // A child process with a hard heap limit: memory the backend holds beyond its budget (memtables
    // not flushed, blocks not evicted, flushed memtables kept) ends it with "heap out of memory".
    const dir = join(tmp(), 'work')
    const script = `
      import { LsmKeyedStateBackend } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/runtime/state/lsm/lsm-keyed-backend.ts')).href)}
      import { ValueStateDescriptor } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/runtime/core/state.ts')).href)}
      const b = new LsmKeyedStateBackend({ start: 0, end: 127 }, 128, ${JSON.stringify(dir)}, { memoryBytes: 16 << 20 })
      const v = b.getState(new ValueStateDescriptor('v'))
      const tick = () => new Promise((r) => setImmediate(r))
      const value = (k, round) => String(k).padStart(8, '0').repeat(50) + round
      for (const round of [0, 1]) {
        for (let k = 0; k < 150000; k++) {
          b.currentKey = k
          const old = v.value()
          if (old !== (round === 0 ? null : value(k, 0))) throw new Error('key ' + k + ': ' + String(old).slice(-12))
          v.update(value(k, round))
          if (k % 256 === 255) { b.maintain(); await tick() }
        }
      }
      await b.whenIdle()
      for (let k = 0; k < 150000; k += 7) { b.currentKey = k; if (v.value() !== value(k, 1)) throw new Error('final ' + k) }
      console.log('OK ' + b.budgetFlushes + ' ' + b.tableCount)
      b.dispose()
    `
    const out = execFileSync(process.execPath, ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    assert.match(out, /^OK \d+ \d+/m)
  })

  it('one budget per thread, also when a program configures it through its own copy of the runtime', async () => {
    // The CLI loads a program's imports under other module URLs: a second instance of memory.ts.
    const url = pathToFileURL(join(ROOT, 'src/runtime/state/lsm/memory.ts')).href
    const copy = (await import(`${url}?program-copy=1`)) as typeof import('../src/runtime/state/lsm/memory.js')
    assert.notEqual(copy.configureLsmMemory, configureLsmMemory, 'a second module instance')
    const before = lsmMemorySettings()
    try {
      copy.configureLsmMemory({ managedBytes: 24 << 20 })
      assert.equal(lsmMemorySettings().managedBytes, 24 << 20)
      const a = new LsmKeyedStateBackend(ALL, 128, join(tmp(), 'a'))
      const share = (x: LsmKeyedStateBackend): number => (x as unknown as { memory: { bytes: number } }).memory.bytes
      assert.equal(share(a), 24 << 20)
      // A member of the other copy counts too.
      const other = new copy.MemoryShare(() => {})
      assert.equal(share(a), 12 << 20)
      other.release()
      a.dispose()
    } finally {
      configureLsmMemory(before)
    }
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
