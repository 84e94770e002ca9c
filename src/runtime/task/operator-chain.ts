/**
 * The operators of one subtask that run together (Flink's OperatorChain): built from a job vertex,
 * each member with its output (the next chained operator, the network writers, or both), its
 * keyed state backend and timers when it reads a keyed stream, and its operator state.
 * Owns the members' lifecycle in Flink's order: restore → initializeState (head first) →
 * open (tail first) → … → endInput/finish (head first) → close.
 * Never touches channels or checkpoints' storage. Tests: test/task.test.ts.
 */
import type { SubtaskRestore, RestorePlan } from '../checkpoint/state-assignment.js'
import type { JobGraph, JobVertex } from '../graph/job-graph.js'
import type { OperatorId } from '../ids.js'
import type { Output, StreamOperator, TaskServices } from '../operators/operator.js'
import { InternalTimerService } from '../operators/timer-service.js'
import type { KeyedStateBackend } from '../state/keyed-backend.js'
import { keyGroupRangeForSubtask, normalizeKey, type KeyGroupRange } from '../core/key-groups.js'
import { OperatorStateBackend } from '../state/operator-state-backend.js'
import type { Storage } from '../storage/storage.js'
import { BroadcastingOutput, type RecordWriter } from './record-writer.js'
import { SourceOperator } from './source-operator.js'

export interface ChainMember {
  /** Keyed state of this operator, when it reads a keyed stream. */
  readonly keyed: KeyedStateBackend | undefined
  readonly timers: InternalTimerService | undefined
  readonly node: number
  readonly operatorId: OperatorId
  readonly uid: string | null
  readonly name: string
  readonly parallelism: number
  readonly maxParallelism: number
  readonly operator: StreamOperator
  readonly operatorState: OperatorStateBackend
}

export interface ChainSetup {
  readonly jobId: string
  readonly graph: JobGraph
  readonly vertex: JobVertex
  readonly subtask: number
  readonly attempt: number
  /** Per node of this vertex: writers of its non-chained outgoing edges. */
  readonly writers: Map<number, RecordWriter[]>
  readonly restore: RestorePlan | undefined
  readonly services: TaskServices
  /** Creates the keyed state backend of a keyed operator. */
  readonly keyedBackend: (range: KeyGroupRange, maxParallelism: number, operator: string) => KeyedStateBackend
}

const DISCARD: Output<unknown> = { collect: () => {}, emitWatermark: () => {} }

export class OperatorChain {
  readonly members: ChainMember[] = []
  readonly head: StreamOperator
  readonly source: SourceOperator | undefined
  /** The head operator's keyed state, when the task reads a keyed stream. */
  readonly headKeyed: KeyedStateBackend | undefined
  readonly keyedMembers: KeyedStateBackend[]

  constructor(private readonly setup: ChainSetup) {
    const { vertex, graph, subtask } = setup
    // Build operators tail-first so each one's output (its chained successors) exists.
    const byNode = new Map<number, ChainMember>()
    for (const nodeIndex of [...vertex.nodes].reverse()) {
      const node = graph.nodes[nodeIndex]!
      const operator = node.kind === 'source' ? new SourceOperator(node.source!, node.watermarks!) : node.createOperator!()
      const keyed = node.keyed
        ? setup.keyedBackend(keyGroupRangeForSubtask(node.maxParallelism, node.parallelism, subtask), node.maxParallelism, `${node.operatorId.slice(0, 12)}-${subtask}`)
        : undefined
      byNode.set(nodeIndex, {
        keyed, timers: keyed === undefined ? undefined : new InternalTimerService(),
        node: nodeIndex, operatorId: node.operatorId, uid: node.uid, name: node.name,
        parallelism: node.parallelism, maxParallelism: node.maxParallelism, operator, operatorState: new OperatorStateBackend(),
      })
    }
    for (const nodeIndex of vertex.nodes) this.members.push(byNode.get(nodeIndex)!)
    for (const m of this.members) {
      const outputs: Output<unknown>[] = []
      for (const e of graph.edges) {
        if (e.from !== m.node || !e.chained) continue
        const target = byNode.get(e.to)!
        const next = target.operator
        if (e.partitioner === 'hash') {
          // A keyed edge fused into the chain (both sides run with parallelism 1).
          const selector = e.key!.selector
          const backend = target.keyed!
          outputs.push({
            collect: (r) => {
              backend.currentKey = normalizeKey(selector(r))
              next.processElement(r)
            },
            emitWatermark: (w) => next.processWatermark(w),
          })
        } else {
          outputs.push({ collect: (r) => next.processElement(r), emitWatermark: (w) => next.processWatermark(w) })
        }
      }
      outputs.push(...(setup.writers.get(m.node) ?? []))
      const output: Output<unknown> = outputs.length === 1 ? outputs[0]! : outputs.length === 0 ? DISCARD : new BroadcastingOutput(outputs)
      m.operator.setup({
        operatorId: m.operatorId, uid: m.uid, name: m.name, jobId: setup.jobId, subtask, parallelism: m.parallelism,
        maxParallelism: m.maxParallelism, attempt: setup.attempt, output,
        keyed: m.keyed, timers: m.timers,
        operatorState: m.operatorState, task: setup.services, restored: setup.restore?.operators.get(m.operatorId) !== undefined,
      })
    }
    this.head = this.members[0]!.operator
    this.headKeyed = this.members[0]!.keyed
    this.keyedMembers = this.members.flatMap((m) => (m.keyed === undefined ? [] : [m.keyed]))
    this.source = this.head instanceof SourceOperator ? this.head : undefined
  }

  /** The restore data of member `m` for this subtask, if the job restores state for it. */
  private restoreOf(m: ChainMember): SubtaskRestore | undefined {
    return this.setup.restore?.operators.get(m.operatorId)?.subtasks[this.setup.subtask]
  }

  /** Restores state, then initializes (head first) and opens (tail first) every operator. */
  async initialize(storageFor: (location: string) => Storage): Promise<void> {
    for (const m of this.members) {
      const st = this.restoreOf(m)
      if (st === undefined) continue
      for (const [name, elements] of st.lists) m.operatorState.restore(name, elements)
      if (m.keyed !== undefined && st.keyed.length > 0) m.timers!.restore(await m.keyed.restore(st.keyed, storageFor))
    }
    for (const m of this.members) await m.operator.initializeState()
    for (const m of [...this.members].reverse()) await m.operator.open()
  }

  /** All input was processed: every operator ends its input and flushes, head first. */
  endInput(): void {
    for (const m of this.members) {
      m.operator.endInput()
      m.operator.finish()
    }
  }

  /** Folds or compacts a bounded amount of keyed-state work. */
  maintain(): void {
    for (const k of this.keyedMembers) k.maintain()
  }

  /** Closes every operator; with `quietly`, errors are ignored (cancel, failover). */
  async close(quietly: boolean): Promise<void> {
    for (const m of this.members) {
      if (quietly) await m.operator.close().catch(() => {})
      else await m.operator.close()
    }
    for (const k of this.keyedMembers) k.dispose()
  }
}
