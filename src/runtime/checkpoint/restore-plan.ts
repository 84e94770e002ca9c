/**
 * The restore plan `run --dry-run -s` prints: which operator of the new program (by uid) gets
 * which state, which state has no operator, which operators start empty, how key groups are
 * redistributed over the new parallelism, and whether the restore would succeed. It runs the
 * real restore's own decisions and nothing else: `planRestore` (state-assignment.ts) over the
 * whole snapshot with the user's --allowNonRestoredState decides the verdict, then the same for
 * the in-flight records of an unaligned checkpoint (`planReplay`), exactly as the JobMaster does
 * before it deploys a task; `loadOperatorLists` splits operator lists as a restore does. The
 * details are the same functions applied to one operator's state at a time. So the plan cannot
 * say "restores" for a snapshot the job would refuse, nor the other way round.
 * Reads state files (operator lists), writes nothing. Never imports the CLI.
 * Tests: test/dry-run.test.ts.
 */
import { describeError, isTsflinkError } from '../errors.js'
import type { OperatorId } from '../ids.js'
import type { Storage } from '../storage/storage.js'
import { planReplay, type ReplayTarget } from './channel-state.js'
import type { CheckpointMetadata, OperatorStateEntry } from './metadata.js'
import { loadOperatorLists, planRestore, type RestoreTarget } from './state-assignment.js'

/** An operator of the new program, as the job graph has it. */
export interface PlanOperator extends RestoreTarget {
  uid: string | null
  /** Heads its task (chain): only a head can take in-flight records. */
  isHead: boolean
  keyed: boolean
}

export interface SubtaskAssignment {
  subtask: number
  /** Key groups this new subtask owns, [start, end] inclusive. */
  keyGroups: [number, number]
  /** Old subtasks whose keyed state it reads (their key-group ranges overlap its own). */
  readsKeyedFrom: number[]
  /** Operator list state it gets: state name → number of elements. */
  lists: Record<string, number>
}

export interface PlannedOperator {
  uid: string | null
  operatorId: OperatorId
  name: string
  parallelism: number
  maxParallelism: number
  /** restored: gets state from the snapshot; empty: starts without state; error: its state cannot be mapped. */
  status: 'restored' | 'empty' | 'error'
  /** The snapshot's view of this operator, when it had state there. */
  from?: { name: string; parallelism: number; maxParallelism: number; keyed: boolean; operatorStates: string[] }
  subtasks?: SubtaskAssignment[]
  error?: string
}

export interface UnclaimedState {
  uid: string | null
  operatorId: OperatorId
  name: string
  /** Dropped with --allowNonRestoredState; without it the restore fails. */
  dropped: boolean
}

export interface RestorePlanReport {
  ok: boolean
  /** Why the restore would fail (the restore's own message), when it would. */
  error?: string
  hint?: string
  snapshot: { path: string; jobId: string; jobName: string; checkpointId: number; type: string }
  allowNonRestoredState: boolean
  operators: PlannedOperator[]
  unclaimed: UnclaimedState[]
}

const hasState = (e: OperatorStateEntry): boolean => e.subtasks.some((s) => s.keyed !== undefined || s.operator !== undefined)

function errorText(err: unknown): { error: string; hint?: string } {
  return { error: describeError(err), ...(isTsflinkError(err) && err.hint !== undefined ? { hint: err.hint } : {}) }
}

/** The restore plan of `metadata` (read from `location`) onto the operators of a new program. */
export async function restorePlan(
  location: string, metadata: CheckpointMetadata, operators: readonly PlanOperator[], allowNonRestoredState: boolean, storage: Storage,
): Promise<RestorePlanReport> {
  // The verdict: exactly the checks a real restore makes, in its order.
  let verdict: { error: string; hint?: string } | undefined
  try {
    planRestore(location, metadata, operators, allowNonRestoredState)
    const replayTargets: ReplayTarget[] = operators.map((n) => ({
      operatorId: n.operatorId, name: n.name, parallelism: n.parallelism, maxParallelism: n.maxParallelism, isHead: n.isHead, keyed: n.keyed,
    }))
    planReplay(location, metadata, replayTargets)
  } catch (err) {
    verdict = errorText(err)
  }

  // The details: the same planner, one old operator's state at a time (skipping is allowed here,
  // so that every piece of state is described, not only the first that fails).
  const planned = new Map<OperatorId, PlannedOperator>()
  const unclaimed: UnclaimedState[] = []
  for (const entry of metadata.operators) {
    if (!hasState(entry)) continue
    const target = operators.find((o) => o.operatorId === entry.operatorId)
    const from = {
      name: entry.name, parallelism: entry.parallelism, maxParallelism: entry.maxParallelism,
      keyed: entry.subtasks.some((s) => s.keyed !== undefined),
      operatorStates: [...new Set(entry.subtasks.flatMap((s) => Object.keys(s.operator?.states ?? {})))].sort(),
    }
    let one
    try {
      one = planRestore(location, { ...metadata, operators: [entry] }, operators, true)
    } catch (err) {
      if (target !== undefined) planned.set(target.operatorId, { ...describe(target), status: 'error', from, error: errorText(err).error })
      continue
    }
    if (one.skipped.includes(entry.operatorId)) {
      unclaimed.push({ uid: entry.uid, operatorId: entry.operatorId, name: entry.name, dropped: allowNonRestoredState })
      continue
    }
    const op = one.operators.get(entry.operatorId)
    if (op === undefined || target === undefined) continue
    await loadOperatorLists(op, location, storage)
    const subtasks = op.subtasks.map((st, i): SubtaskAssignment => ({
      subtask: i,
      keyGroups: [st.keyGroupRange.start, st.keyGroupRange.end],
      readsKeyedFrom: st.keyed.map((k) => entry.subtasks.find((s) => s.keyed === k.handle)?.subtask ?? -1).sort((a, b) => a - b),
      lists: Object.fromEntries([...st.lists].map(([name, elements]) => [name, elements.length])),
    }))
    planned.set(target.operatorId, { ...describe(target), status: 'restored', from, subtasks })
  }
  const report: RestorePlanReport = {
    ok: verdict === undefined,
    ...(verdict ?? {}),
    snapshot: { path: location, jobId: metadata.jobId, jobName: metadata.jobName, checkpointId: metadata.checkpointId, type: metadata.kind.type },
    allowNonRestoredState,
    operators: operators.map((o) => planned.get(o.operatorId) ?? { ...describe(o), status: 'empty' }),
    unclaimed,
  }
  return report
}

function describe(o: PlanOperator): Omit<PlannedOperator, 'status'> {
  return { uid: o.uid, operatorId: o.operatorId, name: o.name, parallelism: o.parallelism, maxParallelism: o.maxParallelism }
}
