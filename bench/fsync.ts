/**
 * Benchmark: what durability costs on the checkpoint write path. A checkpoint of P = 8 keyed
 * subtasks (hashmap backend) through the real coordinator into FsStorage, timed from trigger to
 * completion (state files written, every acknowledged file checked, `_metadata` written), with
 * fsync of every file and directory against the same run with no fsync (the baseline), for a small
 * and a larger state; and the exactly-once file sink's pre-commit (roll + fsync of the pending file
 * and folder) against the same without fsync. Median of several checkpoints, with the spread.
 * Runs in TSFLINK_BENCH_DIR (default: the OS temp folder; it must be a real disk, not tmpfs, to
 * measure anything).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListStateDescriptor, ValueStateDescriptor } from '../src/runtime/core/state.js'
import { CheckpointCoordinator, type CoordinatorContext } from '../src/runtime/checkpoint/coordinator.js'
import { writeStateFile } from '../src/runtime/checkpoint/file-check.js'
import { DEFAULT_CHECKPOINT_SETTINGS } from '../src/runtime/checkpoint/options.js'
import { systemClock } from '../src/runtime/clock.js'
import { FileSinkOperator } from '../src/runtime/connectors/file-sink.js'
import type { JobId, OperatorId } from '../src/runtime/ids.js'
import { HeapKeyedStateBackend } from '../src/runtime/state/heap-keyed-backend.js'
import { keyGroupForKey, keyGroupRangeForSubtask } from '../src/runtime/core/key-groups.js'
import { OperatorStateBackend } from '../src/runtime/state/operator-state-backend.js'
import { FSYNC, FsStorage, NO_SYNC, type Syncer } from '../src/runtime/storage/fs-storage.js'
import { stateFileName } from '../src/runtime/storage/paths.js'

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })
const JOB = 'c'.repeat(32) as JobId
const P = 8
const RUNS = 11

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  return { median: s[s.length >> 1]!, min: s[0]!, max: s[s.length - 1]! }
}

const show = (s: { median: number; min: number; max: number }): string => `${fmt(s.median)} ms (${fmt(s.min)}–${fmt(s.max)})`

/** A coordinator and P subtasks holding `keys` keys in all; `checkpoint()` times one checkpoint. */
async function checkpointer(root: string, syncer: Syncer, keys: number): Promise<{ checkpoint(): Promise<number>; close(): Promise<void> }> {
  const storage = new FsStorage({ syncer })
  const backends = Array.from({ length: P }, (_, i) => new HeapKeyedStateBackend(keyGroupRangeForSubtask(128, P, i), 128))
  const v = new ValueStateDescriptor<string>('v')
  for (let k = 0; k < keys; k++) {
    const kg = keyGroupForKey(k, 128)
    const b = backends.find((x) => x.keyGroupRange.start <= kg && kg <= x.keyGroupRange.end)!
    b.currentKey = k
    b.getState(v).update(`value-${k}`)
  }
  let coord!: CheckpointCoordinator
  const tasks = backends.map((_, i) => `0#${i}`)
  const ctx: CoordinatorContext = {
    clock: systemClock, storageFor: () => storage, jobId: JOB, jobName: 'fsync bench', checkpointsDir: join(root, 'cp'), backend: 'hashmap', program: null,
    participants: () => tasks,
    startCheckpoint(barrier) {
      backends.forEach((b, i) => {
        const job = b.snapshot([], barrier)
        const op = new OperatorStateBackend()
        op.getListState(new ListStateDescriptor<number>('offsets')).add(i)
        const opState = op.snapshot()!
        void (async () => {
          const keyed = await job.persist({ location: barrier.location, storage, fileName: (kind) => stateFileName(kind, 'a'.repeat(32), i) })
          const opFile = stateFileName('op', 'a'.repeat(32), i)
          const opRef = await writeStateFile(storage, barrier.location, opFile, opState.data)
          coord.acknowledge(barrier.id, tasks[i]!, [{
            operatorId: 'a'.repeat(32) as OperatorId, uid: 'u', name: 'n', parallelism: P, maxParallelism: 128, subtask: i,
            ...(keyed.handle === undefined ? {} : { keyed: keyed.handle }), operator: { file: opFile, states: { offsets: 'split' } },
            files: [...keyed.files, opRef],
          }])
        })()
      })
      return true
    },
    notifyComplete: () => {},
    notifyAborted: () => {},
    failJob: (e) => { throw e },
  }
  coord = new CheckpointCoordinator(ctx, { ...DEFAULT_CHECKPOINT_SETTINGS, numRetained: 1 })
  return {
    async checkpoint() {
      const t = performance.now()
      await coord.trigger({ type: 'checkpoint', forced: true })
      const ms = performance.now() - t
      await coord.settled()
      return ms
    },
    close: () => coord.shutdown('FINISHED'),
  }
}

/** Checkpoint times without and with fsync, warmed up, alternating run by run. */
async function compareCheckpoints(root: string, keys: number): Promise<{ none: number[]; durable: number[] }> {
  const none = await checkpointer(mkdtempSync(join(root, 'n-')), NO_SYNC, keys)
  const durable = await checkpointer(mkdtempSync(join(root, 'f-')), FSYNC, keys)
  for (let i = 0; i < 2; i++) {
    await none.checkpoint()
    await durable.checkpoint()
  }
  const out = { none: [] as number[], durable: [] as number[] }
  for (let i = 0; i < RUNS; i++) {
    globalThis.gc?.()
    out.none.push(await none.checkpoint())
    globalThis.gc?.()
    out.durable.push(await durable.checkpoint())
  }
  await none.close()
  await durable.close()
  return out
}

/** Times 2 + RUNS pre-commits of the file sink, each of `lines` lines; the first two (warm-up) are dropped. */
async function sinkTimes(root: string, syncer: Syncer, lines: number): Promise<number[]> {
  const dir = mkdtempSync(join(root, 'sink-'))
  const op = new FileSinkOperator<string>(dir, (s) => s, syncer)
  op.setup({
    operatorId: 'b'.repeat(32) as OperatorId, uid: 's', name: 's', jobId: JOB, subtask: 0, parallelism: 1, maxParallelism: 128, attempt: 0,
    output: { collect: () => {}, emitWatermark: () => {} }, keyed: undefined, operatorState: new OperatorStateBackend(), timers: undefined, restored: false,
    task: { clock: systemClock, timestamps: { ts: undefined }, checkpointingEnabled: true, scheduleAt: () => {} },
  })
  await op.initializeState()
  const times: number[] = []
  for (let c = 1; c <= RUNS + 2; c++) {
    for (let i = 0; i < lines; i++) op.processElement(`line ${c} ${i} with some payload to make it a realistic row`)
    const t = performance.now()
    const ctx = { checkpointId: c, timestamp: c, isSavepoint: false }
    op.snapshotState(ctx)
    await op.snapshotStateAsync(ctx)
    await op.notifyCheckpointComplete(c, false)
    if (c > 2) times.push(performance.now() - t)
  }
  return times
}

export async function fsyncBench(): Promise<void> {
  const base = process.env.TSFLINK_BENCH_DIR ?? tmpdir()
  const root = mkdtempSync(join(base, 'tsflink-bench-fsync-'))
  try {
    console.log(`durability: fsync of state files, folders and _metadata vs no fsync (same run, ${root}; median of ${RUNS}, min–max)`)
    for (const keys of [2_000, 400_000]) {
      const { none, durable } = await compareCheckpoints(root, keys)
      const a = stats(none)
      const b = stats(durable)
      console.log(`  checkpoint of ${keys.toLocaleString()} keys, ${P} subtasks (${2 * P + 1} files + folders): no fsync (baseline) ${show(a)}; fsync ${show(b)} = ${fmt(b.median / a.median)}x`)
    }
    await sinkTimes(root, FSYNC, 1000) // warm-up
    const none = stats(await sinkTimes(root, NO_SYNC, 20_000))
    const durable = stats(await sinkTimes(root, FSYNC, 20_000))
    console.log(`  file sink pre-commit + commit of 20,000 lines: no fsync (baseline) ${show(none)}; fsync ${show(durable)} = ${fmt(durable.median / none.median)}x`)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
