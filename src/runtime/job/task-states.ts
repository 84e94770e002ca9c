/**
 * The execution state of every subtask of a job's current attempt, in Flink's ExecutionState
 * words, as the job master sees them (deployed, running, finished, failed, cancelled): what the
 * REST API counts per vertex and for the job, and how a vertex's state is aggregated from its
 * subtasks (Flink's ExecutionJobVertex#getAggregateJobVertexState).
 * Pure bookkeeping: never imports tasks, storage or the CLI.
 * Tests: test/integration/rest.test.ts (counts of a running, a finished and a cancelled job),
 * test/task-states.test.ts.
 */

/** Flink's ExecutionState, in its declaration order (the REST API lists counts in this order). */
export const EXECUTION_STATES = ['CREATED', 'SCHEDULED', 'DEPLOYING', 'RUNNING', 'FINISHED', 'CANCELING', 'CANCELED', 'FAILED', 'RECONCILING', 'INITIALIZING'] as const
export type ExecutionState = (typeof EXECUTION_STATES)[number]

const TERMINAL: ReadonlySet<ExecutionState> = new Set(['FINISHED', 'CANCELED', 'FAILED'])

export function isTerminalExecutionState(s: ExecutionState): boolean {
  return TERMINAL.has(s)
}

/** Every state with a count of zero. */
export function zeroCounts(): Record<ExecutionState, number> {
  return Object.fromEntries(EXECUTION_STATES.map((s) => [s, 0])) as Record<ExecutionState, number>
}

/**
 * A vertex's state from its subtasks' counts, as Flink aggregates it: any FAILED wins, then
 * CANCELING, CANCELED, INITIALIZING, RUNNING; FINISHED only when all are, RUNNING while only some
 * are; else CREATED.
 */
export function aggregateState(counts: Readonly<Record<ExecutionState, number>>, parallelism: number): ExecutionState {
  if (counts.FAILED > 0) return 'FAILED'
  if (counts.CANCELING > 0) return 'CANCELING'
  if (counts.CANCELED > 0) return 'CANCELED'
  if (counts.INITIALIZING > 0) return 'INITIALIZING'
  if (counts.RUNNING > 0) return 'RUNNING'
  if (counts.FINISHED > 0) return counts.FINISHED === parallelism ? 'FINISHED' : 'RUNNING'
  return 'CREATED'
}

/** Subtasks keyed `<vertexId>#<subtask>` (the job master's task keys). */
export class TaskStates {
  private readonly states = new Map<string, ExecutionState>()

  constructor(keys: readonly string[]) {
    for (const k of keys) this.states.set(k, 'CREATED')
  }

  /** A new attempt deploys every subtask. */
  deploying(): void {
    for (const k of this.states.keys()) this.states.set(k, 'DEPLOYING')
  }

  /** The attempt is deployed: every subtask not already ended runs. */
  running(): void {
    for (const [k, s] of this.states) if (!TERMINAL.has(s)) this.states.set(k, 'RUNNING')
  }

  /** One subtask reached its end (or failed); unknown keys (a slot, not a task) are ignored. */
  ended(key: string, state: 'FINISHED' | 'FAILED'): void {
    if (this.states.has(key)) this.states.set(key, state)
  }

  /** Every subtask not ended is being cancelled. */
  canceling(): void {
    for (const [k, s] of this.states) if (!TERMINAL.has(s)) this.states.set(k, 'CANCELING')
  }

  /** The cancellation completed: every subtask not ended is cancelled. */
  canceled(): void {
    for (const [k, s] of this.states) if (!TERMINAL.has(s)) this.states.set(k, 'CANCELED')
  }

  /** The attempt ended with all its input processed (or stopped with a savepoint): every subtask not ended finished. */
  finished(): void {
    for (const [k, s] of this.states) if (!TERMINAL.has(s)) this.states.set(k, 'FINISHED')
  }

  get(key: string): ExecutionState | undefined {
    return this.states.get(key)
  }

  /** Counts of the subtasks of `vertexId`, or of all subtasks when it is undefined. */
  counts(vertexId?: number): Record<ExecutionState, number> {
    const out = zeroCounts()
    const prefix = vertexId === undefined ? undefined : `${vertexId}#`
    for (const [k, s] of this.states) if (prefix === undefined || k.startsWith(prefix)) out[s]++
    return out
  }
}
