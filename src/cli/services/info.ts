/**
 * `info`: runs a job program only as far as its env.execute(), takes the job graph it built, and
 * describes it in the JSON shape of Flink's execution plan (`flink info`): nodes with id, type,
 * pact, contents, parallelism and predecessors (with their ship strategy). Nothing runs: no task,
 * no checkpoint, no output. Knows nothing of flags or output formats.
 * Tests: test/integration/cli-conformance.test.ts.
 */
import type { Writable } from 'node:stream'
import type { Configuration } from '../../runtime/config/configuration.js'
import type { JobGraph } from '../../runtime/graph/job-graph.js'
import type { ExecutionContext } from '../../runtime/job/context.js'
import type { JobSpec } from '../../runtime/job/job-master.js'
import { SHIP_STRATEGY } from '../../runtime/control/job-plan.js'
import { runProgram } from '../program-loader.js'

export interface PlanPredecessor {
  id: number
  ship_strategy: string
  side: 'second'
}

export interface PlanNode {
  id: number
  type: string
  pact: 'Data Source' | 'Operator' | 'Data Sink'
  contents: string
  parallelism: number
  max_parallelism: number
  operator_id: string
  uid?: string
  /** The task (chain of operators) this operator runs in. */
  chain: number
  predecessors?: PlanPredecessor[]
}

export interface ExecutionPlan {
  jobName: string
  nodes: PlanNode[]
}

/** The plan of a job graph, in Flink's JSON layout (ids count from 1, in topological order). */
export function executionPlan(jobName: string, graph: JobGraph): ExecutionPlan {
  const nodes = graph.nodes.map((n): PlanNode => {
    const pact = n.kind === 'source' ? 'Data Source' : n.isSink ? 'Data Sink' : 'Operator'
    const name = n.kind === 'source' ? `Source: ${n.name}` : n.isSink ? `Sink: ${n.name}` : n.name
    const inputs = graph.edges.filter((e) => e.to === n.index)
    return {
      id: n.index + 1,
      type: name,
      pact,
      contents: name,
      parallelism: n.parallelism,
      max_parallelism: n.maxParallelism,
      operator_id: n.operatorId,
      ...(n.uid === null ? {} : { uid: n.uid }),
      chain: graph.vertexOf[n.index] ?? -1,
      ...(inputs.length === 0 ? {} : {
        predecessors: inputs.map((e) => ({ id: e.from + 1, ship_strategy: SHIP_STRATEGY[e.partitioner] ?? e.partitioner.toUpperCase(), side: 'second' as const })),
      }),
    }
  })
  return { jobName, nodes }
}

export interface InfoOptions {
  file: string
  args: string[]
  config: Configuration
  parallelism: number | undefined
  /** Where anything the program prints goes. */
  printStream: Writable
}

/** Runs the program up to its first env.execute() and returns the plan of that job. */
export async function programPlan(opts: InfoOptions): Promise<ExecutionPlan> {
  let captured!: (spec: JobSpec) => void
  const plan = new Promise<JobSpec>((resolve) => (captured = resolve))
  const ctx: ExecutionContext = {
    config: opts.config,
    parallelism: opts.parallelism,
    restore: undefined,
    program: { file: opts.file, args: opts.args },
    printStream: opts.printStream,
    executions: 0,
    // As Flink's plan environment: take the job, and let execute() never return, so the program
    // goes no further (no second job, no code after execute()).
    submit: (spec) => {
      captured(spec)
      return new Promise(() => {})
    },
  }
  const program = runProgram(opts.file, opts.args, ctx, [])
  const spec = await Promise.race([plan, program.then(() => plan)])
  return executionPlan(spec.jobName, spec.graph)
}
