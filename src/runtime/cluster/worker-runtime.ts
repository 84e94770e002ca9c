/**
 * Task slots in worker threads, seen from the JobMaster on the main thread. Starts one worker
 * per slot in use (min(taskmanager.numberOfTaskSlots, the job's largest parallelism)), connects
 * every pair of slots with a MessageChannel for records, and speaks protocol.ts with each.
 * Workers are kept across attempts (the program is loaded once per worker); a worker that died
 * (an uncaught error, out of memory under its resourceLimits) or did not cancel within
 * `task.cancellation.timeout` is terminated, and all workers are started afresh for the next
 * attempt.
 * Main-thread side only: it never runs user code. Tests: test/workers.test.ts.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import type { ReplayPlan } from '../checkpoint/channel-state.js'
import type { CheckpointBarrier } from '../checkpoint/options.js'
import type { RestorePlan } from '../checkpoint/state-assignment.js'
import { ProgramError } from '../errors.js'
import type { JobGraph } from '../graph/job-graph.js'
import { workerEntry } from '../core/worker-entry.js'
import { graphFingerprint } from './fingerprint.js'
import { HEARTBEAT_INTERVAL_MS, errorFrom, type FromWorker, type ToWorker, type WorkerInit } from './protocol.js'
import type { AttemptEvents, TaskRuntime } from './task-runtime.js'

export interface WorkerRuntimeSpec {
  graph: JobGraph
  /** Slots available (taskmanager.numberOfTaskSlots). */
  slots: number
  init: Omit<WorkerInit, 'slot' | 'slots' | 'peers'>
  /** Cancelled tasks that do not stop within this long get their worker terminated. */
  cancellationTimeoutMs: number
  /** Heap limit of each worker (MB), or undefined for Node's default. */
  heapMb: number | undefined
  /** heartbeat.timeout: a slot silent for this long is declared stuck and the attempt fails over. */
  heartbeatTimeoutMs: number
  /**
   * The module each worker runs (the job layer's worker main): a `.js` file, or a `.ts` file when
   * running from TypeScript sources (then the worker registers tsx first).
   */
  workerMain: URL
}

/** How long a worker may take to load the program and build the graph. */
const READY_TIMEOUT_MS = 120_000

interface Slot {
  worker: Worker
  exited: boolean
  lastHeartbeat: number
}

export class WorkerTaskRuntime implements TaskRuntime {
  private slots: Slot[] = []
  private starting: Promise<void> | undefined
  /** A worker died or was terminated: start all afresh before the next attempt. */
  private broken = false
  private attempt = -1
  private events: AttemptEvents | undefined
  private nextReq = 0
  private readonly pending = new Map<number, { slot: number; resolve: () => void; reject: (e: Error) => void }>()
  private waiters: { match: (slot: number, m: FromWorker) => boolean; resolve: () => void; reject: (e: Error) => void; left: Set<number> }[] = []
  private shuttingDown = false
  readonly slotsUsed: number

  constructor(private readonly spec: WorkerRuntimeSpec) {
    const maxP = Math.max(1, ...spec.graph.vertices.map((v) => v.parallelism))
    this.slotsUsed = Math.max(1, Math.min(spec.slots, maxP))
  }

  private async startWorkers(): Promise<void> {
    await this.terminateAll()
    this.broken = false
    const n = this.slotsUsed
    const peers: (MessagePort | undefined)[][] = Array.from({ length: n }, () => new Array<MessagePort | undefined>(n).fill(undefined))
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const mc = new MessageChannel()
        peers[i]![j] = mc.port1
        peers[j]![i] = mc.port2
      }
    }
    const { entry, evaluate } = workerEntry(this.spec.workerMain)
    const expected = graphFingerprint(this.spec.graph)
    const ready = this.waitAll((_s, m) => m.t === 'ready', new Set([...Array(n).keys()]), READY_TIMEOUT_MS, 'load the program')
    for (let i = 0; i < n; i++) {
      const init: WorkerInit = { ...this.spec.init, slot: i, slots: n, peers: peers[i]! }
      const worker = new Worker(entry, {
        eval: evaluate,
        workerData: init,
        transferList: peers[i]!.filter((p): p is MessagePort => p !== undefined),
        name: `tsflink-slot-${i}`,
        ...(this.spec.heapMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: this.spec.heapMb } }),
      })
      const slot: Slot = { worker, exited: false, lastHeartbeat: Date.now() }
      this.slots.push(slot)
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready' && m.fingerprint !== expected) {
          this.fatal(i, new ProgramError('The program built a different job graph in a task slot than on the JobMaster: a program must build the same pipeline each time it runs (no randomness or environment-dependent shape)'))
          return
        }
        this.onMessage(i, m)
      })
      worker.on('error', (err) => this.onDeath(i, slot, err))
      worker.on('exit', (code) => this.onDeath(i, slot, new Error(`Task slot ${i} exited with code ${code}`)))
    }
    await ready
    this.watchdog ??= setInterval(() => this.checkHeartbeats(), HEARTBEAT_INTERVAL_MS)
    this.watchdog.unref()
  }

  private watchdog: NodeJS.Timeout | undefined

  /** A slot whose thread stopped returning to its event loop (user code that never returns) fails the attempt. */
  private checkHeartbeats(): void {
    if (this.events === undefined) return
    const now = Date.now()
    this.slots.forEach((s, i) => {
      if (s.exited || now - s.lastHeartbeat <= this.spec.heartbeatTimeoutMs) return
      s.lastHeartbeat = now
      this.broken = true
      this.events?.failed(`slot-${i}`, new Error(`Task slot ${i} has not responded for ${this.spec.heartbeatTimeoutMs} ms (heartbeat.timeout): user code that does not return?`))
    })
  }

  private ensureWorkers(): Promise<void> {
    if (this.starting === undefined || this.broken) this.starting = this.startWorkers()
    return this.starting
  }

  private post(slot: number, m: ToWorker): void {
    const s = this.slots[slot]
    if (s !== undefined && !s.exited) s.worker.postMessage(m)
  }

  private broadcast(m: ToWorker): void {
    for (let i = 0; i < this.slots.length; i++) this.post(i, m)
  }

  /** Resolves once every slot in `left` sent a message `match` accepts; rejects on `fatal`, death or timeout. */
  private waitAll(match: (slot: number, m: FromWorker) => boolean, left: Set<number>, timeoutMs: number, what: string): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`Task slots ${[...left].join(', ')} did not ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      const waiter = {
        match, left,
        resolve: () => { clearTimeout(timer); resolve() },
        reject: (e: Error) => { clearTimeout(timer); reject(e) },
      }
      this.waiters.push(waiter)
    })
    // Rejections are seen by whoever awaits it; until then, they are not unhandled.
    p.catch(() => {})
    return p
  }

  private onMessage(slot: number, m: FromWorker): void {
    const s = this.slots[slot]
    if (s !== undefined) s.lastHeartbeat = Date.now()
    for (const w of [...this.waiters]) {
      if (w.left.has(slot) && w.match(slot, m)) {
        w.left.delete(slot)
        if (w.left.size === 0) {
          this.waiters = this.waiters.filter((x) => x !== w)
          w.resolve()
        }
      }
    }
    const ev = this.events
    switch (m.t) {
      case 'fatal':
        this.fatal(slot, errorFrom(m.error))
        break
      case 'done': {
        const p = this.pending.get(m.req)
        if (p === undefined) break
        this.pending.delete(m.req)
        if (m.error !== undefined) p.reject(errorFrom(m.error))
        else p.resolve()
        break
      }
      case 'ack':
        if (m.attempt === this.attempt) ev?.ack(m.id, m.task, m.ops)
        break
      case 'decline':
        if (m.attempt === this.attempt) ev?.decline(m.id, m.task, errorFrom(m.error))
        break
      case 'finished':
        if (m.attempt === this.attempt) ev?.finished(m.task)
        break
      case 'failed':
        if (m.attempt === this.attempt) {
          const err = errorFrom(m.error)
          for (const w of [...this.waiters]) w.reject(err)
          this.waiters = []
          ev?.failed(m.task, err)
        }
        break
    }
  }

  private fatal(slot: number, err: Error): void {
    this.broken = true
    const e = err.name === 'ProgramError' || err instanceof ProgramError ? err : new ProgramError(`The program failed in task slot ${slot}: ${err.message}`, { cause: err })
    for (const w of this.waiters) w.reject(e)
    this.waiters = []
    this.events?.failed(`slot-${slot}`, e)
  }

  private onDeath(i: number, slot: Slot, err: Error): void {
    if (slot.exited) return
    slot.exited = true
    if (this.shuttingDown || this.slots[i] !== slot) return
    this.broken = true
    const e = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
      ? new Error(`Task slot ${i} ran out of memory (${err.message})`, { cause: err })
      : err
    for (const [req, p] of this.pending) {
      if (p.slot === i) {
        this.pending.delete(req)
        p.resolve()
      }
    }
    for (const w of [...this.waiters]) w.reject(e)
    this.waiters = []
    this.events?.failed(`slot-${i}`, e)
  }

  /** Asks every live slot to do `t` for the current attempt; slots that take longer than `timeoutMs` are terminated. */
  private async request(t: 'settle' | 'cancel' | 'close', timeoutMs: number): Promise<void> {
    const waits = this.slots.map((s, i) => {
      if (s.exited) return Promise.resolve()
      const req = this.nextReq++
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(req)
          this.broken = true
          // A task that does not return (user code that never yields) cannot be cancelled: end its thread.
          void s.worker.terminate()
          resolve()
        }, timeoutMs)
        timer.unref()
        this.pending.set(req, {
          slot: i,
          resolve: () => { clearTimeout(timer); resolve() },
          reject: (e) => { clearTimeout(timer); reject(e) },
        })
        this.post(i, { t, attempt: this.attempt, req } as ToWorker)
      })
    })
    const results = await Promise.allSettled(waits)
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  async deploy(attempt: number, restore: RestorePlan | undefined, replay: ReplayPlan | undefined, events: AttemptEvents): Promise<void> {
    await this.ensureWorkers()
    this.attempt = attempt
    this.events = events
    const all = new Set(this.slots.map((_s, i) => i))
    const deployed = this.waitAll((_s, m) => m.t === 'deployed' && m.attempt === attempt, new Set(all), this.spec.cancellationTimeoutMs, 'deploy their tasks')
    this.broadcast({ t: 'deploy', attempt, restore, replay })
    await deployed
    const started = this.waitAll((_s, m) => m.t === 'started' && m.attempt === attempt, new Set(all), READY_TIMEOUT_MS, 'restore and start their tasks')
    this.broadcast({ t: 'start', attempt })
    await started
  }

  startCheckpoint(barrier: CheckpointBarrier): void {
    this.broadcast({ t: 'checkpoint', attempt: this.attempt, barrier })
  }

  notifyComplete(id: number, isSavepoint: boolean): void {
    this.broadcast({ t: 'complete', attempt: this.attempt, id, isSavepoint })
  }

  notifyAborted(id: number): void {
    this.broadcast({ t: 'abort', attempt: this.attempt, id })
  }

  notificationsSettled(): Promise<void> {
    return this.request('settle', this.spec.cancellationTimeoutMs)
  }

  async cancel(): Promise<void> {
    this.events = undefined
    // A deployment still under way is abandoned.
    for (const w of this.waiters) w.reject(new Error('The attempt was cancelled'))
    this.waiters = []
    await this.request('cancel', this.spec.cancellationTimeoutMs).catch(() => {})
  }

  async close(): Promise<void> {
    await this.request('close', this.spec.cancellationTimeoutMs)
    this.events = undefined
  }

  private async terminateAll(): Promise<void> {
    const slots = this.slots
    this.slots = []
    this.shuttingDown = true
    await Promise.all(slots.map((s) => (s.exited ? undefined : s.worker.terminate())))
    this.shuttingDown = false
  }

  async shutdown(): Promise<void> {
    if (this.watchdog !== undefined) clearInterval(this.watchdog)
    await this.terminateAll()
  }
}
