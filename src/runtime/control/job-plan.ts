/**
 * The job's plan as Flink's REST API serves it (`/jobs/:id/plan`, and `plan` in `/jobs/:id`;
 * Flink's JsonPlanGenerator): one node per job vertex (a chain of operators running in one task)
 * with its id (the chain head's operator id, as `vertices[].id`), parallelism, a description
 * naming the chained operators (Flink's tree form: `head<br/>+- next<br/>`) and its inputs: the
 * upstream vertex and how records are shipped across (FORWARD, HASH for keyBy, REBALANCE, RESCALE,
 * SHUFFLE, GLOBAL; `rescale()` runs as REBALANCE and says so). Nodes are listed in topological
 * order; a source has no `inputs`. `optimizer_properties` is left out: Flink 2.2 sends `{}`, its
 * spec says a string.
 * Pure: reads the job graph only; never imports the CLI. Tests: test/integration/rest.test.ts.
 */
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
  inputs?: PlanInput[]
}

export interface Plan {
  jid: string
  name: string
  type: 'STREAMING'
  nodes: PlanNode[]
}

/** Flink's ship strategy names (StreamPartitioner#toString). */
const SHIP_STRATEGY: Record<PartitionerKind, string> = {
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
      ...(inputs.length === 0 ? {} : { inputs }),
    }
  })
  return { jid: jobId, name: jobName, type: 'STREAMING', nodes }
}
