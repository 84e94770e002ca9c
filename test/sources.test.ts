/**
 * Sources, through the reader contract of source.ts: FileSource (`readTextFile`, a file or a
 * folder: lines, offsets in the split, snapshot and resume exactly at the first line not yet
 * emitted) and DataGeneratorSource (splits replay the same records after a rescale). Expected
 * lines and offsets are computed from the bytes written here.
 * Through jobs and kill -9: test/integration/file-source.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { systemClock } from '../src/runtime/clock.js'
import { FileSource, type FileSplit } from '../src/runtime/connectors/file-source.js'
import { DataGeneratorSource, type IndexSplit } from '../src/runtime/connectors/generator-source.js'
import type { InputStatus, Source, SourceReader } from '../src/runtime/connectors/source.js'
import { seededRandom, tmp } from './helpers.js'

function reader<T, S>(source: Source<T, S>, splits: S[], subtask = 0, parallelism = 1): SourceReader<T, S> {
  const r = source.createReader({ subtask, parallelism, attempt: 0, clock: systemClock })
  r.addSplits(splits)
  return r
}

/** Polls until `limit` records or the end; returns the records and the last status. */
function drain<T, S>(r: SourceReader<T, S>, limit = Number.POSITIVE_INFINITY, batch = 7): { records: T[]; status: InputStatus } {
  const records: T[] = []
  let status: InputStatus = 'MORE_AVAILABLE'
  while (status !== 'END_OF_INPUT' && records.length < limit) {
    const before = records.length
    status = r.pollNext({ collect: (x) => records.push(x) }, Math.min(batch, limit - records.length))
    assert.ok(records.length - before <= Math.min(batch, limit - before), 'a poll emits at most max records')
  }
  return { records, status }
}

describe('FileSource: one file', () => {
  it('emits every line in order: LF and CRLF endings, empty lines, a last line without newline', async () => {
    const dir = tmp()
    const f = join(dir, 'in.txt')
    writeFileSync(f, 'alpha\nbeta\r\n\n\r\ngamma δέλτα\nlast')
    const src = FileSource.forLines(f)
    const splits = await src.createSplits()
    assert.deepEqual(splits, [{ path: f, offset: 0 }])
    const { records, status } = drain(reader(src, splits))
    assert.deepEqual(records, ['alpha', 'beta', '', '', 'gamma δέλτα', 'last'])
    assert.equal(status, 'END_OF_INPUT')
  })

  it('a trailing newline adds no empty line; an empty file has no lines', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'a'), 'x\ny\n')
    writeFileSync(join(dir, 'b'), '')
    assert.deepEqual(drain(reader(FileSource.forLines(join(dir, 'a')), await FileSource.forLines(join(dir, 'a')).createSplits())).records, ['x', 'y'])
    const empty = drain(reader(FileSource.forLines(join(dir, 'b')), await FileSource.forLines(join(dir, 'b')).createSplits()))
    assert.deepEqual(empty.records, [])
    assert.equal(empty.status, 'END_OF_INPUT')
  })

  it('lines longer than a read chunk, and multi-byte characters across chunk boundaries, come out whole', async () => {
    const dir = tmp()
    const f = join(dir, 'long.txt')
    const rnd = seededRandom(7)
    const alphabet = ['a', 'é', '€', '𝄞', ' ']
    const lines = Array.from({ length: 40 }, (_, i) => Array.from({ length: i % 5 === 0 ? 70_000 : 1 + Math.floor(rnd() * 3000) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(''))
    writeFileSync(f, lines.join('\n') + '\n')
    const got = drain(reader(FileSource.forLines(f), await FileSource.forLines(f).createSplits()), Infinity, 3).records
    assert.equal(got.length, lines.length)
    assert.ok(got.every((l, i) => l === lines[i]), 'every line byte-exact')
  })

  it('a missing path is an error naming it', () => {
    const missing = join(tmp(), 'nope.txt')
    assert.throws(() => FileSource.forLines(missing).createSplits(), new RegExp(`'${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' does not exist`))
  })
})

describe('FileSource: a folder', () => {
  it('reads every visible file, sorted by name, one split per file; hidden files and subfolders are skipped', async () => {
    const dir = tmp()
    // Created in a shuffled order, so the directory's own order is not the sorted one.
    const names = Array.from({ length: 24 }, (_, i) => `part-${String(i).padStart(2, '0')}.txt`)
    const rnd = seededRandom(3)
    for (const n of [...names].sort(() => rnd() - 0.5)) writeFileSync(join(dir, n), `${n}:1\n${n}:2`)
    writeFileSync(join(dir, '.hidden'), 'h\n')
    mkdirSync(join(dir, 'sub'))
    writeFileSync(join(dir, 'sub', 'd.txt'), 'd1\n')
    const src = FileSource.forLines(dir)
    const splits = await src.createSplits()
    assert.deepEqual(splits, names.map((n) => ({ path: join(dir, n), offset: 0 })))
    assert.deepEqual(drain(reader(src, splits)).records, names.flatMap((n) => [`${n}:1`, `${n}:2`]))
  })
})

describe('FileSource: snapshot and resume', () => {
  it('the snapshot after any number of lines holds the byte offset of the next line; a new reader resumes exactly there', async () => {
    const dir = tmp()
    const contents: Record<string, string> = {
      'a.txt': 'one\r\ntwo\n\nthree\n',
      'b.txt': 'four\nfive',
      'c.txt': '',
      'd.txt': 'six\n',
    }
    for (const [n, c] of Object.entries(contents)) writeFileSync(join(dir, n), c)
    const all = ['one', 'two', '', 'three', 'four', 'five', 'six']
    // Byte offset (within its file) just after each line: first principles from the contents.
    const after: { file: string; end: number }[] = []
    for (const [n, c] of Object.entries(contents)) {
      let pos = 0
      for (const l of c.split('\n')) {
        if (pos >= Buffer.byteLength(c)) break
        pos += Buffer.byteLength(l) + (pos + Buffer.byteLength(l) < Buffer.byteLength(c) ? 1 : 0)
        after.push({ file: join(dir, n), end: pos })
      }
    }
    assert.equal(after.length, all.length)
    const src = FileSource.forLines(dir)
    for (let k = 0; k <= all.length; k++) {
      const r1 = reader(src, await src.createSplits())
      const first = drain(r1, k, 2).records
      assert.deepEqual(first, all.slice(0, k))
      const snap = r1.snapshotState(1) as FileSplit[]
      if (k > 0 && k < all.length) {
        // The split of the file being read carries the offset after the last emitted line,
        // unless that line ended its file (then the next file starts at 0 or it is already dropped).
        const last = after[k - 1]!
        const cur = snap.find((s) => s.path === last.file)
        if (cur !== undefined) assert.equal(cur.offset, last.end, `after ${k} lines`)
        for (const s of snap) if (s.path > last.file) assert.equal(s.offset, 0, 'files not yet started start at 0')
      }
      // The snapshot is a copy: the reader reading on does not change it.
      const copy = JSON.parse(JSON.stringify(snap)) as FileSplit[]
      drain(r1, 2)
      r1.close?.()
      assert.deepEqual(snap, copy)
      const rest = drain(reader(src, snap), Infinity, 3).records
      assert.deepEqual([...first, ...rest], all, `resume after ${k} lines: every line exactly once`)
    }
  })
})

describe('DataGeneratorSource', () => {
  it('splits stride the index space; a snapshot taken anywhere and read by any number of readers replays the rest exactly', async () => {
    const src = new DataGeneratorSource((i) => i, 100)
    const splits = await src.createSplits(3)
    assert.deepEqual(splits, [0, 1, 2].map((j) => ({ next: j, stride: 3, end: 100 })))
    for (const k of [0, 1, 17, 50]) {
      const seen: number[] = []
      const snaps: IndexSplit[] = []
      for (let j = 0; j < 3; j++) {
        const r = reader(src, [splits[j]!], j, 3)
        seen.push(...drain(r, k).records)
        snaps.push(...r.snapshotState(1))
      }
      // Rescaled to 2 readers: the splits move whole.
      const rest: number[] = []
      for (let j = 0; j < 2; j++) rest.push(...drain(reader(src, snaps.filter((_s, i) => i % 2 === j), j, 2)).records)
      assert.deepEqual([...seen, ...rest].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i), `snapshot after ${k} records per reader`)
    }
  })
})
