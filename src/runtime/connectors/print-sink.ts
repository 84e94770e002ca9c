/**
 * print(): each record as a line, prefixed `<subtask+1>> ` when the sink runs with parallelism > 1
 * (as Flink prints). Lines are buffered and written once per turn of the event loop.
 */
import type { Writable } from 'node:stream'
import { AbstractRichFunction } from '../core/functions.js'
import { formatRecord } from './format.js'

export class PrintSinkFunction<T> extends AbstractRichFunction {
  private prefix = ''
  private buffer: string[] = []
  private scheduled = false

  constructor(
    private readonly stream: Writable,
    private readonly identifier = '',
  ) {
    super()
  }

  override open(): void {
    const ctx = this.getRuntimeContext()
    const sub = ctx.getNumberOfParallelSubtasks() > 1 ? `${ctx.getIndexOfThisSubtask() + 1}` : ''
    const id = this.identifier
    this.prefix = id !== '' && sub !== '' ? `${id}:${sub}> ` : id !== '' ? `${id}> ` : sub !== '' ? `${sub}> ` : ''
  }

  invoke(value: T): void {
    this.buffer.push(this.prefix + formatRecord(value))
    if (this.buffer.length >= 4096) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  private flush(): void {
    this.scheduled = false
    if (this.buffer.length === 0) return
    this.stream.write(this.buffer.join('\n') + '\n')
    this.buffer = []
  }

  finish(): void {
    this.flush()
  }

  override close(): void {
    this.flush()
  }
}
