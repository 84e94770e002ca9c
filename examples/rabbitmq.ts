/**
 * RabbitMQ to RabbitMQ, exactly-once on the way in: reads text messages (each with a unique
 * correlation id) from queue `words`, counts each word, and publishes `word: count` to queue
 * `word-counts`. A message `END` ends the job.
 *
 *   npx tsflink run examples/rabbitmq.ts [amqp://guest:guest@localhost:5672/]
 *
 * Publish input with any AMQP client, e.g. (amqplib):
 *   ch.sendToQueue('words', Buffer.from('to be or not'), { persistent: true, correlationId: 'm-1' })
 */
import { RMQConnectionConfig, RMQSink, RMQSource, SimpleStringSchema, StreamExecutionEnvironment } from 'tsflink'

const uri = process.argv[2] ?? 'amqp://guest:guest@localhost:5672/'
const config = new RMQConnectionConfig.Builder().setUri(uri).setPrefetchCount(1000).build()

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.enableCheckpointing(1000)

env
  .addSource(new RMQSource(config, 'words', true, {
    deserialize: (body: Buffer) => body.toString('utf8'),
    isEndOfStream: (text: string) => text === 'END',
  }), 'words')
  .uid('words')
  .setParallelism(1) // exactly-once with correlation ids: one consumer, as in Flink
  .flatMap<[string, number]>((line: string, out) => {
    for (const word of line.split(/\s+/)) if (word !== '') out.collect([word, 1] as [string, number])
  })
  .keyBy(([word]) => word)
  .sum(1)
  .uid('counts')
  .map(([word, count]: [string, number]) => `${word}: ${count}`)
  .addSink(new RMQSink(config, 'word-counts', new SimpleStringSchema()))
  .uid('word-counts')

await env.execute('RabbitMQ word count')
