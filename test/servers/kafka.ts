/**
 * Starts a real Kafka-protocol broker for a test file: librdkafka's mock cluster on 127.0.0.1
 * (built once by build-kafka-mock.sh). Known gaps of the mock: it does not hide aborted
 * transactions from read_committed consumers and does not fence zombie producers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface, type Interface } from 'node:readline'

const ROOT = resolve(import.meta.dirname, '..', '..')

export interface KafkaBroker {
  brokers: string[]
  createTopic(name: string, partitions: number): Promise<void>
  stop(): Promise<void>
}

/** `rebalanceDelayMs`: the brokers' group.initial.rebalance.delay.ms (Kafka's default is 3 s; tests use 0). */
export async function startKafka(brokerCount = 1, rebalanceDelayMs = 0): Promise<KafkaBroker> {
  execFileSync('bash', [resolve(ROOT, 'test', 'servers', 'build-kafka-mock.sh')], { stdio: 'inherit' })
  const bin = resolve(ROOT, 'node_modules', '.cache', 'tsflink-kafka-mock', 'kafka-mock')
  const child: ChildProcess = spawn(bin, [String(brokerCount), String(rebalanceDelayMs)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: Interface = createInterface({ input: child.stdout! })
  const next = (): Promise<string> => new Promise((ok, fail) => {
    lines.once('line', ok)
    child.once('exit', (code) => fail(new Error(`kafka-mock exited with ${code}`)))
  })
  const bootstrap = await next()
  return {
    brokers: bootstrap.split(','),
    async createTopic(name, partitions) {
      const answer = next()
      child.stdin!.write(`topic ${name} ${partitions}\n`)
      const a = await answer
      if (a !== 'ok') throw new Error(`kafka-mock: ${a}`)
    },
    async stop() {
      child.stdin!.end()
      await new Promise((r) => child.once('exit', r))
    },
  }
}
