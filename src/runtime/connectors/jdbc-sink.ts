/**
 * A JDBC sink like Flink's JdbcSink, for MySQL and MariaDB (the MySQL protocol, on mysql2);
 * attached with `stream.addSink(JdbcSink.sink(...))`.
 *
 * - `JdbcSink.sink(sql, statementBuilder, executionOptions, connectionOptions)`: records are written
 *   in batches (one database transaction per batch) when a batch is full, every batch interval,
 *   and at each checkpoint, which completes only once everything before its barrier is written:
 *   at-least-once (a replay after a failure writes again: idempotent with upserts, e.g. INSERT ...
 *   ON DUPLICATE KEY UPDATE). A failed batch is retried on a new connection up to maxRetries times.
 * - `JdbcSink.exactlyOnceSink(sql, statementBuilder, executionOptions, exactlyOnceOptions,
 *   connectionOptions)`: records go into one XA transaction per checkpoint interval, on a
 *   connection of its own (MySQL cannot start another transaction on a connection whose XA
 *   transaction is prepared). At the barrier it is ended and prepared (XA PREPARE), its id goes into
 *   the checkpoint, and it is committed when the checkpoint completes. A restore commits the
 *   prepared transactions of the checkpoint it restores (one already committed is unknown to the
 *   server: done), then rolls back every other prepared transaction of this sink that XA RECOVER
 *   lists (prepared after that checkpoint). Savepoints do not commit; the next checkpoint does.
 *   Needs MySQL 5.7.7+ or MariaDB 10.5+ (prepared transactions survive the client's disconnect).
 *
 * Tests: test/integration/jdbc.test.ts.
 */
import { createConnection, type Connection } from 'mysql2/promise'

/** What mysql2 takes as a statement's parameters. */
type ExecuteValues = Parameters<Connection['execute']>[1]
import { ListStateDescriptor, type ListState } from '../core/state.js'
import { StreamOperator, type SnapshotContext } from '../operators/operator.js'
import {
  JdbcExactlyOnceOptions, JdbcStatement, type JdbcConnectionSettings, type JdbcExactlyOnceSettings, type JdbcExecutionSettings, type JdbcStatementBuilder,
} from './jdbc-options.js'

export interface JdbcSinkSpec<T> {
  readonly kind: 'jdbc-sink'
  readonly name: string
  createOperator(): StreamOperator<T, never>
}

interface SinkConfig<T> {
  sql: string
  build: JdbcStatementBuilder<T>
  execution: JdbcExecutionSettings
  connection: JdbcConnectionSettings
}

export const JdbcSink = {
  /** At-least-once: batches written at least at every checkpoint. */
  sink<T>(sql: string, statementBuilder: JdbcStatementBuilder<T>, executionOptions: JdbcExecutionSettings, connectionOptions: JdbcConnectionSettings): JdbcSinkSpec<T> {
    const config = check({ sql, build: statementBuilder, execution: executionOptions, connection: connectionOptions })
    return { kind: 'jdbc-sink', name: 'JDBC Sink', createOperator: () => new AtLeastOnceJdbcSink<T>(config) }
  },

  /** Exactly-once: an XA transaction per checkpoint, two-phase committed. */
  exactlyOnceSink<T>(
    sql: string, statementBuilder: JdbcStatementBuilder<T>, executionOptions: JdbcExecutionSettings,
    exactlyOnceOptions: JdbcExactlyOnceSettings, connectionOptions: JdbcConnectionSettings,
  ): JdbcSinkSpec<T> {
    const config = check({ sql, build: statementBuilder, execution: executionOptions, connection: connectionOptions })
    // As in Flink: a retried batch could not be told apart from one half written in the transaction.
    if (executionOptions.maxRetries !== 0) throw new Error('JdbcSink.exactlyOnceSink: JdbcExecutionOptions must have withMaxRetries(0) (a failure fails over to the last checkpoint instead)')
    const xa = exactlyOnceOptions ?? JdbcExactlyOnceOptions.defaults()
    return { kind: 'jdbc-sink', name: 'JDBC XA Sink', createOperator: () => new ExactlyOnceJdbcSink<T>(config, xa) }
  },
}

function check<T>(c: SinkConfig<T>): SinkConfig<T> {
  if (typeof c.sql !== 'string' || c.sql.trim() === '') throw new Error('JdbcSink: the SQL statement must be a non-empty string')
  if (typeof c.build !== 'function') throw new Error('JdbcSink: the statement builder must be a function (statement, record) => void')
  if (c.execution === undefined || c.connection === undefined) throw new Error('JdbcSink: execution options and connection options are required')
  return c
}

async function open(c: JdbcConnectionSettings): Promise<Connection> {
  try {
    return await createConnection({
      host: c.host, port: c.port, database: c.database, ...(c.username === undefined ? {} : { user: c.username }),
      ...(c.password === undefined ? {} : { password: c.password }), connectTimeout: c.connectionCheckTimeoutSeconds * 1000,
    })
  } catch (e) {
    throw new Error(`JdbcSink: cannot connect to ${c.url}: ${(e as Error).message}`, { cause: e })
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref())

/** Buffers statements' parameters; writes run one after another on a chain. */
abstract class JdbcSinkBase<T> extends StreamOperator<T, never> {
  protected buffer: unknown[][] = []
  protected failure: unknown
  /** Every write queued so far, in order. */
  protected chain: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  protected closed = false

  constructor(protected readonly config: SinkConfig<T>) {
    super()
  }

  protected startTimer(): void {
    const ms = this.config.execution.batchIntervalMs
    if (ms > 0) {
      this.timer = setInterval(() => {
        if (this.buffer.length > 0 && !this.closed) this.flush()
      }, ms)
      this.timer.unref()
    }
  }

  processElement(record: T): void {
    if (this.failure !== undefined) throw this.failure
    const st = new JdbcStatement()
    this.config.build(st, record)
    this.buffer.push(st.params)
    if (this.buffer.length >= this.config.execution.batchSize) this.flush()
  }

  override processWatermark(): void {}

  /** Queues the buffered rows for writing. */
  protected abstract flush(): void

  protected enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.failure !== undefined) return
      await step()
    })
    this.chain = run.catch((e: unknown) => {
      if (!this.closed) this.failure ??= e
    })
    return this.chain
  }

  protected async drained(): Promise<void> {
    await this.chain
    if (this.failure !== undefined) throw this.failure
  }

  protected stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }
}

/** JdbcSink.sink: batches, retries, flush at every checkpoint. */
class AtLeastOnceJdbcSink<T> extends JdbcSinkBase<T> {
  private conn: Connection | undefined

  override async open(): Promise<void> {
    this.conn = await open(this.config.connection)
    this.conn.on('error', () => {}) // a lost connection shows in the next write, which retries
    this.startTimer()
  }

  protected flush(): void {
    if (this.buffer.length === 0) return
    const rows = this.buffer
    this.buffer = []
    void this.enqueue(() => this.write(rows))
  }

  private async write(rows: unknown[][]): Promise<void> {
    const { maxRetries } = this.config.execution
    for (let attempt = 0; ; attempt++) {
      try {
        this.conn ??= await open(this.config.connection)
        const conn = this.conn
        await conn.beginTransaction()
        for (const params of rows) await conn.execute(this.config.sql, params as ExecuteValues)
        await conn.commit()
        return
      } catch (e) {
        if (attempt >= maxRetries || this.closed) throw new Error(`JdbcSink: writing a batch of ${rows.length} failed${attempt > 0 ? ` after ${attempt} retries` : ''}: ${(e as Error).message}`, { cause: e })
        // A new connection for the retry: the old one may be broken, its transaction is rolled back.
        this.conn?.destroy()
        this.conn = undefined
        await sleep(1000 * (attempt + 1))
      }
    }
  }

  override snapshotState(_ctx: SnapshotContext): void {
    if (this.failure !== undefined) throw this.failure
    this.flush()
  }

  override async snapshotStateAsync(_ctx: SnapshotContext): Promise<void> {
    await this.drained()
  }

  private finished = false

  override finish(): void {
    this.flush()
    this.finished = true
  }

  override async close(): Promise<void> {
    this.stopTimer()
    if (this.failure === undefined) {
      this.flush()
      await Promise.race([this.chain, sleep(30_000)])
    }
    this.closed = true
    await this.conn?.end().catch(() => {})
    // At the end of the input, a batch that could not be written fails the job.
    if (this.finished && this.failure !== undefined) throw this.failure
  }
}

/** An XA transaction on its own connection. */
interface Tx {
  xid: string
  conn: Promise<Connection>
  rows: number
}

interface PreparedTx {
  tx: Tx
  checkpointId: number
}

/** What one subtask keeps in a checkpoint (union list state: every restored subtask sees all). */
interface XaSubtaskState {
  subtask: number
  /** Transactions prepared for this or earlier checkpoints, not known to be committed. */
  prepared: { xid: string; checkpointId: number }[]
}

const XA_STATE = new ListStateDescriptor<XaSubtaskState>('jdbc-xa-transactions')

/** An XA id as an SQL string literal (ids are made of letters, digits, '_', '.', '-', ':'). */
const lit = (xid: string): string => `'${xid.replace(/[^A-Za-z0-9_.:-]/g, '')}'`

/** MySQL/MariaDB error 1397 XAER_NOTA: the server knows no such (prepared) transaction. */
const unknownXid = (e: unknown): boolean => (e as { errno?: number }).errno === 1397

/** JdbcSink.exactlyOnceSink: an XA transaction per checkpoint, two-phase committed. */
class ExactlyOnceJdbcSink<T> extends JdbcSinkBase<T> {
  private state!: ListState<XaSubtaskState>
  private current!: Tx
  private readonly prepared: PreparedTx[] = []
  /** Connections whose transaction was committed, ready for the next. */
  private readonly idle: Connection[] = []
  private next = 0
  private prefix!: string
  /** Commits run one after another, in checkpoint order. */
  private commits: Promise<void> = Promise.resolve()
  private committedAtEnd = false

  constructor(config: SinkConfig<T>, private readonly xa: JdbcExactlyOnceSettings) {
    super(config)
  }

  override async initializeState(): Promise<void> {
    const { subtask, parallelism, restored } = this.ctx
    this.prefix = this.xa.transactionIdPrefix ?? `tsflink-${String(this.ctx.operatorId).slice(0, 16)}`
    this.state = this.ctx.operatorState.getUnionListState(XA_STATE)
    // Old subtask s is recovered by new subtask s mod parallelism: it commits s's prepared
    // transactions, then rolls back the other prepared transactions of s (no other subtask touches them).
    const owned = (s: number): boolean => s % parallelism === subtask
    const conn = await open(this.config.connection)
    try {
      if (restored) {
        for (const entry of this.state.get()) {
          if (!owned(entry.subtask)) continue
          for (const p of entry.prepared) await this.commitRecovered(conn, p.xid)
        }
      }
      if (this.xa.recoveredAndRollback) {
        const [rows] = await conn.query('XA RECOVER')
        for (const row of rows as { data: Buffer | string; gtrid_length: number }[]) {
          const xid = Buffer.isBuffer(row.data) ? row.data.subarray(0, row.gtrid_length).toString('utf8') : String(row.data).slice(0, row.gtrid_length)
          if (!xid.startsWith(`${this.prefix}:`)) continue
          const s = Number(xid.slice(this.prefix.length + 1).split(':')[0])
          if (Number.isInteger(s) && owned(s)) await conn.query(`XA ROLLBACK ${lit(xid)}`).catch((e: unknown) => {
            if (!unknownXid(e)) throw e
          })
        }
      }
    } finally {
      await conn.end().catch(() => {})
    }
    this.state.clear()
  }

  private async commitRecovered(conn: Connection, xid: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await conn.query(`XA COMMIT ${lit(xid)}`)
        return
      } catch (e) {
        if (unknownXid(e)) return // committed before the failure (restoring the same checkpoint again)
        if (attempt >= this.xa.maxCommitAttempts) throw new Error(`JdbcSink: committing the recovered XA transaction ${xid} failed: ${(e as Error).message}`, { cause: e })
        await sleep(500 * attempt)
      }
    }
  }

  override async open(): Promise<void> {
    this.current = this.begin()
    await this.current.conn
    this.startTimer()
  }

  /** A new transaction: on an idle connection, or a new one; XA START runs before any write to it. */
  private begin(): Tx {
    // The attempt is part of the id: an id of a failed attempt is never reused.
    const xid = `${this.prefix}:${this.ctx.subtask}:${this.ctx.attempt}:${this.next++}`
    const idle = this.idle.pop()
    const conn = (async () => {
      const c = idle ?? await open(this.config.connection)
      if (idle === undefined) c.on('error', () => {})
      await c.query(`XA START ${lit(xid)}`)
      return c
    })()
    conn.catch(() => {})
    return { xid, conn, rows: 0 }
  }

  protected flush(): void {
    if (this.buffer.length === 0) return
    const rows = this.buffer
    this.buffer = []
    const tx = this.current
    tx.rows += rows.length
    void this.enqueue(async () => {
      const c = await tx.conn
      for (const params of rows) await c.execute(this.config.sql, params as ExecuteValues)
    })
  }

  override snapshotState(ctx: SnapshotContext): void {
    if (this.failure !== undefined) throw this.failure
    this.flush()
    const tx = this.current
    if (tx.rows > 0) {
      // Pre-commit: the transaction is ended and prepared (awaited in snapshotStateAsync).
      void this.enqueue(async () => {
        const c = await tx.conn
        await c.query(`XA END ${lit(tx.xid)}`)
        await c.query(`XA PREPARE ${lit(tx.xid)}`)
      })
      this.prepared.push({ tx, checkpointId: ctx.checkpointId })
      this.current = this.begin()
    }
    this.state.update([{ subtask: this.ctx.subtask, prepared: this.prepared.map((p) => ({ xid: p.tx.xid, checkpointId: p.checkpointId })) }])
  }

  override async snapshotStateAsync(_ctx: SnapshotContext): Promise<void> {
    await this.drained()
  }

  override async notifyCheckpointComplete(checkpointId: number, isSavepoint: boolean): Promise<void> {
    if (isSavepoint) return
    const run = this.commits.then(() => this.commitUpTo(checkpointId))
    this.commits = run.catch(() => {})
    await run
  }

  private async commitUpTo(checkpointId: number): Promise<void> {
    while (this.prepared.length > 0 && this.prepared[0]!.checkpointId <= checkpointId) {
      const p = this.prepared[0]!
      await this.chain // its XA PREPARE
      const c = await p.tx.conn
      for (let attempt = 1; ; attempt++) {
        try {
          await c.query(`XA COMMIT ${lit(p.tx.xid)}`)
          break
        } catch (e) {
          if (attempt >= this.xa.maxCommitAttempts) throw new Error(`JdbcSink: committing XA transaction ${p.tx.xid} failed: ${(e as Error).message}`, { cause: e })
          await sleep(500 * attempt)
        }
      }
      this.prepared.shift()
      this.idle.push(c)
    }
  }

  override finish(): void {
    this.flush()
  }

  override async close(): Promise<void> {
    this.stopTimer()
    const bounded = (p: Promise<unknown>): Promise<unknown> => Promise.race([p.catch(() => {}), sleep(10_000)])
    const tx = this.current as Tx | undefined
    if (tx !== undefined && !this.ctx.task.checkpointingEnabled && this.failure === undefined) {
      // Without checkpoints, the end of the input commits (one phase).
      this.flush()
      await this.drained()
      const c = await tx.conn
      await c.query(`XA END ${lit(tx.xid)}`)
      await c.query(`XA COMMIT ${lit(tx.xid)} ONE PHASE`)
      this.idle.push(c)
      this.committedAtEnd = true
    }
    this.closed = true
    // Prepared transactions stay prepared (the checkpoint holding them may have completed: a
    // restore commits them); the open transaction is rolled back.
    const open = this.committedAtEnd ? undefined : this.current as Tx | undefined
    await bounded(this.chain)
    if (open !== undefined) {
      await bounded(open.conn.then(async (c) => {
        await c.query(`XA END ${lit(open.xid)}`).catch(() => {})
        await c.query(`XA ROLLBACK ${lit(open.xid)}`).catch(() => {})
        await c.end()
      }))
    }
    for (const p of this.prepared) await bounded(p.tx.conn.then((c) => c.end()))
    for (const c of this.idle) await bounded(c.end())
  }
}
