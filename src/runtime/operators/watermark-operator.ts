/**
 * assignTimestampsAndWatermarks in the middle of a pipeline (Flink's
 * TimestampsAndWatermarksOperator): stamps records, and emits watermarks from its generator,
 * swallowing upstream watermarks except the final one.
 */
import type { WatermarkGenerator, WatermarkStrategy } from '../core/watermark.js'
import { StreamOperator } from './operator.js'

export class TimestampsAndWatermarksOperator<T> extends StreamOperator<T, T> {
  private generator: WatermarkGenerator<T> | undefined
  private last = Number.NEGATIVE_INFINITY

  constructor(private readonly strategy: WatermarkStrategy<T>) {
    super()
  }

  override async open(): Promise<void> {
    this.generator = this.strategy.createGenerator?.()
  }

  processElement(value: T): void {
    const ts = this.ctx.task.timestamps
    const assign = this.strategy.timestampAssigner
    if (assign !== undefined) ts.ts = assign(value, ts.ts)
    if (this.generator !== undefined && ts.ts !== undefined) this.generator.onEvent(value, ts.ts)
    this.output.collect(value)
    if (this.generator !== undefined) {
      const wm = this.generator.currentWatermark()
      if (wm > this.last) {
        this.last = wm
        this.output.emitWatermark(wm)
      }
    }
  }

  override processWatermark(timestamp: number): void {
    if (timestamp === Number.POSITIVE_INFINITY) this.output.emitWatermark(timestamp)
  }
}
