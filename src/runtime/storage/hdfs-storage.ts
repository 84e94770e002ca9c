/**
 * Storage on HDFS through the NameNode's WebHDFS REST API (plain HTTP, no Hadoop client, no JVM).
 * Locations are `hdfs://namenode:port/path`; the requests go to the NameNode's HTTP address
 * (`fs.hdfs.webhdfs.address`, `host:port` or `http(s)://host:port`; default: the location's host
 * on Hadoop 3's default NameNode HTTP port, 9870). The user is HADOOP_USER_NAME, else the OS user
 * (`user.name=`, as Hadoop's simple authentication takes it).
 *
 * - `write` is CREATE (overwrite=true): the NameNode answers with a redirect to a DataNode, which
 *   takes the bytes; the parent folders are created on the way. HDFS shows a file being written
 *   with its length so far, so `write` alone is not atomic.
 * - `writeAtomic` writes a temporary sibling, then RENAME with renameoptions=OVERWRITE (HDFS's
 *   rename2: one NameNode operation that replaces the target), so `_metadata` appears whole or not
 *   at all.
 * - `createExclusive` (locks) is CREATE with overwrite=false: the NameNode creates the file
 *   atomically, so of racing callers exactly one wins; the others get FileAlreadyExists (or
 *   AlreadyBeingCreated while the winner still writes) and false.
 * - `list` pages every folder with LISTSTATUS_BATCH (startAfter), recursively; `deleteTree` is one
 *   recursive DELETE; `delete` of an absent file succeeds.
 * Never imports the CLI; never writes to stdout. Tests: test/storage.test.ts (the contract),
 * test/hdfs.test.ts (checkpoints, kill -9, savepoints moved between HDFS, S3 and files).
 */
import { randomBytes } from 'node:crypto'
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { userInfo } from 'node:os'
import { StateError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'
import type { Storage, StoredObject } from './storage.js'

/** Hadoop 3's default NameNode HTTP port (dfs.namenode.http-address). */
export const DEFAULT_WEBHDFS_PORT = 9870
const TIMEOUT_MS = 30_000
/** Folders listed at once by `list` (each folder's pages are still read one after another). */
const LIST_CONCURRENCY = 8

export interface HdfsSettings {
  /** `http://host:port` of the NameNode's web server, or undefined: the location's host on 9870. */
  webhdfs: string | undefined
  user: string
}

export function hdfsSettingsFrom(c: Configuration | undefined): HdfsSettings {
  const raw = c?.getString('fs.hdfs.webhdfs.address')
  let user = process.env.HADOOP_USER_NAME
  if (user === undefined || user === '') {
    try {
      user = userInfo().username
    } catch {
      user = 'tsflink'
    }
  }
  return { webhdfs: raw === undefined ? undefined : /^https?:\/\//i.test(raw) ? raw.replace(/\/+$/, '') : `http://${raw}`, user }
}

export function parseHdfsLocation(location: string): { authority: string; host: string; path: string } {
  const m = /^hdfs:\/\/([^/]+)(\/.*)?$/i.exec(location)
  if (m === null) throw new StateError(`Not an HDFS location: '${location}' (expected hdfs://namenode:port/path)`)
  const authority = m[1]!
  const path = (m[2] ?? '/').replace(/\/+$/, '') || '/'
  return { authority, host: authority.replace(/:\d+$/, ''), path }
}

interface FileStatus {
  pathSuffix: string
  type: 'FILE' | 'DIRECTORY' | 'SYMLINK'
  length: number
  modificationTime: number
}

/**
 * node:http rather than fetch: DataNodes answer a CREATE with an unsolicited `100 Continue` before
 * the real answer, which fetch (undici) rejects as a bad response; node:http skips it.
 */
const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 16 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 16 }) }

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

function send(method: string, url: string, body?: Uint8Array): Promise<Answer> {
  const u = new URL(url)
  const tls = u.protocol === 'https:'
  return new Promise<Answer>((ok, fail) => {
    const headers: Record<string, string | number> = { 'content-length': body?.length ?? 0 }
    if (body !== undefined) headers['content-type'] = 'application/octet-stream'
    const req = (tls ? httpsRequest : httpRequest)(u, { method, headers, agent: tls ? agents.https : agents.http, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', fail)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })))
    req.on('error', fail)
    req.end(body)
  })
}

/** A WebHDFS error answer: {"RemoteException":{"exception":"FileNotFoundException","message":...}}. */
class WebHdfsError extends Error {
  constructor(readonly status: number, readonly exception: string, message: string) {
    super(message)
  }
}

export class HdfsStorage implements Storage {
  constructor(private readonly settings: HdfsSettings) {}

  private url(location: string, op: string, params: Record<string, string> = {}): string {
    const { host, path } = parseHdfsLocation(location)
    const base = this.settings.webhdfs ?? `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${DEFAULT_WEBHDFS_PORT}`
    const q = new URLSearchParams({ op, 'user.name': this.settings.user, ...params })
    return `${base}/webhdfs/v1${path.split('/').map(encodeURIComponent).join('/')}?${q.toString()}`
  }

  /** One request (a redirect is followed when `follow`); a WebHDFS error answer becomes a WebHdfsError. */
  private async request(method: string, url: string, body?: Uint8Array, follow = true): Promise<Answer> {
    let res = await send(method, url, body)
    if (follow && res.status === 307 && res.headers.location !== undefined) res = await send(method, res.headers.location, body)
    if (res.status >= 400) {
      const text = res.body.toString()
      let exception = 'HTTP'
      let message = `HTTP ${res.status}`
      try {
        const e = (JSON.parse(text) as { RemoteException?: { exception?: string; message?: string } }).RemoteException
        if (e !== undefined) {
          exception = e.exception ?? exception
          message = `${exception}: ${(e.message ?? '').split('\n')[0]}`
        }
      } catch {
        // not JSON: keep the status
      }
      throw new WebHdfsError(res.status, exception, message)
    }
    return res
  }

  private async json<T>(method: string, url: string): Promise<T> {
    return JSON.parse((await this.request(method, url)).body.toString()) as T
  }

  /** CREATE in WebHDFS's two steps: the NameNode names a DataNode (307), the DataNode takes the data. */
  private async create(location: string, data: Uint8Array, overwrite: boolean): Promise<void> {
    const step1 = await this.request('PUT', this.url(location, 'CREATE', { overwrite: String(overwrite) }), undefined, false)
    const target = step1.headers.location
    if (step1.status !== 307 || target === undefined) throw new WebHdfsError(step1.status, 'HTTP', `the NameNode answered CREATE with HTTP ${step1.status} and no DataNode to write to`)
    await this.request('PUT', target, data, false)
  }

  private fail(err: unknown, what: string, location: string): StateError {
    if (err instanceof StateError) return err
    if (err instanceof WebHdfsError) return new StateError(`HDFS ${what} of ${location} failed: ${err.message}`, { cause: err })
    const e = err as { name?: string; code?: string; message?: string }
    const reason = e.name === 'TimeoutError' ? 'timed out' : e.code ?? e.message
    return new StateError(`HDFS ${what} of ${location} failed: ${reason} (WebHDFS at ${this.settings.webhdfs ?? `${parseHdfsLocation(location).host}:${DEFAULT_WEBHDFS_PORT}`}; set fs.hdfs.webhdfs.address)`, { cause: err })
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    try {
      await this.create(location, data, true)
    } catch (err) {
      throw this.fail(err, 'write', location)
    }
  }

  async writeAtomic(location: string, data: Uint8Array): Promise<void> {
    const { authority, path } = parseHdfsLocation(location)
    const slash = path.lastIndexOf('/')
    const tmp = `hdfs://${authority}${path.slice(0, slash)}/.${path.slice(slash + 1)}.tmp-${randomBytes(6).toString('hex')}`
    try {
      await this.create(tmp, data, false)
      // rename2 answers an empty body on success and an error otherwise (the old rename's
      // {"boolean":false} is the answer without renameoptions).
      const r = await this.request('PUT', this.url(tmp, 'RENAME', { destination: path, renameoptions: 'OVERWRITE' }))
      if (r.body.length > 0 && (JSON.parse(r.body.toString()) as { boolean?: boolean }).boolean === false) throw new WebHdfsError(200, 'RENAME', 'the NameNode refused the rename')
    } catch (err) {
      await this.delete(tmp).catch(() => {})
      throw this.fail(err, 'atomic write', location)
    }
  }

  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    try {
      await this.create(location, data, false)
      return true
    } catch (err) {
      if (err instanceof WebHdfsError && /FileAlreadyExists|AlreadyBeingCreated/.test(err.exception + err.message)) return false
      throw this.fail(err, 'exclusive create', location)
    }
  }

  async read(location: string): Promise<Buffer> {
    try {
      return (await this.request('GET', this.url(location, 'OPEN'))).body
    } catch (err) {
      if (err instanceof WebHdfsError && (err.status === 404 || err.exception === 'FileNotFoundException')) {
        throw Object.assign(new StateError(`No such object: ${location}`), { code: 'ENOENT' })
      }
      throw this.fail(err, 'read', location)
    }
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    try {
      const { FileStatus: s } = await this.json<{ FileStatus: FileStatus }>('GET', this.url(location, 'GETFILESTATUS'))
      return s.type === 'FILE' ? { location, size: s.length, mtimeMs: s.modificationTime } : undefined
    } catch (err) {
      if (err instanceof WebHdfsError && err.status === 404) return undefined
      throw this.fail(err, 'stat', location)
    }
  }

  /** The entries of one folder, every page of it; [] when it does not exist or is a file. */
  private async listDir(location: string): Promise<FileStatus[]> {
    const out: FileStatus[] = []
    let startAfter: string | undefined
    for (;;) {
      type Batch = { DirectoryListing: { partialListing: { FileStatuses: { FileStatus: FileStatus[] } }; remainingEntries: number } }
      let batch: Batch
      try {
        batch = await this.json<Batch>('GET', this.url(location, 'LISTSTATUS_BATCH', startAfter === undefined ? {} : { startAfter }))
      } catch (err) {
        if (err instanceof WebHdfsError && err.status === 404) return out
        throw err
      }
      const page = batch.DirectoryListing.partialListing.FileStatuses.FileStatus
      if (page.length === 1 && page[0]!.pathSuffix === '') return [] // a file, not a folder
      out.push(...page)
      if (batch.DirectoryListing.remainingEntries === 0 || page.length === 0) return out
      startAfter = page[page.length - 1]!.pathSuffix
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const root = prefix.replace(/\/+$/, '')
    const out: StoredObject[] = []
    const pending = [root]
    try {
      while (pending.length > 0) {
        const dirs = pending.splice(0, LIST_CONCURRENCY)
        const listings = await Promise.all(dirs.map((d) => this.listDir(d)))
        listings.forEach((entries, i) => {
          for (const e of entries) {
            const loc = `${dirs[i]!}/${e.pathSuffix}`
            if (e.type === 'DIRECTORY') pending.push(loc)
            else out.push({ location: loc, size: e.length, mtimeMs: e.modificationTime })
          }
        })
      }
    } catch (err) {
      throw this.fail(err, 'listing', prefix)
    }
    return out
  }

  /** Names of the folders directly below `prefix`. */
  async listChildren(prefix: string): Promise<string[]> {
    try {
      return (await this.listDir(prefix.replace(/\/+$/, ''))).filter((e) => e.type === 'DIRECTORY').map((e) => e.pathSuffix)
    } catch (err) {
      throw this.fail(err, 'listing', prefix)
    }
  }

  async delete(location: string): Promise<void> {
    try {
      await this.json('DELETE', this.url(location, 'DELETE', { recursive: 'false' }))
    } catch (err) {
      if (err instanceof WebHdfsError && err.status === 404) return
      throw this.fail(err, 'delete', location)
    }
  }

  async deleteTree(prefix: string): Promise<void> {
    try {
      await this.json('DELETE', this.url(prefix, 'DELETE', { recursive: 'true' }))
    } catch (err) {
      if (err instanceof WebHdfsError && err.status === 404) return
      throw this.fail(err, 'delete', prefix)
    }
  }
}
