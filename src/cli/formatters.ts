/**
 * Human output of the commands, kept apart from their logic. Every string that comes from a user,
 * a job or a file (job names, paths, error messages) passes through `sanitize` before it reaches a
 * terminal, so a job named with escape sequences cannot rewrite the screen; `--json` output is
 * JSON-escaped instead and never sanitized. Colour only when the terminal takes it and NO_COLOR is
 * not set (https://no-color.org). Tests: test/formatters.test.ts.
 */
import { createRequire } from 'node:module'
import type { ListedCheckpoint } from './services/checkpoints.js'
import type { ListedJob } from './services/job-control.js'
import type { JobResult } from '../runtime/job/job-master.js'

/** Control characters (C0, DEL, C1) and the Unicode bidi controls a terminal would act on. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** A user-controlled string made safe to print on a terminal: controls shown as escapes (`\n`, `\x1b`). */
export function sanitize(s: string): string {
  return s.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n'
    if (c === '\r') return '\\r'
    if (c === '\t') return '\\t'
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** Whether NO_COLOR asks for no colour: set and not empty. */
export function noColor(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NO_COLOR !== undefined && env.NO_COLOR !== ''
}

/**
 * Whether stdout takes colour: FORCE_COLOR (other than 0/false) asks for it, NO_COLOR refuses it,
 * else a terminal that is not 'dumb'. (Plain SGR codes rather than chalk: loading chalk cost
 * every command ~15 ms of start-up for three colours.)
 */
export function colorEnabled(env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): boolean {
  if (noColor(env)) return false
  const force = env.FORCE_COLOR
  if (force !== undefined) return force !== '0' && force !== 'false'
  return isTTY && env.TERM !== 'dumb'
}

const sgr = (open: number) => (s: string): string => (colorEnabled() ? `\u001b[${open}m${s}\u001b[39m` : s)
const COLOR = { green: sgr(32), red: sgr(31), yellow: sgr(33) }

const pad = (n: number): string => String(n).padStart(2, '0')

/** Flink's `dd.MM.yyyy HH:mm:ss`, in local time. */
export function flinkDate(ms: number): string {
  const d = new Date(ms)
  return `${pad(d.getDate())}.${pad(d.getMonth() + 1)}.${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export function jobLine(j: ListedJob): string {
  return `${flinkDate(j.startTime)} : ${sanitize(j.jobId)} : ${sanitize(j.name)} (${sanitize(j.state)})`
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

/** The table of `checkpoints list`. */
export function checkpointTable(rows: ListedCheckpoint[]): string {
  if (rows.length === 0) return 'No checkpoints or savepoints found.'
  // Loaded here, not at import: every command prints through this module, few print tables.
  const Table = createRequire(import.meta.url)('cli-table3') as typeof import('cli-table3')
  const STATUS_COLOR = { valid: COLOR.green, incomplete: COLOR.red, orphan: COLOR.yellow } as const
  const table = new Table({
    head: ['ID', 'Job', 'Kind', 'Completed', 'Size', 'Status', 'Path'],
    style: { head: colorEnabled() ? ['bold'] : [], border: [] },
  })
  for (const r of rows) {
    table.push([
      r.checkpointId ?? '-',
      sanitize(r.jobId ?? '-'),
      `${r.kind}${r.kind === 'checkpoint' ? (r.incremental ? ' (incremental)' : ' (full)') : ''}`,
      sanitize(r.completedAt ?? '-'),
      formatBytes(r.sizeBytes),
      STATUS_COLOR[r.status](r.status),
      sanitize(r.path),
    ])
  }
  return table.toString()
}

/** The lines Flink prints when an attached job ends. */
export function jobEndLines(r: JobResult): string[] {
  const how = r.status === 'FINISHED' ? 'has finished' : r.status === 'CANCELED' ? 'has been cancelled' : `has ${r.status.toLowerCase()}`
  return ['Program execution finished', `Job with JobID ${r.jobId} ${how}.`, `Job Runtime: ${r.netRuntimeMs} ms`]
}
