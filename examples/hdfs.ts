/**
 * Checkpoints on HDFS: counts the numbers 0..count-1 per key (n mod 10) into an exactly-once file
 * sink, checkpointing every second to an hdfs:// folder through the NameNode's WebHDFS API. Kill it
 * (even with kill -9) and resume it from its latest checkpoint on HDFS: the output is as if it had
 * never stopped.
 *
 *   npx tsflink run -D fs.hdfs.webhdfs.address=namenode:9870 \
 *     examples/hdfs.ts hdfs://namenode:8020/flink/checkpoints /tmp/counts [count] [rate per second]
 *   npx tsflink checkpoints list --dir hdfs://namenode:8020/flink/checkpoints -D fs.hdfs.webhdfs.address=namenode:9870
 *   npx tsflink checkpoints restore <jobId> -D fs.hdfs.webhdfs.address=namenode:9870 \
 *     -D execution.checkpointing.dir=hdfs://namenode:8020/flink/checkpoints
 *
 * The HDFS user is HADOOP_USER_NAME, else the OS user; it needs write access to the folder.
 */
import {
  DataGeneratorSource, FileSink, KeyedProcessFunction, RateLimiterStrategy, StreamExecutionEnvironment, ValueStateDescriptor,
  WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [checkpoints, out, count = '1000000', rate = '10000'] = process.argv.slice(2)
if (checkpoints === undefined || out === undefined || !checkpoints.startsWith('hdfs://')) {
  throw new Error('usage: hdfs.ts hdfs://namenode:port/checkpoints <output dir> [count] [rate]')
}

class CountPerKey extends KeyedProcessFunction<number, number, string> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, collector: Collector<string>): void {
    const c = (this.n.value() ?? 0) + 1
    this.n.update(c)
    collector.collect(`${ctx.getCurrentKey()}:${c}`)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.enableCheckpointing(1000)
env.getCheckpointConfig().setCheckpointStorage(checkpoints)

env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), RateLimiterStrategy.perSecond(Number(rate))), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
  .keyBy((v: number) => v % 10)
  .process(new CountPerKey())
  .uid('count')
  .sinkTo(FileSink.forRowFormat<string>(out).build())
  .uid('sink')

await env.execute('HDFS checkpoints')
