/**
 * Loads and runs a job program (job.ts) with an execution context installed, as Flink's
 * PackagedProgram does: the program builds its pipeline and calls env.execute(), which hands
 * the job to the context's `submit`. TypeScript is compiled on the fly.
 */
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { ProgramError, describeError, isTsflinkError } from '../runtime/errors.js'
import { installContext, type ExecutionContext } from '../runtime/job/context.js'
import { importProgram } from '../runtime/job/program.js'

export function checkProgramFile(file: string): string {
  const abs = resolve(file)
  if (!existsSync(abs) || !statSync(abs).isFile()) throw new ProgramError(`Job file '${file}' does not exist`)
  return abs
}

/**
 * Runs the program to its end: resolves once the program's module finished and every job it
 * executed has ended.
 */
export async function runProgram(file: string, args: string[], ctx: ExecutionContext, jobs: Promise<unknown>[]): Promise<void> {
  const abs = checkProgramFile(file)
  installContext(ctx)
  try {
    await importProgram(abs, args)
  } catch (err) {
    if (isTsflinkError(err)) throw err
    throw new ProgramError(`The program '${file}' failed: ${firstLine(describeError(err))}`, { cause: err })
  } finally {
    installContext(undefined)
  }
  await Promise.all(jobs)
  if (ctx.executions === 0) {
    throw new ProgramError("The program didn't contain a Flink job. Perhaps you forgot to call execute() on the execution environment.")
  }
}

/** The informative line of an error: for a compile error, the one naming file, line and problem. */
function firstLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter((l) => l !== '')
  if (lines[0]?.startsWith('Transform failed') && lines[1] !== undefined) return lines[1]
  return lines[0] ?? s
}
