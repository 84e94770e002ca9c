/**
 * A spinner on stderr, shown only on a terminal and never with --json.
 */
import ora, { type Ora } from 'ora'

export async function withSpinner<T>(text: string, enabled: boolean, work: () => Promise<T>): Promise<T> {
  const spinner: Ora | undefined = enabled && process.stderr.isTTY === true ? ora({ text, stream: process.stderr }).start() : undefined
  try {
    return await work()
  } finally {
    spinner?.stop()
  }
}
