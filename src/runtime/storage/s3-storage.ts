/**
 * Storage on S3 and S3-compatible stores (MinIO, local test servers), through @aws-sdk/client-s3.
 * Locations are `s3://bucket/key`.
 *
 * - A PUT is atomic on S3: an object is visible whole or not at all, so `writeAtomic` is a PUT;
 *   `_metadata` is the last object a checkpoint writes.
 * - Objects larger than 8 MiB go up as multipart uploads (aborted if any part fails).
 * - `list` pages through ListObjectsV2; `deleteTree` deletes in batches of up to 1 000 keys.
 * - `createExclusive` uses a conditional PUT (If-None-Match: *), honoured by AWS S3 and MinIO.
 * - Checksums are computed and validated only when the operation requires them
 *   (`requestChecksumCalculation`/`responseChecksumValidation: WHEN_REQUIRED`): servers that do
 *   not understand the SDK's default streaming checksums would otherwise store the chunk framing.
 * Credentials come from s3.access-key/s3.secret-key, else the SDK's default chain; they never
 * appear in messages.
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { StateError } from '../errors.js'
import type { Configuration } from '../config/configuration.js'
import type { Storage, StoredObject } from './storage.js'

const PART_SIZE = 8 * 1024 * 1024

export interface S3Settings {
  endpoint: string | undefined
  region: string
  accessKey: string | undefined
  secretKey: string | undefined
  pathStyle: boolean
  /** Per-request timeout, ms. */
  timeoutMs: number
}

export function s3SettingsFrom(c: Configuration | undefined): S3Settings {
  return {
    endpoint: c?.getString('s3.endpoint'),
    region: c?.getString('s3.region') ?? process.env.AWS_REGION ?? 'us-east-1',
    accessKey: c?.getString('s3.access-key'),
    secretKey: c?.getString('s3.secret-key'),
    pathStyle: c?.getBool('s3.path.style.access') ?? c?.getString('s3.endpoint') !== undefined,
    timeoutMs: 30_000,
  }
}

export function parseS3Location(location: string): { bucket: string; key: string } {
  const m = /^s3a?:\/\/([^/]+)\/?(.*)$/.exec(location)
  if (m === null) throw new StateError(`Not an S3 location: '${location}'`)
  return { bucket: m[1]!, key: m[2]!.replace(/\/+$/, '') }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404
}

/** Turns SDK errors into one line without request details (which could carry credentials). */
function describe(err: unknown, what: string): StateError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode
  const reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timed out' : `${e.name ?? 'error'}${status === undefined ? '' : ` (HTTP ${status})`}`
  const code = (err as { code?: string }).code
  return new StateError(`S3 ${what} failed: ${reason}${code !== undefined && e.name !== code ? ` ${code}` : ''}`, { cause: err })
}

export class S3Storage implements Storage {
  private readonly client: S3Client

  constructor(settings: S3Settings) {
    // The pinned SDK supports Node 20; its notice about future releases is not for our users.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    const config: S3ClientConfig = {
      region: settings.region,
      forcePathStyle: settings.pathStyle,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: settings.timeoutMs, connectionTimeout: Math.min(settings.timeoutMs, 5000) },
      maxAttempts: 3,
    }
    if (settings.endpoint !== undefined) config.endpoint = settings.endpoint
    if (settings.accessKey !== undefined && settings.secretKey !== undefined) {
      config.credentials = { accessKeyId: settings.accessKey, secretAccessKey: settings.secretKey }
    }
    this.client = new S3Client(config)
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    const { bucket, key } = parseS3Location(location)
    try {
      if (data.length <= PART_SIZE) {
        await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentLength: data.length }))
        return
      }
      await this.multipart(bucket, key, data)
    } catch (err) {
      throw err instanceof StateError ? err : describe(err, `upload of ${location}`)
    }
  }

  private async multipart(bucket: string, key: string, data: Uint8Array): Promise<void> {
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))
    try {
      const parts: { ETag: string; PartNumber: number }[] = []
      for (let i = 0, n = 1; i < data.length; i += PART_SIZE, n++) {
        const body = data.subarray(i, Math.min(data.length, i + PART_SIZE))
        const r = await this.client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body, ContentLength: body.length }))
        parts.push({ ETag: r.ETag!, PartNumber: n })
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }))
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => {})
      throw err
    }
  }

  writeAtomic(location: string, data: Uint8Array): Promise<void> {
    return this.write(location, data)
  }

  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    const { bucket, key } = parseS3Location(location)
    try {
      await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, IfNoneMatch: '*' }))
      return true
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status === 412 || status === 409) return false
      throw describe(err, `lock ${location}`)
    }
  }

  async read(location: string): Promise<Buffer> {
    const { bucket, key } = parseS3Location(location)
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      return Buffer.from(await r.Body!.transformToByteArray())
    } catch (err) {
      if (isNotFound(err)) throw Object.assign(new StateError(`No such object: ${location}`), { code: 'ENOENT' })
      throw describe(err, `read of ${location}`)
    }
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    const { bucket, key } = parseS3Location(location)
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
      return { location, size: r.ContentLength ?? 0, mtimeMs: r.LastModified?.getTime() ?? 0 }
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw describe(err, `stat of ${location}`)
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const { bucket, key } = parseS3Location(prefix)
    const p = key === '' ? '' : `${key}/`
    const out: StoredObject[] = []
    let token: string | undefined
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: p, ContinuationToken: token, MaxKeys: 1000 }))
        for (const o of r.Contents ?? []) out.push({ location: `s3://${bucket}/${o.Key!}`, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 })
        token = r.IsTruncated === true ? r.NextContinuationToken : undefined
      } while (token !== undefined)
    } catch (err) {
      throw describe(err, `listing of ${prefix}`)
    }
    return out
  }

  async delete(location: string): Promise<void> {
    const { bucket, key } = parseS3Location(location)
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
    } catch (err) {
      if (!isNotFound(err)) throw describe(err, `delete of ${location}`)
    }
  }

  async deleteTree(prefix: string): Promise<void> {
    const { bucket } = parseS3Location(prefix)
    const objects = await this.list(prefix)
    try {
      for (let i = 0; i < objects.length; i += 1000) {
        const batch = objects.slice(i, i + 1000).map((o) => ({ Key: parseS3Location(o.location).key }))
        await this.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }))
      }
    } catch (err) {
      throw describe(err, `delete of ${prefix}`)
    }
  }
}
