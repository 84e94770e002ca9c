/**
 * Deterministic generated records, as Flink's DataGeneratorSource and NumberSequenceSource:
 * record i is `generator(i)`. Splits stride the index space (split j of p yields j, j+p, …), so
 * any parallelism and any rescale replays exactly the same records from the checkpointed
 * positions. An optional rate limit (records per second across all subtasks) makes it a steady
 * unbounded stream.
 */
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from './source.js'
import type { Clock } from '../clock.js'

export interface IndexSplit {
  /** Next index this split emits. */
  next: number
  stride: number
  /** Exclusive end index (Infinity for unbounded). */
  end: number
}

export class RateLimiterStrategy {
  private constructor(readonly recordsPerSecond: number) {}

  static perSecond(recordsPerSecond: number): RateLimiterStrategy {
    if (!(recordsPerSecond > 0)) throw new Error('A rate limit must be a positive number of records per second')
    return new RateLimiterStrategy(recordsPerSecond)
  }

  static noOp(): RateLimiterStrategy {
    return new RateLimiterStrategy(Number.POSITIVE_INFINITY)
  }
}

export class DataGeneratorSource<T> implements Source<T, IndexSplit> {
  readonly boundedness: 'BOUNDED' | 'CONTINUOUS_UNBOUNDED'

  constructor(
    private readonly generator: (index: number) => T,
    private readonly count: number = Number.POSITIVE_INFINITY,
    private readonly rateLimiter: RateLimiterStrategy = RateLimiterStrategy.noOp(),
  ) {
    if (!(count >= 0)) throw new Error('The record count of a generator must be >= 0')
    this.boundedness = Number.isFinite(count) ? 'BOUNDED' : 'CONTINUOUS_UNBOUNDED'
  }

  createSplits(parallelism: number): IndexSplit[] {
    const splits: IndexSplit[] = []
    for (let j = 0; j < parallelism; j++) splits.push({ next: j, stride: parallelism, end: this.count })
    return splits
  }

  createReader(ctx: SourceReaderContext): SourceReader<T, IndexSplit> {
    return new GeneratorReader(this.generator, this.rateLimiter.recordsPerSecond / ctx.parallelism, ctx.clock)
  }
}

class GeneratorReader<T> implements SourceReader<T, IndexSplit> {
  private splits: IndexSplit[] = []
  private current = 0
  private startedAt: number | undefined
  private emitted = 0

  constructor(
    private readonly generator: (index: number) => T,
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {}

  addSplits(splits: IndexSplit[]): void {
    this.splits.push(...splits.map((s) => ({ ...s })))
  }

  private allowance(max: number): number {
    if (!Number.isFinite(this.perSecond)) return max
    const now = this.clock.now()
    if (this.startedAt === undefined) this.startedAt = now
    const due = Math.floor(((now - this.startedAt) * this.perSecond) / 1000) + 1
    // Never burst more than one second's worth after a stall.
    if (due - this.emitted > this.perSecond) this.emitted = due - Math.ceil(this.perSecond)
    return Math.min(max, due - this.emitted)
  }

  pollNext(output: ReaderOutput<T>, max: number): InputStatus {
    let budget = this.allowance(max)
    const gen = this.generator
    while (budget > 0) {
      const s = this.splits[this.current]
      if (s === undefined) return 'END_OF_INPUT'
      let next = s.next
      const { stride, end } = s
      const limit = Math.min(end, next + budget * stride)
      while (next < limit) {
        output.collect(gen(next))
        next += stride
        budget--
        this.emitted++
      }
      s.next = next
      if (next >= end) this.current++
    }
    if (this.current >= this.splits.length) return 'END_OF_INPUT'
    return Number.isFinite(this.perSecond) ? 'NOTHING_AVAILABLE' : 'MORE_AVAILABLE'
  }

  isAvailable(): Promise<void> {
    if (!Number.isFinite(this.perSecond) || this.startedAt === undefined) return Promise.resolve()
    const dueAt = this.startedAt + ((this.emitted) * 1000) / this.perSecond
    const wait = Math.max(1, Math.ceil(dueAt - this.clock.now()))
    return new Promise((resolve) => this.clock.schedule(wait, resolve))
  }

  snapshotState(): IndexSplit[] {
    return this.splits.slice(this.current).map((s) => ({ ...s }))
  }
}

/** Flink's NumberSequenceSource: the numbers from..to, inclusive. */
export function numberSequence(from: number, to: number): DataGeneratorSource<number> {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) throw new Error(`Invalid sequence ${from}..${to}`)
  return new DataGeneratorSource((i) => from + i, to - from + 1)
}
