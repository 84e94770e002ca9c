#!/usr/bin/env node
// Mutation testing of one module against its unit tests (StrykerJS with the TAP runner over
// node:test). Usage: npm run mutate -- <module> [more modules…]   e.g.  npm run mutate -- prune-plan
// A module is named by its file's base name under src/; its tests are the test/*.test.ts files that
// import it (or the list below). Each test file runs directly (one process per file), so Stryker
// sees coverage. Property tests read TSFLINK_PROPERTY_CASES to run fewer cases under mutation.
// Reports go to reports/mutation/<module>.html. Not part of npm test.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'))
if (names.length === 0) {
  process.stderr.write('Usage: npm run mutate -- <module> [module…]   (a file base name under src/, e.g. prune-plan)\n')
  process.exit(2)
}

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
const sources = walk(join(root, 'src')).filter((p) => p.endsWith('.ts'))
const tests = walk(join(root, 'test')).filter((p) => p.endsWith('.test.ts') && !p.includes('/integration/'))

let failed = false
for (const name of names) {
  const src = sources.find((p) => basename(p, '.ts') === name)
  if (src === undefined) {
    process.stderr.write(`No module '${name}' under src/\n`)
    process.exit(2)
  }
  const importRe = new RegExp(`from '[^']*/${name}\\.js'`)
  const testFiles = tests.filter((t) => importRe.test(readFileSync(t, 'utf8'))).map((t) => relative(root, t))
  if (testFiles.length === 0) {
    process.stderr.write(`No unit test imports ${relative(root, src)}\n`)
    process.exit(1)
  }
  const reportDir = join(root, 'reports', 'mutation')
  mkdirSync(reportDir, { recursive: true })
  const config = {
    $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
    testRunner: 'tap',
    tap: {
      testFiles,
      nodeArgs: ['--import', 'tsx', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
      forceBail: false,
    },
    mutate: [relative(root, src)],
    coverageAnalysis: 'perTest',
    concurrency: 2,
    timeoutMS: 20000,
    reporters: ['clear-text', 'progress', 'html', 'json'],
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    ignorePatterns: ['reports', 'dist', 'node_modules', '.stryker-tmp', 'tsflink-data', 'output'],
  }
  const configFile = join(root, '.stryker-tmp-config.json')
  writeFileSync(configFile, JSON.stringify(config, null, 2))
  process.stdout.write(`Mutating ${relative(root, src)} against ${testFiles.join(', ')}\n`)
  const r = spawnSync('npx', ['stryker', 'run', configFile], {
    cwd: root, stdio: 'inherit', env: { ...process.env, TSFLINK_PROPERTY_CASES: process.env.TSFLINK_PROPERTY_CASES ?? '150' },
  })
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
