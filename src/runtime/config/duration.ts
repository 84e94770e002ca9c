/**
 * Flink's duration syntax: a number and an optional unit (`500 ms`, `10 s`, `3min`, `1 h`, `7d`).
 * A bare number is milliseconds. Pure. Tests: test/config.test.ts.
 */

const UNITS: Record<string, number> = {
  ms: 1, milli: 1, millis: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
}

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (m === null) return undefined
  const unit = m[2]!.toLowerCase()
  const factor = unit === '' ? 1 : UNITS[unit]
  if (factor === undefined) return undefined
  return Math.round(Number(m[1]) * factor)
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000} d`
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000} min`
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000} s`
  return `${ms} ms`
}
