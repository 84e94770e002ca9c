/**
 * Loads a job program (job.ts or .js) into this thread, as Flink's PackagedProgram does: the
 * bare specifier 'tsflink' resolves to this installation's library (resolve-hook.ts), TypeScript
 * is compiled on the fly (tsx), and `process.argv` is [node, file, ...args] while it runs.
 * The launcher (the CLI, or a worker thread of a running job) installs an execution context first
 * (context.ts). Used on the main thread by `tsflink run` and in every worker thread of a job.
 * Tests: the CLI and worker tests.
 */
import { register } from 'node:module'
import { pathToFileURL } from 'node:url'

let resolverRegistered = false

/** Makes 'tsflink' resolve to this installation's library in programs loaded from now on. */
export function registerTsflinkResolver(): void {
  if (resolverRegistered) return
  resolverRegistered = true
  const ext = new URL(import.meta.url).pathname.endsWith('.ts') ? 'ts' : 'js'
  const target = new URL(`../../index.${ext}`, import.meta.url).href
  register(new URL(`./resolve-hook.${ext}`, import.meta.url), { data: { target } })
}

let loads = 0

/**
 * Imports the program at absolute path `file` with `args` as its arguments; resolves when its
 * module finished evaluating. Each call evaluates the program anew (a module is otherwise
 * evaluated once per thread), so one process can run the same program more than once.
 */
export async function importProgram(file: string, args: readonly string[]): Promise<void> {
  registerTsflinkResolver()
  process.argv = [process.argv[0] ?? 'node', file, ...args]
  const { tsImport } = await import('tsx/esm/api')
  const url = pathToFileURL(file)
  if (loads++ > 0) url.searchParams.set('tsflink-load', String(loads))
  await tsImport(url.href, import.meta.url)
}
