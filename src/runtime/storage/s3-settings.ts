/**
 * The S3 settings a configuration gives (s3.endpoint, s3.region, s3.access-key, s3.secret-key,
 * s3.path.style.access), apart from s3-storage.ts so that reading them does not load the AWS SDK.
 * Pure; never imports the CLI. Tests: test/storage.test.ts, test/integration/s3.test.ts.
 */
import type { Configuration } from '../config/configuration.js'

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
