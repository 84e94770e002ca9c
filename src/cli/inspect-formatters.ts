/**
 * Human output of `savepoint inspect` and `savepoint diff`: a header and cli-table3 tables. Every
 * name and path from the snapshot passes through `sanitize`. Kept apart from the commands' logic
 * (`--json` prints the reports themselves). Tests: test/inspect.test.ts.
 */
import { createRequire } from 'node:module'
import type { InspectReport, InspectedState, OperatorChange, SnapshotDiff, StateChange } from '../runtime/checkpoint/inspect.js'
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
  if (s.keys !== undefined) return `${s.keys} keys`
  if (s.elements !== undefined) return `${s.elements} elements`
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
