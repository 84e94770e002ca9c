/**
 * How to start a module as a worker thread: a compiled `.js` module is its own entry; a `.ts`
 * module (the runtime running from its TypeScript sources) gets a small bootstrap that registers
 * tsx in the new thread first. Used for task slots and for the snapshot encoder.
 * Pure (computes the entry, starts nothing). Tests: test/workers.test.ts, test/section-encoder.test.ts.
 */

export interface WorkerEntry {
  entry: URL | string
  /** Pass as the Worker's `eval` option: the entry is code, not a file. */
  evaluate: boolean
}

/** `sibling` is a module's path relative to `base` without its extension, e.g. './worker-main'. */
export function siblingModule(sibling: string, base: string): URL {
  return new URL(`${sibling}${new URL(base).pathname.endsWith('.ts') ? '.ts' : '.js'}`, base)
}

export function workerEntry(main: URL): WorkerEntry {
  if (!main.pathname.endsWith('.ts')) return { entry: main, evaluate: false }
  const tsx = import.meta.resolve('tsx/esm/api')
  return { entry: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(main.href)}) })`, evaluate: true }
}
