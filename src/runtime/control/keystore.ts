/**
 * Reading the key stores Flink's `security.ssl.rest.*` options name, into what Node's TLS takes:
 * PEM (keys and certificates as text), PKCS12 (what keytool writes by default since Java 9) and
 * JKS (Java's older format). Node reads a PKCS12 keystore itself (`pfx`), but not a PKCS12 or JKS
 * file that holds only trusted certificates, nor JKS keys: those are decoded here (a small DER
 * reader, PKCS#12 PBES2 and PBE-SHA1-3DES decryption with the MAC checked, and JKS's key
 * protection and integrity hash). The format is told by the file's first bytes unless a type is
 * given. Reads the named files; writes nothing. Tests: test/tls.test.ts.
 */
import { X509Certificate, createDecipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'

export type StoreType = 'PKCS12' | 'JKS' | 'PEM'

/** What TLS needs of a keystore: Node reads PKCS12 itself; JKS and PEM keys are given as PEM text. */
export type KeyMaterial = { pfx: Buffer; passphrase: string | undefined } | { key: string; cert: string; passphrase: string | undefined }

// ---- DER ----

interface Der {
  tag: number
  /** The content bytes. */
  body: Buffer
  /** The whole encoding (tag, length and content). */
  raw: Buffer
}

function readDer(buf: Buffer, at = 0): Der & { end: number } {
  if (at + 2 > buf.length) throw new Error('truncated DER')
  const tag = buf[at]!
  let len = buf[at + 1]!
  let off = at + 2
  if (len === 0x80) throw new Error('indefinite-length DER is not supported')
  if (len > 0x80) {
    const n = len & 0x7f
    if (n > 4 || off + n > buf.length) throw new Error('bad DER length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[off + i]!
    off += n
  }
  const end = off + len
  if (end > buf.length) throw new Error('truncated DER')
  return { tag, body: buf.subarray(off, end), raw: buf.subarray(at, end), end }
}

/** The elements of a SEQUENCE, SET or constructed context tag. */
function children(d: Der): Der[] {
  const out: Der[] = []
  let at = 0
  while (at < d.body.length) {
    const c = readDer(d.body, at)
    out.push(c)
    at = c.end
  }
  return out
}

function oid(d: Der): string {
  if (d.tag !== 0x06) throw new Error('expected an OBJECT IDENTIFIER')
  const b = d.body
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40]
  let v = 0
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f)
    if ((b[i]! & 0x80) === 0) {
      parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

function int(d: Der): number {
  if (d.tag !== 0x02) throw new Error('expected an INTEGER')
  let v = 0
  for (const x of d.body) v = v * 256 + x
  return v
}

/** An OCTET STRING's content, also in its constructed (BER) form. */
function octets(d: Der): Buffer {
  if ((d.tag & 0x20) === 0) return d.body
  return Buffer.concat(children(d).map(octets))
}

const at = (list: Der[], i: number): Der => {
  const d = list[i]
  if (d === undefined) throw new Error('unexpected end of a DER structure')
  return d
}

// ---- PKCS#12 ----

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbeSha1TripleDes: '1.2.840.113549.1.12.1.3',
  pbeSha1Rc2_40: '1.2.840.113549.1.12.1.6',
  pbeSha1Rc2_128: '1.2.840.113549.1.12.1.5',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const

const HMAC_PRF: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1', '1.2.840.113549.2.9': 'sha256', '1.2.840.113549.2.10': 'sha384', '1.2.840.113549.2.11': 'sha512',
}
const AES_CBC: Record<string, string> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc', '2.16.840.1.101.3.4.1.22': 'aes-192-cbc', '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
}
const DIGESTS: Record<string, { name: string; u: number; v: number }> = {
  [OID.sha1]: { name: 'sha1', u: 20, v: 64 },
  [OID.sha256]: { name: 'sha256', u: 32, v: 64 },
  [OID.sha384]: { name: 'sha384', u: 48, v: 128 },
  [OID.sha512]: { name: 'sha512', u: 64, v: 128 },
}

/** The password as PKCS#12's key derivation takes it: UTF-16BE with two zero bytes at the end. */
function bmpPassword(password: string): Buffer {
  const b = Buffer.alloc((password.length + 1) * 2)
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2)
  return b
}

/** RFC 7292, appendix B.2: PKCS#12's own key derivation (`id` 1 key, 2 IV, 3 MAC key). */
function pkcs12Kdf(password: string, salt: Buffer, iterations: number, id: number, n: number, digest: { name: string; u: number; v: number }): Buffer {
  const { v, u } = digest
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0)
    const out = Buffer.alloc(v * Math.ceil(src.length / v))
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!
    return out
  }
  const D = Buffer.alloc(v, id)
  const I = Buffer.concat([fill(salt), fill(bmpPassword(password))])
  const out: Buffer[] = []
  for (let produced = 0; produced < n; produced += u) {
    let A = createHash(digest.name).update(D).update(I).digest()
    for (let r = 1; r < iterations; r++) A = createHash(digest.name).update(A).digest()
    out.push(A)
    const B = fill(A)
    for (let j = 0; j < I.length; j += v) {
      let carry = 1
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry
        I[j + k] = sum & 0xff
        carry = sum >> 8
      }
    }
  }
  return Buffer.concat(out).subarray(0, n)
}

function decrypt(algorithm: Der, data: Buffer, password: string): Buffer {
  const [idDer, params] = children(algorithm)
  const id = oid(idDer!)
  if (id === OID.pbes2) {
    const [kdf, scheme] = children(params!)
    const [kdfId, kdfParams] = children(kdf!)
    if (oid(kdfId!) !== OID.pbkdf2) throw new Error(`unsupported key derivation ${oid(kdfId!)}`)
    const p = children(kdfParams!)
    const salt = octets(at(p, 0))
    const iterations = int(at(p, 1))
    const prfDer = p.find((d) => d.tag === 0x30)
    const prf = prfDer === undefined ? 'sha1' : HMAC_PRF[oid(at(children(prfDer), 0))]
    const [cipherId, ivDer] = children(scheme!)
    const cipher = AES_CBC[oid(cipherId!)]
    if (prf === undefined || cipher === undefined) throw new Error('unsupported PBES2 cipher or PRF')
    const keyLen = Number(/\d+/.exec(cipher)![0]) / 8
    const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyLen, prf)
    const d = createDecipheriv(cipher, key, octets(ivDer!))
    return Buffer.concat([d.update(data), d.final()])
  }
  if (id === OID.pbeSha1TripleDes) {
    const p = children(params!)
    const salt = octets(at(p, 0))
    const iterations = int(at(p, 1))
    const sha1 = DIGESTS[OID.sha1]!
    const key = pkcs12Kdf(password, salt, iterations, 1, 24, sha1)
    const iv = pkcs12Kdf(password, salt, iterations, 2, 8, sha1)
    const d = createDecipheriv('des-ede3-cbc', key, iv)
    return Buffer.concat([d.update(data), d.final()])
  }
  if (id === OID.pbeSha1Rc2_40 || id === OID.pbeSha1Rc2_128) {
    throw new Error('its certificates are encrypted with RC2, a legacy cipher this Node.js does not provide; re-create it with a current keytool or `openssl pkcs12 -export` (OpenSSL 3 uses AES)')
  }
  throw new Error(`unsupported encryption ${id}`)
}

function verifyPkcs12Mac(pfx: Der[], authSafe: Buffer, password: string): void {
  const macData = pfx[2]
  if (macData === undefined) return
  const [digestInfo, saltDer, iterDer] = children(macData)
  const [algDer, macDer] = children(digestInfo!)
  const digest = DIGESTS[oid(at(children(algDer!), 0))]
  if (digest === undefined) throw new Error('unsupported MAC digest')
  const iterations = iterDer === undefined ? 1 : int(iterDer)
  const key = pkcs12Kdf(password, octets(saltDer!), iterations, 3, digest.u, digest)
  const mac = createHmac(digest.name, key).update(authSafe).digest()
  const expected = octets(macDer!)
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw new Error('its integrity check failed: wrong password, or a damaged file')
}

/** Every X.509 certificate in a PKCS#12 file (trusted entries and key entries' chains), as PEM. */
export function pkcs12Certificates(file: Buffer, password: string): string[] {
  const pfx = children(readDer(file))
  const authSafeInfo = children(at(pfx, 1))
  if (oid(at(authSafeInfo, 0)) !== OID.data) throw new Error('public-key protected PKCS#12 files are not supported')
  const authSafe = octets(at(children(at(authSafeInfo, 1)), 0))
  verifyPkcs12Mac(pfx, authSafe, password)
  const certs: string[] = []
  for (const ci of children(readDer(authSafe))) {
    const [typeDer, contentDer] = children(ci)
    const type = oid(typeDer!)
    let safeContents: Buffer
    if (type === OID.data) {
      safeContents = octets(at(children(contentDer!), 0))
    } else if (type === OID.encryptedData) {
      const encryptedData = children(at(children(contentDer!), 0))
      const eci = children(at(encryptedData, 1))
      const encrypted = eci[2]
      if (encrypted === undefined) continue
      safeContents = decrypt(at(eci, 1), octets(encrypted), password)
    } else {
      continue
    }
    for (const bag of children(readDer(safeContents))) {
      const [bagId, bagValue] = children(bag)
      if (oid(bagId!) !== OID.certBag) continue
      const certBag = children(at(children(bagValue!), 0))
      if (oid(at(certBag, 0)) !== OID.x509Certificate) continue
      certs.push(derToPem(octets(at(children(at(certBag, 1)), 0)), 'CERTIFICATE'))
    }
  }
  return certs
}

// ---- JKS ----

const JKS_MAGIC = 0xfeedfeed
const JCEKS_MAGIC = 0xcececece
const SUN_KEY_PROTECTOR = '1.3.6.1.4.1.42.2.17.1.1'

interface JksContents {
  /** Private key entries, still encrypted (decrypted with jksDecryptKey when used). */
  keys: { alias: string; data: Buffer; chain: string[] }[]
  trusted: string[]
}

/** Java's password bytes: each char as two bytes, big-endian, no terminator. */
function javaPasswordBytes(password: string): Buffer {
  const b = Buffer.alloc(password.length * 2)
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2)
  return b
}

/** JKS key protection (sun.security.provider.KeyProtector): a SHA-1 keystream, checked by a SHA-1 digest. */
function jksDecryptKey(encryptedPrivateKeyInfo: Buffer, password: string): string {
  const info = children(readDer(encryptedPrivateKeyInfo))
  const alg = oid(at(children(at(info, 0)), 0))
  if (alg !== SUN_KEY_PROTECTOR) throw new Error(`unsupported JKS key protection ${alg}`)
  const data = octets(at(info, 1))
  const salt = data.subarray(0, 20)
  const encrypted = data.subarray(20, data.length - 20)
  const check = data.subarray(data.length - 20)
  const pw = javaPasswordBytes(password)
  const plain = Buffer.alloc(encrypted.length)
  let digest: Buffer = salt
  for (let i = 0; i < encrypted.length; i += 20) {
    digest = createHash('sha1').update(pw).update(digest).digest()
    for (let j = 0; j < 20 && i + j < encrypted.length; j++) plain[i + j] = encrypted[i + j]! ^ digest[j]!
  }
  const ok = createHash('sha1').update(pw).update(plain).digest()
  if (!timingSafeEqual(ok, check)) throw new Error('the key password is wrong')
  return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString()
}

function parseJks(file: Buffer, storePassword: string | undefined): JksContents {
  let off = 0
  const u32 = (): number => { const v = file.readUInt32BE(off); off += 4; return v }
  const utf = (): string => { const n = file.readUInt16BE(off); off += 2; const s = file.subarray(off, off + n).toString('utf8'); off += n; return s }
  const bytes = (n: number): Buffer => { const b = file.subarray(off, off + n); if (b.length !== n) throw new Error('truncated'); off += n; return b }
  const magic = u32()
  if (magic === JCEKS_MAGIC) throw new Error('JCEKS key stores are not supported; convert it to PKCS12 with keytool -importkeystore -deststoretype PKCS12')
  if (magic !== JKS_MAGIC) throw new Error('not a JKS file')
  const version = u32()
  const count = u32()
  const cert = (): string => {
    if (version === 2) {
      const type = utf()
      if (type !== 'X.509') throw new Error(`unsupported certificate type ${type}`)
    }
    return derToPem(bytes(u32()), 'CERTIFICATE')
  }
  const out: JksContents = { keys: [], trusted: [] }
  for (let i = 0; i < count; i++) {
    const tag = u32()
    const alias = utf()
    off += 8 // creation time
    if (tag === 1) {
      const data = bytes(u32())
      const chain: string[] = []
      for (let n = u32(); n > 0; n--) chain.push(cert())
      out.keys.push({ alias, data, chain })
    } else if (tag === 2) {
      out.trusted.push(cert())
    } else {
      throw new Error(`unsupported JKS entry type ${tag}`)
    }
  }
  if (storePassword !== undefined) {
    const expected = createHash('sha1').update(javaPasswordBytes(storePassword)).update('Mighty Aphrodite').update(file.subarray(0, off)).digest()
    const stored = file.subarray(off, off + 20)
    if (stored.length !== 20 || !timingSafeEqual(expected, stored)) throw new Error('its integrity check failed: wrong password, or a damaged file')
  }
  return out
}

// ---- PEM ----

function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

function pemBlocks(text: string): { label: string; pem: string }[] {
  const out: { label: string; pem: string }[] = []
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)) out.push({ label: m[1]!, pem: `${m[0]}\n` })
  return out
}

// ---- loading ----

function sniff(file: Buffer): StoreType | undefined {
  if (file.length >= 4 && (file.readUInt32BE(0) === JKS_MAGIC || file.readUInt32BE(0) === JCEKS_MAGIC)) return 'JKS'
  if (file.subarray(0, 200).toString('latin1').includes('-----BEGIN ')) return 'PEM'
  if (file[0] === 0x30) return 'PKCS12'
  return undefined
}

function open(path: string, key: string, declared: StoreType | undefined): { data: Buffer; type: StoreType } {
  let data: Buffer
  try {
    data = readFileSync(path)
  } catch (err) {
    throw new ConfigError(`Cannot read '${key}' (${path}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const found = sniff(data)
  if (found === undefined) throw new ConfigError(`'${key}' (${path}) is not a PKCS12, JKS or PEM file`)
  if (declared !== undefined && declared !== found) throw new ConfigError(`'${key}' (${path}) is a ${found} file, but its type is configured as ${declared}`)
  return { data, type: found }
}

/** A keystore: this endpoint's private key and certificate chain. */
export function loadKeyStore(path: string, opts: { type?: StoreType | undefined; storePassword?: string | undefined; keyPassword?: string | undefined }): KeyMaterial {
  const key = 'security.ssl.rest.keystore'
  const { data, type } = open(path, key, opts.type)
  try {
    if (type === 'PKCS12') {
      // Node reads it when the TLS context is made; the caller checks it then.
      return { pfx: data, passphrase: opts.keyPassword ?? opts.storePassword }
    }
    if (type === 'JKS') {
      const entry = parseJks(data, opts.storePassword).keys[0]
      if (entry === undefined) throw new Error('it holds no private key')
      const pw = opts.keyPassword ?? opts.storePassword
      if (pw === undefined) throw new Error(`the key '${entry.alias}' needs a password (key-password or keystore-password)`)
      return { key: jksDecryptKey(entry.data, pw), cert: entry.chain.join(''), passphrase: undefined }
    }
    const blocks = pemBlocks(data.toString('utf8'))
    const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'))
    const certs = blocks.filter((b) => b.label === 'CERTIFICATE')
    if (keys.length !== 1 || certs.length === 0) throw new Error('a PEM keystore needs one private key and its certificate chain')
    return { key: keys[0]!.pem, cert: certs.map((c) => c.pem).join(''), passphrase: opts.keyPassword ?? opts.storePassword }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`Cannot use '${key}' (${path}, ${type}): ${(err as Error).message}`)
  }
}

/** A truststore: the certificates trusted for the other side, as PEM. */
export function loadTrustStore(path: string, opts: { type?: StoreType | undefined; password?: string | undefined }): string[] {
  const key = 'security.ssl.rest.truststore'
  const { data, type } = open(path, key, opts.type)
  let certs: string[]
  try {
    if (type === 'PKCS12') certs = pkcs12Certificates(data, opts.password ?? '')
    else if (type === 'JKS') {
      // As Java's trust managers: trusted certificate entries, and the certificate of each key entry.
      const jks = parseJks(data, opts.password)
      certs = [...jks.trusted, ...jks.keys.flatMap((k) => k.chain.slice(0, 1))]
    } else certs = pemBlocks(data.toString('utf8')).filter((b) => b.label === 'CERTIFICATE').map((b) => b.pem)
    for (const c of certs) new X509Certificate(c)
  } catch (err) {
    throw new ConfigError(`Cannot use '${key}' (${path}, ${type}): ${(err as Error).message}`)
  }
  if (certs.length === 0) throw new ConfigError(`'${key}' (${path}) holds no certificate`)
  return certs
}
