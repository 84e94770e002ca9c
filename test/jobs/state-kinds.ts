/**
 * A test job for `savepoint inspect`, `savepoint diff` and `run --dry-run`: numbers 0..count-1 at
 * `rate` per second, keyed by n mod `keys`, into an operator (uid 'stats') with one state of each
 * keyed kind: value 'count', list 'recent' (the last 3 numbers), map 'seen' (number mod 4 → how
 * often), reducing 'sum'. Once every key has had a record, each state holds exactly `keys` keys.
 *   state-kinds.ts <count> <rate> <keys> [variant]
 * variant: 'default'; 'extra' adds an operator (uid 'extra', keyed by n mod 3, value state
 * 'seen-extra'); 'no-stats' drops the 'stats' operator; 'max64' sets max parallelism 64.
 * Output goes to a discarding sink: the job writes nothing.
 */
import {
  DataGeneratorSource, KeyedProcessFunction, ListStateDescriptor, MapStateDescriptor, RateLimiterStrategy, ReducingStateDescriptor,
  StreamExecutionEnvironment, ValueStateDescriptor, WatermarkStrategy,
  type Collector, type KeyedProcessContext, type ListState, type MapState, type ReducingState, type ValueState,
} from 'tsflink'

const [count, rate, keys, variant = 'default'] = process.argv.slice(2)
if (count === undefined || rate === undefined || keys === undefined) throw new Error('usage: state-kinds.ts <count> <rate> <keys> [variant]')
const K = Number(keys)

class Stats extends KeyedProcessFunction<number, number, number> {
  private count!: ValueState<number>
  private recent!: ListState<number>
  private seen!: MapState<number, number>
  private sum!: ReducingState<number>
  override open(): void {
    const ctx = this.getRuntimeContext()
    this.count = ctx.getState(new ValueStateDescriptor<number>('count'))
    this.recent = ctx.getListState(new ListStateDescriptor<number>('recent'))
    this.seen = ctx.getMapState(new MapStateDescriptor<number, number>('seen'))
    this.sum = ctx.getReducingState(new ReducingStateDescriptor<number>('sum', (a, b) => a + b))
  }
  processElement(v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    this.count.update((this.count.value() ?? 0) + 1)
    this.recent.update([...this.recent.get(), v].slice(-3))
    this.seen.put(v % 4, (this.seen.get(v % 4) ?? 0) + 1)
    this.sum.add(v)
    out.collect(v)
  }
}

class Extra extends KeyedProcessFunction<number, number, number> {
  private seen!: ValueState<number>
  override open(): void {
    this.seen = this.getRuntimeContext().getState(new ValueStateDescriptor<number>('seen-extra'))
  }
  processElement(v: number, _ctx: KeyedProcessContext<number>, out: Collector<number>): void {
    this.seen.update((this.seen.value() ?? 0) + 1)
    out.collect(v)
  }
}

const env = StreamExecutionEnvironment.getExecutionEnvironment()
if (variant === 'max64') env.setMaxParallelism(64)
let s = env
  .fromSource(new DataGeneratorSource((i) => i, Number(count), RateLimiterStrategy.perSecond(Number(rate))), WatermarkStrategy.noWatermarks(), 'numbers')
  .uid('numbers')
if (variant !== 'no-stats') s = s.keyBy((v: number) => v % K).process(new Stats()).uid('stats').name('Stats per key')
if (variant === 'extra') s = s.keyBy((v: number) => v % 3).process(new Extra()).uid('extra')
s.addSink(() => {}).uid('sink')
await env.execute('state-kinds')
