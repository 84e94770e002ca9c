/**
 * Benchmark: `checkpoints prune` of 10 000 checkpoint directories of one job (incremental, with
 * shared files, a lease that has ended), keep 1, as the CLI runs it (lock, scan, plan, deletion
 * with the symbolic-link re-check of every path, progress callback). Baseline in the same run:
 * deleting an identical tree with fs.rm. Median of 3 runs, with the spread (min–max).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serializeLease } from '../src/runtime/checkpoint/lease.js'
import { serializeMetadata } from '../src/runtime/checkpoint/metadata.js'
import { prune } from '../src/runtime/checkpoint/prune.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'

const JOB = '0123456789abcdef0123456789abcdef'
const RUNS = 3
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

function build(root: string, count: number): void {
  const shared = join(root, JOB, 'shared')
  mkdirSync(shared, { recursive: true })
  writeFileSync(join(root, JOB, '_lease'), serializeLease({
    format: 'tsflink-lease', version: 1, kind: 'job', jobId: JOB, owner: { host: 'bench', pid: 1, startedAt: 0 }, renewedAt: Date.now(), ttlMs: 60_000,
    latestCompleted: count, inProgress: [], savepointsInProgress: [], ended: true,
  }))
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

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! }
}

export async function pruneBench(count = 10_000): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'tsflink-bench-prune-'))
  const baseline: number[] = []
  const pruned: number[] = []
  let deletedPaths = 0
  try {
    for (let run = 0; run < RUNS; run++) {
      const a = join(base, `a${run}`)
      const b = join(base, `b${run}`)
      build(a, count)
      build(b, count)
      let t = performance.now()
      rmSync(join(b, JOB), { recursive: true })
      baseline.push(performance.now() - t)
      let updates = 0
      t = performance.now()
      const { deleted } = await prune(a, new FsStorage(), { keep: 1, olderThanMs: undefined, includeSavepoints: false, now: Date.now(), runningJobs: new Set() }, {
        onProgress: () => void updates++,
      })
      pruned.push(performance.now() - t)
      deletedPaths = deleted.length
      rmSync(a, { recursive: true, force: true })
      rmSync(b, { recursive: true, force: true })
    }
    const bs = stats(baseline)
    const ps = stats(pruned)
    console.log(`prune of ${count.toLocaleString()} checkpoint directories (keep 1), median of ${RUNS} runs (min–max)`)
    console.log(`  baseline: fs.rm of the same tree ${fmt(bs.median)} ms (${fmt(bs.min)}–${fmt(bs.max)})`)
    console.log(`  tsflink checkpoints prune: ${fmt(ps.median)} ms (${fmt(ps.min)}–${fmt(ps.max)}), ${deletedPaths.toLocaleString()} paths deleted`)
    console.log(`  ratio: ${fmt(ps.median / bs.median)}x baseline; target <= 5000 ms`)
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}
