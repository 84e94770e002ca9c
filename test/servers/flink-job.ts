/**
 * Builds the Java test job (test/flink-job: a keyed counter with ValueState, uids on every
 * operator) with Maven, once per Flink version and content: the jar is cached under
 * .cache/flink-job/<hash>/. Offline first (`mvn -o`), online only when the local Maven
 * repository lacks something. Used by test/integration/flink-cluster.test.ts and
 * scripts/flink-fixtures.ts.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..', '..')
const SOURCES = join(ROOT, 'test', 'flink-job')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (name === 'target') return []
    return statSync(path).isDirectory() ? files(path) : [path]
  }).sort()
}

/** Path of the job jar compiled against Flink `version` (building it if needed). */
export function buildTestJob(version: string): string {
  const hash = createHash('sha256').update(version)
  for (const f of files(SOURCES)) hash.update(relative(SOURCES, f)).update(readFileSync(f))
  const out = join(ROOT, '.cache', 'flink-job', hash.digest('hex').slice(0, 16))
  const jar = join(out, 'tsflink-test-job.jar')
  if (existsSync(jar)) return jar
  const work = `${out}.build-${process.pid}`
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  cpSync(SOURCES, work, { recursive: true, filter: (src) => !src.includes(`${SOURCES}/target`) })
  const mvn = (offline: boolean): ReturnType<typeof spawnSync> =>
    spawnSync('mvn', ['-q', '-B', ...(offline ? ['-o'] : []), `-Dflink.version=${version}`, 'package'], { cwd: work, encoding: 'utf8' })
  let result = mvn(true)
  if (result.status !== 0) result = mvn(false)
  if (result.status !== 0) {
    rmSync(work, { recursive: true, force: true })
    throw new Error(`building test/flink-job for Flink ${version} failed (mvn exit ${result.status}):\n${String(result.stdout)}${String(result.stderr)}`)
  }
  mkdirSync(out, { recursive: true })
  renameSync(join(work, 'target', 'tsflink-test-job.jar'), jar)
  rmSync(work, { recursive: true, force: true })
  return jar
}
