/**
 * HeapTable (the hashmap backend's table of one state): numeric entries live in the columns, all
 * others in the copy-on-write StateTable, a key in exactly one of them as its value changes type,
 * and a snapshot of the backend sees each key as it was, wherever it lived; states named like
 * Object.prototype's properties persist like any other, and a snapshot file the encoder thread
 * writes counts as persisted only once its folder is durable.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { HeapKeyedStateBackend, HeapTable } from '../src/runtime/state/heap-keyed-backend.js'
import { SectionEncoder } from '../src/runtime/state/encoder-pool.js'
import { DurableWriter } from '../src/runtime/storage/durable-writer.js'
import { FSYNC, FsStorage, OFFLOAD_MAX_BYTES, type Syncer } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

const ALL = { start: 0, end: 127 }

describe('HeapTable', () => {
  it('keeps numbers with number or string keys in the columns, everything else in the StateTable', () => {
    const t = new HeapTable(128)
    t.put(1, 10)
    t.put('one', 11)
    t.put(true, 12) // a boolean key: not a column key
    t.put(5n, 13)
    t.put('\uD800', 14) // a lone surrogate would not survive UTF-8
    t.put('list', [1, 2])
    assert.equal(t.numbers.size, 2)
    assert.deepEqual(new Map(t.entries()), new Map<unknown, unknown>([[1, 10], ['one', 11], [true, 12], [5n, 13], ['\uD800', 14], ['list', [1, 2]]]))
    assert.equal(t.get(true), 12)
    assert.equal(t.get('\uD800'), 14)
  })

  it('moves a key between the stores as its value changes type, never leaving a copy behind', () => {
    const t = new HeapTable(128)
    t.put('k', 1)
    t.put('k', { n: 2 })
    assert.equal(t.numbers.size, 0)
    assert.deepEqual(t.get('k'), { n: 2 })
    t.put('k', 3)
    assert.equal(t.get('k'), 3)
    t.remove('k')
    assert.equal(t.get('k'), undefined, 'removed from both stores')
    assert.deepEqual([...t.entries()], [])
    t.put('k', 'text')
    t.remove('k')
    assert.equal(t.get('k'), undefined)
  })

  for (const inline of [true, false]) {
    it(`a snapshot sees every key as it was when taken (${inline ? 'encoded inline' : 'on the encoder thread'})`, async () => {
      const encoder = new SectionEncoder(inline ? Number.MAX_SAFE_INTEGER : 0)
      const root = tmp()
      const b = new HeapKeyedStateBackend(ALL, 128, { encoder })
      const s = b.getState(new ValueStateDescriptor<unknown>('v'))
      const before = new Map<string | number, unknown>()
      for (let i = 0; i < 3000; i++) {
        const k = i % 2 === 0 ? i : `key-${i}`
        const v = i % 5 === 0 ? { obj: i } : i
        b.currentKey = k
        s.update(v)
        before.set(k, v)
      }
      const barrier = { id: 1, timestamp: 1, type: 'checkpoint', format: 'native', location: join(root, 'chk-1'), incremental: false } as unknown as CheckpointBarrier
      const job = b.snapshot([], barrier)
      // After the synchronous part: every key changes type or value, some go away.
      for (const k of before.keys()) {
        b.currentKey = k
        const v = s.value()
        if (typeof k === 'number' && k % 3 === 0) s.clear()
        else s.update(typeof v === 'number' ? { was: v } : 7)
      }
      const fs = new FsStorage()
      const r = await job.persist({ location: barrier.location, storage: fs, fileName: (x) => `${x}-1` })
      const restored = new HeapKeyedStateBackend(ALL, 128, { encoder })
      await restored.restore([{ checkpointDir: barrier.location, location: join(barrier.location, `keyed-1`), handle: r.handle! }], () => fs)
      const rs = restored.getState(new ValueStateDescriptor<unknown>('v'))
      for (const [k, v] of before) {
        restored.currentKey = k
        assert.deepEqual(rs.value(), v, `key ${String(k)}`)
      }
      await encoder.close()
    })
  }

  it('snapshots and restores states whatever their names, also names of Object.prototype\'s properties', async () => {
    // A state's name is the user's string: names such as 'toString' or '__proto__' are property
    // keys of a section object like any other.
    const encoder = new SectionEncoder(Number.MAX_SAFE_INTEGER)
    const root = tmp()
    const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'plain']
    const b = new HeapKeyedStateBackend(ALL, 128, { encoder })
    const model = new Map<string, Map<string | number, unknown>>()
    for (const name of names) {
      const s = b.getState(new ValueStateDescriptor<unknown>(name))
      const m = new Map<string | number, unknown>()
      for (let i = 0; i < 200; i++) {
        // Number keys, string keys (their numbers are encoded through arrays) and object values.
        const k = i % 3 === 0 ? i : `${name}-${i}`
        const v = i % 4 === 0 ? { n: i } : i
        b.currentKey = k
        s.update(v)
        m.set(k, v)
      }
      model.set(name, m)
    }
    const barrier = { id: 1, timestamp: 1, type: 'checkpoint', format: 'native', location: join(root, 'chk-1'), incremental: false } as unknown as CheckpointBarrier
    const fs = new FsStorage()
    const r = await b.snapshot([], barrier).persist({ location: barrier.location, storage: fs, fileName: (x) => `${x}-1` })
    const restored = new HeapKeyedStateBackend(ALL, 128, { encoder })
    await restored.restore([{ checkpointDir: barrier.location, location: join(barrier.location, 'keyed-1'), handle: r.handle! }], () => fs)
    for (const name of names) {
      const rs = restored.getState(new ValueStateDescriptor<unknown>(name))
      for (const [k, v] of model.get(name)!) {
        restored.currentKey = k
        assert.deepEqual(rs.value(), v, `state ${name}, key ${String(k)}`)
      }
    }
    await encoder.close()
  })

  it('a snapshot the encoder thread writes into a folder another write created is persisted only once that folder is durable', async () => {
    // Another state file (too big for the writer thread) creates chk-1 and waits for the fsync of
    // the checkpoints folder (held here) that makes the name chk-1 durable. The encoder thread
    // writes this snapshot's file into chk-1 meanwhile, finding the folder existing: the snapshot
    // must not count as persisted before chk-1 itself is durable.
    const encoder = new SectionEncoder(0)
    const writer = new DurableWriter()
    const root = tmp()
    let releaseRoot!: () => void
    const rootHeld = new Promise<void>((r) => (releaseRoot = r))
    const syncer: Syncer = {
      file: (path, handle) => FSYNC.file(path, handle),
      async directory(path) {
        if (path === root) await rootHeld
        await FSYNC.directory(path)
      },
    }
    const fs = new FsStorage({ syncer, writer })
    try {
      const location = join(root, 'chk-1')
      const other = fs.write(join(location, 'other-state'), Buffer.alloc(OFFLOAD_MAX_BYTES + 1, 1))
      const b = new HeapKeyedStateBackend(ALL, 128, { encoder })
      const s = b.getState(new ValueStateDescriptor<number>('v'))
      for (let i = 0; i < 1000; i++) {
        b.currentKey = i
        s.update(i)
      }
      const barrier = { id: 1, timestamp: 1, type: 'checkpoint', format: 'native', location, incremental: false } as unknown as CheckpointBarrier
      let persisted = false
      const job = b.snapshot([], barrier).persist({ location, storage: fs, fileName: (x) => `${x}-1` }).then((r) => ((persisted = true), r))
      await Promise.race([job, new Promise((r) => setTimeout(r, 2000))])
      assert.ok(existsSync(join(location, 'keyed-1')), 'the encoder thread wrote the file')
      assert.equal(persisted, false, 'persisted before the folder holding its file was durable')
      releaseRoot()
      await Promise.all([other, job])
    } finally {
      releaseRoot()
      await encoder.close()
      await writer.close()
    }
  })

  it('with checkpoints, starts the encoder thread once its numbers reach a quarter of what the thread takes, before any snapshot', async () => {
    const encoder = new SectionEncoder(4000)
    try {
      const idle = new HeapKeyedStateBackend(ALL, 128, { encoder })
      const b = new HeapKeyedStateBackend(ALL, 128, { encoder, snapshots: true })
      const s = b.getState(new ValueStateDescriptor<number>('v'))
      const t = idle.getState(new ValueStateDescriptor<number>('v'))
      for (let i = 0; i < 5000; i++) {
        idle.currentKey = i
        t.update(i)
      }
      idle.maintain()
      assert.equal(encoder.started, false, 'without checkpoints the thread waits for a snapshot')
      for (let i = 0; i < 999; i++) {
        b.currentKey = i
        s.update(i)
      }
      b.maintain()
      assert.equal(encoder.started, false, '999 numbers: not yet')
      b.currentKey = 999
      s.update(1)
      b.maintain()
      assert.equal(encoder.started, true, '1000 numbers: started')
    } finally {
      await encoder.close()
    }
  })
})
