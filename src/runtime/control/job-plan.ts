/**
 * The job's plan as Flink's REST API serves it (`/jobs/:id/plan`, and `plan` in `/jobs/:id`;
 * Flink's JsonPlanGenerator): one node per job vertex (a chain of operators running in one task)
 * with its id (the chain head's operator id, as `vertices[].id`), parallelism, a description
 * naming the chained operators (Flink's tree form: `head<br/>+- next<br/>`) and its inputs: the
 * upstream vertex and how records are shipped across (FORWARD, HASH for keyBy, REBALANCE, RESCALE,
 * SHUFFLE, GLOBAL; `rescale()` runs as REBALANCE and says so). Nodes are listed in topological
 * order; a source has no `inputs`. `optimizer_properties` is raw JSON, `{}` as Flink 2.2 sends it
 * (its spec calls it a string; Flink's REST client needs the member).
 * Pure: reads the job graph only; never imports the CLI. Tests: test/integration/rest.test.ts.
 */
import { createHash } from 'node:crypto'
import type { JobGraph } from '../graph/job-graph.js'
import type { PartitionerKind } from '../graph/transformation.js'

export interface PlanInput {
  num: number
  id: string
  ship_strategy: string
  exchange: string
}

export interface PlanNode {
  id: string
  parallelism: number
  operator: string
  operator_strategy: string
  description: string
  optimizer_properties: Record<string, never>
  inputs?: PlanInput[]
}

export interface Plan {
  jid: string
  name: string
  type: 'STREAMING'
  nodes: PlanNode[]
}

/** Flink's ship strategy names (StreamPartitioner#toString). */
export const SHIP_STRATEGY: Record<PartitionerKind, string> = {
  forward: 'FORWARD',
  hash: 'HASH',
  rebalance: 'REBALANCE',
  rescale: 'RESCALE',
  shuffle: 'SHUFFLE',
  global: 'GLOBAL',
}

/** The vertex's id in the REST API: its chain head's operator id. */
export function vertexRestId(graph: JobGraph, vertexId: number): string {
  const v = graph.vertices[vertexId]!
  return graph.nodes[v.nodes[0]!]!.operatorId
}

/**
 * The id of the one slot sharing group all of a job's vertices are in (Flink's default group):
 * stable for the job, 32 hex digits as Flink writes a SlotSharingGroupId.
 */
export function slotSharingGroupId(jobId: string): string {
  return createHash('md5').update(`${jobId}/default`).digest('hex')
}

/**
 * A vertex's I/O metrics as Flink reports them when it has none at hand: zeros, each marked not
 * complete (the runtime does not count bytes and records per vertex). Flink's REST client needs
 * the member to read a job's details.
 */
export function unknownIoMetrics(): Record<string, number | boolean> {
  return {
    'read-bytes': 0, 'read-bytes-complete': false, 'write-bytes': 0, 'write-bytes-complete': false,
    'read-records': 0, 'read-records-complete': false, 'write-records': 0, 'write-records-complete': false,
    'accumulated-backpressured-time': 0, 'accumulated-idle-time': 0, 'accumulated-busy-time': 0,
  }
}

export function jobPlan(jobId: string, jobName: string, graph: JobGraph): Plan {
  const nodes = graph.vertices.map((v): PlanNode => {
    const names = v.nodes.map((n) => graph.nodes[n]!.name)
    const description = names.map((name, i) => (i === 0 ? `${name}<br/>` : `${'   '.repeat(i - 1)}+- ${name}<br/>`)).join('')
    const inputs = graph.edges
      .filter((e) => !e.chained && graph.vertexOf[e.to] === v.id)
      .map((e, num): PlanInput => ({ num, id: vertexRestId(graph, graph.vertexOf[e.from]!), ship_strategy: SHIP_STRATEGY[e.partitioner], exchange: 'pipelined_bounded' }))
    return {
      id: vertexRestId(graph, v.id),
      parallelism: v.parallelism,
      operator: '',
      operator_strategy: '',
      description,
      optimizer_properties: {},
      ...(inputs.length === 0 ? {} : { inputs }),
    }
  })
  return { jid: jobId, name: jobName, type: 'STREAMING', nodes }
}
