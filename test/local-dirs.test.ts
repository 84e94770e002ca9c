/**
 * Local working folders of on-disk state: a new process removes the folders that processes of
 * this host left when they died, and nothing else.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { processStateDir } from '../src/runtime/state/local-dirs.js'
import { tmp } from './helpers.js'

describe('local state folders', () => {
  it('removes the folders of dead processes of this host, keeps live ones, other hosts and anything else', () => {
    const root = tmp()
    for (const name of ['h1-100', 'h1-200', 'h1-300', 'h2-100', 'db-old', 'h1-abc']) {
      mkdirSync(join(root, name, 'db-x'), { recursive: true })
      writeFileSync(join(root, name, 'db-x', 'table'), 'data')
    }
    const alive = new Set([200])
    const mine = processStateDir(root, 'h1', 300, (pid) => alive.has(pid))
    assert.equal(mine, join(root, 'h1-300'))
    assert.deepEqual(readdirSync(root).sort(), ['db-old', 'h1-200', 'h1-300', 'h1-abc', 'h2-100'], 'only h1-100 (dead, this host) went')
    assert.ok(existsSync(join(root, 'h1-300', 'db-x', 'table')), 'its own folder is kept')
  })

  it('works before the folder exists', () => {
    const root = join(tmp(), 'not-yet')
    assert.equal(processStateDir(root, 'h', 1, () => false), join(root, 'h-1'))
  })
})
