/**
 * Keyed state backends (hashmap and the embedded LSM) behind one interface: deletions survive a
 * snapshot → restore round trip into either backend at any parallelism; every state file written
 * carries a checksum and a corrupt one fails the restore, naming the file.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor } from '../src/runtime/api/state.js'
import type { KeyedStateHandle } from '../src/runtime/checkpoint/metadata.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import type { KeyedRestore } from '../src/runtime/checkpoint/state-assignment.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { keyGroupForKey, keyGroupRangeForSubtask, type KeyGroupRange } from '../src/runtime/state/key-groups.js'
import type { KeyedStateBackend } from '../src/runtime/state/keyed-backend.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { StateError } from '../src/runtime/errors.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'
import { tmp } from './helpers.js'

const fs = new FsStorage()
const MAXP = 128
const ALL: KeyGroupRange = { start: 0, end: MAXP - 1 }

type BackendName = 'hashmap' | 'lsm'
const BACKENDS: BackendName[] = ['hashmap', 'lsm']

function create(kind: BackendName, range: KeyGroupRange, work: string): KeyedStateBackend {
  return kind === 'hashmap' ? new HeapKeyedStateBackend(range, MAXP) : new LsmKeyedStateBackend(range, MAXP, work)
}

const barrier = (id: number, location: string, opts: Partial<CheckpointBarrier> = {}): CheckpointBarrier =>
  ({ id: id as never, timestamp: id, type: 'checkpoint', format: 'native', location, incremental: true, ...opts })

async function persist(b: KeyedStateBackend, br: CheckpointBarrier): Promise<KeyedRestore[]> {
  const r = await b.snapshot([], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-${br.id}-${Math.random().toString(16).slice(2)}` })
  return handles(br.location, r.handle)
}

const handles = (dir: string, h: KeyedStateHandle | undefined): KeyedRestore[] =>
  h === undefined ? [] : [{ checkpointDir: dir, location: 'file' in h ? join(dir, h.file) : dir, handle: h }]

/** Restores `from` into `parallelism` fresh backends of `kind`; returns them by subtask. */
async function restoreInto(kind: BackendName, parallelism: number, from: KeyedRestore[], work: string): Promise<KeyedStateBackend[]> {
  const out: KeyedStateBackend[] = []
  for (let i = 0; i < parallelism; i++) {
    const range = keyGroupRangeForSubtask(MAXP, parallelism, i)
    const b = create(kind, range, join(work, `restore-${kind}-${parallelism}-${i}`))
    const mine = from.filter((k) => !(k.handle.keyGroupRange[1] < range.start || k.handle.keyGroupRange[0] > range.end))
    await b.restore(mine, () => fs)
    out.push(b)
  }
  return out
}

const owner = (bs: KeyedStateBackend[], key: string | number): KeyedStateBackend => {
  const kg = keyGroupForKey(key, MAXP)
  return bs.find((b) => kg >= b.keyGroupRange.start && kg <= b.keyGroupRange.end)!
}

describe('keyed backends: deleted state stays deleted on restore', () => {
  const sources: [BackendName, boolean][] = [['hashmap', false], ['lsm', true], ['lsm', false]]
  for (const [source, incremental] of sources) {
    for (const target of BACKENDS) {
      for (const parallelism of [1, 2, 3]) {
        it(`${source}${source === 'lsm' ? (incremental ? ' incremental' : ' full') : ''} → ${target} at p=${parallelism}`, async () => {
          const root = tmp()
          const b = create(source, ALL, join(root, 'work'))
          const v = b.getState(new ValueStateDescriptor<string>('v'))
          const m = b.getMapState(new MapStateDescriptor<string, number>('m'))
          const l = b.getListState(new ListStateDescriptor<number>('l'))
          const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`)
          for (const k of keys) {
            b.currentKey = k
            v.update(`value-${k}`)
            m.put('a', 1)
            l.add(1)
          }
          await persist(b, barrier(1, join(root, 'job', 'chk-1'), { incremental }))
          // Delete the state of every even key (each state kind its own way), keep the odd ones.
          for (const [i, k] of keys.entries()) {
            if (i % 2 !== 0) continue
            b.currentKey = k
            v.clear()
            m.remove('a')
            l.update([])
          }
          const chk2 = await persist(b, barrier(2, join(root, 'job', 'chk-2'), { incremental }))
          b.dispose()
          const restored = await restoreInto(target, parallelism, chk2, root)
          for (const [i, k] of keys.entries()) {
            const r = owner(restored, k)
            r.currentKey = k
            const deleted = i % 2 === 0
            assert.equal(r.getState(new ValueStateDescriptor<string>('v')).value(), deleted ? null : `value-${k}`, `value of ${k}`)
            assert.equal(r.getMapState(new MapStateDescriptor<string, number>('m')).contains('a'), !deleted, `map of ${k}`)
            assert.deepEqual(r.getListState(new ListStateDescriptor<number>('l')).get(), deleted ? [] : [1], `list of ${k}`)
          }
          for (const r of restored) r.dispose()
        })
      }
    }
  }

  it('a deleted key stays deleted through a rescale from p=2 to p=1 and p=3 (LSM, incremental)', async () => {
    const root = tmp()
    const halves = [0, 1].map((i) => new LsmKeyedStateBackend(keyGroupRangeForSubtask(MAXP, 2, i), MAXP, join(root, `w${i}`)))
    const keys = Array.from({ length: 60 }, (_, i) => i)
    for (const k of keys) {
      const b = owner(halves, k)
      b.currentKey = k
      b.getState(new ValueStateDescriptor<number>('v')).update(k)
    }
    for (const [i, b] of halves.entries()) await persist(b, barrier(1, join(root, 'job', `chk-1-${i}`)))
    for (const k of keys) {
      if (k % 3 !== 0) continue
      const b = owner(halves, k)
      b.currentKey = k
      b.getState(new ValueStateDescriptor<number>('v')).clear()
    }
    const chk2: KeyedRestore[] = []
    for (const [i, b] of halves.entries()) chk2.push(...(await persist(b, barrier(2, join(root, 'job', `chk-2-${i}`)))))
    for (const b of halves) b.dispose()
    for (const [target, p] of [['lsm', 1], ['lsm', 3], ['hashmap', 1], ['hashmap', 3], ['lsm', 2]] as const) {
      const restored = await restoreInto(target, p, chk2, root)
      for (const k of keys) {
        const r = owner(restored, k)
        r.currentKey = k
        assert.equal(r.getState(new ValueStateDescriptor<number>('v')).value(), k % 3 === 0 ? null : k, `${target} p=${p} key ${k}`)
      }
      for (const r of restored) r.dispose()
    }
  })
})

describe('keyed backends: restore checks every state file against its checksum', () => {
  /** Snapshot of a backend with a little state and a timer; the handle carries the checkpoint's file list. */
  async function snapshotWithFiles(kind: BackendName, root: string, opts: Partial<CheckpointBarrier>): Promise<{ restore: KeyedRestore[]; files: string[] }> {
    const b = create(kind, ALL, join(root, 'work'))
    const v = b.getState(new ValueStateDescriptor<number>('v'))
    for (let k = 0; k < 50; k++) {
      b.currentKey = k
      v.update(k)
    }
    const br = barrier(1, join(root, 'job', 'chk-1'), opts)
    const r = await b.snapshot([[0, 1000, 7]], br).persist({ location: br.location, storage: fs, fileName: (k) => `${k}-1` })
    b.dispose()
    const files = new Map(r.files.map((f) => [join(br.location, f.path), f]))
    assert.ok(r.files.every((f) => /^crc32:[0-9a-f]{8}$/.test(f.checksum ?? '')), 'every file written has a checksum')
    return { restore: handles(br.location, r.handle).map((h) => ({ ...h, files })), files: [...files.keys()] }
  }

  const cases: [string, BackendName, Partial<CheckpointBarrier>][] = [
    ['hashmap sections', 'hashmap', {}],
    ['LSM incremental tables and timers', 'lsm', { incremental: true }],
    ['LSM full tables and timers', 'lsm', { incremental: false }],
    ['LSM canonical savepoint', 'lsm', { type: 'savepoint', format: 'canonical' }],
  ]
  for (const [name, kind, opts] of cases) {
    for (const target of BACKENDS) {
      for (const parallelism of [1, 2]) {
        it(`${name} → ${target} at p=${parallelism}: a state file overwritten with other bytes of the same size fails the restore, naming it`, async () => {
          const root = tmp()
          const { restore, files } = await snapshotWithFiles(kind, root, opts)
          // Intact: restores.
          for (const r of await restoreInto(target, parallelism, restore, join(root, 'ok'))) r.dispose()
          for (const file of files) {
            const original = readFileSync(file)
            const evil = Buffer.from(original)
            evil[evil.length >> 1] = evil[evil.length >> 1]! ^ 0x5a
            writeFileSync(file, evil)
            await assert.rejects(restoreInto(target, parallelism, restore, join(root, 'bad')), (e: unknown) => {
              assert.ok(e instanceof StateError, String(e))
              assert.match(e.message, new RegExp(`State file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt: content does not match its checksum`))
              return true
            })
            writeFileSync(file, original)
          }
        })
      }
    }
  }

  it('a file the handle names but _metadata does not list fails the restore', async () => {
    const root = tmp()
    const { restore } = await snapshotWithFiles('hashmap', root, {})
    const unlisted = restore.map((k) => ({ ...k, files: new Map() }))
    await assert.rejects(restoreInto('hashmap', 1, unlisted, root), /is not listed in the checkpoint's _metadata/)
  })
})
