/**
 * DataStream, KeyedStream and friends: the fluent API that records transformations. Nothing
 * runs until `env.execute()`. Names and semantics follow Flink's DataStream API.
 */
import type { Writable } from 'node:stream'
import type { FileSinkSpec } from '../connectors/file-sink.js'
import type { KafkaSinkSpec } from '../connectors/kafka-sink.js'
import { PrintSinkFunction } from '../connectors/print-sink.js'
import type { KeySpec, OneInputTransformation, PartitionerKind, Transformation } from '../graph/transformation.js'
import type { StreamOperator } from '../operators/operator.js'
import {
  FilterOperator, FlatMapOperator, KeyedProcessOperator, MapOperator, ProcessOperator, ReduceOperator, SinkOperator,
} from '../operators/udf-operators.js'
import { TimestampsAndWatermarksOperator } from '../operators/watermark-operator.js'
import {
  asFunction, type FilterFunction, type FlatMapFunction, type KeyedProcessFunction, type KeySelector, type MapFunction,
  type ProcessFunction, type ReduceFunction, type SinkFunction,
} from '../core/functions.js'
import type { WatermarkStrategy } from '../core/watermark.js'

/** What a DataStream needs from its environment. */
export interface StreamContext {
  addTransformation(t: Transformation): void
  nextId(): number
  printStream(): Writable
}

/**
 * Each parallel instance gets its own copy of a function object (own fields copied shallowly,
 * prototype kept), as Flink gives each subtask its own deserialized copy. Lambdas are shared.
 */
export function perInstance<F>(f: F): () => F {
  if (typeof f !== 'object' || f === null) return () => f
  return () => Object.assign(Object.create(Object.getPrototypeOf(f) as object) as object, f) as F
}

function checkParallelism(parallelism: number): number {
  if (!Number.isInteger(parallelism) || parallelism < 1) throw new Error(`The parallelism of an operator must be at least 1, got ${parallelism}`)
  return parallelism
}

export class DataStream<T> {
  constructor(
    protected readonly env: StreamContext,
    readonly transformation: Transformation,
  ) {}

  protected keyed(): boolean {
    return false
  }

  protected operator(name: string, create: () => StreamOperator, isSink = false): OneInputTransformation {
    const t: OneInputTransformation = {
      type: 'operator', id: this.env.nextId(), name, uid: undefined, parallelism: undefined, maxParallelism: undefined,
      input: this.transformation, createOperator: create, keyed: this.keyed(), isSink,
    }
    this.env.addTransformation(t)
    return t
  }

  protected transform<R>(name: string, create: () => StreamOperator): SingleOutputStreamOperator<R> {
    return new SingleOutputStreamOperator<R>(this.env, this.operator(name, create))
  }

  map<R>(fn: MapFunction<T, R>): SingleOutputStreamOperator<R> {
    const make = perInstance(fn)
    return this.transform<R>('Map', () => new MapOperator<T, R>(make()))
  }

  flatMap<R>(fn: FlatMapFunction<T, R>): SingleOutputStreamOperator<R> {
    const make = perInstance(fn)
    return this.transform<R>('Flat Map', () => new FlatMapOperator<T, R>(make()))
  }

  filter(fn: FilterFunction<T>): SingleOutputStreamOperator<T> {
    const make = perInstance(fn)
    return this.transform<T>('Filter', () => new FilterOperator<T>(make()))
  }

  process<R>(fn: ProcessFunction<T, R>): SingleOutputStreamOperator<R> {
    const make = perInstance(fn)
    return this.transform<R>('Process', () => new ProcessOperator<T, R>(make()))
  }

  assignTimestampsAndWatermarks(strategy: WatermarkStrategy<T>): SingleOutputStreamOperator<T> {
    return this.transform<T>('Timestamps/Watermarks', () => new TimestampsAndWatermarksOperator<T>(strategy))
  }

  keyBy<K>(selector: KeySelector<T, K>): KeyedStream<T, K> {
    const fn = asFunction(selector as (v: T) => K, 'getKey') as (r: unknown) => unknown
    const key: KeySpec = { selector: fn }
    return new KeyedStream<T, K>(this.env, this.partition('hash', key))
  }

  private partition(partitioner: PartitionerKind, key?: KeySpec): Transformation {
    return {
      type: 'partition', id: this.env.nextId(), name: partitioner, uid: undefined, parallelism: undefined, maxParallelism: undefined,
      input: this.transformation, partitioner, key,
    }
  }

  /** Records go to a random downstream subtask. */
  shuffle(): DataStream<T> {
    return new DataStream<T>(this.env, this.partition('shuffle'))
  }

  /** Records go round-robin to the downstream subtasks. */
  rebalance(): DataStream<T> {
    return new DataStream<T>(this.env, this.partition('rebalance'))
  }

  rescale(): DataStream<T> {
    return new DataStream<T>(this.env, this.partition('rescale'))
  }

  /** Records go to the downstream subtask of the same index (same parallelism required). */
  forward(): DataStream<T> {
    return new DataStream<T>(this.env, this.partition('forward'))
  }

  /** Every record goes to the first downstream subtask. */
  global(): DataStream<T> {
    return new DataStream<T>(this.env, this.partition('global'))
  }

  union(...others: DataStream<T>[]): DataStream<T> {
    return new DataStream<T>(this.env, {
      type: 'union', id: this.env.nextId(), name: 'Union', uid: undefined, parallelism: undefined, maxParallelism: undefined,
      inputs: [this.transformation, ...others.map((o) => o.transformation)],
    })
  }

  /** Writes each record to stdout (one line each; `n> ` prefix when parallel). */
  print(sinkIdentifier = ''): DataStreamSink<T> {
    const stream = this.env.printStream()
    return new DataStreamSink<T>(this.operator('Print to Std. Out', () => new SinkOperator<T>(new PrintSinkFunction<T>(stream, sinkIdentifier)), true))
  }

  addSink(fn: SinkFunction<T>): DataStreamSink<T> {
    const make = perInstance(fn)
    return new DataStreamSink<T>(this.operator('Sink', () => new SinkOperator<T>(make()), true))
  }

  /** Attaches a sink built by a connector (FileSink, KafkaSink). */
  sinkTo(sink: FileSinkSpec<T> | KafkaSinkSpec<T>): DataStreamSink<T> {
    const name = sink.kind === 'file-sink' ? 'File Sink' : 'Kafka Sink'
    return new DataStreamSink<T>(this.operator(name, () => sink.createOperator(), true))
  }
}

/** A stream produced by an operator: its uid, name and parallelism can be set. */
export class SingleOutputStreamOperator<T> extends DataStream<T> {
  /** The stable id state is matched by on restore. Set it on every stateful operator. */
  uid(uid: string): this {
    if (typeof uid !== 'string' || uid === '') throw new Error('uid must be a non-empty string')
    this.transformation.uid = uid
    return this
  }

  /** Flink's setUidHash: not supported; uid() is the way to name state. */
  name(name: string): this {
    this.transformation.name = name
    return this
  }

  setParallelism(parallelism: number): this {
    this.transformation.parallelism = checkParallelism(parallelism)
    return this
  }

  setMaxParallelism(maxParallelism: number): this {
    if (!Number.isInteger(maxParallelism) || maxParallelism < 1) throw new Error(`The max parallelism must be at least 1, got ${maxParallelism}`)
    this.transformation.maxParallelism = maxParallelism
    return this
  }

  getParallelism(): number | undefined {
    return this.transformation.parallelism
  }
}

export class KeyedStream<T, K> extends DataStream<T> {
  protected override keyed(): boolean {
    return true
  }

  override process<R>(fn: KeyedProcessFunction<K, T, R> | ProcessFunction<T, R>): SingleOutputStreamOperator<R> {
    const make = perInstance(fn)
    return this.transform<R>('KeyedProcess', () => {
      const f = make()
      return typeof (f as KeyedProcessFunction<K, T, R>).onTimer === 'function'
        ? new KeyedProcessOperator<K, T, R>(f as KeyedProcessFunction<K, T, R>)
        : new ProcessOperator<T, R>(f as ProcessFunction<T, R>)
    })
  }

  /** A rolling reduce: emits the new aggregate for the key after every record. */
  reduce(fn: ReduceFunction<T>): SingleOutputStreamOperator<T> {
    const make = perInstance(fn)
    return this.transform<T>('Keyed Reduce', () => new ReduceOperator<T>(make()))
  }

  /** Rolling sum of a tuple position, an object field, or the values themselves (no argument). */
  sum(field?: number | string): SingleOutputStreamOperator<T> {
    return this.aggregate('Keyed Aggregation', field, (a, b) => a + b)
  }

  min(field?: number | string): SingleOutputStreamOperator<T> {
    return this.aggregate('Keyed Aggregation', field, (a, b) => Math.min(a, b))
  }

  max(field?: number | string): SingleOutputStreamOperator<T> {
    return this.aggregate('Keyed Aggregation', field, (a, b) => Math.max(a, b))
  }

  private aggregate(name: string, field: number | string | undefined, op: (a: number, b: number) => number): SingleOutputStreamOperator<T> {
    const reduce = (a: T, b: T): T => {
      if (field === undefined || (field === 0 && typeof a === 'number')) return op(a as number, b as number) as T
      if (Array.isArray(a)) {
        const r = a.slice()
        r[field as number] = op(a[field as number] as number, (b as unknown[])[field as number] as number)
        return r as T
      }
      const f = field as string
      return { ...(a as object), [f]: op((a as Record<string, number>)[f]!, (b as Record<string, number>)[f]!) } as T
    }
    return this.transform<T>(name, () => new ReduceOperator<T>(reduce))
  }
}

export class DataStreamSink<T> {
  constructor(readonly transformation: OneInputTransformation) {}

  uid(uid: string): this {
    this.transformation.uid = uid
    return this
  }

  name(name: string): this {
    this.transformation.name = name
    return this
  }

  setParallelism(parallelism: number): this {
    this.transformation.parallelism = checkParallelism(parallelism)
    return this
  }

  /** Phantom member keeping the element type. */
  declare readonly __type?: T
}
