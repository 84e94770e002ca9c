/**
 * fromElements / fromCollection: a non-parallel source over values held by the job.
 */
import type { InputStatus, ReaderOutput, Source, SourceReader } from './source.js'

export interface CollectionSplit {
  next: number
}

export class CollectionSource<T> implements Source<T, CollectionSplit> {
  readonly boundedness = 'BOUNDED' as const
  readonly maxParallelism = 1

  constructor(private readonly elements: readonly T[]) {}

  createSplits(): CollectionSplit[] {
    return [{ next: 0 }]
  }

  createReader(): SourceReader<T, CollectionSplit> {
    const elements = this.elements
    let splits: CollectionSplit[] = []
    return {
      addSplits: (s) => { splits = s.map((x) => ({ ...x })) },
      pollNext(output: ReaderOutput<T>, max: number): InputStatus {
        const s = splits[0]
        if (s === undefined) return 'END_OF_INPUT'
        const end = Math.min(elements.length, s.next + max)
        for (let i = s.next; i < end; i++) output.collect(elements[i] as T)
        s.next = end
        return end >= elements.length ? 'END_OF_INPUT' : 'MORE_AVAILABLE'
      },
      isAvailable: () => Promise.resolve(),
      snapshotState: () => splits.map((x) => ({ ...x })),
    }
  }
}
