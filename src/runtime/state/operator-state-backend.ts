/**
 * Operator (non-keyed) list state of one operator subtask: named lists that are split evenly or
 * unioned across subtasks when a job is rescaled. Sources keep their split positions here.
 * Snapshot: a shallow copy of each list (lists are small); file: one v8-serialized
 * `{ [name]: elements[] }`. Must not import the task or the CLI.
 * Tests: test/operator-state.test.ts, test/state-assignment.test.ts (redistribution on restore).
 */
import { serialize } from 'node:v8'
import type { ListState, ListStateDescriptor, OperatorStateStore } from '../core/state.js'

export type DistributionMode = 'split' | 'union'

export class OperatorStateBackend implements OperatorStateStore {
  private readonly lists = new Map<string, { mode: DistributionMode; elements: unknown[] }>()
  private readonly restored = new Map<string, unknown[]>()

  /** State handed over by restore; claimed by the first getListState of that name. */
  restore(name: string, elements: unknown[]): void {
    this.restored.set(name, elements)
  }

  get isRestored(): boolean {
    return this.restored.size > 0
  }

  getListState<T>(d: ListStateDescriptor<T>): ListState<T> {
    return this.list(d, 'split')
  }

  getUnionListState<T>(d: ListStateDescriptor<T>): ListState<T> {
    return this.list(d, 'union')
  }

  private list<T>(d: ListStateDescriptor<T>, mode: DistributionMode): ListState<T> {
    let entry = this.lists.get(d.name)
    if (entry === undefined) {
      entry = { mode, elements: [...(this.restored.get(d.name) ?? [])] }
      this.lists.set(d.name, entry)
    } else if (entry.mode !== mode) {
      throw new Error(`Operator state '${d.name}' is registered as ${entry.mode} list state and cannot be used as ${mode} list state`)
    }
    const e = entry
    return {
      get: () => e.elements.slice() as T[],
      add: (v: T) => void e.elements.push(v),
      addAll: (vs: Iterable<T>) => void e.elements.push(...vs),
      update: (vs: Iterable<T>) => void (e.elements = [...vs]),
      clear: () => void (e.elements = []),
    }
  }

  /** Synchronous snapshot; undefined when there is no state. */
  snapshot(): { data: Buffer; states: Record<string, DistributionMode> } | undefined {
    if (this.lists.size === 0) return undefined
    const body: Record<string, unknown[]> = {}
    const states: Record<string, DistributionMode> = {}
    // Own properties whatever the name: a list named '__proto__' would otherwise set a prototype.
    const own = { enumerable: true, writable: true, configurable: true }
    for (const [name, { mode, elements }] of this.lists) {
      Object.defineProperty(body, name, { ...own, value: elements })
      Object.defineProperty(states, name, { ...own, value: mode })
    }
    return { data: serialize(body), states }
  }
}
