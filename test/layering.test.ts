/**
 * The runtime's folders form layers, and imports point down only (ARCHITECTURE.md, "Layers"):
 * every import of a module under src/runtime, static, dynamic or re-export, goes to its own
 * folder or to a folder of a lower layer; nothing under src/runtime imports src/cli or
 * src/commands. The order is written here from the architecture, not read from the code.
 */
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT } from './helpers.js'

/** Lowest first. Files directly in src/runtime belong to the lowest layer with core/. */
const LAYERS: readonly (readonly string[])[] = [
  ['.', 'core'],
  ['config'],
  ['storage'],
  ['checkpoint'],
  ['state'],
  ['operators'],
  ['connectors'],
  ['graph'],
  ['task'],
  ['cluster'],
  ['job'],
  ['control'],
  ['api'],
]

const RUNTIME = join(ROOT, 'src', 'runtime')

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : []
  })
}

function folderOf(file: string): string {
  const rel = relative(RUNTIME, file)
  return rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '.'
}

function layerOf(folder: string): number {
  const i = LAYERS.findIndex((l) => l.includes(folder))
  assert.ok(i >= 0, `folder src/runtime/${folder} has no layer: add it to ARCHITECTURE.md's layers and to this test`)
  return i
}

/** Relative specifiers of every import, dynamic import and re-export in a source text. */
export function importsOf(source: string): string[] {
  const out: string[] = []
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g
  for (let m = re.exec(source); m !== null; m = re.exec(source)) out.push(m[2]!)
  return out
}

describe('runtime layering', () => {
  it('finds imports of every form (the checker itself)', () => {
    const src = "import a from './a.js'\nimport type { B } from '../b/b.js'\nexport { c } from '../c/c.js'\nconst d = await import('../d/d.js')\nimport './e.js'\n"
    assert.deepEqual(importsOf(src), ['./a.js', '../b/b.js', '../c/c.js', '../d/d.js', './e.js'])
  })

  it('every import points to its own folder or a lower layer', () => {
    const violations: string[] = []
    for (const file of walk(RUNTIME)) {
      const from = folderOf(file)
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), spec)
        const rel = relative(RUNTIME, target)
        if (rel.startsWith('..')) {
          violations.push(`${relative(ROOT, file)} imports ${spec}: outside src/runtime`)
          continue
        }
        const to = folderOf(target)
        if (to !== from && layerOf(to) > layerOf(from)) violations.push(`${relative(ROOT, file)} (${from}) imports ${spec} (${to}, a higher layer)`)
      }
    }
    assert.deepEqual(violations, [])
  })
})
