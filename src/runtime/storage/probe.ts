/**
 * Checks a job's checkpoint and savepoint storage when the job starts, as Flink does when it
 * initializes checkpoint storage, so that a directory that is a file, is not writable or lies on a
 * kernel pseudo filesystem (/proc, /sys, …) fails the start with one line naming the path, instead
 * of failing every checkpoint later. Local directories only: object stores are checked by their
 * first checkpoint (an unreachable S3 fails checkpoints, which the job may tolerate).
 * Creates the checkpoint directory (as Flink does) and asks the kernel whether it may be written
 * (access(2)); it writes no probe file, which a kill -9 could leave behind among job folders.
 * Tests: test/probe.test.ts.
 */
import { constants } from 'node:fs'
import { access, mkdir, stat, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ConfigError } from '../errors.js'
import { FsStorage } from './fs-storage.js'
import type { Storage } from './storage.js'

/** statfs magic numbers of kernel pseudo filesystems, where nothing can be stored. */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'], [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'], [0x73636673, 'securityfs'], [0x1cd1, 'devpts'], [0xcafe4a11, 'bpf'], [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'], [0xde5e81e4, 'efivarfs'], [0x65735543, 'fusectl'], [0x42494e4d, 'binfmt_misc'], [0x19800202, 'mqueue'],
])

export interface StorageToProbe {
  /** What the user calls it, for the message: e.g. `execution.checkpointing.dir`. */
  key: string
  location: string
  /** Create the directory (checkpoints, as Flink does), or only check that it could be (savepoints). */
  create: boolean
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'the filesystem is read-only'
    case 'ENOTDIR':
      return 'a part of its path is a file, not a directory'
    case 'ENOSPC':
      return 'no space left on the device'
    case 'ENOENT':
      return 'it cannot be created there'
    default:
      return e.message
  }
}

async function nearestExisting(path: string): Promise<string> {
  let p = path
  for (;;) {
    try {
      await stat(p)
      return p
    } catch {
      const up = dirname(p)
      if (up === p) return p
      p = up
    }
  }
}

async function probeOne(target: StorageToProbe): Promise<void> {
  const { location, key } = target
  const fail = (why: string): never => {
    throw new ConfigError(`Cannot use '${location}' (${key}) to store checkpoints and savepoints: ${why}`, {
      hint: `Point ${key} at a directory this user can write on a real filesystem.`,
    })
  }
  const existing = await nearestExisting(location)
  const fs = await statfs(existing).catch(() => undefined)
  const pseudo = fs === undefined ? undefined : PSEUDO_FILESYSTEMS.get(Number(fs.type))
  if (pseudo !== undefined) fail(`it is on the kernel's ${pseudo} pseudo filesystem`)
  const st = await stat(existing).catch(() => undefined)
  if (existing === location && st !== undefined && !st.isDirectory()) fail('it is a file, not a directory')
  if (existing !== location && st !== undefined && !st.isDirectory()) fail(`'${existing}' in its path is a file, not a directory`)
  if (!target.create && existing !== location) {
    // Not created now: the nearest existing folder must let us create it later.
    await access(existing, constants.W_OK | constants.X_OK).catch((err: unknown) => fail(`'${existing}' cannot be written: ${reason(err)}`))
    return
  }
  await mkdir(location, { recursive: true }).catch((err: unknown) => fail(`it cannot be created: ${reason(err)}`))
  await access(location, constants.W_OK | constants.X_OK).catch((err: unknown) => fail(`it cannot be written: ${reason(err)}`))
}

/** Probes each local directory; throws a ConfigError naming the first that cannot be used. */
export async function probeStorage(targets: readonly StorageToProbe[], storageFor: (location: string) => Storage): Promise<void> {
  for (const t of targets) {
    if (!(storageFor(t.location) instanceof FsStorage)) continue
    await probeOne(t)
  }
}

/** A job's storage: its checkpoint directory when it checkpoints, and its savepoint directory when one is set. */
export async function probeJobStorage(job: { checkpointsDir: string; savepointsDir: string | undefined; checkpointing: boolean }, storageFor: (location: string) => Storage): Promise<void> {
  const targets: StorageToProbe[] = []
  if (job.checkpointing) targets.push({ key: 'execution.checkpointing.dir', location: job.checkpointsDir, create: true })
  if (job.savepointsDir !== undefined) targets.push({ key: 'execution.checkpointing.savepoint-dir', location: job.savepointsDir, create: false })
  await probeStorage(targets, storageFor)
}
