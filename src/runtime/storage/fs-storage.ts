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
      for (const e of entries) {
        const p = join(dir, e.name)
        if (e.isDirectory()) await walk(p)
        else if (e.isFile()) {
          const s = await lstat(p)
          out.push({ location: p, size: s.size, mtimeMs: s.mtimeMs })
        }
      }
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
}
