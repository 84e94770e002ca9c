/**
 * A bounded source of text lines from a file or from every file of a directory (Flink's FileSource
 * with TextLineInputFormat). A split is one file and the byte offset of its next line, so a
 * restored job resumes at the first line it had not yet checkpointed.
 */
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { InputStatus, ReaderOutput, Source, SourceReader } from './source.js'

export interface FileSplit {
  path: string
  offset: number
}

const CHUNK = 1 << 16

export class FileSource implements Source<string, FileSplit> {
  readonly boundedness = 'BOUNDED' as const
  private readonly path: string

  private constructor(path: string) {
    this.path = resolve(path)
  }

  /** Lines of the file at `path`, or of every file in the directory `path` (sorted by name). */
  static forLines(path: string): FileSource {
    return new FileSource(path)
  }

  createSplits(): FileSplit[] {
    let st
    try {
      st = statSync(this.path)
    } catch {
      throw new Error(`File source: '${this.path}' does not exist`)
    }
    if (st.isFile()) return [{ path: this.path, offset: 0 }]
    return readdirSync(this.path)
      .filter((n) => !n.startsWith('.') && statSync(join(this.path, n)).isFile())
      .sort()
      .map((n) => ({ path: join(this.path, n), offset: 0 }))
  }

  createReader(): SourceReader<string, FileSplit> {
    return new LineReader()
  }
}

class LineReader implements SourceReader<string, FileSplit> {
  private splits: FileSplit[] = []
  private fd: number | undefined
  /** Bytes read from the current file but not yet emitted as lines. */
  private pending = Buffer.alloc(0)
  private readPos = 0
  private eof = false

  addSplits(splits: FileSplit[]): void {
    this.splits.push(...splits.map((s) => ({ ...s })))
  }

  pollNext(output: ReaderOutput<string>, max: number): InputStatus {
    let emitted = 0
    while (emitted < max) {
      const split = this.splits[0]
      if (split === undefined) return 'END_OF_INPUT'
      if (this.fd === undefined) {
        this.fd = openSync(split.path, 'r')
        this.readPos = split.offset
        this.pending = Buffer.alloc(0)
        this.eof = false
      }
      const nl = this.pending.indexOf(10)
      if (nl >= 0) {
        let line = this.pending.subarray(0, nl)
        if (line.length > 0 && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1)
        this.pending = this.pending.subarray(nl + 1)
        split.offset += nl + 1
        output.collect(line.toString('utf8'))
        emitted++
        continue
      }
      if (!this.eof) {
        const buf = Buffer.allocUnsafe(CHUNK)
        const n = readSync(this.fd, buf, 0, CHUNK, this.readPos)
        if (n === 0) this.eof = true
        this.readPos += n
        this.pending = Buffer.concat([this.pending, buf.subarray(0, n)])
        continue
      }
      if (this.pending.length > 0) {
        const line = this.pending.toString('utf8')
        split.offset += this.pending.length
        this.pending = Buffer.alloc(0)
        output.collect(line)
        emitted++
      }
      closeSync(this.fd)
      this.fd = undefined
      this.splits.shift()
    }
    return this.splits.length === 0 ? 'END_OF_INPUT' : 'MORE_AVAILABLE'
  }

  isAvailable(): Promise<void> {
    return Promise.resolve()
  }

  snapshotState(): FileSplit[] {
    return this.splits.map((s) => ({ ...s }))
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}
