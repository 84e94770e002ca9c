/**
 * Flink's command-line grammar (Commons CLI's DefaultParser as Flink's CliFrontendParser uses
 * it), as a table of command lines Flink users type and what Flink reads from them.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OptionParseError, parseCommandLine, toOclifArgv, type CommandGrammar, type OptionDef } from '../src/cli/flink-options.js'

const GLOBAL: OptionDef[] = [
  { name: 'jobmanager', char: 'm', value: true },
  { name: 'dynamic', char: 'D', value: true, multiple: true },
  { name: 'json', value: false },
  { name: 'yarnapplicationId', aliases: ['yid'], value: true },
]

/** The options of Flink's actions (CliFrontendParser), as tsflink's commands declare them. */
const RUN: CommandGrammar = {
  programAfter: 1,
  options: [...GLOBAL,
    { name: 'detached', char: 'd', aliases: ['yd', 'yarndetached'], value: false },
    { name: 'parallelism', char: 'p', value: true },
    { name: 'fromSavepoint', char: 's', value: true },
    { name: 'allowNonRestoredState', char: 'n', value: false },
    { name: 'claimMode', aliases: ['cm'], value: true, options: ['claim', 'no_claim', 'legacy'] },
    { name: 'restoreMode', aliases: ['rm'], value: true, options: ['claim', 'no_claim', 'legacy'] },
    { name: 'shutdownOnAttachedExit', aliases: ['sae'], value: false },
    { name: 'class', char: 'c', value: true },
    { name: 'classpath', char: 'C', value: true, multiple: true },
    { name: 'python', aliases: ['py'], value: true },
  ],
}
const SAVEPOINT: CommandGrammar = {
  options: [...GLOBAL,
    { name: 'dispose', char: 'd', value: true },
    { name: 'type', value: true, options: ['canonical', 'native'] },
    { name: 'detached', value: false },
  ],
}
const CANCEL: CommandGrammar = {
  options: [...GLOBAL,
    { name: 'withSavepoint', char: 's', value: true, optionalValue: true },
    { name: 'type', value: true, options: ['canonical', 'native'] },
  ],
}
const STOP: CommandGrammar = {
  options: [...GLOBAL,
    { name: 'savepointPath', char: 'p', value: true, optionalValue: true },
    { name: 'drain', char: 'd', value: false },
    { name: 'type', value: true, options: ['canonical', 'native'] },
    { name: 'detached', value: false },
  ],
}
const LIST: CommandGrammar = {
  options: [...GLOBAL,
    { name: 'running', char: 'r', value: false },
    { name: 'scheduled', char: 's', value: false },
    { name: 'all', char: 'a', value: false },
  ],
}

const JOB = '0123456789abcdef0123456789abcdef'

type Expect = { flags?: Record<string, (string | true)[]>; positionals?: string[]; program?: string[]; help?: boolean }

function check(grammar: CommandGrammar, argv: string[], expected: Expect): void {
  const line = parseCommandLine(grammar, argv)
  assert.deepEqual(Object.fromEntries(line.flags), expected.flags ?? {}, `flags of ${argv.join(' ')}`)
  assert.deepEqual(line.positionals, expected.positionals ?? [], `positionals of ${argv.join(' ')}`)
  assert.deepEqual(line.program, expected.program ?? [], `program arguments of ${argv.join(' ')}`)
  assert.equal(line.help, expected.help ?? false)
}

describe("Flink's command-line grammar", () => {
  const cases: [string, CommandGrammar, string[], Expect][] = [
    ['run: everything after the job file belongs to the program', RUN,
      ['-p', '3', '-D', 'execution.checkpointing.interval=10s', 'job.ts', '--input', 'data.txt', '-d'],
      { flags: { parallelism: ['3'], dynamic: ['execution.checkpointing.interval=10s'] }, positionals: ['job.ts'], program: ['--input', 'data.txt', '-d'] }],
    ['run: program arguments keep their order and repeats', RUN,
      ['job.ts', 'x', 'y', 'x', '--', '-p'], { positionals: ['job.ts'], program: ['x', 'y', 'x', '--', '-p'] }],
    ['run: -detached is the long option, with one dash', RUN, ['-detached', 'job.ts'], { flags: { detached: [true] }, positionals: ['job.ts'] }],
    ['run: -yd and -sae, Flink\'s multi-letter short options', RUN, ['-yd', '-sae', 'job.ts'],
      { flags: { detached: [true], shutdownOnAttachedExit: [true] }, positionals: ['job.ts'] }],
    ['run: joined short switches and a glued value', RUN, ['-dn', '-p4', '-s/sp/x', 'job.ts'],
      { flags: { detached: [true], allowNonRestoredState: [true], parallelism: ['4'], fromSavepoint: ['/sp/x'] }, positionals: ['job.ts'] }],
    ['run: -Dkey=value glued, and --name=value', RUN, ['-Dstate.backend.type=rocksdb', '--parallelism=2', 'job.ts'],
      { flags: { dynamic: ['state.backend.type=rocksdb'], parallelism: ['2'] }, positionals: ['job.ts'] }],
    ['run: claim mode in any case, with -cm, -claimMode and a prefix', RUN, ['-cm', 'CLAIM', '-s', '/sp', 'job.ts'],
      { flags: { claimMode: ['claim'], fromSavepoint: ['/sp'] }, positionals: ['job.ts'] }],
    ['run: --claim is an unambiguous prefix of --claimMode', RUN, ['--claim', 'No_Claim', 'job.ts'], { flags: { claimMode: ['no_claim'] }, positionals: ['job.ts'] }],
    ['run: -rm, the deprecated spelling', RUN, ['-rm', 'legacy', 'job.ts'], { flags: { restoreMode: ['legacy'] }, positionals: ['job.ts'] }],
    ['run: -p takes a negative number as its value (then validation refuses it)', RUN, ['-p', '-1', 'job.ts'], { flags: { parallelism: ['-1'] }, positionals: ['job.ts'] }],
    ['run: -h before the job file asks for help; after it, it is the program\'s', RUN, ['-h', 'job.ts', '-h'], { help: true, positionals: ['job.ts'], program: ['-h'] }],
    ['run: -- ends the options; the next word is still the job file', RUN, ['-d', '--', '-odd-name.ts', 'a'], { flags: { detached: [true] }, positionals: ['-odd-name.ts'], program: ['a'] }],
    ['run: the first value of a repeated option counts, as in Flink', RUN, ['-p', '2', '-p', '3', 'job.ts'], { flags: { parallelism: ['2', '3'] }, positionals: ['job.ts'] }],
    ['run: -py is an option of its own, not -p y', RUN, ['-py', 'job.py'], { flags: { python: ['job.py'] } }],
    ['run: -yid takes the application id', RUN, ['-yid', 'application_1_2', 'job.ts'], { flags: { yarnapplicationId: ['application_1_2'] }, positionals: ['job.ts'] }],
    ['run: -v, the deprecated verbose switch, is accepted and ignored', RUN, ['-v', 'job.ts'], { positionals: ['job.ts'] }],
    ['savepoint: -detached after the arguments is the detached switch, never a dispose', SAVEPOINT, [JOB, '/sp', '-detached'],
      { flags: { detached: [true] }, positionals: [JOB, '/sp'] }],
    ['savepoint: -type native, one dash', SAVEPOINT, ['-type', 'NATIVE', JOB], { flags: { type: ['native'] }, positionals: [JOB] }],
    ['savepoint: -d takes the path to dispose', SAVEPOINT, ['-d', '/sp/savepoint-1'], { flags: { dispose: ['/sp/savepoint-1'] } }],
    ['savepoint: options may follow the arguments', SAVEPOINT, [JOB, '--json', '-m', 'host:8081'], { flags: { json: [true], jobmanager: ['host:8081'] }, positionals: [JOB] }],
    ['cancel -s <jobId>: the optional value takes the JobID', CANCEL, ['-s', JOB], { flags: { withSavepoint: [JOB] } }],
    ['cancel -s <dir> <jobId>', CANCEL, ['-s', '/sp', JOB], { flags: { withSavepoint: ['/sp'] }, positionals: [JOB] }],
    ['cancel <jobId> -s: no value', CANCEL, [JOB, '-s'], { flags: { withSavepoint: [''] }, positionals: [JOB] }],
    ['cancel -s --type native <jobId>: an option is not a value', CANCEL, ['-s', '--type', 'native', JOB], { flags: { withSavepoint: [''], type: ['native'] }, positionals: [JOB] }],
    ['stop -p <jobId>: the default directory', STOP, ['-p', JOB], { flags: { savepointPath: [JOB] } }],
    ['stop -p -d <jobId>', STOP, ['-p', '-d', JOB], { flags: { savepointPath: [''], drain: [true] }, positionals: [JOB] }],
    ['stop --drain -p /sp <jobId> -detached', STOP, ['--drain', '-p', '/sp', JOB, '-detached'], { flags: { drain: [true], savepointPath: ['/sp'], detached: [true] }, positionals: [JOB] }],
    ['list -a, -r -s', LIST, ['-rs', '-a'], { flags: { running: [true], scheduled: [true], all: [true] } }],
  ]
  for (const [what, grammar, argv, expected] of cases) it(what, () => check(grammar, argv, expected))

  const errors: [string, CommandGrammar, string[], RegExp][] = [
    ['an unknown option before the job file', RUN, ['--input', 'x', 'job.ts'], /^Unrecognized option: --input$/],
    ['-detached where no option is called so', CANCEL, ['-detached', JOB], /^Unrecognized option: -detached$/],
    ['a value missing at the end', SAVEPOINT, ['-d'], /^Missing argument for option: -d/],
    ['a value missing before the next option', RUN, ['-p', '-d', 'job.ts'], /^Missing argument for option: -p/],
    ['an ambiguous prefix', RUN, ['--c', 'x', 'job.ts'], /^Ambiguous option: '--c' \(could be: (?=.*'class')(?=.*'claimMode')/],
    ['a switch given a value', RUN, ['--detached=yes', 'job.ts'], /^Option --detached=yes takes no value/],
  ]
  for (const [what, grammar, argv, message] of errors) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseCommandLine(grammar, argv), (e: unknown) => e instanceof OptionParseError && message.test(e.message))
    })
  }

  it('writes the line back as argv oclif cannot misread: first value of each option, then --, then the arguments', () => {
    const line = parseCommandLine(RUN, ['-p', '2', '-p', '3', '-Da=1', '-Db=2', '-d', 'job.ts', '--json', '-x'])
    assert.deepEqual(toOclifArgv(RUN, line), ['--parallelism=2', '--dynamic=a=1', '--dynamic=b=2', '--detached', '--', 'job.ts', '--json', '-x'])
    const cancel = parseCommandLine(CANCEL, [JOB, '-s'])
    assert.deepEqual(toOclifArgv(CANCEL, cancel), ['--withSavepoint=', '--', JOB])
  })

  it('reading its own output again changes nothing', () => {
    for (const [grammar, argv] of [[RUN, ['-dn', '-p4', '-cm', 'CLAIM', '-s', '/x', 'job.ts', 'a', '-b']], [CANCEL, ['-s', JOB]], [STOP, ['-p', '-d', JOB]]] as const) {
      const once = toOclifArgv(grammar, parseCommandLine(grammar, argv))
      assert.deepEqual(toOclifArgv(grammar, parseCommandLine(grammar, once)), once)
    }
  })
})
