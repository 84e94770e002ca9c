/**
 * Local filesystem storage, durable before it answers: `write` fsyncs the file, then its directory
 * (and every directory it had to create, up to the one that existed); `writeAtomic` writes a
 * temporary sibling, fsyncs it, renames it over the target and fsyncs the directory; `delete`
 * fsyncs the directory after the unlink, so a `_metadata` deleted first is gone for good before
 * anything after it is deleted. So when the coordinator writes `_metadata`, every state file it
 * lists is on stable storage, and an OS crash (not only `kill -9`) leaves only checkpoints that
 * are complete or look incomplete.
 *
 * Writes of up to 1 MiB go to the durable writer thread (durable-writer.ts) once it has loaded
 * (until then they are written here, and the first starts it), which does the same steps with
 * synchronous system calls: one message round trip instead of an event-loop turn per step, which
 * a task thread busy with records hands out only between slices (such a write, like the file a
 * snapshot encoder wrote at `durableLocalPath`, answers only once the folders above it that this
 * storage's own writes created are durable: `localWriteDone`). Bigger writes, and
 * every write of a storage given its own Syncer, are done here asynchronously.
 * Fsyncs go through a Syncer (injectable: tests observe the order, the benchmark compares with no
 * fsync); fsyncs of one directory that overlap are coalesced (a caller joins the next fsync that
 * starts after its change, never one already running). The cost is measured by
 * `npm run bench -- fsync`. Tests: test/fs-storage.test.ts, test/storage.test.ts (the contract).
 */
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, open, readFile, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { sharedDurableWriter, type DurableWriter } from './durable-writer.js'
import type { Storage, StoredObject } from './storage.js'

/** Makes writes durable. */
export interface Syncer {
  /** Flushes an open file's data and size to stable storage (fsync). */
  file(path: string, handle: FileHandle): Promise<void>
  /** Flushes a directory's entries: the names created, renamed or removed in it (fsync of the directory). */
  directory(path: string): Promise<void>
}

/** fsync(2) of files and directories. */
export const FSYNC: Syncer = {
  file: (_path, handle) => handle.sync(),
  async directory(path) {
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return // removed meanwhile: nothing to make durable
      throw e
    }
    try {
      await fh.sync()
    } catch (e) {
      // Some platforms and filesystems cannot fsync a directory; their renames are ordered anyway.
      const code = (e as NodeJS.ErrnoException).code
      if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e
    } finally {
      await fh.close()
    }
  },
}

/** No fsync at all: only for measuring what durability costs. Never use it for checkpoints. */
export const NO_SYNC: Syncer = {
  file: async () => {},
  directory: async () => {},
}

export interface FsStorageOptions {
  /** Observes or replaces the fsyncs of asynchronous writes; a storage given one writes everything itself. */
  syncer?: Syncer
  /** Takes writes of at most OFFLOAD_MAX_BYTES (default: the thread's shared writer, unless a syncer is given). */
  writer?: DurableWriter | undefined
}

/**
 * Writes up to this size go to the durable writer thread: their cost is event-loop turns, not bytes.
 * Bigger ones are written here (a copy to another thread would cost more than the turns).
 */
export const OFFLOAD_MAX_BYTES = 1 << 20

export class FsStorage implements Storage {
  private readonly syncer: Syncer
  private readonly writer: DurableWriter | undefined
  /** Per directory: the fsync running, and the one queued to start after it. */
  private readonly dirSyncs = new Map<string, { running: Promise<void>; next: Promise<void> | undefined }>()
  /** Directories created by a write whose entries are not yet durable: later writes below them wait. */
  private readonly creating = new Map<string, Promise<void>>()

  constructor(options: FsStorageOptions = {}) {
    this.syncer = options.syncer ?? FSYNC
    this.writer = 'writer' in options ? options.writer : options.syncer === undefined ? sharedDurableWriter : undefined
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    if (this.offloads(data)) return this.offloaded(location, data, false)
    const dir = dirname(location)
    const { durable: created } = await this.makeDirectory(dir)
    const fh = await open(location, 'w')
    try {
      await fh.writeFile(data)
      await this.syncer.file(location, fh)
    } finally {
      await fh.close()
    }
    await Promise.all([this.syncDirectory(dir), created])
  }

  /**
   * Whether the writer thread takes this write: small enough, and the thread loaded (a write never
   * waits for it to start; the first one starts it and is written here).
   */
  private offloads(data: Uint8Array): boolean {
    const w = this.writer
    if (w === undefined || data.byteLength > OFFLOAD_MAX_BYTES) return false
    if (w.ready) return true
    w.warm()
    return false
  }

  /**
   * A write done by the writer thread. The thread makes durable only the folders it created itself:
   * like a write done here, it answers once the folders above it that another write created are too.
   */
  private async offloaded(location: string, data: Uint8Array, atomic: boolean): Promise<void> {
    await this.writer!.write(location, data, atomic)
    await this.localWriteDone(location)
  }

  durableLocalPath(location: string): string | undefined {
    return this.writer === undefined ? undefined : location
  }

  async localWriteDone(location: string): Promise<void> {
    const waits: Promise<void>[] = []
    for (let d = dirname(location); ; d = dirname(d)) {
      const pending = this.creating.get(d)
      if (pending !== undefined) waits.push(pending)
      if (dirname(d) === d) break
    }
    await Promise.all(waits)
  }

  async writeAtomic(location: string, data: Uint8Array): Promise<void> {
    if (this.offloads(data)) return this.offloaded(location, data, true)
    const dir = dirname(location)
    const { durable: created } = await this.makeDirectory(dir)
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`)
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(data)
      await this.syncer.file(tmp, fh)
    } finally {
      await fh.close()
    }
    await rename(tmp, location)
    await Promise.all([this.syncDirectory(dir), created])
  }

  read(location: string): Promise<Buffer> {
    return readFile(location)
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    try {
      const s = await stat(location)
      return s.isFile() ? { location, size: s.size, mtimeMs: s.mtimeMs } : undefined
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
  }

  /** Every regular file below `prefix`; symbolic links are neither listed nor followed. */
  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = []
    const walk = async (dir: string): Promise<void> => {
      let entries
      try {
        entries = await readdir(dir, { withFileTypes: true })
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        if (code === 'ENOENT' || code === 'ENOTDIR') return
        throw e
      }
      const dirs: string[] = []
      const files: string[] = []
      for (const e of entries) {
        if (e.isDirectory()) dirs.push(join(dir, e.name))
        else if (e.isFile()) files.push(join(dir, e.name))
      }
      for (let i = 0; i < files.length; i += 64) {
        await Promise.all(files.slice(i, i + 64).map(async (p) => {
          const s = await lstat(p).catch(() => undefined)
          if (s !== undefined) out.push({ location: p, size: s.size, mtimeMs: s.mtimeMs })
        }))
      }
      for (let i = 0; i < dirs.length; i += 16) await Promise.all(dirs.slice(i, i + 16).map(walk))
    }
    await walk(prefix)
    return out
  }

  async delete(location: string): Promise<void> {
    try {
      await unlink(location)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      throw e
    }
    await this.syncDirectory(dirname(location))
  }

  async deleteTree(prefix: string): Promise<void> {
    await rm(prefix, { recursive: true, force: true })
  }

  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    const dir = dirname(location)
    const { durable: created } = await this.makeDirectory(dir)
    let fh: FileHandle
    try {
      fh = await open(location, 'wx')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw e
    }
    try {
      await fh.writeFile(data)
      await this.syncer.file(location, fh)
    } finally {
      await fh.close()
    }
    await Promise.all([this.syncDirectory(dir), created])
    return true
  }

  /**
   * Creates `dir` with its missing parents. Resolves once it exists, with `durable` (to await before
   * answering): resolved once the entries of every directory created here, and of any still being
   * made durable by another write, are durable.
   */
  private async makeDirectory(dir: string): Promise<{ durable: Promise<void> }> {
    const first = await mkdir(dir, { recursive: true })
    const waits: Promise<void>[] = []
    if (first !== undefined) {
      // Each created directory's entry lives in its parent: sync from `dir` up to the parent of `first`.
      const syncs: Promise<void>[] = []
      for (let d = dir; ; d = dirname(d)) {
        syncs.push(this.syncDirectory(dirname(d)))
        if (d === first || dirname(d) === d) break
      }
      const durable = Promise.all(syncs).then(() => {})
      for (let d = dir; ; d = dirname(d)) {
        this.creating.set(d, durable)
        if (d === first || dirname(d) === d) break
      }
      void durable.then(() => this.forget(dir, first, durable), () => this.forget(dir, first, durable))
      waits.push(durable)
    }
    // Another write created a directory above us and has not made it durable yet.
    for (let d = dir; ; d = dirname(d)) {
      const pending = this.creating.get(d)
      if (pending !== undefined && !waits.includes(pending)) waits.push(pending)
      if (dirname(d) === d) break
    }
    const durable = Promise.all(waits).then(() => {})
    durable.catch(() => {}) // awaited by the caller, unless its write failed first
    return { durable }
  }

  private forget(dir: string, first: string, durable: Promise<void>): void {
    for (let d = dir; ; d = dirname(d)) {
      if (this.creating.get(d) === durable) this.creating.delete(d)
      if (d === first || dirname(d) === d) break
    }
  }

  /** An fsync of `dir` that starts after this call (joins one queued, never one already running). */
  private syncDirectory(dir: string): Promise<void> {
    const state = this.dirSyncs.get(dir)
    if (state === undefined) return this.startDirectorySync(dir)
    const start = (): Promise<void> => this.startDirectorySync(dir)
    state.next ??= state.running.then(start, start)
    return state.next
  }

  private startDirectorySync(dir: string): Promise<void> {
    const running = this.syncer.directory(dir)
    const state: { running: Promise<void>; next: Promise<void> | undefined } = { running, next: undefined }
    this.dirSyncs.set(dir, state)
    const done = (): void => {
      if (this.dirSyncs.get(dir) === state && state.next === undefined) this.dirSyncs.delete(dir)
    }
    running.then(done, done)
    return running
  }
}
