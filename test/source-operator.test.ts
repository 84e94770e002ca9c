/**
 * The source operator's watermarks per split: a reader holding two splits that are far apart in
 * event time emits through one output per split, and the subtask's watermark follows the slower
 * split, so no record of it is late. And readers with several splits let every split progress.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  Configuration, DataGeneratorSource, KeyedProcessFunction, StreamExecutionEnvironment, WatermarkStrategy,
  type Collector, type KeyedProcessContext, type ReaderOutput, type Source, type SourceReader,
} from '../src/index.js'
import type { InputStatus } from '../src/runtime/connectors/source.js'

interface Split { id: string; next: number; end: number; base: number }

/** Split 'ahead' has timestamps 10 000.., split 'behind' 0..; the reader drains 'ahead' first. */
class TwoSplits implements Source<number, Split> {
  readonly boundedness = 'BOUNDED' as const
  constructor(private readonly perSplit: boolean) {}
  createSplits(): Split[] {
    return [{ id: 'ahead', next: 0, end: 500, base: 10_000 }, { id: 'behind', next: 0, end: 500, base: 0 }]
  }
  createReader(): SourceReader<number, Split> {
    let splits: Split[] = []
    const perSplit = this.perSplit
    return {
      addSplits: (s) => { splits = s.map((x) => ({ ...x })) },
      pollNext(output: ReaderOutput<number>, max: number): InputStatus {
        // Every split gets its output before any of them emits.
        if (perSplit) for (const x of splits) output.createOutputForSplit!(x.id)
        const s = splits.find((x) => x.next < x.end)
        if (s === undefined) return 'END_OF_INPUT'
        const out = perSplit ? output.createOutputForSplit!(s.id) : output
        for (let i = 0; i < max && s.next < s.end; i++, s.next++) out.collect(s.base + s.next, s.base + s.next)
        if (s.next >= s.end && perSplit) output.releaseOutputForSplit!(s.id)
        return 'MORE_AVAILABLE'
      },
      isAvailable: () => Promise.resolve(),
      snapshotState: () => splits.map((x) => ({ ...x })),
    }
  }
}

class Late extends KeyedProcessFunction<number, number, string> {
  processElement(v: number, ctx: KeyedProcessContext<number>, out: Collector<string>): void {
    if (ctx.timestamp()! <= ctx.timerService().currentWatermark()) out.collect(`late ${v}`)
  }
}

async function lateRecords(perSplit: boolean): Promise<string[]> {
  const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration())
  const late: string[] = []
  env.fromSource(new TwoSplits(perSplit), WatermarkStrategy.forBoundedOutOfOrderness<number>(0), 'two').setParallelism(1)
    .keyBy((v: number) => v % 3).process(new Late()).addSink((s: string) => void late.push(s))
  await env.execute('splits')
  return late
}

describe('per-split watermarks', () => {
  it('a split ahead in event time does not make the other split\'s records late', async () => {
    assert.deepEqual(await lateRecords(true), [])
  })

  it('(the same reader through one shared output does: the test can tell)', async () => {
    assert.ok((await lateRecords(false)).length > 0)
  })

  it('a generator reader with several unbounded splits lets each one progress', async () => {
    const env = StreamExecutionEnvironment.createLocalEnvironment(new Configuration())
    const seen = new Set<number>()
    let n = 0
    // Two splits in one reader: what a job restored at parallelism 1 from parallelism 2 has.
    const source = new DataGeneratorSource((i) => i, Number.POSITIVE_INFINITY)
    const splits = source.createSplits(2)
    const twoInOne: Source<number, unknown> = {
      boundedness: 'CONTINUOUS_UNBOUNDED',
      createSplits: () => [splits],
      createReader: (ctx) => {
        const r = source.createReader(ctx)
        return { ...r, addSplits: () => r.addSplits(splits), pollNext: r.pollNext.bind(r), isAvailable: r.isAvailable.bind(r), snapshotState: r.snapshotState.bind(r) }
      },
    }
    env.fromSource(twoInOne as Source<number, unknown>, WatermarkStrategy.noWatermarks(), 'gen').setParallelism(1)
      .addSink((v: number) => {
        if (++n <= 10_000) seen.add(v % 2)
      })
    const { master, result } = await env.executeAsync('fair')
    while (n < 10_000) await new Promise((r) => setTimeout(r, 10))
    master.cancel()
    await result
    assert.deepEqual([...seen].sort(), [0, 1], 'both splits emitted')
  })
})
