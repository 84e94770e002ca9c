/**
 * Word count over a generated stream of sentences, with exactly-once checkpoints every second.
 *
 *   npx tsflink run examples/word-count.ts
 */
import { CheckpointingMode, DataGeneratorSource, RateLimiterStrategy, StreamExecutionEnvironment, WatermarkStrategy } from 'tsflink'

const SENTENCES = [
  'to be or not to be that is the question',
  'whether tis nobler in the mind to suffer',
  'the slings and arrows of outrageous fortune',
  'or to take arms against a sea of troubles',
]

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.enableCheckpointing(1000, CheckpointingMode.EXACTLY_ONCE)

const sentences = env.fromSource(
  new DataGeneratorSource((i) => SENTENCES[i % SENTENCES.length]!, 40, RateLimiterStrategy.perSecond(20)),
  WatermarkStrategy.noWatermarks(),
  'sentences',
).uid('sentences')

sentences
  .flatMap<[string, number]>((line: string, out) => {
    for (const word of line.split(' ')) out.collect([word, 1] as [string, number])
  })
  .name('tokenize')
  .keyBy(([word]) => word)
  .sum(1)
  .uid('counts')
  .name('count')
  .print()

await env.execute('Word Count')
