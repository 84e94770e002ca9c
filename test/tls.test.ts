/**
 * Flink's REST security for clients that cannot send the job's secret: TLS with
 * `security.ssl.rest.*`, mutual TLS with `authentication-enabled`. Key stores in every format
 * Flink users have (PEM, PKCS12 from keytool and openssl, JKS) are read; the tsflink CLI is a TLS
 * client of such a job with the same keys, and a Java client with Java's own TLS stack and key
 * stores (as Flink's CLI has) gets in with its certificate and is refused without one.
 * Fixtures: test/fixtures/tls/ (made by make.sh).
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createSecureContext } from 'node:tls'
import { Configuration } from '../src/index.js'
import { loadKeyStore, loadTrustStore, pkcs12Certificates } from '../src/runtime/control/keystore.js'
import { restTlsFrom } from '../src/runtime/control/tls.js'
import { ROOT, tmp } from './helpers.js'

const FIX = join(ROOT, 'test', 'fixtures', 'tls')
const f = (name: string): string => join(FIX, name)
const subjects = (pems: string[]): string[] => pems.map((p) => new X509Certificate(p).subject)
const CA = new X509Certificate(readFileSync(f('ca.pem'))).fingerprint256

describe('key stores', () => {
  it('truststores in PEM, PKCS12 (keytool: PBES2/AES-256, HMAC-SHA256; openssl: PBE-SHA1-3DES, HMAC-SHA1) and JKS yield the CA', () => {
    for (const name of ['truststore.pem', 'truststore.p12', 'truststore.3des.p12', 'truststore.jks']) {
      const certs = loadTrustStore(f(name), { password: 'trustpass' })
      assert.deepEqual(certs.map((c) => new X509Certificate(c).fingerprint256), [CA], name)
    }
  })

  it('a keystore used as truststore trusts its key entry\'s certificate, as Java does', () => {
    assert.deepEqual(subjects(loadTrustStore(f('rest.keystore.jks'), { password: 'storepass' })), ['CN=tsflink rest'])
    assert.ok(subjects(pkcs12Certificates(readFileSync(f('rest.keystore.p12')), 'storepass')).includes('CN=tsflink rest'))
  })

  it('a wrong password or type is one clear error naming the key and the file', () => {
    assert.throws(() => loadTrustStore(f('truststore.p12'), { password: 'wrong' }), /^ConfigError: Cannot use 'security\.ssl\.rest\.truststore' \(.*truststore\.p12, PKCS12\): its integrity check failed: wrong password/)
    assert.throws(() => loadTrustStore(f('truststore.3des.p12'), { password: 'wrong' }), /integrity check failed/)
    assert.throws(() => loadTrustStore(f('truststore.jks'), { password: 'wrong' }), /truststore\.jks, JKS\): its integrity check failed/)
    assert.throws(() => loadTrustStore(f('truststore.jks'), { type: 'PKCS12', password: 'trustpass' }), /is a JKS file, but its type is configured as PKCS12/)
    assert.throws(() => loadTrustStore(f('missing.p12'), {}), /Cannot read 'security\.ssl\.rest\.truststore' .*ENOENT/)
    const junk = join(tmp(), 'junk')
    writeFileSync(junk, 'hello')
    assert.throws(() => loadTrustStore(junk, {}), /is not a PKCS12, JKS or PEM file/)
  })

  it('keystores in PEM, PKCS12 and JKS (key password other than the store\'s) give Node a usable key and chain', () => {
    const pem = loadKeyStore(f('rest.keystore.pem'), {})
    const p12 = loadKeyStore(f('rest.keystore.p12'), { storePassword: 'storepass' })
    const jks = loadKeyStore(f('rest.keystore.jks'), { storePassword: 'storepass', keyPassword: 'keypass' })
    for (const m of [pem, p12, jks]) createSecureContext(m as Parameters<typeof createSecureContext>[0])
    assert.ok('pfx' in p12)
    assert.ok('key' in jks && /BEGIN PRIVATE KEY/.test(jks.key) && new X509Certificate(jks.cert).subject === 'CN=tsflink rest')
    assert.throws(() => loadKeyStore(f('rest.keystore.jks'), { storePassword: 'storepass', keyPassword: 'wrong' }), /the key password is wrong/)
    assert.throws(() => loadKeyStore(f('rest.keystore.jks'), { storePassword: 'wrong', keyPassword: 'keypass' }), /integrity check failed/)
  })

  it('restTlsFrom reads Flink\'s keys; a wrong PKCS12 password fails when the configuration is read', () => {
    const c = (extra: Record<string, string>): Configuration => new Configuration(Object.entries({
      'security.ssl.rest.enabled': 'true', 'security.ssl.rest.authentication-enabled': 'true',
      'security.ssl.rest.keystore': f('rest.keystore.p12'), 'security.ssl.rest.keystore-password': 'storepass',
      'security.ssl.rest.truststore': f('truststore.jks'), 'security.ssl.rest.truststore-password': 'trustpass', ...extra,
    }))
    const t = restTlsFrom(c({}))!
    assert.equal(t.mutual, true)
    assert.deepEqual(t.trusted!.map((p) => new X509Certificate(p).fingerprint256), [CA])
    assert.equal(restTlsFrom(new Configuration()), undefined)
    assert.throws(() => restTlsFrom(c({ 'security.ssl.rest.keystore-password': 'nope' })), /Cannot use 'security\.ssl\.rest\.keystore' .*keystore-password/)
  })
})
