/**
 * Typed errors. Every error the runtime raises on purpose is a TsflinkError with a reason, an
 * optional hint for the user and an optional cause; the CLI maps `kind` to an exit code.
 * Pure: imports nothing from the CLI layer.
 */

/** usage: the caller asked for something malformed (exit 2). operation: a well-formed request failed (exit 1). */
export type ErrorKind = 'usage' | 'operation'

const BRAND = Symbol.for('tsflink.error')

export class TsflinkError extends Error {
  readonly kind: ErrorKind
  readonly hint: string | undefined
  readonly [BRAND] = true

  constructor(message: string, options: { kind?: ErrorKind; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.kind = options.kind ?? 'operation'
    this.hint = options.hint
  }
}

/**
 * True for errors raised by any copy of this library: a job program may load its own module
 * instance, so `instanceof` is not enough.
 */
export function isTsflinkError(err: unknown): err is TsflinkError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true
}

/** A configuration file or value that cannot be used. */
export class ConfigError extends TsflinkError {}

/** The job program could not be loaded or did not describe a job. */
export class ProgramError extends TsflinkError {}

/** A checkpoint or savepoint could not be read, written or matched to the job. */
export class StateError extends TsflinkError {}

/** The job failed and the restart strategy gave up; `cause` is the last failure. */
export class JobExecutionError extends TsflinkError {}

/** An error message fit for one line: the message of the error and of its causes, joined. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
