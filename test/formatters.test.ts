/**
 * Human output: what reaches a terminal from user-controlled strings, and colour only when wanted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkpointTable, colorEnabled, jobLine, listLines, noColor, sanitize } from '../src/cli/formatters.js'
import type { ListedCheckpoint } from '../src/cli/services/checkpoints.js'

const ESC = '\u001b'
const BEL = '\u0007'
/** Nothing a terminal acts on: C0 controls, DEL, C1 controls (CSI \u009b, OSC \u009d), bidi overrides. */
// eslint-disable-next-line no-control-regex
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

describe('sanitize', () => {
  const hostile: [string, string, string][] = [
    ['a newline (a fake second line)', 'job\n01.01.2024 00:00:00 : 0000 : fake (RUNNING)', 'job\\n01.01.2024 00:00:00 : 0000 : fake (RUNNING)'],
    ['an ANSI colour and cursor sequence', `${ESC}[31mred${ESC}[2K`, '\\x1b[31mred\\x1b[2K'],
    ['an OSC title change', `${ESC}]0;pwned${BEL}name`, '\\x1b]0;pwned\\x07name'],
    ['a C1 CSI', '\u009b31mx', '\\x9b31mx'],
    ['a bidi override', 'abc\u202edcba', 'abc\\u202edcba'],
    ['a carriage return and a tab', 'a\rb\tc', 'a\\rb\\tc'],
  ]
  for (const [what, input, shown] of hostile) {
    it(`shows ${what} as escapes`, () => {
      const s = sanitize(input)
      assert.equal(s, shown)
      assert.doesNotMatch(s, TERMINAL_CONTROL)
    })
  }

  it('leaves ordinary text, Unicode included, as it is', () => {
    for (const s of ['word count', 'Zählen – 計数 🚀', '/tmp/sp/savepoint-012345-abcdef012345']) assert.equal(sanitize(s), s)
  })

  it('every field of a list line is sanitized', () => {
    const line = jobLine({ jobId: '0123456789abcdef0123456789abcdef', name: `evil${ESC}]0;x${BEL}\nname`, state: 'RUNNING', startTime: 0 })
    assert.doesNotMatch(line, TERMINAL_CONTROL)
    assert.match(line, / : evil\\x1b\]0;x\\x07\\nname \(RUNNING\)$/)
    const lines = listLines([{ jobId: '0123456789abcdef0123456789abcdef', name: 'a\nb', state: 'RUNNING', startTime: 0 }], { running: true, scheduled: false, terminated: false })
    assert.equal(lines.length, 3, 'one job, one line between the rules')
  })
})

describe('colour', () => {
  it('NO_COLOR set to anything but the empty string turns colour off', () => {
    assert.equal(noColor({ NO_COLOR: '1' }), true)
    assert.equal(noColor({ NO_COLOR: 'false' }), true)
    assert.equal(noColor({ NO_COLOR: '' }), false)
    assert.equal(noColor({}), false)
  })

  it('colour on a terminal unless NO_COLOR or TERM=dumb; FORCE_COLOR forces it, except 0 and false', () => {
    assert.equal(colorEnabled({ TERM: 'xterm' }, true), true)
    assert.equal(colorEnabled({ TERM: 'xterm' }, false), false)
    assert.equal(colorEnabled({ TERM: 'dumb' }, true), false)
    assert.equal(colorEnabled({ TERM: 'xterm', NO_COLOR: '1' }, true), false)
    assert.equal(colorEnabled({ FORCE_COLOR: '1' }, false), true)
    assert.equal(colorEnabled({ FORCE_COLOR: '0' }, true), false)
    assert.equal(colorEnabled({ FORCE_COLOR: '1', NO_COLOR: '1' }, false), false)
  })

  it('the checkpoint table sanitizes paths', () => {
    const row: ListedCheckpoint = {
      jobId: '0123456789abcdef0123456789abcdef', checkpointId: 1, kind: 'checkpoint', incremental: false,
      path: `/cp/${ESC}[2Jchk-1`, completedAt: '2024-01-01T00:00:00.000Z', sizeBytes: 10, status: 'valid',
    }
    const table = checkpointTable([row])
    assert.ok(table.includes('\\x1b[2Jchk-1'))
    assert.ok(!table.includes(`${ESC}[2J`))
  })
})
