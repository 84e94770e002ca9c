/**
 * Starts a real S3-protocol server (s3rver) for a test file, on 127.0.0.1, with one bucket.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

export interface S3Server {
  endpoint: string
  bucket: string
  /** -D arguments for the CLI. */
  cliConfig: string[]
  /** Configuration keys for an environment. */
  config: [string, string][]
  stop(): Promise<void>
}

export const S3_ACCESS_KEY = 'S3RVER'
export const S3_SECRET_KEY = 'S3RVER'

export async function startS3(bucket = 'checkpoints'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'tsflink-s3-'))
  const script = resolve(import.meta.dirname, 's3rver.mjs')
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, dir, bucket], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise<string>((ok, fail) => {
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', ok)
    child.once('exit', (code) => fail(new Error(`s3rver exited with ${code}`)))
  })
  const { port } = JSON.parse(line) as { port: number }
  const endpoint = `http://127.0.0.1:${port}`
  const config: [string, string][] = [
    ['s3.endpoint', endpoint], ['s3.access-key', S3_ACCESS_KEY], ['s3.secret-key', S3_SECRET_KEY], ['s3.path.style.access', 'true'], ['s3.region', 'us-east-1'],
  ]
  return {
    endpoint,
    bucket,
    config,
    cliConfig: config.flatMap(([k, v]) => ['-D', `${k}=${v}`]),
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
