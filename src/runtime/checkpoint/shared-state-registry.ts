/**
 * The shared-state registry (Flink's SharedStateRegistry): reference counts for the files that
 * incremental checkpoints share (`<jobId>/shared/…`, or any file outside a checkpoint's own folder).
 *
 * - A checkpoint's references are registered when its tasks acknowledge it, so files a pending
 *   checkpoint uses are counted; they stay registered when it completes, until it is subsumed or
 *   discarded (`release`), or it is aborted (also `release`: a file only an aborted checkpoint
 *   uploaded reaches zero and is deleted).
 * - A file is deleted only when its count is zero, and not before every checkpoint that was pending
 *   at that moment has ended (`ended`): a pending checkpoint whose acknowledgement is still on its
 *   way may reference it. A pending checkpoint that then references the file revives it.
 * - A file handed out for deletion is remembered: a checkpoint that references one (a backend that
 *   reused an upload it believed confirmed) cannot complete (`reference` names such files).
 * Backends reuse only uploads confirmed by a completed checkpoint (they learn of completions
 * through notifyCheckpointComplete), so an upload of a pending or aborted checkpoint is never
 * shared.
 * Pure: decides, the coordinator deletes. Must not import storage, tasks or the CLI.
 * Tests: test/shared-state-registry.test.ts, test/shared-state.test.ts.
 */

export class SharedStateRegistry {
  /** @param remembered how many deleted files are remembered (a reference to one fails its checkpoint), oldest forgotten first */
  constructor(private readonly remembered = 100_000) {}

  /** File → the checkpoints (pending or completed) that reference it. */
  private readonly refs = new Map<string, Set<number>>()
  /** Checkpoint → the shared files it references. */
  private readonly byCheckpoint = new Map<number, Set<string>>()
  /** Files at count zero → the pending checkpoints that must end before they may be deleted. */
  private readonly waiting = new Map<string, Set<number>>()
  /** Files handed out for deletion, oldest first. */
  private readonly deleted = new Set<string>()

  /**
   * Registers checkpoint `id`'s references to `files`. Returns the files among them that were
   * already handed out for deletion: the checkpoint must not complete.
   */
  reference(id: number, files: Iterable<string>): string[] {
    const gone: string[] = []
    let mine = this.byCheckpoint.get(id)
    for (const f of files) {
      if (this.deleted.has(f)) {
        gone.push(f)
        continue
      }
      if (mine === undefined) this.byCheckpoint.set(id, (mine = new Set()))
      mine.add(f)
      let r = this.refs.get(f)
      if (r === undefined) this.refs.set(f, (r = new Set()))
      r.add(id)
      this.waiting.delete(f)
    }
    return gone
  }

  /**
   * Checkpoint `id` no longer needs its files (subsumed, discarded, aborted). Files now referenced
   * by no checkpoint are returned for deletion at once when no checkpoint is pending, else they
   * wait until every checkpoint in `pending` has ended.
   */
  release(id: number, pending: Iterable<number>): string[] {
    const mine = this.byCheckpoint.get(id)
    if (mine === undefined) return []
    this.byCheckpoint.delete(id)
    const blockers = new Set(pending)
    blockers.delete(id)
    const now: string[] = []
    for (const f of mine) {
      const r = this.refs.get(f)!
      r.delete(id)
      if (r.size > 0) continue
      this.refs.delete(f)
      if (blockers.size === 0) now.push(f)
      else this.waiting.set(f, new Set(blockers))
    }
    return this.handOut(now)
  }

  /** Checkpoint `id`, pending until now, completed or was aborted: returns files that may now be deleted. */
  ended(id: number): string[] {
    const now: string[] = []
    for (const [f, blockers] of this.waiting) {
      blockers.delete(id)
      if (blockers.size === 0) {
        this.waiting.delete(f)
        now.push(f)
      }
    }
    return this.handOut(now)
  }

  /** How many checkpoints reference `file`. */
  count(file: string): number {
    return this.refs.get(file)?.size ?? 0
  }

  /** Whether `file` was handed out for deletion. */
  isDeleted(file: string): boolean {
    return this.deleted.has(file)
  }

  /** Files at count zero waiting for pending checkpoints to end. */
  get waitingCount(): number {
    return this.waiting.size
  }

  private handOut(files: string[]): string[] {
    for (const f of files) {
      this.deleted.add(f)
      if (this.deleted.size > this.remembered) this.deleted.delete(this.deleted.values().next().value!)
    }
    return files
  }
}
