/**
 * Progress for long waits, on stderr only, and only when stderr is a terminal and the command
 * does not print JSON: a spinner (ora, loaded on first use so short commands do not pay for it).
 * Everywhere else every method does nothing. Results never go through here.
 */

export interface Progress {
  /** Replaces the text shown next to the spinner. */
  update(text: string): void
  /** Ends the spinner, leaving nothing on the screen. */
  stop(): void
}

const NONE: Progress = { update: () => {}, stop: () => {} }

export function progressEnabled(json: boolean): boolean {
  return !json && process.stderr.isTTY === true && process.env.CI !== 'true'
}

/** Starts a spinner with `text` when progress is enabled; call `stop()` before printing results. */
export async function startProgress(text: string, json: boolean): Promise<Progress> {
  if (!progressEnabled(json)) return NONE
  const { default: ora } = await import('ora')
  const spinner = ora({ text, stream: process.stderr, discardStdin: false }).start()
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
    stop: () => {
      spinner.stop()
    },
  }
}
