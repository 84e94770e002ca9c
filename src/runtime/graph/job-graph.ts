/**
 * The job graph: physical operators (nodes) with parallelism and stable operator ids, edges with
 * partitioners, and chains of operators that run in one task (Flink's JobGraph with operator
 * chaining). Built once from the transformations; pure data and pure functions.
 *
 * Operator ids: md5(uid) when the operator has a uid; otherwise a hash of its position in the
 * program's topological order, its number of chained outputs and its inputs' ids, as Flink's
 * StreamGraphHasherV2 does, which changes whenever the program's shape changes: set uids.
 * Tests: test/job-graph.test.ts.
 */
import { createHash } from 'node:crypto'
import type { WatermarkStrategy } from '../core/watermark.js'
import type { Source } from '../connectors/source.js'
import type { OperatorId } from '../ids.js'
import type { StreamOperator } from '../operators/operator.js'
import { DEFAULT_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM } from '../core/key-groups.js'
import type { KeySpec, PartitionerKind, Transformation } from './transformation.js'

export interface GraphNode {
  /** Index in the job graph's node list (topological). */
  readonly index: number
  readonly name: string
  readonly uid: string | null
  operatorId: OperatorId
  readonly parallelism: number
  readonly maxParallelism: number
  readonly kind: 'source' | 'operator'
  readonly source?: Source<unknown, unknown>
  readonly watermarks?: WatermarkStrategy<unknown>
  readonly createOperator?: () => StreamOperator
  readonly keyed: boolean
  readonly isSink: boolean
}

export interface GraphEdge {
  readonly from: number
  readonly to: number
  readonly partitioner: PartitionerKind
  readonly key: KeySpec | undefined
  /** Both ends run in the same task. */
  readonly chained: boolean
}

/** A chain of operators that run in one task; `nodes[0]` is the head. */
export interface JobVertex {
  readonly id: number
  readonly nodes: number[]
  readonly parallelism: number
  readonly name: string
}

export interface JobGraph {
  readonly nodes: GraphNode[]
  readonly edges: GraphEdge[]
  readonly vertices: JobVertex[]
  /** Node index → vertex id. */
  readonly vertexOf: number[]
  readonly usesEventTime: boolean
}

export interface GraphDefaults {
  parallelism: number
  maxParallelism: number | undefined
  chaining: boolean
}

/** Builds the job graph from the sinks' transformations (and everything upstream of them). */
export function buildJobGraph(all: readonly Transformation[], defaults: GraphDefaults): JobGraph {
  const nodes: GraphNode[] = []
  const edges: GraphEdge[] = []
  const nodeOfT = new Map<number, number>()

  // Resolves a transformation to the physical nodes it stands for, with the edge properties picked up on the way.
  type Upstream = { node: number; partitioner: PartitionerKind | undefined; key: KeySpec | undefined }
  const resolve = (t: Transformation): Upstream[] => {
    switch (t.type) {
      case 'source':
      case 'operator':
        return [{ node: physical(t), partitioner: undefined, key: undefined }]
      case 'partition':
        return resolve(t.input).map((u) => ({ node: u.node, partitioner: t.partitioner, key: t.key }))
      case 'union':
        return t.inputs.flatMap(resolve)
    }
  }

  const physical = (t: Extract<Transformation, { type: 'source' | 'operator' }>): number => {
    const known = nodeOfT.get(t.id)
    if (known !== undefined) return known
    const inputs = t.type === 'operator' ? resolve(t.input) : []
    let parallelism = t.parallelism ?? defaults.parallelism
    if (t.type === 'source' && t.source.maxParallelism !== undefined) parallelism = Math.min(parallelism, t.source.maxParallelism)
    const maxParallelism = t.maxParallelism ?? defaults.maxParallelism ?? DEFAULT_MAX_PARALLELISM
    if (!Number.isInteger(parallelism) || parallelism < 1) throw new Error(`Operator '${t.name}' has invalid parallelism ${parallelism}`)
    if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > UPPER_BOUND_MAX_PARALLELISM) {
      throw new Error(`Operator '${t.name}' has invalid max parallelism ${maxParallelism}`)
    }
    if (parallelism > maxParallelism) throw new Error(`Operator '${t.name}': parallelism ${parallelism} exceeds max parallelism ${maxParallelism}`)
    const index = nodes.length
    const node: GraphNode = t.type === 'source'
      ? { index, name: t.name, uid: t.uid ?? null, operatorId: '' as OperatorId, parallelism, maxParallelism, kind: 'source', source: t.source, watermarks: t.watermarks, keyed: false, isSink: false }
      : { index, name: t.name, uid: t.uid ?? null, operatorId: '' as OperatorId, parallelism, maxParallelism, kind: 'operator', createOperator: t.createOperator, keyed: t.keyed, isSink: t.isSink }
    nodes.push(node)
    nodeOfT.set(t.id, index)
    for (const u of inputs) {
      const up = nodes[u.node]!
      let partitioner = u.partitioner ?? (up.parallelism === parallelism ? 'forward' : 'rebalance')
      if (partitioner === 'forward' && up.parallelism !== parallelism) {
        throw new Error(`Forward partitioning does not allow a change of parallelism: '${up.name}' (${up.parallelism}) -> '${t.name}' (${parallelism}); use rebalance()`)
      }
      if (partitioner === 'rescale') partitioner = 'rebalance'
      edges.push({ from: u.node, to: index, partitioner, key: u.key, chained: false })
    }
    return index
  }

  for (const t of all) if (t.type === 'source' || t.type === 'operator') physical(t)

  // Chaining: a forward edge into an operator with exactly one input, at the same parallelism.
  // A keyed edge between two operators that both run with parallelism 1 is fused too: every key
  // goes to the one subtask anyway, so the records need not cross a channel.
  const inDegree = nodes.map((n) => edges.filter((e) => e.to === n.index).length)
  const chainedEdges = edges.map((e) => {
    const from = nodes[e.from]!
    const to = nodes[e.to]!
    const forward = e.partitioner === 'forward' && from.parallelism === to.parallelism
    const fusedKeyed = e.partitioner === 'hash' && from.parallelism === 1 && to.parallelism === 1
    return { ...e, chained: defaults.chaining && inDegree[e.to] === 1 && (forward || fusedKeyed) }
  })

  const vertexOf: number[] = new Array<number>(nodes.length).fill(-1)
  const vertices: JobVertex[] = []
  for (const n of nodes) {
    const into = chainedEdges.find((e) => e.to === n.index && e.chained)
    if (into !== undefined) continue
    const id = vertices.length
    const members: number[] = []
    const visit = (i: number): void => {
      members.push(i)
      vertexOf[i] = id
      for (const e of chainedEdges) if (e.from === i && e.chained) visit(e.to)
    }
    visit(n.index)
    vertices.push({ id, nodes: members, parallelism: n.parallelism, name: members.map((m) => nodes[m]!.name).join(' -> ') })
  }

  assignOperatorIds(nodes, chainedEdges)
  const usesEventTime = nodes.some((n) => n.watermarks?.usesEventTime === true)
  return { nodes, edges: chainedEdges, vertices, vertexOf, usesEventTime }
}

function md5(s: string): string {
  return createHash('md5').update(s).digest('hex')
}

export function operatorIdForUid(uid: string): OperatorId {
  return md5(`uid:${uid}`) as OperatorId
}

function assignOperatorIds(nodes: GraphNode[], edges: GraphEdge[]): void {
  const seen = new Set<string>()
  for (const n of nodes) {
    if (n.uid === null) continue
    if (seen.has(n.uid)) throw new Error(`Hash collision on user-specified ID "${n.uid}". Most likely cause is a non-unique ID. Please check that all IDs specified via \`uid(String)\` are unique.`)
    seen.add(n.uid)
    n.operatorId = operatorIdForUid(n.uid)
  }
  // Nodes are in topological creation order, so every input has its id before its consumers.
  nodes.forEach((n, position) => {
    const i = n.index
    if (n.uid !== null) return
    const chainedOut = edges.filter((e) => e.from === i && e.chained && e.partitioner === 'forward').length
    const inputs = edges.filter((e) => e.to === i).map((e) => nodes[e.from]!.operatorId).sort()
    n.operatorId = md5(`auto:${position}:${n.kind}:${chainedOut}:${inputs.join(',')}`) as OperatorId
  })
}
