/**
 * Benchmark of the embedded LSM backend (`state.backend.type: rocksdb`) against the targets of
 * "state larger than memory", each as a ratio against a baseline measured in the same run:
 *  1. keyed count at 1 M keys (3 records per key, p=1, checkpoint every 2 s, incremental):
 *     LSM throughput as a share of the hashmap backend's, and both peak RSS;
 *  2. 100 incremental checkpoints with 1% of 1 M keys touched between them (compaction running):
 *     each checkpoint's new bytes as a share of a full checkpoint's bytes;
 *  3. 10 M keys with a 256 MB managed-memory budget and a heap sized for it (budget + 128 MB):
 *     the job process's peak RSS, and the job completes (the job checks its result);
 *  4. hashmap backend, 4 M keys: checkpoint every 2 s against no checkpoints.
 * Job runs happen in child processes (bench/jobs/lsm-count.ts) so that each peak RSS is its own.
 * Runs: LSM_BENCH_RUNS (default 3); the 10 M-key run once unless LSM_BENCH_BIG_RUNS says more.
 * LSM_BENCH_ONLY=1,2,3,4 picks parts.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ValueStateDescriptor } from '../src/runtime/core/state.js'
import type { CheckpointBarrier } from '../src/runtime/checkpoint/options.js'
import { LsmKeyedStateBackend } from '../src/runtime/state/lsm/lsm-keyed-backend.js'
import { FsStorage } from '../src/runtime/storage/fs-storage.js'

const ROOT = resolve(import.meta.dirname, '..')
const JOB = join(ROOT, 'bench', 'jobs', 'lsm-count.ts')
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })
const mb = (n: number): string => `${fmt(n / 2 ** 20)} MB`

interface JobRun { ms: number; rss: number; sampledRss: number; checkpoints: number }

function job(keys: number, perKey: number, backend: 'hashmap' | 'rocksdb', intervalMs: number, managed?: string, nodeFlags: string[] = []): JobRun {
  const args = [...nodeFlags, '--import', 'tsx', JOB, String(keys), String(perKey), backend, String(intervalMs), ...(managed === undefined ? [] : [managed])]
  const out = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 })
  return JSON.parse(out.trim().split('\n').pop()!) as JobRun
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const spread = (xs: number[], f: (n: number) => string): string => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`

function describeRuns(label: string, runs: JobRun[], records: number): void {
  const ms = runs.map((r) => r.ms)
  const rss = runs.map((r) => r.rss)
  console.log(`  ${label.padEnd(34)} median ${fmt(records / median(ms) / 1000)} M records/s (${spread(ms, (x) => `${fmt(x / 1000)}`)} s), peak RSS median ${mb(median(rss))} (${spread(rss, mb)}), checkpoints ${runs.map((r) => r.checkpoints).join('/')}`)
}

async function throughput(runs: number, keys = 1_000_000): Promise<void> {
  console.log(`keyed count, ${keys.toLocaleString()} keys × 3 records, p=1, checkpoint every 2 s (incremental), ${runs} runs each, interleaved; the machine runs other work too`)
  const heap: JobRun[] = []
  const lsm: JobRun[] = []
  for (let i = 0; i < runs; i++) {
    heap.push(job(keys, 3, 'hashmap', 2000))
    lsm.push(job(keys, 3, 'rocksdb', 2000))
  }
  describeRuns('hashmap (baseline)', heap, keys * 3)
  describeRuns('rocksdb (embedded LSM)', lsm, keys * 3)
  const ratios = lsm.map((r, i) => heap[i]!.ms / r.ms)
  console.log(`  LSM throughput ${fmt(median(heap.map((r) => r.ms)) / median(lsm.map((r) => r.ms)))}× hashmap (per pair ${spread(ratios, fmt)}; target >= 0.3×); peak RSS ${fmt(median(lsm.map((r) => r.rss)) / median(heap.map((r) => r.rss)))}× hashmap`)
}

async function incrementalSteady(checkpoints = 100, keys = 1_000_000): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tsflink-bench-lsm-inc-'))
  const storage = new FsStorage()
  const b = new LsmKeyedStateBackend({ start: 0, end: 127 }, 128, join(root, 'work'))
  try {
    const v = b.getState(new ValueStateDescriptor<number>('count'))
    let seed = 42
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const jobDir = join(root, 'job')
    let written = 0
    const checkpoint = async (id: number): Promise<{ newBytes: number; referenced: number; ms: number }> => {
      const barrier: CheckpointBarrier = { id: id as never, timestamp: id, type: 'checkpoint', format: 'native', location: join(jobDir, `chk-${id}`), incremental: true }
      const t = performance.now()
      const r = await b.snapshot([], barrier).persist({ location: barrier.location, storage, fileName: (k) => `${k}-${id}` })
      b.notifyCheckpointComplete(id)
      const all = (await storage.list(jobDir)).reduce((n, f) => n + f.size, 0)
      const newBytes = all - written
      written = all
      return { newBytes, referenced: r.files.reduce((n, f) => n + f.size, 0), ms: performance.now() - t }
    }
    const touch = async (n: number, random: boolean): Promise<void> => {
      for (let i = 0; i < n; i++) {
        b.currentKey = random ? rnd(keys) : i
        v.update(i)
        // Between batches, as a task does: background flushes and compaction steps run meanwhile.
        if ((i & 4095) === 4095) {
          b.maintain()
          await new Promise((r) => setImmediate(r))
        }
      }
      b.maintain()
    }
    await touch(keys, false)
    const full = await checkpoint(1)
    const incs: number[] = []
    let maxMs = 0
    let maxDepth = 0
    for (let id = 2; id <= checkpoints + 1; id++) {
      await touch(keys / 100, true)
      const inc = await checkpoint(id)
      incs.push(inc.newBytes)
      maxMs = Math.max(maxMs, inc.ms)
      maxDepth = Math.max(maxDepth, b.levels.depth)
    }
    await b.whenIdle()
    const pct = incs.map((x) => (100 * x) / full.newBytes)
    const over = pct.filter((p) => p > 5).length
    console.log(`incremental checkpoints of the LSM backend: ${keys.toLocaleString()} keys, then ${checkpoints} checkpoints with 1% of the keys (random) touched before each; compaction running`)
    console.log(`  full checkpoint (baseline): ${mb(full.newBytes)}`)
    console.log(`  incremental: median ${fmt(median(pct))}%, max ${fmt(Math.max(...pct))}%, min ${fmt(Math.min(...pct))}% of the full one's bytes; ${over} of ${checkpoints} over 5% (target: none); slowest ${fmt(maxMs)} ms`)
    console.log(`  local tables at the end: ${b.tableCount}, compactions ${b.compactions}; level-0 depth (tables a read may probe) at most ${maxDepth}, at the end ${b.levels.depth}; level 0 ${mb(b.levels.l0Bytes)}, level 1 ${mb(b.levels.l1Bytes)}`)
  } finally {
    b.dispose()
    rmSync(root, { recursive: true, force: true })
  }
}

/**
 * The job's process: its peak RSS (getrusage maxrss, all threads: the task's, the compaction
 * thread, V8's helpers) and, as a cross-check, the largest process.memoryUsage.rss() sampled every
 * 100 ms. The heap is sized as the docs say to size it (budget + 128 MB, `--max-old-space-size`
 * here; `taskmanager.memory.task.heap.size` for task slots in worker threads); LSM_BENCH_BIG_HEAP=0
 * runs without a heap limit too, to show what V8's default heap growth adds.
 */
function big(runs: number, keys = 10_000_000): void {
  const budgetMb = 256
  const heapMb = budgetMb + 128
  console.log(`larger than the budget: ${keys.toLocaleString()} keys × 3 records, rocksdb, taskmanager.memory.managed.size ${budgetMb} MB, heap limit ${heapMb} MB, checkpoint every 2 s; ${runs} run(s); peak RSS of the job's process (all threads)`)
  const rs: JobRun[] = []
  for (let i = 0; i < runs; i++) rs.push(job(keys, 3, 'rocksdb', 2000, `${budgetMb}m`, [`--max-old-space-size=${heapMb}`]))
  describeRuns(`rocksdb, ${budgetMb} MB budget, ${heapMb} MB heap`, rs, keys * 3)
  console.log(`  peak RSS ${mb(median(rs.map((r) => r.rss)))} (sampled ${mb(median(rs.map((r) => r.sampledRss)))}), ${fmt(median(rs.map((r) => r.rss)) / (budgetMb * 2 ** 20))}× the budget (target <= 600 MB, and the job completes: it did, with the expected sum)`)
  if (process.env.LSM_BENCH_BIG_HEAP === '0') {
    const free = job(keys, 3, 'rocksdb', 2000, `${budgetMb}m`)
    describeRuns(`rocksdb, ${budgetMb} MB budget, no heap limit`, [free], keys * 3)
  }
}

function heapCheckpointing(runs: number, keys = 4_000_000): void {
  console.log(`hashmap backend, ${keys.toLocaleString()} keys × 3 records: checkpoint every 2 s against no checkpoints (baseline), ${runs} runs each`)
  const off: JobRun[] = []
  const on: JobRun[] = []
  for (let i = 0; i < runs; i++) {
    off.push(job(keys, 3, 'hashmap', 0))
    on.push(job(keys, 3, 'hashmap', 2000))
  }
  describeRuns('no checkpoints (baseline)', off, keys * 3)
  describeRuns('checkpoint every 2 s', on, keys * 3)
  console.log(`  throughput ${fmt(median(off.map((r) => r.ms)) / median(on.map((r) => r.ms)))}× (target >= 0.8×), peak RSS ${fmt(median(on.map((r) => r.rss)) / median(off.map((r) => r.rss)))}× (target <= 1.5×)`)
}

export async function lsmBench(): Promise<void> {
  const runs = Number(process.env.LSM_BENCH_RUNS ?? 3)
  const only = new Set((process.env.LSM_BENCH_ONLY ?? '1,2,3,4').split(','))
  if (only.has('1')) await throughput(runs)
  if (only.has('2')) await incrementalSteady()
  if (only.has('3')) big(Number(process.env.LSM_BENCH_BIG_RUNS ?? 1))
  if (only.has('4')) heapCheckpointing(runs)
}
