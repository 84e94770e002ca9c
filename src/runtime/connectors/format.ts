/**
 * How records print as text (print() and the file sink's default encoder): strings as they are,
 * arrays as Flink prints tuples `(a,b)`, objects as JSON. Pure.
 */

export function formatRecord(v: unknown): string {
  if (typeof v === 'string') return v
  if (Array.isArray(v)) return `(${v.map(formatField).join(',')})`
  if (v instanceof Map) return JSON.stringify(Object.fromEntries(v))
  if (v !== null && typeof v === 'object') return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
  return String(v)
}

function formatField(v: unknown): string {
  return formatRecord(v)
}
