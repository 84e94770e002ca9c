/**
 * Event time: how records get timestamps and how watermarks are generated (Flink's
 * WatermarkStrategy). Pure.
 */

export type TimestampAssigner<T> = (element: T, recordTimestamp: number | undefined) => number

export interface WatermarkGenerator<T> {
  onEvent(element: T, timestamp: number): void
  /** The current watermark (-Infinity for none yet). */
  currentWatermark(): number
}

export class WatermarkStrategy<T> {
  private constructor(
    readonly createGenerator: (() => WatermarkGenerator<T>) | undefined,
    readonly timestampAssigner: TimestampAssigner<T> | undefined,
  ) {}

  /** No watermarks: event-time timers fire only at the end of bounded input. */
  static noWatermarks<T>(): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(undefined, undefined)
  }

  /** Timestamps never decrease: the watermark is the largest timestamp seen, minus 1 ms. */
  static forMonotonousTimestamps<T>(): WatermarkStrategy<T> {
    return WatermarkStrategy.forBoundedOutOfOrderness<T>(0)
  }

  /** Records may arrive up to `maxOutOfOrdernessMs` late. */
  static forBoundedOutOfOrderness<T>(maxOutOfOrdernessMs: number): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(() => {
      let max = Number.NEGATIVE_INFINITY
      return {
        onEvent: (_e, ts) => { if (ts > max) max = ts },
        currentWatermark: () => max - maxOutOfOrdernessMs - 1,
      }
    }, undefined)
  }

  withTimestampAssigner(assigner: TimestampAssigner<T> | { extractTimestamp: TimestampAssigner<T> }): WatermarkStrategy<T> {
    const fn = typeof assigner === 'function' ? assigner : assigner.extractTimestamp.bind(assigner)
    return new WatermarkStrategy<T>(this.createGenerator, fn)
  }

  get usesEventTime(): boolean {
    return this.createGenerator !== undefined || this.timestampAssigner !== undefined
  }
}
