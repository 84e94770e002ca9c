/**
 * Job states, as Flink names them. Pure.
 */
export type JobStatus =
  | 'INITIALIZING' | 'CREATED' | 'RUNNING' | 'FAILING' | 'RESTARTING'
  | 'CANCELLING' | 'CANCELED' | 'FINISHED' | 'FAILED' | 'SUSPENDED'

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['CANCELED', 'FINISHED', 'FAILED', 'SUSPENDED'])

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL.has(s)
}
