/**
 * Picks the Storage for a location: the local filesystem for paths; `s3://` needs the S3 storage.
 */
import { ConfigError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'
import { FsStorage } from './fs-storage.js'
import { isRemote } from './paths.js'
import type { Storage } from './storage.js'

const fs = new FsStorage()

export function storageFor(location: string, _config?: Configuration): Storage {
  if (!isRemote(location)) return fs
  const scheme = location.slice(0, location.indexOf(':'))
  throw new ConfigError(`Unsupported storage location '${location}': the '${scheme}' scheme is not supported by this version of tsflink`)
}
