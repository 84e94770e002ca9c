/**
 * The head of a source task: owns the SourceReader, keeps its splits in operator state, stamps
 * records with event timestamps and emits watermarks (Flink's SourceOperator).
 */
import { ListStateDescriptor } from '../api/state.js'
import type { WatermarkGenerator, WatermarkStrategy } from '../api/watermark.js'
import type { InputStatus, ReaderOutput, Source, SourceReader } from '../connectors/source.js'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'

const SPLITS = new ListStateDescriptor<unknown>('source-splits')

export class SourceOperator extends StreamOperator<never, unknown> {
  private reader!: SourceReader<unknown, unknown>
  private generator: WatermarkGenerator<unknown> | undefined
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
    this.generator = this.watermarks.createGenerator?.()
    const assign = this.watermarks.timestampAssigner
    const ts = task.timestamps
    const out = this.output
    const gen = this.generator
    if (assign === undefined && gen === undefined) {
      this.readerOutput = {
        collect: (r, t) => {
          if (t !== undefined || ts.ts !== undefined) ts.ts = t
          out.collect(r)
        },
      }
    } else {
      this.readerOutput = {
        collect: (r, t) => {
          const stamp = assign === undefined ? t : assign(r, t)
          ts.ts = stamp
          if (gen !== undefined && stamp !== undefined) gen.onEvent(r, stamp)
          out.collect(r)
        },
      }
    }
  }

  processElement(): void {
    throw new Error('A source has no input')
  }

  emitNext(max: number): InputStatus {
    const status = this.reader.pollNext(this.readerOutput, max)
    if (this.generator !== undefined) {
      const wm = this.generator.currentWatermark()
      if (wm > this.lastWatermark) {
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
