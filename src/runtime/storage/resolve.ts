/**
 * Picks the Storage for a location: the local filesystem for paths; `s3://` needs the S3 storage.
 */
import { ConfigError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'
import { FsStorage } from './fs-storage.js'
import { isRemote } from './paths.js'
import type { Storage } from './storage.js'
import { S3Storage, s3SettingsFrom } from './s3-storage.js'

const fs = new FsStorage()
const s3Clients = new Map<string, S3Storage>()

/** The storage for a location: local files, or S3 (s3:// and s3a://) configured by the s3.* keys. */
export function storageFor(location: string, config?: Configuration): Storage {
  if (!isRemote(location)) return fs
  const scheme = location.slice(0, location.indexOf(':')).toLowerCase()
  if (scheme === 's3' || scheme === 's3a') {
    const settings = s3SettingsFrom(config)
    const key = JSON.stringify(settings)
    let s = s3Clients.get(key)
    if (s === undefined) s3Clients.set(key, (s = new S3Storage(settings)))
    return s
  }
  throw new ConfigError(`Unsupported storage location '${location}': tsflink stores checkpoints on the local filesystem and on S3 (s3://bucket/prefix)`)
}
