/**
 * A durable local file write done with synchronous system calls, for a thread whose only job is
 * I/O (durable-writer.ts): the whole write costs the asking thread one message round trip instead
 * of the eight or so event-loop turns of the same steps done asynchronously, which a task thread
 * busy with records hands out only between its slices.
 *
 * The steps are those of FsStorage's asynchronous write: create the missing folders; write the
 * file (for an atomic write, a temporary sibling) and fsync it; rename it over the target (atomic
 * write); fsync the folder, then the parent of every folder created, up to the one that existed.
 * So a write that returned is on stable storage with its name, and an atomic one leaves either the
 * old file or the new one. The system calls go through `SyncFsOps` so tests can check their order.
 * Tests: test/durable-write.test.ts.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { crc32 } from 'node:zlib'

export interface SyncFsOps {
  /** mkdir -p; the first folder it created, or undefined when `dir` existed. */
  mkdirp(dir: string): string | undefined
  open(path: string, flags: 'w' | 'r'): number
  write(fd: number, data: Uint8Array, offset: number): number
  fsync(fd: number): void
  close(fd: number): void
  rename(from: string, to: string): void
  unlink(path: string): void
}

export const NODE_FS_OPS: SyncFsOps = {
  mkdirp: (dir) => mkdirSync(dir, { recursive: true }),
  open: (path, flags) => openSync(path, flags),
  write: (fd, data, offset) => writeSync(fd, data, offset),
  fsync: (fd) => fsyncSync(fd),
  close: (fd) => closeSync(fd),
  rename: (from, to) => renameSync(from, to),
  unlink: (path) => unlinkSync(path),
}

/** What was written: the size and the CRC-32 of the content (zlib's). */
export interface Written {
  size: number
  crc: number
}

/**
 * Writes `data` to `location` durably; `atomic`: through a temporary sibling renamed over it.
 * `data` may be parts produced as they are written (one part in memory at a time).
 */
export function writeDurablySync(ops: SyncFsOps, location: string, data: Uint8Array | Iterable<Uint8Array>, atomic: boolean): Written {
  const dir = dirname(location)
  const first = ops.mkdirp(dir)
  const target = atomic ? join(dir, `.${randomBytes(6).toString('hex')}.tmp`) : location
  let size = 0
  let crc = 0
  try {
    const fd = ops.open(target, 'w')
    try {
      for (const part of data instanceof Uint8Array ? [data] : data) {
        for (let off = 0; off < part.byteLength;) off += ops.write(fd, part, off)
        size += part.byteLength
        crc = crc32(part, crc)
      }
      ops.fsync(fd)
    } finally {
      ops.close(fd)
    }
    if (atomic) ops.rename(target, location)
  } catch (e) {
    if (atomic) {
      try {
        ops.unlink(target)
      } catch {
        // never created, or already renamed
      }
    }
    throw e
  }
  syncDirectory(ops, dir)
  // Each created folder's entry lives in its parent: from `dir` up to the parent of `first`.
  if (first !== undefined) {
    for (let d = dir; ; d = dirname(d)) {
      syncDirectory(ops, dirname(d))
      if (d === first || dirname(d) === d) break
    }
  }
  return { size, crc }
}

/** fsync of a folder's entries; platforms that cannot fsync a folder order their renames anyway. */
function syncDirectory(ops: SyncFsOps, dir: string): void {
  const fd = ops.open(dir, 'r')
  try {
    ops.fsync(fd)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e
  } finally {
    ops.close(fd)
  }
}
