/**
 * A test job that fails on its first `failures` attempts (each attempt throws on its first record)
 * and then finishes: for restart reporting.
 *   flaky.ts <failures>
 */
import { RichMapFunction, StreamExecutionEnvironment } from 'tsflink'

const failures = Number(process.argv[2] ?? '2')

class FailEarly extends RichMapFunction<number, number> {
  map(v: number): number {
    const attempt = this.getRuntimeContext().getAttemptNumber()
    if (attempt < failures) throw new Error(`boom on attempt ${attempt}`)
    return v
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
env.fromElements(1, 2, 3).map(new FailEarly()).uid('fail-early').addSink(() => {})
await env.execute('flaky')
