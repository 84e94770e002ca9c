/**
 * `readTextFile` / FileSource through the real CLI (test/jobs/read-lines.ts): a file and a folder
 * read whole, and a folder read by a job killed with kill -9 in the middle of its files and resumed
 * from its retained checkpoint at another parallelism: every line exactly once, with the running
 * count per file that only an exact resume at the checkpointed byte offset gives. Lines carry
 * multi-byte characters, CRLF endings and a last line without newline, so byte offsets differ
 * from character counts. Expected output is built from the lines written here.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, committedLines, runCli, sleep, startCli, tmp } from '../helpers.js'

const JOB = join(ROOT, 'test', 'jobs', 'read-lines.ts')

/** Writes `files` files of `lines` lines each into `dir`; returns the lines a correct run writes. */
function writeInput(dir: string, files: number, lines: number): string[] {
  mkdirSync(dir, { recursive: true })
  const expected: string[] = []
  for (let k = 0; k < files; k++) {
    const body: string[] = []
    for (let j = 0; j < lines; j++) {
      const line = `f${k}:${j} ${'é€'.repeat((j * 7 + k) % 13)}${'x'.repeat((j * 31) % 20)}`
      body.push(line)
      expected.push(`${line} #${j + 1}`)
    }
    // File 0 has CRLF endings, file 1 no newline after its last line.
    const text = k === 0 ? body.join('\r\n') + '\r\n' : k === 1 ? body.join('\n') : body.join('\n') + '\n'
    writeFileSync(join(dir, `part-${String(k).padStart(2, '0')}.txt`), text)
  }
  return expected
}

function assertExactlyOnce(got: string[], expected: string[]): void {
  const seen = new Set<string>()
  const dup = got.filter((l) => (seen.has(l) ? true : (seen.add(l), false)))
  const want = new Set(expected)
  const lost = expected.filter((l) => !seen.has(l))
  const wrong = [...seen].filter((l) => !want.has(l))
  assert.deepEqual({ lost: lost.slice(0, 5), duplicated: dup.slice(0, 5), unexpected: wrong.slice(0, 5) }, { lost: [], duplicated: [], unexpected: [] },
    `${lost.length} lost, ${dup.length} duplicated, ${wrong.length} unexpected`)
  assert.equal(got.length, expected.length)
}

describe('readTextFile through jobs', () => {
  it('a single file: every line once, in order within the file', async () => {
    const home = tmp()
    const expected = writeInput(join(home, 'in'), 1, 3000)
    const r = await runCli(['run', JOB, `in=${join(home, 'in', 'part-00.txt')}`, `out=${join(home, 'out')}`], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assertExactlyOnce(committedLines(join(home, 'out')), expected)
  })

  it('a folder at parallelism 2: every file, every line once', async () => {
    const home = tmp()
    const expected = writeInput(join(home, 'in'), 5, 2000)
    writeFileSync(join(home, 'in', '.hidden'), 'h:0 must not be read\n')
    const r = await runCli(['run', '-p', '2', JOB, `in=${join(home, 'in')}`, `out=${join(home, 'out')}`], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    assertExactlyOnce(committedLines(join(home, 'out')), expected)
  })

  for (const [from, to] of [[2, 3], [3, 1]] as const) {
    it(`killed with -9 in the middle of its files at parallelism ${from}, resumed at ${to}: the checkpointed offsets resume exactly`, async () => {
      const home = tmp()
      const cp = join(home, 'cp')
      const out = join(home, 'out')
      const expected = writeInput(join(home, 'in'), 4, 50_000)
      const conf = ['-D', 'execution.checkpointing.interval=100ms', '-D', `execution.checkpointing.dir=${cp}`]
      const job = startCli(['run', '-p', String(from), ...conf, JOB, `in=${join(home, 'in')}`, `out=${out}`, 'pauseEvery=500'], { env: { TSFLINK_HOME: home } })
      const jobId = await job.jobId
      assert.ok(jobId !== undefined, job.stderr)
      // Kill once a checkpoint committed some output, in the middle of the files.
      const committed = (): number => (existsSync(out) ? readdirSync(out).filter((n) => n.startsWith('part-')).length : 0)
      for (let i = 0; i < 2000 && committed() === 0; i++) await sleep(5)
      job.child.kill('SIGKILL')
      assert.equal((await job.exited).signal, 'SIGKILL', 'killed while running')
      const before = committedLines(out).length
      assert.ok(before > 0 && before < expected.length, `killed in the middle (${before} of ${expected.length} lines committed)`)
      const r = await runCli(['checkpoints', 'restore', '-p', String(to), ...conf, jobId, JOB, `in=${join(home, 'in')}`, `out=${out}`], { env: { TSFLINK_HOME: home } })
      assert.equal(r.code, 0, r.stderr)
      assertExactlyOnce(committedLines(out), expected)
    })
  }
})
