/**
 * Human output of the job-control commands, kept apart from their logic.
 */
import chalk from 'chalk'
import Table from 'cli-table3'
import type { ListedCheckpoint } from './services/checkpoints.js'
import type { ListedJob } from './services/job-control.js'
import type { JobResult } from '../runtime/job/job-master.js'

const pad = (n: number): string => String(n).padStart(2, '0')

/** Flink's `dd.MM.yyyy HH:mm:ss`, in local time. */
export function flinkDate(ms: number): string {
  const d = new Date(ms)
  return `${pad(d.getDate())}.${pad(d.getMonth() + 1)}.${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export function jobLine(j: ListedJob): string {
  return `${flinkDate(j.startTime)} : ${j.jobId} : ${j.name} (${j.state})`
}

const SCHEDULED = new Set(['CREATED', 'INITIALIZING'])
const TERMINAL = new Set(['FINISHED', 'CANCELED', 'FAILED', 'SUSPENDED'])

/** The lines of `flink list`: running/restarting, scheduled, and (with -a) terminated jobs. */
export function listLines(jobs: ListedJob[], show: { running: boolean; scheduled: boolean; terminated: boolean }): string[] {
  const out: string[] = []
  const running = jobs.filter((j) => !SCHEDULED.has(j.state) && !TERMINAL.has(j.state))
  const scheduled = jobs.filter((j) => SCHEDULED.has(j.state))
  const terminated = jobs.filter((j) => TERMINAL.has(j.state))
  if (show.running) {
    if (running.length === 0) out.push('No running jobs.')
    else out.push('------------------ Running/Restarting Jobs -------------------', ...running.map(jobLine), '--------------------------------------------------------------')
  }
  if (show.scheduled) {
    if (scheduled.length === 0) out.push('No scheduled jobs.')
    else out.push('----------------------- Scheduled Jobs -----------------------', ...scheduled.map(jobLine), '--------------------------------------------------------------')
  }
  if (show.terminated && terminated.length > 0) {
    out.push('---------------------- Terminated Jobs -----------------------', ...terminated.map(jobLine), '--------------------------------------------------------------')
  }
  return out
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(1)} ${units[i]}`
}

const STATUS_COLOR = { valid: chalk.green, incomplete: chalk.red, orphan: chalk.yellow } as const

/** The table of `checkpoints list`. */
export function checkpointTable(rows: ListedCheckpoint[]): string {
  if (rows.length === 0) return 'No checkpoints or savepoints found.'
  const table = new Table({
    head: ['ID', 'Job', 'Kind', 'Completed', 'Size', 'Status', 'Path'],
    style: { head: chalk.level > 0 ? ['bold'] : [], border: [] },
  })
  for (const r of rows) {
    table.push([
      r.checkpointId ?? '-',
      r.jobId ?? '-',
      `${r.kind}${r.kind === 'checkpoint' ? (r.incremental ? ' (incremental)' : ' (full)') : ''}`,
      r.completedAt ?? '-',
      formatBytes(r.sizeBytes),
      STATUS_COLOR[r.status](r.status),
      r.path,
    ])
  }
  return table.toString()
}

/** The lines Flink prints when an attached job ends. */
export function jobEndLines(r: JobResult): string[] {
  const how = r.status === 'FINISHED' ? 'has finished' : r.status === 'CANCELED' ? 'has been cancelled' : `has ${r.status.toLowerCase()}`
  return ['Program execution finished', `Job with JobID ${r.jobId} ${how}.`, `Job Runtime: ${r.netRuntimeMs} ms`]
}
