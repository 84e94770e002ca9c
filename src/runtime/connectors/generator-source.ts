/**
 * Deterministic generated records, as Flink's DataGeneratorSource and NumberSequenceSource:
 * record i is `generator(i)`. Splits stride the index space (split j of p yields j, j+p, …), so
 * any parallelism and any rescale replays exactly the same records from the checkpointed
 * positions. An optional rate limit (records per second across all subtasks) makes it a steady
 * unbounded stream.
 */
import type { InputStatus, ReaderOutput, Source, SourceReader, SourceReaderContext } from './source.js'
import { RateLimiterStrategy, type RateLimiter } from './rate-limiter.js'

export interface IndexSplit {
  /** Next index this split emits. */
  next: number
  stride: number
  /** Exclusive end index (Infinity for unbounded). */
  end: number
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
    return new GeneratorReader(this.generator, this.rateLimiter.forSubtask(ctx.parallelism, ctx.clock))
  }
}

/** A split's identity, stable as it advances: its stride and residue. */
const splitId = (s: IndexSplit): string => `${s.stride}:${s.next % s.stride}`

class GeneratorReader<T> implements SourceReader<T, IndexSplit> {
  private splits: IndexSplit[] = []
  /** The split polled first next time: splits take turns, so none starves another. */
  private turn = 0

  constructor(
    private readonly generator: (index: number) => T,
    private readonly limiter: RateLimiter,
  ) {}

  addSplits(splits: IndexSplit[]): void {
    this.splits.push(...splits.map((s) => ({ ...s })))
  }

  pollNext(output: ReaderOutput<T>, max: number): InputStatus {
    let budget = this.limiter.take(max)
    const gen = this.generator
    const n = this.splits.length
    const share = Math.max(1, Math.ceil(budget / Math.max(1, n)))
    if (n > 1 && output.createOutputForSplit !== undefined) for (const s of this.splits) if (s.next < s.end) this.outputs(output, s)
    for (let k = 0; k < n && budget > 0; k++) {
      const s = this.splits[(this.turn + k) % n]!
      if (s.next >= s.end) continue
      const out = n > 1 && output.createOutputForSplit !== undefined ? this.outputs(output, s) : output
      let next = s.next
      const { stride, end } = s
      const limit = Math.min(end, next + Math.min(budget, share) * stride)
      while (next < limit) {
        out.collect(gen(next))
        next += stride
        budget--
      }
      s.next = next
      if (next >= end) output.releaseOutputForSplit?.(splitId(s))
    }
    this.turn = n === 0 ? 0 : (this.turn + 1) % n
    this.limiter.giveBack(budget)
    if (this.splits.every((s) => s.next >= s.end)) return 'END_OF_INPUT'
    return this.limiter.limited ? 'NOTHING_AVAILABLE' : 'MORE_AVAILABLE'
  }

  private readonly splitOutputs = new Map<string, ReaderOutput<T>>()

  private outputs(output: ReaderOutput<T>, s: IndexSplit): ReaderOutput<T> {
    const id = splitId(s)
    let o = this.splitOutputs.get(id)
    if (o === undefined) this.splitOutputs.set(id, (o = output.createOutputForSplit!(id)))
    return o
  }

  isAvailable(): Promise<void> {
    return this.limiter.available()
  }

  snapshotState(): IndexSplit[] {
    return this.splits.filter((s) => s.next < s.end).map((s) => ({ ...s }))
  }
}

/** Flink's NumberSequenceSource: the numbers from..to, inclusive. */
export function numberSequence(from: number, to: number): DataGeneratorSource<number> {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to < from) throw new Error(`Invalid sequence ${from}..${to}`)
  return new DataGeneratorSource((i) => from + i, to - from + 1)
}
