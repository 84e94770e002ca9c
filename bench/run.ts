/**
 * `npm run bench`: every hot-path benchmark, each printing ratios against a baseline measured in
 * the same run. Pass a name to run one: `npm run bench -- keyed-count`.
 */
import { keyedCount, lsmVsHashmap } from './keyed-count.js'
import { incrementalBench } from './incremental.js'
import { savepointBench } from './savepoint.js'
import { pruneBench } from './prune.js'
import { kafkaBench } from './kafka.js'
import { checkpointLatencyBench, checkpointPausesBench, keyedCountBench, savepointLoadBench, slotsBench } from './runtime.js'
import { clockBench } from './clock.js'
import { fsyncBench } from './fsync.js'
import { cliStartBench } from './cli-start.js'

const benches: Record<string, () => Promise<void>> = {
  slots: () => slotsBench(),
  'keyed-count': () => keyedCountBench(),
  'keyed-count-local': () => keyedCount(),
  'checkpoint-latency': () => checkpointLatencyBench(),
  'savepoint-load': () => savepointLoadBench(),
  'checkpoint-pauses': () => checkpointPausesBench(),
  'state-backends': () => lsmVsHashmap(),
  incremental: () => incrementalBench(),
  savepoint: () => savepointBench(),
  prune: () => pruneBench(),
  kafka: () => kafkaBench(),
  clock: () => clockBench(),
  fsync: () => fsyncBench(),
  'cli-start': () => cliStartBench(),
}

const only = process.argv[2]
for (const [name, run] of Object.entries(benches)) {
  if (only !== undefined && only !== name) continue
  await run()
  console.log()
}
