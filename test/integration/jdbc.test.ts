/**
 * The JDBC sinks on a real MariaDB server (MySQL protocol, test/servers/mariadb.ts): kill -9 and
 * restore rounds of a real CLI job with rescaling. Exactly-once (XA): the table holds exactly the
 * keyed counts a failure-free run writes, and no prepared transaction is left behind. At-least-once:
 * no number is missing from the plain table, and the upsert table holds each number exactly once.
 * Oracles: the numbers 0..n-1 the job generates, counted here.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { JdbcConnectionOptions, JdbcExactlyOnceOptions, JdbcExecutionOptions, JdbcSink, StreamExecutionEnvironment } from '../../src/index.js'
import { CLI, ROOT, expectedCounts, runCli, seededRandom, sleep, tmp } from '../helpers.js'
import { latestCheckpoint } from '../servers/kafka-client.js'
import { mariadbSkip, startMariaDB, type MariaDB } from '../servers/mariadb.js'

const JOB = join(ROOT, 'test', 'jobs', 'jdbc-counter.ts')
const COUNT = 5000

describe('JDBC sinks (real MariaDB, real CLI)', { skip: mariadbSkip() }, () => {
  let db: MariaDB
  before(async () => {
    db = await startMariaDB()
  })
  after(async () => db?.stop())

  /** 5 runs of the job, each killed (kill -9) a random moment after a checkpoint of its own, then a run to the end. */
  async function killRounds(mode: 'exactly-once' | 'at-least-once', table: string): Promise<void> {
    const seed = Number(process.env.JDBC_TEST_SEED ?? Date.now() % 1_000_000)
    console.log(`${mode}: seed ${seed} (replay with JDBC_TEST_SEED=${seed})`)
    const random = seededRandom(seed)
    const home = tmp()
    const cp = join(home, 'cp')
    const conf = ['-D', 'execution.checkpointing.interval=150ms', '-D', `execution.checkpointing.dir=${cp}`, '-D', 'execution.checkpointing.num-retained=2']
    const job = [JOB, db.url, String(COUNT), '500', mode]
    let from: string | undefined
    for (const [round, p] of [1, 2, 3, 2, 1].entries()) {
      const args = ['run', ...conf, ...(from === undefined ? [] : ['-s', from]), '-p', String(p), ...job]
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TSFLINK_HOME: home }, stdio: 'ignore' })
      const exited = new Promise((r) => child.on('exit', r))
      for (let i = 0; i < 1500 && latestCheckpoint(cp) === from; i++) await sleep(20)
      await sleep(Math.floor(random() * 500))
      child.kill('SIGKILL')
      await exited
      const latest = latestCheckpoint(cp)
      assert.ok(latest !== undefined && latest !== from, `round ${round}: a new checkpoint completed`)
      from = latest
    }
    const [{ n }] = await db.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${table}`) as [{ n: number }]
    assert.ok(n < COUNT, `the kills happened before the end (${n} of ${COUNT} rows written)`)
    const last = await runCli(['run', ...conf, '-s', from!, '-p', '2', ...job.slice(0, 2), String(COUNT), '0', mode], { env: { TSFLINK_HOME: home } })
    assert.equal(last.code, 0, last.stderr)
  }

  it('exactly-once (XA): after 5 rounds of kill -9 and restore, the table holds exactly the counts of a failure-free run', async () => {
    await db.query('CREATE TABLE counts (k INT NOT NULL, c INT NOT NULL) ENGINE=InnoDB')
    await killRounds('exactly-once', 'counts')
    const rows = await db.query<{ k: number; c: number }[]>('SELECT k, c FROM counts')
    const got = rows.map((r) => `${r.k}:${r.c}`).sort()
    const want = expectedCounts(COUNT)
    assert.equal(got.length, want.length, `as many rows (${got.length}) as numbers (${COUNT})`)
    assert.deepEqual(got, want)
    assert.deepEqual(await db.query('XA RECOVER'), [], 'no prepared transaction is left behind')
  })

  it('at-least-once: after 5 rounds of kill -9 and restore, no number is missing; the upsert table has each exactly once', async () => {
    await db.query('CREATE TABLE alo_values (v INT NOT NULL) ENGINE=InnoDB')
    await db.query('CREATE TABLE alo_upsert (v INT NOT NULL PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB')
    await killRounds('at-least-once', 'alo_upsert')
    const values = new Set((await db.query<{ v: number }[]>('SELECT v FROM alo_values')).map((r) => r.v))
    const missing = Array.from({ length: COUNT }, (_, i) => i).filter((v) => !values.has(v))
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${COUNT} numbers missing`)
    const upserted = (await db.query<{ v: number }[]>('SELECT v FROM alo_upsert ORDER BY v')).map((r) => r.v)
    assert.deepEqual(upserted, Array.from({ length: COUNT }, (_, i) => i))
  })

  it('batching: a batch is written when full and after the interval; retries are bounded; bad options are refused', async () => {
    await db.query('CREATE TABLE batch (v INT NOT NULL PRIMARY KEY)')
    const connection = JdbcConnectionOptions.builder().withUrl(db.url).withUsername('root').build()
    const env = StreamExecutionEnvironment.createLocalEnvironment()
    env.fromSequence(0, 999).addSink(JdbcSink.sink<number>('INSERT INTO batch (v) VALUES (?)', (ps, v) => ps.setInt(1, v),
      JdbcExecutionOptions.builder().withBatchSize(100).withBatchIntervalMs(20).build(), connection))
    await env.execute('jdbc batch')
    assert.equal((await db.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM batch'))[0]!.n, 1000, 'without checkpoints the end of the input writes the rest')
    // A statement that always fails: the job fails after the retries, naming the error.
    const failing = StreamExecutionEnvironment.createLocalEnvironment()
    failing.fromSequence(0, 9).addSink(JdbcSink.sink<number>('INSERT INTO no_such_table (v) VALUES (?)', (ps, v) => ps.setInt(1, v),
      JdbcExecutionOptions.builder().withBatchSize(5).withMaxRetries(1).build(), connection))
    await assert.rejects(failing.execute('jdbc failing'), /no_such_table/)
    assert.throws(() => JdbcConnectionOptions.builder().withUrl('mysql://nope').build(), /jdbc:mysql:\/\/host:port\/database/)
    assert.throws(() => JdbcSink.exactlyOnceSink<number>('INSERT INTO batch (v) VALUES (?)', (ps, v) => ps.setInt(1, v),
      JdbcExecutionOptions.defaults(), JdbcExactlyOnceOptions.defaults(), connection), /withMaxRetries\(0\)/)
  })
})
