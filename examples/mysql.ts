/**
 * Generated orders into MySQL or MariaDB: every order exactly once into `order_log` (XA
 * transactions committed with each checkpoint), and each customer's latest total into
 * `customer_totals` with an upsert (at-least-once batches, idempotent).
 *
 *   npx tsflink run examples/mysql.ts [jdbc:mysql://localhost:3306/shop] [user] [password]
 *
 * Tables:
 *   CREATE TABLE order_log (id INT PRIMARY KEY, customer VARCHAR(20), amount DOUBLE);
 *   CREATE TABLE customer_totals (customer VARCHAR(20) PRIMARY KEY, total DOUBLE);
 */
import {
  DataGeneratorSource, JdbcConnectionOptions, JdbcExactlyOnceOptions, JdbcExecutionOptions, JdbcSink, RateLimiterStrategy,
  StreamExecutionEnvironment, WatermarkStrategy,
} from 'tsflink'

interface Order { id: number; customer: string; amount: number }

const [url = 'jdbc:mysql://localhost:3306/shop', user = 'root', password = ''] = process.argv.slice(2)
const connection = JdbcConnectionOptions.builder().withUrl(url).withUsername(user).withPassword(password).build()

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.enableCheckpointing(1000)

const orders = env.fromSource(
  new DataGeneratorSource<Order>((i) => ({ id: i, customer: `c${i % 10}`, amount: (i % 7) + 0.5 }), 1000, RateLimiterStrategy.perSecond(100)),
  WatermarkStrategy.noWatermarks(),
  'orders',
).uid('orders')

orders.addSink(JdbcSink.exactlyOnceSink<Order>(
  'INSERT INTO order_log (id, customer, amount) VALUES (?, ?, ?)',
  (ps, o) => {
    ps.setInt(1, o.id)
    ps.setString(2, o.customer)
    ps.setDouble(3, o.amount)
  },
  JdbcExecutionOptions.builder().withBatchSize(500).withMaxRetries(0).build(),
  JdbcExactlyOnceOptions.builder().withTransactionIdPrefix('example-order-log').build(),
  connection,
)).uid('order-log')

orders
  .keyBy((o: Order) => o.customer)
  .reduce((a: Order, b: Order) => ({ ...b, amount: a.amount + b.amount }))
  .uid('totals')
  .addSink(JdbcSink.sink<Order>(
    'INSERT INTO customer_totals (customer, total) VALUES (?, ?) ON DUPLICATE KEY UPDATE total = VALUES(total)',
    (ps, o) => {
      ps.setString(1, o.customer)
      ps.setDouble(2, o.amount)
    },
    JdbcExecutionOptions.builder().withBatchSize(200).withBatchIntervalMs(500).withMaxRetries(3).build(),
    connection,
  )).uid('customer-totals')

await env.execute('orders to MySQL')
