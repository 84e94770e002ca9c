/**
 * How the CLI reaches a job's REST API: the endpoint, and the credentials to present there. A job
 * found in the registry (by JobID, or by endpoint for `-m host:port`) brings its secret and, over
 * TLS, its certificate's fingerprint; the configuration's `security.ssl.rest.*` keys bring the
 * truststore and, for mutual TLS, this side's certificate (what a Flink job manager needs).
 * Reads the registry and key stores; writes nothing. Tests: test/security.test.ts, test/tls.test.ts.
 */
import type { Configuration } from '../config/configuration.js'
import type { RegistryEntry } from './registry.js'
import { RestClient } from './rest-client.js'
import { clientTlsOptions, restTlsFrom } from './tls.js'

export function restClientFor(endpoint: string, entry: RegistryEntry | undefined, config: Configuration | undefined): RestClient {
  const tls = config === undefined ? undefined : restTlsFrom(config)
  // A registered job says whether it speaks TLS; a foreign endpoint is assumed to when TLS is configured.
  const secure = entry !== undefined ? entry.tls !== undefined : tls !== undefined
  return new RestClient(endpoint, {
    secret: entry?.secret,
    tls: secure ? clientTlsOptions(tls) : undefined,
    pinnedFingerprint256: entry?.tls?.fingerprint256,
  })
}
