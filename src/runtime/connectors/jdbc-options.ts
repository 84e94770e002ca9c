/**
 * The options of the JDBC sink, named as Flink's: JdbcExecutionOptions (batch size, batch
 * interval, retries), JdbcConnectionOptions (a `jdbc:mysql://host:port/db` URL, user, password),
 * JdbcExactlyOnceOptions (XA), and the statement a record fills (JDBC's 1-based setters).
 * Imports nothing of the runtime; never imports the CLI. Tests: test/integration/jdbc.test.ts.
 */

/** The parameters of one statement, set by index from 1 (as java.sql.PreparedStatement). */
export class JdbcStatement {
  readonly params: unknown[] = []

  private set(index: number, value: unknown): void {
    if (!Number.isInteger(index) || index < 1) throw new Error(`JdbcStatement: parameter indexes start at 1, not ${index}`)
    this.params[index - 1] = value
  }

  setInt(index: number, value: number): void {
    this.set(index, value)
  }
  setLong(index: number, value: number | bigint): void {
    this.set(index, typeof value === 'bigint' ? value.toString() : value)
  }
  setDouble(index: number, value: number): void {
    this.set(index, value)
  }
  setString(index: number, value: string): void {
    this.set(index, value)
  }
  setBoolean(index: number, value: boolean): void {
    this.set(index, value)
  }
  setTimestamp(index: number, value: Date): void {
    this.set(index, value)
  }
  setBytes(index: number, value: Uint8Array): void {
    this.set(index, Buffer.from(value))
  }
  setNull(index: number): void {
    this.set(index, null)
  }
  setObject(index: number, value: unknown): void {
    this.set(index, value)
  }
}

/** Fills a statement from a record: `(ps, r) => { ps.setInt(1, r.id); ps.setString(2, r.name) }`. */
export type JdbcStatementBuilder<T> = (statement: JdbcStatement, record: T) => void

export interface JdbcExecutionSettings {
  /** Records per batch: a full batch is written at once. */
  readonly batchSize: number
  /** A batch not full is written after this many ms (0: only when full or at a checkpoint). */
  readonly batchIntervalMs: number
  /** Times a failed batch is tried again (with a new connection) before the job fails. */
  readonly maxRetries: number
}

class JdbcExecutionOptionsBuilder {
  private s = { batchSize: 5000, batchIntervalMs: 0, maxRetries: 3 }

  withBatchSize(size: number): this {
    if (!Number.isInteger(size) || size < 1) throw new Error(`JdbcExecutionOptions: the batch size must be at least 1, not ${size}`)
    this.s.batchSize = size
    return this
  }

  withBatchIntervalMs(ms: number): this {
    if (!Number.isInteger(ms) || ms < 0) throw new Error(`JdbcExecutionOptions: the batch interval must be a whole number of ms >= 0, not ${ms}`)
    this.s.batchIntervalMs = ms
    return this
  }

  withMaxRetries(retries: number): this {
    if (!Number.isInteger(retries) || retries < 0) throw new Error(`JdbcExecutionOptions: the max retries must be >= 0, not ${retries}`)
    this.s.maxRetries = retries
    return this
  }

  build(): JdbcExecutionSettings {
    return { ...this.s }
  }
}

export const JdbcExecutionOptions = {
  builder: (): JdbcExecutionOptionsBuilder => new JdbcExecutionOptionsBuilder(),
  /** Batches of 5000, no interval, 3 retries (Flink's defaults). */
  defaults: (): JdbcExecutionSettings => new JdbcExecutionOptionsBuilder().build(),
}

export interface JdbcConnectionSettings {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string | undefined
  readonly password: string | undefined
  readonly connectionCheckTimeoutSeconds: number
}

/** `jdbc:mysql://host[:port]/database[?user=..&password=..]` (also jdbc:mariadb://). */
export function parseJdbcUrl(url: string): { host: string; port: number; database: string; user?: string; password?: string } {
  const m = /^jdbc:(mysql|mariadb):\/\/([^/:?]+|\[[^\]]+\])(?::(\d+))?\/([^?]+)(?:\?(.*))?$/.exec(url)
  if (m === null) throw new Error(`JdbcConnectionOptions: unsupported URL '${url}' (expected jdbc:mysql://host:port/database)`)
  const params = new URLSearchParams(m[5] ?? '')
  const user = params.get('user') ?? undefined
  const password = params.get('password') ?? undefined
  return {
    host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] === undefined ? 3306 : Number(m[3]), database: decodeURIComponent(m[4]!),
    ...(user === undefined ? {} : { user }), ...(password === undefined ? {} : { password }),
  }
}

class JdbcConnectionOptionsBuilder {
  private url: string | undefined
  private username: string | undefined
  private password: string | undefined
  private timeout = 60

  withUrl(url: string): this {
    parseJdbcUrl(url)
    this.url = url
    return this
  }

  /** Accepted for Flink compatibility: MySQL and MariaDB URLs always use the MySQL protocol. */
  withDriverName(_driver: string): this {
    return this
  }

  withUsername(username: string): this {
    this.username = username
    return this
  }

  withPassword(password: string): this {
    this.password = password
    return this
  }

  withConnectionCheckTimeoutSeconds(seconds: number): this {
    this.timeout = seconds
    return this
  }

  build(): JdbcConnectionSettings {
    if (this.url === undefined) throw new Error('JdbcConnectionOptions: withUrl is required')
    const u = parseJdbcUrl(this.url)
    return {
      url: this.url, host: u.host, port: u.port, database: u.database,
      username: this.username ?? u.user, password: this.password ?? u.password, connectionCheckTimeoutSeconds: this.timeout,
    }
  }
}

export const JdbcConnectionOptions = {
  JdbcConnectionOptionsBuilder,
  builder: (): JdbcConnectionOptionsBuilder => new JdbcConnectionOptionsBuilder(),
}

export interface JdbcExactlyOnceSettings {
  /** Prepared transactions a restore finds (XA RECOVER) that no checkpoint holds are rolled back. */
  readonly recoveredAndRollback: boolean
  /** Times a commit is tried before the job fails. */
  readonly maxCommitAttempts: number
  /** XA transaction ids are `<prefix>:<subtask>:<attempt>:<n>`: unique per job, stable across its restores. */
  readonly transactionIdPrefix: string | undefined
}

class JdbcExactlyOnceOptionsBuilder {
  private s: { recoveredAndRollback: boolean; maxCommitAttempts: number; transactionIdPrefix: string | undefined } = {
    recoveredAndRollback: true, maxCommitAttempts: 3, transactionIdPrefix: undefined,
  }

  withRecoveredAndRollback(value: boolean): this {
    this.s.recoveredAndRollback = value
    return this
  }

  withMaxCommitAttempts(attempts: number): this {
    if (!Number.isInteger(attempts) || attempts < 1) throw new Error(`JdbcExactlyOnceOptions: max commit attempts must be at least 1, not ${attempts}`)
    this.s.maxCommitAttempts = attempts
    return this
  }

  /** MySQL and MariaDB need a connection per transaction; always so here. */
  withTransactionPerConnection(_value: boolean): this {
    return this
  }

  withTransactionIdPrefix(prefix: string): this {
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(prefix)) throw new Error(`JdbcExactlyOnceOptions: the transaction id prefix must be 1-40 letters, digits, '_', '.' or '-', not '${prefix}'`)
    this.s.transactionIdPrefix = prefix
    return this
  }

  build(): JdbcExactlyOnceSettings {
    return { ...this.s }
  }
}

export const JdbcExactlyOnceOptions = {
  builder: (): JdbcExactlyOnceOptionsBuilder => new JdbcExactlyOnceOptionsBuilder(),
  defaults: (): JdbcExactlyOnceSettings => new JdbcExactlyOnceOptionsBuilder().build(),
}
