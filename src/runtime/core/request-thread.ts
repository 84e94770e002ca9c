/**
 * A helper thread that answers requests, for work a task's thread must not wait on (the snapshot
 * encoder, durable file writes). The thread starts on first use (or `warm()`), is referenced only
 * while requests are in flight (an idle helper holds no process open), and a thread that fails or
 * exits fails the requests in flight; the next request starts a new one. The thread's module calls
 * `serveRequests` with its handler. An error thrown by the handler reaches the caller with its
 * message and, for system errors, its `code` (so `ENOENT` stays recognizable).
 * Must not import anything of the runtime. Tests: test/section-encoder.test.ts,
 * test/durable-write.test.ts.
 */
import { Worker, parentPort, type Transferable } from 'node:worker_threads'
import { workerEntry } from './worker-entry.js'

interface ErrorInfo {
  message: string
  code?: string
  syscall?: string
  path?: string
}

type Reply<R> = { id: number; result: R; error?: undefined } | { id: number; error: ErrorInfo } | { ready: true }

interface Pending<R> {
  resolve(r: R): void
  reject(e: Error): void
}

export class RequestThread<Q, R> {
  private worker: Worker | undefined
  /** The thread answers requests now (its module loaded): a request waits for nothing but the work. */
  private isReady = false
  private nextId = 1
  private readonly pending = new Map<number, Pending<R>>()

  /**
   * `module`: the thread's entry module (see worker-entry.ts); `what`: names the thread in errors
   * ("the snapshot encoder"); `failed`: the prefix of a handler's error ("Encoding a snapshot failed").
   */
  constructor(
    private readonly module: URL,
    private readonly name: string,
    private readonly what: string,
    private readonly failed: string,
  ) {}

  request(body: Q, transfer: Transferable[] = []): Promise<R> {
    const worker = this.start()
    const id = this.nextId++
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      if (this.pending.size === 1) worker.ref()
      worker.postMessage({ id, body }, transfer)
    })
  }

  /** Starts the thread now, so that the first request does not wait for it to load. */
  warm(): void {
    this.start()
  }

  get started(): boolean {
    return this.worker !== undefined
  }

  /** Whether the thread has loaded and answers requests at once. */
  get ready(): boolean {
    return this.isReady
  }

  /** Stops the thread; requests in flight fail. */
  async close(): Promise<void> {
    const w = this.worker
    this.worker = undefined
    this.isReady = false
    this.failAll(new Error(`${capitalized(this.what)} was closed`))
    if (w !== undefined) await w.terminate()
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker
    const { entry, evaluate } = workerEntry(this.module)
    // No flags of this process (--import tsx, loaders): the thread runs only this package's code,
    // and loading a process's preloads again costs each thread ~50 ms (from TypeScript sources,
    // the entry registers tsx itself).
    const worker = new Worker(entry, { eval: evaluate, execArgv: [], name: this.name })
    worker.on('message', (m: Reply<R>) => {
      if ('ready' in m) {
        if (this.worker === worker) this.isReady = true
        return
      }
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      if (this.pending.size === 0) worker.unref()
      if (m.error !== undefined) p.reject(rebuildError(this.failed, m.error))
      else p.resolve(m.result)
    })
    const lost = (err: Error): void => {
      if (this.worker !== worker) return
      this.worker = undefined
      this.isReady = false
      this.failAll(err)
    }
    worker.on('error', (e) => lost(new Error(`${capitalized(this.what)} thread failed: ${e.message}`)))
    worker.on('exit', (code) => lost(new Error(`${capitalized(this.what)} thread exited with code ${code}`)))
    // After the listeners: adding a 'message' listener references the worker again.
    worker.unref()
    this.worker = worker
    return worker
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()]
    this.pending.clear()
    for (const p of all) p.reject(err)
  }
}

/**
 * In the thread: answers each request with `handle`'s result (its transfer list moves buffers back
 * without a copy), then calls `after` (e.g. a garbage collection).
 */
export function serveRequests<Q, R>(handle: (body: Q) => { result: R; transfer?: Transferable[] }, after?: () => void): void {
  parentPort?.on('message', (m: { id: number; body: Q }) => {
    try {
      const { result, transfer } = handle(m.body)
      parentPort!.postMessage({ id: m.id, result }, transfer ?? [])
    } catch (e) {
      parentPort!.postMessage({ id: m.id, error: errorInfo(e) })
    }
    if (after !== undefined) setImmediate(after)
  })
  parentPort?.postMessage({ ready: true })
}

function errorInfo(e: unknown): ErrorInfo {
  if (!(e instanceof Error)) return { message: String(e) }
  const { code, syscall, path } = e as NodeJS.ErrnoException
  return { message: e.message, ...(code === undefined ? {} : { code }), ...(syscall === undefined ? {} : { syscall }), ...(path === undefined ? {} : { path }) }
}

function rebuildError(prefix: string, info: ErrorInfo): Error {
  const e = new Error(`${prefix}: ${info.message}`) as NodeJS.ErrnoException
  if (info.code !== undefined) e.code = info.code
  if (info.syscall !== undefined) e.syscall = info.syscall
  if (info.path !== undefined) e.path = info.path
  return e
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
