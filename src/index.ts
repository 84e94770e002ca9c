/**
 * tsflink's job API: what a job program imports from 'tsflink'. Names follow Apache Flink's
 * DataStream API. Importing this module does nothing by itself.
 */
export { StreamExecutionEnvironment, HashMapStateBackend, EmbeddedRocksDBStateBackend, JobExecutionResult } from './runtime/api/environment.js'
export type { StateBackend } from './runtime/api/environment.js'
export { CheckpointConfig, CheckpointingMode, ExternalizedCheckpointCleanup } from './runtime/api/checkpoint-config.js'
export { DataStream, KeyedStream, SingleOutputStreamOperator, DataStreamSink } from './runtime/api/datastream.js'
export {
  AbstractRichFunction, RichMapFunction, RichFlatMapFunction, RichFilterFunction, RichSinkFunction,
  KeyedProcessFunction, ProcessFunction,
} from './runtime/core/functions.js'
export type {
  Collector, RuntimeContext, OpenContext, TaskInfo, MapFunction, FlatMapFunction, FilterFunction, ReduceFunction,
  KeySelector, SinkFunction, TimerService, KeyedProcessContext, OnTimerContext, ProcessContext, TimeDomain,
  CheckpointedFunction, CheckpointListener, FunctionInitializationContext, FunctionSnapshotContext,
} from './runtime/core/functions.js'
export {
  ValueStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
} from './runtime/core/state.js'
export type { ValueState, ListState, MapState, ReducingState, KeyedStateStore, OperatorStateStore } from './runtime/core/state.js'
export { WatermarkStrategy } from './runtime/core/watermark.js'
export { RestartStrategies } from './runtime/job/restart-strategy.js'
export type { RestartStrategyConfig } from './runtime/job/restart-strategy.js'
export { DataGeneratorSource } from './runtime/connectors/generator-source.js'
export { RateLimiterStrategy } from './runtime/connectors/rate-limiter.js'
export { FileSource } from './runtime/connectors/file-source.js'
export { FileSink } from './runtime/connectors/file-sink.js'
export { KafkaSource, OffsetsInitializer, OffsetResetStrategy } from './runtime/connectors/kafka-source.js'
export { KafkaSink, DeliveryGuarantee } from './runtime/connectors/kafka-sink.js'
export type { KafkaRecordSerializer } from './runtime/connectors/kafka-sink.js'
export type { KafkaRecord, KafkaSplit, TopicPartitionOffset } from './runtime/connectors/kafka-source.js'
export type { Source, SourceReader, ReaderOutput, InputStatus } from './runtime/connectors/source.js'
export { Configuration } from './runtime/config/configuration.js'
export { MemoryStorage } from './runtime/storage/memory-storage.js'
export { FsStorage } from './runtime/storage/fs-storage.js'
export type { Storage } from './runtime/storage/storage.js'
