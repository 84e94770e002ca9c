/**
 * The pieces of v8's serialization format (the tags of its ValueSerializer) that tsflink writes
 * byte by byte instead of calling v8.serialize: snapshot sections (state/section-encoder.ts) and
 * LSM table blocks (state/lsm/sstable.ts). A dense array is 'A' length elements '$' 0 length, an
 * object 'o' properties '{' count, a one-byte string '"' length bytes, a Smi 'I' zig-zag varint, a
 * double 'N' 8 bytes (little endian). Whatever is written here must equal what v8.serialize
 * writes for the same value: test/section-encoder.test.ts and test/lsm-memtable.test.ts compare.
 * Also `smiIfInt`, for numbers read from typed arrays. Pure; imports nothing of the runtime.
 */
import { serialize } from 'node:v8'

export const TAG_OBJECT = 0x6f
export const TAG_END_OBJECT = 0x7b
export const TAG_ARRAY = 0x41
export const TAG_END_ARRAY = 0x24
export const TAG_ONE_BYTE_STRING = 0x22
export const TAG_INT = 0x49
export const TAG_DOUBLE = 0x4e
/** v8.serialize's header (version tag and version), as this Node writes it. */
export const V8_HEADER = serialize(0).subarray(0, 2)
/** At most what one number takes: a tag and 8 bytes. */
export const MAX_NUMBER_BYTES = 9

const scratch = new Float64Array(1)
const scratchBytes = new Uint8Array(scratch.buffer)

/** Writes `u` (an unsigned 32-bit integer) as a base-128 varint at `at`; returns where it ends. */
export function writeVarint(out: Uint8Array, at: number, u: number): number {
  while (u >= 0x80) {
    out[at++] = (u & 0x7f) | 0x80
    u >>>= 7
  }
  out[at++] = u
  return at
}

/** An int32 as a Smi: 'I' and its zig-zag varint. */
export function writeSmi(out: Uint8Array, at: number, n: number): number {
  out[at++] = TAG_INT
  return writeVarint(out, at, ((n << 1) ^ (n >> 31)) >>> 0)
}

/** A number as v8 writes an array element: a Smi for int32 values (not -0), else a double. */
export function writeNumber(out: Uint8Array, at: number, x: number): number {
  const n = x | 0
  if (n === x && (n !== 0 || 1 / x > 0)) return writeSmi(out, at, n)
  out[at++] = TAG_DOUBLE
  scratch[0] = x
  for (let b = 0; b < 8; b++) out[at + b] = scratchBytes[b]!
  return at + 8
}

/**
 * `x` as v8 represents an int32 it computed (a Smi) when it is one (not -0): a number read from a
 * typed array is a double to v8 even when integral, which v8.serialize then writes as a double,
 * and which is boxed when stored where any value may go.
 */
export function smiIfInt(x: number): number {
  const n = x | 0
  return n === x && (n !== 0 || 1 / x > 0) ? n : x
}
