/**
 * Module resolve hooks for job programs (registered by program.ts):
 * - the bare specifier 'tsflink' resolves to this installation's library, so that a job file
 *   anywhere on disk runs against the CLI that launched it, without node_modules;
 * - TypeScript files outside node_modules load as ES modules (top-level await, import/export),
 *   even in a folder without a package.json that says "type": "module".
 */
let target = ''

export function initialize(data: { target: string }): void {
  target = data.target
}

interface Resolved {
  url: string
  format?: string | null
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved & { shortCircuit?: boolean }> {
  if (specifier === 'tsflink') return { url: target, shortCircuit: true, format: 'module' }
  const r = await next(specifier, context)
  if (r.url.startsWith('file:') && /\.(ts|tsx|mts)$/.test(r.url) && !r.url.includes('/node_modules/')) return { ...r, format: 'module' }
  return r
}
