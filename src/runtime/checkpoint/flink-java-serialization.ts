/**
 * A small reader of Java object serialization (java.io.ObjectOutputStream, protocol version 2),
 * enough for the checkpoint properties Flink appends to `_metadata` since format version 4:
 * plain serializable objects, their class descriptors and super classes, strings, enums, arrays,
 * nulls and back references. Classes with custom writeObject data, externalizable classes and
 * proxies are refused (an error naming them), never guessed.
 * Pure; never imports the CLI. Tests: test/flink-metadata.test.ts.
 */

export type JavaValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | { className: string; fields: Record<string, JavaValue> }
  | { enumClass: string; enumConstant: string }
  | { arrayClass: string; items: JavaValue[] }

const STREAM_MAGIC = 0xaced
const STREAM_VERSION = 5
const TC_NULL = 0x70
const TC_REFERENCE = 0x71
const TC_CLASSDESC = 0x72
const TC_OBJECT = 0x73
const TC_STRING = 0x74
const TC_ARRAY = 0x75
const TC_ENDBLOCKDATA = 0x78
const TC_LONGSTRING = 0x7c
const TC_ENUM = 0x7e
const BASE_HANDLE = 0x7e0000
const SC_WRITE_METHOD = 0x01
const SC_SERIALIZABLE = 0x02
const SC_EXTERNALIZABLE = 0x04

interface FieldDesc { type: string; name: string }
interface ClassDesc { name: string; flags: number; fields: FieldDesc[]; superClass: ClassDesc | null }

class Reader {
  private offset = 0
  private readonly view: DataView
  private readonly handles: unknown[] = []

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining(): number { return this.bytes.length - this.offset }

  private need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new Error(`truncated at byte ${this.offset}`)
  }

  u8(): number { this.need(1); return this.bytes[this.offset++]! }
  u16(): number { this.need(2); const v = this.view.getUint16(this.offset); this.offset += 2; return v }
  i32(): number { this.need(4); const v = this.view.getInt32(this.offset); this.offset += 4; return v }
  i64(): bigint { this.need(8); const v = this.view.getBigInt64(this.offset); this.offset += 8; return v }
  peek(): number { this.need(1); return this.bytes[this.offset]! }

  utf(length: number): string {
    this.need(length)
    const s = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.offset, length).toString('utf8')
    this.offset += length
    return s
  }

  header(): void {
    if (this.u16() !== STREAM_MAGIC || this.u16() !== STREAM_VERSION) throw new Error('not a Java serialization stream')
  }

  private newHandle(value: unknown): number {
    this.handles.push(value)
    return this.handles.length - 1
  }

  private reference(): unknown {
    const handle = this.i32() - BASE_HANDLE
    if (handle < 0 || handle >= this.handles.length) throw new Error(`bad back reference ${handle + BASE_HANDLE}`)
    return this.handles[handle]
  }

  private classDesc(): ClassDesc | null {
    const tc = this.u8()
    if (tc === TC_NULL) return null
    if (tc === TC_REFERENCE) {
      const d = this.reference()
      if (!d || typeof d !== 'object' || !('flags' in d)) throw new Error('back reference to a non-class')
      return d as ClassDesc
    }
    if (tc !== TC_CLASSDESC) throw new Error(`unsupported class descriptor tag 0x${tc.toString(16)}`)
    const name = this.utf(this.u16())
    this.i64() // serialVersionUID
    const desc: ClassDesc = { name, flags: 0, fields: [], superClass: null }
    this.newHandle(desc)
    desc.flags = this.u8()
    const count = this.u16()
    for (let i = 0; i < count; i++) {
      const type = String.fromCharCode(this.u8())
      const fieldName = this.utf(this.u16())
      if (type === 'L' || type === '[') this.content() // the field's class name
      desc.fields.push({ type, name: fieldName })
    }
    if (this.u8() !== TC_ENDBLOCKDATA) throw new Error(`class annotations of ${name} are not supported`)
    desc.superClass = this.classDesc()
    return desc
  }

  private primitive(type: string): JavaValue {
    switch (type) {
      case 'B': { const v = this.u8(); return v > 127 ? v - 256 : v }
      case 'C': return String.fromCharCode(this.u16())
      case 'S': { const v = this.u16(); return v > 32767 ? v - 65536 : v }
      case 'I': return this.i32()
      case 'J': return this.i64()
      case 'Z': return this.u8() !== 0
      case 'F': { this.need(4); const v = this.view.getFloat32(this.offset); this.offset += 4; return v }
      case 'D': { this.need(8); const v = this.view.getFloat64(this.offset); this.offset += 8; return v }
      default: throw new Error(`unknown field type ${type}`)
    }
  }

  content(): JavaValue {
    const tc = this.u8()
    switch (tc) {
      case TC_NULL: return null
      case TC_REFERENCE: return this.reference() as JavaValue
      case TC_STRING: { const s = this.utf(this.u16()); this.newHandle(s); return s }
      case TC_LONGSTRING: {
        const n = this.i64()
        if (n > BigInt(this.remaining)) throw new Error('truncated long string')
        const s = this.utf(Number(n)); this.newHandle(s); return s
      }
      case TC_ENUM: {
        const desc = this.classDesc()
        if (!desc) throw new Error('enum without class')
        const value: { enumClass: string; enumConstant: string } = { enumClass: desc.name, enumConstant: '' }
        this.newHandle(value)
        const constant = this.content()
        if (typeof constant !== 'string') throw new Error(`enum constant of ${desc.name} is not a string`)
        value.enumConstant = constant
        return value
      }
      case TC_ARRAY: {
        const desc = this.classDesc()
        if (!desc) throw new Error('array without class')
        const value: { arrayClass: string; items: JavaValue[] } = { arrayClass: desc.name, items: [] }
        this.newHandle(value)
        const n = this.i32()
        if (n < 0 || n > this.remaining) throw new Error(`bad array length ${n}`)
        const component = desc.name.charAt(1)
        for (let i = 0; i < n; i++) value.items.push(component === 'L' || component === '[' ? this.content() : this.primitive(component))
        return value
      }
      case TC_OBJECT: {
        const desc = this.classDesc()
        if (!desc) throw new Error('object without class')
        const value: { className: string; fields: Record<string, JavaValue> } = { className: desc.name, fields: {} }
        this.newHandle(value)
        const chain: ClassDesc[] = []
        for (let d: ClassDesc | null = desc; d; d = d.superClass) chain.unshift(d)
        for (const d of chain) {
          if (d.flags & SC_EXTERNALIZABLE) throw new Error(`externalizable class ${d.name} is not supported`)
          if (!(d.flags & SC_SERIALIZABLE)) continue
          for (const f of d.fields) value.fields[f.name] = f.type === 'L' || f.type === '[' ? this.content() : this.primitive(f.type)
          if (d.flags & SC_WRITE_METHOD) {
            if (this.u8() !== TC_ENDBLOCKDATA) throw new Error(`custom serialized data of ${d.name} is not supported`)
          }
        }
        return value
      }
      default:
        throw new Error(`unsupported serialization tag 0x${tc.toString(16)}`)
    }
  }
}

/** Reads one object written by ObjectOutputStream; the bytes must hold exactly that object. */
export function readJavaSerialized(bytes: Uint8Array): JavaValue {
  const r = new Reader(bytes)
  r.header()
  const value = r.content()
  if (r.remaining !== 0) throw new Error(`${r.remaining} bytes after the object`)
  return value
}
