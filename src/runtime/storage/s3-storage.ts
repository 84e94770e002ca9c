/**
 * Storage on S3 and S3-compatible stores (MinIO, local test servers), through @aws-sdk/client-s3.
 * Locations are `s3://bucket/key`.
 *
 * - A PUT is atomic on S3: an object is visible whole or not at all, so `writeAtomic` is a PUT;
 *   `_metadata` is the last object a checkpoint writes.
 * - Objects larger than 8 MiB go up as multipart uploads (aborted if any part fails).
 * - `list` pages through ListObjectsV2; `deleteTree` deletes in batches of up to 1 000 keys.
 * - `createExclusive` (the prune lock) works by claims and a listing, so it holds on stores that
 *   ignore conditional writes too; the final PUT also carries If-None-Match: * where honoured.
 * - Checksums are computed and validated only when the operation requires them
 *   (`requestChecksumCalculation`/`responseChecksumValidation: WHEN_REQUIRED`): servers that do
 *   not understand the SDK's default streaming checksums would otherwise store the chunk framing.
 * Credentials come from s3.access-key/s3.secret-key, else the SDK's default chain; they never
 * appear in messages. Never imports the CLI. Tests: test/storage.test.ts, test/integration/s3.test.ts.
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { StateError } from '../errors.js'
import type { S3Settings } from './s3-settings.js'
import type { Storage, StoredObject } from './storage.js'

export { s3SettingsFrom, type S3Settings } from './s3-settings.js'

const PART_SIZE = 8 * 1024 * 1024
/** Claims older than this (by the store's clock) were left by a crashed claimant and are ignored. */
const CLAIM_TTL_MS = 30_000
const CLAIM_ROUNDS = 8

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

  /**
   * Creates `location` only if it does not exist, on any store with strongly consistent listings
   * (AWS S3 since 2020, MinIO, s3rver), whether or not it honours conditional writes (s3rver
   * ignores If-None-Match on PUT; AWS S3 and MinIO honour it):
   * 1. PUT a claim, `<location>.claim-<random>`, a key nobody else writes;
   * 2. LIST `<location>` and the claims next to it. If the object exists: withdraw, false. If
   *    another claim is there (younger than CLAIM_TTL_MS by the store's clock): withdraw, wait a
   *    random while and try again (two claimants may both withdraw, never both win);
   * 3. otherwise PUT the object (If-None-Match: * where honoured), then delete the claim.
   * Whoever lists after a winner's claim is visible sees it, so two callers never both get true.
   */
  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    const { bucket, key } = parseS3Location(location)
    const claimPrefix = `${key}.claim-`
    for (let round = 0; round < CLAIM_ROUNDS; round++) {
      const claim = `${claimPrefix}${randomBytes(8).toString('hex')}`
      try {
        await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: claim, Body: data, ContentLength: data.length }))
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1000 }))
        const objects = r.Contents ?? []
        const mine = objects.find((o) => o.Key === claim)
        const myTime = mine?.LastModified?.getTime() ?? Date.now()
        if (objects.some((o) => o.Key === key)) {
          await this.deleteKey(bucket, claim)
          return false
        }
        const others = objects.filter((o) => o.Key !== claim && o.Key!.startsWith(claimPrefix))
        const fresh = others.filter((o) => (o.LastModified?.getTime() ?? myTime) > myTime - CLAIM_TTL_MS)
        for (const o of others) if (!fresh.includes(o)) await this.deleteKey(bucket, o.Key!)
        if (fresh.length > 0) {
          await this.deleteKey(bucket, claim)
          await new Promise((ok) => setTimeout(ok, 20 + Math.random() * 100 * (round + 1)))
          continue
        }
        try {
          await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ContentLength: data.length, IfNoneMatch: '*' }))
        } catch (err) {
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
          if (status === 412 || status === 409) {
            await this.deleteKey(bucket, claim)
            return false
          }
          throw err
        }
        await this.deleteKey(bucket, claim)
        return true
      } catch (err) {
        await this.deleteKey(bucket, claim).catch(() => {})
        throw err instanceof StateError ? err : describe(err, `lock ${location}`)
      }
    }
    return false
  }

  private async deleteKey(bucket: string, key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
  }

  /** Names of the "folders" directly below `prefix` (a delimiter listing). */
  async listChildren(prefix: string): Promise<string[]> {
    const { bucket, key } = parseS3Location(prefix)
    const p = key === '' ? '' : `${key}/`
    const out: string[] = []
    let token: string | undefined
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: p, Delimiter: '/', ContinuationToken: token, MaxKeys: 1000 }))
        for (const c of r.CommonPrefixes ?? []) out.push(c.Prefix!.slice(p.length).replace(/\/$/, ''))
        token = r.IsTruncated === true ? r.NextContinuationToken : undefined
      } while (token !== undefined)
    } catch (err) {
      throw describe(err, `listing of ${prefix}`)
    }
    return out
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
