/**
 * Human output of `savepoint inspect`, `savepoint diff` and `run --dry-run`: a header and cli-table3 tables. Every
 * name and path from the snapshot passes through `sanitize`. Kept apart from the commands' logic
 * (`--json` prints the reports themselves). Never imports oclif, the commands or services.
 * Tests: test/inspect.test.ts, test/dry-run.test.ts.
 */
import { createRequire } from 'node:module'
import type { InspectReport, InspectedState, OperatorChange, SnapshotDiff, StateChange } from '../runtime/checkpoint/inspect.js'
import type { PlannedOperator, RestorePlanReport } from '../runtime/checkpoint/restore-plan.js'
import { colorEnabled, formatBytes, sanitize } from './formatters.js'

type TableCtor = typeof import('cli-table3')

function table(head: string[]): InstanceType<TableCtor> {
  // Loaded here, not at import: only these commands print these tables.
  const Table = createRequire(import.meta.url)('cli-table3') as TableCtor
  return new Table({ head, style: { head: colorEnabled() ? ['bold'] : [], border: [] } })
}

function kindLine(r: InspectReport): string {
  const k = r.kind
  if (k.type === 'savepoint') return `savepoint${k.format === null ? '' : ` (${k.format})`}`
  return `checkpoint${k.incremental === null ? '' : k.incremental ? ' (incremental)' : ' (full)'}`
}

function count(s: InspectedState): string {
  if (s.keys !== undefined) return `${s.keys} key${s.keys === 1 ? '' : 's'}`
  if (s.elements !== undefined) return `${s.elements} element${s.elements === 1 ? '' : 's'}`
  return '-'
}

/** `savepoint inspect`: the snapshot's facts, a table of operators and their states, a table of files. */
export function inspectText(r: InspectReport): string {
  const lines = [
    `Path:          ${sanitize(r.path)}`,
    `Job:           ${r.jobId ?? '-'}${r.jobName === null ? '' : ` (${sanitize(r.jobName)})`}`,
    `Checkpoint:    ${r.checkpointId}`,
    `Kind:          ${kindLine(r)}`,
    `Triggered:     ${r.triggeredAt ?? '-'}`,
    `Completed:     ${r.completedAt ?? '-'}`,
    `Format:        ${r.format === 'tsflink' ? 'tsflink' : 'Apache Flink'} _metadata version ${r.formatVersion}`,
    ...(r.backend === null ? [] : [`State backend: ${r.backend}`]),
    `Size:          ${formatBytes(r.totalBytes)} in ${r.files.length} file${r.files.length === 1 ? '' : 's'}`,
    '',
  ]
  const ops = table(['Operator (uid)', 'Hashed id', 'Name', 'Parallelism', 'Max parallelism', 'State', 'Kind', 'Keys', 'Bytes'])
  for (const o of r.operators) {
    const head = [sanitize(o.uid ?? '-'), o.operatorId, sanitize(o.name ?? '-'), String(o.parallelism), String(o.maxParallelism)]
    const states = o.states.length === 0 ? [undefined] : o.states
    states.forEach((s, i) => {
      const left = i === 0 ? head : ['', '', '', '', '']
      ops.push(s === undefined ? [...left, '(no state)', '', '', ''] : [...left, sanitize(s.name), s.kind, count(s), formatBytes(s.bytes)])
    })
    if (o.timers > 0) ops.push(['', '', '', '', '', '(timers)', 'timers', `${o.timers} timers`, ''])
  }
  lines.push(ops.toString(), '')
  const files = table(['Operator (uid)', 'File', 'Size'])
  for (const o of r.operators) for (const f of o.files) files.push([sanitize(o.uid ?? o.operatorId), sanitize(f.path), formatBytes(f.size)])
  lines.push(files.length === 0 ? 'No state files.' : files.toString())
  return lines.join('\n')
}

function stateLine(s: StateChange): string | undefined {
  const keys = (b: number | undefined, a: number | undefined, unit: string): string | undefined =>
    b === a ? undefined : `${unit} ${b ?? '-'} → ${a ?? '-'}`
  if (s.change === 'added') return `state '${sanitize(s.name)}' added (${s.kind}${s.keysAfter === undefined ? '' : `, ${s.keysAfter} keys`}${s.elementsAfter === undefined ? '' : `, ${s.elementsAfter} elements`})`
  if (s.change === 'removed') return `state '${sanitize(s.name)}' removed (${s.kind}${s.keysBefore === undefined ? '' : `, ${s.keysBefore} keys`}${s.elementsBefore === undefined ? '' : `, ${s.elementsBefore} elements`})`
  if (s.change === 'same') return undefined
  const parts = [keys(s.keysBefore, s.keysAfter, 'keys'), keys(s.elementsBefore, s.elementsAfter, 'elements'),
    s.bytesBefore === s.bytesAfter ? undefined : `bytes ${formatBytes(s.bytesBefore ?? 0)} → ${formatBytes(s.bytesAfter ?? 0)}`].filter((p) => p !== undefined)
  return `state '${sanitize(s.name)}' ${parts.join(', ')}`
}

function details(o: OperatorChange): string[] {
  const out: string[] = []
  if (o.renamed) out.push(`renamed '${sanitize(o.nameBefore ?? '-')}' → '${sanitize(o.nameAfter ?? '-')}'`)
  if (o.parallelism !== undefined) out.push(`parallelism ${o.parallelism.before} → ${o.parallelism.after}`)
  if (o.maxParallelism !== undefined) out.push(`max parallelism ${o.maxParallelism.before} → ${o.maxParallelism.after}`)
  for (const s of o.states) {
    const l = stateLine(s)
    if (l !== undefined) out.push(l)
  }
  if (o.change === 'changed' && o.bytesBefore !== o.bytesAfter) out.push(`files ${formatBytes(o.bytesBefore ?? 0)} → ${formatBytes(o.bytesAfter ?? 0)}`)
  return out
}

/** `savepoint diff`: one row per operator (by uid), what changed. */
export function diffText(d: SnapshotDiff): string {
  const t = table(['Operator (uid)', 'Change', 'Details'])
  for (const o of d.operators) t.push([sanitize(o.uid ?? o.operatorId), o.change, details(o).join('\n')])
  return [
    `a: ${sanitize(d.a.path)} (checkpoint ${d.a.checkpointId})`,
    `b: ${sanitize(d.b.path)} (checkpoint ${d.b.checkpointId})`,
    t.toString(),
    d.changed ? `Total: ${formatBytes(d.totalBytes.before)} → ${formatBytes(d.totalBytes.after)}` : 'No differences in operators or state.',
  ].join('\n')
}

function ranges(p: PlannedOperator): string[] {
  const out: string[] = []
  for (const st of p.subtasks ?? []) {
    const lists = Object.entries(st.lists).map(([n, c]) => `${sanitize(n)}: ${c} element${c === 1 ? '' : 's'}`)
    const keyed = p.from?.keyed === true ? `key groups ${st.keyGroups[0]}-${st.keyGroups[1]} ← old subtask${st.readsKeyedFrom.length === 1 ? '' : 's'} ${st.readsKeyedFrom.join(', ') || '-'}` : undefined
    out.push(`subtask ${st.subtask}: ${[keyed, ...lists].filter((x) => x !== undefined).join('; ')}`)
  }
  return out
}

/** `run --dry-run`: the restore plan as a table, the state without an operator, the verdict. */
export function restorePlanText(plan: RestorePlanReport & { jobName?: string }): string {
  const s = plan.snapshot
  const t = table(['Operator (uid)', 'Hashed id', 'Parallelism', 'Max parallelism', 'Restore', 'Subtasks'])
  for (const o of plan.operators) {
    const par = o.from === undefined || o.from.parallelism === o.parallelism ? String(o.parallelism) : `${o.from.parallelism} → ${o.parallelism}`
    const maxPar = o.from === undefined || o.from.maxParallelism === o.maxParallelism ? String(o.maxParallelism) : `${o.from.maxParallelism} → ${o.maxParallelism}`
    const what = o.status === 'restored'
      ? `restored (${[o.from?.keyed === true ? 'keyed state' : undefined, ...(o.from?.operatorStates ?? []).map((n) => `list '${sanitize(n)}'`)].filter((x) => x !== undefined).join(', ')})`
      : o.status === 'empty' ? 'starts empty' : 'ERROR (below)'
    t.push([sanitize(o.uid ?? '-'), o.operatorId, par, maxPar, what, ranges(o).join('\n')])
  }
  const lines = [
    `Restore plan: ${s.type} ${s.checkpointId} of job ${s.jobId} (${sanitize(s.jobName)}) at ${sanitize(s.path)}`,
    t.toString(),
  ]
  for (const o of plan.operators) if (o.status === 'error') lines.push(`Operator ${sanitize(o.uid === null ? o.operatorId : `uid '${o.uid}'`)}: ${sanitize(o.error ?? '')}`)
  if (plan.unclaimed.length > 0) {
    lines.push('State without an operator in the new program:')
    for (const u of plan.unclaimed) {
      lines.push(`  ${u.uid === null ? `operator ${u.operatorId}` : `uid '${sanitize(u.uid)}' (${u.operatorId})`} '${sanitize(u.name)}': ${u.dropped ? 'dropped (--allowNonRestoredState)' : 'no operator takes it (an error without -n/--allowNonRestoredState)'}`)
    }
  }
  lines.push(plan.ok ? 'The restore would succeed.' : 'The restore would FAIL (reason on stderr).')
  return lines.join('\n')
}
