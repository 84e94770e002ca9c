/**
 * Progress for long waits, on stderr only, and only when stderr is a terminal and the command
 * does not print JSON: a spinner (ora, loaded on first use so short commands do not pay for it).
 * Everywhere else every method does nothing. Results never go through here.
 * Tests: test/integration/cli-progress.test.ts.
 */
import { noColor } from './formatters.js'

export interface Progress {
  /** Replaces the text shown next to the spinner. */
  update(text: string): void
  /** Writes a line to stdout without tearing the spinner (it is cleared, then drawn again below). */
  print(line: string): void
  /** Ends the spinner, leaving nothing on the screen. */
  stop(): void
}

const NONE: Progress = {
  update: () => {},
  print: (line) => {
    process.stdout.write(`${line}\n`)
  },
  stop: () => {},
}

/**
 * A terminal on stderr, no --json, not CI, and a known width: a pseudo-terminal that reports 0
 * columns (some containers, `script` without a size) would make the spinner's line arithmetic
 * divide by zero and redraw forever.
 */
export function progressEnabled(json: boolean): boolean {
  const columns = process.stderr.columns
  return !json && process.stderr.isTTY === true && process.env.CI !== 'true' && typeof columns === 'number' && columns > 0
}

/** Starts a spinner with `text` when progress is enabled; call `stop()` before printing results. */
export async function startProgress(text: string, json: boolean): Promise<Progress> {
  if (!progressEnabled(json)) return json ? { ...NONE, print: () => {} } : NONE
  const { default: ora } = await import('ora')
  const spinner = ora({ text, stream: process.stderr, discardStdin: false, ...(noColor() ? { color: false as const } : {}) }).start()
  let shown = 0
  return {
    update: (t) => {
      spinner.text = t
      // Show a change at once (at most every 50 ms), not only at the spinner's next frame.
      const now = Date.now()
      if (now - shown >= 50) {
        shown = now
        spinner.render()
      }
    },
    print: (line) => {
      const spinning = spinner.isSpinning
      if (spinning) spinner.clear()
      process.stdout.write(`${line}\n`)
      if (spinning) spinner.render()
    },
    stop: () => {
      spinner.stop()
    },
  }
}
