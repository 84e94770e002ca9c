/**
 * A state file overwritten with random bytes of the same size: `run -s` from that checkpoint fails
 * with one error naming the file, and commits no output; the intact checkpoint restores.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseMetadata } from '../../src/runtime/checkpoint/metadata.js'
import { CLI, ROOT, committedLines, runCli, sleep, tmp } from '../helpers.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')

describe('content checksums of state files', () => {
  it('run -s over a corrupt state file fails naming it and commits nothing; the intact one resumes exactly', async () => {
    const home = tmp()
    const cp = join(home, 'cp')
    const out = join(home, 'out')
    const total = 20_000
    const env = { ...process.env, TSFLINK_HOME: home }
    const child = spawn(process.execPath, [CLI, 'run', '-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`,
      COUNTER, out, String(total), '5000'], { env, stdio: 'ignore' })
    const exited = new Promise((r) => child.on('exit', r))
    const completed = (): string[] => existsSync(cp)
      ? readdirSync(cp).flatMap((j) => readdirSync(join(cp, j)).filter((c) => existsSync(join(cp, j, c, '_metadata'))).map((c) => join(cp, j, c)))
      : []
    for (let i = 0; i < 400 && completed().length === 0; i++) await sleep(25)
    await sleep(300)
    child.kill('SIGKILL')
    await exited
    const chk = completed().sort((a, b) => Number(a.split('-').pop()) - Number(b.split('-').pop())).pop()!
    const meta = parseMetadata(readFileSync(join(chk, '_metadata')), chk)
    assert.equal(meta.files.length > 0 && meta.files.every((f) => /^crc32:[0-9a-f]{8}$/.test(f.checksum ?? '')), true, 'every file has a content checksum')
    const keyed = meta.files.find((f) => f.path.startsWith('keyed-'))!
    const file = join(chk, keyed.path)
    const original = readFileSync(file)
    writeFileSync(file, randomBytes(original.length))
    assert.equal(statSync(file).size, keyed.size, 'same size: a size check cannot tell')
    const before = committedLines(out)

    const bad = await runCli(['run', '-s', chk, '-D', 'restart-strategy.type=none', '-D', `execution.checkpointing.dir=${cp}`, COUNTER, out, String(total), '5000'], { env })
    assert.notEqual(bad.code, 0)
    assert.ok(bad.stderr.includes(file), `stderr names ${file}: ${bad.stderr}`)
    assert.match(bad.stderr, /corrupt/)
    assert.deepEqual(committedLines(out), before, 'the failed restore committed nothing')

    writeFileSync(file, original)
    const good = await runCli(['run', '-s', chk, '-D', `execution.checkpointing.dir=${cp}`, COUNTER, out, String(total), '5000'], { env })
    assert.equal(good.code, 0, good.stderr)
    const lines = committedLines(out)
    const expected: string[] = []
    const perKey = new Map<number, number>()
    for (let v = 0; v < total; v++) {
      const k = v % 7
      perKey.set(k, (perKey.get(k) ?? 0) + 1)
      expected.push(`${k}:${perKey.get(k)}`)
    }
    assert.deepEqual(lines, expected.sort())
  })
})
