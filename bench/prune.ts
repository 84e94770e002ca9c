/**
 * Benchmark: `checkpoints prune` of 10 000 checkpoint directories of one job (incremental, with
 * shared files), keep 1. Baseline in the same run: deleting an identical tree with fs.rm.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serializeMetadata } from '../src/runtime/checkpoint/metadata.js'
import { prune } from '../src/runtime/checkpoint/prune.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'

const JOB = '0123456789abcdef0123456789abcdef'
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

function build(root: string, count: number): void {
  const shared = join(root, JOB, 'shared')
  mkdirSync(shared, { recursive: true })
  for (let i = 1; i <= count; i++) {
    const dir = join(root, JOB, `chk-${i}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'private'), 'p')
    writeFileSync(join(shared, `sst-${i}`), 's')
    const files = [{ path: 'private', size: 1 }, { path: `../shared/sst-${i}`, size: 1 }]
    if (i > 1) files.push({ path: `../shared/sst-${i - 1}`, size: 1 })
    writeFileSync(join(dir, '_metadata'), serializeMetadata({
      jobId: JOB as never, jobName: 'bench', checkpointId: i as never, timestamp: i, completedAt: new Date(1_700_000_000_000 + i).toISOString(),
      kind: { type: 'checkpoint', incremental: true, format: 'native' }, backend: 'rocksdb', program: null, operators: [], files,
    }))
  }
}

export async function pruneBench(count = 10_000): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'tsflink-bench-prune-'))
  try {
    const a = join(base, 'a')
    const b = join(base, 'b')
    build(a, count)
    cpSync(a, b, { recursive: true })
    let t = performance.now()
    rmSync(join(b, JOB), { recursive: true })
    const baseline = performance.now() - t
    t = performance.now()
    const { deleted } = await prune(a, new FsStorage(), { keep: 1, olderThanMs: undefined, includeSavepoints: false, now: Date.now(), runningJobs: new Set() }, false)
    const ms = performance.now() - t
    console.log(`prune of ${count.toLocaleString()} checkpoint directories (keep 1)`)
    console.log(`  baseline: fs.rm of the same tree ${fmt(baseline)} ms`)
    console.log(`  tsflink checkpoints prune: ${fmt(ms)} ms, ${deleted.length.toLocaleString()} paths deleted (${fmt(ms / baseline)}x baseline; target <= 5000 ms)`)
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}
