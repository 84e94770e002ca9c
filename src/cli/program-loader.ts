/**
 * Loads and runs a job program (job.ts) with an execution context installed, as Flink's
 * PackagedProgram does: the program builds its pipeline and calls env.execute(), which hands
 * the job to the context's `submit`. TypeScript is compiled on the fly.
 */
import { existsSync, statSync } from 'node:fs'
import { register } from 'node:module'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { tsImport } from 'tsx/esm/api'
import { ProgramError, describeError, isTsflinkError } from '../runtime/errors.js'
import { installContext, type ExecutionContext } from '../runtime/job/context.js'

let hookRegistered = false

function registerTsflinkResolver(): void {
  if (hookRegistered) return
  hookRegistered = true
  const target = new URL('../index.js', import.meta.url).href
  register(new URL('./resolve-hook.js', import.meta.url), { data: { target } })
}

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
  registerTsflinkResolver()
  process.argv = [process.argv[0] ?? 'node', abs, ...args]
  installContext(ctx)
  try {
    await tsImport(pathToFileURL(abs).href, import.meta.url)
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
