/**
 * Human output of the job-control commands, kept apart from their logic.
 */
import type { ListedJob } from './services/job-control.js'

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
