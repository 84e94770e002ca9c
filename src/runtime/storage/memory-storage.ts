/**
 * In-memory storage: the twin of the real ones for unit tests. Optionally slowed, failing, or held
 * open at chosen locations, to exercise checkpoint timeouts, failures and races.
 * Tests: test/storage.test.ts (the storage contract), test/coordinator.test.ts.
 */
import type { Storage, StoredObject } from './storage.js'

export class MemoryStorage implements Storage {
  readonly objects = new Map<string, { data: Buffer; mtimeMs: number }>()
  /** Milliseconds every write waits before it lands. */
  writeDelayMs = 0
  /** When set, every write rejects with this error. */
  failWrites: Error | undefined
  private readonly gates: { match: (location: string) => boolean; open: Promise<void> }[] = []

  /**
   * Holds every write (plain or atomic) to a location `match` accepts, begun now or later, until
   * the returned function is called; the held writes then land (or fail) in order. Every gate's
   * `match` is asked once per write, when the write begins.
   */
  hold(match: (location: string) => boolean): () => void {
    let release!: () => void
    const gate = { match, open: new Promise<void>((r) => (release = r)) }
    this.gates.push(gate)
    return () => {
      this.gates.splice(this.gates.indexOf(gate), 1)
      release()
    }
  }

  private async beforeWrite(location: string): Promise<void> {
    const held = this.gates.filter((g) => g.match(location))
    for (const g of held) await g.open
    if (this.writeDelayMs > 0) await new Promise((r) => setTimeout(r, this.writeDelayMs))
    if (this.failWrites !== undefined) throw this.failWrites
  }

  async write(location: string, data: Uint8Array): Promise<void> {
    await this.beforeWrite(location)
    this.objects.set(location, { data: Buffer.from(data), mtimeMs: Date.now() })
  }

  writeAtomic(location: string, data: Uint8Array): Promise<void> {
    return this.write(location, data)
  }

  async read(location: string): Promise<Buffer> {
    const o = this.objects.get(location)
    if (o === undefined) throw Object.assign(new Error(`No such object: ${location}`), { code: 'ENOENT' })
    return o.data
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    const o = this.objects.get(location)
    return o === undefined ? undefined : { location, size: o.data.length, mtimeMs: o.mtimeMs }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const p = prefix.endsWith('/') ? prefix : `${prefix}/`
    return [...this.objects]
      .filter(([k]) => k.startsWith(p))
      .map(([location, o]) => ({ location, size: o.data.length, mtimeMs: o.mtimeMs }))
  }

  async delete(location: string): Promise<void> {
    this.objects.delete(location)
  }

  async createExclusive(location: string, data: Uint8Array): Promise<boolean> {
    if (this.objects.has(location) || this.creating.has(location)) return false
    this.creating.add(location)
    try {
      await this.write(location, data)
    } finally {
      this.creating.delete(location)
    }
    return true
  }

  /** Locations a createExclusive is writing: a concurrent one must see them as taken. */
  private readonly creating = new Set<string>()

  async deleteTree(prefix: string): Promise<void> {
    const p = prefix.endsWith('/') ? prefix : `${prefix}/`
    for (const k of [...this.objects.keys()]) if (k.startsWith(p)) this.objects.delete(k)
  }
}
