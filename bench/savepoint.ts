/**
 * Benchmark: a savepoint of a running job holding 1 M keys, timed from starting `tsflink
 * savepoint` to `Savepoint completed`, and a restore of it timed from starting `tsflink run -s` to
 * the first processed record. Baselines measured in the same run: the CLI's own start-up
 * (`tsflink --version`) and writing the same state with v8.serialize + writeFile.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { serialize } from 'node:v8'

const ROOT = resolve(import.meta.dirname, '..')
const CLI = join(ROOT, 'bin', 'run.js')
const JOB = join(ROOT, 'bench', 'jobs', 'million-keys.ts')
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 })

async function waitFor(file: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${file}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

function cli(args: string[], env: NodeJS.ProcessEnv): { ms: number; out: string } {
  const start = performance.now()
  const out = execFileSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
  return { ms: performance.now() - start, out }
}

export async function savepointBench(keys = 1_000_000): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'tsflink-bench-sp-'))
  const env = { TSFLINK_HOME: home }
  try {
    // Baselines: CLI start-up, and the raw cost of writing this much state.
    const startup = Math.min(...[0, 1, 2].map(() => cli(['--version'], env).ms))
    const state = new Map<number, number>()
    for (let i = 0; i < keys; i++) state.set(i, i)
    let t = performance.now()
    writeFileSync(join(home, 'raw.bin'), serialize([...state]))
    const raw = performance.now() - t

    const marker = join(home, 'm1')
    const started = cli(['run', '-d', JOB, marker, String(keys)], env)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.out)![1]!
    await waitFor(`${marker}.loaded`, 120_000)
    const sp = cli(['savepoint', jobId, join(home, 'sp')], env)
    const path = /Path: (.+)/.exec(sp.out)![1]!.trim()
    cli(['cancel', jobId], env)

    const marker2 = join(home, 'm2')
    t = performance.now()
    const child = spawn(process.execPath, [CLI, 'run', '-s', path, JOB, marker2, '0'], { env: { ...process.env, ...env }, stdio: 'ignore' })
    await waitFor(`${marker2}.first`, 60_000)
    const restore = performance.now() - t
    child.kill('SIGINT')
    await new Promise((r) => child.on('exit', r))

    console.log(`savepoint and restore of ${keys.toLocaleString()} keys`)
    console.log(`  baseline: CLI start-up ${fmt(startup)} ms; v8.serialize + writeFile of the state ${fmt(raw)} ms`)
    console.log(`  savepoint, CLI start to 'Savepoint completed': ${fmt(sp.ms)} ms (${fmt(sp.ms / (startup + raw))}x baseline; target <= 3000 ms)`)
    console.log(`  restore, CLI start to first record: ${fmt(restore)} ms (${fmt(restore / (startup + raw))}x baseline; target <= 2000 ms)`)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}
