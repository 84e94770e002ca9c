/**
 * Helpers that give hot-path objects their final shape from the start. V8 compiles a task's hot
 * loop for the shapes (maps) it has seen; an array that was empty when the loop was compiled and
 * later receives its first object changes shape (from small integers to objects), and the loop's
 * optimized code is thrown away on the spot and compiled again, often less well. Where that first
 * object arrives only at a checkpoint, every first checkpoint of a job cost tens of milliseconds of
 * processing (measured with V8's --trace-deopt on a keyed count at 1 M keys).
 * Pure; imports nothing of the runtime.
 */

/** An empty array that already has the shape of an array of objects (or functions). */
export function objectArray<T extends object>(): T[] {
  const a: unknown[] = [undefined]
  a.length = 0
  return a as T[]
}
