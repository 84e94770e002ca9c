/**
 * Subtask states and their aggregation into a vertex's state (src/runtime/job/task-states.ts),
 * against Flink's rules (ExecutionJobVertex#getAggregateJobVertexState) written out here.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { aggregateState, TaskStates, zeroCounts } from '../src/runtime/job/task-states.js'

describe('TaskStates', () => {
  it('a vertex is FAILED if any subtask failed, then CANCELING, CANCELED, RUNNING; FINISHED only when all are', () => {
    const c = (x: Partial<ReturnType<typeof zeroCounts>>): ReturnType<typeof zeroCounts> => ({ ...zeroCounts(), ...x })
    assert.equal(aggregateState(c({ FAILED: 1, CANCELING: 1, RUNNING: 1 }), 3), 'FAILED')
    assert.equal(aggregateState(c({ CANCELING: 1, CANCELED: 1 }), 2), 'CANCELING')
    assert.equal(aggregateState(c({ CANCELED: 1, FINISHED: 1 }), 2), 'CANCELED')
    assert.equal(aggregateState(c({ RUNNING: 1, FINISHED: 1 }), 2), 'RUNNING')
    assert.equal(aggregateState(c({ FINISHED: 1 }), 2), 'RUNNING', 'some finished: still running')
    assert.equal(aggregateState(c({ FINISHED: 2 }), 2), 'FINISHED')
    assert.equal(aggregateState(c({ DEPLOYING: 2 }), 2), 'CREATED')
  })

  it('follows an attempt: deployed, one finished, the rest cancelled; per vertex and in total', () => {
    const t = new TaskStates(['0#0', '0#1', '1#0'])
    assert.equal(t.counts().CREATED, 3)
    t.deploying()
    t.running()
    assert.deepEqual([t.counts(0).RUNNING, t.counts(1).RUNNING], [2, 1])
    t.ended('0#1', 'FINISHED')
    t.ended('slot-3', 'FAILED') // not a task: ignored
    t.canceling()
    assert.deepEqual(t.counts(), { ...zeroCounts(), FINISHED: 1, CANCELING: 2 })
    t.canceled()
    assert.deepEqual(t.counts(), { ...zeroCounts(), FINISHED: 1, CANCELED: 2 })
    assert.equal(t.get('0#1'), 'FINISHED', 'an ended subtask keeps its state')
    t.deploying() // a restart redeploys all
    assert.deepEqual(t.counts(), { ...zeroCounts(), DEPLOYING: 3 })
  })
})
