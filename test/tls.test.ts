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
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createSecureContext } from 'node:tls'
import { Configuration } from '../src/index.js'
import { loadKeyStore, loadTrustStore, pkcs12Certificates } from '../src/runtime/control/keystore.js'
import { restTlsFrom } from '../src/runtime/control/tls.js'
import { ROOT, runCli, tmp, untilRunning } from './helpers.js'
import { stopJob } from './other-user.js'

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

/** A Java client on Java's own TLS stack and key stores, as Flink's CLI has: prints `<status> <body>`. */
const JAVA_CLIENT = `
import javax.net.ssl.*;
import java.io.*;
import java.net.URL;
import java.security.KeyStore;
public class Client {
  public static void main(String[] a) throws Exception {
    KeyStore ts = KeyStore.getInstance(new File(a[4]), a[5].toCharArray());
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ts);
    KeyManager[] kms = null;
    if (!a[2].equals("-")) {
      KeyStore ks = KeyStore.getInstance(new File(a[2]), a[3].toCharArray());
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, a[3].toCharArray());
      kms = kmf.getKeyManagers();
    }
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kms, tmf.getTrustManagers(), null);
    HttpsURLConnection c = (HttpsURLConnection) new URL(a[1]).openConnection();
    c.setSSLSocketFactory(ctx.getSocketFactory());
    c.setRequestMethod(a[0]);
    if (a.length > 6) {
      c.setDoOutput(true);
      c.setRequestProperty("Content-Type", "application/json");
      c.getOutputStream().write(a[6].getBytes("UTF-8"));
    }
    int code = c.getResponseCode();
    InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream();
    System.out.println(code + " " + new String(in.readAllBytes(), "UTF-8"));
  }
}
`

describe('a job serving its REST API over mutual TLS', () => {
  // Registered before tmp()'s cleanup, so that it runs first: the job must be gone before its folder.
  after(async () => stopJob(home, jobId))
  const home = tmp()
  const conf = join(home, 'conf')
  let jobId: string
  let endpoint: string
  const tlsConf = (keystore: string, mutual = true): string => [
    'security.ssl.rest.enabled: true',
    `security.ssl.rest.authentication-enabled: ${mutual}`,
    `security.ssl.rest.keystore: ${keystore}`,
    'security.ssl.rest.keystore-password: storepass',
    `security.ssl.rest.truststore: ${f('truststore.jks')}`,
    'security.ssl.rest.truststore-password: trustpass',
  ].join('\n')
  const withConf = (text: string): string => {
    const dir = join(tmp(), 'conf')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'config.yaml'), `${text}\n`)
    return dir
  }

  before(async () => {
    mkdirSync(conf, { recursive: true })
    writeFileSync(join(conf, 'config.yaml'), `${tlsConf(f('rest.keystore.p12'))}\nexecution.checkpointing.interval: 200 ms\n`)
    const r = await runCli(['run', '-d', '--config-dir', conf, join(ROOT, 'test', 'jobs', 'counter.ts'), join(home, 'out'), '100000000', '500'], { env: { TSFLINK_HOME: home } })
    assert.equal(r.code, 0, r.stderr)
    jobId = /JobID ([0-9a-f]{32})/.exec(r.stdout)![1]!
    // Through the registry over TLS too; the job's slots may still be loading the program.
    await untilRunning(jobId, { TSFLINK_HOME: home })
    const entry = JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { rest: string; tls?: { fingerprint256: string } }
    endpoint = entry.rest
    assert.equal(entry.tls?.fingerprint256, new X509Certificate(loadTrustStore(f('rest.keystore.p12'), { password: 'storepass' })[0]!).fingerprint256, 'the registry pins the certificate the job serves')
  })

  it('the owner\'s CLI reaches it through the registry (pinned certificate and secret), without any TLS configuration', async () => {
    const list = await runCli(['list'], { env: { TSFLINK_HOME: home } })
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${jobId} : counter \\(RUNNING\\)`))
    const sp = await runCli(['savepoint', jobId, join(home, 'sp')], { env: { TSFLINK_HOME: home } })
    assert.equal(sp.code, 0, sp.stderr)
  })

  it('another CLI with the same keys and no registry entry gets in by its certificate (-m)', async () => {
    const elsewhere = tmp()
    const sp = await runCli(['savepoint', '-m', endpoint, '--config-dir', conf, jobId, join(elsewhere, 'sp')], { env: { TSFLINK_HOME: elsewhere } })
    assert.equal(sp.code, 0, sp.stderr)
    assert.match(sp.stdout, /Savepoint completed\. Path: /)
    const jks = withConf(tlsConf(f('rest.keystore.jks')).replace('keystore-password: storepass', 'keystore-password: storepass\nsecurity.ssl.rest.key-password: keypass'))
    const list = await runCli(['list', '-m', endpoint, '--config-dir', jks], { env: { TSFLINK_HOME: elsewhere } })
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(jobId))
  })

  it('no certificate, or one the truststore does not trust: 401 with the hint; no truststore: the TLS error says what to set', async () => {
    const elsewhere = tmp()
    for (const dir of [withConf(tlsConf(f('rest.keystore.p12'), false)), withConf(tlsConf(f('stranger.keystore.pem')))]) {
      const r = await runCli(['cancel', '-m', endpoint, '--config-dir', dir, jobId], { env: { TSFLINK_HOME: elsewhere } })
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /^Error: The job manager at https:\/\/127\.0\.0\.1:\d+ requires a credential and none was found for it \(HTTP 401\)\nHint: /)
    }
    const untrusting = withConf('security.ssl.rest.enabled: true')
    const r = await runCli(['list', '-m', endpoint, '--config-dir', untrusting], { env: { TSFLINK_HOME: elsewhere } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Error: Cannot reach the job manager at https:\/\/127\.0\.0\.1:\d+: .*certificate.*\nHint: Check security\.ssl\.rest\.truststore/)
    const plain = await runCli(['list', '-m', endpoint], { env: { TSFLINK_HOME: elsewhere } })
    assert.equal(plain.code, 1, 'plain HTTP to a TLS endpoint fails')
    assert.equal((await runCli(['list'], { env: { TSFLINK_HOME: home } })).code, 0)
  })

  it('a Java client with Java key stores (as Flink\'s CLI) gets in with its certificate, and gets 401 without', async (t) => {
    if (spawnSync('java', ['-version']).error !== undefined) {
      if ((process.env.CI ?? '') !== '') throw new Error('java is needed for this test in CI')
      process.stderr.write('WARNING: skipping the Java TLS client test: java is not installed\n')
      return t.skip('java is not installed')
    }
    const dir = tmp()
    writeFileSync(join(dir, 'Client.java'), JAVA_CLIENT)
    const java = (...args: string[]): string => {
      const r = spawnSync('java', [join(dir, 'Client.java'), ...args], { encoding: 'utf8', timeout: 60_000 })
      assert.equal(r.status, 0, r.stderr)
      return r.stdout.trim()
    }
    const url = `https://${endpoint}`
    const ok = java('GET', `${url}/jobs/overview`, f('rest.keystore.p12'), 'storepass', f('truststore.jks'), 'trustpass')
    assert.match(ok, new RegExp(`^200 .*"jid":"${jobId}".*"state":"RUNNING"`))
    const trigger = java('POST', `${url}/jobs/${jobId}/savepoints`, f('rest.keystore.p12'), 'storepass', f('truststore.p12'), 'trustpass',
      JSON.stringify({ 'target-directory': join(dir, 'sp'), 'cancel-job': false }))
    assert.match(trigger, /^202 \{"request-id":"[0-9a-f]{32}"\}$/)
    const refused = java('GET', `${url}/jobs/overview`, '-', '-', f('truststore.jks'), 'trustpass')
    assert.match(refused, /^401 /)
  })
})
