/**
 * Deleting a local directory tree without ever following a symbolic link, even one swapped in
 * while the deletion runs: the directory is opened component by component with O_NOFOLLOW, checked
 * through its open descriptor, and everything below it is removed through descriptors too
 * (`/proc/self/fd/<fd>/<name>` names an entry of the directory the descriptor holds, whatever
 * the path now points at; Node has no unlinkat). Without /proc (not Linux) it falls back to
 * lstat checks, which leave a window. Tests: test/security.test.ts.
 */
import { constants } from 'node:fs'
import { lstat, open, readdir, readFile, realpath, rmdir, unlink, type FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { existsSync } from 'node:fs'
import { basename, dirname } from 'node:path'

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW

export const canDeleteWithoutFollowing = (): boolean => existsSync('/proc/self/fd')

const via = (fd: FileHandle, name?: string): string => (name === undefined ? `/proc/self/fd/${fd.fd}` : `/proc/self/fd/${fd.fd}/${name}`)

/** Opens an absolute, link-free path one component at a time; a symbolic link anywhere fails (ELOOP/ENOTDIR). */
async function openNoFollow(path: string): Promise<FileHandle> {
  let dir = await open('/', O_DIR)
  try {
    for (const part of path.split('/').filter((p) => p !== '')) {
      const next = await open(via(dir, part), O_DIR)
      await dir.close()
      dir = next
    }
    return dir
  } catch (err) {
    await dir.close().catch(() => {})
    throw err
  }
}

/** Removes everything inside the directory `dir` holds, descending only into real directories. */
async function emptyDir(dir: FileHandle): Promise<void> {
  for (const e of await readdir(via(dir), { withFileTypes: true })) {
    if (e.isDirectory()) {
      let child: FileHandle
      try {
        child = await open(via(dir, e.name), O_DIR)
      } catch (err) {
        // Replaced by a link or file since the listing: remove that entry itself, never its target.
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'ELOOP' || code === 'ENOTDIR') {
          await unlink(via(dir, e.name))
          continue
        }
        if (code === 'ENOENT') continue
        throw err
      }
      try {
        await emptyDir(child)
      } finally {
        await child.close()
      }
      await rmdir(via(dir, e.name))
    } else {
      try {
        await unlink(via(dir, e.name)) // a symbolic link is unlinked, never followed
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }
}

export interface OpenedTree {
  /** The canonical path the tree was opened at (links resolved when the deletion started). */
  readonly path: string
  /** The opened directory's own status (owner, inode): what will be deleted. */
  readonly stat: Stats
  /** Reads a file of the opened directory without following a link. */
  read(name: string): Promise<Buffer>
}

/**
 * Deletes the directory `path` and everything below it. `check` runs on the opened directory
 * before anything is deleted (read `_metadata` through it, say) and may throw to refuse;
 * `first` names a file deleted before the rest (`_metadata`, so an interrupted deletion never
 * leaves something that looks complete). What `check` sees is exactly what is deleted: the
 * directory was reached without links and is held open from the check to the end.
 */
export async function deleteTreeNoFollow(path: string, opts: {
  check?: (tree: OpenedTree) => Promise<void>
  first?: string
} = {}): Promise<void> {
  const real = await realpath(path)
  const parent = await openNoFollow(dirname(real))
  try {
    const name = basename(real)
    const dir = await open(via(parent, name), O_DIR)
    try {
      const st = await dir.stat()
      await opts.check?.({
        path: real,
        stat: st,
        read: async (file) => {
          const fh = await open(via(dir, file), constants.O_RDONLY | constants.O_NOFOLLOW)
          try {
            return await fh.readFile()
          } finally {
            await fh.close()
          }
        },
      })
      if (opts.first !== undefined) {
        try {
          await unlink(via(dir, opts.first))
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        }
      }
      await emptyDir(dir)
      // Remove the directory itself only if its name still holds it (an empty one, by now).
      const now = await lstat(via(parent, name)).catch(() => undefined)
      if (now !== undefined && now.isDirectory() && now.ino === st.ino && now.dev === st.dev) await rmdir(via(parent, name))
    } finally {
      await dir.close()
    }
  } finally {
    await parent.close()
  }
}

/** Without /proc: the same steps on paths, checking each with lstat first (a window remains). */
export async function deleteTreeCarefully(path: string, opts: { check?: (tree: OpenedTree) => Promise<void>; first?: string } = {}): Promise<void> {
  const real = await realpath(path)
  const walk = async (p: string): Promise<void> => {
    for (const e of await readdir(p, { withFileTypes: true })) {
      const child = `${p}/${e.name}`
      const st = await lstat(child)
      if (st.isDirectory()) {
        await walk(child)
        await rmdir(child)
      } else {
        await unlink(child)
      }
    }
  }
  await opts.check?.({ path: real, stat: await lstat(real), read: (file) => readFile(`${real}/${file}`, { flag: constants.O_RDONLY | constants.O_NOFOLLOW }) })
  if (opts.first !== undefined) await unlink(`${real}/${opts.first}`).catch(() => {})
  if (!(await lstat(real)).isDirectory()) throw new Error(`'${path}' is no longer a directory`)
  await walk(real)
  await rmdir(real)
}
