/**
 * Hot-path code that survives the first checkpoint: core/shapes.ts (an array made by objectArray()
 * already has the shape, V8's map, it will have once it holds objects) and NumericColumns (a loop
 * of state reads and writes compiled before any snapshot stays compiled when the first snapshot
 * pins the columns and the next writes copy them). Checked with V8's own introspection in a child
 * process (--allow-natives-syntax).
 */
import { spawnSync } from 'node:child_process'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const src = (...path: string[]): string => pathToFileURL(join(import.meta.dirname, '..', 'src', 'runtime', ...path)).href

function probe(body: string): string {
  const imports = `import { objectArray } from '${src('core', 'shapes.ts')}'\nimport { NumericColumns } from '${src('state', 'numeric-columns.ts')}'\n`
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', imports + body], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim()
}

describe('objectArray', () => {
  it('is empty and has the shape of an array of objects before the first object arrives', () => {
    const out = probe(`
      const a = objectArray()
      const before = [...Object.keys(a)]
      const empty = a.length === 0
      const objects = %HasObjectElements(a) && !%HasSmiElements(a)
      const b = objectArray()
      b.push(() => {})
      b.pop()
      const c = objectArray()
      c.push({ x: 1 })
      console.log(JSON.stringify({ empty, before, objects, sameAfterFunction: %HaveSameMap(a, b), sameAfterObject: %HaveSameMap(a, c), plainDiffers: !%HaveSameMap([], c) }))
    `)
    assert.deepEqual(JSON.parse(out), { empty: true, before: [], objects: true, sameAfterFunction: true, sameAfterObject: true, plainDiffers: true })
  })
})

describe('NumericColumns under a first snapshot', () => {
  it('keeps a loop of reads and writes compiled before any snapshot compiled through the copies on write', () => {
    // V8's optimization status: bit 6 (64) is "compiled by TurboFan".
    const out = probe(`
      const c = new NumericColumns(128)
      for (let i = 0; i < 200000; i++) c.insert(i, 0)
      function hot(c, n) { for (let i = 0; i < n; i++) { const s = c.slotOf(i % 200000); c.setAt(s, c.valueAt(s) + 1) } }
      ;%PrepareFunctionForOptimization(hot)
      hot(c, 1000)
      hot(c, 1000)
      ;%OptimizeFunctionOnNextCall(hot)
      hot(c, 1000)
      const before = (%GetOptimizationStatus(hot) & 64) !== 0
      const image = c.image('count')
      hot(c, 400000) // every chunk copied on write
      const during = (%GetOptimizationStatus(hot) & 64) !== 0
      image.release()
      const second = c.image('count')
      hot(c, 400000) // the released copies reused
      second.release()
      const after = (%GetOptimizationStatus(hot) & 64) !== 0
      let sum = 0
      for (let i = 0; i < 200000; i++) sum += c.valueAt(c.slotOf(i))
      console.log(JSON.stringify({ before, during, after, sum }))
    `)
    assert.deepEqual(JSON.parse(out), { before: true, during: true, after: true, sum: 1000 + 1000 + 1000 + 400000 + 400000 })
  })
})
