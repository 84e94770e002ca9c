/**
 * Benchmark: the system clock's timers (which wait in chunks so that long delays hold) against
 * the clock as it was before (one unref'd setTimeout per timer), the baseline, and bare setTimeout,
 * measured in the same run: 100 000 timers
 * scheduled and fired, median of 7 runs with the spread. Delays within Node's limit take one timer;
 * the chunked path (only for delays beyond ~24.8 days) is measured with a tiny chunk size. Rate limiters and processing-time timers schedule through it.
 */
import { SystemClock } from '../src/runtime/clock.js'

const N = 100_000

async function fire(schedule: (fn: () => void) => void): Promise<number> {
  const t = performance.now()
  await new Promise<void>((resolve) => {
    let left = N
    for (let i = 0; i < N; i++) schedule(() => { if (--left === 0) resolve() })
  })
  return performance.now() - t
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export async function clockBench(runs = 7): Promise<void> {
  const clock = new SystemClock()
  const keep = setInterval(() => {}, 1000) // the clock's timers are unref'd
  const raw: number[] = []
  const base: number[] = []
  const ours: number[] = []
  const long: number[] = []
  // The system clock before it learnt to chunk: the baseline.
  const previous = (d: number, fn: () => void): { cancel(): void } => {
    const t = setTimeout(fn, Math.max(0, d))
    t.unref?.()
    return { cancel: () => clearTimeout(t) }
  }
  const chunked = new SystemClock(1) // every timer re-armed once: the cost of a long delay's chunking
  const cases: [number[], (fn: () => void) => void][] = [
    [raw, (fn) => void setTimeout(fn, 0).unref()],
    [base, (fn) => void previous(0, fn)],
    [ours, (fn) => void clock.schedule(0, fn)],
    [long, (fn) => void chunked.schedule(2, fn)],
  ]
  for (let r = 0; r < runs; r++) {
    // Rotate the order, so that no case always runs after the same one (and its garbage).
    for (let i = 0; i < cases.length; i++) {
      const [into, schedule] = cases[(r + i) % cases.length]!
      ;(globalThis as { gc?: () => void }).gc?.()
      into.push(await fire(schedule))
    }
  }
  clearInterval(keep)
  const fmt = (xs: number[]): string => `median ${median(xs).toFixed(1)} ms (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`
  console.log(`clock: ${N.toLocaleString('en-US')} timers scheduled and fired, ${runs} runs`)
  console.log(`  bare setTimeout                 ${fmt(raw)}`)
  console.log(`  previous clock (baseline)       ${fmt(base)}`)
  console.log(`  SystemClock.schedule            ${fmt(ours)}   ratio ${(median(ours) / median(base)).toFixed(2)}x`)
  console.log(`  chunked (each timer re-armed)   ${fmt(long)}   ratio ${(median(long) / median(base)).toFixed(2)}x`)
}
