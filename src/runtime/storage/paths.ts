/**
 * The only module that builds checkpoint and savepoint locations (SPEC §5):
 *   <checkpoints-dir>/<jobId>/chk-<n>/_metadata, <jobId>/shared/, <jobId>/taskowned/
 *   <savepoints-dir>/savepoint-<first 6 hex of jobId>-<12 hex>/_metadata
 * Locations are filesystem paths or s3:// URLs; both join with '/'. Pure; never imports the CLI.
 * Tests: test/storage.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import type { CheckpointId, JobId } from '../ids.js'

export const METADATA_FILE = '_metadata'

export function isRemote(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location)
}

/**
 * Makes a user-given location canonical, the one form every command compares and prints:
 * - `file:/p`, `file://p`, `file:///p` and `file://localhost/p` all mean the local path `/p`
 *   (Flink writes `file:/p`; a `file://` URI's host part other than `localhost` is read as the
 *   path's first folder, which is what `file://tmp/ck` means to the people who write it);
 *   percent-escapes in a `file:` URI are decoded;
 * - local paths are made absolute and normalised: `..`, `.` and repeated `/` are resolved
 *   (lexically: symbolic links are not resolved here);
 * - `s3://bucket/a//b/./c/../d/` becomes `s3://bucket/a/b/d`;
 * - a trailing slash is dropped (except for `/` itself).
 */
export function normalizeLocation(location: string): string {
  let l = location
  const file = /^file:(.*)$/is.exec(l)
  if (file !== null) {
    let rest = file[1]!
    if (rest.startsWith('//')) {
      rest = rest.slice(2)
      if (/^localhost(\/|$)/i.test(rest)) rest = rest.slice('localhost'.length)
      if (!rest.startsWith('/')) rest = `/${rest}`
    }
    try {
      rest = decodeURIComponent(rest)
    } catch {
      // not valid percent-encoding: take it literally
    }
    l = rest === '' ? '.' : rest
  }
  if (isRemote(l)) {
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)(.*)$/i.exec(l)!
    const path = join('/', m[2]!)
    return path === '/' ? m[1]! : `${m[1]!}${path}`
  }
  return resolve(l)
}

/** Joins with '/', resolving '.' and '..' segments (so '../shared/x' works on object stores too). */
export function join(base: string, ...parts: string[]): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)?(.*)$/i.exec(base)!
  const prefix = m[1] ?? ''
  const segments: string[] = []
  for (const seg of [m[2]!, ...parts].join('/').split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') segments.pop()
    else segments.push(seg)
  }
  const absolute = prefix !== '' || base.startsWith('/')
  return `${prefix}${absolute ? '/' : ''}${segments.join('/')}`
}

export function parent(location: string): string {
  const i = location.replace(/\/+$/, '').lastIndexOf('/')
  return i <= 0 ? location : location.slice(0, i)
}

export function basename(location: string): string {
  const l = location.replace(/\/+$/, '')
  return l.slice(l.lastIndexOf('/') + 1)
}

/** `relative(base, location)` for a location inside base, else undefined. */
export function relativeTo(base: string, location: string): string | undefined {
  const b = base.replace(/\/+$/, '') + '/'
  return location.startsWith(b) ? location.slice(b.length) : undefined
}

export function jobCheckpointDir(checkpointsDir: string, jobId: JobId): string {
  return join(checkpointsDir, jobId)
}

export function checkpointDir(checkpointsDir: string, jobId: JobId, id: CheckpointId): string {
  return join(checkpointsDir, jobId, `chk-${id}`)
}

export function sharedDir(checkpointsDir: string, jobId: JobId): string {
  return join(checkpointsDir, jobId, 'shared')
}

export function taskOwnedDir(checkpointsDir: string, jobId: JobId): string {
  return join(checkpointsDir, jobId, 'taskowned')
}

export function newSavepointDir(savepointsDir: string, jobId: JobId): string {
  return join(savepointsDir, `savepoint-${jobId.slice(0, 6)}-${randomBytes(6).toString('hex')}`)
}

export function metadataLocation(dir: string): string {
  return join(dir, METADATA_FILE)
}

/** `chk-<n>` → n, else undefined. */
export function parseCheckpointDirName(name: string): number | undefined {
  const m = /^chk-(\d+)$/.exec(name)
  return m === null ? undefined : Number(m[1])
}

/** A state file name unique within its checkpoint. */
export function stateFileName(kind: string, operatorId: string, subtask: number): string {
  return `${kind}-${operatorId.slice(0, 12)}-${subtask}-${randomBytes(4).toString('hex')}`
}
