/**
 * Local filesystem storage. Atomic writes go to a temporary sibling, are fsynced, then renamed.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, lstat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Storage, StoredObject } from './storage.js'

export class FsStorage implements Storage {
  async write(location: string, data: Uint8Array): Promise<void> {
    await mkdir(dirname(location), { recursive: true })
    const fh = await open(location, 'w')
    try {
      await fh.writeFile(data)
    } finally {
      await fh.close()
    }
  }

  async writeAtomic(location: string, data: Uint8Array): Promise<void> {
    await mkdir(dirname(location), { recursive: true })
    const tmp = join(dirname(location), `.${randomBytes(6).toString('hex')}.tmp`)
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, location)
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
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
    }
  }

  async deleteTree(prefix: string): Promise<void> {
    await rm(prefix, { recursive: true, force: true })
  }

  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    await mkdir(dirname(location), { recursive: true })
    try {
      const fh = await open(location, 'wx')
      try {
        await fh.writeFile(data)
      } finally {
        await fh.close()
      }
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw e
    }
  }
}
