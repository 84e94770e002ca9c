/**
 * Test helper: runs a shell command on a pseudo-terminal (util-linux `script`), as a user's
 * terminal would: no CI, FORCE_COLOR or NO_COLOR unless given, TERM=xterm-256color, 100x30
 * (`columns: 0` leaves the size unset, as some containers do). Returns the exit code and what
 * the terminal received; redirect stdout inside `command` to tell the streams apart. `opts.seen`
 * receives a function that returns what the terminal has received so far (for marking a moment).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function onPty(command: string, env: Record<string, string> = {}, opts: { columns?: number; seen?: (sofar: () => string) => void } = {}): Promise<{ code: number | null; terminal: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['CI', 'FORCE_COLOR', 'NO_COLOR'].includes(k)))
  const columns = opts.columns ?? 100
  const sized = columns > 0 ? `stty cols ${columns} rows 30; ${command}` : command
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-pty-'))
  try {
    const log = join(dir, 'typescript')
    const received = (): string => {
      try {
        return clean(readFileSync(log, 'utf8'))
      } catch {
        return ''
      }
    }
    opts.seen?.(received)
    const child = spawn('script', ['-qfec', sized, log], { env: { ...base, TERM: 'xterm-256color', ...env }, stdio: 'ignore', timeout: 120_000 })
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', resolve)
    })
    return { code, terminal: received() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** script writes a line before and after the session into its log: drop them. */
function clean(log: string): string {
  return log.split('\n').filter((l) => !/^Script (started|done) on /.test(l)).join('\n')
}
