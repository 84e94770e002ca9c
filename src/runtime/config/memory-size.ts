/**
 * Flink's memory sizes: a number with an optional unit (b, k/kb, m/mb, g/gb, t/tb, or the
 * spelled-out kibibytes…), 1024-based; "256m", "1 gb", "1073741824". Pure.
 * Tests: test/lsm-memory.test.ts.
 */
const UNITS: Record<string, number> = {
  '': 1, b: 1, bytes: 1, k: 2 ** 10, kb: 2 ** 10, kibibytes: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mebibytes: 2 ** 20,
  g: 2 ** 30, gb: 2 ** 30, gibibytes: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tebibytes: 2 ** 40,
}

/** Bytes, or undefined when `text` is not a memory size. */
export function parseMemorySize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  if (m === null) return undefined
  const f = UNITS[m[2]!.toLowerCase()]
  if (f === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * f)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}
