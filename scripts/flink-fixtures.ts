/**
 * Regenerates the golden fixtures of Flink's binary `_metadata` (test/fixtures/flink-<version>/):
 * runs the real Flink of each version (test/servers/flink.ts), submits the Java test job with
 * `bin/flink run -d` in several configurations, takes checkpoints and savepoints, cancels, and
 * keeps every retained `_metadata` with its oracle, `expected.json`:
 *   - what Flink's own deserializer finds in it (test/flink-job MetadataDump: Checkpoints.
 *     loadCheckpointMetadata, then a generic walk over the state objects), never tsflink's reader;
 *   - what is on disk: each referenced file exists with the recorded size (checked here), and the
 *     files of the checkpoint's own folder and of shared/ are listed with their sizes.
 * Not run by `npm test` (it takes minutes). Usage:
 *   node --import tsx scripts/flink-fixtures.ts [version ...]   (default: 1.20.3 2.2.1)
 *   FIXTURES_ONLY=hashmap,unaligned node --import tsx scripts/flink-fixtures.ts   (some scenarios only)
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startFlinkCluster, type FlinkCluster } from '../test/servers/flink.ts'
import { buildTestJob } from '../test/servers/flink-job.ts'

const ROOT = resolve(import.meta.dirname, '..')
const only = process.env['FIXTURES_ONLY']?.split(',')
const versions = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['1.20.3', '2.2.1']

interface DumpFile { path: string; relative: boolean; kind: string; shared: boolean; size?: number; minSize?: number }
interface Dump { checkpointId: number; files: DumpFile[]; [k: string]: unknown }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function localPath(path: string): string {
  return path.startsWith('file:') ? fileURLToPath(path.replace(/^file:\/*/, 'file:///')) : path
}

function listFiles(dir: string): Record<string, number> {
  const out: Record<string, number> = {}
  if (!existsSync(dir)) return out
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p, `${prefix}${name}/`)
      else out[`${prefix}${name}`] = st.size
    }
  }
  walk(dir, '')
  return out
}

function dump(cluster: FlinkCluster, jar: string, dir: string): Dump {
  const r = spawnSync('java', ['-cp', `${jar}:${join(cluster.home, 'lib')}/*`, 'tsflink.testjob.MetadataDump', dir], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`MetadataDump ${dir} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Dump
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(300)
  }
}

interface CheckpointStats { id: number; status: string; persisted_data: number; external_path: string; is_savepoint: boolean }

async function runScenario(cluster: FlinkCluster, jar: string, outDir: string, name: string, options: {
  conf: Record<string, string>
  args: string[]
  checkpoints: number
  /** Wait until a completed checkpoint matches this as well. */
  until?: (c: CheckpointStats) => boolean
  savepoints?: { name: string; args: string[] }[]
}): Promise<void> {
  if (only && !only.includes(name)) return
  console.error(`[${cluster.version}] ${name}`)
  const run = cluster.flink(['run', '-d', ...Object.entries(options.conf).map(([k, v]) => `-D${k}=${v}`), jar, ...options.args])
  const jobId = /JobID ([0-9a-f]{32})/.exec(run.stdout)?.[1]
  if (!jobId) throw new Error(`submit failed: ${run.stdout}\n${run.stderr}`)
  await waitFor(`${options.checkpoints} checkpoints`, async () => {
    const stats = await cluster.rest<{ counts: { completed: number }; history: CheckpointStats[] }>(`/jobs/${jobId}/checkpoints`)
    const ok = stats.counts.completed >= options.checkpoints && (!options.until || stats.history.some((c) => c.status === 'COMPLETED' && options.until!(c)))
    return ok ? true : undefined
  }, 180_000)
  const savepointDirs: [string, string][] = []
  for (const sp of options.savepoints ?? []) {
    const r = cluster.flink(['savepoint', ...sp.args, jobId, `file://${cluster.savepointsDir}/${name}-${sp.name}`])
    const path = /Savepoint completed\. Path: (\S+)/.exec(r.stdout)?.[1]
    if (!path) throw new Error(`savepoint failed: ${r.stdout}\n${r.stderr}`)
    savepointDirs.push([sp.name, localPath(path)])
  }
  const cancel = cluster.flink(['cancel', jobId])
  if (cancel.status !== 0) throw new Error(`cancel failed: ${cancel.stdout}\n${cancel.stderr}`)
  await waitFor('job cancelled', async () => {
    const job = await cluster.rest<{ state: string }>(`/jobs/${jobId}`)
    return job.state === 'CANCELED' ? true : undefined
  })
  await sleep(1000)

  const jobDir = join(cluster.checkpointsDir, jobId)
  const retained = readdirSync(jobDir).filter((d) => /^chk-\d+$/.test(d) && existsSync(join(jobDir, d, '_metadata')))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
  const target = join(outDir, name)
  rmSync(target, { recursive: true, force: true })
  const sharedReferenced = new Set<string>()
  const entries: [string, string][] = [...retained.map((d): [string, string] => [d, join(jobDir, d)]), ...savepointDirs]
  for (const [label, dir] of entries) {
    const oracle = dump(cluster, jar, dir)
    // What is on disk: every referenced file exists with the recorded size.
    for (const f of oracle.files) {
      const p = f.relative ? join(dir, f.path) : localPath(f.path)
      const size = statSync(p).size
      if (f.size !== undefined && size !== f.size) throw new Error(`${p}: ${size} bytes on disk, ${f.size} recorded`)
      if (f.minSize !== undefined && size < f.minSize) throw new Error(`${p}: ${size} bytes on disk, segments end at ${f.minSize}`)
      if (!f.relative && localPath(f.path).startsWith(join(jobDir, 'shared') + '/')) sharedReferenced.add(localPath(f.path).slice(jobDir.length + 1))
    }
    mkdirSync(join(target, label), { recursive: true })
    copyFileSync(join(dir, '_metadata'), join(target, label, '_metadata'))
    writeFileSync(join(target, label, 'expected.json'), JSON.stringify({
      flinkVersion: cluster.version,
      directory: dir,
      flinkDump: oracle,
      onDisk: listFiles(dir),
    }, null, 2) + '\n')
  }
  const sharedOnDisk = Object.fromEntries(Object.entries(listFiles(join(jobDir, 'shared'))).map(([k, v]) => [`shared/${k}`, v]))
  writeFileSync(join(target, 'scenario.json'), JSON.stringify({
    flinkVersion: cluster.version,
    jobId,
    jobDirectory: jobDir,
    configuration: options.conf,
    arguments: options.args,
    retained,
    savepoints: savepointDirs.map(([n, d]) => ({ name: n, directory: d })),
    sharedOnDisk,
    taskownedOnDisk: listFiles(join(jobDir, 'taskowned')),
    sharedNotReferenced: Object.keys(sharedOnDisk).filter((f) => !sharedReferenced.has(f)),
  }, null, 2) + '\n')
}

const base = {
  'execution.checkpointing.externalized-checkpoint-retention': 'RETAIN_ON_CANCELLATION',
  'execution.checkpointing.interval': '700ms',
}
const rocksdb = { ...base, 'state.backend.type': 'rocksdb' }

for (const version of versions) {
  const jar = buildTestJob(version)
  const outDir = join(ROOT, 'test', 'fixtures', `flink-${version}`)
  mkdirSync(outDir, { recursive: true })
  const cluster = await startFlinkCluster({
    version,
    config: { 'execution.checkpointing.num-retained': '3', 'state.checkpoints.num-retained': '3' },
  })
  try {
    await runScenario(cluster, jar, outDir, 'rocksdb-incremental', {
      conf: { ...rocksdb, 'execution.checkpointing.incremental': 'true', 'state.backend.incremental': 'true' },
      args: ['--rate', '3000', '--keys', '20000'],
      checkpoints: 6,
      savepoints: [{ name: 'canonical', args: [] }, { name: 'native', args: ['-type', 'native'] }],
    })
    await runScenario(cluster, jar, outDir, 'rocksdb-full', {
      conf: { ...rocksdb, 'execution.checkpointing.incremental': 'false', 'state.backend.incremental': 'false' },
      args: ['--rate', '2000', '--keys', '5000'],
      checkpoints: 3,
    })
    await runScenario(cluster, jar, outDir, 'hashmap', {
      conf: { ...base, 'state.backend.type': 'hashmap', 'state.storage.fs.memory-threshold': '0' },
      args: ['--rate', '1000', '--keys', '1000'],
      checkpoints: 2,
      savepoints: [{ name: 'canonical', args: [] }],
    })
    await runScenario(cluster, jar, outDir, 'unaligned', {
      conf: {
        ...base, 'state.backend.type': 'hashmap',
        'execution.checkpointing.unaligned.enabled': 'true', 'execution.checkpointing.unaligned': 'true',
        'execution.checkpointing.aligned-checkpoint-timeout': '0',
        'state.storage.fs.memory-threshold': '0',
      },
      args: ['--rate', '20000', '--keys', '100', '--parallelism', '2', '--slow-ms', '1'],
      checkpoints: 2,
      until: (c) => c.persisted_data > 0,
    })
    await runScenario(cluster, jar, outDir, 'file-merging', {
      conf: {
        ...rocksdb, 'execution.checkpointing.incremental': 'true', 'state.backend.incremental': 'true',
        'execution.checkpointing.file-merging.enabled': 'true',
      },
      args: ['--rate', '3000', '--keys', '20000'],
      checkpoints: 4,
    })
  } catch (e) {
    console.error(cluster.logs().split('\n').filter((l) => /ERROR|WARN.*(Exception|fail)/i.test(l)).slice(-30).join('\n'))
    throw e
  } finally {
    await cluster.stop()
  }
}
