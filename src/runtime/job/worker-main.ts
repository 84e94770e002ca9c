/**
 * The entry point of a task slot's worker thread. It loads the job program itself (functions
 * cannot cross threads): an execution context makes the program's env.execute() hand over its
 * job graph instead of running it; the program's console output is muted while it loads, so a
 * program's top level prints once (on the main thread), not once per slot. The graph's
 * fingerprint must equal the JobMaster's, or the job fails (a program must build the same
 * pipeline each time it runs).
 * Then it serves the JobMaster's messages (protocol.ts): deploy an attempt's subtasks of this slot
 * into a TaskExecutor, start them, pass checkpoint triggers and notifications, cancel or close.
 * Records go straight to other slots through PeerLinks, never through the main thread.
 * Tests: test/workers.test.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { Configuration } from '../config/configuration.js'
import { installContext, type ExecutionContext } from './context.js'
import type { JobResult, JobSpec } from './job-master.js'
import { importProgram } from './program.js'
import { HeapKeyedStateBackend } from '../state/heap-keyed-backend.js'
import { LsmKeyedStateBackend } from '../state/lsm/lsm-keyed-backend.js'
import { PeerLink } from '../task/remote-channel.js'
import { TaskExecutor, type Transport } from '../task/task-executor.js'
import { taskCheckpointOptions } from '../task/subtask-checkpoint.js'
import { graphFingerprint } from '../cluster/fingerprint.js'
import { HEARTBEAT_INTERVAL_MS, errorInfo, type FromWorker, type ToWorker, type WorkerInit } from '../cluster/protocol.js'
import { sharedDurableWriter } from '../storage/durable-writer.js'

const init = workerData as WorkerInit
const port = parentPort!

function send(m: FromWorker): void {
  port.postMessage(m)
}

/** Resolves once the main thread took everything written to this thread's stdout and stderr (they are copied over asynchronously). */
function flushStdio(): Promise<void> {
  const flush = (s: NodeJS.WriteStream): Promise<void> => new Promise((r) => s.write('', () => r()))
  return Promise.all([flush(process.stdout), flush(process.stderr)]).then(() => {})
}

/** Runs the program until its `init.executionIndex`-th env.execute(); resolves with that job's spec. */
async function captureJob(): Promise<JobSpec> {
  const muted = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
  const saved = muted.map((k) => console[k])
  for (const k of muted) console[k] = () => {}
  try {
    return await new Promise<JobSpec>((resolve, reject) => {
      let executions = 0
      const ctx: ExecutionContext = {
        config: new Configuration(init.config),
        parallelism: init.parallelism,
        restore: undefined,
        program: init.program,
        printStream: init.printTo === 'stderr' ? process.stderr : process.stdout,
        executions: 0,
        worker: true,
        submit: (spec) => {
          executions++
          if (executions === init.executionIndex) {
            resolve(spec)
            return new Promise<JobResult>(() => {})
          }
          // An earlier job of the program: it ran already; let the program go on to ours.
          return Promise.resolve({ jobId: spec.jobId, jobName: spec.jobName, status: 'FINISHED', netRuntimeMs: 0, restarts: 0, checkpoints: 0 })
        },
      }
      installContext(ctx)
      importProgram(init.program.file, init.program.args).then(
        () => reject(new Error(`The program executed ${executions} job(s) when loaded in a task slot, fewer than the ${init.executionIndex} it executed on the JobMaster; a program must build the same jobs each time it runs`)),
        reject,
      )
    })
  } finally {
    muted.forEach((k, i) => (console[k] = saved[i]!))
  }
}

async function main(): Promise<void> {
  // State files are written durably on the slot's writer thread: it loads while the program does.
  if (init.checkpoint.intervalMs !== undefined) sharedDurableWriter.warm()
  const spec = await captureJob()
  const links = new Map<number, PeerLink>()
  let executor: TaskExecutor | undefined
  let attempt = -1
  const wake = (): void => executor?.wake()
  init.peers.forEach((p, slot) => {
    if (p !== undefined) links.set(slot, new PeerLink(p, wake))
  })
  const transport: Transport = {
    output: (peer, id) => links.get(peer)!.output(id),
    input: (peer, id) => links.get(peer)!.input(id),
    poll: () => {
      for (const l of links.values()) l.poll()
    },
  }
  send({ t: 'ready', fingerprint: graphFingerprint(spec.graph) })
  // A timer fires only while the thread returns to its event loop: heartbeats stop when user code never returns.
  setInterval(() => send({ t: 'heartbeat' }), HEARTBEAT_INTERVAL_MS).unref()

  const handlers = {
    deploy(m: Extract<ToWorker, { t: 'deploy' }>): void {
      attempt = m.attempt
      for (const l of links.values()) l.begin(attempt)
      const a = attempt
      executor = new TaskExecutor({
        jobId: init.jobId, graph: spec.graph, attempt: a, placement: { slots: init.slots, slot: init.slot }, transport,
        storageFor: spec.storageFor, clock: spec.clock,
        checkpointing: taskCheckpointOptions(init.checkpoint),
        checkpointingEnabled: init.checkpoint.intervalMs !== undefined,
        restore: m.restore, replay: m.replay,
        keyedBackend: (range, maxParallelism) => init.backend === 'rocksdb'
          ? new LsmKeyedStateBackend(range, maxParallelism, init.localStateDir)
          : new HeapKeyedStateBackend(range, maxParallelism, { snapshots: init.checkpoint.intervalMs !== undefined }),
        hooks: {
          ack: (id, task, ops) => send({ t: 'ack', attempt: a, id, task, ops }),
          decline: (id, task, err) => send({ t: 'decline', attempt: a, id, task, error: errorInfo(err) }),
          finished: (task) => send({ t: 'finished', attempt: a, task }),
          fail: (task, err) => send({ t: 'failed', attempt: a, task, error: errorInfo(err) }),
        },
      })
      for (const l of links.values()) l.ready()
      send({ t: 'deployed', attempt: a, tasks: executor.taskKeys })
    },
    async start(m: Extract<ToWorker, { t: 'start' }>): Promise<void> {
      const ex = executor
      if (ex === undefined || m.attempt !== attempt) return
      try {
        await ex.initialize()
      } catch (err) {
        send({ t: 'failed', attempt: m.attempt, task: ex.taskKeys[0] ?? '', error: errorInfo(err) })
        return
      }
      if (m.attempt !== attempt) return
      ex.start()
      send({ t: 'started', attempt: m.attempt })
    },
  }

  port.on('message', (m: ToWorker) => {
    const ex = executor
    switch (m.t) {
      case 'deploy':
        handlers.deploy(m)
        break
      case 'start':
        void handlers.start(m)
        break
      case 'checkpoint':
        if (m.attempt === attempt) for (const t of ex?.tasks ?? []) t.expectCheckpoint(m.barrier)
        break
      case 'complete':
        if (m.attempt === attempt) for (const t of ex?.tasks ?? []) t.notifyCheckpointComplete(m.id, m.isSavepoint)
        break
      case 'abort':
        if (m.attempt === attempt) for (const t of ex?.tasks ?? []) t.notifyCheckpointAborted(m.id)
        break
      case 'settle':
      case 'cancel':
      case 'close': {
        const work = m.attempt !== attempt || ex === undefined
          ? Promise.resolve()
          : m.t === 'settle'
            ? Promise.all(ex.tasks.map((t) => t.notificationsSettled())).then(() => {})
            : m.t === 'cancel' ? ex.cancel() : ex.close()
        work.then(flushStdio, async (err: unknown) => {
          await flushStdio()
          throw err
        }).then(
          () => send({ t: 'done', req: m.req }),
          (err: unknown) => send({ t: 'done', req: m.req, error: errorInfo(err) }),
        )
        break
      }
    }
  })
}

main().catch((err: unknown) => send({ t: 'fatal', error: errorInfo(err) }))
