/**
 * Flink's REST TLS settings (`security.ssl.rest.*`) turned into Node's TLS options, for the job's
 * REST server and for the CLI as its client: the keystore holds this side's key and certificate,
 * the truststore the certificates trusted for the other side; with
 * `security.ssl.rest.authentication-enabled` (mutual TLS) the server asks clients for a
 * certificate and a client presents its own. As Flink, host names are not checked: trust comes from
 * the truststore. Reads the key store files; writes nothing. Tests: test/tls.test.ts.
 */
import { createSecureContext, type ConnectionOptions, type SecureContextOptions } from 'node:tls'
import type { Configuration } from '../config/configuration.js'
import { ConfigError } from '../errors.js'
import { loadKeyStore, loadTrustStore, type KeyMaterial, type StoreType } from './keystore.js'

export interface RestTls {
  /** Mutual TLS: the server requires, and the client presents, a certificate. */
  mutual: boolean
  /** This side's key and certificate chain (a server always has one). */
  own: KeyMaterial | undefined
  /** Certificates trusted for the other side (PEM). */
  trusted: string[] | undefined
}

function material(m: KeyMaterial): SecureContextOptions {
  return 'pfx' in m
    ? { pfx: m.pfx, ...(m.passphrase === undefined ? {} : { passphrase: m.passphrase }) }
    : { key: m.key, cert: m.cert, ...(m.passphrase === undefined ? {} : { passphrase: m.passphrase }) }
}

/** The REST TLS settings, or undefined when `security.ssl.rest.enabled` is not true. */
export function restTlsFrom(c: Configuration): RestTls | undefined {
  if (c.getBool('security.ssl.rest.enabled') !== true) return undefined
  const types = ['PKCS12', 'JKS', 'PEM'] as const
  const keystore = c.getString('security.ssl.rest.keystore')
  const truststore = c.getString('security.ssl.rest.truststore')
  const own = keystore === undefined ? undefined : loadKeyStore(keystore, {
    type: c.getEnum('security.ssl.rest.keystore-type', types) as StoreType | undefined,
    storePassword: c.getString('security.ssl.rest.keystore-password'),
    keyPassword: c.getString('security.ssl.rest.key-password'),
  })
  if (own !== undefined) {
    try {
      createSecureContext(material(own))
    } catch (err) {
      const why = (err as Error).message
      throw new ConfigError(`Cannot use 'security.ssl.rest.keystore' (${keystore}): ${why}${/mac|password|decrypt/i.test(why) ? ' (is security.ssl.rest.keystore-password or key-password right?)' : ''}`)
    }
  }
  const trusted = truststore === undefined ? undefined : loadTrustStore(truststore, {
    type: c.getEnum('security.ssl.rest.truststore-type', types) as StoreType | undefined,
    password: c.getString('security.ssl.rest.truststore-password'),
  })
  return { mutual: c.getBool('security.ssl.rest.authentication-enabled') === true, own, trusted }
}

/** Options for https.createServer. Client certificates are checked per request (see the REST server). */
export function serverTlsOptions(t: RestTls): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  if (t.own === undefined) throw new ConfigError("'security.ssl.rest.enabled' is true but 'security.ssl.rest.keystore' is not set: the REST server needs a key and certificate")
  if (t.mutual && t.trusted === undefined) {
    throw new ConfigError("'security.ssl.rest.authentication-enabled' is true but 'security.ssl.rest.truststore' is not set: mutual TLS needs the certificates to trust")
  }
  return {
    ...material(t.own),
    ...(t.trusted === undefined ? {} : { ca: t.trusted }),
    // Asked for, checked per request: a client without a certificate may still present the job's secret.
    requestCert: t.mutual,
    rejectUnauthorized: false,
  }
}

/** Options for tls.connect from the CLI: our certificate under mutual TLS, the truststore's CAs. */
export function clientTlsOptions(t: RestTls | undefined): ConnectionOptions {
  return {
    ...(t?.own !== undefined && t.mutual ? material(t.own) : {}),
    ...(t?.trusted === undefined ? {} : { ca: t.trusted }),
    checkServerIdentity: () => undefined,
  }
}
