/**
 * Picks the Storage for a location: the local filesystem for paths, S3 for s3:// and s3a://,
 * HDFS (through WebHDFS) for hdfs://.
 * The AWS SDK is loaded only when an S3 location is first used, so commands on local paths do not
 * pay for it. Never imports the CLI. Tests: test/security.test.ts, test/integration/s3.test.ts.
 */
import { ConfigError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'
import { FsStorage } from './fs-storage.js'
import { HdfsStorage, hdfsSettingsFrom } from './hdfs-storage.js'
import { isRemote } from './paths.js'
import { s3SettingsFrom, type S3Settings } from './s3-settings.js'
import type { S3Storage } from './s3-storage.js'
import type { Storage, StoredObject } from './storage.js'

const fs = new FsStorage()
const s3Clients = new Map<string, LazyS3Storage>()
const hdfsClients = new Map<string, HdfsStorage>()

/** S3 storage that loads the SDK (and makes its client) on first use. */
class LazyS3Storage implements Storage {
  private real: Promise<S3Storage> | undefined
  constructor(private readonly settings: S3Settings) {}

  private s3(): Promise<S3Storage> {
    this.real ??= import('./s3-storage.js').then((m) => new m.S3Storage(this.settings))
    return this.real
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    return (await this.s3()).write(location, data)
  }
  async writeAtomic(location: string, data: Uint8Array): Promise<void> {
    return (await this.s3()).writeAtomic(location, data)
  }
  async read(location: string): Promise<Buffer> {
    return (await this.s3()).read(location)
  }
  async stat(location: string): Promise<StoredObject | undefined> {
    return (await this.s3()).stat(location)
  }
  async list(prefix: string): Promise<StoredObject[]> {
    return (await this.s3()).list(prefix)
  }
  async delete(location: string): Promise<void> {
    return (await this.s3()).delete(location)
  }
  async deleteTree(prefix: string): Promise<void> {
    return (await this.s3()).deleteTree(prefix)
  }
  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    return (await this.s3()).createExclusive(location, data)
  }
  async listChildren(prefix: string): Promise<string[]> {
    return (await this.s3()).listChildren(prefix)
  }
}

/**
 * The storage for a location: local files, S3 (s3:// and s3a://) configured by the s3.* keys, or
 * HDFS (hdfs://) through the WebHDFS address fs.hdfs.webhdfs.address.
 */
export function storageFor(location: string, config?: Configuration): Storage {
  if (!isRemote(location)) return fs
  const scheme = location.slice(0, location.indexOf(':')).toLowerCase()
  if (scheme === 's3' || scheme === 's3a') {
    const settings = s3SettingsFrom(config)
    const key = JSON.stringify(settings)
    let s = s3Clients.get(key)
    if (s === undefined) s3Clients.set(key, (s = new LazyS3Storage(settings)))
    return s
  }
  if (scheme === 'hdfs') {
    const settings = hdfsSettingsFrom(config)
    const key = JSON.stringify(settings)
    let s = hdfsClients.get(key)
    if (s === undefined) hdfsClients.set(key, (s = new HdfsStorage(settings)))
    return s
  }
  throw new ConfigError(`Unsupported storage location '${location}': tsflink stores checkpoints on the local filesystem, on S3 (s3://bucket/prefix) and on HDFS (hdfs://namenode:port/path)`)
}
