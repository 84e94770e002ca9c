/**
 * Transformations: what the DataStream API records as a program is written (Flink's
 * Transformation). Virtual ones (partition, union) become edge properties in the job graph.
 * Pure data: building them runs nothing.
 */
import type { WatermarkStrategy } from '../core/watermark.js'
import type { Source } from '../connectors/source.js'
import type { StreamOperator } from '../operators/operator.js'

export type PartitionerKind = 'forward' | 'rebalance' | 'shuffle' | 'hash' | 'rescale' | 'global'

export interface KeySpec {
  selector: (record: unknown) => unknown
}

interface Base {
  readonly id: number
  name: string
  uid: string | undefined
  /** undefined: the environment's default parallelism. */
  parallelism: number | undefined
  maxParallelism: number | undefined
}

export interface SourceTransformation extends Base {
  readonly type: 'source'
  readonly source: Source<unknown, unknown>
  readonly watermarks: WatermarkStrategy<unknown>
}

export interface OneInputTransformation extends Base {
  readonly type: 'operator'
  readonly input: Transformation
  readonly createOperator: () => StreamOperator
  /** The operator reads a keyed stream and may use keyed state. */
  readonly keyed: boolean
  readonly isSink: boolean
}

export interface PartitionTransformation extends Base {
  readonly type: 'partition'
  readonly input: Transformation
  readonly partitioner: PartitionerKind
  readonly key: KeySpec | undefined
}

export interface UnionTransformation extends Base {
  readonly type: 'union'
  readonly inputs: Transformation[]
}

export type Transformation = SourceTransformation | OneInputTransformation | PartitionTransformation | UnionTransformation
