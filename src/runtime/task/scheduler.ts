/**
 * Runs the tasks of a job attempt on the event loop: steps every task round-robin for a slice of
 * time, then yields so that timers, I/O and the asynchronous halves of checkpoints can run; sleeps
 * when no task can make progress until something wakes it. Single-threaded, like Flink's mailbox
 * per task, but one loop for all tasks: no locks, no promise per record.
 */
import type { StreamTask } from './stream-task.js'

const SLICE_MS = 8

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r))

export class Scheduler {
  private stopped = false
  private woken = false
  private sleeper: (() => void) | undefined

  constructor(
    private readonly tasks: readonly StreamTask[],
    private readonly onFailure: (task: StreamTask, error: unknown) => void,
  ) {}

  wake(): void {
    this.woken = true
    const s = this.sleeper
    if (s !== undefined) {
      this.sleeper = undefined
      s()
    }
  }

  stop(): void {
    this.stopped = true
    this.wake()
  }

  async run(): Promise<void> {
    const tasks = this.tasks
    while (!this.stopped) {
      this.woken = false
      const sliceEnd = performance.now() + SLICE_MS
      let progressed: boolean
      do {
        progressed = false
        for (const t of tasks) {
          try {
            if (t.step()) progressed = true
          } catch (err) {
            this.stopped = true
            this.onFailure(t, err)
            return
          }
        }
      } while (progressed && !this.stopped && performance.now() < sliceEnd)
      if (this.stopped) return
      if (progressed || this.woken) await yieldToEventLoop()
      else await new Promise<void>((r) => (this.sleeper = r))
    }
  }
}
