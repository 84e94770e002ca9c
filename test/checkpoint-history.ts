/**
 * Test helper: writes synthetic checkpoint histories to disk, as an incremental state backend
 * would: each checkpoint has private files and references files in <job>/shared/, and
 * compactions replace shared files with new ones.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checksumOf, serializeMetadata, type CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'

export interface WrittenCheckpoint {
  path: string
  id: number
  /** Absolute path → sha256 of every file it references. */
  files: Map<string, string>
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

export class HistoryWriter {
  private live: string[] = []
  private nextFile = 0
  readonly checkpoints: WrittenCheckpoint[] = []

  constructor(
    readonly root: string,
    readonly jobId: string,
    private readonly rnd: (n: number) => number = (n) => Math.floor(Math.random() * n),
  ) {
    mkdirSync(join(root, jobId, 'shared'), { recursive: true })
  }

  private newShared(): string {
    const name = `sst-${this.nextFile++}`
    writeFileSync(join(this.root, this.jobId, 'shared', name), `shared ${name} ${'x'.repeat(this.rnd(200))}`)
    return name
  }

  /** One incremental checkpoint: some new shared files, maybe a compaction, one private file. */
  /** `checksums`: record each file's content checksum in `_metadata`, as format v2 does; without, the history is written in format v1. */
  checkpoint(id: number, completedAt: Date, opts: { compact?: boolean; withMetadata?: boolean; checksums?: boolean } = {}): WrittenCheckpoint {
    for (let i = 0, n = 1 + this.rnd(2); i < n; i++) this.live.push(this.newShared())
    if (opts.compact === true && this.live.length > 2) {
      const k = 2 + this.rnd(this.live.length - 1)
      this.live = [...this.live.slice(k), this.newShared()]
    }
    const dir = join(this.root, this.jobId, `chk-${id}`)
    mkdirSync(dir, { recursive: true })
    const priv = `private-${id}`
    writeFileSync(join(dir, priv), `private state of ${id}`)
    const refs = [priv, ...this.live.map((n) => `../shared/${n}`)]
    const files = new Map<string, string>()
    const fileRefs = refs.map((r) => {
      const abs = join(dir, r)
      const data = readFileSync(abs)
      files.set(abs, sha(data))
      return opts.checksums === true ? { path: r, size: data.length, checksum: checksumOf(data) } : { path: r, size: data.length }
    })
    const meta: CheckpointMetadata = {
      jobId: this.jobId as never, jobName: 'history', checkpointId: id as never, timestamp: completedAt.getTime() - 10,
      completedAt: completedAt.toISOString(), kind: { type: 'checkpoint', incremental: true, format: 'native' }, backend: 'rocksdb',
      program: null, operators: [], files: fileRefs,
    }
    if (opts.withMetadata !== false) writeFileSync(join(dir, '_metadata'), serializeMetadata(meta, opts.checksums === true ? undefined : 1))
    const c = { path: dir, id, files }
    this.checkpoints.push(c)
    return c
  }
}

/** Whether every file of the checkpoint is there, byte-identical. */
export function restoresIdentically(c: WrittenCheckpoint): boolean {
  for (const [p, hash] of c.files) {
    try {
      if (sha(readFileSync(p)) !== hash) return false
    } catch {
      return false
    }
  }
  return true
}
