import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Configuration, StreamExecutionEnvironment } from '../src/index.js'
import { operatorIdForUid } from '../src/runtime/graph/job-graph.js'

const env = (): StreamExecutionEnvironment => StreamExecutionEnvironment.createLocalEnvironment(new Configuration())

describe('job graph', () => {
  it('chains forward edges of equal parallelism and breaks chains at keyBy and rebalance', () => {
    const e = env().setParallelism(2)
    e.fromSequence(1, 10).map((x: number) => x).filter(() => true).keyBy((x: number) => x % 2).sum().rebalance().print()
    const g = e.getJobGraph()
    assert.deepEqual(g.vertices.map((v) => v.name), ['Sequence Source -> Map -> Filter', 'Keyed Aggregation', 'Print to Std. Out'])
  })

  it('fuses a keyed edge when both sides run with parallelism 1', () => {
    const e = env().setParallelism(1)
    e.fromSequence(1, 10).keyBy((x: number) => x % 2).sum().print()
    assert.equal(e.getJobGraph().vertices.length, 1)
  })

  it('a uid gives the same operator id whatever the program around it', () => {
    const a = env()
    a.fromSequence(1, 10).map((x: number) => x).uid('m').print()
    const b = env().setParallelism(3)
    b.fromElements(1).filter(() => true).map((x: number) => x + 1).uid('m').rebalance().print()
    const idOf = (e: StreamExecutionEnvironment) => e.getJobGraph().nodes.find((n) => n.uid === 'm')!.operatorId
    assert.equal(idOf(a), idOf(b))
    assert.equal(idOf(a), operatorIdForUid('m'))
  })

  it('operators without uid get stable ids from the program shape, unchanged by parallelism', () => {
    const build = (p: number) => {
      const e = env().setParallelism(p)
      e.fromSequence(1, 10).map((x: number) => x).keyBy((x: number) => x).sum().print()
      return e.getJobGraph().nodes.map((n) => n.operatorId)
    }
    assert.deepEqual(build(1), build(1))
    assert.deepEqual(build(1), build(4))
  })

  it('refuses duplicate uids and forward across parallelism changes', () => {
    const e = env()
    e.fromSequence(1, 2).uid('x').map((v: number) => v).uid('x').print()
    assert.throws(() => e.getJobGraph(), /non-unique ID/)
    const f = env()
    f.fromSequence(1, 2).forward().map((v: number) => v).setParallelism(2).print()
    assert.throws(() => f.getJobGraph(), /Forward partitioning does not allow a change of parallelism/)
  })
})
