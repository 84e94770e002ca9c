/**
 * The head of a source task: owns the SourceReader, keeps its splits in operator state, stamps
 * records with event timestamps and emits watermarks (Flink's SourceOperator). Watermarks are
 * generated per split when the reader emits through split outputs (ReaderOutput.createOutputForSplit),
 * and the subtask's watermark is the minimum over its live splits, as in Flink.
 * Tests: test/watermarks.test.ts, test/integration/event-time.test.ts.
 */
import { ListStateDescriptor } from '../core/state.js'
import type { WatermarkGenerator, WatermarkStrategy } from '../core/watermark.js'
import type { InputStatus, ReaderOutput, Source, SourceReader } from '../connectors/source.js'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'

const SPLITS = new ListStateDescriptor<unknown>('source-splits')
const MAIN = '\u0000main'

export class SourceOperator extends StreamOperator<never, unknown> {
  private reader!: SourceReader<unknown, unknown>
  /** Watermark generators by split id (MAIN: records emitted without a split output). */
  private readonly generators = new Map<string, { gen: WatermarkGenerator<unknown> | undefined; used: boolean }>()
  private lastWatermark = Number.NEGATIVE_INFINITY
  private readerOutput!: ReaderOutput<unknown>

  constructor(
    private readonly source: Source<unknown, unknown>,
    private readonly watermarks: WatermarkStrategy<unknown>,
  ) {
    super()
  }

  override async initializeState(): Promise<void> {
    const { subtask, parallelism, attempt, task, restored } = this.ctx
    const pick = this.source.readersPickSplits === true
    const splitState = pick ? this.ctx.operatorState.getUnionListState(SPLITS) : this.ctx.operatorState.getListState(SPLITS)
    let splits: unknown[]
    if (restored) {
      splits = splitState.get()
    } else {
      const all = await this.source.createSplits(parallelism)
      splits = pick ? all : all.filter((_s, j) => j % parallelism === subtask)
    }
    this.reader = this.source.createReader({ subtask, parallelism, attempt, clock: task.clock })
    this.reader.addSplits(splits)
    await this.reader.start?.()
    const assign = this.watermarks.timestampAssigner
    const ts = task.timestamps
    const out = this.output
    const strategy = this.watermarks
    if (assign === undefined && strategy.createGenerator === undefined) {
      const plain: ReaderOutput<unknown> = {
        collect: (r, t) => {
          if (t !== undefined || ts.ts !== undefined) ts.ts = t
          out.collect(r)
        },
        createOutputForSplit: () => plain,
        releaseOutputForSplit: () => {},
      }
      this.readerOutput = plain
      return
    }
    const outputFor = (gen: WatermarkGenerator<unknown> | undefined): ReaderOutput<unknown> => ({
      collect: (r, t) => {
        const stamp = assign === undefined ? t : assign(r, t)
        ts.ts = stamp
        if (gen !== undefined && stamp !== undefined) gen.onEvent(r, stamp)
        out.collect(r)
      },
    })
    const splitOutputs = new Map<string, ReaderOutput<unknown>>()
    const main = { gen: strategy.createGenerator?.(), used: false }
    this.generators.set(MAIN, main)
    const mainOutput = outputFor(main.gen)
    this.readerOutput = {
      collect: (r, t) => {
        main.used = true
        mainOutput.collect(r, t)
      },
      createOutputForSplit: (id) => {
        let o = splitOutputs.get(id)
        if (o === undefined) {
          const gen = strategy.createGenerator?.()
          this.generators.set(id, { gen, used: true })
          splitOutputs.set(id, (o = outputFor(gen)))
        }
        return o
      },
      releaseOutputForSplit: (id) => {
        this.generators.delete(id)
        splitOutputs.delete(id)
      },
    }
  }

  /** The watermark of this reader: the minimum over its splits' (and the shared output's, once used). */
  private currentWatermark(): number {
    let min = Number.POSITIVE_INFINITY
    let any = false
    for (const { gen, used } of this.generators.values()) {
      if (!used || gen === undefined) continue
      any = true
      const w = gen.currentWatermark()
      if (w < min) min = w
    }
    return any ? min : Number.NEGATIVE_INFINITY
  }

  processElement(): void {
    throw new Error('A source has no input')
  }

  emitNext(max: number): InputStatus {
    const status = this.reader.pollNext(this.readerOutput, max)
    if (this.generators.size > 0) {
      const wm = this.currentWatermark()
      if (wm > this.lastWatermark && wm !== Number.POSITIVE_INFINITY) {
        this.lastWatermark = wm
        this.output.emitWatermark(wm)
      }
    }
    return status
  }

  isAvailable(): Promise<void> {
    return this.reader.isAvailable()
  }

  /** End of bounded input: the final watermark fires every event-time timer downstream. */
  emitFinalWatermark(): void {
    this.lastWatermark = Number.POSITIVE_INFINITY
    this.output.emitWatermark(Number.POSITIVE_INFINITY)
  }

  override snapshotState(ctx: SnapshotContext): void {
    const state = this.source.readersPickSplits === true ? this.ctx.operatorState.getUnionListState(SPLITS) : this.ctx.operatorState.getListState(SPLITS)
    state.update(this.reader.snapshotState(ctx.checkpointId))
  }

  override async notifyCheckpointComplete(id: number): Promise<void> {
    await this.reader.notifyCheckpointComplete?.(id)
  }

  override async close(): Promise<void> {
    await this.reader?.close?.()
  }
}
