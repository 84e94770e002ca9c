/**
 * A test job, numbers to MySQL/MariaDB: numbers 0..count-1 at `rate` per second.
 * - exactly-once: counted per key (n mod 7) into table `counts (k, c)` through the XA sink, so a
 *   row written twice or lost changes the table.
 * - at-least-once: each number into table `alo_values (v)` (plain inserts: a replay adds rows) and
 *   `alo_upsert (v primary key)` (an upsert: idempotent), through the batching sink.
 *   jdbc-counter.ts <jdbcUrl> <count> <rate> <exactly-once|at-least-once>
 */
import {
  DataGeneratorSource, JdbcConnectionOptions, JdbcExactlyOnceOptions, JdbcExecutionOptions, JdbcSink, KeyedProcessFunction, RateLimiterStrategy,
  StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy, type Collector, type KeyedProcessContext, type ValueState,
} from 'tsflink'

const [url, count, rate, mode] = process.argv.slice(2)
if (url === undefined || count === undefined || rate === undefined || (mode !== 'exactly-once' && mode !== 'at-least-once')) {
  throw new Error('usage: jdbc-counter.ts <jdbcUrl> <count> <rate> <exactly-once|at-least-once>')
}

class CountPerKey extends KeyedProcessFunction<number, number, [number, number]> {
  private n!: ValueState<number>
  override open(): void {
    this.n = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('n'))
  }
  processElement(_v: number, ctx: KeyedProcessContext<number>, c: Collector<[number, number]>): void {
    const next = (this.n.value() ?? 0) + 1
    this.n.update(next)
    c.collect([ctx.getCurrentKey(), next])
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
const connection = JdbcConnectionOptions.builder().withUrl(url).withDriverName('com.mysql.cj.jdbc.Driver').withUsername('root').withPassword('').build()
const numbers = env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), Number(rate) > 0 ? RateLimiterStrategy.perSecond(Number(rate)) : RateLimiterStrategy.noOp()), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
if (mode === 'exactly-once') {
  numbers.keyBy((v: number) => v % 7).process(new CountPerKey()).uid('count')
    .addSink(JdbcSink.exactlyOnceSink<[number, number]>(
      'INSERT INTO counts (k, c) VALUES (?, ?)',
      (ps, [k, c]) => {
        ps.setInt(1, k)
        ps.setInt(2, c)
      },
      JdbcExecutionOptions.builder().withBatchSize(200).withBatchIntervalMs(50).withMaxRetries(0).build(),
      JdbcExactlyOnceOptions.builder().withTransactionPerConnection(true).withTransactionIdPrefix('counts-test').build(),
      connection,
    )).uid('jdbc-xa')
} else {
  // Large batches, no interval: only checkpoints write rows in time (the test's point).
  const options = JdbcExecutionOptions.builder().withBatchSize(1000).withBatchIntervalMs(0).withMaxRetries(3).build()
  numbers.addSink(JdbcSink.sink<number>('INSERT INTO alo_values (v) VALUES (?)', (ps, v) => ps.setInt(1, v), options, connection)).uid('jdbc-plain')
  numbers.addSink(JdbcSink.sink<number>('INSERT INTO alo_upsert (v, n) VALUES (?, 1) ON DUPLICATE KEY UPDATE n = n + 1', (ps, v) => ps.setInt(1, v), options, connection))
    .uid('jdbc-upsert')
}
await env.execute(`jdbc ${mode}`)
