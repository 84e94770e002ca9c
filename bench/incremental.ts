/**
 * Benchmark (P3): with 1 M keys in the LSM backend, a full checkpoint, then 1% of the keys
 * touched and an incremental checkpoint: bytes written by the incremental one as a share of the
 * full one (target <= 5%), and how long each took.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

export async function incrementalBench(keys = 1_000_000): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tsflink-bench-inc-'))
  const storage = new FsStorage()
  const b = new LsmKeyedStateBackend({ start: 0, end: 127 }, 128, join(root, 'work'))
  try {
    const v = b.getState(new ValueStateDescriptor<number>('count'))
    for (let k = 0; k < keys; k++) {
      b.currentKey = k
      v.update(k)
    }
    const checkpoint = async (id: number): Promise<{ newBytes: number; totalBytes: number; ms: number }> => {
      const barrier: CheckpointBarrier = { id: id as never, timestamp: id, type: 'checkpoint', format: 'native', location: join(root, 'job', `chk-${id}`), incremental: true }
      const t = performance.now()
      const before = await storage.list(join(root, 'job'))
      const r = await b.snapshot([], barrier).persist({ location: barrier.location, storage, fileName: (k) => `${k}-${id}` })
      const after = await storage.list(join(root, 'job'))
      const total = r.files.reduce((n, f) => n + f.size, 0)
      return { newBytes: after.reduce((n, f) => n + f.size, 0) - before.reduce((n, f) => n + f.size, 0), totalBytes: total, ms: performance.now() - t }
    }
    const full = await checkpoint(1)
    for (let i = 0; i < keys / 100; i++) {
      b.currentKey = i * 100
      v.update(-i)
    }
    const inc = await checkpoint(2)
    console.log(`incremental checkpoints of the LSM backend: ${keys.toLocaleString()} keys, then 1% touched`)
    console.log(`  first checkpoint (baseline): ${fmt(full.newBytes / 1e6)} MB written in ${fmt(full.ms)} ms`)
    console.log(`  incremental checkpoint: ${fmt(inc.newBytes / 1e6)} MB written in ${fmt(inc.ms)} ms = ${fmt((100 * inc.newBytes) / full.newBytes)}% of the full one's bytes (target <= 5%); it references ${fmt(inc.totalBytes / 1e6)} MB`)
  } finally {
    b.dispose()
    rmSync(root, { recursive: true, force: true })
  }
}
