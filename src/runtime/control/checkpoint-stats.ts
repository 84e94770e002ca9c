/**
 * The `summary` of the REST API's checkpoint statistics (Flink's CheckpointingStatistics.Summary):
 * for every completed checkpoint and savepoint of the job, their state size, checkpointed size
 * (what each wrote itself), end-to-end duration, processed and persisted in-flight data; each as
 * min, max and avg over all of them (avg: the integer mean, as Flink's long division) and the
 * p50 … p999 quantiles over the latest 10,000 (Flink's histogram window), estimated as Apache
 * Commons Math's Percentile does by default (which Flink uses). `alignment_buffered` is all
 * zeros, as Flink reports it since 1.11. With no completed checkpoint every figure is 0: Flink
 * gives 0 for min, max and avg but NaN quantiles, which JSON has no number for (Jackson writes
 * the string "NaN", which the spec's `number` does not allow).
 * processed_data is 0: the runtime does not count the bytes processed during alignment.
 * Pure; never imports the CLI. Tests: test/checkpoint-stats.test.ts, test/integration/rest.test.ts.
 */

/** Flink's StatsSummaryDto. */
export interface StatsSummaryDto {
  min: number
  max: number
  avg: number
  p50: number
  p90: number
  p95: number
  p99: number
  p999: number
}

/** Flink's CompletedCheckpointStatsSummary histogram window. */
export const HISTOGRAM_WINDOW = 10_000

/**
 * The `p`-th percentile (0 < p <= 100) of ascending `sorted`, as Commons Math's Percentile with its
 * default (legacy) estimation: position p(n+1)/100, interpolated between its neighbours, clamped
 * to the first and last value.
 */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  if (n === 1) return sorted[0]!
  const pos = (p * (n + 1)) / 100
  if (pos < 1) return sorted[0]!
  if (pos >= n) return sorted[n - 1]!
  const lower = sorted[Math.floor(pos) - 1]!
  const upper = sorted[Math.floor(pos)]!
  return lower + (pos - Math.floor(pos)) * (upper - lower)
}

/** min, max and avg over all `values`, quantiles over the latest `window` of them. */
export function statsSummary(values: readonly number[], window = HISTOGRAM_WINDOW): StatsSummaryDto {
  if (values.length === 0) return { min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 }
  let min = Infinity
  let max = -Infinity
  let sum = 0
  for (const v of values) {
    if (v < min) min = v
    if (v > max) max = v
    sum += v
  }
  const recent = values.slice(Math.max(0, values.length - window)).sort((a, b) => a - b)
  return {
    min,
    max,
    avg: Math.trunc(sum / values.length),
    p50: percentile(recent, 50),
    p90: percentile(recent, 90),
    p95: percentile(recent, 95),
    p99: percentile(recent, 99),
    p999: percentile(recent, 99.9),
  }
}

/** What the summary needs of a completed checkpoint or savepoint. */
export interface CompletedStats {
  triggeredAt: number
  completedAt: number
  stateSize: number
  checkpointedSize: number
  persistedData: number
}

/** Flink's CheckpointStatisticsSummary over `completed` (oldest first). */
export function checkpointSummary(completed: readonly CompletedStats[]): Record<string, StatsSummaryDto> {
  const zeros = { min: 0, max: 0, avg: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0 }
  return {
    checkpointed_size: statsSummary(completed.map((c) => c.checkpointedSize)),
    state_size: statsSummary(completed.map((c) => c.stateSize)),
    end_to_end_duration: statsSummary(completed.map((c) => c.completedAt - c.triggeredAt)),
    alignment_buffered: zeros,
    processed_data: statsSummary(completed.map(() => 0)),
    persisted_data: statsSummary(completed.map((c) => c.persistedData)),
  }
}
