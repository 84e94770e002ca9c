/**
 * A job graph's shape as a string: operator ids, names, parallelism, edges and chains. The
 * JobMaster and every task slot build the graph from the same program; equal fingerprints mean
 * they built the same job. Pure. Tests: test/workers.test.ts.
 */
import type { JobGraph } from '../graph/job-graph.js'

export function graphFingerprint(g: JobGraph): string {
  return JSON.stringify({
    n: g.nodes.map((n) => [n.operatorId, n.name, n.parallelism, n.maxParallelism, n.kind, n.keyed]),
    e: g.edges.map((e) => [e.from, e.to, e.partitioner, e.chained]),
    v: g.vertices.map((v) => v.nodes),
  })
}
